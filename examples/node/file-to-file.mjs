#!/usr/bin/env node
// File to file with a 64-digit backup key, streaming (constant memory, any file size).
//
//   node examples/node/file-to-file.mjs encrypt <input> <output> [code]   (no code: a new one is printed)
//   node examples/node/file-to-file.mjs decrypt <input> <output> <code>
//   node examples/node/file-to-file.mjs                                  (demo in a temporary folder)
//
// The code may also come from $E2EE_BACKUP_CODE. Files are interchangeable with examples/browser/.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import {
  createDecryptStream,
  createEncryptStream,
  formatBackupKey,
  generateBackupKey,
  isE2EEError,
  parseBackupKey,
} from 'e2ee-backup';

// TODO(encryptBackup): once the container API lands, use encryptBackup/decryptBackup here.
const CONTEXT = 'e2ee-backup example v1';

async function pump(input, output, transform) {
  // Decrypted output is only an authenticated *prefix* until the stream ends without error, so
  // write to a temporary name and rename only on success: a failed run leaves nothing behind.
  const partial = `${output}.partial`;
  try {
    await Readable.toWeb(createReadStream(input))
      .pipeThrough(transform)
      .pipeTo(Writable.toWeb(createWriteStream(partial)));
    await rename(partial, output);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}

export async function encryptFile(input, output, key) {
  await pump(input, output, createEncryptStream(key, { context: CONTEXT }));
}

export async function decryptFile(input, output, key) {
  await pump(input, output, createDecryptStream(key, { context: CONTEXT }));
}

async function demo() {
  const dir = await mkdtemp(join(tmpdir(), 'e2ee-example-'));
  try {
    const key = generateBackupKey();
    console.log(`backup key: ${formatBackupKey(key)}`);
    const original = new Uint8Array(1_000_000).map((_, i) => (i * 31) & 0xff);
    await writeFile(join(dir, 'chat.db'), original);
    await encryptFile(join(dir, 'chat.db'), join(dir, 'chat.db.e2ee'), key);
    await decryptFile(join(dir, 'chat.db.e2ee'), join(dir, 'chat.copy.db'), key);
    const same = Buffer.compare(await readFile(join(dir, 'chat.copy.db')), original) === 0;
    console.log(`round trip of ${original.length} bytes: ${same ? 'identical' : 'DIFFERENT'}`);
    try {
      await decryptFile(join(dir, 'chat.db.e2ee'), join(dir, 'wrong.db'), generateBackupKey());
    } catch (err) {
      if (!isE2EEError(err, 'COMMITMENT_MISMATCH')) throw err;
      console.log('a wrong key is refused: COMMITMENT_MISMATCH');
    }
    if (!same) process.exitCode = 1;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const [mode, input, output, code = process.env.E2EE_BACKUP_CODE] = process.argv.slice(2);
try {
  if (!mode) await demo();
  else if (mode === 'encrypt' && input && output) {
    const key = code ? parseBackupKey(code) : generateBackupKey();
    if (!code) console.log(`new backup key (keep it safe): ${formatBackupKey(key)}`);
    await encryptFile(input, output, key);
    console.log(`encrypted ${input} → ${output}`);
  } else if (mode === 'decrypt' && input && output && code) {
    await decryptFile(input, output, parseBackupKey(code));
    console.log(`decrypted ${input} → ${output}`);
  } else {
    console.error('usage: file-to-file.mjs [encrypt <in> <out> [code] | decrypt <in> <out> <code>]');
    process.exitCode = 2;
  }
} catch (err) {
  if (!isE2EEError(err)) throw err;
  console.error(`error ${err.code}: ${err.message}`);
  process.exitCode = 1;
}
