// `e2ee-backup vault serve | register | recover | change-password | delete` over real HTTP on
// loopback: the server is the CLI itself (`vault serve --port 0`), with its SQLite store.
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBackupKey } from '../../src/key/backup-key.js';
import { buildCli, run, serveVault, tempDir } from './helpers.js';
import { runAsync, scriptedVault } from './vault-helpers.js';

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

describe('what a vault server says reaches the terminal inert', () => {
  it('escape sequences and fake lines in its error message are printed as visible text', async () => {
    const evil = await scriptedVault(() => ({
      status: 400,
      json: {
        error: {
          code: 'VAULT_PROTOCOL',
          message:
            'bad request\x1b[2J\x1b]0;owned\x07\n\x1b[32me2ee-backup: Recovered. Nothing else to do.\r',
        },
      },
    }));
    try {
      const r = await runAsync(['vault', 'recover', '--url', evil.url, '--account', 'alice'], {
        env: { E2EE_BACKUP_PASSWORD: PW },
      });
      expect(r.status).toBe(3);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: looking for control characters
      expect(r.stderr).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
      expect(r.stderr.split('\n')).toEqual([
        'e2ee-backup: bad request\\x1b[2J\\x1b]0;owned\\x07\\n\\x1b[32me2ee-backup: Recovered. Nothing else to do. Update e2ee-backup and the vault server to matching versions.',
        '',
      ]);
    } finally {
      await evil.close();
    }
  });
});

/** SHA-256 of the vault's public key from `/v1/info`, in groups: computed here, not by the CLI. */
async function fingerprintOf(vaultUrl: string): Promise<string> {
  const info = (await (await fetch(`${vaultUrl}/v1/info`)).json()) as { serverPublicKey: string };
  const hex = createHash('sha256').update(Buffer.from(info.serverPublicKey, 'base64url')).digest('hex');
  return hex.match(/.{8}/g)!.join('-');
}

