/**
 * The plaintext prefix of a crypt15 file (docs/whatsapp-crypt15.md §2): one byte L, an optional
 * 0x01 "feature table" byte, then L bytes of a protobuf `BackupPrefix` holding the key type, the
 * 16-byte IV and `BackupExpiry` (app version, phone digits, backup version, feature flags).
 * Nothing here is authenticated: GCM runs without associated data, so only the IV is checked
 * (a wrong IV fails the tag).
 *
 * Internal module.
 */

import { E2EEError } from '../errors.js';
import { concat } from '../internal/bytes.js';
import { expectBytes, expectVarint, int32, utf8, wireFields } from './protobuf.js';

/** What the prefix of a crypt15 backup says. Unauthenticated: anyone can change any of it. */
export interface WhatsAppBackupInfo {
  /** Always true: WhatsApp does not authenticate the prefix (see the module comment). */
  readonly unauthenticated: true;
  /** The only format read: `'crypt15'`. */
  readonly format: 'crypt15';
  /** `BackupPrefix.key_type`: always 1, an end-to-end key (others are refused). */
  readonly keyType: 1;
  /**
   * Whether byte 1 is the 0x01 "feature table" flag. WhatsApp writes it for message databases;
   * readers treat any other byte 1 as the start of the protobuf.
   */
  readonly featureTable: boolean;
  /** Bytes before the ciphertext: L, the flag byte if any, and the L bytes of protobuf. */
  readonly prefixSize: number;
  /** The WhatsApp version that wrote the backup, e.g. `'2.22.5.13'`, when the prefix says. */
  readonly appVersion: string | undefined;
  /** `BackupExpiry.backup_version`, when the prefix says. */
  readonly backupVersion: number | undefined;
  /** Field numbers (5–37, 39) of the `BackupExpiry` feature flags set to true, in order. */
  readonly features: readonly number[];
  /**
   * The last two digits of the account's phone number (`BackupExpiry` field 3): present only when
   * asked for with `phoneDigits: true` and the prefix has them.
   */
  readonly phoneDigits?: string;
}

/** The largest prefix: L = 255, the flag byte, the length byte. */
export const MAX_PREFIX_SIZE = 257;

const SQLITE = new TextEncoder().encode('SQLite format 3\0');
const ZIP = Uint8Array.of(0x50, 0x4b, 0x03, 0x04);

function startsWith(bytes: Uint8Array, magic: Uint8Array): boolean {
  return bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b);
}

function unsupported(what: string): E2EEError {
  return new E2EEError('UNSUPPORTED_VERSION', `${what}; only WhatsApp crypt15 backups are read`);
}

/**
 * How many bytes the prefix takes, from the file's first two bytes; `undefined` when fewer than
 * two are given.
 */
export function prefixSize(head: Uint8Array): number | undefined {
  if (head.length < 2) return undefined;
  return 1 + (head[1] === 0x01 ? 1 : 0) + head[0]!;
}

/**
 * Parses the prefix at the start of `head` (the whole file is fine).
 *
 * @throws E2EEError `TRUNCATED` when `head` ends inside the prefix; `UNSUPPORTED_VERSION` for a
 *   SQLite database or ZIP archive (not encrypted), a crypt12 or crypt14 backup, or a key type
 *   other than 1; `MALFORMED_HEADER` when the prefix is not a valid `BackupPrefix` with a 16-byte IV.
 */
export function parsePrefix(
  head: Uint8Array,
  options: { phoneDigits?: boolean } = {},
): { info: WhatsAppBackupInfo; iv: Uint8Array } {
  if (startsWith(head, SQLITE)) throw unsupported('this is a SQLite database, not an encrypted backup');
  if (startsWith(head, ZIP)) throw unsupported('this is a ZIP archive, not an encrypted backup');
  const size = prefixSize(head);
  if (size === undefined)
    throw new E2EEError(
      'TRUNCATED',
      `the file is ${head.length} byte(s) long: too short for a crypt15 prefix`,
    );
  // crypt12: cipher version 00 01, a key version, then salts and the IV, no protobuf. Read as a
  // crypt15 prefix it would have L = 0.
  if (head[0] === 0)
    throw head[1] === 0x01
      ? unsupported('this looks like a crypt12 (or older) backup')
      : new E2EEError('MALFORMED_HEADER', 'not a WhatsApp crypt15 backup: its prefix is empty');
  if (head.length < size)
    throw new E2EEError('TRUNCATED', `the file ends inside its ${size}-byte crypt15 prefix`);
  const featureTable = head[1] === 0x01;
  return decodeBackupPrefix(head.subarray(size - head[0]!, size), { featureTable, size, ...options });
}

