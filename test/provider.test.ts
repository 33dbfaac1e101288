// The crypto provider seam (src/provider.ts): node:crypto wrapped in react-native-quick-crypto's
// shape is registered, and the vector suites run through it — the 35 Wycheproof Cobblestone-256
// vectors, every container vector and every KDF vector — with counters proving the provider did
// the work. Then misuse: a second registration, and providers that answer wrong bytes.
import * as nodeCrypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { argon2id as hashWasmArgon2id } from 'hash-wasm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decryptChunked, encryptChunked } from '../src/cobblestone/chunked.js';
import { decryptBackupBytes, encryptBackupBytes } from '../src/container/backup.js';
import { E2EEError } from '../src/errors.js';
import {
  type AesGcmProvider,
  type CryptoProvider,
  gcmOpen,
  resetCryptoProvider,
  setCryptoProvider,
} from '../src/internal/provider.js';
import { generateBackupKey } from '../src/key/backup-key.js';
import { createAead, defaultAeadBackend } from '../src/primitives/aes-gcm.js';
import { argon2id as nobleArgon2id } from '../src/primitives/argon2id-noble.js';
import { deriveKeyFromPassword } from '../src/primitives/kdf.js';
import { thirdPartyFile } from './shared-data.js';
import {
  all,
  CONTAINER_FIELDS,
  container,
  expected,
  KDF_FIELDS,
  kdf,
  libraryContainer,
  libraryKdf,
} from './vector-files.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const sha512 = (b: Uint8Array) => nodeCrypto.createHash('sha512').update(b).digest('hex');
const load = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
const testsOf = <T>(file: { testGroups: { tests: T[] }[] }): T[] => file.testGroups.flatMap((g) => g.tests);

/**
 * node:crypto as react-native-quick-crypto presents it: module-level createCipheriv /
 * createDecipheriv taking raw key bytes, Buffers out. Counts its ciphers.
 */
function quickCryptoShaped(): AesGcmProvider & { calls: number } {
  const toBuffer = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const shaped = {
    calls: 0,
    createCipheriv(alg: 'aes-256-gcm', key: Uint8Array, iv: Uint8Array) {
      shaped.calls++;
      return nodeCrypto.createCipheriv(alg, toBuffer(key), toBuffer(iv));
    },
    createDecipheriv(alg: 'aes-256-gcm', key: Uint8Array, iv: Uint8Array) {
      shaped.calls++;
      return nodeCrypto.createDecipheriv(alg, toBuffer(key), toBuffer(iv));
    },
  };
  return shaped;
}

/** A native Argon2id's shape (here hash-wasm), counting its calls. */
function argon2Provider() {
  const f = Object.assign(
    async (password: Uint8Array, salt: Uint8Array, o: { m: number; t: number; p: number; len: number }) => {
      f.calls++;
      return hashWasmArgon2id({
        password,
        salt,
        memorySize: o.m,
        iterations: o.t,
        parallelism: o.p,
        hashLength: o.len,
        outputType: 'binary',
      });
    },
    { calls: 0 },
  );
  return f;
}

afterEach(() => resetCryptoProvider());

