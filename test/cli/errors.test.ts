// Every failure path of the CLI: exit status, a one-line `e2ee-backup: <problem>. <fix>.` message,
// and nothing left behind.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { concat } from '../../src/internal/bytes.js';
import { parseBackupKey } from '../../src/key/backup-key.js';
import { craft, END, metaRecord, stored } from '../craft.js';
import {
  buildCli,
  CLI,
  cleanEnv,
  run,
  runClosingStdout,
  sampleData,
  tempDir,
  tempLeftovers,
} from './helpers.js';

let dir: string;
let cleanup: () => void;
let keyFile: string;
let code: string;
let plainFile: string;
let plain: Buffer;
let backup: string; // key + password slots
let backupBytes: Buffer;
let headerSize: number;
const FAST = '--insecure-fast-kdf';
const PW = { E2EE_BACKUP_PASSWORD: 'right password' };
const ONE_LINE = /^e2ee-backup: [^\n]+\. [^\n]+\.\n$/;

beforeAll(async () => {
  await buildCli();
  ({ dir, cleanup } = tempDir());
  keyFile = join(dir, 'backup.key');
  code = run(['keygen', '--out', keyFile, '-q']).stdout.toString().trim();
  plain = sampleData(1_000_000);
  plainFile = join(dir, 'plain.bin');
  writeFileSync(plainFile, plain);
  backup = join(dir, 'backup.e2ee');
  expect(run(['encrypt', plainFile, '-o', backup, '-k', keyFile, FAST, '-q'], { env: PW }).status).toBe(0);
  backupBytes = readFileSync(backup);
  headerSize = JSON.parse(run(['inspect', backup, '--json']).stdout.toString()).headerSize;
}, 180_000);
afterAll(() => cleanup?.());

const p = (name: string) => join(dir, name);
const digits = () => code.replace(/ /g, '');
const groups = (d: string) => d.match(/.{1,4}/g)!.join(' ');
function keyFileWith(name: string, text: string): string {
  writeFileSync(p(name), text, { mode: 0o600 });
  return p(name);
}

