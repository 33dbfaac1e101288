// The main job, end to end: a backup key and its 64-digit code, a sample chat backup encrypted
// and decrypted through the streaming Cobblestone-256 layer, and a wrong key refused.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ensureBuilt } from './ensure-built.mjs';

ensureBuilt();
const lib = await import('../dist/index.js');
const dir = mkdtempSync(join(tmpdir(), 'e2ee-demo-'));
const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;
const speed = (n, ms) => `${(n / 1e6 / (ms / 1000)).toFixed(0)} MB/s`;
const sha256 = (path) =>
  new Promise((res) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('end', () => res(h.digest('hex')));
  });

try {
  // 1. A backup key, shown as the 64-digit code the user keeps.
  const key = lib.generateBackupKey();
  const code = lib.formatBackupKey(key);
  console.log(`1. New backup key. Write this code down; a lost code means a lost backup:\n\n   ${code}\n`);
  const typed = code.toUpperCase().replaceAll(' ', '-');
  console.log(
    `   Typed back as "${typed.slice(0, 24)}…": ${lib.parseBackupKey(typed).every((b, i) => b === key[i]) ? 'accepted' : 'REJECTED'}`,
  );
  try {
    lib.parseBackupKey(code.replace(/^(.{16})./, '$1o'));
  } catch (e) {
    console.log(`   With a typo: ${e.message}\n`);
  }

  // 2. A sample chat backup: JSON lines of messages plus some random "media".
  const plainPath = join(dir, 'chat-backup.jsonl');
  const lines = [];
  const words = [
    'hello',
    'bonjour',
    'hola',
    'привет',
    'こんにちは',
    'مرحبا',
    'see you',
    'ok',
    '👍',
    'on my way',
  ];
  for (let i = 0; i < 60000; i++) {
    lines.push(
      JSON.stringify({
        id: i,
        from: `+1555${i % 97}`,
        ts: 1700000000 + i * 37,
        text: words[i % 10].repeat(1 + (i % 7)),
      }),
    );
  }
  const media = Buffer.from(lib.generateBackupKey().buffer).toString('base64').repeat(1);
  writeFileSync(plainPath, `${lines.join('\n')}\n${media}`);
  const size = statSync(plainPath).size;
  console.log(`2. Sample backup: ${mb(size)} of chat history at ${plainPath}`);

  // 3. Encrypt it with the streaming payload layer (what the container format builds on).
  const context = 'e2ee-backup demo v1';
  const encPath = join(dir, 'chat-backup.enc');
  let t = performance.now();
  await pipeline(
    Readable.toWeb(createReadStream(plainPath)).pipeThrough(lib.createEncryptStream(key, { context })),
    Writable.toWeb(createWriteStream(encPath)),
  );
  const encMs = performance.now() - t;
  console.log(
    `3. Encrypted to ${mb(statSync(encPath).size)} in ${encMs.toFixed(0)} ms (${speed(size, encMs)})`,
  );

  // 4. Decrypt with the same key and compare hashes.
  const outPath = join(dir, 'chat-backup.restored.jsonl');
  t = performance.now();
  await pipeline(
    Readable.toWeb(createReadStream(encPath)).pipeThrough(lib.createDecryptStream(key, { context })),
    Writable.toWeb(createWriteStream(outPath)),
  );
  const decMs = performance.now() - t;
  const same = (await sha256(plainPath)) === (await sha256(outPath));
  console.log(
    `4. Decrypted in ${decMs.toFixed(0)} ms (${speed(size, decMs)}); SHA-256 ${same ? 'matches' : 'DIFFERS'}`,
  );
  if (!same) process.exitCode = 1;

  // 5. A wrong key is refused before a single chunk is decrypted.
  const wrong = lib.generateBackupKey();
  try {
    await pipeline(
      Readable.toWeb(createReadStream(encPath)).pipeThrough(lib.createDecryptStream(wrong, { context })),
      new WritableStream(),
    );
    console.log('5. A wrong key was ACCEPTED');
    process.exitCode = 1;
  } catch (e) {
    console.log(`5. A wrong key is refused: ${e.code} (${e.message})`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
