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
