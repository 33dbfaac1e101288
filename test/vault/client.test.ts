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
    const server = await import('../../src/vault/server-node.js');
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