describe('usage errors exit 1', () => {
  it.each([
    [['encrypt', '--bogus'], /unknown option '--bogus'.*'e2ee-backup encrypt --help'/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['encrypt', 'x', 'y'], /too many arguments/],
    [['inspect'], /missing required argument 'file'/],
    [['encrypt', '--level', '12', '-k', 'k'], /--level <n>.*whole number from 1 to 9/],
    [['encrypt', '--compression', 'zstd', '-k', 'k'], /--compression <mode>.*zstd/],
    [['encrypt', '--meta', 'novalue', '-k', 'k'], /key=value/],
    [['encrypt', '--kdf-memory', 'lots', '-k', 'k'], /size such as/],
    [['encrypt', '--password', '--password-file', 'f'], /--password-file.*cannot be used with.*--password/],
  ])('%j', (args, message) => {
    const r = run(args);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/^e2ee-backup: /);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('no command prints the help and exits 1; --help and --version exit 0', () => {
    const r = run([]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Usage: e2ee-backup/);
    const h = run(['--help']);
    expect(h.status).toBe(0);
    expect(h.stdout.toString()).toMatch(/Exit status:[\s\S]*130/);
    expect(run(['--version']).stdout.toString()).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('encrypt or decrypt without any credential', () => {
    for (const cmd of ['encrypt', 'decrypt']) {
      const r = run([cmd, plainFile, '-o', p('x')]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/no credential.*--key-file FILE.*E2EE_BACKUP_PASSWORD/);
      expect(r.stderr).toMatch(ONE_LINE);
    }
    expect(existsSync(p('x'))).toBe(false);
  });

  it('a value after --password: passwords never come from arguments, and how to give one', () => {
    const want =
      /^e2ee-backup: --password takes no value, and passwords never come from arguments: .*process list.*shell history\. Type the password when asked, or use --password-file FILE or E2EE_BACKUP_PASSWORD\.\n$/;
    for (const args of [
      ['encrypt', plainFile, '-o', p('x'), '--password', 'hunter2'],
      ['encrypt', plainFile, '-o', p('x'), '--password=hunter2'],
      ['decrypt', backup, '-o', p('x'), '-p', 'hunter2'],
      ['verify', backup, '--password', 'hunter2'],
      ['backup', 'restore', '--store', p('s'), '-o', p('x'), '--password', 'hunter2'],
      [
        'vault',
        'register',
        '--url',
        'http://127.0.0.1:9',
        '--account',
        'a',
        '-k',
        keyFile,
        '--password',
        'x',
      ],
    ]) {
      const r = run(args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(want);
    }
    // With no input file named, the value is taken for one: the message says why.
    const r = run(['decrypt', '--password', 'hunter2', '-o', p('x')]);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(
      /cannot read hunter2: .* hunter2 followed --password, which takes no value, and passwords never come from arguments/,
    );
    expect(existsSync(p('x'))).toBe(false);
  });

  it('--password without a terminal to ask on names the alternatives', () => {
    const r = run(['encrypt', plainFile, '-o', p('x'), '--password']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no terminal to ask on.*--password-file FILE or the E2EE_BACKUP_PASSWORD/);
    expect(existsSync(p('x'))).toBe(false);
    expect(tempLeftovers(dir)).toEqual([]);
  });

  it('weak Argon2id parameters need --allow-weak-kdf; --kdf-* need a password', () => {
    const weak = run(['encrypt', plainFile, '-o', p('x'), '--kdf-memory', '1024'], { env: PW });
    expect(weak.status).toBe(1);
    expect(weak.stderr).toMatch(/--allow-weak-kdf/);
    const ok = run(
      [
        'encrypt',
        plainFile,
        '-o',
        p('w.e2ee'),
        '--kdf-memory',
        '1024',
        '--kdf-iterations',
        '1',
        '--allow-weak-kdf',
      ],
      {
        env: PW,
      },
    );
    expect(ok.status).toBe(0);
    const noPw = run(['encrypt', plainFile, '-o', p('x'), '-k', keyFile, '--kdf-memory', '64MiB']);
    expect(noPw.status).toBe(1);
    expect(noPw.stderr).toMatch(/only apply to a password slot/);
  });

  it('--level with --compression none, and an empty password file', () => {
    expect(run(['encrypt', plainFile, '-k', keyFile, '--compression', 'none', '--level', '3']).status).toBe(
      1,
    );
    writeFileSync(p('empty-pw'), '\n');
    const r = run(['encrypt', plainFile, '-o', p('x'), '--password-file', p('empty-pw')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/password file .* is empty/);
  });
});

describe('wrong credentials exit 2', () => {
  it('a key that is not this backup’s', () => {
    const other = join(dir, 'other.key');
    run(['keygen', '--out', other, '-q']);
    const r = run(['decrypt', backup, '-o', p('out'), '-k', other]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no single-digit correction of this code opens the backup/);
    expect(r.stderr).toMatch(ONE_LINE);
    expect(existsSync(p('out'))).toBe(false);
  });

  it('a wrong password', () => {
    const r = run(['decrypt', backup, '-o', p('out')], { env: { E2EE_BACKUP_PASSWORD: 'wrong password' } });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      'e2ee-backup: the password does not open this backup. Check the password (it is case-sensitive), or open the backup with its 64-digit code (--key-file).\n',
    );
    expect(existsSync(p('out'))).toBe(false);
  });

  it('a password for a backup that has no password slot', () => {
    run(['encrypt', plainFile, '-o', p('keyonly.e2ee'), '-k', keyFile]);
    const r = run(['decrypt', p('keyonly.e2ee'), '-o', p('out')], { env: PW });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no password slot.*inspect FILE/);
  });

  it('a wrong password on a password-only backup does not suggest the 64-digit code', () => {
    run(['encrypt', plainFile, '-o', p('pwonly.e2ee'), FAST, '-q'], { env: PW });
    const r = run(['decrypt', p('pwonly.e2ee'), '-o', p('out')], { env: { E2EE_BACKUP_PASSWORD: 'wrong' } });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      'e2ee-backup: the password does not open this backup. Check the password (it is case-sensitive): this backup has no backup-key slot, so only its password opens it.\n',
    );
    expect(r.stderr).not.toMatch(/--key-file|64-digit/);
  });

  it('a key file that is not a code names the character', () => {
    const bad = keyFileWith('bad.key', groups(`${digits().slice(0, 16)}o${digits().slice(17)}`));
    for (const cmd of ['encrypt', 'decrypt']) {
      const r = run([cmd, cmd === 'encrypt' ? plainFile : backup, '-o', p('out'), '-k', bad]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/bad\.key: backup key code: character 21 'o' is not a hex digit/);
    }
    const short = keyFileWith('short.key', digits().slice(0, 60));
    const r = run(['encrypt', plainFile, '-o', p('out'), '-k', short]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/60 digits: 4 are missing/);
  });

  it('a wrong key and a password that does not open it either: WRONG_KEY, as SPEC.md §3.5 says', () => {
    const other = join(dir, 'other3.key');
    run(['keygen', '--out', other, '-q']);
    // Both slots, both credentials wrong: the backup-key failure is reported (it was the
    // password's), with both named.
    const both = run(['decrypt', backup, '-o', p('kw.out'), '-k', other], {
      env: { E2EE_BACKUP_PASSWORD: 'wrong password' },
    });
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/trying the password/);
    expect(both.stderr).toMatch(
      /^e2ee-backup: neither the code in .*other3\.key \(even with one digit fixed\) nor the password opens this backup\. /m,
    );
    // The password slot's KDF_PARAMS (over --max-kdf-memory) gives way to WRONG_KEY too.
    const params = run(['decrypt', backup, '-o', p('kw.out'), '-k', other, '--max-kdf-memory', '512'], {
      env: PW,
    });
    expect(params.status).toBe(2);
    expect(params.stderr).toMatch(/neither the code in .* nor the password opens this backup/);
    // A backup-key-only backup, a wrong key and a password: WRONG_KEY, not NO_MATCHING_SLOT.
    run(['encrypt', plainFile, '-o', p('keyonly2.e2ee'), '-k', keyFile, '-q']);
    const keyOnly = run(['decrypt', p('keyonly2.e2ee'), '-o', p('kw.out'), '-k', other], { env: PW });
    expect(keyOnly.status).toBe(2);
    expect(keyOnly.stderr).toMatch(/^e2ee-backup: no single-digit correction of this code opens the backup/);
    expect(keyOnly.stderr).not.toMatch(/no password slot|trying the password/);
    expect(existsSync(p('kw.out'))).toBe(false);
  });

  it('a wrong key, then the right password: the password opens it', () => {
    const other = join(dir, 'other2.key');
    run(['keygen', '--out', other, '-q']);
    const r = run(['decrypt', backup, '-o', p('kp.out'), '-k', other], { env: PW });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/does not open this backup, even with one digit fixed; trying the password/);
    expect(readFileSync(p('kp.out')).equals(plain)).toBe(true);
  });

  it('warns when a key file is readable by others', () => {
    const open = keyFileWith('open.key', code);
    chmodSync(open, 0o644);
    const r = run(['decrypt', backup, '-o', p('o.out'), '-k', open]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/open\.key can be read by other users \(mode 0644\).*chmod 600/);
  });
});

