/**
 * ./hashes.ts on node:crypto, for the command-line tool's build only (tsup.cli.config.ts puts it
 * in that module's place). Same functions, same bytes, same refusals: test/hashes.test.ts checks
 * them against each other and runs the container, KDF and Wycheproof vectors on this one.
 *
 * HKDF is RFC 5869's Extract and Expand on node:crypto's HMAC rather than `hkdfSync`, which takes
 * at most 1024 bytes of info and refuses a zero-length output where noble does not.
 *
 * Internal module.
 */

import { createHash, createHmac } from 'node:crypto';
import { checkOkmLength } from './hkdf-length.js';

type Hash = 'sha256' | 'sha512';
const HASH_LEN: Record<Hash, number> = { sha256: 32, sha512: 64 };

/** SHA-256 of `data`. */
export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

/** HKDF-SHA-256 (RFC 5869: Extract, then Expand) of `length` bytes. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return hkdf('sha256', ikm, salt, info, length);
}

/** HKDF-SHA-512 (RFC 5869: Extract, then Expand) of `length` bytes. */
export function hkdfSha512(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return hkdf('sha512', ikm, salt, info, length);
}

/** HKDF-SHA-512-Expand (RFC 5869 §2.3) of `length` bytes, for a PRK of any length. */
export function hkdfExpandSha512(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  checkOkmLength(length, HASH_LEN.sha512);
  return expand('sha512', prk, info, length);
}

function hkdf(hash: Hash, ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  checkOkmLength(length, HASH_LEN[hash]);
  // Extract: PRK = HMAC(salt, IKM). An empty salt is HashLen zero bytes, which HMAC pads to the
  // same key block as an empty key.
  const prk = createHmac(hash, salt).update(ikm).digest();
  try {
    return expand(hash, prk, info, length);
  } finally {
    prk.fill(0);
  }
}

// T(0) = empty, T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i), OKM = first L bytes of T(1) ‖ T(2) ‖ …
// The caller has checked `length`.
function expand(hash: Hash, prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  const hashLen = HASH_LEN[hash];
  const okm = new Uint8Array(length);
  let t: Uint8Array = new Uint8Array(0);
  for (let i = 1, off = 0; off < length; i++, off += hashLen) {
    const next = createHmac(hash, prk).update(t).update(info).update(Uint8Array.of(i)).digest();
    t.fill(0);
    t = next;
    okm.set(t.subarray(0, Math.min(hashLen, length - off)), off);
  }
  t.fill(0);
  return okm;
}
