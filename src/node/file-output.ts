/**
 * The one way this package writes a file (Node): `encryptFile`, `decryptFile`, the folder store
 * and every file the CLI writes go through {@link openFileOutput}.
 *
 * What the destination is decides how it is written, and nothing but a regular file (or nothing
 * at all) is ever replaced:
 *
 * - nothing there, or a regular file: a temporary sibling (`.NAME.RANDOM.tmp`), flushed to disk
 *   and renamed over NAME only at {@link FileOutput.commit}, so that NAME is never a partial file
 *   and a failure leaves nothing behind. A new file gets mode 0600 (backups and restored data are
 *   private); a file replaced keeps its permission bits, and its owner and group where the system
 *   allows, as a shell's `>` would (unless the caller names a mode: key and state files stay
 *   0600). A file this process may not write (`access(W_OK)`) is refused, not replaced, even in
 *   a folder it may write. Other hard links to a replaced file keep the old contents;
 * - a symbolic link: followed; its final target is written as above (the link stays a link);
 * - a path naming one of this process's descriptors (`/dev/stdout`, `/dev/stderr`, `/dev/stdin`,
 *   `/dev/fd/N`, `/proc/self/fd/N`) that is open on a regular file (`>> log.txt`): written through
 *   that descriptor, at its offset (appended, if it was opened to append), never replaced, and
 *   provisional like a device;
 * - a character device, a FIFO or a socket (`/dev/null`, `-o >(cmd)`, `/dev/stdout` on a pipe):
 *   written in place as the bytes come, never replaced. Such output cannot be taken back: it is
 *   provisional until the writer says it is complete ({@link FileOutput.inPlace});
 * - a folder or a block device: refused.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { constants, fstatSync, fsyncSync, rmSync, type Stats, writeSync } from 'node:fs';
import {
  access,
  type FileHandle,
  link,
  lstat,
  open,
  readlink,
  realpath,
  rename,
  rm,
  stat,
  unlink,
} from 'node:fs/promises';
import type { Socket } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { E2EEError } from '../errors.js';

/** An output being written; see the module comment. */
export interface FileOutput {
  /** The path as given. */
  readonly name: string;
  /**
   * Written in place (a device, FIFO or socket): what was written cannot be taken back, so it is
   * provisional until {@link FileOutput.commit} resolves.
   */
  readonly inPlace: boolean;
  /** Whether `write` is done with a piece when it resolves, so the caller may reuse it. */
  readonly reusesPieces: boolean;
  /** Bytes accepted so far. */
  readonly bytesWritten: number;
  write(piece: Uint8Array): Promise<void>;
  /** Makes the output final: fsync and rename for a file; close for a device, FIFO or socket. */
  commit(): Promise<void>;
  /** Discards the output: removes the temporary file (in-place output is only closed). */
  abort(): Promise<void>;
}

/** Options of {@link openFileOutput}. */
export interface FileOutputOptions {
  /**
   * Permission bits of the file written, new or replaced. Default: 0600 for a new file (backups
   * and restored data are private); a replaced file keeps its own.
   */
  mode?: number;
  /** Replace an existing file (default true). When false, anything at the path is an `EEXIST` error. */
  overwrite?: boolean;
  /**
   * Write a file with synchronous calls on its descriptor (the CLI, which does one thing at a
   * time: a round trip through libuv's thread pool per piece measurably cost throughput).
   */
  blocking?: boolean;
  /** Synchronous clean-ups to run on a signal: the temporary file's removal is added while it exists. */
  cleanups?: Set<() => void>;
}

/** Where the bytes go, once the path has been looked at. */
type Destination =
  | { kind: 'file'; target: string; existing?: Stats }
  | { kind: 'device'; target: string }
  | { kind: 'descriptor'; fd: number }
  | { kind: 'socket'; target: string; fd?: number };

// How many symbolic links are followed before giving up (Linux's own limit).
const MAX_LINKS = 40;

function refusal(path: string, why: string): E2EEError {
  return new E2EEError('IO', `cannot write ${path}: ${why}`);
}

function errno(e: unknown): string | undefined {
  return (e as { code?: string } | null)?.code;
}

/** A path that names one of this process's descriptors: `/dev/stdout`, `/dev/fd/N`, `/proc/self/fd/N`. */
function descriptorOf(path: string): number | undefined {
  if (path === '/dev/stdin') return 0;
  if (path === '/dev/stdout') return 1;
  if (path === '/dev/stderr') return 2;
  const m = /^\/(?:dev\/fd|proc\/self\/fd)\/(\d{1,9})$/.exec(path);
  return m ? Number(m[1]) : undefined;
}

function fstatOrUndefined(fd: number): Stats | undefined {
  try {
    return fstatSync(fd);
  } catch {
    return undefined;
  }
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    throw e;
  }
}

