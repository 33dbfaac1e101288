// Runs examples/node/*.mjs the way a user would (they import 'e2ee-backup', which resolves to
// dist/ through the package's "exports"), after building dist/ when it is stale.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const example = (name: string) => join(root, 'examples', 'node', name);
const CODE = '0123 4567 89ab cdef 0123 4567 89ab cdef 0123 4567 89ab cdef 0123 4567 89ab cdef';
let dir: string;

function run(file: string, args: string[] = [], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [file, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

beforeAll(() => {
  execFileSync(process.execPath, [join(root, 'scripts', 'ensure-built.mjs')], { stdio: 'inherit' });
  dir = mkdtempSync(join(tmpdir(), 'e2ee-examples-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('examples/node/file-to-file.mjs', () => {
  it('demo mode: round trip and a refused wrong key', () => {
    const r = run(example('file-to-file.mjs'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^backup key: ([0-9a-f]{4} ){15}[0-9a-f]{4}$/m);
    expect(r.out).toContain('round trip of 1000000 bytes: identical');
    expect(r.out).toContain('a wrong key is refused: COMMITMENT_MISMATCH');
  });

  it('encrypt / decrypt with a code, from arguments and from $E2EE_BACKUP_CODE', () => {
    const data = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff);
    writeFileSync(join(dir, 'in.bin'), data);
    expect(run(example('file-to-file.mjs'), ['encrypt', 'in.bin', 'in.bin.e2ee', CODE]).code).toBe(0);
    const r = run(example('file-to-file.mjs'), ['decrypt', 'in.bin.e2ee', 'out.bin'], {
      E2EE_BACKUP_CODE: CODE.toUpperCase().replaceAll(' ', '-'),
    });
    expect(r.code).toBe(0);
    expect(Buffer.compare(readFileSync(join(dir, 'out.bin')), data)).toBe(0);
  });

  it('encrypt without a code prints a new one that decrypts', () => {
    writeFileSync(join(dir, 'a.txt'), 'hello');
    const r = run(example('file-to-file.mjs'), ['encrypt', 'a.txt', 'a.e2ee']);
    const code = /new backup key \(keep it safe\): (.+)$/m.exec(r.out)?.[1];
    expect(code).toMatch(/^([0-9a-f]{4} ){15}[0-9a-f]{4}$/);
    expect(run(example('file-to-file.mjs'), ['decrypt', 'a.e2ee', 'a.out', code!]).code).toBe(0);
    expect(readFileSync(join(dir, 'a.out'), 'utf8')).toBe('hello');
  });

  it('a wrong code fails with a code, and leaves no output file behind', () => {
    const wrong = CODE.replace('0123', '0124');
    const r = run(example('file-to-file.mjs'), ['decrypt', 'in.bin.e2ee', 'wrong.bin', wrong]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('error COMMITMENT_MISMATCH');
    expect(existsSync(join(dir, 'wrong.bin'))).toBe(false);
    expect(existsSync(join(dir, 'wrong.bin.partial'))).toBe(false);
  });

  it('a damaged file fails mid-stream, and leaves no output file behind', () => {
    const ct = readFileSync(join(dir, 'in.bin.e2ee'));
    ct[ct.length - 50]! ^= 1;
    writeFileSync(join(dir, 'damaged.e2ee'), ct);
    const r = run(example('file-to-file.mjs'), ['decrypt', 'damaged.e2ee', 'damaged.bin', CODE]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('error CHUNK_AUTH');
    expect(existsSync(join(dir, 'damaged.bin'))).toBe(false);
  });

  it('a mistyped code is named', () => {
    const r = run(example('file-to-file.mjs'), [
      'decrypt',
      'in.bin.e2ee',
      'x.bin',
      `${CODE.slice(0, 16)}o${CODE.slice(17)}`,
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("error KEY_FORMAT: backup key code: character 17 'o' is not a hex digit");
  });
});

describe('examples/node/streams.mjs', () => {
  it('pipeline, web streams and random access all check out', () => {
    const r = run(example('streams.mjs'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('1. pipeline: 5500000 bytes → 5505432 encrypted (expected 5505432)');
    expect(r.out).toContain('2. web streams: decrypted SHA-256 matches');
    expect(r.out).toMatch(
      /3\. random access, line 446 at byte 49060: "00000446 message from alice: hello bob" ok/,
    );
  });
});
