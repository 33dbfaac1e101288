/**
 * A backup's Cobblestone payload as streams over buffers that are reused from batch to batch: the
 * framed plaintext sealed from one buffer straight into the reader's buffer, and the records
 * opened from one buffer into one buffer of plaintext, through the engine (./message.ts). Nothing
 * is allocated per byte.
 *
 * @module
 */

import { TEST_HOOKS } from '../cobblestone/hooks.js';
import {
  CHUNK_SIZE,
  type ChunkedOptions,
  createMessageOpener,
  createMessageSealer,
  HEADER_SIZE,
  type MessageSealer,
  RECORD_SIZE,
  TAG_SIZE,
} from '../cobblestone/message.js';
import { E2EEError } from '../errors.js';
import {
  abortable,
  byobReaderOf,
  cancelled,
  cancelQuietly,
  isStream,
  type PieceSource,
  readerOf,
} from '../internal/streams.js';
import { type BlockSource, type FramedReader, type FramingSource, owned } from './framing.js';

/** The error of an operation stopped by `signal`. */
export function aborted(signal: AbortSignal): E2EEError {
  return new E2EEError('ABORTED', 'the operation was aborted', { cause: signal.reason });
}

/** A backup's header bytes and file key, and the payload's salt when it is not drawn afresh. */
export interface Keying {
  bytes: Uint8Array;
  fileKey: Uint8Array;
  salt?: Uint8Array;
}

/**
 * Internal, never public: `encryptBackup` options registered here reuse an interrupted upload's
 * header, file key and salt instead of drawing new ones, so that the same input gives the same
 * bytes (src/lifecycle/resume.ts; SPEC.md §11 says why that is safe). A module-private map keyed
 * by the options object, not a property: no caller can name it, nor see it looked up (a symbol
 * key would show itself to a Proxy passed as options).
 */
export const RESUME_KEYINGS = new WeakMap<object, () => Promise<Keying>>();

/**
 * Chunked options that seal under `salt` when a resume gives one (else a fresh random one), over
 * the internal hooks channel: the public chunked API refuses a caller's salt.
 */
export function withSalt(options: ChunkedOptions, salt: Uint8Array | undefined): ChunkedOptions {
  return salt === undefined ? options : ({ ...options, [TEST_HOOKS]: { salt } } as ChunkedOptions);
}

// Plaintext sealed per read on the fused path: 64 chunks (1 MiB) in, 64 records out.
const BATCH_CHUNKS = 64;
const BATCH = BATCH_CHUNKS * CHUNK_SIZE;

/**
 * The encrypted backup, batch by batch: the header, then the payload sealed from one plaintext
 * buffer that is filled from the framed pieces and reused. The one pipeline under both the byte
 * stream ({@link sealedStream}) and the async iterable ({@link sealedIterable}).
 */
