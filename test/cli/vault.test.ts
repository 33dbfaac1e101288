// `e2ee-backup vault serve | register | recover | change-password | delete` over real HTTP on
// loopback: the server is the CLI itself (`vault serve --port 0`), with its SQLite store.
import type { ChildProcess } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBackupKey } from '../../src/key.js';
import { buildCli, run, serveVault, tempDir } from './helpers.js';

const FAST = '--insecure-fast-kdf';
const PW = 'correct horse battery staple';
const NEW_PW = 'quartz lantern ferry 7 meadow';
let dir: string;
let cleanup: () => void;
let keyFile: string;
let server: ChildProcess;
let url: string;
let serverLog = '';

/** `vault serve` on a free port in `cwd`; its stderr goes to serverLog. */
const serve = (cwd: string, extra: string[] = []) =>
  serveVault(cwd, extra, (text) => {
    serverLog += text;
  });

function stopped(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

const vault = (args: string[], env: Record<string, string> = {}) =>
  run(['vault', ...args, '--url', url], { env, cwd: dir });

beforeAll(async () => {
  await buildCli();
  ({ dir, cleanup } = tempDir());
  keyFile = join(dir, 'backup.key');
  expect(run(['keygen', '--out', keyFile, '-q']).status).toBe(0);
  ({ child: server, url } = await serve(dir));
}, 180_000);
afterAll(async () => {
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await stopped(server);
  }
  cleanup?.();
});

