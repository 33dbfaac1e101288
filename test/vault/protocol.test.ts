/** The vault protocol's pure parts: encodings, validation, compositions, rate limits, key files. */

import { hkdfSync } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hkdfExpandSha512 } from '../../src/internal/hashes.js';
import { createAead } from '../../src/primitives/aes-gcm.js';
import { deriveKeyFromPassword } from '../../src/primitives/kdf.js';
import { fromBase64url, toBase64url } from '../../src/vault/base64url.js';
import {
  createRegistrationResponse,
  deserializeKE1,
  deserializeKE3,
  deserializeRegistrationRecord,
  generateKE2,
  generateServerKeys,
  serializeKE2,
  serverFinish,
} from '../../src/vault/opaque/opaque.js';
import {
  accountBytes,
  checkKsfParams,
  createArgon2idKsf,
  deriveDeviceCredential,
  deriveSealKey,
  deviceVerifier,
  fakeCredentialIdentifier,
  finishLogin,
  finishRegistration,
  KSF_SALT,
  newDeviceSalt,
  opaqueOptions,
  openSealedBackupKey,
  passwordBytes,
  SEALED_KEY_BYTES,
  sealBackupKey,
  startLogin,
  startRegistration,
} from '../../src/vault/protocol.js';
import { generateVaultKeyFile, parseVaultKeyFile } from '../../src/vault/server/keys.js';
import { TokenBuckets } from '../../src/vault/server/rate-limit.js';
import {
  decideCommit,
  decideDelete,
  decideFinish,
  overridesTombstone,
} from '../../src/vault/server/store/store.js';
import { CHEAP_KSF, errorOf, randomKey } from './helpers.js';

const enc = (s: string) => new TextEncoder().encode(s);

describe('base64url', () => {
  it('round-trips and matches Node', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const text = toBase64url(bytes);
        expect(text).toBe(Buffer.from(bytes).toString('base64url'));
        expect(fromBase64url(text)).toEqual(bytes);
      }),
    );
  });

  it('accepts only the canonical unpadded spelling', () => {
    for (const bad of ['A', 'AA==', 'AB', 'AAB', 'A+/A', 'AA AA', 'AA\n', 'é', 'AAAAA']) {
      expect(fromBase64url(bad), bad).toBeUndefined();
    }
    expect(fromBase64url('')).toEqual(new Uint8Array(0));
    expect(fromBase64url('AA')).toEqual(Uint8Array.of(0));
    expect(fromBase64url('AAA')).toEqual(Uint8Array.of(0, 0));
    expect(fromBase64url(42 as unknown as string)).toBeUndefined();
  });
});

