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
    const server = await import('../src/vault/server-node.js');
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
      ['key', await import('../src/key.js')],
      ['kdf', await import('../src/kdf.js')],
      ['chunked', await import('../src/chunked.js')],
      ['node', await import('../src/node.js')],
      ['lifecycle', await import('../src/lifecycle.js')],
    ];
    for (const [entry, mod] of entries)
      for (const name of Object.keys(mod))
        expect(name, `${entry}: ${name}`).not.toMatch(/Deterministic|identityKsf/);
  });
});
