// The in-page half of `npm run bench:browser` (bench/browser.mjs bundles it with esbuild and
// drives it through Playwright). It exposes `window.bench`: `setup` makes the data once, `run`
// times one case once and answers milliseconds, so that the Node side can interleave the cases.
//
// The cases: the library's streaming encryptor and decryptor from the built dist/chunked.js, with
// the backend the page picks by default (WebCrypto: there is no node:crypto here), fed in
// `write`-byte pieces and drained; and a plain WebCrypto loop, AES-256-GCM over 16 KiB chunks
// with crypto.subtle.encrypt/decrypt, keeping 4 promises in flight.
import { createDecryptStream, createEncryptStream, encryptChunked } from '../../dist/chunked.js';
import { pump } from '../pump.mjs';

const CHUNK = 16384;
const TAG = 16;
const IN_FLIGHT = 4;
const subtle = globalThis.crypto.subtle;
let s; // what setup() made

function randomFill(n) {
  const a = new Uint8Array(n);
  // getRandomValues fills at most 65536 bytes per call.
  for (let off = 0; off < n; off += 65536) crypto.getRandomValues(a.subarray(off, off + 65536));
  return a;
}

function nonce(i) {
  const n = new Uint8Array(12);
  new DataView(n.buffer).setUint32(8, i);
  return n;
}

/** `count` operations with at most IN_FLIGHT promises pending: a new one starts as one ends. */
async function keepInFlight(count, op) {
  let next = 0;
  let bytes = 0;
  const lane = async () => {
    for (let i = next++; i < count; i = next++) {
      const out = await op(i); // not `bytes += await …`: that would read `bytes` before awaiting
      bytes += out.byteLength;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  return bytes;
}

function plainEncrypt() {
  const { data, cryptoKey } = s;
  const count = Math.ceil(data.length / CHUNK);
  return keepInFlight(count, (i) =>
    subtle.encrypt(
      { name: 'AES-GCM', iv: nonce(i) },
      cryptoKey,
      data.subarray(i * CHUNK, Math.min((i + 1) * CHUNK, data.length)),
    ),
  );
}

function plainDecrypt() {
  const { records, cryptoKey } = s;
  return keepInFlight(records.length, (i) =>
    subtle.decrypt({ name: 'AES-GCM', iv: nonce(i) }, cryptoKey, records[i]),
  );
}

const cases = {
  'WebCrypto loop, encrypt': plainEncrypt,
  createEncryptStream: () => pump(createEncryptStream(s.key), s.data, s.write),
  'WebCrypto loop, decrypt': plainDecrypt,
  createDecryptStream: () => pump(createDecryptStream(s.key), s.ciphertext, s.write),
};

async function setup({ size, write }) {
  const key = randomFill(32);
  const data = randomFill(size);
  const cryptoKey = await subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt', 'decrypt']);
  s = { size, write, key, data, cryptoKey };
  // Real records for the loop's decryption, so that every tag verifies as on our path.
  const records = [];
  for (let i = 0; i * CHUNK < size; i++)
    records.push(
      await subtle.encrypt(
        { name: 'AES-GCM', iv: nonce(i) },
        cryptoKey,
        data.subarray(i * CHUNK, (i + 1) * CHUNK),
      ),
    );
  s.records = records;
  s.ciphertext = await encryptChunked(key, data);
  s.expected = {
    'WebCrypto loop, encrypt': size + records.length * TAG,
    createEncryptStream: s.ciphertext.length,
    'WebCrypto loop, decrypt': size,
    createDecryptStream: size,
  };
  // Once, untimed: the streaming round trip gives back the very bytes (and warms every path up).
  const check = (value, at) => {
    for (let i = 0; i < value.length; i++)
      if (value[i] !== data[at + i]) throw new Error(`createDecryptStream: byte ${at + i} differs`);
  };
  const back = await pump(createDecryptStream(key), s.ciphertext, s.write, check);
  if (back !== size) throw new Error(`createDecryptStream gave ${back} bytes, not ${size}`);
  for (const name of Object.keys(cases)) await run(name);
  return {
    userAgent: navigator.userAgent,
    hardwareConcurrency: navigator.hardwareConcurrency,
    crossOriginIsolated: globalThis.crossOriginIsolated,
    // The library picks node:crypto only where process.getBuiltinModule exists.
    nodeCryptoVisible: typeof globalThis.process?.getBuiltinModule === 'function',
  };
}

async function run(name, collect) {
  // BENCH_GC=1: the last case's garbage (up to its whole output) is collected before timing.
  if (collect) globalThis.gc();
  const t = performance.now();
  const bytes = await cases[name]();
  const ms = performance.now() - t;
  if (bytes !== s.expected[name])
    throw new Error(`${name}: ${bytes} bytes out, expected ${s.expected[name]}`);
  return ms;
}

window.bench = { cases: Object.keys(cases), setup, run };
