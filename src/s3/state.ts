/**
 * What an interrupted multipart upload leaves on the local disk so that it can be resumed, and a
 * folder to keep it in. Nothing in it is secret: the upload's id and object key, the part size,
 * the object's first bytes (which the storage provider holds too), and for every part ever
 * started its size, the SHA-256 of its bytes (ciphertext, for a backup) and, once the server has
 * it, its ETag. THREAT-MODEL.md says what that lets a reader or writer of the folder do.
 *
 * One writer at a time: a record is locked by the upload that works on it, so that two
 * processes never resume one upload at once (SPEC.md §11 needs it: two writers could each send
 * a part never sent before, with different bytes under the same keys).
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { E2EEError } from '../errors.js';
import { openFileOutput } from '../node/file-output.js';

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
  /** Whether a live writer holds its lock (see {@link UploadStateStore.lock}). */
  readonly inUse: boolean;
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
  /** Every record, with the id it is saved under and whether it is in use. */
  list(): Promise<SavedUpload[]>;
  /**
   * Takes `id` for one writer: resolves to a function that gives it back, or to `undefined` while
   * another live writer (in this process or another) holds it. A writer that died holds nothing.
   * Two callers never both hold one id: an upload's keys and nonces depend on it.
   */
  lock(id: string): Promise<(() => Promise<void>) | undefined>;
}

const FILE = /^u-([0-9a-f]+)\.json$/;
// A lock: the record's id, then who holds it (host name in hex, boot id, process id, random).
const LOCK = /^u-([0-9a-f]+)\.lock-([0-9a-f]*)-([0-9a-f]*)-(\d+)-[0-9a-f]+$/;

/** This boot of this machine (Linux), so that a lock from before a reboot is known to be dead. */
function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').replace(/[^0-9a-f]/g, '');
  } catch {
    return '';
  }
}

/**
 * Whether the holder a lock names may be alive. Only a process of this machine and this boot
 * can be checked (by its id); any other holder counts as alive, so its upload is left alone.
 */
function mayBeAlive(host: string, boot: string, pid: number, self: { host: string; boot: string }): boolean {
  if (host !== self.host) return true;
  if (boot !== '' && self.boot !== '' && boot !== self.boot) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

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
 * An {@link UploadStateStore} in a local folder: one small JSON file per unfinished upload and
 * one for its first bytes (mode 0600, in a folder made 0700), each written to a temporary file,
 * synced, renamed and the folder synced (src/node/file-output.ts), so that a crash leaves the old
 * record or the new one and a record said saved stays saved. A lock is a file named after its
 * holder (host, boot, process id); one whose process is gone is removed by the next caller. The
 * folder belongs to one machine: a lock from another host is never taken as released. Node only.
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
  const hex = (id: string) => Buffer.from(id, 'utf8').toString('hex');
  const file = (id: string) => join(dir, `u-${hex(id)}.json`);
  const headFile = (id: string) => file(id).replace(/\.json$/, '.head');
  const self = { host: Buffer.from(hostname(), 'utf8').toString('hex'), boot: bootId() };
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
  const names = async (): Promise<string[]> => {
    try {
      return await readdir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fail('cannot list', dir, e);
    }
  };
  /** Writes `text` to `path` durably (the one file writer: temporary file, fsync, rename, folder fsync). */
  const write = async (path: string, text: string, overwrite = true) => {
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const out = await openFileOutput(path, { mode: 0o600, overwrite });
      try {
        await out.write(new TextEncoder().encode(text));
        await out.commit();
      } catch (e) {
        await out.abort();
        throw e;
      }
    } catch (e) {
      throw fail('cannot save the upload state', path, e);
    }
  };
  /** Whether a live holder other than `mine` has a lock on record `h` (hex id); dead ones' go. */
  const heldByOther = async (h: string, all: string[], mine?: string): Promise<boolean> => {
    let held = false;
    for (const name of all) {
      const m = LOCK.exec(name);
      if (!m || m[1] !== h || name === mine) continue;
      if (mayBeAlive(m[2]!, m[3]!, Number(m[4]), self)) held = true;
      else await rm(join(dir, name), { force: true }).catch(() => {});
    }
    return held;
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
      const all = await names();
      const out: SavedUpload[] = [];
      for (const name of all) {
        const m = FILE.exec(name);
        if (!m) continue;
        const state = await read(join(dir, name));
        if (state)
          out.push({
            id: Buffer.from(m[1]!, 'hex').toString('utf8'),
            state,
            inUse: await heldByOther(m[1]!, all),
          });
      }
      return out;
    },
    async lock(id) {
      const h = hex(id);
      // Made first, then the others looked at: of two callers, the later one to look sees the
      // earlier one's file, so at most one goes on (both may step back, which is safe).
      const mine = `u-${h}.lock-${self.host}-${self.boot}-${process.pid}-${randomBytes(6).toString('hex')}`;
      await write(join(dir, mine), '', false);
      if (await heldByOther(h, await names(), mine)) {
        await rm(join(dir, mine), { force: true });
        return undefined;
      }
      return async () => {
        await rm(join(dir, mine), { force: true }).catch((e: unknown) => {
          throw fail('cannot remove the lock', join(dir, mine), e);
        });
      };
    },
  };
}
