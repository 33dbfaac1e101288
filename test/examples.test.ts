// Runs examples/node/*.mjs the way a user would (they import 'e2ee-backup', which resolves to
// dist/ through the package's "exports"), after building dist/ when it is stale, and checks with
// the command line (`packages/cli/dist/cli.js decrypt`) that every file an example writes is a
// backup it opens.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from './cli/helpers.js';

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

/** `e2ee-backup decrypt IN -o OUT --key-file` with `code`: the CLI's answer and what it wrote. */
function cliDecrypt(input: string, code: string) {
  const keyFile = join(dir, `cli-${Math.random().toString(36).slice(2)}.key`);
  const out = `${keyFile}.out`;
  writeFileSync(keyFile, `${code}\n`, { mode: 0o600 });
  const r = spawnSync(process.execPath, [CLI, 'decrypt', input, '-o', out, '--key-file', keyFile, '-q'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, err: r.stderr, data: existsSync(out) ? readFileSync(out) : undefined };
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
    expect(r.out).toContain('metadata: {"app":"file-to-file example"}');
    expect(r.out).toContain('a wrong key is refused: WRONG_KEY');
  });

  const data = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff);
  it('encrypt / decrypt with a code, from arguments and from $E2EE_BACKUP_CODE', () => {
    writeFileSync(join(dir, 'in.bin'), data);
    expect(run(example('file-to-file.mjs'), ['encrypt', 'in.bin', 'in.bin.e2ee', CODE]).code).toBe(0);
    const r = run(example('file-to-file.mjs'), ['decrypt', 'in.bin.e2ee', 'out.bin'], {
      E2EE_BACKUP_CODE: CODE.toUpperCase().replaceAll(' ', '-'),
    });
    expect(r.code).toBe(0);
    expect(Buffer.compare(readFileSync(join(dir, 'out.bin')), data)).toBe(0);
  });

  it('what it wrote opens with the command line', () => {
    const r = cliDecrypt(join(dir, 'in.bin.e2ee'), CODE);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(Buffer.compare(r.data!, data)).toBe(0);
  });

  it('and the command line refuses it under another code', () => {
    // Not one digit off: the command line would correct a single typo.
    const r = cliDecrypt(join(dir, 'in.bin.e2ee'), CODE.replaceAll('0123', 'fedc'));
    expect(r.code).toBe(2);
    expect(r.data).toBeUndefined();
  });

  it('a file the command line wrote opens with the example', () => {
    const keyFile = join(dir, 'cli-written.key');
    writeFileSync(keyFile, CODE, { mode: 0o600 });
    execFileSync(
      process.execPath,
      [CLI, 'encrypt', 'in.bin', '-o', 'cli.e2ee', '--key-file', keyFile, '-q'],
      {
        cwd: dir,
      },
    );
    const r = run(example('file-to-file.mjs'), ['decrypt', 'cli.e2ee', 'cli.out', CODE]);
    expect(r.code).toBe(0);
    expect(Buffer.compare(readFileSync(join(dir, 'cli.out')), data)).toBe(0);
  });

  it('encrypt without a code prints a new one that decrypts', () => {
    writeFileSync(join(dir, 'a.txt'), 'hello');
    const r = run(example('file-to-file.mjs'), ['encrypt', 'a.txt', 'a.e2ee']);
    const code = /new backup key \(keep it safe\): (.+)$/m.exec(r.out)?.[1];
    expect(code).toMatch(/^([0-9a-f]{4} ){15}[0-9a-f]{4}$/);
    expect(run(example('file-to-file.mjs'), ['decrypt', 'a.e2ee', 'a.out', code!]).code).toBe(0);
    expect(readFileSync(join(dir, 'a.out'), 'utf8')).toBe('hello');
    expect(cliDecrypt(join(dir, 'a.e2ee'), code!).data?.toString()).toBe('hello');
  });

  it('a wrong code fails with a code, and leaves no output file behind', () => {
    const wrong = CODE.replace('0123', '0124');
    const r = run(example('file-to-file.mjs'), ['decrypt', 'in.bin.e2ee', 'wrong.bin', wrong]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('error WRONG_KEY');
    expect(readdirSync(dir).filter((f) => f.startsWith('wrong'))).toEqual([]);
  });

  it('a damaged file fails mid-stream, and leaves no output file behind', () => {
    const ct = readFileSync(join(dir, 'in.bin.e2ee'));
    ct[ct.length - 50]! ^= 1;
    writeFileSync(join(dir, 'damaged.e2ee'), ct);
    const r = run(example('file-to-file.mjs'), ['decrypt', 'damaged.e2ee', 'damaged.bin', CODE]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('error CHUNK_AUTH');
    expect(readdirSync(dir).filter((f) => f.startsWith('damaged.bin'))).toEqual([]);
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
  it('pipeline, web streams and bytes all check out', () => {
    const r = run(example('streams.mjs'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^backup key: ([0-9a-f]{4} ){15}[0-9a-f]{4}$/m);
    expect(r.out).toMatch(/^1\. pipeline: 5500000 bytes → \d+ encrypted \(compressed and padded\)$/m);
    expect(r.out).toContain('2. web streams: generation 1, 50000 lines, decrypted SHA-256 matches');
    expect(r.out).toContain('3. bytes: 5500000 bytes ok');
  });

  it('the backup it leaves in a folder opens with the command line', () => {
    const r = run(example('streams.mjs'), ['streams-out'], { E2EE_BACKUP_CODE: CODE });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const opened = cliDecrypt(join(dir, 'streams-out', 'backup.e2ee'), CODE);
    expect(opened.code).toBe(0);
    const lines = opened.data!.toString().split('\n');
    expect(lines.length).toBe(50_001);
    expect(lines[446]).toBe(`00000446 message from alice: hello bob ${'x'.repeat(70)}`);
  });
});

describe('examples/node/lifecycle.mjs', () => {
  it('demo mode: three backups, each restored', () => {
    const r = run(example('lifecycle.mjs'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    for (const g of [0, 1, 2]) expect(r.out).toMatch(new RegExp(`^created \\S+ \\(generation ${g}\\)`, 'm'));
    expect(r.out.match(/^restored .*: matches$/gm)?.length).toBe(3);
    expect(r.out).not.toContain('DIFFERS');
  });

  it('run twice on a folder: one backup is left, of generation 1, and the command line opens it', () => {
    const store = join(dir, 'store');
    for (let i = 0; i < 2; i++) {
      const r = run(example('lifecycle.mjs'), [store], { E2EE_BACKUP_CODE: CODE });
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
    }
    const files = readdirSync(store);
    expect(files).toHaveLength(1);
    expect(JSON.parse(readFileSync(`${store}.state.json`, 'utf8'))).toMatchObject({ seen: 1, used: 1 });
    const opened = cliDecrypt(join(store, files[0]!), CODE);
    expect(opened.code).toBe(0);
    const lines = opened.data!.toString().trimEnd().split('\n');
    expect(lines).toHaveLength(20_000); // the second run's export: 10 000 messages per run
    expect(lines[19_999]).toBe('19999: message from alice: hello bob');
  });
});