function payloadSealer(
  header: () => Promise<Keying>,
  pieces: AsyncGenerator<Uint8Array, void, undefined>,
  blocks: BlockSource,
  signal: AbortSignal | undefined,
) {
  const plain = new Uint8Array(BATCH);
  let held = 0; // plaintext bytes in `plain` not yet sealed
  // plain[0, used) is all it ever held. A wipe stops there: a first write to the rest of a new
  // 1 MiB buffer costs about 3 ms of page faults, and a backup of a few bytes would pay it.
  let used = 0;
  const wipe = () => plain.fill(0, 0, used);
  let piece: Uint8Array | undefined; // the current framed piece, valid until pieces.next()
  let at = 0;
  let ended = false;
  let stopped = false; // cancelled: a batch in flight wipes what it wrote and fails
  let sealer: MessageSealer;
  // Ends the input, then the framing, whose `finally` wipes its plaintext copies. Not awaited:
  // a return waits for a `pieces.next()` in flight, which ends once the input is cancelled.
  const halt = async (reason: unknown) => {
    wipe();
    await blocks.cancel(reason);
    void pieces.return().catch(() => {});
  };
  const fail = async (e: unknown): Promise<never> => {
    await halt(e);
    throw e;
  };
  return {
    /** The container header and the payload's salt ‖ commitment, each a buffer of its own. */
    async start(): Promise<Uint8Array<ArrayBuffer>[]> {
      try {
        const { bytes, fileKey, salt } = await header();
        try {
          sealer = await createMessageSealer(fileKey, withSalt({ context: bytes }, salt));
        } finally {
          fileKey.fill(0);
        }
        return [owned(bytes), owned(sealer.prefix)];
      } catch (e) {
        return fail(e);
      }
    },
    /**
     * Seals the next batch into `view` when it holds a record (answering how many bytes it
     * wrote), else into a new buffer (answering it). `final` is true once the message has ended.
     */
    async next(
      view: ArrayBufferView | null | undefined,
    ): Promise<{ out: Uint8Array | undefined; size: number; final: boolean }> {
      try {
        while (!ended && held < BATCH) {
          if (piece && at < piece.length) {
            const n = Math.min(BATCH - held, piece.length - at);
            plain.set(piece.subarray(at, at + n), held);
            held += n;
            used = Math.max(used, held);
            at += n;
            continue;
          }
          const r = await pieces.next();
          if (r.done) ended = true;
          else {
            piece = r.value;
            at = 0;
          }
        }
        if (signal?.aborted) throw aborted(signal); // the caller has already stopped with it
        if (stopped) throw cancelled();
        // Sealed into the reader's buffer when it holds a record; else into a new one.
        const direct = view && view.byteLength >= RECORD_SIZE ? view : undefined;
        const room = direct ? Math.floor(direct.byteLength / RECORD_SIZE) : BATCH_CHUNKS;
        const whole = Math.floor(held / CHUNK_SIZE);
        const final = ended && room > whole;
        const count = final ? whole : Math.min(whole, room);
        const take = final ? held : count * CHUNK_SIZE;
        const size = count * RECORD_SIZE + (final ? held - count * CHUNK_SIZE + TAG_SIZE : 0);
        const out = direct ? undefined : new Uint8Array(size);
        const into = out ?? new Uint8Array(direct!.buffer, direct!.byteOffset, size);
        await sealer.seal(plain.subarray(0, take), into, 0, final);
        plain.copyWithin(0, take, held);
        held -= take;
        if (final) wipe();
        return { out, size, final };
      } catch (e) {
        return fail(e);
      }
    },
    async cancel(reason: unknown): Promise<void> {
      stopped = true;
      await halt(reason);
    },
  };
}

/**
 * The encrypted backup as a byte stream over {@link payloadSealer}. A reader that brings its own
 * buffer (a BYOB reader) gets the records sealed straight into it, and can reuse it; any other
 * reader gets a new buffer for each batch. Nothing here allocates per byte.
 */
export function sealedStream(
  header: () => Promise<Keying>,
  pieces: AsyncGenerator<Uint8Array, void, undefined>,
  blocks: BlockSource,
  signal: AbortSignal | undefined,
): ReadableStream<Uint8Array> {
  const core = payloadSealer(header, pieces, blocks, signal);
  let stop: (() => void) | undefined;
  const release = () => {
    if (stop) signal?.removeEventListener('abort', stop);
  };
  return new ReadableStream({
    type: 'bytes',
    autoAllocateChunkSize: BATCH_CHUNKS * RECORD_SIZE,
    async start(c: ReadableByteStreamController) {
      if (signal) {
        if (signal.aborted) throw aborted(signal);
        // From the start: the header (Argon2id for a password) can take a while.
        stop = () => {
          const e = aborted(signal);
          c.error(e);
          void core.cancel(e);
        };
        signal.addEventListener('abort', stop, { once: true });
      }
      try {
        // A byte stream takes ownership of what is enqueued: these are ours to give.
        for (const b of await core.start()) c.enqueue(b);
      } catch (e) {
        release();
        throw e;
      }
    },
    async pull(c: ReadableByteStreamController) {
      try {
        const request = c.byobRequest;
        const { out, size, final } = await core.next(request?.view);
        if (out) c.enqueue(out as Uint8Array<ArrayBuffer>);
        else request!.respond(size);
        if (final) {
          release();
          c.close();
          c.byobRequest?.respond(0); // a read still waiting for more (`min`) ends here
        }
      } catch (e) {
        release();
        throw e;
      }
    },
    async cancel(reason) {
      release();
      await core.cancel(reason);
    },
  });
}

