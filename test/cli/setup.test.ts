// `e2ee-backup setup`: as a script (the code on stdout, typed back on stdin), with a vault on
// loopback for the password path, and once on a real pseudo-terminal each way.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBackupKey } from '../../src/key/backup-key.js';
import { SETUP_WARNINGS } from '../../src/lifecycle/setup-flow.js';
import {
  buildCli,
  CLI,
  cleanEnv,
  plain,
  run,
  runOnPty,
  serveVault,
  tempDir,
  tempLeftovers,
} from './helpers.js';

const FAST = '--insecure-fast-kdf';
const PW = 'correct horse battery staple';
const CODE = /^[0-9a-f]{4}( [0-9a-f]{4}){15}$/;
const hasScript = spawnSync('script', ['--version']).status === 0;
let dir: string;
let cleanup: () => void;
let server: ChildProcess | undefined;
let url: string;
let fingerprint: string;
const p = (name: string) => join(dir, name);
const cli = (args: string) => `node ${CLI} ${args}`;

interface ScriptRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** The codes printed on stdout, in order. */
  codes: string[];
}

/**
 * Runs `setup ARGS` as a script would: each time a code appears on stdout, `answer` gives the
 * lines to write back on stdin (`{ last }`: then close stdin).
 */
function runScript(
  args: string[],
  answer: (code: string, shown: number, child: ChildProcess) => string | { last: string },
  env: Record<string, string> = {},
): Promise<ScriptRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [CLI, 'setup', ...args], { cwd: dir, env: cleanEnv(env) });
    let stdout = '';
    let stderr = '';
    const codes: string[] = [];
    child.stdin!.on('error', () => {}); // the CLI may exit before reading everything
    child.stdout!.on('data', (d) => {
      stdout += d;
      for (const line of stdout.split('\n').slice(codes.length, -1)) {
        codes.push(line);
        const text = answer(line, codes.length, child);
        if (typeof text === 'string') child.stdin!.write(text);
        else child.stdin!.end(text.last);
      }
    });
    child.stderr!.on('data', (d) => {
      stderr += d;
    });
    // Never hang the suite (or leave its temporary file to the next test): SIGTERM cleans up.
    const guard = setTimeout(() => child.kill('SIGTERM'), 30_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(guard);
      resolve({ status, stdout, stderr, codes });
    });
  });
}

/** The code with group `n` (1-based) changed. */
function withGroupChanged(code: string, n: number): string {
  const groups = code.split(' ');
  groups[n - 1] = groups[n - 1] === 'ffff' ? '0000' : 'ffff';
  return groups.join(' ');
}

const sameKey = (file: string, code: string) =>
  expect(Buffer.from(parseBackupKey(readFileSync(file, 'utf8')))).toEqual(Buffer.from(parseBackupKey(code)));

beforeAll(async () => {
  await buildCli();
  ({ dir, cleanup } = tempDir());
  ({ child: server, url, fingerprint } = await serveVault(dir));
}, 180_000);
afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server!.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  cleanup?.();
});

