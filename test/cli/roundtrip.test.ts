import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, run, sampleData, tempDir, tempLeftovers } from './helpers.js';

let dir: string;
let cleanup: () => void;
let keyFile: string;
let plainFile: string;
let plain: Buffer;
const FAST = '--insecure-fast-kdf';
const PW = { E2EE_BACKUP_PASSWORD: 'correct horse battery staple' };

beforeAll(async () => {
  await buildCli();
  ({ dir, cleanup } = tempDir());
  keyFile = join(dir, 'backup.key');
  expect(run(['keygen', '--out', keyFile, '-q']).status).toBe(0);
  plain = sampleData(3_000_000);
  plainFile = join(dir, 'chats.jsonl');
  writeFileSync(plainFile, plain);
}, 180_000);
afterAll(() => cleanup?.());

const p = (name: string) => join(dir, name);

describe('encrypt and decrypt files', () => {
  it('exits as soon as it is done, on success and on failure', () => {
    // A process that does not exit is killed by run()'s timeout, and its status is then null.
    const statuses = [
      run(['encrypt', plainFile, '-o', p('exit.e2ee'), '-k', keyFile]),
      run(['decrypt', p('exit.e2ee'), '-o', p('exit.out'), '-k', keyFile]),
      run(['decrypt', p('exit.e2ee'), '-o', p('exit2.out')], { env: { E2EE_BACKUP_PASSWORD: 'no slot' } }),
    ].map((r) => r.status);
    expect(statuses).toEqual([0, 0, 2]);
  });

  it('round-trips with the key file', () => {
    const enc = run(['encrypt', plainFile, '-o', p('a.e2ee'), '-k', keyFile]);
    expect(enc.status).toBe(0);
    expect(enc.stdout.length).toBe(0);
    expect(enc.stderr).toBe(''); // stderr is not a terminal: no progress, no summary
    expect(statSync(p('a.e2ee')).mode & 0o777).toBe(0o600);
    const dec = run(['decrypt', p('a.e2ee'), '-o', p('a.out'), '-k', keyFile]);
    expect(dec.status).toBe(0);
    expect(dec.stderr).toBe('');
    expect(readFileSync(p('a.out')).equals(plain)).toBe(true);
    expect(tempLeftovers(dir)).toEqual([]);
  });

  it('round-trips with the password from E2EE_BACKUP_PASSWORD, which adds a password slot', () => {
    const enc = run(['encrypt', plainFile, '-o', p('b.e2ee'), '-k', keyFile, FAST], { env: PW });
    expect(enc.status).toBe(0);
    expect(enc.stderr).toMatch(/insecure-fast-kdf.*tests only/);
    const slots = JSON.parse(run(['inspect', p('b.e2ee'), '--json']).stdout.toString()).slots;
    expect(slots.map((s: { type: string }) => s.type)).toEqual(['backup-key', 'password']);
    // Either credential opens it on its own.
    const byPw = run(['decrypt', p('b.e2ee'), '-o', p('b1.out')], { env: PW });
    expect(byPw.status).toBe(0);
    expect(readFileSync(p('b1.out')).equals(plain)).toBe(true);
    const byKey = run(['decrypt', p('b.e2ee'), '-o', p('b2.out'), '-k', keyFile]);
    expect(byKey.status).toBe(0);
    expect(readFileSync(p('b2.out')).equals(plain)).toBe(true);
  });

  it('round-trips with --password-file (one trailing newline is not part of the password)', () => {
    writeFileSync(p('pw.txt'), 'hunter2 hunter2\n', { mode: 0o600 });
    expect(run(['encrypt', plainFile, '-o', p('c.e2ee'), '--password-file', p('pw.txt'), FAST]).status).toBe(
      0,
    );
    expect(
      run(['decrypt', p('c.e2ee'), '-o', p('c.out')], { env: { E2EE_BACKUP_PASSWORD: 'hunter2 hunter2' } })
        .status,
    ).toBe(0);
    expect(readFileSync(p('c.out')).equals(plain)).toBe(true);
    const slots = JSON.parse(run(['inspect', p('c.e2ee'), '--json']).stdout.toString()).slots;
    expect(slots).toEqual([{ type: 'password', kdf: { m: 1024, t: 1, p: 1 } }]);
  });

  it('--password-file: the first line only, up to the first LF, one CR before it dropped', () => {
    const opens = (backup: string, password: string) =>
      run(['decrypt', p(backup), '-o', p(`${backup}.out`)], { env: { E2EE_BACKUP_PASSWORD: password } })
        .status === 0;
    const cases: [string, string, string][] = [
      ['two-lines', 'tractor violin harbour 82\nsecond line\n', 'tractor violin harbour 82'],
      ['crlf', 'tractor violin harbour 82\r\nsecond line\r\n', 'tractor violin harbour 82'],
      ['no-newline', 'tractor violin harbour 82', 'tractor violin harbour 82'],
      // Only the CR right before the LF goes: one inside the line, or two before it, stay.
      ['inner-cr', 'tractor\rviolin harbour 82\r\r\n', 'tractor\rviolin harbour 82\r'],
    ];
    for (const [name, content, password] of cases) {
      writeFileSync(p(`${name}.pw`), content, { mode: 0o600 });
      const enc = run([
        'encrypt',
        plainFile,
        '-o',
        p(`${name}.e2ee`),
        '--password-file',
        p(`${name}.pw`),
        FAST,
      ]);
      expect(enc.status, enc.stderr).toBe(0);
      expect(opens(`${name}.e2ee`, password), name).toBe(true);
      expect(opens(`${name}.e2ee`, content), name).toBe(content === password);
    }
    // The same rule when decrypting.
    const dec = run(['decrypt', p('crlf.e2ee'), '-o', p('crlf2.out'), '--password-file', p('two-lines.pw')]);
    expect(dec.status, dec.stderr).toBe(0);
    // An empty first line is refused even when a second line follows; bytes that are not UTF-8
    // are refused rather than read as U+FFFD.
    writeFileSync(p('blank-first.pw'), '\ntractor violin harbour 82\n');
    const blank = run([
      'encrypt',
      plainFile,
      '-o',
      p('x.e2ee'),
      '--password-file',
      p('blank-first.pw'),
      FAST,
    ]);
    expect(blank.status).toBe(1);
    expect(blank.stderr).toMatch(/first line of the password file .* is empty/);
    writeFileSync(p('latin1.pw'), Buffer.from('caf\xe9 violin harbour 82\n', 'latin1'));
    const latin1 = run(['encrypt', plainFile, '-o', p('x.e2ee'), '--password-file', p('latin1.pw'), FAST]);
    expect(latin1.status).toBe(1);
    expect(latin1.stderr).toMatch(/latin1\.pw is not UTF-8 text/);
    // --help says so.
    expect(run(['encrypt', '--help']).stdout.toString()).toMatch(/its first line, up to the\s+first LF/);
  });

  it('encrypt names the slots it writes when the password comes from the environment, even with -q', () => {
    const enc = (args: string[], env: Record<string, string> = {}) =>
      run(['encrypt', plainFile, '-o', p('slots.e2ee'), ...args], { env });
    const both = enc(['-k', keyFile, FAST], PW);
    expect(both.status, both.stderr).toBe(0);
    expect(both.stderr).toContain(
      `e2ee-backup: the backup gets a backup-key slot (the code in ${keyFile}) and a password slot (the password from the E2EE_BACKUP_PASSWORD environment variable); either opens it.`,
    );
    // The variable comes from the environment, which the command line does not show: said even with -q.
    const quiet = enc(['-k', keyFile, FAST, '-q'], PW);
    expect(quiet.status, quiet.stderr).toBe(0);
    expect(quiet.stderr).toMatch(
      /a password slot \(the password from the E2EE_BACKUP_PASSWORD environment variable\)/,
    );
    // Credentials the command line shows are not repeated to a script (stderr not a terminal);
    // test/cli/pty.test.ts shows the line on a terminal.
    writeFileSync(p('slots.pw'), 'tractor violin harbour 82\n', { mode: 0o600 });
    expect(enc(['--password-file', p('slots.pw'), FAST]).stderr).not.toMatch(/the backup gets/);
    expect(enc(['-k', keyFile]).stderr).toBe('');
  });

  it('encrypt refuses a password setup would refuse, unless --allow-weak-password', () => {
    for (const weak of ['hunter2', 'abc', 'password123']) {
      const r = run(['encrypt', plainFile, '-o', p('weak.e2ee'), '-k', keyFile, FAST], {
        env: { E2EE_BACKUP_PASSWORD: weak },
      });
      expect(r.status, weak).toBe(1);
      expect(r.stderr).toMatch(
        /the password \(from the E2EE_BACKUP_PASSWORD environment variable\) is too weak for a password slot: .*--allow-weak-password/,
      );
      expect(existsSync(p('weak.e2ee'))).toBe(false);
      expect(tempLeftovers(dir)).toEqual([]);
    }
    const allowed = run(['encrypt', plainFile, '-o', p('weak.e2ee'), FAST, '--allow-weak-password'], {
      env: { E2EE_BACKUP_PASSWORD: 'hunter2' },
    });
    expect(allowed.status, allowed.stderr).toBe(0);
    expect(
      run(['decrypt', p('weak.e2ee'), '-o', p('weak.out')], { env: { E2EE_BACKUP_PASSWORD: 'hunter2' } })
        .status,
    ).toBe(0);
    const noPassword = run(['encrypt', plainFile, '-o', p('x.e2ee'), '-k', keyFile, '--allow-weak-password']);
    expect(noPassword.status).toBe(1);
    expect(noPassword.stderr).toMatch(/--allow-weak-password only applies to a password slot/);
  });

  it('uses real Argon2id parameters without --insecure-fast-kdf, and honours --kdf-* flags', () => {
    expect(
      run(
        [
          'encrypt',
          plainFile,
          '-o',
          p('d.e2ee'),
          '--kdf-memory',
          '19MiB',
          '--kdf-iterations',
          '2',
          '--kdf-parallelism',
          '1',
        ],
        {
          env: PW,
        },
      ).status,
    ).toBe(0);
    const [slot] = JSON.parse(run(['inspect', p('d.e2ee'), '--json']).stdout.toString()).slots;
    expect(slot.kdf).toEqual({ m: 19456, t: 2, p: 1 });
    expect(run(['decrypt', p('d.e2ee'), '-o', p('d.out')], { env: PW }).status).toBe(0);
  });

  it('stores --meta fields and --generation in the encrypted metadata', () => {
    expect(
      run([
        'encrypt',
        plainFile,
        '-o',
        p('e.e2ee'),
        '-k',
        keyFile,
        '--meta',
        'device=pixel 8',
        '--meta',
        'app=chat',
        '--generation',
        '7',
      ]).status,
    ).toBe(0);
    const v = JSON.parse(run(['verify', p('e.e2ee'), '-k', keyFile, '--json']).stdout.toString());
    expect(v.metadata.app).toEqual({ device: 'pixel 8', app: 'chat' });
    expect(v.metadata.generation).toBe(7);
  });

  it('--compression none --no-padding gives a backup barely larger than its input', () => {
    expect(
      run(['encrypt', plainFile, '-o', p('f.e2ee'), '-k', keyFile, '--compression', 'none', '--no-padding'])
        .status,
    ).toBe(0);
    const info = JSON.parse(run(['inspect', p('f.e2ee'), '--json']).stdout.toString());
    expect(info.compressed).toBe(false);
    expect(info.padded).toBe(false);
    const overhead = statSync(p('f.e2ee')).size - plain.length;
    expect(overhead).toBeGreaterThan(0);
    expect(overhead).toBeLessThan(plain.length * 0.002 + 1000);
    expect(run(['decrypt', p('f.e2ee'), '-o', p('f.out'), '-k', keyFile]).status).toBe(0);
    expect(readFileSync(p('f.out')).equals(plain)).toBe(true);
  });

  it('--level 1 and --level 9 both round-trip', () => {
    for (const level of ['1', '9']) {
      expect(
        run(['encrypt', plainFile, '-o', p(`l${level}.e2ee`), '-k', keyFile, '--level', level]).status,
      ).toBe(0);
      expect(run(['decrypt', p(`l${level}.e2ee`), '-o', p(`l${level}.out`), '-k', keyFile]).status).toBe(0);
      expect(readFileSync(p(`l${level}.out`)).equals(plain)).toBe(true);
    }
  });

  it('replaces an existing output only when the new one is complete', () => {
    writeFileSync(p('g.e2ee'), 'previous backup');
    expect(run(['encrypt', plainFile, '-o', p('g.e2ee'), '-k', keyFile]).status).toBe(0);
    expect(run(['decrypt', p('g.e2ee'), '-o', p('g.out'), '-k', keyFile]).status).toBe(0);
    expect(readFileSync(p('g.out')).equals(plain)).toBe(true);
  });

  it('encrypts and decrypts an empty file', () => {
    writeFileSync(p('empty'), '');
    expect(run(['encrypt', p('empty'), '-o', p('empty.e2ee'), '-k', keyFile]).status).toBe(0);
    expect(run(['decrypt', p('empty.e2ee'), '-o', p('empty.out'), '-k', keyFile]).status).toBe(0);
    expect(readFileSync(p('empty.out')).length).toBe(0);
  });
});