describe('typo recovery', () => {
  const d = () => digits();
  const swapDigit = (c: string) => (c === '0' ? '1' : '0');

  it('fixes a substituted digit and says which', () => {
    const typed = `${d().slice(0, 20)}${swapDigit(d()[20]!)}${d().slice(21)}`;
    const r = run(['decrypt', backup, '-o', p('t1.out'), '-k', keyFileWith('t1.key', groups(typed))]);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('typo (substitution): digit 21 (in group 6) is wrong.');
    expect(r.stderr).toMatch(/opening the backup with the corrected code\. Fix .*t1\.key/);
    // No digit of the key (nor of the code as typed) goes to a stderr that is not a terminal: it
    // may be a log. test/cli/pty.test.ts shows the corrected group on a terminal.
    expect(r.stderr).not.toMatch(/'[0-9a-f]{1,4}'/);
    expect(r.stderr).not.toContain(d().slice(20, 24));
    expect(readFileSync(p('t1.out')).equals(plain)).toBe(true);
  });

  it('fixes swapped, missing and extra digits', () => {
    let i = 8;
    while (d()[i] === d()[i + 1]) i++;
    const swapped = d().slice(0, i) + d()[i + 1] + d()[i] + d().slice(i + 2);
    // Likewise, the missing digit must differ from the one before it.
    let j = 30;
    while (d()[j] === d()[j - 1]) j++;
    const missing = d().slice(0, j) + d().slice(j + 1);
    // The extra digit must differ from both neighbours: beside an equal digit, the insertion is
    // just as well one place earlier, and the earliest is what is reported.
    const added = [...'0123456789abcdef'].find((c) => c !== d()[39] && c !== d()[40])!;
    const extra = `${d().slice(0, 40)}${added}${d().slice(40)}`;
    const cases: [string, string, RegExp][] = [
      ['swap', groups(swapped), /typo \(transposition\): digits \d+ and \d+ \(in group \d+\) are swapped/],
      [
        'missing',
        groups(missing),
        new RegExp(
          `typo \\(missing\\): a digit is missing at position ${j + 1} \\(in group ${Math.floor(j / 4) + 1}\\)`,
        ),
      ],
      ['extra', groups(extra), /typo \(extra\): digit 41 \(in group 11\) is one too many/],
    ];
    for (const [name, text, message] of cases) {
      const r = run(['decrypt', backup, '-o', p(`${name}.out`), '-k', keyFileWith(`${name}.key`, text)]);
      expect(r.status, name).toBe(0);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/'[0-9a-f]{1,4}'/);
      expect(readFileSync(p(`${name}.out`)).equals(plain)).toBe(true);
    }
  });

  it('also works on stdin, and for verify', () => {
    const typed = `${swapDigit(d()[0]!)}${d().slice(1)}`;
    const k = keyFileWith('t2.key', typed.toUpperCase());
    const r = run(['decrypt', '-k', k, '-q'], { input: backupBytes });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/digit 1 \(in group 1\) is wrong/); // reported even with --quiet
    expect(r.stderr).not.toMatch(/'[0-9a-f]{1,4}'/);
    expect(r.stdout.equals(plain)).toBe(true);
    expect(run(['verify', backup, '-k', k]).status).toBe(0);
  });

  it('refuses two typos (exit 2)', () => {
    const typed = `${swapDigit(d()[0]!)}${d().slice(1, 50)}${swapDigit(d()[50]!)}${d().slice(51)}`;
    const r = run(['decrypt', backup, '-o', p('t3.out'), '-k', keyFileWith('t3.key', typed)]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no single-digit correction/);
    expect(existsSync(p('t3.out'))).toBe(false);
  });
});

