/**
 * AES-256-GCM with a 12-byte nonce, 16-byte tag and empty AAD, over three interchangeable
 * backends that produce identical bytes: `node:crypto` (Node, Bun, Deno), WebCrypto (browsers,
 * workers) and `@noble/ciphers` (anywhere else, and as a cross-check in tests).
 *
 * @module
 */

import { E2EEError } from '../errors.js';
import { type AesGcmProvider, cryptoProvider, gcmOpen, gcmSeal } from '../internal/provider.js';

/** Which AES-GCM implementation to use (`'provider'`: the one given to `setCryptoProvider`). */
export type AeadBackend = 'node' | 'webcrypto' | 'noble' | 'provider';

/**
 * A key bound to one backend. `seal` writes ciphertext ‖ tag into `out` at `offset`; `open`
 * writes the plaintext there and answers whether the tag verified (when it did not, what was
 * written must be discarded). Synchronous backends (node, noble) answer at once, WebCrypto with
 * a promise; `sync` says which, so hot loops can skip a microtask per chunk.
 */
export interface Aead {
  readonly backend: AeadBackend;
  readonly sync: boolean;
  seal(
    nonce: Uint8Array,
    plaintext: Uint8Array,
    out: Uint8Array,
    offset: number,
  ): undefined | Promise<undefined>;
  open(nonce: Uint8Array, sealed: Uint8Array, out: Uint8Array, offset: number): boolean | Promise<boolean>;
}

const TAG_BYTES = 16;

// Minimal structural view of node:crypto, so that no `node:` import reaches browser bundles.
interface NodeCipher {
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
  getAuthTag(): Uint8Array;
  setAuthTag(tag: Uint8Array): void;
  setAAD(aad: Uint8Array): void;
}
interface NodeCrypto {
  createCipheriv(alg: string, key: unknown, iv: Uint8Array): NodeCipher;
  createDecipheriv(alg: string, key: unknown, iv: Uint8Array): NodeCipher;
  createSecretKey(key: Uint8Array): unknown;
}

function nodeCrypto(): NodeCrypto | undefined {
  // process.getBuiltinModule exists in Node ≥ 20.16, Bun and Deno; bundlers leave it alone.
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const mod = proc?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;
  return mod && typeof mod.createCipheriv === 'function' ? mod : undefined;
}

function subtle(): SubtleCrypto | undefined {
  return globalThis.crypto?.subtle;
}

/**
 * One AES-256-GCM seal or open of a short message with associated data (the header's key slots),
 * synchronously on node:crypto when it is there, else with @noble/ciphers: the same bytes either
 * way. `open` answers `undefined` when the tag does not verify.
 */
export async function gcmWithAad(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
): Promise<{ seal(plaintext: Uint8Array): Uint8Array; open(sealed: Uint8Array): Uint8Array | undefined }> {
  const given = cryptoProvider()?.aesGcm;
  if (given) return providerGcmWithAad(given, key, nonce, aad);
  const nc = nodeCrypto();
  if (nc)
    return {
      seal(plaintext) {
        const c = nc.createCipheriv('aes-256-gcm', key, nonce);
        c.setAAD(aad);
        const body = c.update(plaintext);
        c.final();
        const out = new Uint8Array(body.length + TAG_BYTES);
        out.set(body);
        out.set(c.getAuthTag(), body.length);
        return out;
      },
      open(sealed) {
        if (sealed.length < TAG_BYTES) return undefined;
        const n = sealed.length - TAG_BYTES;
        const d = nc.createDecipheriv('aes-256-gcm', key, nonce);
        d.setAAD(aad);
        d.setAuthTag(sealed.subarray(n));
        const out = new Uint8Array(d.update(sealed.subarray(0, n)));
        try {
          d.final();
          return out;
        } catch {
          out.fill(0);
          return undefined;
        }
      },
    };
  // Elsewhere the messages are 32 bytes: noble is fast enough, and synchronous.
  const { gcm } = await import('@noble/ciphers/aes.js');
  return {
    seal: (plaintext) => gcm(key, nonce, aad).encrypt(plaintext),
    open(sealed) {
      try {
        return gcm(key, nonce, aad).decrypt(sealed);
      } catch {
        return undefined;
      }
    },
  };
}

/** The backend {@link createAead} picks when none is named: the fastest one available here. */
export function defaultAeadBackend(): AeadBackend {
  if (cryptoProvider()?.aesGcm) return 'provider';
  if (nodeCrypto()) return 'node';
  if (subtle()) return 'webcrypto';
  return 'noble';
}

