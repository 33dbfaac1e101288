// Where the CLI writes (issue #16): only a regular file (or nothing) is replaced, atomically; a
// symlink is followed; a device, FIFO or socket is written in place, never replaced; -o /dev/stdout,
// /dev/fd/N and >(cmd) work. Special files are made in a temporary folder, never the real
// /dev/null. (The /dev/stdout case must not be run against the old code as root: it renamed a
// regular file over the system's /dev/stdout.)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, CLI, cleanEnv, run, sampleData, tempDir, tempLeftovers } from './helpers.js';

let dir: string;
let cleanup: () => void;
let keyFile: string;
let backup: string;
const data = sampleData(200_000);
// mknod needs root: the device-node tests are skipped for other users (CI runs as root).
const isRoot = process.getuid?.() === 0;

beforeAll(async () => {
  await buildCli();
  ({ dir, cleanup } = tempDir());
  keyFile = join(dir, 'backup.key');
  expect(run(['keygen', '--out', keyFile, '-q']).status).toBe(0);
  writeFileSync(join(dir, 'data.bin'), data);
  backup = join(dir, 'data.e2ee');
  expect(run(['encrypt', join(dir, 'data.bin'), '-o', backup, '-k', keyFile]).status).toBe(0);
}, 180_000);
afterAll(() => cleanup?.());

