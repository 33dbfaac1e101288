/**
 * The crypto provider seam: native primitives an app hands the library, used ahead of the
 * built-in backends. On React Native, where Hermes has no WebCrypto, no node:crypto and no
 * WebAssembly, this is how AES-256-GCM from react-native-quick-crypto and Argon2id from a native
 * module get in; without them the pure-JS fallbacks run (correct, but slow for bulk data).
 *
 * @module
 */

import { E2EEError } from '../errors.js';

/** A cipher in node:crypto's shape: what `createCipheriv('aes-256-gcm', …)` returns. */
export interface GcmCipher {
  /** Sets the associated data; called at most once, before any `update`. */
  setAAD(aad: Uint8Array): unknown;
  /** Encrypts `data`, answering the ciphertext produced so far. */
  update(data: Uint8Array): Uint8Array;
  /** Ends encryption, answering any remaining ciphertext (empty for GCM). */
  final(): Uint8Array;
  /** The 16-byte tag; called after `final`. */
  getAuthTag(): Uint8Array;
}

/** A decipher in node:crypto's shape: what `createDecipheriv('aes-256-gcm', …)` returns. */
export interface GcmDecipher {
  /** Sets the associated data; called at most once, before any `update`. */
  setAAD(aad: Uint8Array): unknown;
  /** Sets the 16-byte tag to verify; called before `final`. */
  setAuthTag(tag: Uint8Array): unknown;
  /** Decrypts `data`; the library releases nothing it answers until `final` has verified the tag. */
  update(data: Uint8Array): Uint8Array;
  /** Throws when the tag does not verify. */
  final(): Uint8Array;
}

/**
 * AES-256-GCM in node:crypto's shape, as react-native-quick-crypto implements it (and node:crypto
 * itself). Only `'aes-256-gcm'` with a 32-byte key and a 12-byte IV is ever asked for, with the
 * default 16-byte tag.
 */
export interface AesGcmProvider {
  /** A new AES-256-GCM encryption under `key` (32 bytes) and `iv` (12 bytes). */
  createCipheriv(algorithm: 'aes-256-gcm', key: Uint8Array, iv: Uint8Array): GcmCipher;
  /** A new AES-256-GCM decryption under `key` (32 bytes) and `iv` (12 bytes). */
  createDecipheriv(algorithm: 'aes-256-gcm', key: Uint8Array, iv: Uint8Array): GcmDecipher;
}

/** Argon2id cost parameters and output length, as given to {@link CryptoProvider.argon2id}. */
export interface Argon2idRequest {
  /** Memory in KiB. */
  m: number;
  /** Iterations. */
  t: number;
  /** Lanes (parallelism). */
  p: number;
  /** Output bytes (always 32 here). */
  len: number;
}

/**
 * Native primitives for the library. Every member is optional: what is given is used ahead of
 * the built-in backend, what is not falls back to it.
 */
export interface CryptoProvider {
  /** AES-256-GCM in node:crypto's shape: react-native-quick-crypto's module itself fits. */
  aesGcm?: AesGcmProvider;
  /**
   * Argon2id version 0x13 (RFC 9106) with no secret and no associated data, answering the raw
   * `len`-byte tag (not an encoded hash string).
   */
  argon2id?: (password: Uint8Array, salt: Uint8Array, params: Argon2idRequest) => Promise<Uint8Array>;
  /** Fills `bytes` in place from a CSPRNG, like `crypto.getRandomValues` (at most 65 536 bytes a call). */
  getRandomValues?: (bytes: Uint8Array) => unknown;
}

let registered: Readonly<CryptoProvider> | undefined;
let argon2Checked: Promise<void> | undefined;

/**
 * Hands the library native crypto primitives (see {@link CryptoProvider}), used from then on ahead
 * of the built-in backends. Call it once, at start-up, before any backup is made or opened.
 *
 * Misuse is refused rather than tolerated: a second registration throws (a provider swapped in
 * later by other code would see every key), and so does a provider whose AES-256-GCM or random
 * source fails a known-answer check, run here synchronously (GCM test case 16 of McGrew and
 * Viega, with AAD, and a tampered tag that must be refused). The Argon2id function is checked
 * against a known answer on its first use (an asynchronous call cannot be checked here): a wrong
 * one fails every derivation with `CRYPTO_PROVIDER`, never with a wrong key.
 *
 * @throws E2EEError `CRYPTO_PROVIDER`: already registered, a member of the wrong type, or a
 *   failed check.
 * @example
 * ```ts
 * import QuickCrypto from 'react-native-quick-crypto';
 * import { setCryptoProvider } from 'e2ee-backup';
 *
 * setCryptoProvider({
 *   aesGcm: QuickCrypto,
 *   getRandomValues: (bytes) => QuickCrypto.getRandomValues(bytes),
 *   argon2id: quickCryptoArgon2id, // QuickCrypto.argon2 wrapped as docs/react-native.md shows
 * });
 * ```
 */
