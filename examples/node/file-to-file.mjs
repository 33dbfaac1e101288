#!/usr/bin/env node
// File to file with a 64-digit backup key: encryptFile / decryptFile from 'e2ee-backup/node'
// stream in constant memory, write to a temporary file beside the destination and rename it only
// once the result is complete (and, when decrypting, authenticated to its last byte).
//
//   node examples/node/file-to-file.mjs encrypt <input> <output> [code]   (no code: a new one is printed)
//   node examples/node/file-to-file.mjs decrypt <input> <output> <code>
//   node examples/node/file-to-file.mjs                                  (demo in a temporary folder)
//
// The code may also come from $E2EE_BACKUP_CODE. The files are ordinary backups: the command line
// opens them (`e2ee-backup decrypt <file> -o <out> --key-file <file holding the code>`), and so
// does examples/browser/.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatBackupKey, generateBackupKey, isE2EEError, parseBackupKey } from 'e2ee-backup';
import { decryptFile, encryptFile } from 'e2ee-backup/node';

async function demo() {
  const dir = await mkdtemp(join(tmpdir(), 'e2ee-example-'));
  try {
    const key = generateBackupKey();
    console.log(`backup key: ${formatBackupKey(key)}`);
    const original = new Uint8Array(1_000_000).map((_, i) => (i * 31) & 0xff);
    await writeFile(join(dir, 'chat.db'), original);
    await encryptFile(join(dir, 'chat.db'), join(dir, 'chat.db.e2ee'), {
      key,
      metadata: { app: 'file-to-file example' }, // stored encrypted, returned by decryptFile
    });
    const metadata = await decryptFile(join(dir, 'chat.db.e2ee'), join(dir, 'chat.copy.db'), { key });
    const same = Buffer.compare(await readFile(join(dir, 'chat.copy.db')), original) === 0;
    console.log(`round trip of ${original.length} bytes: ${same ? 'identical' : 'DIFFERENT'}`);
    console.log(`metadata: ${JSON.stringify(metadata.app)}`);
    try {
      await decryptFile(join(dir, 'chat.db.e2ee'), join(dir, 'wrong.db'), { key: generateBackupKey() });
    } catch (err) {
      if (!isE2EEError(err, 'WRONG_KEY')) throw err;
      console.log('a wrong key is refused: WRONG_KEY');
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
    await encryptFile(input, output, { key });
    console.log(`encrypted ${input} → ${output}`);
  } else if (mode === 'decrypt' && input && output && code) {
    await decryptFile(input, output, { key: parseBackupKey(code) });
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
