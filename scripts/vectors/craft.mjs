// An independent writer of container v1 bytes, built from SPEC.md with node:crypto, hash-wasm's
// Argon2id and fflate's raw deflate. The vector generator uses it for every input the library's
// encoder would never write (odd framing, edited headers, foreign slots), and for valid inputs the
// encoder cannot be asked for (chosen block sizes, member order, exact chunk boundaries). Nothing
// here imports the library, so every crafted vector that the library opens is a second
// implementation agreeing with it.
import { createCipheriv, createHash, createHmac, hkdfSync } from 'node:crypto';
import { deflateSync } from 'fflate';
import { argon2id } from 'hash-wasm';

// ---------------------------------------------------------------------------------------------
// bytes

/** Concatenation of byte arrays into one new Uint8Array. */
export function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export const utf8 = (s) => new TextEncoder().encode(s);
export const hex = (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
export const fromHex = (h) => new Uint8Array(Buffer.from(h, 'hex'));
export const u8 = (n) => Uint8Array.of(n);
export const u16 = (n) => Uint8Array.of((n >>> 8) & 0xff, n & 0xff);
export const u32 = (n) => Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
export const sha256 = (b) => new Uint8Array(createHash('sha256').update(b).digest());
export const sha512 = (b) => new Uint8Array(createHash('sha512').update(b).digest());

/** A copy of `b` with `f` applied to it (for single-byte edits). */
export function edit(b, f) {
  const c = b.slice();
  f(c);
  return c;
}

// ---------------------------------------------------------------------------------------------
// primitives (SPEC.md §1)

/** RFC 5869 §2.3 HKDF-Expand with SHA-512, PRK of any length. */
export function hkdfExpandSha512(prk, info, length) {
  const out = new Uint8Array(length);
  let t = new Uint8Array(0);
  for (let i = 1, o = 0; o < length; i++, o += 64) {
    t = new Uint8Array(createHmac('sha512', prk).update(t).update(info).update(u8(i)).digest());
    out.set(t.subarray(0, Math.min(64, length - o)), o);
  }
  return out;
}

/** AES-256-GCM seal: ciphertext ‖ 16-byte tag. */
export function aesGcm(key, nonce, aad, plaintext) {
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad);
  const body = c.update(plaintext);
  c.final();
  return concat(body, c.getAuthTag());
}

/** Argon2id(UTF-8(NFC(password)), salt, m, t, p, 32), as SPEC.md §3.5 feeds it. */
export async function argon2(password, salt, { m, t, p }) {
  return argon2id({
    password: typeof password === 'string' ? utf8(password.normalize('NFC')) : password,
    salt,
    parallelism: p,
    iterations: t,
    memorySize: m,
    hashLength: 32,
    outputType: 'binary',
  });
}

/** Raw deflate (RFC 1951) with fflate: pure JavaScript, so the bytes never depend on the platform. */
export const rawDeflate = (data, options = { level: 6 }) => deflateSync(data, options);

// ---------------------------------------------------------------------------------------------
// header (SPEC.md §3)

export const MAGIC = Uint8Array.of(0x89, 0x45, 0x32, 0x45, 0x45, 0x42, 0x4b, 0x0a);
export const FLAG_COMPRESSED = 0x01;
export const FLAG_PADDED = 0x02;
const BACKUP_KEY_INFO = utf8('e2ee-backup v1 backup-key slot');
const PASSWORD_INFO = utf8('e2ee-backup v1 password slot');
const ZERO_NONCE = new Uint8Array(12);

/** KEK of a backup-key slot: HKDF-SHA-512(backup key, salt, info, 32). */
export const backupKeyKek = (backupKey, salt) =>
  new Uint8Array(hkdfSync('sha512', backupKey, salt, BACKUP_KEY_INFO, 32));

/** KEK of a password slot from the Argon2id output: HKDF-Expand-SHA-512(S, info, 32). */
export const passwordKek = (stretched) => hkdfExpandSha512(stretched, PASSWORD_INFO, 32);

/**
 * A backup-key slot. `wrapped` overrides the wrapped key (for slots whose KEK cannot or need not
 * be computed); `type` and `length` override the prefix fields, which the wrap then authenticates.
 */
export function keySlot({ backupKey, salt, fileKey, wrapped, type = 0x01, length = 80 }) {
  const prefix = concat(u8(type), u16(length), salt);
  return concat(prefix, wrapped ?? aesGcm(backupKeyKek(backupKey, salt), ZERO_NONCE, prefix, fileKey));
}

/** A password slot; `wrapped` as for {@link keySlot} (then no Argon2id runs). */
export async function passwordSlot({ password, kdf, salt, fileKey, wrapped, type = 0x02, length = 92 }) {
  const prefix = concat(u8(type), u16(length), u32(kdf.m), u32(kdf.t), u32(kdf.p), salt);
  if (wrapped) return concat(prefix, wrapped);
  const kek = passwordKek(await argon2(password, salt, kdf));
  return concat(prefix, aesGcm(kek, ZERO_NONCE, prefix, fileKey));
}