export function setCryptoProvider(provider: CryptoProvider): void {
  if (registered)
    throw providerError('a crypto provider is already registered: register one, once, at start-up');
  if (typeof provider !== 'object' || provider === null)
    throw providerError('the crypto provider must be an object { aesGcm?, argon2id?, getRandomValues? }');
  const { aesGcm, argon2id, getRandomValues } = provider;
  if (aesGcm === undefined && argon2id === undefined && getRandomValues === undefined)
    throw providerError('the crypto provider gives nothing: name aesGcm, argon2id or getRandomValues');
  if (
    aesGcm !== undefined &&
    (typeof aesGcm?.createCipheriv !== 'function' || typeof aesGcm?.createDecipheriv !== 'function')
  )
    throw providerError('aesGcm must have createCipheriv and createDecipheriv (node:crypto shape)');
  if (argon2id !== undefined && typeof argon2id !== 'function')
    throw providerError(
      'argon2id must be a function (password, salt, { m, t, p, len }) => Promise<Uint8Array>',
    );
  if (getRandomValues !== undefined && typeof getRandomValues !== 'function')
    throw providerError('getRandomValues must be a function that fills a Uint8Array');
  if (aesGcm) checkAesGcm(aesGcm);
  if (getRandomValues) checkRandom(getRandomValues);
  registered = Object.freeze({ aesGcm, argon2id, getRandomValues });
  argon2Checked = undefined;
}

/** The registered provider, if any. @internal */
export function cryptoProvider(): Readonly<CryptoProvider> | undefined {
  return registered;
}

/** Forgets the registered provider: for tests only (e2ee-backup/testing). @internal */
export function resetCryptoProvider(): void {
  registered = undefined;
  argon2Checked = undefined;
}

// ---------------------------------------------------------------------------------------------
// AES-256-GCM through the provider

const TAG_BYTES = 16;

/**
 * One AES-256-GCM seal or open with the provider (or node:crypto, which has the same shape):
 * `seal` writes ciphertext ‖ tag into `out` at `offset`; `open` writes the plaintext there and
 * answers whether the tag verified (what it wrote must then be discarded).
 * @internal
 */
export function gcmSeal(
  gcm: AesGcmProvider,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array | undefined,
  plaintext: Uint8Array,
  out: Uint8Array,
  offset: number,
): void {
  const c = gcm.createCipheriv('aes-256-gcm', key, nonce);
  if (aad) c.setAAD(aad);
  const body = c.update(plaintext);
  out.set(body, offset);
  const tail = c.final();
  if (tail.length > 0) out.set(tail, offset + body.length);
  if (body.length + tail.length !== plaintext.length)
    throw providerError('the provider’s AES-GCM cipher returned the wrong number of bytes');
  const tag = c.getAuthTag();
  if (tag.length !== TAG_BYTES)
    throw providerError(`the provider’s AES-GCM tag is ${tag.length} bytes, not 16`);
  out.set(tag, offset + plaintext.length);
}

const wrongLength = () => providerError('the provider’s AES-GCM decipher returned the wrong number of bytes');

/** @see gcmSeal @internal */
export function gcmOpen(
  gcm: AesGcmProvider,
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array | undefined,
  sealed: Uint8Array,
  out: Uint8Array,
  offset: number,
): boolean {
  if (sealed.length < TAG_BYTES) return false;
  const n = sealed.length - TAG_BYTES;
  const d = gcm.createDecipheriv('aes-256-gcm', key, nonce);
  if (aad) d.setAAD(aad);
  d.setAuthTag(sealed.subarray(n));
  const body = d.update(sealed.subarray(0, n));
  // Checked before writing: `out` is wiped only as far as the plaintext it should hold.
  if (body.length > n) throw wrongLength();
  out.set(body, offset);
  let tail: Uint8Array;
  try {
    tail = d.final();
  } catch {
    return false;
  }
  if (body.length + tail.length !== n) throw wrongLength();
  if (tail.length > 0) out.set(tail, offset + body.length);
  return true;
}

