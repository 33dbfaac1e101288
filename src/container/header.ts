/**
 * The container header (format v1): magic, version, flags, key slots and a checksum, and the key
 * slots that wrap the per-backup file key. SPEC.md §2–§3 is the normative description; the
 * constants and checks here follow it line by line.
 *
 * @module
 */

import { E2EEError } from '../errors.js';
import { concat, constantTimeEqual, randomBytes, toBytes } from '../internal/bytes.js';
import { hkdfExpandSha512, hkdfSha512, sha256 } from '../internal/hashes.js';
import { gcmWithAad } from '../primitives/aes-gcm.js';
import {
  type Argon2idParams,
  DEFAULT_KDF_MAXIMA,
  deriveKeyFromPassword,
  type KdfOptions,
  validateKdfParams,
} from '../primitives/kdf.js';

/** The 8 magic bytes that start every backup: 0x89 "E2EEBK" 0x0A. */
export const MAGIC = Uint8Array.of(0x89, 0x45, 0x32, 0x45, 0x45, 0x42, 0x4b, 0x0a);
/** The only format version this library writes and reads. */
export const FORMAT_VERSION = 1;
/** Flag bit: body blocks may be raw-deflate compressed. */
export const FLAG_COMPRESSED = 0x01;
/** Flag bit: the payload is Padmé-padded. */
export const FLAG_PADDED = 0x02;
const KNOWN_FLAGS = FLAG_COMPRESSED | FLAG_PADDED;

/** Slot type byte of a backup-key slot. */
export const SLOT_BACKUP_KEY = 0x01;
/** Slot type byte of a password slot. */
export const SLOT_PASSWORD = 0x02;

/** Bytes of the fixed part: magic, version, flags, header length, slot count. */
export const HEADER_FIXED_SIZE = 13;
/** Bytes of the trailing checksum. */
export const CHECKSUM_SIZE = 16;
/** Largest header a decoder accepts. */
export const MAX_HEADER_SIZE = 4096;
/** Most key slots in one header. */
export const MAX_SLOTS = 8;
/** Bytes of every slot salt. */
export const SLOT_SALT_SIZE = 32;
/** Bytes of a wrapped file key: 32-byte key plus 16-byte GCM tag. */
export const WRAPPED_KEY_SIZE = 48;
const BACKUP_KEY_SLOT_BODY = SLOT_SALT_SIZE + WRAPPED_KEY_SIZE;
const PASSWORD_SLOT_BODY = 12 + SLOT_SALT_SIZE + WRAPPED_KEY_SIZE;

const BACKUP_KEY_KEK_INFO = toBytes('e2ee-backup v1 backup-key slot');
const PASSWORD_KEK_INFO = toBytes('e2ee-backup v1 password slot');
const ZERO_NONCE = new Uint8Array(12);

/** A backup-key slot as parsed from a header. */
export interface BackupKeySlot {
  readonly type: 'backup-key';
  readonly salt: Uint8Array;
  readonly wrappedKey: Uint8Array;
  /** The slot's bytes before the wrapped key (type, length, salt): the wrap's AAD. */
  readonly aad: Uint8Array;
}

/** A password slot as parsed from a header. */
export interface PasswordSlot {
  readonly type: 'password';
  readonly kdf: Argon2idParams;
  readonly salt: Uint8Array;
  readonly wrappedKey: Uint8Array;
  /** The slot's bytes before the wrapped key (type, length, m, t, p, salt): the wrap's AAD. */
  readonly aad: Uint8Array;
}

/** A key slot. */
export type KeySlot = BackupKeySlot | PasswordSlot;

/** A parsed header. Every field is unauthenticated until the payload's commitment checks. */
export interface Header {
  readonly version: number;
  readonly flags: number;
  readonly slots: readonly KeySlot[];
  /** The exact header bytes: the payload's Cobblestone context. */
  readonly bytes: Uint8Array;
}

