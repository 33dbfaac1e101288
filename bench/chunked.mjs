// Streaming Cobblestone-256 against a plain node:crypto AES-256-GCM loop over 16 KiB chunks,
// both measured in this run on the same buffers. Prints MB/s, the ratios, and writes the `chunked` key
// of bench/results.json. Not a test: timings vary ±30 % on a shared machine, ratios much less.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ensureBuilt } from '../scripts/ensure-built.mjs';
import { pump } from './pump.mjs';
import { saveResults } from './results.mjs';

ensureBuilt();
const { createDecryptStream, createEncryptStream, encryptChunked } = await import('../dist/chunked.js');

const SIZE = Number(process.env.BENCH_MIB ?? 256) * 1024 * 1024;
const RUNS = Number(process.env.BENCH_RUNS ?? 9); // 9: the stream cases swing ±20 % between runs here
const WRITE = Number(process.env.BENCH_WRITE ?? 64 * 1024); // 64 KiB: what a default Node file stream hands over per read
// BENCH_GC=1: collect the last case's garbage before timing the next one (npm run bench passes
// --expose-gc). Off by default: a forced full GC also shrinks V8's young generation, which the
// streams then pay to regrow, and it moved their ratios by as much as the noise (see README).
const GC = process.env.BENCH_GC === '1';
if (GC && typeof globalThis.gc !== 'function') throw new Error('BENCH_GC=1 needs node --expose-gc');
const key = randomBytes(32);
const data = randomBytes(SIZE);

function plainEncrypt(buf) {
  const nonce = Buffer.alloc(12);
  let n = 0;
  for (let off = 0, i = 0; off < buf.length; off += 16384, i++) {
    nonce.writeUInt32BE(i, 8);
    const c = createCipheriv('aes-256-gcm', key, nonce);
    n += c.update(buf.subarray(off, off + 16384)).length;
    c.final();
    n += c.getAuthTag().length;
  }
  return n;
}

// Decrypt baseline over real ciphertext records, so the tags verify as in our path.
const plainRecords = (() => {
  const out = [];
  const nonce = Buffer.alloc(12);
  for (let off = 0, i = 0; off < SIZE; off += 16384, i++) {
    nonce.writeUInt32BE(i, 8);
    const c = createCipheriv('aes-256-gcm', key, nonce);
    const body = c.update(data.subarray(off, off + 16384));
    c.final();
    out.push([body, c.getAuthTag()]);
  }
  return out;
})();
function plainDecrypt() {
  const nonce = Buffer.alloc(12);
  let n = 0;
  for (let i = 0; i < plainRecords.length; i++) {
    nonce.writeUInt32BE(i, 8);
    const d = createDecipheriv('aes-256-gcm', key, nonce);
    d.setAuthTag(plainRecords[i][1]);
    n += d.update(plainRecords[i][0]).length;
    d.final();
  }
  return n;
}

const ciphertext = await encryptChunked(key, data);
const cases = {
  'node:crypto loop, encrypt': () => plainEncrypt(data),
  createEncryptStream: () => pump(createEncryptStream(key), data, WRITE),
  'node:crypto loop, decrypt': () => plainDecrypt(),
  createDecryptStream: () => pump(createDecryptStream(key), ciphertext, WRITE),
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** Median MB/s of each case over RUNS interleaved rounds, after one untimed round. */
async function measure(cases) {
  const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  // One untimed round first: JIT warm-up is not what is being measured.
  for (const fn of Object.values(cases)) await fn();
  for (let r = 0; r < RUNS; r++) {
    // Interleaved, so that drift in machine load hits every case alike.
    for (const [name, fn] of Object.entries(cases)) {
      if (GC) globalThis.gc();
      const t = performance.now();
      await fn();
      times[name].push(performance.now() - t);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, SIZE / 1e6 / (median(v) / 1000)]));
}
const mbps = await measure(cases);
console.log(
  `${SIZE / 2 ** 20} MiB in ${WRITE / 1024} KiB writes, median of ${RUNS} interleaved runs after a warm-up round${GC ? ', garbage collected before each' : ''}, Node ${process.version}`,
);
for (const [k, v] of Object.entries(mbps)) console.log(`  ${k.padEnd(36)} ${v.toFixed(0).padStart(6)} MB/s`);
const ratios = {
  encrypt: mbps.createEncryptStream / mbps['node:crypto loop, encrypt'],
  decrypt: mbps.createDecryptStream / mbps['node:crypto loop, decrypt'],
};
console.log('  ratio to the single-core loop (target: ≥ 0.8× in #2):');
console.log(`    encrypt ${ratios.encrypt.toFixed(2)}×, decrypt ${ratios.decrypt.toFixed(2)}×`);
const chunked = {
  date: new Date().toISOString(),
  node: process.version,
  sizeBytes: SIZE,
  runs: RUNS,
  writeBytes: WRITE,
  gcBetweenCases: GC,
  mbps,
  ratios,
};
saveResults('chunked', chunked);
