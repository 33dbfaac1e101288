/**
 * Node file helpers: `encryptFile` and `decryptFile`. Output goes to a temporary file in the
 * destination's folder, is flushed to disk, and is renamed over the destination only after the
 * last byte is written (and, when decrypting, the last chunk has authenticated). On any failure
 * the temporary file is removed and an existing destination is left untouched. Also here:
 * {@link workerPool}, the worker threads the streams can use (`workers` option).
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  type BackupMetadata,
  type DecryptBackupOptions,
  decryptBackup,
  type EncryptBackupOptions,
  encryptBackup,
} from './backup.js';
import { E2EEError } from './errors.js';
import { type BackupStore, checkStoreName, type StoredBackup } from './store.js';
import { pipePieces } from './streams.js';

function ioError(what: string, path: string, cause: unknown): E2EEError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new E2EEError('IO', `${what} ${path}: ${reason}`, { cause });
}

function readStream(path: string): ReadableStream<Uint8Array> {
  let handle: FileHandle | undefined;
  const fail = async (e: unknown) => {
    await handle?.close().catch(() => {});
    return ioError('cannot read', path, e);
  };
  // A byte stream: the backup functions read it straight into their own reused buffer.
  const stream: ReadableStream<Uint8Array> = new ReadableStream({
    type: 'bytes',
    autoAllocateChunkSize: 1 << 20,
    async start() {
      handle = await open(path, 'r').catch((e: unknown) => {
        throw ioError('cannot read', path, e);
      });
    },
    async pull(c: ReadableByteStreamController) {
      const request = c.byobRequest!;
      const view = request.view!;
      let n: number;
      try {
        ({ bytesRead: n } = await handle!.read(
          new Uint8Array(view.buffer, view.byteOffset, view.byteLength),
        ));
      } catch (e) {
        throw await fail(e);
      }
      if (n > 0) return request.respond(n);
      await handle!.close();
      c.close();
      request.respond(0);
    },
    cancel: () => handle?.close(),
  });
  return stream;
}

/** Writes `stream` to `handle` through one reused buffer (a byte stream) or piece by piece. */
async function writeAll(stream: ReadableStream<Uint8Array>, handle: FileHandle, path: string): Promise<void> {
  const write = async (piece: Uint8Array) => {
    for (let o = 0; o < piece.length; ) o += (await handle.write(piece, o, piece.length - o)).bytesWritten;
  };
  try {
    await pipePieces(stream, write, { reuse: true, bufferSize: 1 << 20 });
  } catch (e) {
    throw e instanceof E2EEError ? e : ioError('cannot write', path, e);
  }
}

/**
 * Writes `stream` to `dst` atomically: a temporary sibling, fsync, rename. Exported for the CLI
 * and the lifecycle layer, which need the same guarantee.
 */
export async function writeFileAtomically(dst: string, stream: ReadableStream<Uint8Array>): Promise<void> {
  const tmp = join(dirname(dst), `.${basename(dst)}.${randomBytes(6).toString('hex')}.tmp`);
  let created = false;
  try {
    // Opened before anything is read: a stream that fails at once must not race the file's
    // creation, which would leave it behind after the clean-up.
    const handle = await open(tmp, 'wx', 0o600).catch((e) => {
      throw ioError('cannot write', tmp, e);
    });
    created = true;
    try {
      await writeAll(stream, handle, tmp);
      // Durable before it takes the destination's name: a crash leaves the old file or the new one.
      await handle.sync();
    } finally {
      await handle.close(); // removed or renamed only once closed (Windows refuses either while open)
    }
    await rename(tmp, dst).catch((e) => {
      throw ioError('cannot rename the finished file to', dst, e);
    });
    created = false;
    // The rename itself must reach the disk too; not every platform can fsync a folder.
    const folder = await open(dirname(dst), 'r').catch(() => undefined);
    await folder?.sync().catch(() => {});
    await folder?.close();
  } finally {
    if (created) await rm(tmp, { force: true });
  }
}

async function checkReadable(path: string): Promise<void> {
  try {
    await (await open(path, 'r')).close();
  } catch (e) {
    throw ioError('cannot read', path, e);
  }
}

export { type ChunkWorkers, workerPool } from './pool.js';

/**
 * Encrypts the file `src` into `dst` (replaced only when the new backup is complete).
 *
 * @example
 * ```ts
 * await encryptFile('chats.db', 'chats.db.e2ee', { key: generateBackupKey() });
 * ```
 */
export async function encryptFile(src: string, dst: string, options: EncryptBackupOptions): Promise<void> {
  await checkReadable(src);
  await writeFileAtomically(dst, encryptBackup(readStream(src), options));
}

/**
 * Decrypts the backup `src` into `dst`. `dst` appears only after every chunk, the end and the
 * padding have been checked; on any failure nothing is left behind.
 *
 * @returns the backup's (authenticated) metadata.
 */
export async function decryptFile(
  src: string,
  dst: string,
  options: DecryptBackupOptions,
): Promise<BackupMetadata> {
  await checkReadable(src);
  const { metadata, stream } = await decryptBackup(readStream(src), options);
  await writeFileAtomically(dst, stream);
  return metadata;
}

/**
 * A {@link BackupStore} over a folder: one file per backup, written atomically (temporary file,
 * fsync, rename), so a crash leaves either the old set of files or the new one.
 *
 * @example
 * ```ts
 * const store = createFileStore('/var/backups/chat');
 * await createBackup(store, exportStream, { key });
 * ```
 */
export function createFileStore(dir: string): BackupStore {
  const path = (name: string) => {
    checkStoreName(name);
    return join(dir, name);
  };
  return {
    async put(name, data) {
      await mkdir(dir, { recursive: true }).catch((e) => {
        throw ioError('cannot create the folder', dir, e);
      });
      await writeFileAtomically(path(name), data);
    },
    async get(name) {
      const p = path(name);
      await checkReadable(p);
      return readStream(p);
    },
    async list() {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw ioError('cannot list', dir, e);
      }
      const out: StoredBackup[] = [];
      for (const name of names) {
        // Temporary files of unfinished writes are not backups.
        if (name.startsWith('.') || !/^[A-Za-z0-9._-]{1,200}$/.test(name)) continue;
        const s = await stat(join(dir, name)).catch(() => undefined);
        if (s?.isFile()) out.push({ name, size: s.size });
      }
      return out;
    },
    async delete(name) {
      await rm(path(name), { force: true }).catch((e) => {
        throw ioError('cannot delete', path(name), e);
      });
    },
  };
}