describe('setup --method code, without a terminal', () => {
  it('prints the code on stdout and saves it (mode 0600) once a script writes it back on stdin', async () => {
    const r = await runScript(['--method', 'code', '--out', p('code.key')], (code) => `${code}\n`);
    expect(r.status, r.stderr).toBe(0);
    expect(r.codes).toHaveLength(1);
    expect(r.codes[0]).toMatch(CODE);
    expect(r.stdout).toBe(`${r.codes[0]}\n`); // the code alone: a script reads one line
    expect(readFileSync(p('code.key'), 'utf8')).toBe(`${r.codes[0]}\n`);
    expect(statSync(p('code.key')).mode & 0o777).toBe(0o600);
    for (const w of SETUP_WARNINGS.code) expect(r.stderr).toContain(w);
    expect(r.stderr).toMatch(/Confirmed: the code matches/);
    expect(r.stderr).toMatch(/Setup complete: encrypted backup is enabled/);
    expect(r.stderr).toContain(`e2ee-backup backup create FILE --store DIR --key-file ${p('code.key')}`);
    expect(tempLeftovers(dir)).toEqual([]);
    // The key file is one the backup commands take.
    writeFileSync(p('chats.txt'), 'hello');
    const b = run(['backup', 'create', p('chats.txt'), '--store', p('store'), '--key-file', p('code.key')]);
    expect(b.status, b.stderr).toBe(0);
  });

  it('says why a line is refused, and accepts the right one after (any case, dashes)', async () => {
    const r = await runScript(
      ['--method', 'code', '--out', p('retry.key')],
      (code) => `zzzz\n${withGroupChanged(code, 5)}\n${code.toUpperCase().replace(/ /g, '-')}\n`,
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/e2ee-backup: not confirmed \(1\/3\): character 1 'z' is not a hex digit/);
    expect(r.stderr).toMatch(/e2ee-backup: not confirmed \(2\/3\): that does not match the code shown/);
    expect(r.codes).toHaveLength(1);
    sameKey(p('retry.key'), r.codes[0]!);
  });

  it('shows the same code again after three wrong lines; it then confirms', async () => {
    const r = await runScript(['--method', 'code', '--out', p('again.key')], (code, shown) =>
      shown === 1 ? `${withGroupChanged(code, 1)}\n0000\n${withGroupChanged(code, 16)}\n` : `${code}\n`,
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.codes).toHaveLength(2);
    expect(r.codes[1]).toBe(r.codes[0]);
    expect(r.stderr).toMatch(/did not match 3 times; it is on standard output again/);
    // The warnings come again with the code.
    expect(r.stderr.split(SETUP_WARNINGS.code[0]!)).toHaveLength(3);
    sameKey(p('again.key'), r.codes[0]!);
  });

  it('writes nothing when standard input ends before the code is typed back (exit 2)', async () => {
    const r = await runScript(['--method', 'code', '--out', p('never.key')], (code) => ({
      last: `${code.slice(0, 9)}\n`,
    }));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /^e2ee-backup: standard input ended before the code was typed back, so it does not count as saved\. .*no key file was written\.$/m,
    );
    expect(existsSync(p('never.key'))).toBe(false);
    expect(tempLeftovers(dir)).toEqual([]);
    const none = run(['setup', '--method', 'code', '--out', p('never.key')]); // stdin empty at once
    expect(none.status).toBe(2);
    expect(existsSync(p('never.key'))).toBe(false);
  });

  it('--confirm-groups 3 asks for three groups at random: they alone, or the whole code, confirm', async () => {
    let asked: number[] = [];
    let stderr = '';
    const groupsOnly = await new Promise<ScriptRun>((resolve, reject) => {
      // The groups are named on stderr, after the code: answer once they are.
      const child = spawn(
        'node',
        [CLI, 'setup', '--method', 'code', '--out', p('g3.key'), '--confirm-groups', '3'],
        {
          cwd: dir,
          env: cleanEnv(),
        },
      );
      let stdout = '';
      // stdout (the code) and stderr (which groups) are separate pipes, so either may arrive
      // first: answer once both are in.
      const answer = () => {
        const m = /Type back groups (\d+), (\d+) and (\d+) of the code/.exec(stderr);
        if (!m || asked.length > 0 || !stdout.includes('\n')) return;
        asked = m.slice(1).map(Number);
        const groups = stdout.trim().split(' ');
        child.stdin!.write(`${asked.map((g) => groups[g - 1]).join('')}\n`);
      };
      child.stdout!.on('data', (d) => {
        stdout += d;
        answer();
      });
      child.stderr!.on('data', (d) => {
        stderr += d;
        answer();
      });
      // Never hang the suite (or leave its temporary file to the next test): SIGTERM cleans up.
      const guard = setTimeout(() => child.kill('SIGTERM'), 30_000);
      child.on('close', () => clearTimeout(guard));
      child.on('error', reject);
      child.on('close', (status) => resolve({ status, stdout, stderr, codes: [stdout.trim()] }));
    });
    expect(groupsOnly.status, groupsOnly.stderr).toBe(0);
    expect(asked).toHaveLength(3);
    expect(new Set(asked).size).toBe(3);
    sameKey(p('g3.key'), groupsOnly.codes[0]!);

    const whole = await runScript(
      ['--method', 'code', '--out', p('g3-whole.key'), '--confirm-groups', '3'],
      (code) => `0123\n${code}\n`,
    );
    expect(whole.status, whole.stderr).toBe(0);
    expect(whole.stderr).toMatch(/not confirmed \(1\/3\): type 3 groups of 4: 12 characters/);
  });

  it('refuses to overwrite --out before showing a code (exit 1); --force replaces it, mode 0600', async () => {
    writeFileSync(p('taken.key'), 'precious', { mode: 0o644 });
    const r = run(['setup', '--method', 'code', '--out', p('taken.key')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^e2ee-backup: .*taken\.key already exists; refusing to overwrite.*--force/);
    expect(r.stdout.toString()).toBe('');
    expect(readFileSync(p('taken.key'), 'utf8')).toBe('precious');
    const f = await runScript(
      ['--method', 'code', '--out', p('taken.key'), '--force'],
      (code) => `${code}\n`,
    );
    expect(f.status, f.stderr).toBe(0);
    sameKey(p('taken.key'), f.codes[0]!);
    expect(statSync(p('taken.key')).mode & 0o777).toBe(0o600);
  });

  it('an --out in a missing folder is exit 4, before any code is shown', () => {
    const r = run(['setup', '--method', 'code', '--out', p('no/such/k.key')]);
    expect(r.status).toBe(4);
    expect(r.stdout.toString()).toBe('');
    expect(r.stderr).toMatch(/^e2ee-backup: cannot write .*no such file or directory\. Check the path\.\n$/);
  });

  it('Ctrl-C (SIGINT) while it waits for the code exits 130 and leaves no file', async () => {
    const r = await runScript(['--method', 'code', '--out', p('int.key')], (_code, _n, child) => {
      child.kill('SIGINT');
      return '';
    });
    expect(r.status).toBe(130);
    expect(r.stderr).toMatch(/e2ee-backup: interrupted\. Nothing was written\./);
    expect(existsSync(p('int.key'))).toBe(false);
    expect(tempLeftovers(dir)).toEqual([]);
  });
});

