// A dedicated module worker that runs every suite of suites/index.ts (except page-only ones) and
// posts the results back; started by worker.browser.test.ts. With `hideSubtle`, crypto.subtle is
// shadowed first, so the noble fallback runs here instead of WebCrypto.
import { defaultAeadBackend } from '../../src/primitives/aes-gcm.js';
import { type CheckResult, runAll, type SharedData } from './harness.js';
import { chunkedSuite } from './suites/chunked.js';
import { SUITES } from './suites/index.js';
import { wycheproofSuite } from './suites/wycheproof.js';

export interface WorkerRequest {
  data: SharedData;
  hideSubtle?: boolean;
}

export interface WorkerReply {
  env: { isWorker: boolean; hasDocument: boolean; backend: string; secure: boolean };
  results: CheckResult[];
}

self.addEventListener('message', async (event: MessageEvent<WorkerRequest>) => {
  const { data, hideSubtle } = event.data;
  if (hideSubtle)
    Object.defineProperty(globalThis.crypto, 'subtle', { value: undefined, configurable: true });
  const env = {
    isWorker:
      typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope === 'function' &&
      typeof (globalThis as { importScripts?: unknown }).importScripts === 'function',
    hasDocument: typeof (globalThis as { document?: unknown }).document !== 'undefined',
    backend: defaultAeadBackend(),
    secure: globalThis.isSecureContext,
  };
  const suites = hideSubtle
    ? [chunkedSuite('noble'), wycheproofSuite({ backends: [undefined] })]
    : SUITES.filter((s) => !s.pageOnly);
  const results = await runAll(suites, data);
  postMessage({ env, results } satisfies WorkerReply);
});