describe('metadata nested 5,000 deep', () => {
  it('verify and decrypt exit 3 with MALFORMED_PAYLOAD instead of overflowing the stack', async () => {
    const backupKey = parseBackupKey(code);
    const deep = `{"created":"2026-11-26T12:00:00Z","generation":1,"app":{"a":${'['.repeat(5000)}${']'.repeat(5000)}}}`;
    writeFileSync(
      p('deep.e2ee'),
      await craft(
        [{ type: 'backup-key', backupKey }],
        0,
        concat(metaRecord(deep), stored(Uint8Array.of(1)), END),
      ),
    );
    for (const args of [
      ['verify', p('deep.e2ee'), '-k', keyFile],
      ['decrypt', p('deep.e2ee'), '-o', p('deep.out'), '-k', keyFile],
    ]) {
      const r = run(args);
      expect(r.status, r.stderr).toBe(3);
      expect(r.stderr).toMatch(
        /^e2ee-backup: backup payload: metadata nests arrays and objects more than 64 deep\. /,
      );
      expect(r.stderr).not.toMatch(/call stack|bug/);
    }
    expect(existsSync(p('deep.out'))).toBe(false);
  });
});

describe('corrupted input exits 3 and leaves no output', () => {
  function corrupt(name: string, mutate: (b: Buffer) => Buffer): string {
    writeFileSync(p(name), mutate(Buffer.from(backupBytes)));
    return p(name);
  }

  /** Flips bits of the byte at `at(b)`. */
  const flip =
    (at: (b: Buffer) => number, bits = 1) =>
    (b: Buffer) => {
      const i = at(b);
      b[i] = b[i]! ^ bits;
      return b;
    };
  /** The bytes up to the last full chunk boundary, minus `records` more whole chunks. */
  const cutAtBoundary = (records: number) => (b: Buffer) =>
    b.subarray(0, b.length - ((b.length - headerSize - 56) % 16400) - 16400 * records);
  const SLOT2_T = 13 + 83 + 3 + 7; // fixed header, backup-key slot, password slot type+length, m…

  it.each([
    ['a flipped bit in the middle', flip((b) => b.length >> 1), /chunk \d+ failed authentication/],
    ['a flipped bit in the last chunk', flip((b) => b.length - 3), /failed authentication/],
    [
      'a cut at a chunk boundary',
      cutAtBoundary(2),
      /ends after a full chunk: the short final chunk is missing/,
    ],
    ['a cut in the header', (b: Buffer) => b.subarray(0, 100), /ends inside its \d+-byte header/],
    ['appended bytes', (b: Buffer) => Buffer.concat([b, Buffer.from('\n')]), /trailing data/],
    ['a modified slot (Argon2id t)', flip(() => SLOT2_T, 2), /checksum does not match/],
    ['a wrong magic', flip(() => 1), /not an encrypted backup/],
    ['an unknown version', flip(() => 8, 8), /format version 9/],
  ])('%s', (_name, mutate, message) => {
    const file = corrupt('bad.e2ee', mutate as (b: Buffer) => Buffer);
    writeFileSync(p('keep.out'), 'an older restore');
    const r = run(['decrypt', file, '-o', p('keep.out'), '-k', keyFile]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(ONE_LINE);
    // The existing output is untouched and no temporary file is left.
    expect(readFileSync(p('keep.out'), 'utf8')).toBe('an older restore');
    expect(tempLeftovers(dir)).toEqual([]);
    expect(run(['verify', file, '-k', keyFile]).status).toBe(3);
  });

  it('to stdout: the partial output is flagged as unauthenticated', () => {
    // Three 1 MiB blocks stored as they are: the first two are released before the damage is met.
    writeFileSync(p('three.bin'), sampleData(3 * 1024 * 1024));
    run(['encrypt', p('three.bin'), '-o', p('late.e2ee'), '-k', keyFile, '--compression', 'none']);
    const b = readFileSync(p('late.e2ee'));
    b.writeUInt8(b[b.length - 100]! ^ 1, b.length - 100);
    const file = p('late.e2ee');
    writeFileSync(file, b);
    const r = run(['decrypt', file, '-k', keyFile]);
    expect(r.status).toBe(3);
    expect(r.stdout.length).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/already written to standard output are not authenticated: discard them\.\n$/);
  });

  it('verify --json reports the failure on stdout too', () => {
    const file = corrupt(
      'v.e2ee',
      flip((b) => b.length >> 1),
    );
    const r = run(['verify', file, '-k', keyFile, '--json']);
    expect(r.status).toBe(3);
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ ok: false, code: 'CHUNK_AUTH', exitCode: 3 });
  });

  it('Argon2id parameters above --max-kdf-memory (exit 3, before Argon2id runs)', () => {
    const big = p('big-kdf.e2ee');
    run(['encrypt', plainFile, '-o', big], { env: PW });
    const refused = run(['decrypt', big, '-o', p('y'), '--max-kdf-memory', '32MiB'], { env: PW });
    expect(refused.status).toBe(3);
    expect(refused.stderr).toMatch(/Argon2id memory.*--max-kdf-memory/);
  });

  it('output past --max-output (exit 3)', () => {
    const r = run(['decrypt', backup, '-o', p('z'), '-k', keyFile, '--max-output', '1000']);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/maxOutputBytes.*--max-output/);
    expect(existsSync(p('z'))).toBe(false);
  });

  it('inspect of a file that is not a backup', () => {
    const r = run(['inspect', plainFile]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/not an encrypted backup/);
  });

  it('inspect warns about an impossible length', () => {
    writeFileSync(
      p('cut.e2ee'),
      backupBytes.subarray(0, backupBytes.length - 16400 - ((backupBytes.length - 207 - 56) % 16400)),
    );
    expect(run(['inspect', p('cut.e2ee')]).stdout.toString()).toMatch(/WARNING: .*cut short or extended/);
  });
});

