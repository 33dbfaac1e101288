// The least a Node program must do to encrypt a file in 16 KiB AES-256-GCM chunks: read 1 MiB
// into a reused buffer, seal each chunk with node:crypto (a new cipher per chunk, as Cobblestone
// needs a nonce per chunk), copy the records into a reused buffer, write it. No header, no key
// schedule, no framing, no checks beyond the tags: not a format, only the floor under ours.
// bench/cli.mjs runs it beside the CLI and age to show what Node itself allows on this machine.
//
// Usage: node bench/bare-loop.mjs encrypt|decrypt <64 hex key> <in> <out>
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';

const [mode, keyHex, inPath, outPath] = process.argv.slice(2);
const key = Buffer.from(keyHex, 'hex');
const CHUNK = 16384;
const RECORD = CHUNK + 16;
const BATCH = 64;
const seal = mode === 'encrypt';
const inUnit = seal ? CHUNK : RECORD;
const outUnit = seal ? RECORD : CHUNK;
const input = Buffer.allocUnsafeSlow(BATCH * inUnit);
const output = Buffer.allocUnsafeSlow(BATCH * outUnit);
const nonce = Buffer.alloc(12);
const fin = openSync(inPath, 'r');
const fout = openSync(outPath, 'w');

let counter = 0;
for (;;) {
  let n = 0;
  while (n < input.length) {
    const r = readSync(fin, input, n, input.length - n);
    if (r === 0) break;
    n += r;
  }
  let o = 0;
  for (let at = 0; at < n; at += inUnit, counter++) {
    nonce.writeUInt32BE(counter, 8);
    const piece = input.subarray(at, Math.min(n, at + inUnit));
    if (seal) {
      const c = createCipheriv('aes-256-gcm', key, nonce);
      o += c.update(piece).copy(output, o);
      c.final();
      o += c.getAuthTag().copy(output, o);
    } else {
      const d = createDecipheriv('aes-256-gcm', key, nonce);
      d.setAuthTag(piece.subarray(piece.length - 16));
      o += d.update(piece.subarray(0, piece.length - 16)).copy(output, o);
      d.final();
    }
  }
  writeSync(fout, output, 0, o);
  if (n < input.length) break;
}
closeSync(fout);
closeSync(fin);