function decodeBackupPrefix(
  proto: Uint8Array,
  ctx: { featureTable: boolean; size: number; phoneDigits?: boolean },
): { info: WhatsAppBackupInfo; iv: Uint8Array } {
  const what = 'BackupPrefix';
  let keyType = 0; // proto3's default for an absent enum: WA_PROVIDED
  // `c14_cipher` (2) and `c15_iv` (3) are a oneof: the last one on the wire is the one set.
  let cipher: 'c14' | 'c15' | undefined;
  // Protobuf merges repeated occurrences of a message field: parsing their concatenation does that.
  const c15: Uint8Array[] = [];
  const expiry: Uint8Array[] = [];
  for (const f of wireFields(proto, what)) {
    if (f.number === 1) keyType = int32(expectVarint(f, what));
    else if (f.number === 2) {
      expectBytes(f, what);
      cipher = 'c14';
      c15.length = 0;
    } else if (f.number === 3) {
      c15.push(expectBytes(f, what));
      cipher = 'c15';
    } else if (f.number === 4) expiry.push(expectBytes(f, what));
  }
  if (cipher === 'c14') throw unsupported('this is a crypt14 backup (it needs the 158-byte key file)');
  if (keyType !== 1)
    throw unsupported(
      keyType === 0
        ? 'this backup is not end-to-end encrypted (key type 0: a key WhatsApp keeps)'
        : `this backup has key type ${keyType}, unknown here`,
    );
  if (cipher !== 'c15') throw new E2EEError('MALFORMED_HEADER', 'WhatsApp backup prefix: it has no C15_IV');
  let iv: Uint8Array | undefined;
  for (const f of wireFields(concat(...c15), 'C15_IV')) if (f.number === 1) iv = expectBytes(f, 'C15_IV');
  if (iv?.length !== 16)
    throw new E2EEError(
      'MALFORMED_HEADER',
      `WhatsApp backup prefix: the IV is ${iv?.length ?? 0} bytes long, not 16`,
    );
  const info = decodeExpiry(concat(...expiry));
  return {
    iv: new Uint8Array(iv),
    info: {
      unauthenticated: true,
      format: 'crypt15',
      keyType: 1,
      featureTable: ctx.featureTable,
      prefixSize: ctx.size,
      appVersion: info.appVersion,
      backupVersion: info.backupVersion,
      features: info.features,
      ...(ctx.phoneDigits && info.phoneDigits !== undefined ? { phoneDigits: info.phoneDigits } : {}),
    },
  };
}

function decodeExpiry(proto: Uint8Array): {
  appVersion?: string;
  phoneDigits?: string;
  backupVersion?: number;
  features: number[];
} {
  const what = 'BackupExpiry';
  let appVersion: string | undefined;
  let phoneDigits: string | undefined;
  let backupVersion: number | undefined;
  const flags = new Map<number, boolean>();
  for (const f of wireFields(proto, what)) {
    if (f.number === 1) appVersion = utf8(expectBytes(f, what), what);
    else if (f.number === 3) phoneDigits = utf8(expectBytes(f, what), what);
    else if (f.number === 4) backupVersion = int32(expectVarint(f, what));
    else if ((f.number >= 5 && f.number <= 37) || f.number === 39)
      flags.set(f.number, expectVarint(f, what) !== 0n);
  }
  const features = [...flags].filter(([, on]) => on).map(([n]) => n);
  return { appVersion, phoneDigits, backupVersion, features: features.sort((a, b) => a - b) };
}