/** Decides how `path` is written; see the module comment. */
async function destinationOf(path: string, overwrite: boolean): Promise<Destination> {
  const own = await lstatOrUndefined(path);
  if (own === undefined) return { kind: 'file', target: path };
  if (!overwrite)
    throw Object.assign(new Error(`EEXIST: file already exists, '${path}'`), { code: 'EEXIST' });
  // Opening the path again would start a regular file at offset 0 (or replace it): what the
  // caller redirected (`>> log.txt`) is written through the descriptor itself.
  const fd = descriptorOf(path);
  if (fd !== undefined && fstatOrUndefined(fd)?.isFile()) return { kind: 'descriptor', fd };
  let st = own;
  let target = path;
  if (own.isSymbolicLink()) {
    const followed = await stat(path).catch((e: unknown) => {
      if (errno(e) === 'ENOENT') return undefined;
      throw e;
    });
    if (followed === undefined) return { kind: 'file', target: await danglingTarget(path) };
    st = followed;
    // A regular file behind the link is replaced where it is; /proc's links to pipes and sockets
    // have no path to resolve, and need none.
    if (st.isFile()) target = await realpath(path);
  }
  if (st.isFile()) return { kind: 'file', target, existing: st };
  if (st.isDirectory()) throw Object.assign(new Error(`EISDIR: is a folder, '${path}'`), { code: 'EISDIR' });
  if (st.isCharacterDevice() || st.isFIFO()) return { kind: 'device', target: path };
  if (st.isSocket()) return { kind: 'socket', target: path, fd: descriptorOf(path) };
  throw refusal(path, 'it is a block device; refusing to write over a disk (name a file)');
}

/** The path a dangling link chain ends at, where the new file is created. */
async function danglingTarget(path: string): Promise<string> {
  let p = path;
  for (let i = 0; i < MAX_LINKS; i++) {
    const st = await lstatOrUndefined(p);
    if (st === undefined) return p;
    if (!st.isSymbolicLink()) break;
    p = resolve(dirname(p), await readlink(p));
  }
  throw refusal(path, `it is a symbolic link that does not lead to a file within ${MAX_LINKS} links`);
}

/**
 * Opens `path` for writing by the rules of the module comment. Nothing is created or changed at
 * `path` before {@link FileOutput.commit}, except that a device, FIFO or socket is opened (a FIFO
 * waits here for its reader).
 *
 * @throws Node's system errors (`ENOENT`, `EACCES`, `EISDIR`, `EEXIST` …) as they are, for the
 *   caller to word; an `IO` {@link E2EEError} for a destination that is refused.
 */
export async function openFileOutput(path: string, options: FileOutputOptions = {}): Promise<FileOutput> {
  const dest = await destinationOf(path, options.overwrite ?? true);
  if (dest.kind === 'device') return deviceOutput(path);
  if (dest.kind === 'descriptor') return descriptorOutput(path, dest.fd);
  if (dest.kind === 'socket') return socketOutput(path, dest.fd);
  if (dest.existing)
    await access(dest.target, constants.W_OK).catch((e: unknown) => {
      throw refusal(
        path,
        `${errno(e) === 'EACCES' || errno(e) === 'EPERM' ? 'it is read-only, or not yours to write' : String((e as Error).message)}; it was not replaced`,
      );
    });
  return atomicOutput(path, dest.target, dest.existing, options);
}

async function atomicOutput(
  name: string,
  target: string,
  existing: Stats | undefined,
  options: FileOutputOptions,
): Promise<FileOutput> {
  const overwrite = options.overwrite ?? true;
  const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  const mode = options.mode ?? (existing ? existing.mode & 0o777 : 0o600);
  return open(tmp, 'wx', 0o600).then(async (handle) => {
    // Set after creating (the umask would narrow `open`'s mode); private until then.
    try {
      if (existing && (existing.uid !== process.getuid?.() || existing.gid !== process.getgid?.()))
        await handle.chown(existing.uid, existing.gid).catch(() => {}); // where the system allows
      if (mode !== 0o600) await handle.chmod(mode);
    } catch (e) {
      await handle.close().catch(() => {});
      await rm(tmp, { force: true }).catch(() => {});
      throw e;
    }
    const cleanup = () => rmSync(tmp, { force: true });
    options.cleanups?.add(cleanup);
    let bytesWritten = 0;
    let closed = false;
    const close = async () => {
      if (!closed) await handle.close();
      closed = true;
    };
    const abort = async () => {
      await close().catch(() => {});
      await rm(tmp, { force: true }).catch(() => {});
      options.cleanups?.delete(cleanup);
    };
    const write = options.blocking
      ? async (piece: Uint8Array) => {
          for (let o = 0; o < piece.length; ) o += writeSync(handle.fd, piece, o, piece.length - o);
        }
      : async (piece: Uint8Array) => {
          for (let o = 0; o < piece.length; )
            o += (await handle.write(piece, o, piece.length - o)).bytesWritten;
        };
    return {
      name,
      inPlace: false,
      reusesPieces: true,
      get bytesWritten() {
        return bytesWritten;
      },
      async write(piece) {
        await write(piece);
        bytesWritten += piece.length;
      },
      async commit() {
        try {
          // Durable before it takes the destination's name: a crash leaves the old file or the new.
          await handle.sync();
          await close(); // renamed only once closed (Windows refuses it while open)
          // Looked at again just before: what became a device or a FIFO meanwhile is not replaced.
          const now = await lstatOrUndefined(target);
          if (now && !now.isFile())
            throw refusal(name, `${target} is no longer a regular file; it was not replaced`);
          if (overwrite) await rename(tmp, target);
          else {
            // Publishes only if nothing is there: link() fails with EEXIST atomically.
            await link(tmp, target);
            await unlink(tmp);
          }
          options.cleanups?.delete(cleanup);
        } catch (e) {
          await abort();
          throw e;
        }
        await syncFolder(dirname(target));
      },
      abort,
    };
  });
}