describe('which vault the CLI talks to', () => {
  it('vault serve prints its key fingerprint: SHA-256 of its public key, in groups of 8', async () => {
    const { dir: d, cleanup: c } = tempDir();
    try {
      const { child, url: u, fingerprint } = await serve(d, ['-q']);
      expect(fingerprint).toMatch(/^[0-9a-f]{8}(-[0-9a-f]{8}){7}$/);
      expect(fingerprint).toBe(await fingerprintOf(u));
      child.removeAllListeners('exit');
      child.kill('SIGTERM');
      await stopped(child);
    } finally {
      c();
    }
  });

  it('refuses plain http:// to anything but loopback, unless --insecure-http', async () => {
    const notLoopback = 'http://0.0.0.0:1';
    const r = run(['vault', 'recover', '--url', notLoopback, '--account', 'a'], {
      env: { E2EE_BACKUP_PASSWORD: PW },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /^e2ee-backup: refusing plain http:\/\/ to 0\.0\.0\.0:1: .*\. Use https:\/\/, or add --insecure-http/,
    );
    const insecure = run(['vault', 'recover', '--url', notLoopback, '--account', 'a', '--insecure-http'], {
      env: { E2EE_BACKUP_PASSWORD: PW },
    });
    expect(insecure.stderr).toMatch(
      /warning: --insecure-http: talking to the vault at 0\.0\.0\.0:1 without TLS/,
    );
    expect(insecure.status).toBe(4); // it did try: nothing listens there
  });

  it('never sends a registration or a device credential over plain http:// off loopback, whatever the flags', async () => {
    const notLoopback = 'http://0.0.0.0:1';
    const fp = 'ab'.repeat(32);
    for (const [command, args] of [
      ['vault register', ['vault', 'register', '--account', 'a', '--key-file', keyFile, FAST]],
      ['vault change-password', ['vault', 'change-password', '--account', 'a']],
      ['vault change-password', ['vault', 'change-password', '--account', 'a', '--key-file', keyFile]],
      ['vault delete', ['vault', 'delete', '--account', 'a', '--key-file', keyFile]],
      ['setup', ['setup', '--method', 'password', '--account', 'a']],
    ] as const) {
      for (const extra of [[], ['--insecure-http'], ['--insecure-http', '--server-key', fp]]) {
        const r = run([...args, '--url', notLoopback, ...extra], {
          env: { E2EE_BACKUP_PASSWORD: PW, E2EE_BACKUP_NEW_PASSWORD: NEW_PW },
        });
        expect(r.status, `${args.join(' ')} ${extra.join(' ')}`).toBe(1);
        expect(r.stderr).toMatch(
          new RegExp(
            `^e2ee-backup: refusing ${command} over plain http:// to 0\\.0\\.0\\.0:1, even with --insecure-http or --server-key: .*an impostor can show the vault's key.*Use https:// \\(--tls-pin`,
          ),
        );
      }
    }
    // Nor over https with certificate checks turned off, unless the TLS key is pinned.
    const off = run(
      ['vault', 'register', '--account', 'a', '--key-file', keyFile, FAST, '--url', 'https://127.0.0.1:1'],
      {
        env: { E2EE_BACKUP_PASSWORD: PW, NODE_TLS_REJECT_UNAUTHORIZED: '0' },
      },
    );
    expect(off.status).toBe(1);
    expect(off.stderr).toMatch(/refusing vault register with NODE_TLS_REJECT_UNAUTHORIZED=0/);
  });

  it('--tls-pin: HTTPS to a self-signed vault that shows the pinned key, and to no other', async () => {
    const fixtures = join(import.meta.dirname, 'fixtures');
    const tls = {
      cert: readFileSync(join(fixtures, 'loopback-tls.crt')),
      key: readFileSync(join(fixtures, 'loopback-tls.key')),
    };
    // What `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256` prints.
    const pin = '6d311a758b15e121e3e1072d542e350048c689fb33ddce2568800c73ef9a411f';
    const front = await scriptedVault(
      () => 'forward',
      () => url,
      tls,
    );
    const { dir: d, cleanup: c } = tempDir();
    try {
      const key = join(d, 'k.key');
      expect(run(['keygen', '--out', key, '-q']).status).toBe(0);
      const at = (args: string[], env: Record<string, string> = {}) =>
        runAsync(['vault', ...args, '--url', front.url], {
          env: { E2EE_BACKUP_PASSWORD: PW, ...env },
          cwd: d,
        });

      // Without the pin, the self-signed certificate fails Node's certificate checks: exit 4.
      const unpinned = await at(['register', '--account', 'tls', '--key-file', key, FAST]);
      expect(unpinned.status).toBe(4);
      expect(front.seen).toHaveLength(0);

      // Another pin: refused at the handshake, before a request is sent (exit 3).
      const wrong = await at([
        'register',
        '--account',
        'tls',
        '--key-file',
        key,
        FAST,
        '--tls-pin',
        'cd'.repeat(32),
      ]);
      expect(wrong.status).toBe(3);
      expect(wrong.stderr).toContain(
        `shows the TLS key ${pin.match(/.{8}/g)!.join('-')}, not ${'cd'.repeat(32).match(/.{8}/g)!.join('-')} (the pinned one); nothing was sent to it`,
      );
      expect(front.seen).toHaveLength(0);

      // The right pin, in openssl's spelling or from the environment: register, recover, delete.
      const reg = await at([
        'register',
        '--account',
        'tls',
        '--key-file',
        key,
        FAST,
        '--tls-pin',
        `SHA2-256(stdin)= ${pin}`,
      ]);
      expect(reg.status).toBe(0);
      const rec = await at(['recover', '--account', 'tls'], { E2EE_BACKUP_TLS_PIN: pin });
      expect(rec.status).toBe(0);
      expect(rec.stdout.toString().trim()).toBe(readFileSync(key, 'utf8').trim());
      expect((await at(['delete', '--account', 'tls', '--key-file', key, '--tls-pin', pin])).status).toBe(0);
      expect(front.seen.map((r) => r.path)).toContain('/v1/delete');

      // A pin is for https: URLs.
      const http = run(['vault', 'recover', '--account', 'tls', '--url', url, '--tls-pin', pin], {
        env: { E2EE_BACKUP_PASSWORD: PW },
      });
      expect(http.status).toBe(1);
      expect(http.stderr).toMatch(/--tls-pin pins a TLS key, and http:\/\/ has none/);
    } finally {
      await front.close();
      c();
    }
  });

  it('--server-key (or E2EE_BACKUP_SERVER_KEY) pins the key; another is refused before any attempt', async () => {
    const right = await fingerprintOf(url);
    const wrong = right.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    const other = join(dir, 'pinned.key');
    expect(run(['keygen', '--out', other, '-q']).status).toBe(0);
    const reg = vault(['register', '--account', 'pinned', '--key-file', other, FAST, '--server-key', right], {
      E2EE_BACKUP_PASSWORD: PW,
    });
    expect(reg.status).toBe(0);
    // Any spelling of the 64 digits.
    const spelled = right.toUpperCase().replace(/-/g, ':');
    expect(
      vault(['recover', '--account', 'pinned', '--server-key', spelled], { E2EE_BACKUP_PASSWORD: PW }).status,
    ).toBe(0);
    for (const [args, env] of [
      [['--server-key', wrong], {}],
      [[], { E2EE_BACKUP_SERVER_KEY: wrong }],
    ] as const) {
      const r = vault(['recover', '--account', 'pinned', ...args], {
        E2EE_BACKUP_PASSWORD: 'a wrong guess',
        ...env,
      });
      expect(r.status).toBe(3);
      expect(r.stderr).toContain(`has the key ${right}, not ${wrong} (the pinned one)`);
      expect(r.stderr).toMatch(/check the new fingerprint with them/);
    }
    // The refusals spent no attempt: the next wrong password still leaves 9.
    const next = vault(['recover', '--account', 'pinned'], { E2EE_BACKUP_PASSWORD: 'a wrong guess' });
    expect(next.stderr).toMatch(/9 attempts left/);
    const malformed = vault(['recover', '--account', 'pinned', '--server-key', 'abc'], {
      E2EE_BACKUP_PASSWORD: PW,
    });
    expect(malformed.status).toBe(1);
    expect(malformed.stderr).toMatch(/--server-key is not a vault key fingerprint/);
  });

  it('remembers the key it registered with, and refuses another at that URL', async () => {
    const { dir: d, cleanup: c } = tempDir();
    const config = join(d, 'config');
    let upstream = url;
    const front = await scriptedVault(
      () => 'forward',
      () => upstream,
    );
    let other: ChildProcess | undefined;
    try {
      const env = { E2EE_BACKUP_PASSWORD: PW, XDG_CONFIG_HOME: config };
      const key = join(d, 'k.key');
      expect(run(['keygen', '--out', key, '-q']).status).toBe(0);
      const at = (args: string[], extra: Record<string, string> = {}) =>
        runAsync(['vault', ...args, '--url', front.url], { env: { ...env, ...extra }, cwd: d });
      const reg = await at(['register', '--account', 'remembered', '--key-file', key, FAST]);
      expect(reg.status).toBe(0);
      const fingerprint = await fingerprintOf(url);
      expect(reg.stderr).toContain(`the vault's key fingerprint is ${fingerprint}`);
      const file = join(config, 'e2ee-backup', 'vault-servers.json');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(JSON.parse(readFileSync(file, 'utf8')).servers[`${front.url}/`].fingerprint).toBe(fingerprint);
      expect((await at(['recover', '--account', 'remembered'])).status).toBe(0);

      // Another server answers at the same URL: refused, for every command.
      const started = await serve(d, ['-q', '--db', 'other.sqlite', '--key-file', 'other-keys.json']);
      other = started.child;
      upstream = started.url;
      for (const args of [
        ['recover', '--account', 'remembered'],
        ['register', '--account', 'remembered', '--key-file', key, FAST],
        ['delete', '--account', 'remembered', '--key-file', key],
      ]) {
        const r = await at(args);
        expect(r.status, args[0]).toBe(3);
        expect(r.stderr).toContain(
          `has the key ${started.fingerprint}, not ${fingerprint} (the one this device registered with)`,
        );
      }
      // Unless the user pins the new key: it is then asked (and knows no such account).
      const pinned = await at(['recover', '--account', 'remembered', '--server-key', started.fingerprint]);
      expect(pinned.stderr).toMatch(/differs from the one this device registered with/);
      expect(pinned.status).toBe(2);
    } finally {
      if (other) {
        other.removeAllListeners('exit');
        other.kill('SIGTERM');
        await stopped(other);
      }
      await front.close();
      c();
    }
  });
});

describe('rate limits', () => {
  const limited = (retryAfter: string) => ({
    status: 429,
    headers: { 'retry-after': retryAfter },
    json: {
      error: { code: 'RATE_LIMITED', message: 'too many requests', retryAfterSeconds: Number(retryAfter) },
    },
  });
  const loginStarts = (seen: { path: string }[]) => seen.filter((r) => r.path === '/v1/login/start').length;

  it('waits as Retry-After says and sends the same request again', async () => {
    let refused = 0;
    const front = await scriptedVault(
      (r) => (r.path === '/v1/login/start' && refused++ < 2 ? limited('0') : 'forward'),
      () => url,
    );
    try {
      const r = await runAsync(['vault', 'recover', '--account', 'alice-retry', '--url', front.url], {
        env: { E2EE_BACKUP_PASSWORD: PW },
      });
      // An unknown account: the login ran to its end (a wrong password), after two refusals.
      expect(r.stderr).toMatch(/rate-limiting; trying again in 0 s \(1\/3\)[\s\S]*\(2\/3\)/);
      expect(r.stderr).toMatch(/wrong password: 9 attempts left/);
      expect(r.status).toBe(2);
      expect(loginStarts(front.seen)).toBe(3);
    } finally {
      await front.close();
    }
  });

  it('gives up after 3 retries, or at once when asked to wait longer than a minute', async () => {
    const always = await scriptedVault(
      (r) => (r.path === '/v1/login/start' ? limited('0') : 'forward'),
      () => url,
    );
    const long = await scriptedVault(
      (r) => (r.path === '/v1/login/start' ? limited('3600') : 'forward'),
      () => url,
    );
    try {
      const a = await runAsync(['vault', 'recover', '--account', 'alice', '--url', always.url], {
        env: { E2EE_BACKUP_PASSWORD: PW },
      });
      expect(a.status).toBe(4);
      expect(loginStarts(always.seen)).toBe(4);
      const b = await runAsync(['vault', 'recover', '--account', 'alice', '--url', long.url], {
        env: { E2EE_BACKUP_PASSWORD: PW },
      });
      expect(b.status).toBe(4);
      expect(b.stderr).toMatch(/^e2ee-backup: too many requests\. Wait 3600 s, then try again\.\n$/);
      expect(loginStarts(long.seen)).toBe(1);
    } finally {
      await always.close();
      await long.close();
    }
  });
});

describe('vault serve that cannot start says why, and leaves nothing behind', () => {
  it('the port is taken', async () => {
    const { dir: d, cleanup: c } = tempDir();
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const r = await runAsync(['vault', 'serve', '--port', String(port)], { cwd: d });
      expect(r.status).toBe(4);
      expect(r.stderr).toBe(
        `e2ee-backup: port ${port} on 127.0.0.1 is already taken by another program. Stop that program, or choose another --port (0 picks a free one).\n`,
      );
      expect(readdirSync(d)).toEqual([]);
    } finally {
      taken.close();
      c();
    }
  });

  it('better-sqlite3 is not installed', async () => {
    const { dir: d, cleanup: c } = tempDir();
    try {
      const r = await runAsync(['vault', 'serve', '--port', '0'], {
        cwd: d,
        nodeArgs: ['--import', join(import.meta.dirname, 'fixtures', 'without-better-sqlite3.mjs')],
      });
      expect(r.status).toBe(4);
      expect(r.stderr).toMatch(
        /^e2ee-backup: vault serve needs the better-sqlite3 package for its SQLite store/,
      );
      expect(r.stderr).toMatch(
        /Install it where e2ee-backup-cli is installed: npm install \[-g\] better-sqlite3/,
      );
      expect(r.stderr).not.toMatch(/--url|the network/);
      expect(readdirSync(d)).toEqual([]);
    } finally {
      c();
    }
  });

  it('better-sqlite3 13 on a Node without Node-API 10: refused, not a crash', async () => {
    const { dir: d, cleanup: c } = tempDir();
    try {
      const r = await runAsync(['vault', 'serve', '--port', '0'], {
        cwd: d,
        nodeArgs: [
          '--import',
          join(import.meta.dirname, 'fixtures', 'better-sqlite3-13-without-napi-10.mjs'),
        ],
      });
      expect(r.status).toBe(4);
      expect(r.stderr).toMatch(
        /^e2ee-backup: vault serve cannot use the installed better-sqlite3: better-sqlite3 13 needs Node-API 10 \(Node 22\.14 or later\), and Node v[\d.]+ has Node-API 9\./,
      );
      expect(r.stderr).toMatch(/npm install \[-g\] better-sqlite3@12, or run on Node 22\.14 or later/);
      expect(readdirSync(d)).toEqual([]);
    } finally {
      c();
    }
  });

  it('PostgreSQL cannot be reached: it starts anyway, and /v1/health answers 503 until it is up', async () => {
    const { dir: d, cleanup: c } = tempDir();
    try {
      const { child, url } = await serveVault(d, ['--postgres', 'postgres://nobody@127.0.0.1:1/vault']);
      try {
        const health = await fetch(`${url}/v1/health`);
        expect(health.status).toBe(503);
        expect(health.headers.get('retry-after')).toMatch(/^\d+$/);
        expect(await health.json()).toMatchObject({ error: { code: 'VAULT_UNAVAILABLE' } });
      } finally {
        child.kill('SIGTERM');
      }
    } finally {
      c();
    }
  });
});
