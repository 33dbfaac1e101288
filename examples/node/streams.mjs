#!/usr/bin/env node
// Streams: encryptBackup / decryptBackup take and give Web streams (and encryptBackup any async
// iterable of bytes, such as a Node Readable). This shows them in a Node stream.pipeline, over
// Web streams, and decryptBackupBytes for a small backup held in memory.
//
//   node examples/node/streams.mjs [folder]
//
// Without a folder it runs in a temporary one and removes it; with one, it leaves the backup
// there as backup.e2ee. The key is $E2EE_BACKUP_CODE when set, else a new one (printed).
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  decryptBackup,
  decryptBackupBytes,
  encryptBackup,
  formatBackupKey,
  generateBackupKey,
  parseBackupKey,
} from 'e2ee-backup';

const sha256 = () => createHash('sha256');

/** 5.5 MB of deterministic "chat export" lines, produced lazily. */
async function* chatExport() {
  const encoder = new TextEncoder();
  for (let i = 0; i < 50_000; i++)
    yield encoder.encode(`${String(i).padStart(8, '0')} message from alice: hello bob ${'x'.repeat(70)}\n`);
}

const [folder] = process.argv.slice(2);
const dir = folder ?? (await mkdtemp(join(tmpdir(), 'e2ee-streams-')));
try {
  await mkdir(dir, { recursive: true });
  const code = process.env.E2EE_BACKUP_CODE;
  const key = code ? parseBackupKey(code) : generateBackupKey();
  if (!code) console.log(`backup key: ${formatBackupKey(key)}`);
  const path = join(dir, 'backup.e2ee');

  // 1. Node pipeline: source → encryptBackup → file, hashing the plaintext on the way in.
  const plainHash = sha256();
  let plainBytes = 0;
  async function* hashed(chunks) {
    for await (const chunk of chunks) {
      plainHash.update(chunk);
      plainBytes += chunk.length;
      yield chunk;
    }
  }
  const encrypted = encryptBackup(hashed(chatExport()), {
    key,
    generation: 1, // grows with each backup of the same data: restore can refuse an older one
    metadata: { app: 'streams example', lines: 50_000 },
  });
  await pipeline(Readable.fromWeb(encrypted), createWriteStream(path));
  const { size } = await stat(path);
  console.log(`1. pipeline: ${plainBytes} bytes → ${size} encrypted (compressed and padded)`);

  // 2. Web streams: file → decryptBackup → hash. The metadata is authenticated before this
  //    returns; the stream's bytes are authenticated chunk by chunk, and only a clean close
  //    proves the end: until then treat them as provisional (write to a temporary place).
  const { metadata, stream } = await decryptBackup(Readable.toWeb(createReadStream(path)), { key });
  const outHash = sha256();
  await stream.pipeTo(new WritableStream({ write: (chunk) => void outHash.update(chunk) }));
  const same = outHash.digest('hex') === plainHash.copy().digest('hex');
  console.log(
    `2. web streams: generation ${metadata.generation}, ${metadata.app.lines} lines, decrypted SHA-256 ${same ? 'matches' : 'DIFFERS'}`,
  );

  // 3. In memory: decryptBackupBytes hands over the plaintext only once all of it has
  //    authenticated (it refuses more than 256 MiB unless maxOutputBytes says otherwise).
  const { data } = await decryptBackupBytes(await readFile(path), { key });
  const bytesOk = sha256().update(data).digest('hex') === plainHash.digest('hex');
  console.log(`3. bytes: ${data.length} bytes ${bytesOk ? 'ok' : 'WRONG'}`);
  if (!same || !bytesOk) process.exitCode = 1;
} finally {
  if (!folder) await rm(dir, { recursive: true, force: true });
}