/** Flushes a folder's entries (the rename) to disk; not every platform can, so best effort. */
async function syncFolder(dir: string): Promise<void> {
  const h = await open(dir, 'r').catch(() => undefined);
  await h?.sync().catch(() => {});
  await h?.close().catch(() => {});
}

/** A character device or FIFO, written in place: no O_CREAT, no O_TRUNC, never replaced. */
async function deviceOutput(name: string): Promise<FileOutput> {
  const handle: FileHandle = await open(name, constants.O_WRONLY | constants.O_NOCTTY);
  const st = await handle.stat().catch(async (e: unknown) => {
    await handle.close();
    throw e;
  });
  if (!st.isCharacterDevice() && !st.isFIFO()) {
    await handle.close();
    throw refusal(name, 'it changed while it was being opened; nothing was written');
  }
  let bytesWritten = 0;
  let closed = false;
  const close = async () => {
    if (!closed) await handle.close();
    closed = true;
  };
  return {
    name,
    inPlace: true,
    reusesPieces: true,
    get bytesWritten() {
      return bytesWritten;
    },
    async write(piece) {
      for (let o = 0; o < piece.length; ) o += (await handle.write(piece, o, piece.length - o)).bytesWritten;
      bytesWritten += piece.length;
    },
    commit: close,
    abort: () => close().catch(() => {}),
  };
}

/**
 * One of this process's descriptors open on a regular file: written with its own offset and flags
 * (O_APPEND included), never closed (it is not ours), flushed at commit.
 */
function descriptorOutput(name: string, fd: number): FileOutput {
  let bytesWritten = 0;
  return {
    name,
    inPlace: true,
    reusesPieces: true,
    get bytesWritten() {
      return bytesWritten;
    },
    async write(piece) {
      for (let o = 0; o < piece.length; ) o += writeSync(fd, piece, o, piece.length - o);
      bytesWritten += piece.length;
    },
    async commit() {
      try {
        fsyncSync(fd);
      } catch (e) {
        // Not every file system can (EINVAL); the bytes are written either way.
        if (errno(e) !== 'EINVAL' && errno(e) !== 'ENOTSUP') throw e;
      }
    },
    async abort() {},
  };
}

/** A socket: a named one is connected to; one of our descriptors is written as it is. */
async function socketOutput(name: string, fd: number | undefined): Promise<FileOutput> {
  // Loaded only here: writing to a socket is rare, and node:net costs every CLI start otherwise.
  const { connect, Socket } = await import('node:net');
  const socket: Socket = await new Promise((resolveSocket, reject) => {
    if (fd !== undefined) {
      resolveSocket(new Socket({ fd, readable: false, writable: true }));
      return;
    }
    const s = connect({ path: name });
    s.once('connect', () => {
      s.off('error', reject);
      resolveSocket(s);
    });
    s.once('error', reject);
  });
  let failure: unknown;
  socket.on('error', (e) => {
    failure ??= e;
  });
  const check = () => {
    if (failure !== undefined) throw failure;
  };
  let bytesWritten = 0;
  return {
    name,
    inPlace: true,
    // Node may hold on to a piece until the socket drains.
    reusesPieces: false,
    get bytesWritten() {
      return bytesWritten;
    },
    async write(piece) {
      check();
      if (!socket.write(piece))
        await new Promise<void>((done) => {
          const settle = () => {
            socket.off('drain', settle);
            socket.off('error', settle);
            socket.off('close', settle);
            done();
          };
          socket.once('drain', settle).once('error', settle).once('close', settle);
        });
      check();
      bytesWritten += piece.length;
    },
    async commit() {
      check();
      await new Promise<void>((done, reject) => {
        socket.once('error', reject);
        socket.end(() => done());
      });
      check();
    },
    async abort() {
      socket.destroy();
    },
  };
}
