/**
 * The encrypted part of a crypt15 file (docs/whatsapp-crypt15.md §3): after the prefix,
 * AES-256-GCM ciphertext with the prefix's 16-byte IV and no associated data, the 16-byte tag,
 * then — in single-file backups — 16 bytes of MD5 over everything before them.
 *
 * Which of the two layouts a file has is decided by the MD5: if the last 16 bytes are the MD5 of
 * the rest, the 16 before them are the tag; otherwise the last 16 are. The MD5 is no
 * authentication (anyone can recompute it); it only tells a damaged file from a wrong key:
 *
 * | MD5 trailer | GCM tag                         | verdict                       |
 * |-------------|---------------------------------|-------------------------------|
 * | matches     | verifies                        | opened                        |
 * | matches     | fails                           | `WRONG_KEY` (the file is intact) |
 * | no match    | verifies as the last 16 bytes   | opened (multi-file, no MD5)   |
 * | no match    | fails                           | `CHUNK_AUTH` (damaged)        |
 *
 * Two ways to run it: streaming on node:crypto (`createDecipheriv` takes 16-byte IVs and releases
 * plaintext before `final()` checks the tag, so that output is provisional), and one-shot on
 * WebCrypto or @noble/ciphers (which check the tag before releasing anything, so the whole
 * ciphertext is held in memory).
 *
 * Internal module.
 */

import { E2EEError } from '../errors.js';

const TAG = 16;
const MD5 = 16;

/** Whether the file ended with an MD5 trailer (single-file backups) or not (multi-file ones). */
export type WhatsAppLayout = 'md5' | 'no-md5';

function wrongKey(): E2EEError {
  return new E2EEError(
    'WRONG_KEY',
    'this key does not open the WhatsApp backup (its MD5 checksum matches, so the file is intact, but the GCM tag does not verify under this key)',
  );
}

function damaged(): E2EEError {
  return new E2EEError(
    'CHUNK_AUTH',
    'the WhatsApp backup is damaged or was modified: neither its MD5 checksum nor its GCM tag matches ' +
      '(a multi-file backup, which has no MD5 checksum, gives this error for a wrong key too)',
  );
}

function truncated(bodyBytes: number): E2EEError {
  return new E2EEError(
    'TRUNCATED',
    `the WhatsApp backup ends ${bodyBytes} byte(s) after its prefix, too short to hold a GCM tag`,
  );
}

// Minimal structural view of node:crypto, so that no `node:` import reaches browser bundles.
interface NodeDecipher {
  update(data: Uint8Array): Uint8Array;
  final(): Uint8Array;
  setAuthTag(tag: Uint8Array): void;
}
interface NodeHash {
  update(data: Uint8Array): NodeHash;
  digest(): Uint8Array;
}
interface NodeCrypto {
  createDecipheriv(alg: 'aes-256-gcm', key: Uint8Array, iv: Uint8Array): NodeDecipher;
  createHash(alg: 'md5'): NodeHash;
}

