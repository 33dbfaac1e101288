/**
 * The hash functions of the container and of Cobblestone (SPEC.md §2–§4): SHA-256 for the header's
 * checksum, HKDF-SHA-512 for backup-key slots, HKDF-SHA-512-Expand for password slots and payload
 * keys; and HKDF-SHA-256 for a WhatsApp key (docs/whatsapp-crypt15.md §1), which the CLI's key
 * file reader also accepts. This is the portable backend, on @noble/hashes, that the library runs
 * everywhere. The command-line tool, a Node application, is built with ./hashes-node.ts in its
 * place (tsup.cli.config.ts): the same functions on node:crypto, which the CLI loads anyway, so
 * that `encrypt` and `decrypt` do not load and warm up @noble/hashes at start-up
 * (docs/performance.md, "SHA-256 and HKDF on node:crypto in the CLI"). Both are checked against
 * each other and by the vectors.
 *
 * Why Expand is written out rather than `@noble/hashes/hkdf.js`'s `expand`: that refuses a PRK
 * shorter than HashLen (64 bytes), but Cobblestone-256 keys HKDF-Expand directly with its 32-byte
 * input key (c2sp.org/chunked-encryption skips Extract on purpose). HMAC itself takes keys of any
 * length, so this is RFC 5869's loop: T(0) = empty, T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i),
 * OKM = first L bytes of T(1) ‖ T(2) ‖ …
 *
 * Internal module.
 */

import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 as nobleSha256, sha512 } from '@noble/hashes/sha2.js';
import { checkOkmLength } from './hkdf-length.js';

/** SHA-256 of `data`. */
export function sha256(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}

/** HKDF-SHA-256 (RFC 5869: Extract, then Expand) of `length` bytes. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  checkOkmLength(length, 32);
  return hkdf(nobleSha256, ikm, salt, info, length);
}

/** HKDF-SHA-512 (RFC 5869: Extract, then Expand) of `length` bytes. */
export function hkdfSha512(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  checkOkmLength(length, 64);
  return hkdf(sha512, ikm, salt, info, length);
}

/** HKDF-SHA-512-Expand (RFC 5869 §2.3) of `length` bytes, for a PRK of any length. */
export function hkdfExpandSha512(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  checkOkmLength(length, 64);
  const okm = new Uint8Array(length);
  const mac = hmac.create(sha512, prk);
  let t = new Uint8Array(0);
  for (let i = 1, off = 0; off < length; i++, off += 64) {
    const h = mac.clone();
    h.update(t).update(info).update(Uint8Array.of(i));
    t.fill(0); // T(i-1), fed into T(i): once absorbed, the output holds the only copy
    t = h.digest();
    okm.set(t.subarray(0, Math.min(64, length - off)), off);
  }
  t.fill(0);
  mac.destroy();
  return okm;
}
