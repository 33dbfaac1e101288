/** Small byte helpers shared by the layers. Internal: not part of the public API. */

import { E2EEError } from '../errors.js';
import { providedRandom } from './provider.js';
import { encodeUtf8 } from './utf8.js';

// Made on first use, and not needed at all: an import must not fail where TextEncoder is
// missing (Hermes before React Native 0.74).
let encoder: TextEncoder | undefined;

/** UTF-8 bytes of a string, or the bytes themselves. */
export function toBytes(data: string | Uint8Array): Uint8Array {
  if (typeof data !== 'string') return data;
  if (typeof TextEncoder !== 'function') return encodeUtf8(data);
  encoder ??= new TextEncoder();
  return encoder.encode(data);
}

/** Concatenation into one new array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** The hex digits, lowercase. */
export const HEX_DIGITS = '0123456789abcdef';

// Hex of our own rather than @noble/hashes/utils.js: key codes are the only hex the CLI's
// encrypt and decrypt need, and that import was the one npm package they loaded
// (docs/performance.md, "Hex without a package").
/** Lowercase hex of `bytes`, two digits per byte. */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += HEX_DIGITS[b >> 4]! + HEX_DIGITS[b & 15]!;
  return s;
}

/** The bytes of an even number of lowercase hex digits. */
export function fromHex(digits: string): Uint8Array {
  if (digits.length % 2 !== 0 || !/^[0-9a-f]*$/.test(digits))
    throw new E2EEError('INVALID_ARGUMENT', 'not an even number of lowercase hex digits');
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Equality in time that depends only on the lengths, for secrets and MACs. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

// A decrypt checks Padmé's padding, up to 3.1 % of a 1 GiB backup: Uint8Array.prototype.some
// with a callback took 0.4-0.46 s per 34 MiB on Node 20, 22 and 24, this loop 24-69 ms
// (docs/performance.md, "Checking the padding").
/**
 * Whether every byte of `bytes` is zero. Not constant-time: only for bytes that are not secret,
 * such as padding that must be zero, checked after it was authenticated, or a device salt.
 */
export function isAllZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * Random bytes from the registered provider's CSPRNG, else the platform's (WebCrypto's
 * getRandomValues), in 64 KiB calls.
 */
export function randomBytes(n: number): Uint8Array {
  const c = globalThis.crypto as Crypto | undefined;
  const fill =
    providedRandom() ??
    (c?.getRandomValues ? (b: Uint8Array) => c.getRandomValues(b as Uint8Array<ArrayBuffer>) : undefined);
  if (!fill)
    throw new E2EEError(
      'CRYPTO_PROVIDER',
      'no CSPRNG here: install react-native-get-random-values (or react-native-quick-crypto) and import it first, ' +
        'or give setCryptoProvider({ getRandomValues })',
    );
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) fill(out.subarray(off, off + 65536));
  return out;
}

type BufferCtor = { allocUnsafeSlow(n: number): Uint8Array };
const NodeBuffer = (globalThis as { Buffer?: BufferCtor }).Buffer;

/**
 * A new array whose every byte the caller will overwrite. Where Node's Buffer exists it skips the
 * zero-fill (measurable at hundreds of MB/s); the result is a plain Uint8Array over memory of its
 * own, never a view into a shared pool.
 */
export function allocForOverwrite(n: number): Uint8Array {
  if (NodeBuffer && n >= 4096) {
    const b = NodeBuffer.allocUnsafeSlow(n);
    return new Uint8Array(b.buffer, b.byteOffset, n);
  }
  return new Uint8Array(n);
}