describe('through the provider seam (node:crypto in quick-crypto’s shape)', () => {
  let aes: ReturnType<typeof quickCryptoShaped>;
  let argon: ReturnType<typeof argon2Provider>;
  let random: { calls: number; fill: (b: Uint8Array) => Uint8Array };
  beforeEach(() => {
    aes = quickCryptoShaped();
    argon = argon2Provider();
    random = {
      calls: 0,
      fill: (b) => {
        random.calls++;
        return nodeCrypto.getRandomValues(b);
      },
    };
    setCryptoProvider({ aesGcm: aes, argon2id: argon, getRandomValues: random.fill });
  });

  it('is the default AES-GCM backend, and draws the random bytes', async () => {
    expect(defaultAeadBackend()).toBe('provider');
    expect((await createAead(new Uint8Array(32))).backend).toBe('provider');
    random.calls = 0;
    generateBackupKey();
    expect(random.calls).toBe(1);
  });

  describe('Wycheproof Cobblestone-256', () => {
    const file = load(
      thirdPartyFile('WYCHEPROOF_DIR', 'wycheproof', 'c2sp_chunked_encryption_aes_256_gcm_test.json'),
    );
    const vectors = testsOf<{
      tcId: number;
      comment: string;
      flags: string[];
      key: string;
      ctx: string;
      ct: string;
      result: string;
      msgLength?: number;
      msgSha512?: string;
    }>(file);
    it('has all 35', () => expect(vectors).toHaveLength(35));
    it.each(vectors.map((v) => [`#${v.tcId} ${v.comment}`, v] as const))('%s', async (_, v) => {
      aes.calls = 0;
      const p = decryptChunked(hex(v.key), new Uint8Array(inflateSync(hex(v.ct))), { context: hex(v.ctx) });
      if (v.result === 'valid') {
        const pt = await p;
        expect(pt.length).toBe(v.msgLength);
        expect(sha512(pt)).toBe(v.msgSha512);
        expect(aes.calls).toBeGreaterThan(0);
      } else {
        const e = await p.then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(e).toBeInstanceOf(E2EEError);
        expect([
          'INVALID_KEY_SIZE',
          'TRUNCATED',
          'COMMITMENT_MISMATCH',
          'TRAILING_DATA',
          'CHUNK_AUTH',
        ]).toContain((e as E2EEError).code);
      }
    });
  });

  describe('the container vectors', () => {
    it.each(all(container).map((t) => [`tcId ${t.tcId}: ${t.comment}`, t] as const))('%s', async (_, t) => {
      aes.calls = 0;
      argon.calls = 0;
      expect(await libraryContainer(t)).toEqual(expected(t, CONTAINER_FIELDS));
      if (t.result === 'valid') {
        expect(aes.calls, 'the provider opened the payload').toBeGreaterThan(0);
        if (t.key === undefined) expect(argon.calls, 'the provider ran Argon2id').toBeGreaterThan(0);
      }
    });
  });

  it('round-trips a backup made through it, which the built-in backends open', async () => {
    const key = generateBackupKey();
    const data = nodeCrypto.randomBytes(100_000);
    const enc = await encryptBackupBytes(data, {
      key,
      password: 'pw',
      kdf: { m: 64, t: 1, p: 1 },
      allowWeakKdf: true,
    });
    resetCryptoProvider();
    expect(defaultAeadBackend()).toBe('node');
    expect(Buffer.from((await decryptBackupBytes(enc, { key })).data)).toEqual(data);
    expect(Buffer.from((await decryptBackupBytes(enc, { password: 'pw' })).data)).toEqual(data);
  });
});

describe('the KDF vectors', () => {
  const passwords = all(kdf).filter((t) => t.password !== undefined);

  it.each(passwords.map((t) => [`tcId ${t.tcId}: ${t.comment}`, t] as const))(
    'through the provider: %s',
    async (_, t) => {
      const argon = argon2Provider();
      setCryptoProvider({ argon2id: argon });
      expect(await libraryKdf(t)).toEqual(expected(t, KDF_FIELDS));
      // Its known-answer check, then the derivation itself; never for refused parameters.
      expect(argon.calls).toBe(t.result === 'valid' ? 2 : 0);
    },
  );

  it.each(passwords.map((t) => [`tcId ${t.tcId}: ${t.comment}`, t] as const))(
    'through the @noble/hashes fallback when WebAssembly is absent: %s',
    async (_, t) => {
      const wasm = globalThis.WebAssembly;
      // @ts-expect-error: Hermes has none
      delete globalThis.WebAssembly;
      try {
        expect(await libraryKdf(t)).toEqual(expected(t, KDF_FIELDS));
      } finally {
        globalThis.WebAssembly = wasm;
      }
    },
  );

  it('the fallback is @noble/hashes, with the bytes of hash-wasm at the default parameters', async () => {
    const o = {
      password: new Uint8Array(Buffer.from('correct horse')),
      salt: new Uint8Array(16).fill(7),
      parallelism: 4,
      iterations: 3,
      memorySize: 65536,
      hashLength: 32,
      outputType: 'binary' as const,
    };
    expect(toHex(await nobleArgon2id(o))).toBe(toHex(await hashWasmArgon2id(o)));
  });
});