/** Runs the CLI to completion without blocking the event loop (a FIFO reader runs meanwhile). */
function runAsync(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [CLI, ...args], { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

describe('decrypt -o special files', () => {
  it('a FIFO is written in place and stays a FIFO; its reader gets the plaintext', async () => {
    const fifo = join(dir, 'out.fifo');
    execFileSync('mkfifo', [fifo]);
    const reader = spawn('cat', [fifo]);
    const got: Buffer[] = [];
    reader.stdout.on('data', (d) => got.push(d));
    const readerDone = new Promise((r) => reader.on('close', r));
    const r = await runAsync(['decrypt', backup, '-o', fifo, '-k', keyFile]);
    const stillFifo = lstatSync(fifo).isFIFO();
    if (!stillFifo) reader.kill(); // replaced: the reader would wait for ever
    await readerDone;
    expect(stillFifo).toBe(true);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/note: decrypted data goes to .*out\.fifo as each chunk authenticates/);
    expect(Buffer.concat(got).equals(data)).toBe(true);
    expect(tempLeftovers(dir)).toEqual([]);
  });

  it('a symlink is followed: its target is written atomically, the link stays a link', () => {
    const target = join(dir, 'target.bin');
    writeFileSync(target, 'old contents');
    const link = join(dir, 'link.bin');
    symlinkSync('target.bin', link);
    expect(run(['decrypt', backup, '-o', link, '-k', keyFile]).status).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe('target.bin');
    expect(readFileSync(target).equals(data)).toBe(true);
    expect(tempLeftovers(dir)).toEqual([]);
  });

  it.skipIf(!isRoot)('a device node made with mknod is written, never replaced (encrypt and decrypt)', () => {
    const dev = join(dir, 'null');
    execFileSync('mknod', [dev, 'c', '1', '3']); // the null device, in our own folder
    const d = run(['decrypt', backup, '-o', dev, '-k', keyFile]);
    expect(d.status).toBe(0);
    expect(lstatSync(dev).isCharacterDevice()).toBe(true);
    expect(d.stderr).toMatch(/note: decrypted data goes to .*null as each chunk authenticates/);
    expect(run(['encrypt', join(dir, 'data.bin'), '-o', dev, '-k', keyFile]).status).toBe(0);
    expect(lstatSync(dev).isCharacterDevice()).toBe(true);
    // A backup that fails half way: what went to the device is named as not authenticated.
    writeFileSync(join(dir, 'random.bin'), randomBytes(3 << 20)); // more than one 1 MiB batch
    expect(run(['encrypt', join(dir, 'random.bin'), '-o', join(dir, 'bad.e2ee'), '-k', keyFile]).status).toBe(
      0,
    );
    const bad = readFileSync(join(dir, 'bad.e2ee'));
    bad[bad.length - 100]! ^= 1;
    writeFileSync(join(dir, 'bad.e2ee'), bad);
    const f = run(['decrypt', join(dir, 'bad.e2ee'), '-o', dev, '-k', keyFile]);
    expect(f.status).toBe(3);
    expect(f.stderr).toMatch(/already written to .*null are not authenticated: discard them/);
    expect(lstatSync(dev).isCharacterDevice()).toBe(true);
    expect(tempLeftovers(dir)).toEqual([]);
  });

  it('-o /dev/stdout writes to standard output (a pipe here)', () => {
    const r = run(['decrypt', backup, '-o', '/dev/stdout', '-k', keyFile]);
    expect(r.status).toBe(0);
    expect(r.stdout.equals(data)).toBe(true);
    expect(lstatSync('/dev/stdout').isSymbolicLink()).toBe(true);
  });

  it('-o /dev/fd/3 writes to descriptor 3', () => {
    const r = spawnSync('node', [CLI, 'decrypt', backup, '-o', '/dev/fd/3', '-k', keyFile], {
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      maxBuffer: 64 << 20,
    });
    expect(r.status).toBe(0);
    expect((r.output[3] as Buffer).equals(data)).toBe(true);
  });

  it('-o /dev/stdout or /dev/fd/3 open on a regular file writes through it: appended, never replaced', () => {
    // `>> log.txt` appends; `3> out3.txt` writes from the start. Neither file is renamed over, and
    // each keeps its inode and mode (review of #16: the log's earlier lines were wiped).
    const log = join(dir, 'log.txt');
    const out3 = join(dir, 'out3.txt');
    writeFileSync(log, 'earlier lines\n', { mode: 0o640 });
    writeFileSync(out3, 'x'.repeat(10), { mode: 0o640 });
    const before = [lstatSync(log).ino, lstatSync(out3).ino];
    const r = spawnSync(
      'bash',
      [
        '-c',
        'node "$CLI" decrypt "$IN" -k "$KEY" -o /dev/stdout >> "$LOG" && node "$CLI" decrypt "$IN" -k "$KEY" -o /dev/fd/3 3> "$OUT3"',
      ],
      { env: cleanEnv({ CLI, IN: backup, KEY: keyFile, LOG: log, OUT3: out3 }), encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/note: decrypted data goes to \/dev\/stdout as each chunk authenticates/);
    expect(readFileSync(log).equals(Buffer.concat([Buffer.from('earlier lines\n'), data]))).toBe(true);
    expect(readFileSync(out3).equals(data)).toBe(true);
    expect([lstatSync(log).ino, lstatSync(out3).ino]).toEqual(before);
    expect([lstatSync(log).mode & 0o777, lstatSync(out3).mode & 0o777]).toEqual([0o640, 0o640]);
    expect(tempLeftovers(dir)).toEqual([]);
  });

  it('a file this user may not write is refused, not replaced, even in a folder it may write', () => {
    // As root, access() allows everything: run the CLI as nobody on a root-owned file instead.
    const shared = mkdtempSync(join(tmpdir(), 'e2ee-cli-readonly-'));
    try {
      chmodSync(shared, 0o777);
      for (const f of [keyFile, backup]) copyFileSync(f, join(shared, basename(f)));
      for (const f of readdirSync(shared)) chmodSync(join(shared, f), 0o644);
      const target = join(shared, 'theirs.txt');
      writeFileSync(target, 'not yours');
      chmodSync(target, isRoot ? 0o644 : 0o444);
      const ino = lstatSync(target).ino;
      const r = spawnSync(
        'node',
        [CLI, 'decrypt', join(shared, 'data.e2ee'), '-k', join(shared, 'backup.key'), '-o', target],
        {
          env: cleanEnv({ XDG_CONFIG_HOME: shared }),
          encoding: 'utf8',
          ...(isRoot ? { uid: 65534, gid: 65534 } : {}),
        },
      );
      expect(r.status, r.stderr).toBe(4);
      expect(r.stderr).toMatch(
        /cannot write .*theirs\.txt: it is read-only, or not yours to write; it was not replaced/,
      );
      expect(readFileSync(target, 'utf8')).toBe('not yours');
      expect(lstatSync(target).ino).toBe(ino);
      expect(tempLeftovers(shared)).toEqual([]);
    } finally {
      rmSync(shared, { recursive: true, force: true });
    }
  });

  it('-o >(cmd) writes to the process substitution', () => {
    const out = join(dir, 'substituted.bin');
    const r = spawnSync(
      'bash',
      ['-c', 'node "$CLI" decrypt "$IN" -k "$KEY" -o >(cat > "$OUT"); s=$?; wait $!; exit $s'],
      { env: cleanEnv({ CLI, IN: backup, KEY: keyFile, OUT: out }) },
    );
    expect(r.status).toBe(0);
    expect(readFileSync(out).equals(data)).toBe(true);
  });

  it('backup restore writes a FIFO in place too', async () => {
    const store = join(dir, 'store');
    expect(run(['backup', 'create', join(dir, 'data.bin'), '--store', store, '-k', keyFile]).status).toBe(0);
    const fifo = join(dir, 'restore.fifo');
    execFileSync('mkfifo', [fifo]);
    const reader = spawn('cat', [fifo]);
    const got: Buffer[] = [];
    reader.stdout.on('data', (d) => got.push(d));
    const readerDone = new Promise((r) => reader.on('close', r));
    const r = await runAsync(['backup', 'restore', '--store', store, '-o', fifo, '-k', keyFile]);
    const stillFifo = lstatSync(fifo).isFIFO();
    if (!stillFifo) reader.kill();
    await readerDone;
    expect(stillFifo).toBe(true);
    expect(r.status).toBe(0);
    expect(Buffer.concat(got).equals(data)).toBe(true);
  });
});
