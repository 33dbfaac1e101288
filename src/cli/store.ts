/**
 * The folder store of `e2ee-backup backup`: `createFileStore` from `e2ee-backup/node`, with
 * backups read on demand from a `FileHandle` — one 64 KiB piece per pull — rather than through
 * `Readable.toWeb`, which reads a whole small backup ahead at once.
 *
 * Why: `createBackup` and `restoreLatest` open each backup's metadata and then cancel the body
 * stream. When the whole file has already arrived, the cancel can race the decryptor's final
 * chunk and reject with `Invalid state: Unable to enqueue` (a library bug, reported): `restore`
 * then failed and `create` silently restarted the generations at 0. Reading on demand keeps the
 * end of the file unread when the metadata is cancelled.
 *
 * @module
 */

import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { E2EEError } from '../errors.js';
import { type BackupStore, checkStoreName } from '../lifecycle/store.js';
import { createFileStore } from '../node/files.js';

const PIECE = 64 * 1024;

/** A {@link BackupStore} over the folder `dir`; see the module comment. */
export function openFolderStore(dir: string): BackupStore {
  const base = createFileStore(dir);
  return {
    ...base,
    async get(name) {
      checkStoreName(name);
      const path = join(dir, name);
      const handle = await open(path, 'r').catch((e: unknown) => {
        throw new E2EEError('IO', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
      });
      let closed = false;
      const close = async () => {
        if (closed) return;
        closed = true;
        await handle.close().catch(() => {});
      };
      return new ReadableStream<Uint8Array>(
        {
          async pull(controller) {
            try {
              const buf = new Uint8Array(PIECE);
              const { bytesRead } = await handle.read(buf, 0, PIECE, null);
              if (bytesRead > 0) return controller.enqueue(buf.subarray(0, bytesRead));
              await close();
              controller.close();
            } catch (e) {
              await close();
              throw new E2EEError('IO', `cannot read ${path}: ${(e as Error).message}`, { cause: e });
            }
          },
          cancel: close,
        },
        { highWaterMark: 0 },
      );
    },
  };
}
