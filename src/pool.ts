/**
 * A small pool of Node worker threads that encrypt and decrypt runs of Cobblestone chunks with
 * node:crypto, so that a stream uses every core instead of one. Internal to the chunked layer,
 * which keeps the bytes identical to its single-threaded path (the tests compare them). Absent
 * where Node's worker_threads are (browsers, workers, Deno without Node compatibility).
 *
 * @module
 */

/** What a worker sends back: the output, or the index of the first chunk that failed. */
type Reply = { id: number; out: ArrayBuffer } | { id: number; bad: number; input: ArrayBuffer };

interface WorkerLike {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  on(event: 'message', listener: (reply: Reply) => void): void;
  on(event: 'error' | 'messageerror', listener: (err: Error) => void): void;
  on(event: 'exit', listener: (code: number) => void): void;
  ref(): void;
  unref(): void;
}
interface WorkerThreads {
  Worker: new (source: string, options: { eval: true }) => WorkerLike;
}
interface Os {
  availableParallelism?: () => number;
  cpus(): unknown[];
}

// The worker's whole program. The nonce rule is the chunked layer's (base nonce XOR the
// big-endian counter in the last five bytes); the pool tests check both give the same bytes.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createCipheriv, createDecipheriv, createSecretKey } = require('node:crypto');
const CH = 16384, TAG = 16, REC = CH + TAG;
function nonce(base, i) {
  const n = Buffer.from(base);
  n[11] ^= i & 255; n[10] ^= (i >>> 8) & 255; n[9] ^= (i >>> 16) & 255; n[8] ^= (i >>> 24) & 255;
  n[7] ^= Math.floor(i / 4294967296) & 255;
  return n;
}
parentPort.on('message', (m) => {
  const key = createSecretKey(Buffer.from(m.key));
  const input = new Uint8Array(m.input);
  if (m.op === 'seal') {
    const count = Math.floor(input.length / CH) + (m.final ? 1 : 0);
    const out = new Uint8Array(input.length + count * TAG);
    for (let i = 0; i < count; i++) {
      const pt = input.subarray(i * CH, (i + 1) * CH);
      const c = createCipheriv('aes-256-gcm', key, nonce(m.baseNonce, m.counter + i));
      out.set(c.update(pt), i * REC);
      c.final();
      out.set(c.getAuthTag(), i * REC + pt.length);
    }
    parentPort.postMessage({ id: m.id, out: out.buffer }, [out.buffer]);
    return;
  }
  const count = Math.ceil(input.length / REC);
  const out = new Uint8Array(input.length - count * TAG);
  for (let i = 0; i < count; i++) {
    const rec = input.subarray(i * REC, (i + 1) * REC);
    const d = createDecipheriv('aes-256-gcm', key, nonce(m.baseNonce, m.counter + i));
    d.setAuthTag(rec.subarray(rec.length - TAG));
    const pt = d.update(rec.subarray(0, rec.length - TAG));
    try {
      d.final();
    } catch {
      out.fill(0);
      parentPort.postMessage({ id: m.id, bad: i, input: input.buffer }, [input.buffer]);
      return;
    }
    out.set(pt, i * CH);
  }
  parentPort.postMessage({ id: m.id, out: out.buffer }, [out.buffer]);
});
`;

/** One run of chunks for a worker. `input` is transferred: the caller must not use it again. */
export interface PoolJob {
  op: 'seal' | 'open';
  key: Uint8Array;
  baseNonce: Uint8Array;
  counter: number;
  final: boolean;
  input: Uint8Array;
}

/** The result: the output, or the first failing chunk (with the input handed back). */
export type PoolResult = { out: Uint8Array } | { bad: number; input: Uint8Array };

/**
 * Runs jobs on worker threads. `run` throws synchronously, before taking the input, when no
 * worker can be started (e.g. under Node's permission model): the caller then does the job itself.
 * A worker that dies mid-job rejects that job.
 */
export interface ChunkPool {
  run(job: PoolJob): Promise<PoolResult>;
}

// Respawns allowed after workers die; past that the pool stops and callers work on their thread.
const MAX_RESPAWNS = 3;

interface Slot {
  worker: WorkerLike;
  pending: Map<number, (r: PoolResult | Error) => void>;
}

let pool: ChunkPool | null | undefined;

function builtin<T>(id: string): T | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return proc?.getBuiltinModule?.(id) as T | undefined;
}

/**
 * The process-wide pool, started on first use; `undefined` where worker threads are missing or
 * there is a single core (a pool would only add copies there).
 */
export function chunkPool(): ChunkPool | undefined {
  if (pool !== undefined) return pool ?? undefined;
  const wt = builtin<WorkerThreads>('node:worker_threads');
  const os = builtin<Os>('node:os');
  const cores = os ? (os.availableParallelism?.() ?? os.cpus().length) : 1;
  if (!wt || cores < 2) {
    pool = null;
    return undefined;
  }
  const slots: Slot[] = [];
  let nextId = 1;
  let turn = 0;
  const size = Math.min(cores, 4);
  let respawns = 0;
  let broken = false;
  const spawn = (): Slot => {
    let worker: WorkerLike;
    try {
      worker = new wt.Worker(WORKER_SOURCE, { eval: true });
    } catch (e) {
      broken = true;
      pool = null;
      throw e;
    }
    const slot: Slot = { worker, pending: new Map() };
    worker.unref();
    worker.on('message', (reply) => {
      const done = slot.pending.get(reply.id);
      slot.pending.delete(reply.id);
      // Idle workers must not keep the process alive; busy ones must.
      if (slot.pending.size === 0) worker.unref();
      done?.(
        'out' in reply
          ? { out: new Uint8Array(reply.out) }
          : { bad: reply.bad, input: new Uint8Array(reply.input) },
      );
    });
    const fail = (err: Error) => {
      for (const done of slot.pending.values()) done(err);
      slot.pending.clear();
      const i = slots.indexOf(slot);
      if (i < 0) return;
      slots.splice(i, 1);
      if (++respawns > MAX_RESPAWNS) {
        broken = true;
        pool = null;
      }
    };
    worker.on('error', fail);
    worker.on('messageerror', fail);
    worker.on('exit', (code) => fail(new Error(`chunk worker exited with code ${code}`)));
    return slot;
  };
  pool = {
    run(job) {
      if (broken) throw new Error('the chunk worker pool is unavailable');
      if (slots.length < size) slots.push(spawn());
      const slot = slots[turn++ % slots.length]!;
      const id = nextId++;
      return new Promise<PoolResult>((resolve, reject) => {
        if (slot.pending.size === 0) slot.worker.ref();
        slot.pending.set(id, (r) => (r instanceof Error ? reject(r) : resolve(r)));
        const input =
          job.input.byteOffset === 0 && job.input.byteLength === job.input.buffer.byteLength
            ? job.input
            : new Uint8Array(job.input);
        slot.worker.postMessage(
          {
            id,
            op: job.op,
            key: new Uint8Array(job.key).buffer,
            baseNonce: job.baseNonce,
            counter: job.counter,
            final: job.final,
            input: input.buffer,
          },
          [input.buffer as ArrayBuffer],
        );
      });
    },
  };
  return pool;
}
