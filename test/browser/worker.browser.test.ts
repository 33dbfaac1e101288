// The same suites again inside a Web Worker (WebCrypto there too), and once more in a worker
// whose crypto.subtle is hidden (the @noble/ciphers fallback).
import { afterAll, describe, expect, inject, it } from 'vitest';
import { runAll, type Suite } from './harness.js';
import './provided.js';
import { chunkedSuite } from './suites/chunked.js';
import { SUITES } from './suites/index.js';
import { wycheproofSuite } from './suites/wycheproof.js';
import type { WorkerReply, WorkerRequest } from './worker.js';

const data = inject('shared');
const workers: Worker[] = [];
afterAll(() => {
  for (const w of workers) w.terminate();
});

function runInWorker(request: WorkerRequest): Promise<WorkerReply> {
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  workers.push(worker);
  return new Promise((resolve, reject) => {
    worker.addEventListener('message', (e: MessageEvent<WorkerReply>) => resolve(e.data));
    worker.addEventListener('error', (e) => reject(new Error(`worker error: ${e.message}`)));
    worker.postMessage(request);
  });
}

function describeWorker(title: string, suites: Suite[], request: WorkerRequest, backend: string) {
  describe(title, () => {
    // Started once, lazily; every check below waits for the same reply.
    let reply: Promise<WorkerReply> | undefined;
    const get = () => {
      reply ??= runInWorker(request);
      return reply;
    };
    it(`is a worker without a document, using the '${backend}' backend`, async () => {
      const { env } = await get();
      expect(env).toEqual({ isWorker: true, hasDocument: false, backend, secure: true });
    }, 180_000);
    for (const suite of suites) {
      describe(suite.name, () => {
        for (const check of suite.checks(data)) {
          it(check.name, async () => {
            const { results } = await get();
            const r = results.find((x) => x.suite === suite.name && x.name === check.name);
            expect(r, 'the worker ran this check').toBeDefined();
            if (!r!.ok) throw new Error(`in the worker: ${r!.error}`);
          }, 180_000);
        }
      });
    }
  });
}

describeWorker(
  'Web Worker (WebCrypto)',
  SUITES.filter((s) => !s.pageOnly),
  { data },
  'webcrypto',
);
describeWorker(
  'Web Worker with crypto.subtle hidden (noble)',
  [chunkedSuite('noble'), wycheproofSuite({ backends: [undefined] })],
  { data, hideSubtle: true },
  'noble',
);

// Keeps `runAll` honest: the harness itself reports failures instead of throwing.
it('runAll reports a failing check instead of throwing', async () => {
  const results = await runAll(
    [
      {
        name: 's',
        checks: () => [
          {
            name: 'boom',
            run: () => {
              throw new Error('x');
            },
          },
        ],
      },
    ],
    data,
  );
  expect(results).toMatchObject([{ suite: 's', name: 'boom', ok: false }]);
});
