/** The vault client's own pieces: its error class. */
import { describe, expect, it, vi } from 'vitest';
import { E2EEError } from '../../src/errors.js';
import { VaultError } from '../../src/vault/client.js';

describe('VaultError', () => {
  it('instanceof VaultError holds for vault errors only', () => {
    const vault = new VaultError('WRONG_PASSWORD', 'wrong password', { remainingAttempts: 3 });
    expect(vault instanceof VaultError).toBe(true);
    expect(vault instanceof E2EEError).toBe(true);
    for (const other of [
      new E2EEError('IO', 'x'),
      new E2EEError('WRONG_PASSWORD', 'a backup password'),
      new Error('x'),
      { code: 'WRONG_PASSWORD' },
      null,
      'VaultError',
    ]) {
      expect(other instanceof VaultError).toBe(false);
    }
    expect(new E2EEError('IO', 'x') instanceof E2EEError).toBe(true);
  });

  it('holds across two copies of the module (a duplicated package, the ESM and CommonJS builds)', async () => {
    vi.resetModules();
    const copy = await import('../../src/vault/client.js');
    const errors = await import('../../src/errors.js');
    expect(copy.VaultError).not.toBe(VaultError);
    expect(new copy.VaultError('VAULT_LOCKED', 'x') instanceof VaultError).toBe(true);
    expect(new VaultError('VAULT_LOCKED', 'x') instanceof copy.VaultError).toBe(true);
    expect(new copy.VaultError('VAULT_LOCKED', 'x') instanceof E2EEError).toBe(true);
    expect(new errors.E2EEError('IO', 'x') instanceof VaultError).toBe(false);
    expect(new E2EEError('IO', 'x') instanceof copy.VaultError).toBe(false);
  });
});

