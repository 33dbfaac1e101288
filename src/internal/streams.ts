/** Stream helpers shared by the layers. Internal: not part of the public API. */

import { E2EEError } from '../errors.js';

/** What the backup API reads from: bytes, a Web stream, or an async iterable of bytes. */
export type ByteSource = Uint8Array | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

/** Any {@link ByteSource} as a Web stream (the iterable's `return` runs on cancel). */
export function toStream(input: ByteSource): ReadableStream<Uint8Array> {
  if (input instanceof Uint8Array) {
    return new ReadableStream({
      start(c) {
        if (input.length > 0) c.enqueue(input);
        c.close();
      },
    });
  }
  if (input instanceof ReadableStream) return input;
  if (input && typeof (input as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function') {
    const it = (input as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    return new ReadableStream({
      async pull(c) {
        const r = await it.next();
        if (r.done) c.close();
        else c.enqueue(r.value);
      },
      async cancel(reason) {
        await it.return?.(reason);
      },
    });
  }
  throw new E2EEError(
    'INVALID_ARGUMENT',
    'input must be a Uint8Array, a ReadableStream or an AsyncIterable of Uint8Array',
  );
}

/**
 * What the pipelines read pieces through: a Web stream's default reader, or the same two calls
 * over an async iterator (`cancel` runs its `return`), for where ReadableStream does not exist.
 */
export interface PieceReader {
  read(): Promise<{ done: true; value?: undefined } | { done: false; value: Uint8Array }>;
  cancel(reason?: unknown): Promise<void>;
}

/** Where a pipeline's input comes from: a Web stream (read BYOB when it can be), or a reader. */
export type PieceSource = ReadableStream<Uint8Array> | PieceReader;

/** Whether `x` is a Web stream, without touching `ReadableStream` where it is missing (Hermes). */
export function isStream(x: unknown): x is ReadableStream<Uint8Array> {
  return typeof ReadableStream === 'function' && x instanceof ReadableStream;
}

/**
 * What a read or a batch still in flight when its stream is cancelled ends with: nobody reads
 * it, but it must not go on writing plaintext into a buffer that was wiped, nor pass for the end
 * of the input.
 */
export const cancelled = (): E2EEError => new E2EEError('ABORTED', 'the stream was cancelled');

/**
 * Any {@link ByteSource} as a {@link PieceSource}: a Web stream stays one; bytes and async
 * iterables are read through a {@link PieceReader}, so that no Web stream is needed for them.
 */
export function toPieceSource(input: ByteSource): PieceSource {
  if (input instanceof Uint8Array) {
    let given = input.length === 0;
    return {
      read: async () => {
        if (given) return { done: true };
        given = true;
        return { done: false, value: input };
      },
      cancel: async () => {},
    };
  }
  if (isStream(input)) return input;
  const method = asyncIteratorMethod(input);
  if (method) {
    const it: AsyncIterator<Uint8Array> = method.call(input);
    let ended = false;
    let interrupt: ((e: unknown) => void) | undefined; // fails the read in flight (one at a time)
    return {
      read() {
        if (ended) return Promise.resolve({ done: true });
        return new Promise<Awaited<ReturnType<PieceReader['read']>>>((resolve, reject) => {
          const next = Promise.resolve(it.next());
          interrupt = reject;
          next.then(
            (r) => {
              interrupt = undefined;
              if (r.done) ended = true;
              resolve(r.done ? { done: true } : { done: false, value: r.value });
            },
            (e: unknown) => {
              interrupt = undefined;
              reject(e);
            },
          );
        });
      },
      async cancel(reason?: unknown) {
        if (ended) return;
        ended = true;
        // Inside next(), an async generator's return() waits for it, maybe for ever: the read
        // in flight fails now, and return() is not awaited (for any iterator: no telling which
        // would wait).
        const reading = interrupt;
        reading?.(cancelled());
        const returned = it.return?.(reason);
        if (reading) void Promise.resolve(returned).catch(() => {});
        else await returned;
      },
    };
  }
  throw new E2EEError(
    'INVALID_ARGUMENT',
    'input must be a Uint8Array, a ReadableStream or an AsyncIterable of Uint8Array',
  );
}

/**
 * The `[Symbol.asyncIterator]` method of `x`, if it has one. Where the engine has no
 * Symbol.asyncIterator (Hermes 0.12), Babel's async generators and `for await` use the key
 * `'@@asyncIterator'` instead: that is looked up too.
 */
function asyncIteratorMethod(x: unknown): (() => AsyncIterator<Uint8Array>) | undefined {
  if (x === null || (typeof x !== 'object' && typeof x !== 'function')) return undefined;
  const o = x as Record<string | symbol, unknown>;
  const method =
    (typeof Symbol.asyncIterator === 'symbol' ? o[Symbol.asyncIterator] : undefined) ?? o['@@asyncIterator'];
  return typeof method === 'function' ? (method as () => AsyncIterator<Uint8Array>) : undefined;
}

/** A reader of `source`: the stream's default reader, or the reader itself. */
export function readerOf(source: PieceSource): PieceReader & { releaseLock?(): void } {
  return isStream(source) ? (source.getReader() as PieceReader & { releaseLock(): void }) : source;
}

/**
 * Calls `then` when `signal` fires while `p` is pending, and rejects with what it throws: a
 * race per call, whose listener is removed when `p` settles, so that nothing stays attached to a
 * long-lived promise.
 */
export function abortable<T>(
  p: Promise<T>,
  signal: AbortSignal | undefined,
  error: () => unknown,
): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(error());
  let stop: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    stop = () => reject(error());
    signal.addEventListener('abort', stop, { once: true });
  });
  const release = () => signal.removeEventListener('abort', stop!);
  return Promise.race([p, stopped]).then(
    (v) => {
      release();
      return v;
    },
    (e: unknown) => {
      release();
      throw e;
    },
  );
}

