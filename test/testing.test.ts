// The test hooks live in one entry, e2ee-backup/testing, and nowhere else: no public entry
// exports a way to choose a salt, OPAQUE's randomness, or a key-stretching function that does not
// stretch (issue #17).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as testing from '../src/testing.js';

const ROOT = resolve(import.meta.dirname, '..');
const HOOKS = [
  'createRegistrationRequestDeterministic',
  'finalizeRegistrationRequestDeterministic',
  'generateKE1Deterministic',
  'generateKE2Deterministic',
  'generateFakeKE2Deterministic',
  'identityKsf',
];

describe('e2ee-backup/testing', () => {
  it('is an entry of the package, built by tsup, beside the others', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.exports['./testing'].import.default).toBe('./dist/testing.js');
    expect(readFileSync(join(ROOT, 'tsup.config.ts'), 'utf8')).toMatch(/testing: 'src\/testing\.ts'/);
  });

  it('holds the OPAQUE hooks, which the vault entries no longer export', async () => {
    const vault = await import('../src/vault/index.js');
    const server = await import('../src/vault/server/index.js');
    for (const name of HOOKS) {
      expect(name in testing, name).toBe(true);
      expect(name in vault, name).toBe(false);
      expect(name in server, name).toBe(false);
    }
  });

  it('no other entry exports anything that takes a salt, a backend or OPAQUE randomness', async () => {
    const entries: [string, Record<string, unknown>][] = [
      ['index', await import('../src/index.js')],
      ['errors', await import('../src/errors.js')],
      ['key', await import('../src/key/backup-key.js')],
      ['kdf', await import('../src/primitives/kdf.js')],
      ['chunked', await import('../src/cobblestone/chunked.js')],
      ['node', await import('../src/node/files.js')],
      ['lifecycle', await import('../src/lifecycle/lifecycle.js')],
    ];
    for (const [entry, mod] of entries)
      for (const name of Object.keys(mod))
        expect(name, `${entry}: ${name}`).not.toMatch(/Deterministic|identityKsf/);
  });

  it('the resume path’s hooks (an upload’s own file key and salt again) are reachable from no entry', async () => {
    const entries: [string, Record<string, unknown>][] = [
      ['index', await import('../src/index.js')],
      ['chunked', await import('../src/cobblestone/chunked.js')],
      ['node', await import('../src/node/files.js')],
      ['lifecycle', await import('../src/lifecycle/lifecycle.js')],
      ['s3', await import('../src/s3/index.js')],
      ['testing', testing],
    ];
    for (const [entry, mod] of entries)
      for (const [name, value] of Object.entries(mod)) {
        expect(name, `${entry}: ${name}`).not.toMatch(/RESUME|Keying|withSalt|HOOKS|pendingBackups/);
        expect(typeof value, `${entry}: ${name}`).not.toBe('symbol');
      }
  });

  it('encryptBackup looks up no hidden option a caller could learn (a Proxy sees only named keys)', async () => {
    const { encryptBackupBytes } = await import('../src/container/backup.js');
    const seen: PropertyKey[] = [];
    const options = new Proxy({ key: new Uint8Array(32).fill(1) } as Record<PropertyKey, unknown>, {
      get(target, k) {
        seen.push(k);
        return target[k];
      },
      has(target, k) {
        seen.push(k);
        return k in target;
      },
      getOwnPropertyDescriptor(target, k) {
        seen.push(k);
        return Reflect.getOwnPropertyDescriptor(target, k);
      },
    });
    await encryptBackupBytes(new Uint8Array(100), options);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((k) => typeof k === 'symbol')).toEqual([]);
  });
});
