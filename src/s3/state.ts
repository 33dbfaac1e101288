/**
 * What an interrupted multipart upload leaves on the local disk so that it can be resumed, and a
 * folder to keep it in. Nothing in it is secret: the upload's id and object key, the part size,
 * the object's first bytes (which the storage provider holds too), and for every part ever
 * started its size, the SHA-256 of its bytes (ciphertext, for a backup) and, once the server has
 * it, its ETag. THREAT-MODEL.md says what that lets a reader or writer of the folder do.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { E2EEError } from '../errors.js';

/** One part of an {@link UploadState}. */
export interface UploadedPart {
  /** The part number, from 1. */
  readonly number: number;
  /** Its size in bytes. */
  readonly size: number;
  /** SHA-256 of its bytes, hex: recorded before the first byte of it is sent. */
  readonly sha256: string;
  /** The server's ETag, once the part is complete there. */
  readonly etag?: string;
}

/** The local record of one unfinished multipart upload. */
export interface UploadState {
  /** The record's format. */
  readonly version: 1;
  /** The bucket. */
  readonly bucket: string;
  /** The object key the upload completes into. */
  readonly key: string;
  /** The server's id of the multipart upload. */
  readonly uploadId: string;
  /** The first part's size; later parts follow from it (see `partSizeOf`). */
  readonly partSize: number;
  /** The object's first bytes (up to 96 KiB), base64: what its producer needs to recognise it. */
  readonly head: string;
  /** Every part ever started, by number. */
  readonly parts: readonly UploadedPart[];
}

/** One record of an {@link UploadStateStore}, as `list` returns it. */
export interface SavedUpload {
  /** The id it is saved under. */
  readonly id: string;
  /** The record. */
  readonly state: UploadState;
}

/**
 * Where interrupted uploads are remembered, by an id of the store's choosing. A folder on disk
 * ({@link uploadStateFolder}) is the usual one; anything that keeps a small JSON value will do.
 */
export interface UploadStateStore {
  /** The record saved under `id`, if any. */
  load(id: string): Promise<UploadState | undefined>;
  /** Saves `state` under `id`, durably, replacing what was there. */
  save(id: string, state: UploadState): Promise<void>;
  /** Forgets `id`; forgetting a missing one is not an error. */
  remove(id: string): Promise<void>;
  /** Every record, with the id it is saved under. */
  list(): Promise<SavedUpload[]>;
}

const FILE = /^u-([0-9a-f]+)\.json$/;

function isState(v: unknown): v is UploadState {
  const s = v as UploadState;
  return (
    typeof s === 'object' &&
    s !== null &&
    s.version === 1 &&
    typeof s.bucket === 'string' &&
    typeof s.key === 'string' &&
    typeof s.uploadId === 'string' &&
    Number.isSafeInteger(s.partSize) &&
    typeof s.head === 'string' &&
    Array.isArray(s.parts) &&
    s.parts.every(
      (p) =>
        Number.isSafeInteger(p.number) &&
        Number.isSafeInteger(p.size) &&
        typeof p.sha256 === 'string' &&
        (p.etag === undefined || typeof p.etag === 'string'),
    )
  );
}

/**
 * An {@link UploadStateStore} in a local folder: one small JSON file per unfinished upload
 * (mode 0600), written to a temporary file, synced and renamed, so that a crash leaves the old
 * record or the new one. Node only.
 *
 * @example
 * ```ts
 * const store = createS3Store({ bucket: 'backups', resume: uploadStateFolder('/var/lib/app/uploads') });
 * ```
 */
export function uploadStateFolder(dir: string): UploadStateStore {
  // Ids are hex-encoded into file names: any id, no path tricks. The head (up to 96 KiB) goes to
  // a file of its own, written when it changes (once per upload), so that the record saved
  // before and after every part stays small.
  const file = (id: string) => join(dir, `u-${Buffer.from(id, 'utf8').toString('hex')}.json`);
  const headFile = (id: string) => file(id).replace(/\.json$/, '.head');
  const written = new Map<string, string>();
  const fail = (what: string, path: string, e: unknown) =>
    new E2EEError('IO', `${what} ${path}: ${(e as Error).message}`, { cause: e });
  const readText = async (path: string): Promise<string | undefined> => {
    try {
      return await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw fail('cannot read the upload state', path, e);
    }
  };
  const read = async (path: string): Promise<UploadState | undefined> => {
    const text = await readText(path);
    if (text === undefined) return undefined;
    let v: unknown;
    try {
      v = JSON.parse(text);
      v = { ...(v as object), head: (await readText(path.replace(/\.json$/, '.head'))) ?? '' };
    } catch {
      v = undefined;
    }
    if (!isState(v)) throw new E2EEError('IO', `${path} is not an upload state: remove it`);
    return v;
  };
  /** Writes `text` to `path` durably: a temporary file, fsync, rename. */
  const write = async (path: string, text: string) => {
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const handle = await open(tmp, 'wx', 0o600);
      try {
        await handle.writeFile(text);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, path);
    } catch (e) {
      await rm(tmp, { force: true });
      throw fail('cannot save the upload state', path, e);
    }
  };
  return {
    load: (id) => read(file(id)),
    async save(id, state) {
      // The head first: a record on disk always has its head beside it.
      if (written.get(id) !== state.head) {
        await write(headFile(id), state.head);
        written.set(id, state.head);
      }
      const { head: _, ...record } = state;
      await write(file(id), JSON.stringify(record));
    },
    async remove(id) {
      written.delete(id);
      for (const path of [file(id), headFile(id)])
        await rm(path, { force: true }).catch((e: unknown) => {
          throw fail('cannot remove the upload state', path, e);
        });
    },
    async list() {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw fail('cannot list', dir, e);
      }
      const out: SavedUpload[] = [];
      for (const name of names) {
        const m = FILE.exec(name);
        if (!m) continue;
        const state = await read(join(dir, name));
        if (state) out.push({ id: Buffer.from(m[1]!, 'hex').toString('utf8'), state });
      }
      return out;
    },
  };
}
