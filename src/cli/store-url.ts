/**
 * `--store DIR | s3://bucket/prefix` for `e2ee-backup backup`: a folder, or an S3-compatible
 * bucket (`--s3-endpoint`, `--s3-path-style`; credentials and region from the environment and
 * `~/.aws` as the AWS CLI reads them). The AWS SDK is loaded only for an `s3://` store.
 *
 * S3 uploads are resumable: their state is kept under `$XDG_STATE_HOME/e2ee-backup/uploads`
 * (default `~/.local/state/…`), so that running the same `backup create` again after a dropped
 * connection sends only what the server lacks. Progress shows the upload's speed.
 *
 * @module
 */

import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BackupStore } from '../lifecycle/store.js';
import type { Context } from './context.js';
import { usageError } from './exit-codes.js';
import { formatBytes } from './format.js';
import { type Progress, startProgress } from './progress.js';
import { openFolderStore } from './store.js';

/** The store flags of `backup create | list | restore`. */
export interface StoreFlags {
  /** A folder, or `s3://bucket/prefix`. */
  store: string;
  /** An S3-compatible service's endpoint, e.g. `http://127.0.0.1:7480`. */
  s3Endpoint?: string;
  /** Path-style S3 requests (most S3-compatible services need them). */
  s3PathStyle?: boolean;
}

/** An S3 store's parts: bucket and prefix. */
function s3Location(flags: StoreFlags): { bucket: string; prefix: string } {
  const rest = flags.store.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const prefix = slash === -1 ? '' : rest.slice(slash + 1);
  if (bucket === '') throw usageError(`'${flags.store}' names no bucket`, 'Give --store s3://bucket/prefix');
  return { bucket, prefix };
}

/**
 * How the CLI's state file names the store `flags` give: a folder as its absolute path, a bucket
 * as `s3://bucket/prefix`, with ` at ENDPOINT` for a service other than AWS, so that two services'
 * buckets of one name do not share generations.
 */
export function stateStoreId(flags: StoreFlags): string {
  if (!flags.store.startsWith('s3://')) return resolve(flags.store);
  const { bucket, prefix } = s3Location(flags);
  // As createS3Store reads the prefix: one leading '/' dropped, a trailing one added.
  const p = prefix.startsWith('/') ? prefix.slice(1) : prefix;
  const id = `s3://${bucket}/${p === '' || p.endsWith('/') ? p : `${p}/`}`;
  return flags.s3Endpoint !== undefined ? `${id} at ${flags.s3Endpoint.replace(/\/+$/, '')}` : id;
}

/** Where unfinished S3 uploads are remembered. */
function uploadStateDir(): string {
  const base = process.env['XDG_STATE_HOME'] || join(homedir(), '.local', 'state');
  return join(base, 'e2ee-backup', 'uploads');
}

/** The store `flags` name; for S3, with an upload progress line on a terminal. */
export async function openBackupStore(flags: StoreFlags, ctx: Context): Promise<BackupStore> {
  if (!flags.store.startsWith('s3://')) {
    if (flags.s3Endpoint !== undefined || flags.s3PathStyle)
      throw usageError(
        '--s3-endpoint and --s3-path-style apply to an s3:// store',
        'Give --store s3://bucket/prefix',
      );
    return openFolderStore(flags.store);
  }
  const { bucket, prefix } = s3Location(flags);
  // The SDK's notice that its 2027 releases need Node 22 is for developers, not for this tool's users.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  const { createS3Store, uploadStateFolder } = await import('../s3/index.js').catch((e: unknown) => {
    const missing = (e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND';
    if (!missing) throw e;
    throw usageError(
      'an s3:// store needs the AWS SDK for S3, which is not installed',
      'Install it where e2ee-backup-cli is installed: npm install [-g] @aws-sdk/client-s3',
    );
  });
  // The AWS CLI also reads AWS_DEFAULT_REGION; the SDK reads AWS_REGION and ~/.aws/config. A
  // self-hosted endpoint usually ignores the region but the signature needs one.
  const region =
    process.env['AWS_REGION'] ||
    process.env['AWS_DEFAULT_REGION'] ||
    (flags.s3Endpoint !== undefined ? 'us-east-1' : undefined);
  let bar: Progress | undefined;
  let resumed = 0;
  const s3 = createS3Store({
    bucket,
    prefix,
    endpoint: flags.s3Endpoint,
    forcePathStyle: flags.s3PathStyle,
    region,
    resume: uploadStateFolder(uploadStateDir()),
    onUploadProgress: (p) => {
      resumed = p.resumed;
      bar?.update(p.sent);
    },
  });
  return {
    ...s3,
    async put(name, data) {
      bar = await startProgress('uploading', undefined, ctx.quiet);
      resumed = 0;
      try {
        await s3.put(name, data);
      } finally {
        bar.stop();
        bar = undefined;
      }
      if (resumed > 0)
        ctx.info(`Resumed an interrupted upload: ${formatBytes(resumed)} were already on the server.`);
    },
  };
}