const hex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g)!, (b) => Number.parseInt(b, 16));

function checkAesGcm(gcm: AesGcmProvider): void {
  // The GCM specification's test case 16 (McGrew and Viega, "The Galois/Counter Mode of
  // Operation", 2005): AES-256, 60 bytes, 20 bytes of AAD.
  const key = hex('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308');
  const iv = hex('cafebabefacedbaddecaf888');
  const aad = hex('feedfacedeadbeeffeedfacedeadbeefabaddad2');
  const pt = hex(
    'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
  );
  const want = hex(
    '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662' +
      '76fc6ece0f4e1768cddf8853bb2d551b',
  );
  let ok = false;
  try {
    const sealed = new Uint8Array(want.length);
    gcmSeal(gcm, key, iv, aad, pt, sealed, 0);
    const opened = new Uint8Array(pt.length);
    const tampered = want.slice();
    tampered[tampered.length - 1]! ^= 1;
    ok =
      equal(sealed, want) &&
      gcmOpen(gcm, key, iv, aad, want, opened, 0) &&
      equal(opened, pt) &&
      !gcmOpen(gcm, key, iv, aad, tampered, new Uint8Array(pt.length), 0);
  } catch (e) {
    throw providerError('the provider’s AES-256-GCM failed its known-answer check', e);
  }
  if (!ok) throw providerError('the provider’s AES-256-GCM failed its known-answer check');
}

// ---------------------------------------------------------------------------------------------
// Random bytes and Argon2id through the provider

function checkRandom(fill: (bytes: Uint8Array) => unknown): void {
  // Not a test of randomness (none is possible here): a catch for a function that returns fresh
  // bytes instead of filling the array it is given, or fills nothing.
  const a = new Uint8Array(32);
  const b = new Uint8Array(32);
  try {
    fill(a);
    fill(b);
  } catch (e) {
    throw providerError('the provider’s getRandomValues threw', e);
  }
  if (a.every((x) => x === 0) || equal(a, b))
    throw providerError('the provider’s getRandomValues does not fill the array it is given');
}

/** The provider's random source, if it gives one. @internal */
export function providedRandom(): ((bytes: Uint8Array) => unknown) | undefined {
  return registered?.getRandomValues;
}

/**
 * The provider's Argon2id, checked against a known answer before its first use and its output
 * checked on every call; `undefined` when the provider gives none.
 * @internal
 */
export function providedArgon2id():
  | ((password: Uint8Array, salt: Uint8Array, params: Argon2idRequest) => Promise<Uint8Array>)
  | undefined {
  const provider = registered;
  const argon2id = provider?.argon2id;
  if (!argon2id) return undefined;
  const call = async (password: Uint8Array, salt: Uint8Array, params: Argon2idRequest) => {
    let out: unknown;
    try {
      out = await argon2id(password, salt, { ...params });
    } catch (e) {
      throw providerError('the provider’s Argon2id failed', e);
    }
    if (!(out instanceof Uint8Array) || out.length !== params.len)
      throw providerError(`the provider’s Argon2id did not answer ${params.len} bytes`);
    return out;
  };
  return async (password, salt, params) => {
    // Argon2id's known answer: m = 64 KiB, t = 1, p = 1, computed by hash-wasm and by
    // @noble/hashes, which agree. Checked once per registration.
    argon2Checked ??= call(
      new Uint8Array(Array.from('e2ee-backup provider self-test', (c) => c.charCodeAt(0))),
      new Uint8Array(16).fill(1),
      { m: 64, t: 1, p: 1, len: 32 },
    ).then((got) => {
      if (!equal(got, hex('a2b7d0efdb63645d6f192b0a2476a6b486d5f02e79c6dddf7e2978474d4dd0e3')))
        throw providerError('the provider’s Argon2id failed its known-answer check');
    });
    const check = argon2Checked;
    try {
      await check;
    } catch (e) {
      if (argon2Checked === check) argon2Checked = undefined; // a thrown error may be transient
      throw e;
    }
    return call(password, salt, params);
  };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function providerError(message: string, cause?: unknown): E2EEError {
  return new E2EEError('CRYPTO_PROVIDER', message, cause === undefined ? undefined : { cause });
}
