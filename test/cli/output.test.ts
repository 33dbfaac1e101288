// Where the CLI writes (issue #16): only a regular file (or nothing) is replaced, atomically; a
// symlink is followed; a device, FIFO or socket is written in place, never replaced; -o /dev/stdout,
// /dev/fd/N and >(cmd) work. Special files are made in a temporary folder, never the real
// /dev/null. (The /dev/stdout case must not be run against the old code as root: it renamed a
// regular file over the system's /dev/stdout.)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, CLI, cleanEnv, run, sampleData, tempDir, tempLeftovers } from './helpers.js';

let dir: string;
let cleanup: () => void;
let keyFile: string;
let backup: string;
const data = sampleData(200_000);
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
