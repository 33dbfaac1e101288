/**
 * ./hashes.ts on node:crypto, for the command-line tool's build only (tsup.cli.config.ts puts it
 * in that module's place). Same functions, same bytes: test/hashes.test.ts checks them against
 * each other and runs the container and Wycheproof vectors on this one.
 *
 * node:crypto's `hkdfSync` takes at most 1024 bytes of info; the callers of the full HKDFs pass
 * fixed labels of a few dozen bytes. Expand, whose info holds a caller's context, has no limit.
 *
 * Internal module.
 */

import { createHash, createHmac, hkdfSync } from 'node:crypto';

const HASH_LEN = 64;

/** SHA-256 of `data`. */
export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

/** HKDF-SHA-256 (RFC 5869: Extract, then Expand) of `length` bytes. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, length));
}

/** HKDF-SHA-512 (RFC 5869: Extract, then Expand) of `length` bytes. */
export function hkdfSha512(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return new Uint8Array(hkdfSync('sha512', ikm, salt, info, length));
}

/**
 * HKDF-SHA-512-Expand (RFC 5869 §2.3) of `length` bytes, for a PRK of any length. node:crypto has
 * no Expand on its own (`hkdfSync` always extracts first), so this is RFC 5869's loop on its HMAC.
 */
export function hkdfExpandSha512(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 255 * HASH_LEN)
    throw new RangeError('HKDF-Expand length');
  const okm = new Uint8Array(length);
  let t = new Uint8Array(0);
  for (let i = 1, off = 0; off < length; i++, off += HASH_LEN) {
    const h = createHmac('sha512', prk).update(t).update(info).update(Uint8Array.of(i)).digest();
    t.fill(0);
    t = new Uint8Array(h.buffer, h.byteOffset, h.length);
    okm.set(t.subarray(0, Math.min(HASH_LEN, length - off)), off);
  }
  t.fill(0);
  return okm;
}