describe('setup usage errors (exit 1)', () => {
  it.each([
    [['--out', 'k.key'], /without a terminal, setup needs --method\. Add --method code/],
    [['--method', 'code'], /the code path needs --out FILE/],
    [['--method', 'password'], /the password path needs a vault.*--url URL --account NAME/],
    [['--method', 'password', '--url', 'http://127.0.0.1:1'], /--url needs --account/],
    [
      ['--method', 'code', '--out', 'k.key', '--url', 'http://x', '--account', 'a'],
      /--url and --account are for --method password/,
    ],
    [['--method', 'sms'], /argument 'sms' is invalid.*Run 'e2ee-backup setup --help'/],
    [['--method', 'code', '--out', 'k.key', '--confirm-groups', '0'], /--confirm-groups.*1 to 16/],
    [['--method', 'code', '--out', 'k.key', '--confirm-groups', '17'], /--confirm-groups.*1 to 16/],
    // Passwords never come from arguments.
    [
      ['--method', 'password', '--password', PW],
      /--password takes no value, and passwords never come from arguments/,
    ],
  ])('%j', (args, message) => {
    const r = run(['setup', ...args], { cwd: dir });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stdout.toString()).toBe('');
  });
});

describe('setup --method password, with a vault on loopback', () => {
  const vaultArgs = (account: string) => ['--method', 'password', '--url', url, '--account', account, FAST];

  it('registers the key behind E2EE_BACKUP_PASSWORD and saves --out; recover gives the same key', () => {
    const r = run(['setup', ...vaultArgs('alice'), '--out', p('alice.key')], {
      env: { E2EE_BACKUP_PASSWORD: PW },
      cwd: dir,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe(''); // the password path shows no code
    for (const w of SETUP_WARNINGS.password) expect(r.stderr).toContain(w);
    expect(r.stderr).toMatch(/keeps the backup key of 'alice' behind your password/);
    expect(r.stderr).toMatch(/A copy of the key is in .*alice\.key \(mode 0600/);
    expect(r.stderr).toContain(`e2ee-backup backup create FILE --store DIR --key-file ${p('alice.key')}`);
    expect(statSync(p('alice.key')).mode & 0o777).toBe(0o600);
    const rec = run(['vault', 'recover', '--url', url, '--account', 'alice'], {
      env: { E2EE_BACKUP_PASSWORD: PW },
    });
    expect(rec.status, rec.stderr).toBe(0);
    sameKey(p('alice.key'), rec.stdout.toString());
  });

  it('without --out the key lives only in the vault, and the message says how to fetch it', () => {
    const r = run(['setup', ...vaultArgs('bob')], { env: { E2EE_BACKUP_PASSWORD: PW }, cwd: dir });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/No key file was written: the key lives only in the vault/);
    expect(r.stderr).toContain(`e2ee-backup vault recover --url ${url} --account bob -o backup.key`);
    const rec = run(['vault', 'recover', '--url', url, '--account', 'bob'], {
      env: { E2EE_BACKUP_PASSWORD: PW },
    });
    expect(rec.status).toBe(0);
    expect(rec.stdout.toString().trim()).toMatch(CODE);
  });

  it('reads the password from --password-file', () => {
    writeFileSync(p('pw.txt'), `${PW}\n`);
    const r = run(['setup', ...vaultArgs('carol'), '--password-file', p('pw.txt'), '-q'], { cwd: dir });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe(''); // -q: no warnings, no summary
    expect(
      run(['vault', 'recover', '--url', url, '--account', 'carol'], { env: { E2EE_BACKUP_PASSWORD: PW } })
        .status,
    ).toBe(0);
  });

  it("refuses a weak password with the estimator's advice (exit 1), and registers nothing", () => {
    const weak = run(['setup', ...vaultArgs('dave'), '--out', p('dave.key')], {
      env: { E2EE_BACKUP_PASSWORD: 'password1234' },
      cwd: dir,
    });
    expect(weak.status).toBe(1);
    expect(weak.stderr).toMatch(
      /^e2ee-backup: the password was refused: this password is too easy to guess \(This is similar to a commonly used password\..*\)\. Choose a longer one/m,
    );
    const short = run(['setup', ...vaultArgs('dave')], { env: { E2EE_BACKUP_PASSWORD: 'short' }, cwd: dir });
    expect(short.status).toBe(1);
    expect(short.stderr).toMatch(/the password was refused: use at least 10 characters/);
    expect(existsSync(p('dave.key'))).toBe(false);
    expect(tempLeftovers(dir)).toEqual([]);
    // Nothing was registered: dave is unknown (answered like a wrong password).
    const rec = run(['vault', 'recover', '--url', url, '--account', 'dave'], {
      env: { E2EE_BACKUP_PASSWORD: 'password1234' },
    });
    expect(rec.status).toBe(2);
  });

  it('without a terminal or a password source: exit 1 naming the alternatives', () => {
    const r = run(['setup', ...vaultArgs('erin')], { cwd: dir });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /no terminal to ask for the password on\. Give it with --password-file FILE or the E2EE_BACKUP_PASSWORD/,
    );
  });

  it('an account that holds another key is exit 2, and no key file is left', () => {
    const r = run(['setup', ...vaultArgs('alice'), '--out', p('alice2.key')], {
      env: { E2EE_BACKUP_PASSWORD: PW },
      cwd: dir,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /^e2ee-backup: the vault already holds another backup key for 'alice'\. Choose another --account/m,
    );
    expect(existsSync(p('alice2.key'))).toBe(false);
    expect(tempLeftovers(dir)).toEqual([]);
  });

  it("remembers the vault's key; a --server-key the vault does not have is exit 3, nothing written", () => {
    const config = p('config');
    const ok = run(['setup', ...vaultArgs('remembering'), '--out', p('remembering.key')], {
      env: { E2EE_BACKUP_PASSWORD: PW, XDG_CONFIG_HOME: config },
      cwd: dir,
    });
    expect(ok.status, ok.stderr).toBe(0);
    const saved = JSON.parse(readFileSync(join(config, 'e2ee-backup', 'vault-servers.json'), 'utf8'));
    expect(saved.servers[`${url}/`].fingerprint).toBe(fingerprint);
    expect(ok.stderr).toContain(`the vault's key fingerprint is ${fingerprint}`);
    const wrong = fingerprint.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    const r = run(['setup', ...vaultArgs('pinned-wrong'), '--server-key', wrong, '--out', p('pinned.key')], {
      env: { E2EE_BACKUP_PASSWORD: PW },
      cwd: dir,
    });
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(`has the key ${fingerprint}, not ${wrong} (the pinned one)`);
    expect(existsSync(p('pinned.key'))).toBe(false);
    expect(tempLeftovers(dir)).toEqual([]);
  });

  it('an unreachable vault is exit 4, and no key file is left', () => {
    const r = run(
      ['setup', '--method', 'password', '--url', 'http://127.0.0.1:1', '--account', 'x', '--out', p('x.key')],
      {
        env: { E2EE_BACKUP_PASSWORD: PW },
        cwd: dir,
      },
    );
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/^e2ee-backup: the vault server could not be reached.*Check the --url/m);
    expect(existsSync(p('x.key'))).toBe(false);
    expect(tempLeftovers(dir)).toEqual([]);
  });
});

// Needs util-linux's `script` for a real pseudo-terminal (present on Debian, so in CI).
describe.skipIf(!hasScript)('setup on a pseudo-terminal', () => {
  const codeIn = (output: string) => /([0-9a-f]{4}(?: [0-9a-f]{4}){15})/.exec(plain(output))![1]!;

  it('code: chosen on the terminal; Enter after the code and each warning; typed back, hidden before', async () => {
    const r = await runOnPty(cli(`setup --out ${p('tty.key')}`), [
      { expect: /Method \[code\/password\]: ?/, send: 'sms\r' },
      { expect: /Method \[code\/password\]: ?/, send: 'code\r' },
      { expect: /Press Enter once you have saved it: ?/, send: '\r' },
      { expect: /Warning 1 of 2: [\s\S]*?Press Enter to confirm you have read it: ?/, send: '\r' },
      { expect: /Warning 2 of 2: [\s\S]*?Press Enter to confirm you have read it: ?/, send: '\r' },
      { expect: /Code \(1\/3\): ?/, send: (o) => `${withGroupChanged(codeIn(o), 7)}\r` },
      { expect: /Code \(2\/3\): ?/, send: (o) => `${codeIn(o)}\r` },
    ]);
    const out = plain(r.output);
    expect(r.status, out).toBe(0);
    expect(out).toMatch(/Type 'code' or 'password'/);
    for (const w of SETUP_WARNINGS.code) expect(out).toContain(w);
    // The code is on the alternate screen, gone by the time it is typed back.
    const showAt = r.output.indexOf('\x1b[?1049h');
    const hideAt = r.output.indexOf('\x1b[?1049l');
    expect(showAt).toBeGreaterThanOrEqual(0);
    expect(hideAt).toBeGreaterThan(r.output.indexOf('Warning 2 of 2'));
    expect(hideAt).toBeLessThan(r.output.indexOf('Code (1/3)'));
    expect(out).toMatch(/Not confirmed: that does not match the code shown/);
    expect(out).toMatch(/Confirmed: the code matches/);
    expect(out).toMatch(/Setup complete: encrypted backup is enabled/);
    expect(readFileSync(p('tty.key'), 'utf8').trim()).toBe(codeIn(r.output));
    expect(statSync(p('tty.key')).mode & 0o777).toBe(0o600);
  });

  it('code: three misses show the code again, with its warnings', async () => {
    const r = await runOnPty(cli(`setup --method code --out ${p('tty-again.key')} --confirm-groups 2`), [
      { expect: /saved it: ?/, send: '\r' },
      { expect: /read it: ?/, send: '\r' },
      { expect: /read it: ?/, send: '\r' },
      { expect: /Code \(1\/3\): ?/, send: 'abcd\r' },
      { expect: /Code \(2\/3\): ?/, send: '12345678\r' },
      { expect: /Code \(3\/3\): ?/, send: 'ffff 0000\r' },
      { expect: /Here it is again[\s\S]*?saved it: ?/, send: '\r' },
      { expect: /read it: ?/, send: '\r' },
      { expect: /read it: ?/, send: '\r' },
      { expect: /Code \(1\/3\): ?/, send: (o) => `${codeIn(o)}\r` }, // the whole code does too
    ]);
    const out = plain(r.output);
    expect(r.status, out).toBe(0);
    expect(out).toMatch(/type groups \d+ and \d+ of the code from your copy/);
    expect(out).toMatch(/Not confirmed: type 2 groups of 4: 8 characters/);
    sameKey(p('tty-again.key'), codeIn(r.output));
  });

  it('password: hidden, a weak one refused with advice, a mismatch asked again, warnings need Enter', async () => {
    const strong = 'violet kettle uphill 42';
    const r = await runOnPty(cli(`setup --url ${url} --account tty-amara ${FAST} --out ${p('tty-pw.key')}`), [
      { expect: /Method \[code\/password\]: ?/, send: 'p\r' },
      { expect: /New password: ?/, send: 'password1234\r' },
      { expect: /New password: ?/, send: `${strong}\r` },
      { expect: /Repeat the password: ?/, send: 'violet kettle uphill 43\r' },
      { expect: /New password: ?/, send: `${strong}\r` },
      { expect: /Repeat the password: ?/, send: `${strong}\r` },
      { expect: /Warning 1 of 2: [\s\S]*?read it: ?/, send: '\r' },
      { expect: /Warning 2 of 2: [\s\S]*?read it: ?/, send: '\r' },
    ]);
    const out = plain(r.output);
    expect(r.status, out).toBe(0);
    expect(out).not.toContain('password1234');
    expect(out).not.toContain('kettle');
    expect(out).toMatch(
      /Refused: this password is too easy to guess\.\n +- This is similar to a commonly used password/,
    );
    expect(out).toMatch(/Refused: the two passwords differ: enter a new one/);
    for (const w of SETUP_WARNINGS.password) expect(out).toContain(w);
    expect(out).toMatch(/Registering with the vault/);
    expect(out).toMatch(/keeps the backup key of 'tty-amara' behind your password/);
    const rec = run(['vault', 'recover', '--url', url, '--account', 'tty-amara'], {
      env: { E2EE_BACKUP_PASSWORD: strong },
    });
    expect(rec.status, rec.stderr).toBe(0);
    sameKey(p('tty-pw.key'), rec.stdout.toString());
  });

  it('password: an unreachable vault offers a retry; declining exits 4 with no key file', async () => {
    const r = await runOnPty(
      cli(`setup --method password --url http://127.0.0.1:1 --account x ${FAST} --out ${p('tty-x.key')}`),
      [
        { expect: /read it: ?/, send: '\r' },
        { expect: /read it: ?/, send: '\r' },
        { expect: /Try again\? \[Y\/n\]: ?/, send: '\r' },
        { expect: /Try again\? \[Y\/n\]: ?/, send: 'n\r' },
      ],
      { env: { E2EE_BACKUP_PASSWORD: PW } },
    );
    const out = plain(r.output);
    expect(r.status, out).toBe(4);
    expect(out).toMatch(/The vault did not take it: the vault server could not be reached/);
    expect(out).toMatch(/e2ee-backup: the vault server could not be reached.*Check the --url/);
    expect(existsSync(p('tty-x.key'))).toBe(false);
    expect(tempLeftovers(dir)).toEqual([]);
  });

  it('Ctrl-C exits 130 and leaves no file, whether the code is on screen or being typed back', async () => {
    const onScreen = await runOnPty(cli(`setup --method code --out ${p('tty-int.key')}`), [
      { expect: /saved it: ?/, send: '\x03' },
    ]);
    expect(onScreen.status).toBe(130);
    // The terminal is given back as it was: off the alternate screen.
    expect(onScreen.output.indexOf('\x1b[?1049l')).toBeGreaterThan(onScreen.output.indexOf('\x1b[?1049h'));
    const typing = await runOnPty(cli(`setup --method code --out ${p('tty-int.key')}`), [
      { expect: /saved it: ?/, send: '\r' },
      { expect: /read it: ?/, send: '\r' },
      { expect: /read it: ?/, send: '\r' },
      { expect: /Code \(1\/3\): ?/, send: '\x03' },
    ]);
    expect(typing.status).toBe(130);
    expect(existsSync(p('tty-int.key'))).toBe(false);
    expect(tempLeftovers(dir)).toEqual([]);
  });
});
