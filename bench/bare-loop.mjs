// The least a Node program must do to encrypt a file in 16 KiB AES-256-GCM chunks: read 1 MiB
// into a reused buffer, seal each chunk with node:crypto (a new cipher per chunk, as Cobblestone
// needs a nonce per chunk), copy the records into a reused buffer, write it. No header, no key
// schedule, no framing, no checks beyond the tags: not a format, only the floor under ours.
// bench/cli.mjs runs it beside the CLI and age to show what Node itself allows on this machine.
//
// `encrypt-threaded` writes the same bytes with the sealing on a worker thread: the main thread
// reads into and writes from rings of 1 MiB slots in shared memory, and the two wait on each
// other with Atomics. It shows whether a second core helps a file pipeline here.
//
// Usage: node bench/bare-loop.mjs encrypt|encrypt-threaded|decrypt <64 hex key> <in> <out>
import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

const [mode, keyHex, inPath, outPath] = process.argv.slice(2);
const CHUNK = 16384;
const RECORD = CHUNK + 16;
const BATCH = 64;
const SLOTS = 4;

/** Seals `n` bytes of `input` as chunks `counter`, … into `output`; answers the bytes written. */
function sealBatch(key, nonce, counter, input, n, output) {
  let o = 0;
  for (let at = 0; at < n; at += CHUNK, counter++) {
    nonce.writeUInt32BE(counter, 8);
    const c = createCipheriv('aes-256-gcm', key, nonce);
    o += c.update(input.subarray(at, Math.min(n, at + CHUNK))).copy(output, o);
    c.final();
    o += c.getAuthTag().copy(output, o);
  }
  return o;
}

function openBatch(key, nonce, counter, input, n, output) {
  let o = 0;
  for (let at = 0; at < n; at += RECORD, counter++) {
    nonce.writeUInt32BE(counter, 8);
    const record = input.subarray(at, Math.min(n, at + RECORD));
    const d = createDecipheriv('aes-256-gcm', key, nonce);
    d.setAuthTag(record.subarray(record.length - 16));
    o += d.update(record.subarray(0, record.length - 16)).copy(output, o);
    d.final();
  }
  return o;
}

function readFull(fd, buf) {
  let n = 0;
  while (n < buf.length) {
    const r = readSync(fd, buf, n, buf.length - n);
    if (r === 0) break;
    n += r;
  }
  return n;
}

function singleThread(seal) {
  // A KeyObject, as the library uses: on Node 24 a raw Buffer key makes each createCipheriv
  // 2.4x as costly (457 against 1080 MB per CPU-second; docs/performance.md), which would lower
  // the floor the CLI is measured against.
  const key = createSecretKey(Buffer.from(keyHex, 'hex'));
  const input = Buffer.allocUnsafeSlow(BATCH * (seal ? CHUNK : RECORD));
  const output = Buffer.allocUnsafeSlow(BATCH * (seal ? RECORD : CHUNK));
  const nonce = Buffer.alloc(12);
  const fin = openSync(inPath, 'r');
  const fout = openSync(outPath, 'w');
  for (let counter = 0; ; counter += BATCH) {
    const n = readFull(fin, input);
    writeSync(fout, output, 0, (seal ? sealBatch : openBatch)(key, nonce, counter, input, n, output));
    if (n < input.length) break;
  }
  closeSync(fout);
  closeSync(fin);
}

// The worker's side of encrypt-threaded. ctl: [0] slots filled, [1] slots sealed (-1: the worker
// failed), then per slot its plaintext length (-1 ends), then per slot its sealed length.
const WORKER = `
const { workerData: { keyHex, ctl, plain, sealed, BATCH, CHUNK, RECORD, SLOTS } } = require('node:worker_threads');
const { createCipheriv, createSecretKey } = require('node:crypto');
${sealBatch.toString()}
const key = createSecretKey(Buffer.from(keyHex, 'hex'));
const nonce = Buffer.alloc(12);
const c = new Int32Array(ctl);
try {
  for (let k = 0; ; k++) {
    while (Atomics.load(c, 0) <= k) Atomics.wait(c, 0, k);
    const s = k % SLOTS;
    const n = c[2 + s];
    if (n < 0) break;
    const input = Buffer.from(plain, s * BATCH * CHUNK, BATCH * CHUNK);
    const output = Buffer.from(sealed, s * BATCH * RECORD, BATCH * RECORD);
    c[2 + SLOTS + s] = sealBatch(key, nonce, k * BATCH, input, n, output);
    Atomics.store(c, 1, k + 1);
    Atomics.notify(c, 1);
  }
} catch (e) {
  // The main thread is blocked in Atomics.wait and would never see an 'error' event.
  Atomics.store(c, 1, -1);
  Atomics.notify(c, 1);
  throw e;
}
`;

async function threaded() {
  const ctl = new SharedArrayBuffer(4 * (2 + 2 * SLOTS));
  const plain = new SharedArrayBuffer(SLOTS * BATCH * CHUNK);
  const sealed = new SharedArrayBuffer(SLOTS * BATCH * RECORD);
  const c = new Int32Array(ctl);
  const worker = new Worker(WORKER, {
    eval: true,
    workerData: { keyHex, ctl, plain, sealed, BATCH, CHUNK, RECORD, SLOTS },
  });
  // Started before the main thread blocks: a worker that cannot start fails here.
  await new Promise((resolve, reject) => worker.once('online', resolve).once('error', reject));
  const fin = openSync(inPath, 'r');
  const fout = openSync(outPath, 'w');
  let filled = 0;
  let written = 0;
  // Writes every sealed slot; waits for the worker while `busy()` holds. Answers false when the
  // worker failed or stalled: blocked here, this thread would never see its 'error' or 'exit'.
  const drain = (busy) => {
    for (;;) {
      const done = Atomics.load(c, 1);
      if (done < 0) return false;
      if (written < done) {
        const s = written % SLOTS;
        writeSync(fout, new Uint8Array(sealed, s * BATCH * RECORD, c[2 + SLOTS + s]));
        written++;
      } else if (!busy()) return true;
      else if (Atomics.wait(c, 1, done, 10_000) === 'timed-out') return false;
    }
  };
  // The worker's own error when it has one; else it stalled (10 s without a batch).
  const failed = async () => {
    const why = await new Promise((resolve) => {
      worker
        .once('error', resolve)
        .once('exit', (code) => resolve(new Error(`the sealing thread exited (code ${code})`)));
      setTimeout(() => resolve(new Error('the sealing thread stalled')), 1000).unref();
    });
    await worker.terminate();
    throw why;
  };
  for (let end = false; !end; ) {
    if (!drain(() => filled - written >= SLOTS)) return failed();
    const s = filled % SLOTS;
    const n = readFull(fin, new Uint8Array(plain, s * BATCH * CHUNK, BATCH * CHUNK));
    end = n < BATCH * CHUNK;
    c[2 + s] = n;
    Atomics.store(c, 0, ++filled);
    Atomics.notify(c, 0);
  }
  if (!drain(() => written < filled)) return failed();
  // Lets the worker leave its loop.
  c[2 + (filled % SLOTS)] = -1;
  Atomics.store(c, 0, filled + 1);
  Atomics.notify(c, 0);
  await new Promise((resolve) => worker.once('exit', resolve));
  closeSync(fout);
  closeSync(fin);
}

if (mode === 'encrypt') singleThread(true);
else if (mode === 'decrypt') singleThread(false);
else if (mode === 'encrypt-threaded') await threaded();
else throw new Error('mode: encrypt, encrypt-threaded or decrypt');