function u16(n: number): Uint8Array {
  return Uint8Array.of(n >>> 8, n & 0xff);
}

function u32(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

function readU16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function malformed(message: string): E2EEError {
  return new E2EEError('MALFORMED_HEADER', `backup header: ${message}`);
}

/** KEK of a backup-key slot: HKDF-SHA-512(IKM = backup key, salt = slot salt, info = label). */
export function backupKeyKek(backupKey: Uint8Array, salt: Uint8Array): Uint8Array {
  if (backupKey.length !== 32)
    throw new E2EEError('INVALID_KEY_SIZE', `a backup key is 32 bytes, got ${backupKey.length}`);
  return hkdfSha512(backupKey, salt, BACKUP_KEY_KEK_INFO, 32);
}

/** KEK of a password slot from the Argon2id output: HKDF-SHA-512-Expand(PRK = output, info = label). */
export function passwordKek(argon2Output: Uint8Array): Uint8Array {
  return hkdfExpandSha512(argon2Output, PASSWORD_KEK_INFO, 32);
}

async function wrap(kek: Uint8Array, fileKey: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
  // AES-256-GCM with an all-zero nonce is safe here: every KEK is used for exactly one wrap,
  // because every slot draws a fresh 32-byte salt. The AAD binds the slot's own fields.
  return (await gcmWithAad(kek, ZERO_NONCE, aad)).seal(fileKey);
}

/** Unwraps a slot's file key, or `undefined` when the KEK is wrong (or the slot was modified). */
export async function unwrap(kek: Uint8Array, slot: KeySlot): Promise<Uint8Array | undefined> {
  return (await gcmWithAad(kek, ZERO_NONCE, slot.aad)).open(slot.wrappedKey);
}

/** What a new backup-key slot needs. */
export interface NewBackupKeySlot {
  type: 'backup-key';
  backupKey: Uint8Array;
}

/** What a new password slot needs. */
export interface NewPasswordSlot {
  type: 'password';
  password: string | Uint8Array;
  kdf: Argon2idParams;
  /** Passed to the KDF's creation-time checks (e.g. `allowWeak`). */
  kdfOptions?: KdfOptions;
}

async function buildSlot(spec: NewBackupKeySlot | NewPasswordSlot, fileKey: Uint8Array): Promise<Uint8Array> {
  const salt = randomBytes(SLOT_SALT_SIZE);
  if (spec.type === 'backup-key') {
    const aad = concat(Uint8Array.of(SLOT_BACKUP_KEY), u16(BACKUP_KEY_SLOT_BODY), salt);
    return concat(aad, await wrap(backupKeyKek(spec.backupKey, salt), fileKey, aad));
  }
  const { m, t, p } = spec.kdf;
  validateKdfParams(spec.kdf, { ...spec.kdfOptions, purpose: 'create' });
  const aad = concat(Uint8Array.of(SLOT_PASSWORD), u16(PASSWORD_SLOT_BODY), u32(m), u32(t), u32(p), salt);
  const stretched = await deriveKeyFromPassword(spec.password, salt, spec.kdf, {
    ...spec.kdfOptions,
    purpose: 'create',
  });
  return concat(aad, await wrap(passwordKek(stretched), fileKey, aad));
}

/** Builds a header with one slot per spec, each wrapping `fileKey`. */
export async function buildHeader(
  slots: readonly (NewBackupKeySlot | NewPasswordSlot)[],
  fileKey: Uint8Array,
  flags: number,
): Promise<Uint8Array> {
  if (slots.length < 1 || slots.length > MAX_SLOTS)
    throw new E2EEError('INVALID_ARGUMENT', `a backup needs 1 to ${MAX_SLOTS} key slots`);
  if (new Set(slots.map((s) => s.type)).size !== slots.length)
    throw new E2EEError('INVALID_ARGUMENT', 'at most one key slot of each type');
  const bodies = await Promise.all(slots.map((s) => buildSlot(s, fileKey)));
  const size = HEADER_FIXED_SIZE + bodies.reduce((n, b) => n + b.length, 0) + CHECKSUM_SIZE;
  const unsummed = concat(
    MAGIC,
    Uint8Array.of(FORMAT_VERSION, flags),
    u16(size),
    Uint8Array.of(slots.length),
    ...bodies,
  );
  return concat(unsummed, sha256(unsummed).subarray(0, CHECKSUM_SIZE));
}

/**
 * How many bytes the header at the start of `prefix` occupies, from its first 13 bytes; checks
 * magic, version and length bounds first, so a reader knows how much to read next.
 */
export function headerLength(prefix: Uint8Array): number {
  if (prefix.length < HEADER_FIXED_SIZE)
    throw new E2EEError('TRUNCATED', `the backup is ${prefix.length} bytes, too short for a header`);
  if (!constantTimeEqual(prefix.subarray(0, MAGIC.length), MAGIC))
    throw malformed(
      'the file does not start with the e2ee-backup magic bytes: it is not an encrypted backup',
    );
  const version = prefix[8]!;
  if (version !== FORMAT_VERSION)
    throw new E2EEError(
      'UNSUPPORTED_VERSION',
      `this backup uses format version ${version}; this library reads version ${FORMAT_VERSION} only: upgrade e2ee-backup`,
    );
  const size = readU16(prefix, 10);
  const min = HEADER_FIXED_SIZE + 3 + BACKUP_KEY_SLOT_BODY + CHECKSUM_SIZE;
  if (size < min || size > MAX_HEADER_SIZE)
    throw malformed(`header length ${size} is outside ${min}..${MAX_HEADER_SIZE}`);
  return size;
}

/**
 * Parses and checks a header from the start of `bytes` (which may continue with the payload).
 * Rejects anything SPEC.md does not allow, in its order: magic, version, length, checksum,
 * flags, slot count, slots, exact fit.
 */
export function parseHeader(bytes: Uint8Array): Header {
  const size = headerLength(bytes);
  if (bytes.length < size) throw new E2EEError('TRUNCATED', `the backup ends inside its ${size}-byte header`);
  const header = bytes.slice(0, size);
  const body = header.subarray(0, size - CHECKSUM_SIZE);
  if (!constantTimeEqual(sha256(body).subarray(0, CHECKSUM_SIZE), header.subarray(size - CHECKSUM_SIZE)))
    throw malformed('the header checksum does not match: the file is corrupted');
  const flags = header[9]!;
  if (flags & ~KNOWN_FLAGS)
    throw new E2EEError(
      'UNKNOWN_FLAG',
      `backup header sets unknown flag bits 0x${(flags & ~KNOWN_FLAGS).toString(16).padStart(2, '0')}: upgrade e2ee-backup`,
    );
  const count = header[12]!;
  if (count < 1 || count > MAX_SLOTS) throw malformed(`slot count ${count} is outside 1..${MAX_SLOTS}`);
  const slots: KeySlot[] = [];
  let o = HEADER_FIXED_SIZE;
  for (let i = 0; i < count; i++) {
    if (o + 3 > body.length) throw malformed(`slot ${i + 1} is cut off`);
    const type = header[o]!;
    const len = readU16(header, o + 1);
    const start = o + 3;
    if (start + len > body.length) throw malformed(`slot ${i + 1} (${len} bytes) runs past the header`);
    if (type === SLOT_BACKUP_KEY) {
      if (len !== BACKUP_KEY_SLOT_BODY)
        throw malformed(`backup-key slot body is ${len} bytes, not ${BACKUP_KEY_SLOT_BODY}`);
      slots.push({
        type: 'backup-key',
        salt: header.slice(start, start + SLOT_SALT_SIZE),
        wrappedKey: header.slice(start + SLOT_SALT_SIZE, start + len),
        aad: header.slice(o, start + SLOT_SALT_SIZE),
      });
    } else if (type === SLOT_PASSWORD) {
      if (len !== PASSWORD_SLOT_BODY)
        throw malformed(`password slot body is ${len} bytes, not ${PASSWORD_SLOT_BODY}`);
      const kdf = { m: readU32(header, start), t: readU32(header, start + 4), p: readU32(header, start + 8) };
      slots.push({
        type: 'password',
        kdf,
        salt: header.slice(start + 12, start + 12 + SLOT_SALT_SIZE),
        wrappedKey: header.slice(start + 12 + SLOT_SALT_SIZE, start + len),
        aad: header.slice(o, start + 12 + SLOT_SALT_SIZE),
      });
    } else {
      throw new E2EEError(
        'UNKNOWN_SLOT_TYPE',
        `backup header slot ${i + 1} has unknown type 0x${type.toString(16).padStart(2, '0')}: upgrade e2ee-backup`,
      );
    }
    o = start + len;
  }
  if (o !== body.length) throw malformed(`${body.length - o} bytes follow the last slot`);
  if (new Set(slots.map((s) => s.type)).size !== slots.length)
    throw malformed('two key slots have the same type');
  return { version: header[8]!, flags, slots, bytes: header };
}

/** Options for opening slots. */
export interface UnlockOptions {
  /** Upper bounds on a password slot's Argon2id parameters (default m 1 GiB, t 16, p 16). */
  kdfMaxima?: Partial<Argon2idParams>;
}

/**
 * Recovers the file key with a backup key and/or password. Fails with `NO_MATCHING_SLOT` when
 * the header has no slot for any credential given, `KDF_PARAMS` when a password slot's parameters
 * exceed the maxima (before Argon2id runs), else `WRONG_KEY` / `WRONG_PASSWORD`.
 */
export async function unlockFileKey(
  header: Header,
  credentials: { key?: Uint8Array; password?: string | Uint8Array },
  options: UnlockOptions = {},
): Promise<Uint8Array> {
  const failures: E2EEError[] = [];
  if (credentials.key) {
    const slot = header.slots.find((s) => s.type === 'backup-key');
    if (!slot)
      failures.push(
        new E2EEError('NO_MATCHING_SLOT', 'this backup has no backup-key slot: it opens with a password'),
      );
    else {
      const fileKey = await unwrap(backupKeyKek(credentials.key, slot.salt), slot);
      if (fileKey) return fileKey;
      failures.push(
        new E2EEError('WRONG_KEY', 'the backup key does not open this backup: check the 64-digit code'),
      );
    }
  }
  if (credentials.password !== undefined) {
    const slot = header.slots.find((s): s is PasswordSlot => s.type === 'password');
    if (!slot)
      failures.push(
        new E2EEError('NO_MATCHING_SLOT', 'this backup has no password slot: it opens with its backup key'),
      );
    else {
      const maxima = { ...DEFAULT_KDF_MAXIMA, ...options.kdfMaxima };
      try {
        // Bounds first, before Argon2id takes any memory (SPEC.md §3.4).
        validateKdfParams(slot.kdf, { purpose: 'open', maxima });
        const stretched = await deriveKeyFromPassword(credentials.password, slot.salt, slot.kdf, {
          purpose: 'open',
          maxima,
        });
        const fileKey = await unwrap(passwordKek(stretched), slot);
        if (fileKey) return fileKey;
        failures.push(new E2EEError('WRONG_PASSWORD', 'the password does not open this backup'));
      } catch (e) {
        if (!(e instanceof E2EEError) || e.code !== 'KDF_PARAMS') throw e;
        failures.push(e);
      }
    }
  }
  if (failures.length === 0)
    throw new E2EEError('INVALID_ARGUMENT', 'give a backup key, a password, or both');
  // A credential that met a slot and failed says more than one that met no slot.
  throw failures.find((f) => f.code !== 'NO_MATCHING_SLOT') ?? failures[0]!;
}
