/**
 * WhatsApp's end-to-end backup key: the 32-byte root key, shown by WhatsApp as a 64-digit code and
 * stored on the phone as `encrypted_backup.key` (a Java-serialised `byte[32]`). The AES key of a
 * crypt15 file is derived from it with HKDF-SHA-256 (docs/whatsapp-crypt15.md §1).
 *
 * Internal module: {@link parseWhatsAppKey} is re-exported by `e2ee-backup/whatsapp`.
 */

import { E2EEError } from '../errors.js';
import { hkdfSha256 } from '../internal/hashes.js';
import { parseBackupKey } from '../key/backup-key.js';

/**
 * The 27 bytes before the key in `encrypted_backup.key`: Java serialisation's stream header
 * (`aced 0005`), TC_ARRAY, the class descriptor of `byte[]` (`[B`, serialVersionUID
 * `acf317f8060854e0`, flags 0x02, no fields, end of block data, no superclass), and the array
 * length, 32.
 */
export const KEY_FILE_PREFIX = Uint8Array.from([
  0xac, 0xed, 0x00, 0x05, 0x75, 0x72, 0x00, 0x02, 0x5b, 0x42, 0xac, 0xf3, 0x17, 0xf8, 0x06, 0x08, 0x54, 0xe0,
  0x02, 0x00, 0x00, 0x78, 0x70, 0x00, 0x00, 0x00, 0x20,
]);

/** Size of `encrypted_backup.key`: the prefix and the 32-byte root key. */
export const KEY_FILE_SIZE = KEY_FILE_PREFIX.length + 32;

/** Offset of the big-endian array length in a serialised `byte[]` (the prefix's last 4 bytes). */
const ARRAY_LENGTH_OFFSET = KEY_FILE_PREFIX.length - 4;

/** The crypt12/crypt14 key file: the same serialised `byte[]`, 131 bytes long (158 in all). */
const CRYPT14_KEY_ARRAY = 131;

const INFO = new TextEncoder().encode('backup encryption');

/** True when `bytes` start like a Java serialisation stream (`aced 0005`). */
export function isJavaSerialised(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 && bytes[0] === 0xac && bytes[1] === 0xed && bytes[2] === 0x00 && bytes[3] === 0x05
  );
}

/**
 * Reads a WhatsApp backup key: the 64-digit code (as text, in any spelling `parseBackupKey`
 * accepts: any case, spaces, dashes, line breaks), the 59 bytes of `encrypted_backup.key`, the
 * bytes of a text file holding the code, or the 32-byte root key itself.
 *
 * @returns the 32-byte root key (a copy).
 * @throws E2EEError `KEY_FORMAT` for a code that is not 64 hex digits or a file that is neither
 *   form; `UNSUPPORTED_VERSION` for the 158-byte key file of crypt12/crypt14 backups;
 *   `INVALID_ARGUMENT` for anything but a string or a `Uint8Array`.
 * @example
 * ```ts
 * const key = parseWhatsAppKey(await readFile('encrypted_backup.key'));
 * const same = parseWhatsAppKey('6730 a595 a148 …'); // the code WhatsApp showed
 * ```
 */
export function parseWhatsAppKey(input: string | Uint8Array): Uint8Array {
  if (typeof input === 'string') return parseBackupKey(input);
  if (!(input instanceof Uint8Array))
    throw new E2EEError('INVALID_ARGUMENT', 'a WhatsApp key must be a string or a Uint8Array');
  if (input.length === 32) return Uint8Array.from(input);
  if (isJavaSerialised(input)) return fromKeyFile(input);
  let text: string | undefined;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(input);
  } catch {
    // not text
  }
  // Control characters other than line breaks and tabs mean binary, not a code someone saved.
  if (text === undefined || [...text].some(isBinary))
    throw new E2EEError(
      'KEY_FORMAT',
      `a WhatsApp key is the 64-digit code, the ${KEY_FILE_SIZE}-byte encrypted_backup.key or 32 bytes; these ${input.length} bytes are none of them`,
    );
  return parseBackupKey(text);
}

function isBinary(ch: string): boolean {
  const c = ch.charCodeAt(0);
  return (c < 0x20 && ch !== '\t' && ch !== '\n' && ch !== '\r') || c === 0x7f;
}

function fromKeyFile(file: Uint8Array): Uint8Array {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const arrayLength = file.length >= KEY_FILE_PREFIX.length ? view.getUint32(ARRAY_LENGTH_OFFSET) : -1;
  const samePrefix = (n: number) => KEY_FILE_PREFIX.subarray(0, n).every((b, i) => file[i] === b);
  if (arrayLength === CRYPT14_KEY_ARRAY && samePrefix(ARRAY_LENGTH_OFFSET))
    throw new E2EEError(
      'UNSUPPORTED_VERSION',
      'this is the key file of crypt12/crypt14 backups (a 131-byte key); only crypt15 keys (32 bytes) are read',
    );
  if (file.length !== KEY_FILE_SIZE || !samePrefix(KEY_FILE_PREFIX.length))
    throw new E2EEError(
      'KEY_FORMAT',
      `a Java-serialised file, but not WhatsApp's encrypted_backup.key (${KEY_FILE_SIZE} bytes holding a byte[32]); this one is ${file.length} bytes`,
    );
  return new Uint8Array(file.subarray(KEY_FILE_PREFIX.length)); // a copy, even of a Buffer (whose slice is a view)
}

/** The AES-256-GCM key of crypt15 files: HKDF-SHA-256(root, salt = empty, "backup encryption", 32). */
export function crypt15CipherKey(root: Uint8Array): Uint8Array {
  if (root.length !== 32)
    throw new E2EEError('INVALID_KEY_SIZE', `a WhatsApp root key is 32 bytes, got ${root.length}`);
  return hkdfSha256(root, new Uint8Array(0), INFO, 32);
}