/** The 16-byte checksum of SPEC.md §3.3 over a header's first H − 16 bytes. */
export const checksum = (unsummed) => sha256(unsummed).subarray(0, 16);

/**
 * A header. Every field can be overridden; by default the length, slot count and checksum are
 * those of the slots given.
 */
export function header({
  flags,
  slots,
  version = 1,
  magic = MAGIC,
  length,
  count,
  extra = new Uint8Array(0),
  sum,
}) {
  const body = concat(...slots, extra);
  const h = length ?? 13 + body.length + 16;
  const unsummed = concat(magic, u8(version), u8(flags), u16(h), u8(count ?? slots.length), body);
  return concat(unsummed, sum ?? checksum(unsummed));
}

/** Recomputes the checksum of an edited header (as anyone can). */
export function reseal(h) {
  return concat(h.subarray(0, h.length - 16), checksum(h.subarray(0, h.length - 16)));
}

// ---------------------------------------------------------------------------------------------
// payload (SPEC.md §4: Cobblestone-256)

export const CHUNK = 16384;
const INFO_PREFIX = utf8('c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\u0000');

/** The chunk nonce: base nonce XOR the counter as a 96-bit big-endian integer. */
function chunkNonce(base, i) {
  const n = base.slice();
  for (let k = 11, c = i; k >= 0 && c > 0; k--, c = Math.floor(c / 256)) n[k] ^= c % 256;
  return n;
}

/**
 * A Cobblestone-256 message: `{ salt, commitment, records }` (records are the sealed chunks, the
 * last one short), so that vectors can reorder, drop or edit them; `bytes()` joins them.
 */
export function cobblestone(fileKey, salt, context, plaintext) {
  const okm = hkdfExpandSha512(fileKey, concat(INFO_PREFIX, salt, context), 76);
  const key = okm.subarray(0, 32);
  const base = okm.subarray(32, 44);
  const commitment = okm.slice(44, 76);
  const records = [];
  const full = Math.floor(plaintext.length / CHUNK);
  for (let i = 0; i <= full; i++)
    records.push(
      aesGcm(key, chunkNonce(base, i), new Uint8Array(0), plaintext.subarray(i * CHUNK, (i + 1) * CHUNK)),
    );
  return { salt, commitment, records, bytes: () => concat(salt, commitment, ...records) };
}

// ---------------------------------------------------------------------------------------------
// plaintext framing (SPEC.md §5)

/** A metadata record from a JSON string (verbatim) or a value (JSON.stringify). */
export function metaRecord(json) {
  const bytes =
    typeof json === 'string' ? utf8(json) : json instanceof Uint8Array ? json : utf8(JSON.stringify(json));
  return concat(u32(bytes.length), bytes);
}

export const stored = (data) => concat(u8(1), u32(data.length), data);
/** A deflate block; `packed`, `clen` and `rlen` can be forced to break the rules. */
export function deflated(data, { packed = rawDeflate(data), clen = packed.length, rlen = data.length } = {}) {
  return concat(u8(2), u32(clen), u32(rlen), packed);
}
export const END = u8(0);

/** Padmé (SPEC.md §5.4), written out from the definition. */
export function padme(length) {
  if (length < 2) return length;
  const e = length.toString(2).length - 1; // ⌊log₂ L⌋, exact for every safe integer
  const s = e.toString(2).length; // ⌊log₂ E⌋ + 1
  const unit = 2 ** (e - s);
  return Math.ceil(length / unit) * unit;
}

/** `framed ‖ zeros` up to Padmé(framed.length). */
export const padded = (framed) => concat(framed, new Uint8Array(padme(framed.length) - framed.length));

/**
 * A hand-made raw deflate stream of one fixed-Huffman block (RFC 1951 §3.2.6): `byte`, then
 * `matches` copies of <length 258, distance 1>, then end-of-block — 1 + 258 · matches bytes.
 * With `final: false` the block is not the last one and nothing follows: a stream that never ends.
 */
export function fixedHuffmanRun(byte, matches, { final = true } = {}) {
  const bits = [];
  const field = (value, n) => {
    for (let i = 0; i < n; i++) bits.push((value >>> i) & 1); // header fields: least significant bit first
  };
  const code = (value, n) => {
    for (let i = n - 1; i >= 0; i--) bits.push((value >>> i) & 1); // Huffman codes: most significant bit first
  };
  field(final ? 1 : 0, 1); // BFINAL
  field(1, 2); // BTYPE 01: fixed Huffman codes
  if (byte < 144) code(0x30 + byte, 8);
  else code(0x190 + byte - 144, 9);
  for (let i = 0; i < matches; i++) {
    code(0xc0 + (285 - 280), 8); // length code 285: 258 bytes, no extra bits
    code(0, 5); // distance code 0: distance 1
  }
  code(0, 7); // end of block (256)
  const out = new Uint8Array(Math.ceil(bits.length / 8));
  bits.forEach((b, i) => {
    out[i >> 3] |= b << (i & 7);
  });
  return out;
}
