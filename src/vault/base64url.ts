/**
 * Strict base64url (RFC 4648 section 5, no padding) for the vault's JSON API. Strict because
 * every binary field is a secret-bearing protocol message: a decoder that silently accepted
 * padding, whitespace, the `+/` alphabet or non-zero trailing bits would give one message several
 * spellings, which the server would then have to treat as equal.
 *
 * Written out rather than taken from `Buffer` or `atob` so that the client stays free of Node APIs
 * and decoding never allocates for rejected input.
 *
 * @module
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

/** Encodes bytes as unpadded base64url. */
export function toBase64url(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += ALPHABET[n >>> 18]! + ALPHABET[(n >>> 12) & 63]! + ALPHABET[(n >>> 6) & 63]! + ALPHABET[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += ALPHABET[n >>> 18]! + ALPHABET[(n >>> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += ALPHABET[n >>> 18]! + ALPHABET[(n >>> 12) & 63]! + ALPHABET[(n >>> 6) & 63]!;
  }
  return out;
}

/**
 * Decodes canonical unpadded base64url, or returns `undefined` for anything else: other
 * characters, padding, a length of 1 mod 4, or non-zero unused bits in the last character.
 */
export function fromBase64url(text: string): Uint8Array | undefined {
  if (typeof text !== 'string' || text.length % 4 === 1) return undefined;
  const values = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? LOOKUP[c]! : -1;
    if (v < 0) return undefined;
    values[i] = v;
  }
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let o = 0;
  let i = 0;
  for (; i + 3 < values.length; i += 4) {
    const n = (values[i]! << 18) | (values[i + 1]! << 12) | (values[i + 2]! << 6) | values[i + 3]!;
    out[o++] = n >>> 16;
    out[o++] = (n >>> 8) & 0xff;
    out[o++] = n & 0xff;
  }
  const rest = values.length - i;
  if (rest === 2) {
    if ((values[i + 1]! & 0x0f) !== 0) return undefined; // unused bits must be zero (canonical)
    out[o++] = (values[i]! << 2) | (values[i + 1]! >>> 4);
  } else if (rest === 3) {
    if ((values[i + 2]! & 0x03) !== 0) return undefined;
    const n = (values[i]! << 10) | (values[i + 1]! << 4) | (values[i + 2]! >>> 2);
    out[o++] = n >>> 8;
    out[o++] = n & 0xff;
  }
  return out;
}