describe('misuse', () => {
  const good = (): CryptoProvider => ({ aesGcm: quickCryptoShaped() });
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return (e as E2EEError).code;
    }
    return 'no error';
  };

  it('a decipher that returns too many bytes is refused before they are written', () => {
    // The payload opener wipes its buffer only as far as the plaintext it should hold.
    const k = new Uint8Array(32).fill(3);
    const nonce = new Uint8Array(12);
    const c = nodeCrypto.createCipheriv('aes-256-gcm', k, nonce);
    const sealed = Buffer.concat([c.update(new Uint8Array(100).fill(0x41)), c.final(), c.getAuthTag()]);
    const overLong: AesGcmProvider = {
      ...quickCryptoShaped(),
      createDecipheriv: (alg, key, iv) => {
        const d = nodeCrypto.createDecipheriv(alg, key, iv);
        return {
          setAAD: (aad: Uint8Array) => d.setAAD(aad),
          setAuthTag: (tag: Uint8Array) => d.setAuthTag(tag),
          update: (data: Uint8Array) => Buffer.concat([d.update(data), Buffer.alloc(8, 0x42)]),
          final: () => d.final(),
        };
      },
    };
    const out = new Uint8Array(200);
    expect(code(() => gcmOpen(overLong, k, nonce, undefined, sealed, out, 0))).toBe('CRYPTO_PROVIDER');
    expect(out.every((b) => b === 0)).toBe(true);
    expect(gcmOpen(quickCryptoShaped(), k, nonce, undefined, sealed, out, 0)).toBe(true); // the same record
    expect(out.subarray(0, 100).every((b) => b === 0x41)).toBe(true);
  });

  it('a second registration is refused, and the first one stays', () => {
    const first = quickCryptoShaped();
    setCryptoProvider({ aesGcm: first });
    expect(code(() => setCryptoProvider(good()))).toBe('CRYPTO_PROVIDER');
    expect(defaultAeadBackend()).toBe('provider');
  });

  it('a provider that gives nothing, or members of the wrong type, is refused', () => {
    expect(code(() => setCryptoProvider({}))).toBe('CRYPTO_PROVIDER');
    expect(code(() => setCryptoProvider(null as unknown as CryptoProvider))).toBe('CRYPTO_PROVIDER');
    expect(code(() => setCryptoProvider({ aesGcm: {} as AesGcmProvider }))).toBe('CRYPTO_PROVIDER');
    expect(code(() => setCryptoProvider({ argon2id: 'argon2' as never }))).toBe('CRYPTO_PROVIDER');
    expect(defaultAeadBackend()).toBe('node');
  });

  it('an AES-GCM that answers wrong bytes, ignores the AAD or accepts a bad tag is refused at registration', () => {
    const real = quickCryptoShaped();
    const wrongBytes: AesGcmProvider = {
      createCipheriv: (a, k, iv) => {
        const c = real.createCipheriv(a, k, iv);
        return Object.assign(Object.create(c), {
          update: (d: Uint8Array) => {
            const out = c.update(d);
            out[0]! ^= 1;
            return out;
          },
        });
      },
      createDecipheriv: real.createDecipheriv,
    };
    const noAad: AesGcmProvider = {
      createCipheriv: (a, k, iv) => Object.assign(real.createCipheriv(a, k, iv), { setAAD: () => {} }),
      createDecipheriv: (a, k, iv) => Object.assign(real.createDecipheriv(a, k, iv), { setAAD: () => {} }),
    };
    const noCheck: AesGcmProvider = {
      createCipheriv: real.createCipheriv,
      createDecipheriv: (a, k, iv) =>
        Object.assign(real.createDecipheriv(a, k, iv), { final: () => new Uint8Array(0) }),
    };
    for (const aesGcm of [wrongBytes, noAad, noCheck])
      expect(code(() => setCryptoProvider({ aesGcm }))).toBe('CRYPTO_PROVIDER');
    expect(defaultAeadBackend()).toBe('node');
  });

  it('a getRandomValues that does not fill the array it is given is refused', () => {
    expect(code(() => setCryptoProvider({ getRandomValues: (b) => nodeCrypto.randomBytes(b.length) }))).toBe(
      'CRYPTO_PROVIDER',
    );
    expect(code(() => setCryptoProvider({ getRandomValues: (b) => b.fill(4) }))).toBe('CRYPTO_PROVIDER');
  });

  it('an Argon2id that answers wrong bytes fails every derivation with CRYPTO_PROVIDER, never a wrong key', async () => {
    const real = argon2Provider();
    let wrong = 0;
    setCryptoProvider({
      argon2id: async (pw, salt, o) => {
        wrong++;
        const out = await real(pw, salt, o);
        out[31]! ^= 1;
        return out;
      },
    });
    const salt = new Uint8Array(16);
    for (let i = 0; i < 2; i++)
      await expect(
        deriveKeyFromPassword('pw', salt, { m: 64, t: 1, p: 1 }, { allowWeak: true }),
      ).rejects.toMatchObject({
        code: 'CRYPTO_PROVIDER',
      });
    expect(wrong).toBe(2); // the known-answer check only: the derivation itself never ran
  });

  it('an Argon2id that answers the wrong length or type fails with CRYPTO_PROVIDER', async () => {
    const real = argon2Provider();
    let n = 0;
    setCryptoProvider({
      argon2id: async (pw, salt, o) => (n++ === 0 ? real(pw, salt, o) : new Uint8Array(16)),
    });
    await expect(
      deriveKeyFromPassword('pw', new Uint8Array(16), { m: 64, t: 1, p: 1 }, { allowWeak: true }),
    ).rejects.toMatchObject({ code: 'CRYPTO_PROVIDER' });
  });

  it('a derivation wipes its own UTF-8 copy of a string password afterwards, never the caller’s bytes', async () => {
    const real = argon2Provider();
    const seen: Uint8Array[] = [];
    setCryptoProvider({
      argon2id: async (pw, salt, o) => {
        seen.push(pw);
        return real(pw, salt, o);
      },
    });
    const salt = new Uint8Array(16);
    const fromString = await deriveKeyFromPassword('pw', salt, { m: 64, t: 1, p: 1 }, { allowWeak: true });
    const copy = seen.at(-1)!;
    expect(copy.length).toBe(2); // 'pw' in UTF-8, as the provider received it
    expect(copy).toEqual(new Uint8Array(2)); // wiped once the derivation returned
    const mine = new Uint8Array([0x70, 0x77]); // 'pw', the caller's own bytes
    expect(await deriveKeyFromPassword(mine, salt, { m: 64, t: 1, p: 1 }, { allowWeak: true })).toEqual(
      fromString,
    );
    expect(seen.at(-1)).toBe(mine);
    expect(mine).toEqual(new Uint8Array([0x70, 0x77]));
  });

  it('without a provider, encryptChunked still works on the built-in backend', async () => {
    const key = new Uint8Array(32).fill(1);
    const ct = await encryptChunked(key, new Uint8Array(10));
    expect(await decryptChunked(key, ct)).toEqual(new Uint8Array(10));
  });
});
