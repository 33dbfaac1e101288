/**
 * Worker threads that seal and open batches of whole Cobblestone chunks with node:crypto, so
 * that a stream on Node uses more than one core. Node only: `e2ee-backup/node` exports
 * {@link workerPool}; the layers that browsers bundle only know the `ChunkWorkers` interface.
 *
 * A stream's whole chunks are gathered into batches of up to 1 MiB; each batch (the message's
 * AES key, base nonce and first counter, and the bytes, moved to the worker rather than copied)
 * runs on the least busy worker; results are released in order, a batch only once every chunk
 * in it has authenticated. The construction is the one of src/chunked.ts (SPEC.md §4); this
 * module only decides which thread runs it.
 *
 * @module
 */

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { CHUNK_SIZE, type ChunkEngine, type ChunkWorkers, MAX_CHUNKS, RECORD_SIZE } from './chunked.js';
import { E2EEError } from './errors.js';

export type { ChunkWorkers } from './chunked.js';

// Chunks per batch: 1 MiB of plaintext, so that a job outweighs the cost of handing it over.
// Batches out at once: two per worker, so that none waits for work.
const BATCH = 64;
const IN_FLIGHT_PER_WORKER = 2;

interface Job {
  op: 'seal' | 'open';
  key: Uint8Array;
  baseNonce: Uint8Array;
  counter: number;
  count: number;
  /** count × 16384 bytes to seal, or count × 16400 to open; moved to the worker and back. */
  input: ArrayBuffer;
}

/** A job's result: `input` comes back for reuse; `bad` is the first record that failed, or -1. */
interface Result {
  output: Uint8Array;
  input: ArrayBuffer;
  bad: number;
}

interface Reply {
  id: number;
  output: ArrayBuffer;
  input: ArrayBuffer;
  bad: number;
}