describe('standard input and output', () => {
  it('encrypts stdin to stdout and decrypts stdin to stdout', () => {
    const enc = run(['encrypt', '-k', keyFile], { input: plain });
    expect(enc.status).toBe(0);
    expect(enc.stdout.subarray(0, 8).toString('latin1')).toBe('\x89E2EEBK\n');
    const dec = run(['decrypt', '-k', keyFile], { input: enc.stdout });
    expect(dec.status).toBe(0);
    expect(dec.stdout.equals(plain)).toBe(true);
    // Decrypting to a pipe releases data before the end authenticates: the user is told.
    expect(dec.stderr).toMatch(/standard output .* before the end of the backup is checked/);
  });

  it("accepts '-' for stdin and stdout", () => {
    const enc = run(['encrypt', '-', '-o', '-', '-k', keyFile], { input: plain });
    expect(enc.status).toBe(0);
    const dec = run(['decrypt', '-', '-o', '-', '-k', keyFile, '--quiet'], { input: enc.stdout });
    expect(dec.status).toBe(0);
    expect(dec.stderr).toBe('');
    expect(dec.stdout.equals(plain)).toBe(true);
  });

  it('opens a password-only backup from stdin (the header is read before asking)', () => {
    const enc = run(['encrypt', FAST, '-q'], { input: plain, env: PW });
    expect(enc.status).toBe(0);
    const dec = run(['decrypt', '-q'], { input: enc.stdout, env: PW });
    expect(dec.status).toBe(0);
    expect(dec.stdout.equals(plain)).toBe(true);
  });

  it('inspect and verify read stdin with -', () => {
    const enc = run(['encrypt', '-k', keyFile], { input: plain });
    expect(run(['inspect', '-'], { input: enc.stdout }).stdout.toString()).toMatch(/key slot 1: +backup key/);
    const v = run(['verify', '-', '-k', keyFile], { input: enc.stdout });
    expect(v.status).toBe(0);
    expect(v.stdout.toString()).toMatch(/standard input: OK/);
  });
});

