#!/usr/bin/env node
// Streams: the library's transforms are Web TransformStreams; this shows them in a Node
// stream.pipeline (via Duplex.fromWeb), over Web streams, and random access into an encrypted
// file through a FileHandle. Runs self-contained in a temporary folder:
//
//   node examples/node/streams.mjs
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CHUNK_SIZE,
  chunkedCiphertextSize,
  createDecryptStream,
  createEncryptStream,
  formatBackupKey,
  generateBackupKey,
  openChunked,
} from 'e2ee-backup';

const CONTEXT = 'e2ee-backup streams example';
const sha256 = () => createHash('sha256');

/** 5 MB of deterministic "chat backup" lines, produced lazily as a Node Readable. */
function source() {
  return Readable.from(
    (function* () {
      for (let i = 0; i < 50_000; i++)
        yield `${String(i).padStart(8, '0')} message from alice: hello bob ${'x'.repeat(70)}\n`;
    })(),
  );
}

const dir = await mkdtemp(join(tmpdir(), 'e2ee-streams-'));
try {
  const key = generateBackupKey();
  console.log(`backup key: ${formatBackupKey(key)}`);
  const encPath = join(dir, 'backup.e2ee');

  // 1. Node pipeline: source → encrypt → file, hashing the plaintext on the way.
  const plainHash = sha256();
  let plainBytes = 0;
  await pipeline(
    source(),
    async function* (chunks) {
      for await (const c of chunks) {
        const b = Buffer.from(c);
        plainHash.update(b);
        plainBytes += b.length;
        yield b;
      }
    },
    Duplex.fromWeb(createEncryptStream(key, { context: CONTEXT })),
    createWriteStream(encPath),
  );
  const fh = await open(encPath);
  const { size } = await fh.stat();
  console.log(
    `1. pipeline: ${plainBytes} bytes → ${size} encrypted (expected ${chunkedCiphertextSize(plainBytes)})`,
  );

  // 2. Web streams: file → decrypt → hash, in constant memory.
  const outHash = sha256();
  await Readable.toWeb(createReadStream(encPath))
    .pipeThrough(createDecryptStream(key, { context: CONTEXT }))
    .pipeTo(new WritableStream({ write: (chunk) => void outHash.update(chunk) }));
  const same = outHash.digest('hex') === plainHash.digest('hex');
  console.log(`2. web streams: decrypted SHA-256 ${same ? 'matches' : 'DIFFERS'}`);

  // 3. Random access: read line n, which straddles the boundary of chunks 2 and 3, without
  //    decrypting anything else (every line is 110 bytes).
  const reader = await openChunked(
    key,
    {
      size,
      read: async (offset, length) => {
        const buf = Buffer.alloc(length);
        await fh.read(buf, 0, length, offset);
        return buf;
      },
    },
    { context: CONTEXT },
  );
  const n = Math.floor((3 * CHUNK_SIZE) / 110);
  const expected = `${String(n).padStart(8, '0')} message from alice: hello bob`;
  const line = new TextDecoder().decode(await reader.read(n * 110, expected.length));
  const lineOk = line === expected;
  console.log(`3. random access, line ${n} at byte ${n * 110}: "${line}" ${lineOk ? 'ok' : 'WRONG'}`);
  await fh.close();
  if (!same || !lineOk) process.exitCode = 1;
} finally {
  await rm(dir, { recursive: true, force: true });
}
