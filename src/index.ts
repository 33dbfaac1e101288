/**
 * e2ee-backup: end-to-end encrypted backups.
 *
 * - {@link generateBackupKey} / {@link formatBackupKey} / {@link parseBackupKey}: the 256-bit
 *   backup key and its 64-digit code.
 * - {@link deriveKeyFromPassword}: Argon2id with safe, bounded parameters.
 * - {@link encryptChunked} / {@link createEncryptStream} / {@link openChunked}: the Cobblestone-256
 *   payload layer (also at `e2ee-backup/chunked`).
 * - {@link encryptBackup} / {@link decryptBackup} / {@link inspectBackup} / {@link recoverBackupKey}:
 *   backups in the container format of SPEC.md (file helpers for Node at `e2ee-backup/node`);
 *   {@link encryptBackupIterable} / {@link decryptBackupIterable} stream them without Web streams.
 * - {@link E2EEError} and {@link ERROR_CODES}: one error class with stable codes.
 * - {@link setCryptoProvider}: native AES-256-GCM, Argon2id and random bytes (React Native).
 *
 * @packageDocumentation
 */

export {
  CHUNK_SIZE,
  type ChunkedOptions,
  type ChunkedReader,
  COMMITMENT_SIZE,
  chunkedCiphertextSize,
  chunkedPlaintextSize,
  createDecryptStream,
  createEncryptStream,
  decryptChunked,
  encryptChunked,
  HEADER_SIZE,
  KEY_SIZE,
  MAX_CHUNKS,
  openChunked,
  type RandomAccessSource,
  RECORD_SIZE,
  SALT_SIZE,
  TAG_SIZE,
} from './cobblestone/chunked.js';
export {
  type BackupCredentials,
  type BackupInfo,
  type BackupInput,
  type BackupMetadata,
  DEFAULT_LEVEL,
  DEFAULT_MAX_OUTPUT_BYTES,
  DEFAULT_MAX_OUTPUT_BYTES_IN_MEMORY,
  type DecryptBackupOptions,
  decryptBackup,
  decryptBackupBytes,
  decryptBackupIterable,
  type EncryptBackupOptions,
  encryptBackup,
  encryptBackupBytes,
  encryptBackupIterable,
  inspectBackup,
  type JsonValue,
  type RecoveredKey,
  recoverBackupKey,
} from './container/backup.js';
export { padme } from './container/padme.js';
export { E2EEError, ERROR_CODES, type ErrorCode, isE2EEError } from './errors.js';
export {
  type AesGcmProvider,
  type Argon2idRequest,
  type CryptoProvider,
  type GcmCipher,
  type GcmDecipher,
  setCryptoProvider,
} from './internal/provider.js';
export {
  BACKUP_KEY_BYTES,
  BACKUP_KEY_DIGITS,
  type BackupKeyCandidate,
  backupKeyTypoCandidates,
  formatBackupKey,
  generateBackupKey,
  isKeyFormatError,
  type KeyFormatError,
  MAX_BACKUP_KEY_TEXT_LENGTH,
  parseBackupKey,
  type TypoKind,
} from './key/backup-key.js';
export {
  type Argon2idParams,
  DEFAULT_KDF_MAXIMA,
  DEFAULT_KDF_PARAMS,
  deriveKeyFromPassword,
  KDF_MINIMA,
  KDF_OUTPUT_BYTES,
  type KdfOptions,
  MIN_SALT_BYTES,
  validateKdfParams,
} from './primitives/kdf.js';