describe('accounts and passwords', () => {
  it('accounts: the profile of SPEC.md §9.1 (NFC, 1..256 UTF-8 bytes, nothing invisible)', async () => {
    for (const good of [
      'alice@example.com',
      '+33 6 12 34 56 78',
      'Zoë Ålund',
      '李小龍',
      'a😀b',
      'ü'.repeat(128),
    ]) {
      expect(accountBytes(good)).toEqual(enc(good));
    }
    expect(accountBytes('ü'.repeat(128))).toHaveLength(256);
    const refused = [
      '',
      'a\nb',
      'a\u0000',
      'a\u007f',
      'a\u0085', // C1 control
      'cafe\u0301', // not NFC
      '\ud800',
      'ü'.repeat(129),
      'a\u200bb', // zero-width space (Cf)
      'a\u200db', // zero-width joiner (Cf)
      '\u202eevil', // right-to-left override (Cf)
      '\ufeffalice', // byte-order mark (Cf)
      'a\u00a0b', // no-break space
      'a\u3000b', // ideographic space
      'a\u2028b', // line separator (Zl)
      '\u3164', // Hangul filler: default-ignorable, though a letter
      'a\u034fb', // combining grapheme joiner: default-ignorable
      'a\ufe0f', // variation selector
      'a\ue000', // private use (Co)
      'a\u0378', // unassigned (Cn)
      ' alice',
      'alice ',
      7,
      null,
    ];
    for (const bad of refused) {
      expect(() => accountBytes(bad), JSON.stringify(bad)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
    }
    expect(() => accountBytes('ab\u200bc')).toThrow(/U\+200B at position 3/);
  });

  it('passwords: NFC-normalised strings or raw bytes, 1..65535 bytes', () => {
    expect(passwordBytes('e\u0301')).toEqual(passwordBytes('\u00e9'));
    expect(passwordBytes(Uint8Array.of(0, 255))).toEqual(Uint8Array.of(0, 255));
    for (const bad of ['', new Uint8Array(0), '\udc00', 'x'.repeat(65536), 5 as unknown as string]) {
      expect(() => passwordBytes(bad)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });

  it('the fake credential identifier never collides with a real (32-byte) one', () => {
    expect(fakeCredentialIdentifier('a').length).toBeGreaterThan(32);
    expect(fakeCredentialIdentifier('a')).toEqual(fakeCredentialIdentifier('a'));
    expect(fakeCredentialIdentifier('a')).not.toEqual(fakeCredentialIdentifier('b'));
  });
});

describe('compositions (SPEC.md §9)', () => {
  it('seal key = HKDF-Expand-SHA512(export_key, label, 32)', () => {
    const exportKey = crypto.getRandomValues(new Uint8Array(64));
    expect(deriveSealKey(exportKey)).toEqual(
      hkdfExpandSha512(exportKey, enc('e2ee-backup vault seal key v1'), 32),
    );
  });

  it('sealed key: 60 bytes, opens with the same export key only, tamper-evident', async () => {
    const exportKey = crypto.getRandomValues(new Uint8Array(64));
    const backupKey = randomKey();
    const sealed = await sealBackupKey(exportKey, backupKey);
    expect(sealed).toHaveLength(SEALED_KEY_BYTES);
    expect(await openSealedBackupKey(exportKey, sealed)).toEqual(backupKey);
    // Sealed by hand on every AES-GCM backend (nonce ‖ ciphertext ‖ tag, SPEC.md §9.3): the same format.
    for (const backend of ['node', 'webcrypto', 'noble'] as const) {
      const byHand = new Uint8Array(SEALED_KEY_BYTES);
      byHand.set(crypto.getRandomValues(new Uint8Array(12)));
      await (await createAead(deriveSealKey(exportKey), backend)).seal(
        byHand.subarray(0, 12),
        backupKey,
        byHand,
        12,
      );
      expect(await openSealedBackupKey(exportKey, byHand)).toEqual(backupKey);
    }
    const other = exportKey.slice();
    other[0]! ^= 1;
    expect((await errorOf(openSealedBackupKey(other, sealed))).code).toBe('VAULT_PROTOCOL');
    for (const pos of [0, 11, 12, 43, 59]) {
      const bad = sealed.slice();
      bad[pos]! ^= 0x40;
      expect((await errorOf(openSealedBackupKey(exportKey, bad))).code).toBe('VAULT_PROTOCOL');
    }
    expect((await errorOf(openSealedBackupKey(exportKey, sealed.subarray(1)))).code).toBe('VAULT_PROTOCOL');
    expect((await errorOf(sealBackupKey(exportKey, new Uint8Array(16)))).code).toBe('INVALID_KEY_SIZE');
  });

  it('device credential = HKDF-SHA512(device salt, backup key, label ‖ 0 ‖ account); verifier = SHA-256', () => {
    const backupKey = randomKey();
    const salt = newDeviceSalt();
    expect(salt).toHaveLength(32);
    const info = new Uint8Array([...enc('e2ee-backup vault device credential v1'), 0, ...enc('alice')]);
    const credential = deriveDeviceCredential(backupKey, 'alice', salt);
    // node:crypto's HKDF, not noble's: an independent implementation.
    expect(credential).toEqual(new Uint8Array(hkdfSync('sha512', backupKey, salt, info, 32)));
    expect(deriveDeviceCredential(backupKey, 'bob', salt)).not.toEqual(credential);
    // Each registration's salt makes another credential: a captured one dies with its registration.
    expect(deriveDeviceCredential(backupKey, 'alice', newDeviceSalt())).not.toEqual(credential);
    // No salt, or all zeros, which HKDF-SHA512 cannot tell from none (HMAC pads its key with
    // zeros): the one credential that never changes for this key and account. Refused.
    expect(hkdf(sha512, backupKey, new Uint8Array(32), info, 32)).toEqual(
      hkdf(sha512, backupKey, undefined, info, 32),
    );
    for (const bad of [new Uint8Array(0), new Uint8Array(32)])
      expect(() => deriveDeviceCredential(backupKey, 'alice', bad)).toThrow(
        expect.objectContaining({ code: 'VAULT_PROTOCOL' }),
      );
    expect(deviceVerifier(credential)).toEqual(sha256(credential));
    expect(() => deviceVerifier(new Uint8Array(31))).toThrow(
      expect.objectContaining({ code: 'VAULT_PROTOCOL' }),
    );
    expect(() => deriveDeviceCredential(backupKey, 'alice', new Uint8Array(16))).toThrow(
      expect.objectContaining({ code: 'VAULT_PROTOCOL' }),
    );
  });

  it('device credential: the known answer of SPEC.md §9.4 (computed with Python hmac/hashlib)', () => {
    const backupKey = Uint8Array.from({ length: 32 }, (_, i) => i);
    const salt = Uint8Array.from({ length: 32 }, (_, i) => 32 + i);
    const credential = deriveDeviceCredential(backupKey, 'alice@example.com', salt);
    const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');
    expect(hexOf(credential)).toBe('9bf62cead3aefdfac4e0c88923a9cfee1d4e32da10016a10f5e7b09e33598d00');
    expect(hexOf(deviceVerifier(credential))).toBe(
      'b69cba11c2394deb370a4295433e643b7a298396620143b0df0e90f9f44a3313',
    );
    // What a record from before device salts holds the verifier of (the empty salt); clients no
    // longer derive it, but a store may still hold it.
    const info = new Uint8Array([
      ...enc('e2ee-backup vault device credential v1'),
      0,
      ...enc('alice@example.com'),
    ]);
    expect(hexOf(new Uint8Array(hkdfSync('sha512', backupKey, new Uint8Array(0), info, 32)))).toBe(
      'b2a1fbda285bf25018fab0538d99c5475d2c9e87e01debd21ac0dce7bfe30ddf',
    );
  });

  it('KSF = Argon2id(oprf_output, salt = label, params)', async () => {
    const y = crypto.getRandomValues(new Uint8Array(64));
    const ksf = createArgon2idKsf(CHEAP_KSF, { allowWeak: true });
    const { m, t, p } = CHEAP_KSF;
    expect(await ksf(y)).toEqual(await deriveKeyFromPassword(y, KSF_SALT, { m, t, p }, { allowWeak: true }));
    expect(KSF_SALT.length).toBeGreaterThanOrEqual(16);
  });

  it('KSF parameters: algorithm, floor at creation (unless allowWeak), bounds when received', () => {
    expect(checkKsfParams({ algorithm: 'argon2id', m: 65536, t: 3, p: 4 })).toEqual({
      algorithm: 'argon2id',
      m: 65536,
      t: 3,
      p: 4,
    });
    expect(() => checkKsfParams(CHEAP_KSF)).toThrow(expect.objectContaining({ code: 'KDF_PARAMS' }));
    expect(checkKsfParams(CHEAP_KSF, { allowWeak: true })).toEqual(CHEAP_KSF);
    expect(checkKsfParams(CHEAP_KSF, { purpose: 'open' })).toEqual(CHEAP_KSF);
    expect(() => checkKsfParams({ ...CHEAP_KSF, m: 2 ** 21 }, { purpose: 'open' })).toThrow(
      expect.objectContaining({ code: 'KDF_PARAMS' }),
    );
    expect(() => checkKsfParams({ ...CHEAP_KSF, algorithm: 'scrypt' }, { purpose: 'open' })).toThrow(
      expect.objectContaining({ code: 'KDF_PARAMS' }),
    );
    expect(() => checkKsfParams(null)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('the client steps run against the server functions without any transport', async () => {
    const serverKeys = generateServerKeys();
    const credentialIdentifier = crypto.getRandomValues(new Uint8Array(32));
    const backupKey = randomKey();
    const reg = startRegistration('pw');
    const { deserializeRegistrationRequest, serializeRegistrationResponse } = await import(
      '../../src/vault/opaque/opaque.js'
    );
    const response = createRegistrationResponse({
      request: deserializeRegistrationRequest(reg.registrationRequest),
      serverKeys,
      credentialIdentifier,
    });
    const upload = await finishRegistration({
      state: reg.state,
      account: 'alice',
      registrationResponse: serializeRegistrationResponse(response),
      backupKey,
      ksf: CHEAP_KSF,
      kdfOptions: { allowWeak: true },
    });
    expect(upload.ksf).toEqual(CHEAP_KSF);
    // The new record's salt and verifier; the new credential itself is never uploaded.
    expect(upload.deviceSalt).toHaveLength(32);
    expect(upload.deviceVerifier).toEqual(
      deviceVerifier(deriveDeviceCredential(backupKey, 'alice', upload.deviceSalt)),
    );
    expect(upload.deviceCredential).toBeUndefined();
    // With the current record's salt, the credential that authorises replacing it.
    const current = newDeviceSalt();
    const replacing = startRegistration('pw2');
    const upload2 = await finishRegistration({
      state: replacing.state,
      account: 'alice',
      registrationResponse: serializeRegistrationResponse(
        createRegistrationResponse({
          request: deserializeRegistrationRequest(replacing.registrationRequest),
          serverKeys,
          credentialIdentifier: crypto.getRandomValues(new Uint8Array(32)),
        }),
      ),
      backupKey,
      currentDeviceSalt: current,
      ksf: CHEAP_KSF,
      kdfOptions: { allowWeak: true },
    });
    expect(upload2.deviceCredential).toEqual(deriveDeviceCredential(backupKey, 'alice', current));
    expect(upload2.deviceSalt).not.toEqual(upload.deviceSalt);

    const login = startLogin('pw');
    const server = generateKE2({
      serverKeys,
      record: deserializeRegistrationRecord(upload.registrationRecord),
      credentialIdentifier,
      ke1: deserializeKE1(login.ke1),
      ...opaqueOptions('alice'),
    });
    const done = await finishLogin({
      state: login.state,
      account: 'alice',
      ke2: serializeKE2(server.ke2),
      ksf: CHEAP_KSF,
    });
    serverFinish(server.state, deserializeKE3(done.ke3));
    expect(await openSealedBackupKey(done.exportKey, upload.sealedKey)).toEqual(backupKey);

    // The account is the OPAQUE client identity: the same record under another name does not open.
    const login2 = startLogin('pw');
    const server2 = generateKE2({
      serverKeys,
      record: deserializeRegistrationRecord(upload.registrationRecord),
      credentialIdentifier,
      ke1: deserializeKE1(login2.ke1),
      ...opaqueOptions('mallory'),
    });
    const err = await errorOf(
      finishLogin({
        state: login2.state,
        account: 'mallory',
        ke2: serializeKE2(server2.ke2),
        ksf: CHEAP_KSF,
      }),
    );
    expect(err.code).toBe('WRONG_PASSWORD');
  });
});

describe('shared store decisions', () => {
  const v = Uint8Array.of(1, 2, 3);
  it('commit', () => {
    const w = Uint8Array.of(1, 2, 4);
    const c = (mode: 'register' | 'reset', presentedVerifier?: Uint8Array, authorized = false) => ({
      mode,
      presentedVerifier,
      authorized,
      deviceSalt: randomKey(),
    });
    expect(decideCommit(undefined, c('register'))).toBe('created');
    expect(decideCommit(undefined, c('register', v))).toBe('created');
    expect(decideCommit(undefined, c('reset', v))).toBe('not_found');
    // A tombstone: its last device credential, or the deployment's authorize gate, and nobody else.
    const tombstone = { status: 'locked', deviceVerifier: v } as const;
    expect(decideCommit(tombstone, c('register', v))).toBe('created');
    expect(decideCommit(tombstone, c('register'))).toBe('unauthorized');
    expect(decideCommit(tombstone, c('register', w))).toBe('unauthorized');
    expect(decideCommit(tombstone, c('register', undefined, true))).toBe('created');
    expect(decideCommit(tombstone, c('register', w, true))).toBe('created');
    expect(decideCommit(tombstone, c('reset', v))).toBe('locked');
    expect(decideCommit({ status: 'locked' }, c('register', v))).toBe('unauthorized');
    expect(decideCommit({ status: 'locked' }, c('register', undefined, true))).toBe('created');
    // A live record: its device credential only; authorize is not enough.
    expect(decideCommit({ status: 'active', deviceVerifier: v }, c('reset', v))).toBe('replaced');
    expect(decideCommit({ status: 'active', deviceVerifier: v }, c('register', v))).toBe('replaced');
    expect(decideCommit({ status: 'active', deviceVerifier: v }, c('register', w))).toBe('unauthorized');
    expect(decideCommit({ status: 'active', deviceVerifier: v }, c('register'))).toBe('unauthorized');
    expect(decideCommit({ status: 'active', deviceVerifier: v }, c('register', undefined, true))).toBe(
      'unauthorized',
    );
    expect(decideCommit({ status: 'active' }, c('register', v))).toBe('unauthorized');
  });
  it('a tombstone override is asked for exactly when only an override could register', () => {
    const w = Uint8Array.of(1, 2, 4);
    const tombstone = { status: 'locked', deviceVerifier: v } as const;
    expect(overridesTombstone(tombstone, v)).toBe(false); // the original device
    expect(overridesTombstone(tombstone, w)).toBe(true);
    expect(overridesTombstone(tombstone, undefined)).toBe(true);
    // A tombstone from before tombstones kept their verifier: nothing matches it.
    expect(overridesTombstone({ status: 'locked' }, v)).toBe(true);
    expect(overridesTombstone(undefined, undefined)).toBe(false);
    expect(overridesTombstone({ status: 'active', deviceVerifier: v }, w)).toBe(false);
  });
  it('delete', () => {
    expect(decideDelete(undefined, v)).toBe('not_found');
    expect(decideDelete({ status: 'locked' }, v)).toBe('locked');
    expect(decideDelete({ status: 'active', deviceVerifier: v }, v)).toBe('deleted');
    expect(decideDelete({ status: 'active', deviceVerifier: v }, new Uint8Array(3))).toBe('unauthorized');
  });
  it('finish', () => {
    const row = { status: 'active' as const, remaining: 0, generation: 2, sealedKey: v };
    expect(decideFinish(row, { generation: 1 }, true, 0).outcome.kind).toBe('changed');
    expect(decideFinish(undefined, { generation: 2 }, true, 0).outcome.kind).toBe('changed');
    expect(decideFinish({ ...row, status: 'locked' }, { generation: 2 }, true, 0).outcome.kind).toBe(
      'locked',
    );
    expect(decideFinish(row, { generation: 2 }, true, 3).write).toBe('reset');
    expect(decideFinish(row, { generation: 2 }, false, 1)).toMatchObject({ write: 'none' });
    expect(decideFinish(row, { generation: 2 }, false, 0)).toMatchObject({ write: 'destroy' });
    expect(decideFinish({ ...row, remaining: 3 }, { generation: 2 }, false, 0).outcome).toEqual({
      kind: 'failed',
      remaining: 3,
      destroyed: false,
    });
  });
});

describe('TokenBuckets', () => {
  it('allows a burst, then refills at the rate', () => {
    const b = new TokenBuckets({ capacity: 3, refillPerSecond: 1 });
    expect([0, 0, 0, 0].map(() => b.take('k', 1000).ok)).toEqual([true, true, true, false]);
    expect(b.take('k', 1000)).toEqual({ ok: false, retryAfterSeconds: 1 });
    expect(b.take('other', 1000).ok).toBe(true);
    expect(b.take('k', 2000).ok).toBe(true);
    expect(b.take('k', 2000).ok).toBe(false);
  });
  it('is bounded: the least recently used key is forgotten', () => {
    const b = new TokenBuckets({ capacity: 1, refillPerSecond: 0.001 }, 2);
    b.take('a', 0);
    b.take('b', 0);
    b.take('c', 0); // evicts a
    expect(b.take('a', 0).ok).toBe(true);
    expect(b.take('c', 0).ok).toBe(false);
  });
  it('refuses nonsense limits', () => {
    expect(() => new TokenBuckets({ capacity: 0, refillPerSecond: 1 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('key files', () => {
  it('generate and parse', () => {
    const file = generateVaultKeyFile();
    const secrets = parseVaultKeyFile(JSON.parse(JSON.stringify(file)));
    expect(secrets.serverKeys.oprfSeed).toEqual(fromBase64url(file.oprfSeed));
    expect(secrets.serverKeys.publicKey).toHaveLength(32);
    expect(secrets.fakeRecord.maskingKey).toHaveLength(64);
    expect(parseVaultKeyFile(file).serverKeys.publicKey).toEqual(secrets.serverKeys.publicKey);
  });
  it('reject malformed content', () => {
    const file = generateVaultKeyFile();
    for (const bad of [
      null,
      {},
      { ...file, version: 2 },
      { ...file, format: 'x' },
      { ...file, oprfSeed: file.akeSeed },
      { ...file, akeSeed: '***' },
      { ...file, fakeClientPublicKey: toBase64url(new Uint8Array(32)) },
    ]) {
      expect(() => parseVaultKeyFile(bad)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });
});

describe('browser safety', () => {
  it('e2ee-backup/vault bundles for the browser without Node modules, native packages or Hono', async () => {
    const { build } = await import('esbuild');
    const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
    const result = await build({
      entryPoints: [join(root, 'src/vault/index.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((i) => /node_modules\/(pg|better-sqlite3|hono|@hono)\//.test(i))).toEqual([]);
    expect(inputs.some((i) => i.endsWith('src/vault/client.ts'))).toBe(true);
    expect(inputs.some((i) => /server-node|store-sqlite|store-postgres/.test(i))).toBe(false);
  });

  const vaultDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/vault');
  it('no vault module imports a Node built-in or a native package at the top level', () => {
    for (const file of readdirSync(vaultDir).filter((f) => f.endsWith('.ts'))) {
      const source = readFileSync(join(vaultDir, file), 'utf8');
      const staticImports = [...source.matchAll(/^import\s+(?!type\b)[^;]*?from\s+'([^']+)'/gms)].map(
        (m) => m[1],
      );
      for (const spec of staticImports) {
        expect(`${file}: ${spec}`).not.toMatch(/: (node:|better-sqlite3|pg$|@hono\/node-server)/);
      }
    }
  });
});