/**
 * The encrypted backup as an async iterable over {@link payloadSealer}: each batch in a new
 * buffer that the consumer owns. `signal` stops a pending `next()` at once with `ABORTED`.
 */
export async function* sealedIterable(
  header: () => Promise<Keying>,
  pieces: AsyncGenerator<Uint8Array, void, undefined>,
  blocks: BlockSource,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array, void, undefined> {
  const core = payloadSealer(header, pieces, blocks, signal);
  const stop = () => aborted(signal!);
  let finished = false;
  try {
    for (const b of await abortable(core.start(), signal, stop)) yield b;
    for (;;) {
      const { out, final } = await abortable(core.next(undefined), signal, stop);
      yield out!;
      if (final) break;
    }
    finished = true;
  } finally {
    // Stopped early (an error, an abort, or the consumer left the loop): release the input.
    if (!finished) await core.cancel(signal?.aborted ? stop() : undefined);
  }
}

/**
 * The payload's records, read into one reused buffer of BATCH_CHUNKS records: `queued` first
 * (what was read past the container header), then `source`, straight into the buffer when it is
 * a byte stream.
 */
function recordReader(queued: Uint8Array[], source: PieceSource) {
  const byob = isStream(source) ? byobReaderOf(source) : undefined;
  const reader = byob ? undefined : readerOf(source);
  let buf = new Uint8Array(BATCH_CHUNKS * RECORD_SIZE);
  let held = 0;
  let ended = false;
  return {
    /** Fills the buffer, or reads to the end; returns the bytes held and whether the end came. */
    async fill(): Promise<{ bytes: Uint8Array; ended: boolean }> {
      while (held < buf.length && !ended) {
        const q = queued[0];
        if (q && !(q instanceof Uint8Array))
          throw new E2EEError('INVALID_ARGUMENT', 'backup input must be Uint8Array pieces');
        if (q) {
          const n = Math.min(q.length, buf.length - held);
          buf.set(q.subarray(0, n), held);
          held += n;
          if (n === q.length) queued.shift();
          else queued[0] = q.subarray(n);
        } else if (byob) {
          const r = await byob.read(buf.subarray(held));
          // The read transfers the buffer; its memory comes back in r.value.
          if (r.value) buf = new Uint8Array(r.value.buffer);
          if (r.done) ended = true;
          else held += r.value.length;
        } else {
          const r = await reader!.read();
          if (r.done) ended = true;
          else queued.push(r.value);
        }
      }
      return { bytes: buf.subarray(0, held), ended };
    },
    /** Drops the first `n` bytes held, keeping the rest. */
    consume(n: number): void {
      buf.copyWithin(0, n, held);
      held -= n;
    },
    cancel: (reason?: unknown) => cancelQuietly(byob ?? reader!, reason),
  };
}

/**
 * Opens the payload that follows a backup's header (`queued` then `source`) with the file key,
 * and reads its plaintext through one reused buffer: what the reader returns is valid only until
 * its next call (the framing decoder's `lent` mode). The commitment is checked here
 * (`COMMITMENT_MISMATCH`, `TRUNCATED`); a record that fails errors the next read.
 */
export async function openedReader(
  fileKey: Uint8Array,
  context: Uint8Array,
  queued: Uint8Array[],
  source: PieceSource,
): Promise<FramedReader> {
  const records = recordReader(queued, source);
  let opener: Awaited<ReturnType<typeof createMessageOpener>>;
  try {
    const { bytes } = await records.fill();
    opener = await createMessageOpener(fileKey, bytes.subarray(0, HEADER_SIZE), { context });
    records.consume(HEADER_SIZE);
  } catch (e) {
    await records.cancel(e);
    throw e;
  }
  const plain = new Uint8Array(BATCH_CHUNKS * CHUNK_SIZE);
  let start = 0; // plain[start, end) is opened and not yet read
  let end = 0;
  let last: Uint8Array | undefined; // the final record, opened once everything before it is read
  let done = false;
  let short: Uint8Array | undefined; // what `exactly` found when it came up short
  let got = 0;
  let used = 0; // plain[0, used) is all that was ever opened into it (see payloadSealer)
  let stopped = false; // cancelled: an open in flight wipes what it wrote and fails

  const wipe = () => plain.fill(0, 0, used);
  // A failed open leaves nothing it wrote behind, nor one that a cancel overtook.
  const refill = async (): Promise<boolean> => {
    try {
      const more = await openNext();
      if (stopped) throw cancelled();
      return more;
    } catch (e) {
      wipe();
      throw e;
    }
  };
  /** Opens the next batch; false at the end of the message. */
  const openNext = async (): Promise<boolean> => {
    if (done) return false;
    if (last) {
      const record = last;
      last = undefined;
      done = true;
      // Counted before the open: one that fails may have written its bytes.
      used = Math.max(used, record.length - TAG_SIZE);
      await opener.open(record, plain, 0, true);
      start = 0;
      end = record.length - TAG_SIZE;
      return true;
    }
    const { bytes, ended } = await records.fill();
    // A full record is never the final chunk: open them all now, and the rest once read.
    const full = Math.floor(bytes.length / RECORD_SIZE);
    used = Math.max(used, full * CHUNK_SIZE);
    await opener.open(bytes.subarray(0, full * RECORD_SIZE), plain, 0, false);
    if (ended) last = bytes.slice(full * RECORD_SIZE);
    records.consume(full * RECORD_SIZE);
    start = 0;
    end = full * CHUNK_SIZE;
    return true;
  };

  return {
    get got() {
      return got;
    },
    async exactly(n) {
      if (stopped) throw cancelled();
      if (short) {
        // Only checkPadding reads on after a short read, and asks for exactly what was left.
        const s = short;
        short = undefined;
        return s.length === n ? s : undefined;
      }
      if (end - start >= n) {
        start += n;
        return plain.subarray(start - n, start);
      }
      const out = new Uint8Array(n);
      let o = 0;
      while (o < n) {
        if (start === end) {
          if (await refill()) continue;
          got = o;
          short = out.slice(0, o);
          wipe();
          return undefined;
        }
        const take = Math.min(end - start, n - o);
        out.set(plain.subarray(start, start + take), o);
        o += take;
        start += take;
      }
      return out;
    },
    async upTo(n) {
      if (stopped) throw cancelled();
      while (start === end) {
        if (!(await refill())) {
          wipe();
          return undefined;
        }
      }
      const take = Math.min(end - start, n);
      start += take;
      return plain.subarray(start - take, start);
    },
    async cancel(reason) {
      stopped = true;
      wipe();
      await records.cancel(reason);
    },
  };
}

/**
 * A backup's body as an async iterable: the framing decoder's source (`framingSource`) pulled
 * through a controller that collects what it releases, each piece a buffer the consumer owns.
 * It throws on any problem up to its very end, as the stream does. `signal` stops a pending
 * `next()` at once with `ABORTED`.
 */
export async function* pulledBody(
  source: FramingSource,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array, void, undefined> {
  const parts: Uint8Array[] = [];
  let closed = false;
  // What the source calls on a default stream's controller, and nothing else.
  const controller = {
    enqueue: (piece: Uint8Array) => void parts.push(piece),
    close: () => {
      closed = true;
    },
  } as unknown as ReadableStreamDefaultController<Uint8Array>;
  const stop = () => aborted(signal!);
  let finished = false;
  try {
    while (!closed) {
      await abortable(source.pull(controller), signal, stop);
      while (parts.length > 0) yield parts.shift()!;
    }
    finished = true;
  } finally {
    // Stopped early (an error, an abort, or the consumer left the loop): release the input.
    if (!finished) await source.cancel(signal?.aborted ? stop() : undefined).catch(() => {});
  }
}
