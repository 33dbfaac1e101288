// `npm run bench:handoff`: what handing sealed chunks to a reader costs when the sealing runs on
// two worker threads, with no Web streams and no format, against the single-core node:crypto
// 16 KiB loop in the same run. Not the library: a lower bound on what any in-process stream on
// worker threads pays here, and so on what #7's 1.3x for streams asks of this machine.
//
// The pipeline: the main thread copies each 1 MiB of the data into a slot of a SharedArrayBuffer
// (as a stream copies its writes into a batch) and posts the slot's number to a worker, two slots
// per worker; the worker seals the slot's 64 chunks, each with its own cipher as in the loop, into
// an output slot and posts the number back. The main thread then, by case:
//   nothing             frees the slot: the cost of the threads and the hand-over alone
//   reused buffer       copies the output into one buffer it keeps (a BYOB reader's own buffer)
//   new buffer          copies it into a new 1 MiB buffer (what a stream's default reader must get:
//                       memory it owns)
//   new 16 KiB buffers  the same, one new buffer per sealed chunk
// Each timed case starts after a full garbage collection (the npm script passes --expose-gc), so
// that no case pays for the buffers the one before left behind.
// Environment: BENCH_MIB (default 256), BENCH_RUNS (default 7). Writes the `handoff` key of
// bench/results.json.
import { createCipheriv, randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { saveResults } from './results.mjs';

const SIZE = Number(process.env.BENCH_MIB ?? 256) * 2 ** 20;
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const C = 16384;
if (!(SIZE > 0 && SIZE % C === 0)) throw new Error('BENCH_MIB must make whole 16 KiB chunks');
const collect = typeof globalThis.gc === 'function' ? globalThis.gc : () => {};
const R = C + 16;
const BATCH = 64; // chunks per slot: 1 MiB, as the library's worker batches
const THREADS = 2;
const SLOTS = 2 * THREADS;
const key = randomBytes(32);
const data = randomBytes(SIZE);

function loop() {
  const nonce = Buffer.alloc(12);
  let n = 0;
  for (let off = 0, i = 0; off < SIZE; off += C, i++) {
    nonce.writeUInt32BE(i, 8);
    const c = createCipheriv('aes-256-gcm', key, nonce);
    n += c.update(data.subarray(off, off + C)).length;
    c.final();
    n += c.getAuthTag().length;
  }
  return n;
}

const input = new SharedArrayBuffer(SLOTS * BATCH * C);
const output = new SharedArrayBuffer(SLOTS * BATCH * R);
// Self-contained worker source (eval): the same loop as above, over one slot.
const WORKER = `
const { parentPort, workerData: { input, output, key } } = require('node:worker_threads');
const { createCipheriv } = require('node:crypto');
const C = ${C}, R = ${R}, B = ${BATCH};
const nonce = Buffer.alloc(12);
parentPort.on('message', ({ slot, count, counter }) => {
  const src = new Uint8Array(input, slot * B * C, count * C);
  const out = new Uint8Array(output, slot * B * R, count * R);
  for (let i = 0; i < count; i++) {
    nonce.writeUInt32BE(counter + i, 8);
    const c = createCipheriv('aes-256-gcm', key, nonce);
    out.set(c.update(src.subarray(i * C, (i + 1) * C)), i * R);
    c.final();
    out.set(c.getAuthTag(), i * R + C);
  }
  parentPort.postMessage(slot);
});`;
if (availableParallelism() < 2) console.warn('one core: the pipeline cannot beat the loop here');
const threads = Array.from(
  { length: THREADS },
  () => new Worker(WORKER, { eval: true, workerData: { input, output, key } }),
);
const waiting = new Map();
for (const w of threads)
  w.on('message', (slot) => {
    waiting.get(slot)();
    waiting.delete(slot);
  });

const kept = new Uint8Array(BATCH * R);
const takers = {
  nothing: (view) => view.length,
  'reused buffer': (view) => {
    kept.set(view);
    return view.length;
  },
  'new buffer': (view) => {
    const own = new Uint8Array(view.length);
    own.set(view);
    return own.length;
  },
  'new 16 KiB buffers': (view) => {
    let n = 0;
    for (let off = 0; off < view.length; off += R) {
      const own = new Uint8Array(Math.min(R, view.length - off));
      own.set(view.subarray(off, off + own.length));
      n += own.length;
    }
    return n;
  },
};

async function pipeline(take) {
  const free = Array.from({ length: SLOTS }, (_, i) => i);
  const out = [];
  let bytes = 0;
  let counter = 0;
  const release = async () => {
    const { slot, count, done } = out.shift();
    await done;
    bytes += take(new Uint8Array(output, slot * BATCH * R, count * R));
    free.push(slot);
  };
  for (let off = 0; off < SIZE; off += BATCH * C) {
    if (free.length === 0) await release();
    const slot = free.shift();
    const n = Math.min(BATCH * C, SIZE - off);
    new Uint8Array(input, slot * BATCH * C, n).set(data.subarray(off, off + n));
    const done = new Promise((resolve) => waiting.set(slot, resolve));
    threads[slot % THREADS].postMessage({ slot, count: n / C, counter });
    counter += n / C;
    out.push({ slot, count: n / C, done });
  }
  while (out.length > 0) await release();
  return bytes;
}

const cases = {
  'node:crypto loop, one thread': loop,
  ...Object.fromEntries(Object.entries(takers).map(([name, take]) => [name, () => pipeline(take)])),
};
const expected = SIZE + (SIZE / C) * 16;
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (const fn of Object.values(cases)) await fn(); // warm-up, untimed
for (let r = 0; r < RUNS; r++)
  for (const [name, fn] of Object.entries(cases)) {
    collect();
    const t = performance.now();
    const n = await fn();
    times[name].push(performance.now() - t);
    if (n !== expected) throw new Error(`${name}: ${n} bytes, expected ${expected}`);
  }
await Promise.all(threads.map((w) => w.terminate()));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mbps = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, SIZE / 1e6 / (median(v) / 1000)]));
const base = mbps['node:crypto loop, one thread'];
console.log(
  `${SIZE / 2 ** 20} MiB sealed on ${THREADS} worker threads in 1 MiB slots, median of ${RUNS} interleaved runs${typeof globalThis.gc === 'function' ? ', garbage collected before each' : ''}, Node ${process.version}`,
);
console.log('  main thread does with each sealed MiB       MB/s   × the one-thread loop');
for (const [k, v] of Object.entries(mbps))
  console.log(`  ${k.padEnd(40)} ${v.toFixed(0).padStart(6)}   ${(v / base).toFixed(2)}×`);
saveResults('handoff', {
  date: new Date().toISOString(),
  node: process.version,
  sizeBytes: SIZE,
  runs: RUNS,
  gcBetweenCases: typeof globalThis.gc === 'function',
  threads: THREADS,
  mbps,
  ratios: Object.fromEntries(Object.entries(mbps).map(([k, v]) => [k, v / base])),
});