// The worker's whole program, CommonJS run with `eval`: no file to locate next to a bundle.
// Nonces as in chunked.ts: the base nonce XOR the counter, big-endian, in the last five bytes.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createCipheriv, createDecipheriv, createSecretKey } = require('node:crypto');
const C = ${CHUNK_SIZE}, R = ${RECORD_SIZE};
parentPort.on('message', ({ id, op, key: rawKey, baseNonce, counter, count, input }) => {
  const key = createSecretKey(rawKey);
  rawKey.fill(0);
  const src = new Uint8Array(input);
  const out = new Uint8Array(op === 'seal' ? count * R : count * C);
  const nonce = new Uint8Array(12);
  let bad = -1;
  for (let i = 0; i < count; i++) {
    const n = counter + i;
    nonce.set(baseNonce);
    nonce[11] ^= n & 0xff; nonce[10] ^= (n >>> 8) & 0xff; nonce[9] ^= (n >>> 16) & 0xff;
    nonce[8] ^= (n >>> 24) & 0xff; nonce[7] ^= Math.floor(n / 4294967296) & 0xff;
    if (op === 'seal') {
      const c = createCipheriv('aes-256-gcm', key, nonce);
      out.set(c.update(src.subarray(i * C, (i + 1) * C)), i * R);
      c.final();
      out.set(c.getAuthTag(), i * R + C);
    } else {
      const d = createDecipheriv('aes-256-gcm', key, nonce);
      d.setAuthTag(src.subarray(i * R + C, (i + 1) * R));
      out.set(d.update(src.subarray(i * R, i * R + C)), i * C);
      try { d.final(); } catch { bad = i; out.fill(0); break; }
    }
  }
  parentPort.postMessage({ id, output: out.buffer, input, bad }, [out.buffer, input]);
});
`;

const NONE: ChunkWorkers = {
  size: 0,
  engine() {
    throw new E2EEError('INVALID_ARGUMENT', 'this pool has no worker threads');
  },
};
let shared: ChunkWorkers | undefined;

/**
 * The process-wide worker threads for the chunked streams: one per core, at most 4, started on
 * first use and shared by every stream; idle workers do not keep the process alive. Where they
 * would not help or cannot run (a single core, Bun, Deno) and after a worker has failed, the
 * pool is empty (`size` 0) and streams stay on the calling thread.
 *
 * @example
 * ```ts
 * import { createEncryptStream } from 'e2ee-backup';
 * import { workerPool } from 'e2ee-backup/node';
 * const encrypted = file.pipeThrough(createEncryptStream(key, { workers: workerPool() }));
 * ```
 */
export function workerPool(): ChunkWorkers {
  if (shared) return shared;
  // Node itself only: Bun and Deno emulate worker_threads with their own limits on `eval`.
  const n = Math.min(4, availableParallelism());
  const real = process.release?.name === 'node' && !process.versions.bun && !('Deno' in globalThis);
  try {
    shared = real && n > 1 ? startPool(n) : NONE;
  } catch {
    shared = NONE; // e.g. worker threads refused by Node's permission model
  }
  return shared;
}

function startPool(n: number): ChunkWorkers {
  const pending = new Map<number, { resolve: (r: Result) => void; reject: (e: unknown) => void }>();
  let nextId = 0;
  let failed: unknown;
  const workers: { worker: Worker; busy: number }[] = [];
  for (let i = 0; i < n; i++) {
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: 'e2ee-backup chunks' });
    const state = { worker, busy: 0 };
    worker.on('message', (m: Reply) => {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (--state.busy === 0) worker.unref();
      p?.resolve({ output: new Uint8Array(m.output), input: m.input, bad: m.bad });
    });
    const fail = (e: unknown) => {
      // A worker that dies takes its jobs with it: fail them all, stop the others; later
      // streams stay on their own thread.
      if (failed !== undefined) return;
      failed = e instanceof Error ? e : new Error(`a worker thread exited (code ${String(e)})`);
      shared = NONE;
      for (const p of pending.values()) p.reject(failed);
      pending.clear();
      for (const w of workers) void w.worker.terminate();
    };
    worker.on('error', fail);
    worker.on('exit', fail);
    // After the listeners: adding a 'message' listener refs the worker again.
    worker.unref();
    workers.push(state);
  }
  const run = (job: Job): Promise<Result> => {
    if (failed !== undefined) return Promise.reject(failed);
    const w = workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = nextId++;
    return new Promise<Result>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      if (w.busy++ === 0) w.worker.ref(); // keep the process alive while a job is out
      w.worker.postMessage({ id, ...job }, [job.input]);
    });
  };
  const pool: ChunkWorkers = {
    get size() {
      return failed === undefined ? n : 0;
    },
    engine: (op, message, c, failure) => engine(op, message, c, failure, run, n),
  };
  return pool;
}

interface InFlight {
  counter: number;
  promise: Promise<Result>;
  result?: Result;
  error?: unknown;
  done: boolean;
}

/**
 * One stream on the workers. A batch goes out when it is full, or at the end of a write when
 * none is out (so a slow writer still sees its output at once). Results are enqueued as they
 * arrive, in order; the first failure errors the stream and stops all output.
 */
function engine(
  op: 'seal' | 'open',
  message: { key: Uint8Array; baseNonce: Uint8Array; counter: number },
  c: TransformStreamDefaultController<Uint8Array>,
  failure: (counter: number, record: Uint8Array) => Promise<unknown>,
  run: (job: Job) => Promise<Result>,
  workers: number,
): ChunkEngine {
  const inUnit = op === 'seal' ? CHUNK_SIZE : RECORD_SIZE;
  const spare: ArrayBuffer[] = [];
  // Whole ArrayBuffers of their own: a batch is moved to a worker, not copied.
  let batch = new Uint8Array(BATCH * inUnit);
  let filled = 0;
  let counter = message.counter;
  let failed: Promise<unknown> | undefined;
  const inflight: InFlight[] = [];

  const fail = (error: Promise<unknown>) => {
    failed = error;
    void error.then((e) => {
      try {
        c.error(e);
      } catch {
        // Already closed or errored.
      }
    });
  };
  // Releases finished batches from the head of the queue, in order.
  const settle = () => {
    while (!failed && inflight[0]?.done) {
      const job = inflight.shift()!;
      if (!job.result) return fail(Promise.resolve(job.error));
      const r = job.result;
      if (r.bad >= 0)
        return fail(failure(job.counter + r.bad, new Uint8Array(r.input, r.bad * RECORD_SIZE, RECORD_SIZE)));
      spare.push(r.input);
      try {
        c.enqueue(r.output);
      } catch (e) {
        // The reader has gone away: stop sending batches.
        failed = Promise.resolve(e);
      }
    }
  };
  const dispatch = (count: number) => {
    if (counter + count > MAX_CHUNKS)
      throw new E2EEError('MESSAGE_TOO_LARGE', 'a Cobblestone message holds at most 2^38 chunks (4 PiB)');
    const rest = batch.slice(count * inUnit, filled);
    const job: InFlight = {
      counter,
      done: false,
      promise: run({
        op,
        key: message.key,
        baseNonce: message.baseNonce,
        counter,
        count,
        input: batch.buffer as ArrayBuffer,
      }),
    };
    job.promise.then(
      (r) => {
        job.result = r;
        job.done = true;
        settle();
      },
      (e) => {
        job.error = e;
        job.done = true;
        settle();
      },
    );
    inflight.push(job);
    counter += count;
    const reuse = spare.pop();
    batch = reuse ? new Uint8Array(reuse) : new Uint8Array(BATCH * inUnit);
    batch.set(rest);
    filled = rest.length;
  };
  const waitWhile = async (busy: () => boolean) => {
    while (!failed && busy()) await inflight[0]!.promise.catch(() => {});
    if (failed) throw await failed;
  };

  return {
    async push(piece) {
      if (failed) throw await failed;
      const tooMany = () => inflight.length >= workers * IN_FLIGHT_PER_WORKER;
      for (let off = 0; off < piece.length; ) {
        const n = Math.min(batch.length - filled, piece.length - off);
        batch.set(piece.subarray(off, off + n), filled);
        filled += n;
        off += n;
        // Backpressure inside one big write too: the piece is ours until push resolves.
        if (filled === batch.length) {
          await waitWhile(tooMany);
          dispatch(BATCH);
        }
      }
      const whole = Math.floor(filled / inUnit);
      if (whole > 0 && inflight.length === 0) dispatch(whole);
      await waitWhile(() => inflight.length > workers * IN_FLIGHT_PER_WORKER);
    },
    async finish() {
      const whole = Math.floor(filled / inUnit);
      if (whole > 0) dispatch(whole);
      const rest = batch.slice(0, filled);
      try {
        await waitWhile(() => inflight.length > 0);
      } finally {
        // Plaintext or key-derived bytes stay in these buffers otherwise.
        batch.fill(0);
        for (const b of spare) new Uint8Array(b).fill(0);
      }
      return { rest, counter };
    },
  };
}
