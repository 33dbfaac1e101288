/**
 * Inputs and outputs of the commands: a file or standard input in; a file or standard output out.
 *
 * Every file is written by `openFileOutput` (src/node/file-output.ts), the one writer the library uses
 * too: a regular file (or a new one) goes to a temporary sibling (`.NAME.RANDOM.tmp`; a new file
 * 0600, a replaced one keeps its mode) that is flushed to disk and renamed over NAME only when
 * everything has been written — and, when decrypting, when the last chunk has authenticated — so
 * that an existing NAME is never replaced by a partial file, and a failure leaves nothing behind.
 * A symbolic link is followed and its target written that way; a character device, FIFO or
 * socket (`/dev/null`, `-o >(cmd)`, `/dev/stdout` on a pipe), or a file `/dev/stdout` or
 * `/dev/fd/N` is open on, is written in place, never replaced, and like standard output is
 * provisional until the command exits 0. Files are written with synchronous calls on their
 * descriptor: a command does one thing at a time, and a round trip through libuv's thread pool
 * per piece measurably cost throughput.
 *
 * @module
 */

import { readSync } from 'node:fs';
import { type FileHandle, lstat, open } from 'node:fs/promises';
import { pipePieces } from '../internal/streams.js';
import {
  type FileOutput,
  type FileOutputOptions,
  openFileOutput as openSharedOutput,
} from '../node/file-output.js';
import { pendingCleanups } from './cleanups.js';
import { usageError, withContext } from './exit-codes.js';

/**
 * Bytes asked for per read: enough to amortise a system call and a stream step. Not more: every
 * piece is a fresh allocation (the library may hold on to it), and bigger pieces measurably
 * raised peak RSS (about 10 MiB at 1 MiB) without a measurable gain in speed.
 */
export const READ_SIZE = 256 * 1024;

export { cleanUpOnSignal, runPendingCleanupsSync } from './cleanups.js';

/** A source of bytes, read once. */
export interface Input {
  /** For messages: the path, or `standard input`. */
  readonly name: string;
  /** The size of a regular file; `undefined` for pipes and terminals. */
  readonly size: number | undefined;
  /** Bytes handed out so far. */
  readonly bytesRead: number;
  /** The bytes, in pieces. Iterate once, and use either this or {@link Input.byteStream}. */
  readonly chunks: AsyncIterable<Uint8Array>;
  /**
   * Files only: the bytes as a byte stream, read straight into the reader's own buffer when it
   * brings one (a BYOB reader), so that nothing is allocated per read.
   */
  readonly byteStream?: () => ReadableStream<Uint8Array>;
  close(): Promise<void>;
}

/**
 * Opens a file, or standard input for `undefined` or `-`.
 *
 * @param onRead - called with the running total after each piece (for progress).
 */
export async function openInput(
  path: string | undefined,
  onRead?: (bytesRead: number) => void,
): Promise<Input> {
  if (path === undefined || path === '-') return stdinInput(onRead);
  const handle = await open(path, 'r').catch((e: unknown) => {
    throw withContext(e, `cannot read ${path}`);
  });
  try {
    const st = await handle.stat();
    if (st.isDirectory())
      throw withContext(
        Object.assign(new Error('EISDIR: illegal operation on a directory'), { code: 'EISDIR' }),
        `cannot read ${path}`,
      );
    return fileInput(path, handle, st.isFile() ? st.size : undefined, onRead);
  } catch (e) {
    await handle.close();
    throw e;
  }
}

function fileInput(
  path: string,
  handle: FileHandle,
  size: number | undefined,
  onRead: ((n: number) => void) | undefined,
): Input {
  let bytesRead = 0;
  let closed = false;
  const byteStream = (): ReadableStream<Uint8Array> =>
    new ReadableStream({
      type: 'bytes',
      autoAllocateChunkSize: READ_SIZE,
      pull(c: ReadableByteStreamController) {
        const request = c.byobRequest!;
        const view = request.view!;
        let n: number;
        try {
          n = readSync(
            handle.fd,
            new Uint8Array(view.buffer, view.byteOffset, view.byteLength),
            0,
            view.byteLength,
            null,
          );
        } catch (e) {
          throw withContext(e, `cannot read ${path}`);
        }
        if (n === 0) {
          c.close();
          request.respond(0);
          return;
        }
        bytesRead += n;
        onRead?.(bytesRead);
        request.respond(n);
      },
    });
  return {
    name: path,
    size,
    get bytesRead() {
      return bytesRead;
    },
    // The same reads through a default reader: a new READ_SIZE buffer each (the library may
    // still hold the previous piece).
    chunks: piecesOf(byteStream()).chunks,
    byteStream,
    async close() {
      if (closed) return;
      closed = true;
      await handle.close().catch(() => {});
    },
  };
}