/** Binds a 32-byte AES-256-GCM key to a backend (the default one unless named). */
export async function createAead(
  key: Uint8Array,
  backend: AeadBackend = defaultAeadBackend(),
): Promise<Aead> {
  if (key.length !== 32)
    throw new E2EEError('INVALID_KEY_SIZE', `AES-256-GCM needs a 32-byte key, got ${key.length}`);
  switch (backend) {
    case 'node':
      return nodeAead(key);
    case 'webcrypto':
      return webCryptoAead(key);
    case 'noble':
      return nobleAead(key);
    case 'provider':
      return providerAead(key);
    default:
      throw new E2EEError('INVALID_ARGUMENT', `unknown AES-GCM backend '${String(backend)}'`);
  }
}

function nodeAead(key: Uint8Array): Aead {
  const nc = nodeCrypto();
  if (!nc)
    throw new E2EEError('INVALID_ARGUMENT', "the 'node' backend needs node:crypto, which is absent here");
  // A KeyObject spares OpenSSL from re-importing the raw key for every chunk.
  const keyObject = nc.createSecretKey(key);
  return {
    backend: 'node',
    sync: true,
    seal(nonce, plaintext, out, offset) {
      const c = nc.createCipheriv('aes-256-gcm', keyObject, nonce);
      out.set(c.update(plaintext), offset);
      c.final();
      out.set(c.getAuthTag(), offset + plaintext.length);
    },
    open(nonce, sealed, out, offset) {
      if (sealed.length < TAG_BYTES) return false;
      const n = sealed.length - TAG_BYTES;
      const d = nc.createDecipheriv('aes-256-gcm', keyObject, nonce);
      d.setAuthTag(sealed.subarray(n));
      out.set(d.update(sealed.subarray(0, n)), offset);
      try {
        d.final();
        return true;
      } catch {
        return false;
      }
    },
  };
}

async function webCryptoAead(key: Uint8Array): Promise<Aead> {
  const s = subtle();
  if (!s)
    throw new E2EEError(
      'INVALID_ARGUMENT',
      "the 'webcrypto' backend needs crypto.subtle, which is absent here",
    );
  const cryptoKey = await s.importKey('raw', key as BufferSource, 'AES-GCM', false, ['encrypt', 'decrypt']);
  const sealNew = async (nonce: Uint8Array, plaintext: Uint8Array) =>
    new Uint8Array(
      await s.encrypt({ name: 'AES-GCM', iv: nonce as BufferSource }, cryptoKey, plaintext as BufferSource),
    );
  const openNew = async (nonce: Uint8Array, sealed: Uint8Array) => {
    if (sealed.length < TAG_BYTES) return undefined;
    try {
      const pt = await s.decrypt(
        { name: 'AES-GCM', iv: nonce as BufferSource },
        cryptoKey,
        sealed as BufferSource,
      );
      return new Uint8Array(pt);
    } catch {
      return undefined;
    }
  };
  return {
    backend: 'webcrypto',
    sync: false,
    async seal(nonce, plaintext, out, offset) {
      out.set(await sealNew(nonce, plaintext), offset);
    },
    async open(nonce, sealed, out, offset) {
      const pt = await openNew(nonce, sealed);
      if (pt) out.set(pt, offset);
      return pt !== undefined;
    },
  };
}

async function nobleAead(key: Uint8Array): Promise<Aead> {
  // Loaded on demand so that bundles for platforms with native AES-GCM stay small.
  const { gcm } = await import('@noble/ciphers/aes.js');
  const k = Uint8Array.from(key);
  return {
    backend: 'noble',
    sync: true,
    seal(nonce, plaintext, out, offset) {
      out.set(gcm(k, nonce).encrypt(plaintext), offset);
    },
    open(nonce, sealed, out, offset) {
      if (sealed.length < TAG_BYTES) return false;
      try {
        out.set(gcm(k, nonce).decrypt(sealed), offset);
        return true;
      } catch {
        return false;
      }
    },
  };
}

function providerAead(key: Uint8Array): Aead {
  const gcm = cryptoProvider()?.aesGcm;
  if (!gcm)
    throw new E2EEError('INVALID_ARGUMENT', "the 'provider' backend needs setCryptoProvider({ aesGcm })");
  const k = Uint8Array.from(key);
  return {
    backend: 'provider',
    sync: true,
    seal(nonce, plaintext, out, offset) {
      gcmSeal(gcm, k, nonce, undefined, plaintext, out, offset);
    },
    open: (nonce, sealed, out, offset) => gcmOpen(gcm, k, nonce, undefined, sealed, out, offset),
  };
}

function providerGcmWithAad(gcm: AesGcmProvider, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array) {
  return {
    seal(plaintext: Uint8Array): Uint8Array {
      const out = new Uint8Array(plaintext.length + TAG_BYTES);
      gcmSeal(gcm, key, nonce, aad, plaintext, out, 0);
      return out;
    },
    open(sealed: Uint8Array): Uint8Array | undefined {
      const out = new Uint8Array(Math.max(0, sealed.length - TAG_BYTES));
      if (gcmOpen(gcm, key, nonce, aad, sealed, out, 0)) return out;
      out.fill(0);
      return undefined;
    },
  };
}