describe('e2ee-backup/vault, the client entry', () => {
  const SERVER_EXPORTS = [
    'createVaultService',
    'createMemoryVaultStore',
    'DEFAULT_VAULT_LIMITS',
    'VAULT_HTTP_STATUS',
    'CLAIMED_LOGIN_GRACE_MS',
    'TokenBuckets',
    'generateVaultKeyFile',
    'parseVaultKeyFile',
    'staticKeyProvider',
    'createRegistrationResponse',
    'generateKE2',
    'generateFakeKE2',
    'serverFinish',
    'serverKeysFromSeed',
    'generateServerKeys',
    'createFakeRecord',
    'deriveOprfKey',
    'fakeCredentialIdentifier',
  ];

  it('exports no server code; e2ee-backup/vault/server has it', async () => {
    const client = await import('../../src/vault/index.js');
    const server = await import('../../src/vault/server/index.js');
    expect(SERVER_EXPORTS.filter((name) => name in client)).toEqual([]);
    expect(SERVER_EXPORTS.filter((name) => !(name in server))).toEqual([]);
    expect(typeof client.createVaultClient).toBe('function');
    expect(typeof client.startRegistration).toBe('function');
  });

  it('bundles without any server module', async () => {
    const { build } = await import('esbuild');
    const result = await build({
      entryPoints: [new URL('../../src/vault/index.ts', import.meta.url).pathname],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(
      inputs.filter((i) => /src\/vault\/(service|store[-\w]*|keys|rate-limit|server[-\w]*)\.ts$/.test(i)),
    ).toEqual([]);
  });
});

describe('account names', () => {
  it('the client refuses a name outside the profile before sending anything', async () => {
    const { createVaultClient } = await import('../../src/vault/client.js');
    let requests = 0;
    const vault = createVaultClient('http://127.0.0.1:9', {
      fetch: async () => {
        requests++;
        throw new Error('no request expected');
      },
    });
    const key = new Uint8Array(32);
    for (const account of ['a\u200bb', 'a\u00a0b', ' a']) {
      for (const call of [
        vault.register({ account, password: 'correct horse', backupKey: key }),
        vault.recover({ account, password: 'correct horse' }),
        vault.resetPassword({ account, backupKey: key, newPassword: 'correct horse' }),
        vault.delete({ account, backupKey: key }),
      ]) {
        await expect(call).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      }
    }
    expect(requests).toBe(0);
  });
});

describe('what the client sends to which server', () => {
  /** A vault service in this process, behind a fetch that records each request and can rewrite answers. */
  async function inProcess(rewrite: (op: string, body: unknown) => unknown = (_op, body) => body) {
    const { createVaultService } = await import('../../src/vault/server/service.js');
    const { createMemoryVaultStore } = await import('../../src/vault/server/store/memory.js');
    const { generateVaultKeyFile, parseVaultKeyFile, staticKeyProvider } = await import(
      '../../src/vault/server/keys.js'
    );
    const service = createVaultService({
      store: createMemoryVaultStore(),
      keys: staticKeyProvider(parseVaultKeyFile(generateVaultKeyFile())),
      limits: { allowWeakKsf: true, perAccount: false, perAddress: false },
    });
    const seen: string[] = [];
    const fetch = (async (url: URL, init: RequestInit) => {
      const op = new URL(url).pathname.replace(/^\/v1\//, '');
      const body = init.body ? JSON.parse(String(init.body)) : undefined;
      seen.push(
        `${op}${body?.deviceCredential ? ' +credential' : ''}${body?.registrationRecord ? ' +record' : ''}`,
      );
      const r = await service.handle(op as never, body);
      return new Response(JSON.stringify(rewrite(op, r.body)), { status: r.status, headers: r.headers });
    }) as typeof globalThis.fetch;
    return { service, seen, fetch };
  }
  const cheap = { ksf: { m: 64, t: 1, p: 1 }, allowWeakKsf: true } as const;
  const key = new Uint8Array(32).fill(7);

  it('with a pinned key, every method asks /v1/info first and sends nothing for the account to another key', async () => {
    const { createVaultClient } = await import('../../src/vault/client.js');
    const v = await inProcess();
    const owner = createVaultClient('https://vault.example', { fetch: v.fetch, ...cheap });
    await owner.register({ account: 'bob', password: 'x correct horse', backupKey: key });
    const right = (await owner.info()).serverPublicKey;
    const wrong = new Uint8Array(32).fill(1);

    v.seen.length = 0;
    const pinnedWrong = createVaultClient('https://vault.example', {
      fetch: v.fetch,
      serverPublicKey: wrong,
      ...cheap,
    });
    for (const call of [
      pinnedWrong.delete({ account: 'bob', backupKey: key }),
      pinnedWrong.resetPassword({ account: 'bob', backupKey: key, newPassword: 'y correct horse' }),
      pinnedWrong.register({ account: 'bob', password: 'y correct horse', backupKey: key }),
      pinnedWrong.changePassword({
        account: 'bob',
        oldPassword: 'x correct horse',
        newPassword: 'y correct horse',
      }),
      pinnedWrong.recover({ account: 'bob', password: 'x correct horse' }),
    ]) {
      await expect(call).rejects.toMatchObject({ code: 'SERVER_AUTH' });
    }
    expect(v.seen).toEqual(['info', 'info', 'info', 'info', 'info']);

    // The right key: the same calls go through, each after its check.
    v.seen.length = 0;
    const pinned = createVaultClient('https://vault.example', {
      fetch: v.fetch,
      serverPublicKey: right,
      ...cheap,
    });
    await pinned.resetPassword({ account: 'bob', backupKey: key, newPassword: 'y correct horse' });
    expect(v.seen).toEqual(['info', 'device-salt', 'register/start', 'register/finish +credential +record']);
    v.seen.length = 0;
    await pinned.delete({ account: 'bob', backupKey: key });
    expect(v.seen).toEqual(['info', 'device-salt', 'delete +credential']);
  });

  it('a pinned key does not authenticate: an impostor that copies it takes the registration (SPEC.md §9.1)', async () => {
    // What the docs say the pin cannot do, kept true by a test: only the channel stops this.
    const { createVaultClient } = await import('../../src/vault/client.js');
    const { createVaultService } = await import('../../src/vault/server/service.js');
    const { createMemoryVaultStore } = await import('../../src/vault/server/store/memory.js');
    const keys = await import('../../src/vault/server/keys.js');
    const real = await inProcess();
    const realKey = (await createVaultClient('https://v', { fetch: real.fetch }).info()).serverPublicKey;
    const own = keys.parseVaultKeyFile(keys.generateVaultKeyFile());
    const impostor = createVaultService({
      store: createMemoryVaultStore(),
      keys: keys.staticKeyProvider({ ...own, serverKeys: { ...own.serverKeys, publicKey: realKey } }),
      limits: { allowWeakKsf: true, perAccount: false, perAddress: false },
    });
    const toImpostor = (async (url: URL, init: RequestInit) => {
      const r = await impostor.handle(
        new URL(url).pathname.replace(/^\/v1\//, '') as never,
        init.body ? JSON.parse(String(init.body)) : undefined,
      );
      return new Response(JSON.stringify(r.body), { status: r.status });
    }) as typeof globalThis.fetch;
    const victim = createVaultClient('https://vault.example', {
      fetch: toImpostor,
      serverPublicKey: realKey,
      ...cheap,
    });
    expect(await victim.register({ account: 'dave', password: 'tr0ub4dor&3 horse', backupKey: key })).toBe(
      'created',
    );
    // The impostor tests guesses against the record it was sent: the right one opens the envelope
    // (SERVER_AUTH: only the real private key could finish the login), wrong ones do not.
    const guess = createVaultClient('https://vault.example', {
      fetch: toImpostor,
      ...cheap,
      kdfMaxima: { m: 64, t: 1, p: 1 },
    });
    await expect(guess.recover({ account: 'dave', password: 'letmein' })).rejects.toMatchObject({
      code: 'WRONG_PASSWORD',
    });
    await expect(guess.recover({ account: 'dave', password: 'tr0ub4dor&3 horse' })).rejects.toMatchObject({
      code: 'SERVER_AUTH',
    });
  });

  it('an empty or all-zero device salt gets no credential: it would be the same for every registration', async () => {
    const { createVaultClient } = await import('../../src/vault/client.js');
    const { toBase64url } = await import('../../src/vault/base64url.js');
    for (const salt of [new Uint8Array(0), new Uint8Array(32)]) {
      const v = await inProcess((op, body) =>
        op === 'device-salt' && (body as { deviceSalt?: string }).deviceSalt
          ? { deviceSalt: toBase64url(salt) }
          : body,
      );
      const vault = createVaultClient('https://vault.example', { fetch: v.fetch, ...cheap });
      await vault.register({ account: 'carol', password: 'x correct horse', backupKey: key });
      v.seen.length = 0;
      for (const call of [
        vault.delete({ account: 'carol', backupKey: key }),
        vault.resetPassword({ account: 'carol', backupKey: key, newPassword: 'y correct horse' }),
        vault.register({ account: 'carol', password: 'y correct horse', backupKey: key }),
      ]) {
        await expect(call).rejects.toMatchObject({ code: 'VAULT_PROTOCOL' });
      }
      expect(v.seen).toEqual(['device-salt', 'device-salt', 'device-salt']);
    }
  });
});
