/**
 * Backups in S3-compatible object storage: `createS3Store` (a `BackupStore` for the lifecycle),
 * resumable uploads (`uploadStateFolder`), and random access to a stored backup's payload
 * (`openBackupPayload`). Needs `@aws-sdk/client-s3`, an optional peer dependency that only this
 * entry loads.
 *
 * @module
 */

export type { PendingPut, ResumablePuts } from '../lifecycle/store.js';
export { type BackupPayloadReader, openBackupPayload } from './random-access.js';
export {
  type SavedUpload,
  type UploadedPart,
  type UploadState,
  type UploadStateStore,
  uploadStateFolder,
} from './state.js';
export {
  createS3Store,
  type S3Store,
  type S3StoreOptions,
  type UploadProgress,
} from './store.js';