function stdinInput(onRead: ((n: number) => void) | undefined): Input {
  let bytesRead = 0;
  const stdin = process.stdin;
  async function* chunks(): AsyncGenerator<Uint8Array> {
    try {
      for await (const piece of stdin as AsyncIterable<Buffer>) {
        bytesRead += piece.length;
        onRead?.(bytesRead);
        yield new Uint8Array(piece.buffer, piece.byteOffset, piece.length);
      }
    } catch (e) {
      throw withContext(e, 'cannot read standard input');
    }
  }
  return {
    name: 'standard input',
    size: undefined,
    get bytesRead() {
      return bytesRead;
    },
    chunks: chunks(),
    async close() {
      // Stop reading so that a pipe writer gets EPIPE instead of blocking forever.
      stdin.destroy();
    },
  };
}

/**
 * Reads exact byte counts from the start of a stream of pieces (a backup's header), then hands
 * the rest on, including what was read past the header.
 */
export class PrefixReader {
  #it: AsyncIterator<Uint8Array>;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #ended = false;

  constructor(chunks: AsyncIterable<Uint8Array>) {
    this.#it = chunks[Symbol.asyncIterator]();
  }

  /** The next `n` bytes, or fewer if the stream ends first. */
  async read(n: number): Promise<Uint8Array> {
    while (this.#queued < n && !this.#ended) {
      const r = await this.#it.next();
      if (r.done) this.#ended = true;
      else {
        this.#queue.push(r.value);
        this.#queued += r.value.length;
      }
    }
    const out = new Uint8Array(Math.min(n, this.#queued));
    let o = 0;
    while (o < out.length) {
      const head = this.#queue[0]!;
      const take = Math.min(head.length, out.length - o);
      out.set(head.subarray(0, take), o);
      o += take;
      if (take === head.length) this.#queue.shift();
      else this.#queue[0] = head.subarray(take);
    }
    this.#queued -= out.length;
    return out;
  }

  /** The pieces read past what `read` returned, taken out of the reader. */
  takeQueued(): Uint8Array[] {
    this.#queued = 0;
    return this.#queue.splice(0);
  }

  /** Everything after what `read` returned, starting with `prefix` when given. */
  async *rest(prefix?: Uint8Array): AsyncGenerator<Uint8Array> {
    if (prefix && prefix.length > 0) yield prefix;
    while (this.#queue.length > 0) {
      const piece = this.#queue.shift()!;
      this.#queued -= piece.length;
      yield piece;
    }
    if (this.#ended) return;
    for (;;) {
      const r = await this.#it.next();
      if (r.done) return;
      yield r.value;
    }
  }
}

/**
 * A byte stream's pieces through a default reader, for a {@link PrefixReader}; `release` gives
 * the stream back (after the last piece asked for has arrived).
 */
export function piecesOf(stream: ReadableStream<Uint8Array>): {
  chunks: AsyncIterable<Uint8Array>;
  release(): void;
} {
  const reader = stream.getReader();
  return {
    chunks: {
      async *[Symbol.asyncIterator]() {
        for (;;) {
          const r = await reader.read();
          if (r.done) return;
          yield r.value;
        }
      },
    },
    release: () => reader.releaseLock(),
  };
}

/**
 * A byte stream of `prefix` and then the rest of the byte stream `rest`, read into its reader's
 * own buffer all the way down: the header read ahead, then the file.
 */
export function prefixedByteStream(
  prefix: Uint8Array[],
  rest: ReadableStream<Uint8Array>,
): ReadableStream<Uint8Array> {
  const byob = rest.getReader({ mode: 'byob' });
  const out: ReadableStream<Uint8Array> = new ReadableStream({
    type: 'bytes',
    autoAllocateChunkSize: READ_SIZE,
    async pull(c: ReadableByteStreamController) {
      const request = c.byobRequest!;
      const view = request.view!;
      const head = prefix[0];
      if (head) {
        const n = Math.min(head.length, view.byteLength);
        new Uint8Array(view.buffer, view.byteOffset, n).set(head.subarray(0, n));
        if (n === head.length) prefix.shift();
        else prefix[0] = head.subarray(n);
        request.respond(n);
        return;
      }
      const r = await byob.read(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
      if (r.done) c.close();
      // The read moved the view's memory; hand it back, filled.
      if (r.value) request.respondWithNewView(r.value);
    },
    cancel: (reason) => byob.cancel(reason),
  });
  return out;
}

/** Where output goes: a file (see the module comment) or standard output. */
export interface Output extends FileOutput {
  /** Standard output, named `standard output` in messages. */
  readonly isStdout: boolean;
}

/** Options of {@link openFileOutput}. */
export type { FileOutputOptions };

/** Opens a file output by the rules of the module comment; failures name the file. */
export async function openFileOutput(dst: string, options: FileOutputOptions = {}): Promise<Output> {
  const fail = (e: unknown) => withContext(e, `cannot write ${dst}`);
  const out = await openSharedOutput(dst, { ...options, blocking: true, cleanups: pendingCleanups }).catch(
    (e: unknown) => {
      throw fail(e);
    },
  );
  return {
    name: out.name,
    isStdout: false,
    inPlace: out.inPlace,
    reusesPieces: out.reusesPieces,
    get bytesWritten() {
      return out.bytesWritten;
    },
    write: (piece) =>
      out.write(piece).catch((e: unknown) => {
        throw fail(e);
      }),
    commit: () =>
      out.commit().catch((e: unknown) => {
        throw fail(e);
      }),
    abort: () => out.abort(),
  };
}

/** Standard output, with back-pressure and its errors (EPIPE) turned into rejections. */
export function stdoutOutput(): Output {
  const out = process.stdout;
  let bytesWritten = 0;
  let failure: unknown;
  // Without a listener an EPIPE would be an uncaught exception.
  out.on('error', (e) => {
    failure ??= e;
  });
  const check = () => {
    if (failure !== undefined) throw withContext(failure, 'cannot write to standard output');
  };
  return {
    name: 'standard output',
    isStdout: true,
    inPlace: true,
    // Node may hold on to a piece until the pipe drains.
    reusesPieces: false,
    get bytesWritten() {
      return bytesWritten;
    },
    async write(piece) {
      check();
      bytesWritten += piece.length;
      if (!out.write(piece)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            out.off('drain', done);
            out.off('error', done);
            resolve();
          };
          out.once('drain', done);
          out.once('error', done);
        });
      }
      check();
    },
    async commit() {
      check();
      // Wait until Node has handed everything to the OS (stdout can be asynchronous, e.g. a socket).
      await new Promise<void>((resolve) => out.write(new Uint8Array(0), () => resolve()));
      check();
    },
    async abort() {},
  };
}

/** The warning shown before plaintext goes somewhere it cannot be taken back from. */
export function provisionalNote(output: Output): string {
  return `e2ee-backup: note: decrypted data goes to ${output.name} as each chunk authenticates, before the end of the backup is checked; if e2ee-backup does not exit 0, discard it.`;
}

/** Opens a file output, or standard output for `undefined` or `-`. */
export async function openOutput(path: string | undefined, options?: FileOutputOptions): Promise<Output> {
  return path === undefined || path === '-' ? stdoutOutput() : openFileOutput(path, options);
}

// What `pump` reads into when it can bring its own buffer: 64 encrypted chunks (64 × 16400
// bytes), the batch an encrypting backup stream seals at a time.
const PUMP_BUFFER = 64 * 16400;

/**
 * Copies a Web stream to an output. A byte stream is read into one buffer, reused for every
 * piece, when the output is done with a piece once written; any other, piece by piece.
 *
 * @returns the number of bytes copied.
 */
export function pump(stream: ReadableStream<Uint8Array>, output: Output): Promise<number> {
  return pipePieces(stream, (piece) => output.write(piece), {
    reuse: output.reusesPieces,
    bufferSize: PUMP_BUFFER,
  });
}

/** Reads a stream to its end, keeping nothing; returns the number of bytes (`verify`). */
export function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  return pipePieces(stream, async () => {}, { reuse: true, bufferSize: PUMP_BUFFER });
}

/** True if something (a file, a folder, a dangling link) is at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return false;
    throw withContext(e, `cannot check ${path}`);
  }
}

/**
 * Opens the atomic output of a new key file (mode 0600), refusing an existing file unless
 * `force`: it may hold the only copy of a key. Called before a code is shown, so that a path that
 * cannot be written fails before the user copies down a code that would not be saved.
 */
export async function openKeyFile(path: string, force: boolean | undefined): Promise<Output> {
  if (!force && (await pathExists(path)))
    throw usageError(
      `${path} already exists; refusing to overwrite a key file (it may hold the only copy of a key)`,
      'Choose another name, or add --force to replace it',
    );
  return openFileOutput(path, { mode: 0o600, overwrite: force === true });
}