describe('inspect', () => {
  it('describes the header in words, labelled unauthenticated', () => {
    run(['encrypt', plainFile, '-o', p('i.e2ee'), '-k', keyFile, FAST], { env: PW });
    const r = run(['inspect', p('i.e2ee')]);
    expect(r.status).toBe(0);
    const text = r.stdout.toString();
    expect(text).toMatch(/format version 1/);
    expect(text).toMatch(/UNAUTHENTICATED/);
    expect(text).toMatch(/key slot 1: +backup key/);
    expect(text).toMatch(/key slot 2: +password \(Argon2id, memory 1 MiB, 1 pass, 1 lane\)/);
    expect(text).toMatch(/compression: +raw deflate/);
    expect(text).toMatch(/padding: +Padmé/);
    expect(text).toMatch(/payload: +[\d,]+ bytes in [\d,]+ chunks/);
  });

  it('--json has the same facts', () => {
    const j = JSON.parse(run(['inspect', p('i.e2ee'), '--json']).stdout.toString());
    expect(j).toMatchObject({
      unauthenticated: true,
      version: 1,
      compressed: true,
      padded: true,
      lengthPlausible: true,
    });
    expect(j.fileBytes).toBe(statSync(p('i.e2ee')).size);
    expect(j.payloadBytes).toBe(j.fileBytes - j.headerSize);
  });

  it('needs no credential', () => {
    expect(run(['inspect', p('i.e2ee')], { env: { E2EE_BACKUP_PASSWORD: undefined } }).status).toBe(0);
  });
});

