/**
 * e2ee-backup: end-to-end encrypted backups.
 *
 * - {@link generateBackupKey} / {@link formatBackupKey} / {@link parseBackupKey}: the 256-bit
 *   backup key and its 64-digit code.
 * - {@link deriveKeyFromPassword}: Argon2id with safe, bounded parameters.
 * - {@link encryptChunked} / {@link createEncryptStream} / {@link openChunked}: the Cobblestone-256
 *   payload layer (also at `e2ee-backup/chunked`).
 * - {@link encryptBackup} / {@link decryptBackup} / {@link inspectBackup} / {@link recoverBackupKey}:
 *   backups in the container format of SPEC.md (file helpers for Node at `e2ee-backup/node`).
 * - {@link E2EEError} and {@link ERROR_CODES}: one error class with stable codes.
 * - {@link setCryptoProvider}: native AES-256-GCM, Argon2id and random bytes (React Native).
 *
 * @packageDocumentation
 */

export * from './backup.js';
export * from './chunked.js';
export * from './errors.js';
export * from './kdf.js';
export * from './key.js';
export { padme } from './padding.js';
export {
  type AesGcmProvider,
  type Argon2idRequest,
  type CryptoProvider,
  type GcmCipher,
  type GcmDecipher,
  setCryptoProvider,
} from './provider.js';
