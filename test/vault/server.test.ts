/**
 * The vault end to end over real HTTP on loopback (127.0.0.1, port 0) with the SQLite store:
 * the client, the Hono app, the service, the store and the key file together.
 */
import { copyFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64url, toBase64url } from '../../src/vault/base64url.js';
import { createVaultClient, type VaultClientOptions } from '../../src/vault/client.js';
import { generateKE1, serializeKE1 } from '../../src/vault/opaque/opaque.js';
import {
  deriveDeviceCredential,
  finishRegistration,
  startLogin,
  startRegistration,
} from '../../src/vault/protocol.js';
import {
  type RunningVaultServer,
  type StartVaultServerOptions,
  startVaultServer,
} from '../../src/vault/server/index.js';
import type { VaultLogEvent } from '../../src/vault/server/service.js';
import {
  CHEAP_KSF,
  cheapClient,
  errorOf,
  type LooseJson,
  randomKey,
  tempDir,
  testLimits,
} from './helpers.js';

let t: { dir: string; cleanup: () => void };
let keyFile: string;
let dbPath: string;
beforeAll(() => {
  t = tempDir();
  keyFile = join(t.dir, 'vault-keys.json');
  dbPath = join(t.dir, 'vault.sqlite');
});
const running: RunningVaultServer[] = [];
let n = 0;
const account = (tag = 'user') => `${tag}-${n++}@example.test`;

async function start(options: Partial<StartVaultServerOptions> = {}): Promise<RunningVaultServer> {
  const server = await startVaultServer({ keyFile, dbPath, limits: testLimits, ...options });
  running.push(server);
  return server;
}
const client = (s: RunningVaultServer, options: VaultClientOptions = {}) =>
  createVaultClient(s.url, { ...cheapClient, ...options });

async function post(url: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}/v1/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as LooseJson };
}

afterAll(async () => {
  for (const s of running) await s.close();
  t?.cleanup();
});