describe('I/O errors exit 4', () => {
  it('a missing input file', () => {
    for (const args of [
      ['encrypt', p('nope'), '-o', p('x'), '-k', keyFile],
      ['decrypt', p('nope'), '-o', p('x'), '-k', keyFile],
      ['inspect', p('nope')],
      ['verify', p('nope'), '-k', keyFile],
    ]) {
      const r = run(args);
      expect(r.status, args[0]).toBe(4);
      expect(r.stderr).toMatch(
        /^e2ee-backup: cannot read .*nope: no such file or directory\. Check the path\.\n$/,
      );
    }
  });

  it('a missing key file or password file', () => {
    const r = run(['encrypt', plainFile, '-o', p('nokey.e2ee'), '-k', p('nokey')]);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/cannot read the key file .*nokey: no such file/);
    const q = run(['encrypt', plainFile, '-o', p('nokey.e2ee'), '--password-file', p('nopw')]);
    expect(q.status).toBe(4);
    expect(q.stderr).toMatch(/cannot read the password file/);
    expect(existsSync(p('nokey.e2ee'))).toBe(false);
    expect(tempLeftovers(dir)).toEqual([]);
  });

  it('a folder as input, an output in a missing or read-only folder', () => {
    expect(run(['encrypt', dir, '-o', p('x'), '-k', keyFile]).stderr).toMatch(
      /cannot read .*: illegal operation on a directory/,
    );
    expect(run(['encrypt', plainFile, '-o', p('no/such/x'), '-k', keyFile]).status).toBe(4);
    mkdirSync(p('ro'));
    chmodSync(p('ro'), 0o500);
    const r = run(['decrypt', backup, '-o', p('ro/x'), '-k', keyFile]);
    // root ignores permissions; everyone else gets EACCES.
    if (process.getuid?.() !== 0) {
      expect(r.status).toBe(4);
      expect(r.stderr).toMatch(/cannot write .*permission denied\. Check the permissions/);
    }
  });

  it('a reader that closes the pipe early', async () => {
    const r = await runClosingStdout(['decrypt', backup, '-k', keyFile, '-q']);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/cannot write to standard output: .*broken pipe|EPIPE/i);
  });
});

