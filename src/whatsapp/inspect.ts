/**
 * What anyone can read from a crypt15 backup without its key.
 *
 * Internal module: re-exported by `e2ee-backup/whatsapp`.
 */

import { parsePrefix, type WhatsAppBackupInfo } from './prefix.js';

/** Options of {@link inspectWhatsAppBackup}. */
export interface InspectWhatsAppBackupOptions {
  /** Include the last two digits of the account's phone number (default false). */
  phoneDigits?: boolean;
}

/**
 * Reads a crypt15 backup's prefix: key type, WhatsApp version, backup version, feature flags, and
 * the last two digits of the phone number only when asked. Unauthenticated: WhatsApp does not
 * authenticate any of it, and anyone can change it without the key noticing.
 *
 * @param head - the file's first bytes: at least its prefix (at most 257 bytes); the whole file
 *   is fine.
 * @throws E2EEError `TRUNCATED`, `UNSUPPORTED_VERSION` (crypt12, crypt14, a key type other than
 *   end-to-end, an unencrypted database or archive), `MALFORMED_HEADER`.
 * @example
 * ```ts
 * const info = inspectWhatsAppBackup(first257Bytes);
 * console.log(info.appVersion, info.features); // '2.22.5.13' [6, 8, 9, …]
 * ```
 */
export function inspectWhatsAppBackup(
  head: Uint8Array,
  options: InspectWhatsAppBackupOptions = {},
): WhatsAppBackupInfo {
  return parsePrefix(head, options).info;
}