describe('verify', () => {
  it('reports metadata, sizes, speed and that every chunk authenticates', () => {
    run(['encrypt', plainFile, '-o', p('v.e2ee'), '-k', keyFile, '--meta', 'device=test']);
    const r = run(['verify', p('v.e2ee'), '-k', keyFile]);
    expect(r.status).toBe(0);
    const t = r.stdout.toString();
    expect(t).toMatch(/OK, the backup is intact and the backup key opens it/);
    expect(t).toMatch(/created: +\d{4}-\d\d-\d\dT/);
    expect(t).toMatch(/app fields: +\{"device":"test"\}/);
    expect(t).toMatch(/plaintext: +3\.00 MB \(3,000,000 bytes\)/);
    expect(t).toMatch(/\d+ MB\/s/);
    expect(t).toMatch(/all [\d,]+ chunks authenticate/);
  });

  it('--json', () => {
    const j = JSON.parse(run(['verify', p('v.e2ee'), '-k', keyFile, '--json']).stdout.toString());
    expect(j).toMatchObject({ ok: true, openedWith: 'backup key', plaintextBytes: plain.length });
    expect(j.encryptedBytes).toBe(statSync(p('v.e2ee')).size);
    const { headerSize } = JSON.parse(run(['inspect', p('v.e2ee'), '--json']).stdout.toString());
    // Cobblestone: 24-byte salt, 32-byte commitment, then 16,400-byte records and a short last one.
    expect(j.chunks).toBe(Math.floor((j.encryptedBytes - headerSize - 56) / 16400) + 1);
  });
});
