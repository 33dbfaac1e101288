/**
 * `createS3Store`: a {@link BackupStore} in an S3-compatible bucket (AWS S3, OpenStack Swift's
 * s3api, and others that speak the same API), one object per backup under a prefix.
 *
 * @module
 */

import {
  DeleteObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { RandomAccessSource } from '../cobblestone/chunked.js';
import { E2EEError } from '../errors.js';
import {
  type BackupStore,
  checkStoreName,
  type PendingPut,
  type ResumablePuts,
  type StoredBackup,
} from '../lifecycle/store.js';
import { s3Error } from './errors.js';
import { abortUpload, MIN_PART_SIZE, uploadObject } from './multipart.js';
import { objectSource, readObject } from './read.js';
import type { UploadStateStore } from './state.js';

/** Options of {@link createS3Store}. */
export interface S3StoreOptions {
  /** The bucket (it must exist). */
  bucket: string;
  /**
   * Where in the bucket: backups are stored as `prefix/name` (a `/` is added when missing);
   * empty for the bucket's top level.
   */
  prefix?: string;
  /**
   * Your own client (its region, credentials, endpoint, retries). Without it one is made from
   * `region`, `endpoint` and `forcePathStyle`, with credentials from the SDK's default chain
   * (environment, shared config files, SSO, instance roles).
   */
  client?: S3Client;
  /** Region for the client made here (default: the SDK's, from `AWS_REGION` or the config file). */
  region?: string;
  /** Endpoint for an S3-compatible service, e.g. `http://127.0.0.1:7480`. */
  endpoint?: string;
  /** Path-style requests (`endpoint/bucket/key`), which most S3-compatible services need. */
  forcePathStyle?: boolean;
  /** The first part's size in bytes, at least 5 MiB (default 8 MiB); parts double every 1000. */
  partSize?: number;
  /** Parts uploaded at once (default 4). Memory is about (queueSize + 1) × partSize. */
  queueSize?: number;
  /**
   * Where unfinished uploads are remembered so that they can be resumed (`uploadStateFolder(dir)`).
   * Without it, an upload that fails is aborted; with it, an upload that fails on the S3 side is
   * kept, and the next `put` of the same name with the same bytes resumes it.
   */
  resume?: UploadStateStore;
  /** Called as an upload's parts complete; `resumed` counts bytes an earlier attempt sent. */
  onUploadProgress?: (progress: UploadProgress) => void;
}

/** What {@link S3StoreOptions.onUploadProgress} is told. */
export interface UploadProgress {
  /** The backup being written. */
  readonly name: string;
  /** Bytes sent and acknowledged in this call. */
  readonly sent: number;
  /** Bytes already on the server from an interrupted attempt, not sent again. */
  readonly resumed: number;
}

/** The store {@link createS3Store} returns: a {@link BackupStore} and a little more. */
export interface S3Store extends BackupStore, ResumablePuts {
  /** The S3 client in use. */
  readonly client: S3Client;
  /**
   * A stored backup for random access: each read is one Range request (see
   * `openBackupPayload`).
   */
  source(name: string): Promise<RandomAccessSource>;
}

const NAME = /^[A-Za-z0-9._-]{1,200}$/;

function fromBase64(s: string): Uint8Array {
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

/**
 * A {@link BackupStore} in an S3 bucket. `put` is a multipart upload streamed from the backup
 * (a single `PutObject` below one part), visible only once complete; `get` a `GetObject` stream
 * that resumes a dropped connection with a Range request; `list` a `ListObjectsV2` over the
 * prefix; `delete` a `DeleteObject`.
 *
 * Needs `@aws-sdk/client-s3` (an optional peer dependency: `npm install @aws-sdk/client-s3`).
 *
 * @example
 * ```ts
 * import { createS3Store, uploadStateFolder } from 'e2ee-backup/s3';
 * const store = createS3Store({ bucket: 'my-backups', prefix: 'chat', resume: uploadStateFolder('.uploads') });
 * await createBackup(store, exportStream, { key });
 * ```
 */
export function createS3Store(options: S3StoreOptions): S3Store {
  const { bucket } = options;
  if (typeof bucket !== 'string' || bucket.length === 0)
    throw new E2EEError('INVALID_ARGUMENT', 'the S3 store needs a bucket');
  let prefix = options.prefix ?? '';
  if (prefix.startsWith('/')) prefix = prefix.slice(1);
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
  const partSize = options.partSize ?? 8 * 1024 * 1024;
  if (!Number.isSafeInteger(partSize) || partSize < MIN_PART_SIZE)
    throw new E2EEError('INVALID_ARGUMENT', 'partSize must be at least 5 MiB (S3 refuses smaller parts)');
  const queueSize = options.queueSize ?? 4;
  if (!Number.isSafeInteger(queueSize) || queueSize < 1)
    throw new E2EEError('INVALID_ARGUMENT', 'queueSize must be a positive integer');
  const config: S3ClientConfig = {};
  if (options.region !== undefined) config.region = options.region;
  if (options.endpoint !== undefined) config.endpoint = options.endpoint;
  if (options.forcePathStyle !== undefined) config.forcePathStyle = options.forcePathStyle;
  const client = options.client ?? new S3Client(config);
  const key = (name: string) => {
    checkStoreName(name);
    return `${prefix}${name}`;
  };
  const ref = (name: string) => ({ client, bucket, key: key(name), label: name });
  const stateId = (name: string) => `s3:${bucket}/${key(name)}`;

  return {
    client,
    async put(name, data) {
      await uploadObject(data, {
        client,
        bucket,
        key: key(name),
        partSize,
        queueSize,
        states: options.resume,
        stateId: stateId(name),
        onProgress: options.onUploadProgress
          ? (sent, resumed) => options.onUploadProgress!({ name, sent, resumed })
          : undefined,
      });
    },
    async get(name) {
      return readObject(ref(name));
    },
    async source(name) {
      return objectSource(ref(name));
    },
    async list() {
      const out: StoredBackup[] = [];
      let token: string | undefined;
      do {
        let r: ListObjectsV2CommandOutput;
        try {
          r = await client.send(
            new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
          );
        } catch (e) {
          throw s3Error(`cannot list s3://${bucket}/${prefix}`, e);
        }
        for (const o of r.Contents ?? []) {
          const name = o.Key?.slice(prefix.length) ?? '';
          // Objects in deeper "folders", or named outside the store's alphabet, are not ours.
          if (NAME.test(name) && name !== '.' && name !== '..') out.push({ name, size: o.Size ?? 0 });
        }
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
      return out;
    },
    async delete(name) {
      try {
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key(name) }));
      } catch (e) {
        throw s3Error(`cannot delete ${name}`, e);
      }
    },
    async pendingPuts() {
      if (!options.resume) return [];
      const out: PendingPut[] = [];
      for (const { id, state, inUse } of await options.resume.list()) {
        if (state.bucket !== bucket || !state.key.startsWith(prefix)) continue;
        const name = state.key.slice(prefix.length);
        if (NAME.test(name) && id === stateId(name)) out.push({ name, head: fromBase64(state.head), inUse });
      }
      return out;
    },
    async discardPut(name) {
      const states = options.resume;
      if (!states) return;
      // Never one that a live writer is working on.
      const release = await states.lock(stateId(name));
      if (!release) return;
      try {
        const state = await states.load(stateId(name));
        if (!state) return;
        await abortUpload({ client, bucket, key: key(name) }, state.uploadId);
        await states.remove(stateId(name));
      } finally {
        await release();
      }
    },
  };
}