describe('vault over HTTP', () => {
  let server: RunningVaultServer;
  beforeAll(async () => {
    server = await start();
  });

  it('listens on loopback and describes itself', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const info = await client(server).info();
    expect(info.protocol).toBe('e2ee-backup-vault/1');
    expect(info.serverPublicKey).toHaveLength(32);
    expect(info.maxAttempts).toBe(10);
    expect(info.ksf).toEqual(CHEAP_KSF); // testLimits; the default is RFC 9106's 64 MiB, t = 3, p = 4
  });

  it('register, recover, change the password, reset from the device, delete', async () => {
    const vault = client(server);
    const a = account();
    const backupKey = randomKey();
    expect(await vault.register({ account: a, password: 'correct horse', backupKey })).toBe('created');
    expect(await vault.recover({ account: a, password: 'correct horse' })).toEqual(backupKey);

    await vault.changePassword({ account: a, oldPassword: 'correct horse', newPassword: 'battery staple' });
    const wrong = await errorOf(vault.recover({ account: a, password: 'correct horse' }));
    expect(wrong.code).toBe('WRONG_PASSWORD');
    expect(wrong.remainingAttempts).toBe(9);
    expect(await vault.recover({ account: a, password: 'battery staple' })).toEqual(backupKey);

    // Forgotten password: the device that holds the key resets it, and the counter is full again.
    for (let i = 0; i < 3; i++) await errorOf(vault.recover({ account: a, password: 'nope' }));
    expect((await server.store.getAccount(a))!.remaining).toBe(7);
    await vault.resetPassword({ account: a, backupKey, newPassword: 'new password' });
    expect((await server.store.getAccount(a))!.remaining).toBe(10);
    expect(await vault.recover({ account: a, password: 'new password' })).toEqual(backupKey);

    // Registering again with the same key replaces; with another key is refused.
    expect(await vault.register({ account: a, password: 'again', backupKey })).toBe('replaced');
    const other = await errorOf(vault.register({ account: a, password: 'x', backupKey: randomKey() }));
    expect(other.code).toBe('UNAUTHORIZED');
    expect(other.status).toBe(403);
    const resetOther = await errorOf(
      vault.resetPassword({ account: a, backupKey: randomKey(), newPassword: 'x' }),
    );
    expect(resetOther.code).toBe('UNAUTHORIZED');

    const del = await errorOf(vault.delete({ account: a, backupKey: randomKey() }));
    expect(del.code).toBe('UNAUTHORIZED');
    await vault.delete({ account: a, backupKey });
    expect(await server.store.getAccount(a)).toBeUndefined();
    expect((await errorOf(vault.recover({ account: a, password: 'again' }))).code).toBe('WRONG_PASSWORD');
    expect((await errorOf(vault.delete({ account: a, backupKey }))).code).toBe('VAULT_NOT_FOUND');
    const reset = await errorOf(vault.resetPassword({ account: a, backupKey, newPassword: 'x' }));
    expect(reset.code).toBe('VAULT_NOT_FOUND');
  });

  it('normalises accounts and passwords to NFC on the client', async () => {
    const vault = client(server);
    const a = `${account('caf\u0065\u0301')}`;
    const backupKey = randomKey();
    await vault.register({ account: a, password: 'p\u0065\u0301', backupKey });
    expect(await vault.recover({ account: a.normalize('NFC'), password: 'p\u00e9' })).toEqual(backupKey);
  });

  it('10 wrong passwords destroy the key: then the right one fails with VAULT_LOCKED', async () => {
    const vault = client(server);
    const a = account();
    const backupKey = randomKey();
    await vault.register({ account: a, password: 'right', backupKey });
    for (let i = 9; i >= 0; i--) {
      const err = await errorOf(vault.recover({ account: a, password: `wrong ${i}` }));
      expect(err.code).toBe('WRONG_PASSWORD');
      expect(err.remainingAttempts).toBe(i);
    }
    const locked = await errorOf(vault.recover({ account: a, password: 'right' }));
    expect(locked.code).toBe('VAULT_LOCKED');
    expect(locked.status).toBe(423);
    const stored = (await server.store.getAccount(a))!;
    expect(stored.status).toBe('locked');
    expect(stored.record).toBeUndefined();
    expect(stored.sealedKey).toBeUndefined();
    expect(stored.deviceVerifier).toHaveLength(32); // the tombstone keeps it
    // Not even the device can reset a destroyed record; it can register afresh.
    expect((await errorOf(vault.resetPassword({ account: a, backupKey, newPassword: 'x' }))).code).toBe(
      'VAULT_LOCKED',
    );
    expect((await errorOf(vault.delete({ account: a, backupKey }))).code).toBe('VAULT_LOCKED');
    // Whoever spent the attempts cannot register their own record over the tombstone...
    const stranger = await errorOf(
      vault.register({ account: a, password: 'mine now', backupKey: randomKey() }),
    );
    expect(stranger.code).toBe('UNAUTHORIZED');
    expect((await server.store.getAccount(a))!.status).toBe('locked');
    // ...and the original device, which holds the key, can.
    expect(await vault.register({ account: a, password: 'fresh', backupKey })).toBe('created');
    expect(await vault.recover({ account: a, password: 'fresh' })).toEqual(backupKey);
  });

  it('the device credential rotates with every password change and reset: one captured dies with it', async () => {
    const vault = client(server);
    const a = account();
    const backupKey = randomKey();
    await vault.register({ account: a, password: 'first', backupKey });
    // What a device sends to delete or replace the record, as a proxy that logs bodies would see it.
    const capture = async () => {
      const { json } = await post(server.url, 'device-salt', { account: a });
      return toBase64url(deriveDeviceCredential(backupKey, a, fromBase64url(json['deviceSalt'])!));
    };
    const captured = await capture();
    const refused = async (credential: string) => {
      const r = await post(server.url, 'delete', { account: a, deviceCredential: credential });
      return `${r.status} ${r.json['error']?.code}`;
    };
    await vault.changePassword({ account: a, oldPassword: 'first', newPassword: 'second' });
    expect(await refused(captured)).toBe('403 UNAUTHORIZED');
    const afterChange = await capture();
    expect(afterChange).not.toBe(captured);
    await vault.resetPassword({ account: a, backupKey, newPassword: 'third' });
    expect(await refused(afterChange)).toBe('403 UNAUTHORIZED');
    // The key still authorises, through the current salt.
    expect(await vault.recover({ account: a, password: 'third' })).toEqual(backupKey);
    await vault.delete({ account: a, backupKey });
    expect(await server.store.getAccount(a)).toBeUndefined();
  });

  it('device-salt: the current salt of a record or tombstone, 404 for an unknown account', async () => {
    const a = account();
    expect(await post(server.url, 'device-salt', { account: a })).toMatchObject({
      status: 404,
      json: { error: { code: 'VAULT_NOT_FOUND' } },
    });
    await client(server).register({ account: a, password: 'pw', backupKey: randomKey() });
    const { status, json } = await post(server.url, 'device-salt', { account: a });
    expect(status).toBe(200);
    expect(fromBase64url(json['deviceSalt'])).toEqual((await server.store.getAccount(a))!.deviceSalt);
    expect((await post(server.url, 'device-salt', { account: a, extra: 1 })).status).toBe(400);
  });

  it('a success in between resets the counter', async () => {
    const vault = client(server);
    const a = account();
    const backupKey = randomKey();
    await vault.register({ account: a, password: 'right', backupKey });
    for (let i = 0; i < 9; i++) await errorOf(vault.recover({ account: a, password: 'wrong' }));
    expect(await vault.recover({ account: a, password: 'right' })).toEqual(backupKey);
    const err = await errorOf(vault.recover({ account: a, password: 'wrong' }));
    expect(err.remainingAttempts).toBe(9);
  });

  it('50 concurrent wrong guesses through the client: exactly 10 are tried, 40 refused', async () => {
    const vault = client(server);
    const a = account();
    await vault.register({ account: a, password: 'right', backupKey: randomKey() });
    const errors = await Promise.all(
      Array.from({ length: 50 }, (_, i) => errorOf(vault.recover({ account: a, password: `guess ${i}` }))),
    );
    const codes = errors.map((e) => e.code);
    expect(codes.filter((c) => c === 'WRONG_PASSWORD')).toHaveLength(10);
    expect(codes.filter((c) => c === 'VAULT_LOCKED')).toHaveLength(40);
    const stored = (await server.store.getAccount(a))!;
    expect(stored).toMatchObject({ status: 'locked', remaining: 0 });
    expect(stored.sealedKey).toBeUndefined();
    expect((await errorOf(vault.recover({ account: a, password: 'right' }))).code).toBe('VAULT_LOCKED');
  });

  it('50 concurrent KE1s count exactly to the limit before any KE2 is sent', async () => {
    const vault = client(server);
    const a = account();
    await vault.register({ account: a, password: 'right', backupKey: randomKey() });
    const answers = await Promise.all(
      Array.from({ length: 50 }, () =>
        post(server.url, 'login/start', { account: a, ke1: toBase64url(startLogin('guess').ke1) }),
      ),
    );
    const accepted = answers.filter((r) => r.status === 200);
    expect(accepted).toHaveLength(10);
    expect(answers.filter((r) => r.status === 423 && r.json['error'].code === 'VAULT_LOCKED')).toHaveLength(
      40,
    );
    expect(new Set(accepted.map((r) => r.json['remainingAttempts']))).toEqual(
      new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    );
    // The counter is spent, but the ten counted attempts are still pending: nothing destroyed yet.
    expect((await server.store.getAccount(a))!).toMatchObject({ remaining: 0, status: 'active' });
    const finishes = await Promise.all(
      accepted.map((r) =>
        post(server.url, 'login/finish', {
          loginId: r.json['loginId'],
          ke3: toBase64url(new Uint8Array(64)),
        }),
      ),
    );
    for (const f of finishes) {
      expect(f.status).toBe(401);
      expect(f.json['error']).toMatchObject({ code: 'WRONG_PASSWORD', remainingAttempts: 0 });
    }
    expect((await server.store.getAccount(a))!.status).toBe('locked');
  });

  it('unknown accounts answer like wrong passwords (fake record), down to a lockout', async () => {
    const a = account('nobody');
    const real = account();
    await client(server).register({ account: real, password: 'right', backupKey: randomKey() });
    const fake = await post(server.url, 'login/start', { account: a, ke1: toBase64url(startLogin('x').ke1) });
    const genuine = await post(server.url, 'login/start', {
      account: real,
      ke1: toBase64url(startLogin('x').ke1),
    });
    expect(fake.status).toBe(200);
    expect(Object.keys(fake.json).sort()).toEqual(Object.keys(genuine.json).sort());
    expect(fromBase64url(fake.json['ke2'])).toHaveLength(320);
    expect(fake.json['remainingAttempts']).toBe(genuine.json['remainingAttempts']);
    expect(fake.json['ksf']).toEqual(server.service.limits.ksfDefaults);
    const finish = await post(server.url, 'login/finish', {
      loginId: fake.json['loginId'],
      ke3: toBase64url(new Uint8Array(64)),
    });
    expect(finish.status).toBe(401);
    expect(finish.json['error']).toMatchObject({ code: 'WRONG_PASSWORD', remainingAttempts: 9 });

    const vault = client(server);
    for (let i = 8; i >= 0; i--) {
      const err = await errorOf(vault.recover({ account: a, password: 'anything' }));
      expect(err.code).toBe('WRONG_PASSWORD');
      expect(err.remainingAttempts).toBe(i);
    }
    expect((await errorOf(vault.recover({ account: a, password: 'anything' }))).code).toBe('VAULT_LOCKED');
    expect(await server.store.getAccount(a)).toBeUndefined(); // nothing was stored for it
  });

  it('a replayed KE3 and an unknown login id are refused with 409', async () => {
    const a = account();
    const password = 'right';
    await client(server).register({ account: a, password, backupKey: randomKey() });
    const { ke1, state } = startLogin(password);
    const start = await post(server.url, 'login/start', { account: a, ke1: toBase64url(ke1) });
    const { finishLogin } = await import('../../src/vault/protocol.js');
    const { ke3 } = await finishLogin({
      state,
      account: a,
      ke2: fromBase64url(start.json['ke2'])!,
      ksf: start.json['ksf'],
    });
    const body = { loginId: start.json['loginId'], ke3: toBase64url(ke3) };
    const first = await post(server.url, 'login/finish', body);
    expect(first.status).toBe(200);
    expect(fromBase64url(first.json['sealedKey'])).toHaveLength(60);
    const replay = await post(server.url, 'login/finish', body);
    expect(replay.status).toBe(409);
    expect(replay.json['error'].code).toBe('VAULT_PROTOCOL');
    const unknown = await post(server.url, 'login/finish', {
      ...body,
      loginId: toBase64url(new Uint8Array(16)),
    });
    expect(unknown.status).toBe(409);
  });

  it('malformed and unexpected requests get 4xx JSON errors with codes', async () => {
    const a = account();
    const backupKey = randomKey();
    await client(server).register({ account: a, password: 'pw', backupKey });
    const ke1 = toBase64url(serializeKE1(generateKE1(new TextEncoder().encode('pw')).ke1));
    const identity = toBase64url(new Uint8Array(96)); // all-zero KE1: identity elements
    const regReq = toBase64url(startRegistration('pw').registrationRequest);
    const cases: [string, unknown, number, string][] = [
      ['login/start', 'not json', 400, 'VAULT_PROTOCOL'],
      ['login/start', '[1,2]', 400, 'VAULT_PROTOCOL'],
      ['login/start', { account: a }, 400, 'VAULT_PROTOCOL'],
      ['login/start', { account: a, ke1, extra: 1 }, 400, 'VAULT_PROTOCOL'],
      ['login/start', { account: a, ke1: `${ke1}=` }, 400, 'VAULT_PROTOCOL'],
      // Standard base64's '+' is not in the URL-safe alphabet (always present: the first character).
      ['login/start', { account: a, ke1: `+${ke1.slice(1)}` }, 400, 'VAULT_PROTOCOL'],
      ['login/start', { account: a, ke1: ke1.slice(0, -4) }, 400, 'VAULT_PROTOCOL'],
      ['login/start', { account: a, ke1: identity }, 400, 'VAULT_PROTOCOL'],
      // Account names outside the profile (SPEC.md §9.1): typed, before anything is counted.
      ['login/start', { account: '', ke1 }, 400, 'INVALID_ARGUMENT'],
      ['login/start', { account: 'a\u0000b', ke1 }, 400, 'INVALID_ARGUMENT'],
      ['login/start', { account: 'cafe\u0301', ke1 }, 400, 'INVALID_ARGUMENT'],
      ['login/start', { account: 'x'.repeat(257), ke1 }, 400, 'INVALID_ARGUMENT'],
      ['login/start', { account: 42, ke1 }, 400, 'INVALID_ARGUMENT'],
      ['login/start', { account: 'a\u200bb', ke1 }, 400, 'INVALID_ARGUMENT'],
      ['register/start', { account: 'a\u200bb', registrationRequest: regReq }, 400, 'INVALID_ARGUMENT'],
      [
        'delete',
        { account: 'a\u00a0b', deviceCredential: toBase64url(new Uint8Array(32)) },
        400,
        'INVALID_ARGUMENT',
      ],
      ['login/finish', { loginId: 'short', ke3: toBase64url(new Uint8Array(64)) }, 400, 'VAULT_PROTOCOL'],
      ['login/finish', { loginId: toBase64url(new Uint8Array(16)), ke3: 'AAAA' }, 400, 'VAULT_PROTOCOL'],
      ['login/abort', { loginId: toBase64url(new Uint8Array(16)) }, 409, 'VAULT_PROTOCOL'],
      [
        'register/start',
        { account: a, registrationRequest: toBase64url(new Uint8Array(32)) },
        400,
        'VAULT_PROTOCOL',
      ],
      [
        'register/finish',
        {
          registrationId: toBase64url(new Uint8Array(16)),
          account: a,
          mode: 'register',
          registrationRecord: toBase64url(new Uint8Array(192)),
          sealedKey: toBase64url(new Uint8Array(60)),
          deviceCredential: toBase64url(new Uint8Array(32)),
          ksf: CHEAP_KSF,
        },
        400, // the all-zero record's client public key is the identity element
        'VAULT_PROTOCOL',
      ],
      ['delete', { account: a, deviceCredential: toBase64url(new Uint8Array(31)) }, 400, 'VAULT_PROTOCOL'],
      ['delete', { account: a, deviceCredential: toBase64url(new Uint8Array(32)) }, 403, 'UNAUTHORIZED'],
      ['nonsense', {}, 404, 'VAULT_PROTOCOL'],
    ];
    for (const [path, body, status, code] of cases) {
      const r = await post(server.url, path, body);
      expect({ path, body, status: r.status, code: r.json['error']?.code }).toEqual({
        path,
        body,
        status,
        code,
      });
      expect(typeof r.json['error'].message).toBe('string');
    }
    // The registration start with a valid request works (the cases above were refused for their content).
    expect(
      (await post(server.url, 'register/start', { account: a, registrationRequest: regReq })).status,
    ).toBe(200);

    const big = await post(server.url, 'login/start', { account: a, ke1: 'A'.repeat(9000) });
    expect(big.status).toBe(413);
    expect(big.json['error'].code).toBe('VAULT_PROTOCOL');
    const text = await fetch(`${server.url}/v1/login/start`, { method: 'POST', body: '{}' });
    expect(text.status).toBe(415);
    const get = await fetch(`${server.url}/v1/login/start`);
    expect(get.status).toBe(404);
    // None of these reached the counter.
    expect((await server.store.getAccount(a))!.remaining).toBe(10);
  });

  it('register/finish checks the registration id, its account, the mode and the KSF', async () => {
    const a = account();
    const vault = client(server);
    await vault.register({ account: a, password: 'pw', backupKey: randomKey() });
    const start = await post(server.url, 'register/start', {
      account: a,
      registrationRequest: toBase64url(startRegistration('pw').registrationRequest),
    });
    const { registrationId } = start.json;
    const base = {
      registrationId,
      account: a,
      mode: 'register',
      registrationRecord: '',
      sealedKey: toBase64url(new Uint8Array(60)),
      deviceSalt: toBase64url(randomKey()),
      deviceVerifier: toBase64url(new Uint8Array(32)),
      deviceCredential: toBase64url(new Uint8Array(32)),
      ksf: CHEAP_KSF,
    };
    // A structurally valid record: reuse the stored one.
    base.registrationRecord = toBase64url((await server.store.getAccount(a))!.record!);
    expect((await post(server.url, 'register/finish', { ...base, mode: 'upsert' })).status).toBe(400);
    const { deviceSalt: _s, ...noSalt } = base;
    expect((await post(server.url, 'register/finish', noSalt)).json['error'].code).toBe('VAULT_PROTOCOL');
    const shortSalt = await post(server.url, 'register/finish', {
      ...base,
      deviceSalt: toBase64url(new Uint8Array(31)),
    });
    expect(shortSalt.json['error'].code).toBe('VAULT_PROTOCOL');
    const badKsf = await post(server.url, 'register/finish', {
      ...base,
      ksf: { ...CHEAP_KSF, algorithm: 'scrypt' },
    });
    expect(badKsf.json['error'].code).toBe('KDF_PARAMS');
    const hugeKsf = await post(server.url, 'register/finish', { ...base, ksf: { ...CHEAP_KSF, m: 2 ** 31 } });
    expect(hugeKsf.json['error'].code).toBe('KDF_PARAMS');
    const otherAccount = await post(server.url, 'register/finish', { ...base, account: account() });
    expect(otherAccount.status).toBe(409); // and the registration is used up
    expect((await post(server.url, 'register/finish', base)).status).toBe(409);
  });

  it('register/finish refuses a device salt that would not rotate the credential', async () => {
    const a = account();
    const backupKey = randomKey();
    await client(server).register({ account: a, password: 'pw', backupKey });
    const before = (await server.store.getAccount(a))!;
    /** A real replacement by the key's holder, with `deviceSalt` as given. */
    const replaceWith = async (deviceSalt: Uint8Array) => {
      const { registrationRequest, state } = startRegistration('pw2');
      const start = await post(server.url, 'register/start', {
        account: a,
        registrationRequest: toBase64url(registrationRequest),
      });
      const upload = await finishRegistration({
        state,
        account: a,
        registrationResponse: fromBase64url(start.json['registrationResponse'])!,
        backupKey,
        currentDeviceSalt: before.deviceSalt,
        ksf: CHEAP_KSF,
        kdfOptions: { allowWeak: true },
      });
      return post(server.url, 'register/finish', {
        registrationId: start.json['registrationId'],
        account: a,
        mode: 'reset',
        registrationRecord: toBase64url(upload.registrationRecord),
        sealedKey: toBase64url(upload.sealedKey),
        deviceSalt: toBase64url(deviceSalt),
        deviceVerifier: toBase64url(upload.deviceVerifier),
        deviceCredential: toBase64url(upload.deviceCredential!),
        ksf: upload.ksf,
      });
    };
    // The same salt: the captured credential of the current record would stay valid.
    const reused = await replaceWith(before.deviceSalt!);
    expect(reused.status).toBe(400);
    expect(reused.json['error']).toMatchObject({ code: 'VAULT_PROTOCOL' });
    expect(reused.json['error'].message).toMatch(/device salt/);
    // All zeros: the empty salt to HKDF-SHA512, one fixed credential per key and account.
    const zeros = await replaceWith(new Uint8Array(32));
    expect(zeros.status).toBe(400);
    expect(zeros.json['error'].message).toMatch(/all zeros/);
    expect((await server.store.getAccount(a))!.generation).toBe(before.generation);
    expect((await replaceWith(randomKey())).status).toBe(200);
  });

  it('the client pins the server key when asked', async () => {
    const info = await client(server).info();
    const pinned = client(server, { serverPublicKey: info.serverPublicKey });
    await pinned.register({ account: account(), password: 'pw', backupKey: randomKey() });
    const other = info.serverPublicKey.slice();
    other[0]! ^= 1;
    const err = await errorOf(
      client(server, { serverPublicKey: toBase64url(other) }).register({
        account: account(),
        password: 'pw',
        backupKey: randomKey(),
      }),
    );
    expect(err.code).toBe('SERVER_AUTH');
  });

  it('client-side errors: bad arguments, unreachable server', async () => {
    const vault = client(server);
    expect((await errorOf(vault.recover({ account: '', password: 'x' }))).code).toBe('INVALID_ARGUMENT');
    expect((await errorOf(vault.recover({ account: 'a', password: '' }))).code).toBe('INVALID_ARGUMENT');
    expect(
      (await errorOf(vault.register({ account: 'a', password: 'x', backupKey: new Uint8Array(31) }))).code,
    ).toBe('INVALID_KEY_SIZE');
    const weak = createVaultClient(server.url, { ksf: CHEAP_KSF });
    expect(
      (await errorOf(weak.register({ account: account(), password: 'x', backupKey: randomKey() }))).code,
    ).toBe('KDF_PARAMS');
    const down = createVaultClient('http://127.0.0.1:9/', cheapClient);
    const err = await errorOf(down.recover({ account: 'a', password: 'x' }));
    expect(err.code).toBe('VAULT_UNAVAILABLE');
  });
});

