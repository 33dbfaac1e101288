/**
 * WhatsApp's Android end-to-end encrypted backups (crypt15), opened with their 64-digit key: the
 * same kind of key as e2ee-backup's backup key (32 random bytes shown as 64 hex digits).
 *
 * - {@link decryptWhatsAppBackup}: a backup into its database, streamed (output provisional until
 *   the stream closes); {@link decryptWhatsAppBackupBytes}: the same for a whole file, handing over
 *   only authenticated output.
 * - {@link inspectWhatsAppBackup}: what the unauthenticated prefix says.
 * - {@link parseWhatsAppKey}: the 64-digit code or the `encrypted_backup.key` file.
 *
 * The format, its sources and what is and is not authenticated: docs/whatsapp-crypt15.md.
 *
 * @module
 */

export type { WhatsAppLayout } from './cipher.js';
export {
  type DecryptWhatsAppBackupOptions,
  decryptWhatsAppBackup,
  decryptWhatsAppBackupBytes,
  type WhatsAppBackupContents,
} from './decrypt.js';
export { type InspectWhatsAppBackupOptions, inspectWhatsAppBackup } from './inspect.js';
export { parseWhatsAppKey } from './key.js';
export type { WhatsAppBackupInfo } from './prefix.js';
export type { WhatsAppPayload } from './zlib.js';