describe('interrupts exit 130 and leave nothing behind', () => {
  it('SIGINT while encrypting a never-ending stdin to a file', async () => {
    const out = p('interrupted.e2ee');
    const child = spawn('node', [CLI, 'encrypt', '-o', out, '-k', keyFile], {
      env: cleanEnv(),
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const feed = setInterval(() => child.stdin.write(randomBytes(65536)), 5);
    child.stdin.on('error', () => {});
    // Wait until the temporary file exists, then interrupt.
    for (let i = 0; i < 200 && tempLeftovers(dir).length === 0; i++)
      await new Promise((r) => setTimeout(r, 25));
    expect(tempLeftovers(dir)).toHaveLength(1);
    child.kill('SIGINT');
    const status = await new Promise((resolve) => child.on('close', resolve));
    clearInterval(feed);
    expect(status).toBe(130);
    expect(stderr).toMatch(/e2ee-backup: .*(aborted|interrupted)\. Nothing was written\.\n$/);
    expect(existsSync(out)).toBe(false);
    expect(tempLeftovers(dir)).toEqual([]);
  });
});

describe('messages', () => {
  it('E2EE_BACKUP_DEBUG=1 adds the stack trace; without it there is none', () => {
    const plainRun = run(['decrypt', p('nope'), '-k', keyFile, '-o', p('x')]);
    expect(plainRun.stderr).not.toMatch(/\n\s+at /);
    const debug = run(['decrypt', p('nope'), '-k', keyFile, '-o', p('x')], {
      env: { E2EE_BACKUP_DEBUG: '1' },
    });
    expect(debug.status).toBe(4);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });
});
