/**
 * Node file helpers: `encryptFile` and `decryptFile`. Output is written by the rules of
 * `openFileOutput` (src/node/file-output.ts), the one file writer of the package and its CLI: a
 * regular file (or a new one) goes to a temporary file in the destination's folder, is flushed to
 * disk, and is renamed over the destination only after the last byte is written (and, when
 * decrypting, the last chunk has authenticated), so that on any failure the temporary file is
 * removed and an existing destination is left untouched; a symbolic link is followed and its
 * target written that way; a character device, FIFO or socket, or a file `/dev/stdout` or
 * `/dev/fd/N` is open on, is written in place, never replaced. A new file is 0600; a replaced one
 * keeps its mode, and one this process may not write is refused.
 *
 * @module
 */

import { type FileHandle, mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type BackupMetadata,
  type DecryptBackupOptions,
  decryptBackup,
  type EncryptBackupOptions,
  encryptBackup,
} from '../container/backup.js';
import { E2EEError } from '../errors.js';
import { pipePieces } from '../internal/streams.js';
import { type BackupStore, checkStoreName, type StoredBackup } from '../lifecycle/store.js';
import { type FileOutput, openFileOutput } from './file-output.js';

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

/**
 * Writes `stream` to `dst` by the rules of the module comment: atomically (a temporary sibling,
 * fsync, rename) unless `dst` is a device, FIFO or socket, which is written in place. Exported for
 * apps that need the same guarantee; the CLI and the folder store use it too.
 *
 * @throws The stream's own E2EEError when it fails (e.g. `CHUNK_AUTH`), else `IO` naming `dst`.
 */
export async function writeFileAtomically(dst: string, stream: ReadableStream<Uint8Array>): Promise<void> {
  let out: FileOutput;
  try {
    // Opened before anything is read: a stream that fails at once must not race the file's
    // creation, which would leave it behind after the clean-up.
    out = await openFileOutput(dst);
  } catch (e) {
    await stream.cancel(e).catch(() => {});
    throw e instanceof E2EEError ? e : ioError('cannot write', dst, e);
  }
  try {
    await pipePieces(stream, (piece) => out.write(piece), { reuse: out.reusesPieces, bufferSize: 1 << 20 });
    await out.commit();
  } catch (e) {
    await out.abort();
    throw e instanceof E2EEError ? e : ioError('cannot write', dst, e);
  }
}

async function checkReadable(path: string): Promise<void> {
  try {
    await (await open(path, 'r')).close();
  } catch (e) {
    throw ioError('cannot read', path, e);
  }
}

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
 * await createBackup(store, exportStream, { key, set: deviceId }); // deviceId: made once per install
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