describe('vault serve', () => {
  it('prints its loopback URL and creates its key file with mode 0600 and the SQLite store', () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(statSync(join(dir, 'vault-keys.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'vault.sqlite')).isFile()).toBe(true);
    expect(serverLog).toMatch(/--insecure-fast-kdf.*tests and demos only/);
  });

  it('stops cleanly (exit 0) on SIGTERM and on SIGINT', async () => {
    const { dir: d2, cleanup: c2 } = tempDir();
    try {
      for (const signal of ['SIGTERM', 'SIGINT'] as const) {
        const { child, url: u } = await serve(d2, ['-q']);
        expect(u).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        child.removeAllListeners('exit');
        child.kill(signal);
        expect(await stopped(child)).toBe(0);
      }
    } finally {
      c2();
    }
  });

  it('refuses --db together with --postgres (exit 1)', () => {
    const r = run(['vault', 'serve', '--db', 'x.sqlite', '--postgres', 'postgres://x'], { cwd: dir });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^e2ee-backup: --db and --postgres both name a store\. Give one of them\.\n$/);
  });
});

describe('vault register, recover, change-password, delete', () => {
  it('refuses a weak new password with advice (exit 1) before the vault is asked, as setup does', () => {
    const r = vault(['register', '--account', 'weakling', '--key-file', keyFile, FAST], {
      E2EE_BACKUP_PASSWORD: 'password123',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/the new vault password is too weak: this password is too easy to guess/);
    expect(r.stderr).toMatch(/longer passphrase/);
    const short = vault(['register', '--account', 'weakling', '--key-file', keyFile, FAST], {
      E2EE_BACKUP_PASSWORD: 'Zq9!x',
    });
    expect(short.stderr).toMatch(/use at least 10 characters/);
    // Nothing was registered: recovering the account fails as for any unknown account.
    expect(vault(['recover', '--account', 'weakling'], { E2EE_BACKUP_PASSWORD: 'password123' }).status).toBe(
      2,
    );
  });

  it('registers the backup key behind a password from E2EE_BACKUP_PASSWORD', () => {
    const r = vault(['register', '--account', 'alice', '--key-file', keyFile, FAST], {
      E2EE_BACKUP_PASSWORD: PW,
    });
    expect(r.stderr).toMatch(/insecure-fast-kdf/);
    expect(r.status).toBe(0);
  });

  it('recovers the code on "a new device" knowing only the password, to a 0600 file', () => {
    const out = join(dir, 'recovered.key');
    const r = vault(['recover', '--account', 'alice', '-o', out], { E2EE_BACKUP_PASSWORD: PW });
    expect(r.status).toBe(0);
    expect(r.stdout.toString()).toBe('');
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(parseBackupKey(readFileSync(out, 'utf8'))).toEqual(parseBackupKey(readFileSync(keyFile, 'utf8')));
  });

  it('prints the recovered code without -o, and refuses to overwrite an -o file before spending an attempt', () => {
    const r = vault(['recover', '--account', 'alice'], { E2EE_BACKUP_PASSWORD: PW });
    expect(r.status).toBe(0);
    expect(r.stdout.toString()).toBe(readFileSync(keyFile, 'utf8'));
    writeFileSync(join(dir, 'taken.key'), 'precious');
    const again = vault(['recover', '--account', 'alice', '-o', join(dir, 'taken.key')], {
      E2EE_BACKUP_PASSWORD: 'wrong',
    });
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/taken\.key already exists.*--force/);
    // No attempt was spent: the next wrong password still leaves 9.
    const wrong = vault(['recover', '--account', 'alice'], { E2EE_BACKUP_PASSWORD: 'wrong' });
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toMatch(/^e2ee-backup: wrong password: 9 attempts left\. Check the password/);
    // and a right one resets the count
    expect(vault(['recover', '--account', 'alice'], { E2EE_BACKUP_PASSWORD: PW }).status).toBe(0);
  });

  it('changes the password with the old one (E2EE_BACKUP_NEW_PASSWORD); the old one stops working', () => {
    const r = vault(['change-password', '--account', 'alice', FAST], {
      E2EE_BACKUP_PASSWORD: PW,
      E2EE_BACKUP_NEW_PASSWORD: NEW_PW,
    });
    expect(r.status).toBe(0);
    expect(vault(['recover', '--account', 'alice'], { E2EE_BACKUP_PASSWORD: PW }).status).toBe(2);
    const ok = vault(['recover', '--account', 'alice'], { E2EE_BACKUP_PASSWORD: NEW_PW });
    expect(ok.status).toBe(0);
    expect(ok.stdout.toString()).toBe(readFileSync(keyFile, 'utf8'));
  });

  it('refuses a weak new password on change-password without spending an attempt', () => {
    const r = vault(['change-password', '--account', 'alice', FAST], {
      E2EE_BACKUP_PASSWORD: NEW_PW,
      E2EE_BACKUP_NEW_PASSWORD: 'alice2024',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/too weak/);
    expect(vault(['recover', '--account', 'alice'], { E2EE_BACKUP_PASSWORD: NEW_PW }).status).toBe(0);
  });

  it('resets a forgotten password from the device that holds the key (--key-file)', () => {
    const r = vault(['change-password', '--account', 'alice', '--key-file', keyFile, FAST], {
      E2EE_BACKUP_NEW_PASSWORD: PW,
    });
    expect(r.status).toBe(0);
    expect(vault(['recover', '--account', 'alice'], { E2EE_BACKUP_PASSWORD: PW }).status).toBe(0);
  });

  it('asks for the new password and fails with exit 1 when there is no terminal and no variable', () => {
    const r = vault(['change-password', '--account', 'alice'], { E2EE_BACKUP_PASSWORD: PW });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/E2EE_BACKUP_NEW_PASSWORD/);
  });

  it('locks the account after 10 wrong passwords: even the right one then fails (exit 2, VAULT_LOCKED)', () => {
    const other = join(dir, 'other.key');
    expect(run(['keygen', '--out', other, '-q']).status).toBe(0);
    expect(
      vault(['register', '--account', 'bob', '--key-file', other, FAST], { E2EE_BACKUP_PASSWORD: PW }).status,
    ).toBe(0);
    for (let i = 1; i <= 10; i++) {
      const r = vault(['recover', '--account', 'bob'], { E2EE_BACKUP_PASSWORD: `guess ${i}` });
      expect(r.status).toBe(2);
      if (i < 10) expect(r.stderr).toMatch(new RegExp(`${10 - i} attempts? left`));
      else expect(r.stderr).toMatch(/no attempts are left.*destroyed.*Only the 64-digit code/);
    }
    const locked = vault(['recover', '--account', 'bob'], { E2EE_BACKUP_PASSWORD: PW });
    expect(locked.status).toBe(2);
    expect(locked.stdout.toString()).toBe('');
    expect(locked.stderr).toMatch(
      /^e2ee-backup: too many wrong passwords.*\. Only the 64-digit code opens the backup now/,
    );
    // alice is untouched
    expect(vault(['recover', '--account', 'alice'], { E2EE_BACKUP_PASSWORD: PW }).status).toBe(0);
  });

  it('deletes with the backup key; another key is refused (exit 2)', () => {
    const other = join(dir, 'other.key');
    const refused = vault(['delete', '--account', 'alice', '--key-file', other]);
    expect(refused.status).toBe(2);
    expect(vault(['delete', '--account', 'alice', '--key-file', keyFile]).status).toBe(0);
    // An unknown account answers like a wrong password (no account enumeration).
    expect(vault(['recover', '--account', 'alice'], { E2EE_BACKUP_PASSWORD: PW }).status).toBe(2);
    const gone = vault(['delete', '--account', 'alice', '--key-file', keyFile]);
    expect(gone.status).toBe(2);
    expect(gone.stderr).toMatch(/Check the account/);
  });
});

describe('vault usage and network errors', () => {
  it('an unreachable vault is exit 4', () => {
    const r = run(['vault', 'recover', '--url', 'http://127.0.0.1:1', '--account', 'a'], {
      env: { E2EE_BACKUP_PASSWORD: PW },
    });
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/^e2ee-backup: the vault server could not be reached.*Check the --url/);
  });

  it('a vault serve whose SQLite file cannot be opened says what to check here, not the network', () => {
    const r = run(['vault', 'serve', '--port', '0', '--db', join(dir, 'no-such-folder', 'vault.sqlite')], {
      cwd: dir,
    });
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/cannot open the SQLite vault store.*Check the --db path/s);
    expect(r.stderr).not.toMatch(/--url|network/);
  });

  it('a bad --url or a missing --account is exit 1', () => {
    const bad = run(['vault', 'recover', '--url', 'not a url', '--account', 'a']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--url.*expected a URL/);
    const missing = run(['vault', 'register', '--url', url, '--key-file', keyFile]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/--account/);
  });
});
