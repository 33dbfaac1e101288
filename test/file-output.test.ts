// The one file writer (src/node/file-output.ts) through encryptFile / decryptFile: only a regular file
// (or nothing) is ever replaced; a symlink is followed; a device, FIFO or socket is written in
// place. Special files are made in a temporary folder (never the real /dev/null).
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  createReadStream,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encryptBackupBytes } from '../src/container/backup.js';
import { decryptFile, encryptFile } from '../src/node/files.js';

const key = new Uint8Array(32).fill(9);
const plain = new TextEncoder().encode('the diary, '.repeat(5000));
let dir: string;
let backup: string;
// mknod needs root: the device-node test is skipped for other users (CI runs as root).
const isRoot = process.getuid?.() === 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'e2ee-output-'));
  backup = join(dir, 'diary.e2ee');
  writeFileSync(backup, await encryptBackupBytes(plain, { key }));
  writeFileSync(join(dir, 'diary.txt'), plain);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Everything a reader of `path` (a FIFO) gets, read while `write` runs. */
async function readWhile(path: string, write: () => Promise<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    createReadStream(path)
      .on('data', (c) => chunks.push(c as Buffer))
      .on('end', resolve)
      .on('error', reject);
  });
  await write();
  await done;
  return Buffer.concat(chunks);
}

function temporaries(folder: string): string[] {
  return readdirSync(folder).filter((n) => n.endsWith('.tmp'));
}

describe('encryptFile / decryptFile destinations (issue #16)', () => {
  it('a FIFO is written in place and stays a FIFO; its reader gets the plaintext', async () => {
    const fifo = join(dir, 'out.fifo');
    execFileSync('mkfifo', [fifo]);
    const got = await readWhile(fifo, () => decryptFile(backup, fifo, { key }));
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    expect(got.equals(plain)).toBe(true);
    expect(temporaries(dir)).toEqual([]);
  });

  it('a symlink is followed: its target gets the file, the link stays a link', async () => {
    const target = join(dir, 'target.txt');
    writeFileSync(target, 'old');
    const linkPath = join(dir, 'link.txt');
    symlinkSync('target.txt', linkPath);
    await decryptFile(backup, linkPath, { key });
    expect(lstatSync(linkPath).isSymbolicLink()).toBe(true);
    expect(readlinkSync(linkPath)).toBe('target.txt');
    expect(readFileSync(target).equals(plain)).toBe(true);
  });

  it('a dangling symlink is followed: the file is created where it points', async () => {
    mkdirSync(join(dir, 'sub'));
    const linkPath = join(dir, 'dangling.e2ee');
    symlinkSync('sub/new.e2ee', linkPath);
    await encryptFile(join(dir, 'diary.txt'), linkPath, { key });
    expect(lstatSync(linkPath).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(dir, 'sub', 'new.e2ee')).isFile()).toBe(true);
    const back = join(dir, 'back.txt');
    await decryptFile(linkPath, back, { key });
    expect(readFileSync(back).equals(plain)).toBe(true);
  });

  it.skipIf(!isRoot)('a character device made with mknod is written, not replaced', async () => {
    const dev = join(dir, 'null');
    execFileSync('mknod', [dev, 'c', '1', '3']); // the null device, in our temporary folder
    await decryptFile(backup, dev, { key });
    expect(lstatSync(dev).isCharacterDevice()).toBe(true);
    await encryptFile(join(dir, 'diary.txt'), dev, { key });
    expect(lstatSync(dev).isCharacterDevice()).toBe(true);
    expect(temporaries(dir)).toEqual([]);
  });

  it('a Unix socket is connected to and written in place', async () => {
    const sock = join(dir, 'out.sock');
    const chunks: Buffer[] = [];
    let listening!: () => void;
    const ready = new Promise<void>((r) => {
      listening = r;
    });
    const received = new Promise<Buffer>((resolve) => {
      const server = createServer((c) => {
        c.on('data', (d) => chunks.push(d));
        c.on('end', () => {
          server.close();
          resolve(Buffer.concat(chunks));
        });
      }).listen(sock, listening);
    });
    await ready;
    await decryptFile(backup, sock, { key });
    expect((await received).equals(plain)).toBe(true);
    expect(temporaries(dir)).toEqual([]); // nothing was renamed over it
  });

  it('a replaced file keeps its mode (and owner, as root); a new file is 0600 (review of #16)', async () => {
    const shared = join(dir, 'shared.txt');
    writeFileSync(shared, 'old');
    chmodSync(shared, 0o640);
    if (isRoot) chownSync(shared, 65534, 65534);
    await decryptFile(backup, shared, { key });
    expect(readFileSync(shared).equals(plain)).toBe(true);
    expect(lstatSync(shared).mode & 0o7777).toBe(0o640);
    if (isRoot) expect([lstatSync(shared).uid, lstatSync(shared).gid]).toEqual([65534, 65534]);
    const fresh = join(dir, 'fresh.txt');
    await decryptFile(backup, fresh, { key });
    expect(lstatSync(fresh).mode & 0o777).toBe(0o600);
    expect(temporaries(dir)).toEqual([]);
  });

  it('/dev/fd/N open on a regular file is written through the descriptor, appended, not replaced', async () => {
    const log = join(dir, 'appended.log');
    writeFileSync(log, 'earlier\n');
    const ino = lstatSync(log).ino;
    const fd = openSync(log, 'a');
    try {
      await decryptFile(backup, `/dev/fd/${fd}`, { key });
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(log).equals(Buffer.concat([Buffer.from('earlier\n'), plain]))).toBe(true);
    expect(lstatSync(log).ino).toBe(ino);
    expect(temporaries(dir)).toEqual([]);
  });

  it('a folder is refused with IO and left alone', async () => {
    const folder = join(dir, 'a-folder');
    mkdirSync(folder);
    await expect(decryptFile(backup, folder, { key })).rejects.toMatchObject({ code: 'IO' });
    expect(lstatSync(folder).isDirectory()).toBe(true);
  });
});