describe('the vault server process', () => {
  afterEach(async () => {
    while (running.length) await running.pop()!.close();
  });

  it('creates the key file with mode 0600 and reuses it', async () => {
    const dir = tempDir();
    try {
      const file = join(dir.dir, 'keys.json');
      const s1 = await start({ keyFile: file, dbPath: join(dir.dir, 'v.sqlite') });
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const content = readFileSync(file, 'utf8');
      expect(JSON.parse(content)).toMatchObject({ format: 'e2ee-backup vault keys', version: 1 });
      const key1 = (await client(s1).info()).serverPublicKey;
      await s1.close();
      const s2 = await start({ keyFile: file, dbPath: join(dir.dir, 'v.sqlite') });
      expect(readFileSync(file, 'utf8')).toBe(content);
      expect((await client(s2).info()).serverPublicKey).toEqual(key1);
    } finally {
      dir.cleanup();
    }
  });

  it('refuses a key file others can read, and a malformed one', async () => {
    const dir = tempDir();
    try {
      const { chmodSync, writeFileSync } = await import('node:fs');
      const file = join(dir.dir, 'keys.json');
      const s = await start({ keyFile: file, dbPath: ':memory:' });
      await s.close();
      chmodSync(file, 0o644);
      const open = await errorOf(startVaultServer({ keyFile: file, dbPath: ':memory:' }));
      expect(open.message).toMatch(/chmod 600/);
      writeFileSync(file, '{"format":"e2ee-backup vault keys","version":1}', { mode: 0o600 });
      chmodSync(file, 0o600);
      expect((await errorOf(startVaultServer({ keyFile: file, dbPath: ':memory:' }))).code).toBe(
        'INVALID_ARGUMENT',
      );
    } finally {
      dir.cleanup();
    }
  });

  it('two servers starting together on a new key file share one set of keys', async () => {
    const dir = tempDir();
    try {
      const file = join(dir.dir, 'keys.json');
      const [a, b] = await Promise.all([
        start({ keyFile: file, dbPath: ':memory:' }),
        start({ keyFile: file, dbPath: ':memory:' }),
      ]);
      expect((await client(a).info()).serverPublicKey).toEqual((await client(b).info()).serverPublicKey);
    } finally {
      dir.cleanup();
    }
  });

  it('the lockout survives a restart (SQLite file)', async () => {
    const dir = tempDir();
    try {
      const options = { keyFile: join(dir.dir, 'k.json'), dbPath: join(dir.dir, 'v.sqlite') };
      const a = account();
      const backupKey = randomKey();
      const s1 = await start(options);
      await client(s1).register({ account: a, password: 'right', backupKey });
      const before = (await s1.store.getAccount(a))!;
      for (let i = 0; i < 4; i++) await errorOf(client(s1).recover({ account: a, password: 'wrong' }));
      await s1.close();
      // The count survives too, not just the final lockout.
      const s2 = await start(options);
      expect((await errorOf(client(s2).recover({ account: a, password: 'wrong' }))).remainingAttempts).toBe(
        5,
      );
      for (let i = 0; i < 5; i++) await errorOf(client(s2).recover({ account: a, password: 'wrong' }));
      await s2.close();
      const s3 = await start(options);
      expect((await errorOf(client(s3).recover({ account: a, password: 'right' }))).code).toBe(
        'VAULT_LOCKED',
      );
      const stored = (await s3.store.getAccount(a))!;
      expect(stored.status).toBe('locked');
      expect(stored.sealedKey).toBeUndefined();
      // The destroyed bytes are gone from the files too (secure_delete, WAL checkpointed).
      await s3.close();
      const { existsSync } = await import('node:fs');
      for (const f of [options.dbPath, `${options.dbPath}-wal`]) {
        if (!existsSync(f)) continue;
        const bytes = readFileSync(f);
        expect(bytes.includes(Buffer.from(before.sealedKey!))).toBe(false);
        expect(bytes.includes(Buffer.from(before.record!))).toBe(false);
      }
    } finally {
      dir.cleanup();
    }
  });

  it('a copy of the database is useless without the key file (OPRF seed)', async () => {
    const dir = tempDir();
    try {
      const a = account();
      const backupKey = randomKey();
      const s1 = await start({ keyFile: join(dir.dir, 'k1.json'), dbPath: join(dir.dir, 'v1.sqlite') });
      await client(s1).register({ account: a, password: 'right', backupKey });
      await s1.close();
      copyFileSync(join(dir.dir, 'v1.sqlite'), join(dir.dir, 'v2.sqlite'));
      const s2 = await start({ keyFile: join(dir.dir, 'k2.json'), dbPath: join(dir.dir, 'v2.sqlite') });
      // Same record, other OPRF key: even the right password cannot open the envelope.
      expect((await errorOf(client(s2).recover({ account: a, password: 'right' }))).code).toBe(
        'WRONG_PASSWORD',
      );
    } finally {
      dir.cleanup();
    }
  });

  it('logins expire, and abandoned last attempts are destroyed by housekeeping', async () => {
    let clock = 1_800_000_000_000;
    const s = await start({ dbPath: ':memory:', now: () => clock });
    const a = account();
    await client(s).register({ account: a, password: 'right', backupKey: randomKey() });
    const start1 = await post(s.url, 'login/start', { account: a, ke1: toBase64url(startLogin('x').ke1) });
    clock += 61_000;
    const late = await post(s.url, 'login/finish', {
      loginId: start1.json['loginId'],
      ke3: toBase64url(new Uint8Array(64)),
    });
    expect(late.status).toBe(409);
    // Nine more started and abandoned: the counter is spent but the record waits for them.
    for (let i = 0; i < 9; i++) {
      await post(s.url, 'login/start', { account: a, ke1: toBase64url(startLogin('x').ke1) });
    }
    expect((await s.store.getAccount(a))!).toMatchObject({ remaining: 0, status: 'active' });
    expect(await s.service.sweep()).toBe(0);
    clock += 61_000;
    expect(await s.service.sweep()).toBe(1);
    expect((await s.store.getAccount(a))!.status).toBe('locked');
  });

  it('rate limits per account and per address answer 429 with Retry-After', async () => {
    const s = await start({
      dbPath: ':memory:',
      limits: { ...testLimits, perAccount: { capacity: 2, refillPerSecond: 0.01 } },
    });
    const a = account();
    const ke1 = () => toBase64url(startLogin('x').ke1);
    expect((await post(s.url, 'login/start', { account: a, ke1: ke1() })).status).toBe(200);
    expect((await post(s.url, 'login/start', { account: a, ke1: ke1() })).status).toBe(200);
    const limited = await post(s.url, 'login/start', { account: a, ke1: ke1() });
    expect(limited.status).toBe(429);
    expect(limited.json['error']).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 100 });
    expect(limited.headers.get('retry-after')).toBe('100');
    expect((await post(s.url, 'login/start', { account: account(), ke1: ke1() })).status).toBe(200);
    const err = await errorOf(client(s).recover({ account: a, password: 'x' }));
    expect(err.code).toBe('RATE_LIMITED');
    expect(err.retryAfterSeconds).toBe(100);
    await s.close();

    const s2 = await start({
      dbPath: ':memory:',
      limits: { ...testLimits, perAddress: { capacity: 3, refillPerSecond: 0.5 } },
    });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetch(`${s2.url}/v1/info`)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it('authorize gates every operation that names an account', async () => {
    const s = await start({
      dbPath: ':memory:',
      authorize: ({ account: a, context }) => context.headers?.get('x-session') === `session-of-${a}`,
    });
    const a = account();
    const backupKey = randomKey();
    const anonymous = await errorOf(client(s).register({ account: a, password: 'pw', backupKey }));
    expect(anonymous.code).toBe('UNAUTHORIZED');
    expect(anonymous.status).toBe(401);
    const owner = client(s, { headers: () => ({ 'x-session': `session-of-${a}` }) });
    await owner.register({ account: a, password: 'pw', backupKey });
    expect(await owner.recover({ account: a, password: 'pw' })).toEqual(backupKey);
    expect((await errorOf(client(s).recover({ account: a, password: 'pw' }))).code).toBe('UNAUTHORIZED');
    expect((await s.store.getAccount(a))!.remaining).toBe(10); // refused before counting
    // A live record needs its device credential, whatever the gate says.
    expect((await errorOf(owner.register({ account: a, password: 'pw', backupKey: randomKey() }))).code).toBe(
      'UNAUTHORIZED',
    );
  });

  it('a tombstone override takes an explicit approval: true from an ordinary gate is not one', async () => {
    const asked: { op: string; tombstoneOverride?: true }[] = [];
    let approveOverrides = false;
    const s = await start({
      dbPath: ':memory:',
      authorize: ({ op, account: a, context, tombstoneOverride }) => {
        asked.push({ op, ...(tombstoneOverride ? { tombstoneOverride } : {}) });
        if (context.headers?.get('x-session') !== `session-of-${a}`) return false;
        return tombstoneOverride && approveOverrides ? 'override-tombstone' : true;
      },
    });
    const a = account();
    const owner = client(s, { headers: () => ({ 'x-session': `session-of-${a}` }) });
    const backupKey = randomKey();
    await owner.register({ account: a, password: 'pw', backupKey });
    expect(asked.some((q) => q.tombstoneOverride)).toBe(false); // nothing to override
    for (let i = 0; i < 10; i++) await errorOf(owner.recover({ account: a, password: `wrong ${i}` }));
    expect((await s.store.getAccount(a))!.status).toBe('locked');

    // A new device without the old key: the gate answers true to everything, which is not an
    // approval of an override; it was asked, and told what it was asked.
    asked.length = 0;
    const newKey = randomKey();
    const refused = await errorOf(owner.register({ account: a, password: 'pw', backupKey: newKey }));
    expect(refused.code).toBe('UNAUTHORIZED');
    expect(refused.status).toBe(403);
    expect(asked).toContainEqual({ op: 'register/finish', tombstoneOverride: true });
    expect((await s.store.getAccount(a))!.status).toBe('locked');

    // The deployment approves it explicitly: the owner starts over under the name.
    approveOverrides = true;
    expect(await owner.register({ account: a, password: 'pw', backupKey: newKey })).toBe('created');
    expect(await owner.recover({ account: a, password: 'pw' })).toEqual(newKey);
    // The original device, holding the tombstone's credential, needs no override.
    approveOverrides = false;
    for (let i = 0; i < 10; i++) await errorOf(owner.recover({ account: a, password: `wrong ${i}` }));
    asked.length = 0;
    expect(await owner.register({ account: a, password: 'pw', backupKey: newKey })).toBe('created');
    expect(asked.some((q) => q.tombstoneOverride)).toBe(false);
  });

  it('logs one event per request and nothing secret', async () => {
    const events: VaultLogEvent[] = [];
    const s = await start({ dbPath: ':memory:', log: (e) => events.push(e) });
    const vault = client(s);
    const a = account('logged');
    const password = 'hunter2-secret-password';
    const backupKey = randomKey();
    await vault.register({ account: a, password, backupKey });
    await vault.recover({ account: a, password });
    await errorOf(vault.recover({ account: a, password: 'wrong-secret' }));
    await vault.delete({ account: a, backupKey });
    const ops = events.map((e) => `${e.op} ${e.status}`);
    expect(ops).toEqual([
      'device-salt 404',
      'register/start 200',
      'register/finish 201',
      'login/start 200',
      'login/finish 200',
      'login/start 200',
      'login/abort 200',
      'device-salt 200',
      'delete 200',
    ]);
    const text = JSON.stringify(events);
    expect(text).not.toContain(password);
    expect(text).not.toContain('wrong-secret');
    expect(text).not.toContain(a); // accounts appear only as a short hash
    expect(text).not.toContain(toBase64url(backupKey));
    for (const e of events) {
      expect(
        Object.keys(e).every((k) =>
          ['op', 'status', 'code', 'accountTag', 'remainingAttempts', 'detail'].includes(k),
        ),
      ).toBe(true);
      if (e.accountTag) expect(e.accountTag).toMatch(/^[0-9a-f]{12}$/);
    }
  });
});