/** node:crypto where it exists (Node ≥ 20.16, Bun, Deno), else `undefined`. */
export function nodeCrypto(): NodeCrypto | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const mod = proc?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;
  return mod && typeof mod.createDecipheriv === 'function' ? mod : undefined;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function join(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** A streaming opener: plaintext as the ciphertext comes, the verdict at the end. */
export interface StreamOpener {
  /** Takes the next bytes after the prefix; answers the (unauthenticated) plaintext it releases. */
  update(piece: Uint8Array): Uint8Array;
  /** At the end of the file: the last plaintext, once the tag has verified; else the verdict's error. */
  finish(): { plaintext: Uint8Array; layout: WhatsAppLayout };
}

/**
 * The node:crypto opener. The last 32 bytes seen are held back (copied, so the caller may reuse
 * its buffers): until the file ends, they may be ciphertext, or the tag and the MD5.
 *
 * @param prefix - the file's bytes before the ciphertext (they are in the MD5).
 */
export function streamOpener(
  nc: NodeCrypto,
  key: Uint8Array,
  iv: Uint8Array,
  prefix: Uint8Array,
): StreamOpener {
  const decipher = nc.createDecipheriv('aes-256-gcm', key, iv);
  const md5 = nc.createHash('md5').update(prefix);
  const HOLD = TAG + MD5;
  let tail: Uint8Array = new Uint8Array(0);
  let body = 0;
  const feed = (bytes: Uint8Array): Uint8Array => {
    if (bytes.length === 0) return bytes;
    md5.update(bytes);
    return decipher.update(bytes);
  };
  return {
    update(piece) {
      body += piece.length;
      const total = tail.length + piece.length;
      if (total <= HOLD) {
        tail = join(tail, new Uint8Array(piece));
        return new Uint8Array(0);
      }
      const release = total - HOLD;
      if (release <= tail.length) {
        const out = feed(tail.subarray(0, release));
        tail = join(new Uint8Array(tail.subarray(release)), new Uint8Array(piece));
        return out;
      }
      const out = join(feed(tail), feed(piece.subarray(0, release - tail.length)));
      tail = new Uint8Array(piece.subarray(piece.length - HOLD));
      return out;
    },
    finish() {
      if (body < TAG) throw truncated(body);
      if (tail.length === HOLD) {
        md5.update(tail.subarray(0, TAG));
        if (equal(md5.digest(), tail.subarray(TAG))) {
          decipher.setAuthTag(tail.subarray(0, TAG));
          try {
            decipher.final();
          } catch {
            throw wrongKey();
          }
          return { plaintext: new Uint8Array(0), layout: 'md5' };
        }
      }
      const plaintext = decipher.update(tail.subarray(0, tail.length - TAG));
      decipher.setAuthTag(tail.subarray(tail.length - TAG));
      try {
        decipher.final();
      } catch {
        throw damaged();
      }
      return { plaintext, layout: 'no-md5' };
    },
  };
}

/** The one-shot backends. */
export type OneShotBackend = 'webcrypto' | 'noble';

/**
 * Opens a whole file at once: only authenticated plaintext comes out.
 *
 * @param prefixSize - where the ciphertext starts in `file`.
 */
export async function openWhole(
  backend: OneShotBackend,
  key: Uint8Array,
  iv: Uint8Array,
  file: Uint8Array,
  prefixSize: number,
): Promise<{ plaintext: Uint8Array; layout: WhatsAppLayout }> {
  const body = file.length - prefixSize;
  if (body < TAG) throw truncated(body);
  let layout: WhatsAppLayout = 'no-md5';
  if (body >= TAG + MD5) {
    const { md5 } = await import('@noble/hashes/legacy.js');
    if (equal(md5(file.subarray(0, file.length - MD5)), file.subarray(file.length - MD5))) layout = 'md5';
  }
  const sealed = file.subarray(prefixSize, layout === 'md5' ? file.length - MD5 : file.length);
  const plaintext = await gcmOpen(backend, key, iv, sealed);
  if (!plaintext) throw layout === 'md5' ? wrongKey() : damaged();
  return { plaintext, layout };
}

async function gcmOpen(
  backend: OneShotBackend,
  key: Uint8Array,
  iv: Uint8Array,
  sealed: Uint8Array,
): Promise<Uint8Array | undefined> {
  if (backend === 'webcrypto') {
    const subtle = globalThis.crypto.subtle;
    const k = await subtle.importKey('raw', key as BufferSource, 'AES-GCM', false, ['decrypt']);
    try {
      // WebCrypto takes IVs of any length; a 16-byte one goes through GHASH as GCM specifies.
      return new Uint8Array(
        await subtle.decrypt({ name: 'AES-GCM', iv: iv as BufferSource }, k, sealed as BufferSource),
      );
    } catch {
      return undefined;
    }
  }
  const { gcm } = await import('@noble/ciphers/aes.js');
  try {
    return gcm(key, iv).decrypt(sealed);
  } catch {
    return undefined;
  }
}

/**
 * The first bytes of the plaintext, unauthenticated, on node:crypto: GCM's counter mode before
 * the tag is looked at. For trying candidate keys (a typo in the code) cheaply; never output.
 */
export function unverifiedHead(
  nc: NodeCrypto,
  key: Uint8Array,
  iv: Uint8Array,
  ciphertext: Uint8Array,
): Uint8Array {
  return nc.createDecipheriv('aes-256-gcm', key, iv).update(ciphertext);
}
