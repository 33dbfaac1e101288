/**
 * HKDF-Expand (RFC 5869 §2.3) with SHA-512, on @noble/hashes' HMAC.
 *
 * Why not `@noble/hashes/hkdf.js`'s `expand`: it refuses a PRK shorter than HashLen (64 bytes),
 * but Cobblestone-256 keys HKDF-Expand directly with its 32-byte input key (c2sp.org/chunked-encryption
 * skips Extract on purpose). HMAC itself takes keys of any length, so this is RFC 5869's loop:
 * T(0) = empty, T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i), OKM = first L bytes of T(1) ‖ T(2) ‖ …
 *
 * Internal module.
 */

import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';

const HASH_LEN = 64;

export function hkdfExpandSha512(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 255 * HASH_LEN)
    throw new RangeError('HKDF-Expand length');
  const okm = new Uint8Array(length);
  const mac = hmac.create(sha512, prk);
  let t = new Uint8Array(0);
  for (let i = 1, off = 0; off < length; i++, off += HASH_LEN) {
    const h = mac.clone();
    h.update(t).update(info).update(Uint8Array.of(i));
    t = h.digest();
    okm.set(t.subarray(0, Math.min(HASH_LEN, length - off)), off);
  }
  mac.destroy();
  return okm;
}