/** Everything a stream yields, in one array; a `RangeError` (and a cancel) past `limit` bytes. */
export async function readAll(
  stream: ReadableStream<Uint8Array>,
  limit = Number.POSITIVE_INFINITY,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > limit) {
      await reader.cancel();
      throw new RangeError('over the limit');
    }
    parts.push(value);
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Forwards a cancel down a chain of streams without letting teardown errors escape: a transform
 * still busy when its readable side is cancelled fails its next enqueue, and that failure must not
 * reach a consumer who only said "no more".
 */
export function cancelQuietly(
  reader: ReadableStreamDefaultReader<Uint8Array> | ReadableStreamBYOBReader | PieceReader,
  reason?: unknown,
): Promise<void> {
  return reader.cancel(reason).catch(() => {});
}

/** A BYOB reader of `stream` when it is a byte stream, else `undefined`. */
export function byobReaderOf(stream: ReadableStream<Uint8Array>): ReadableStreamBYOBReader | undefined {
  try {
    return stream.getReader({ mode: 'byob' });
  } catch {
    return undefined; // not a byte stream
  }
}

/**
 * Hands each piece of `stream` to `write`, one at a time, and answers the number of bytes. With
 * `reuse` (the caller's `write` is done with a piece when it resolves), a byte stream is read into
 * one buffer of `bufferSize` bytes, reused for every piece. On a failure the stream is cancelled.
 */
export async function pipePieces(
  stream: ReadableStream<Uint8Array>,
  write: (piece: Uint8Array) => Promise<void>,
  { reuse, bufferSize }: { reuse: boolean; bufferSize: number },
): Promise<number> {
  const byob = reuse ? byobReaderOf(stream) : undefined;
  const reader = byob ?? stream.getReader();
  let buf = new Uint8Array(byob ? bufferSize : 0);
  let n = 0;
  try {
    for (;;) {
      const { done, value } = byob
        ? await byob.read(buf)
        : await (reader as ReadableStreamDefaultReader<Uint8Array>).read();
      if (done) return n;
      n += value.length;
      await write(value);
      // The read transferred the buffer; its memory comes back with the piece.
      if (byob) buf = new Uint8Array(value.buffer as ArrayBuffer);
    }
  } catch (e) {
    await cancelQuietly(reader, e);
    throw e;
  } finally {
    reader.releaseLock();
  }
}
