/**
 * The payload layer's public API: a Cobblestone-256 message (c2sp.org/chunked-encryption) whole,
 * as Web streams, or with random access, each a thin layer on the engine in ./message.ts that
 * seals and opens chunks into caller buffers.
 *
 * @module
 */

import { E2EEError } from '../errors.js';
import { allocForOverwrite, toBytes } from '../internal/bytes.js';
import {
  CHUNK_SIZE,
  type ChunkedOptions,
  checkInputKey,
  chunkedCiphertextSize,
  chunkedPlaintextSize,
  createMessageOpener,
  createMessageSealer,
  HEADER_SIZE,
  hooksOf,
  type MessageOpener,
  type MessageSealer,
  RECORD_SIZE,
  TAG_SIZE,
} from './message.js';

export {
  CHUNK_SIZE,
  type ChunkedOptions,
  COMMITMENT_SIZE,
  chunkedCiphertextSize,
  chunkedPlaintextSize,
  HEADER_SIZE,
  KEY_SIZE,
  MAX_CHUNKS,
  RECORD_SIZE,
  SALT_SIZE,
  TAG_SIZE,
} from './message.js';

/**
 * Encrypts a whole message at once.
 *
 * @param inputKey - 32 uniformly random bytes (a random file key, never a password).
 * @example
 * ```ts
 * const key = crypto.getRandomValues(new Uint8Array(32));
 * const ct = await encryptChunked(key, new TextEncoder().encode('hello'), { context: 'my-app v1' });
 * const pt = await decryptChunked(key, ct, { context: 'my-app v1' });
 * ```
 */
export async function encryptChunked(
  inputKey: Uint8Array,
  plaintext: Uint8Array,
  options: ChunkedOptions = {},
): Promise<Uint8Array> {
  const sealer = await createMessageSealer(inputKey, options);
  const out = allocForOverwrite(chunkedCiphertextSize(plaintext.length));
  out.set(sealer.prefix, 0);
  await sealer.seal(plaintext, out, HEADER_SIZE, true);
  return out;
}

/**
 * Decrypts a whole message at once. All of it is authenticated before anything is returned.
 *
 * @throws An {@link E2EEError}: `INVALID_KEY_SIZE`, `TRUNCATED`, `COMMITMENT_MISMATCH`, `CHUNK_AUTH`,
 * `TRAILING_DATA`.
 */
export async function decryptChunked(
  inputKey: Uint8Array,
  ciphertext: Uint8Array,
  options: ChunkedOptions = {},
): Promise<Uint8Array> {
  const opener = await createMessageOpener(inputKey, ciphertext.subarray(0, HEADER_SIZE), options);
  // Full records first, then the length check, in the same order as the streaming decryptor,
  // so that both name an extended message the same way.
  const body = ciphertext.subarray(HEADER_SIZE);
  const full = Math.floor(body.length / RECORD_SIZE);
  const last = body.length - full * RECORD_SIZE;
  const out = allocForOverwrite(full * CHUNK_SIZE + Math.max(0, last - TAG_SIZE));
  try {
    await opener.open(body.subarray(0, full * RECORD_SIZE), out, 0, false);
    chunkedPlaintextSize(ciphertext.length); // throws TRUNCATED for an impossible length
    await opener.open(body.subarray(full * RECORD_SIZE), out, full * CHUNK_SIZE, true);
  } catch (e) {
    // Chunks that authenticated before the failure are plaintext nobody will be given.
    out.fill(0);
    throw e;
  }
  return out;
}

/** The whole units of `size` bytes a piece completes; see {@link unitCarry}. */
interface Units {
  /** The carried unit this piece completed (the carry buffer itself: use it before `keep`). */
  first: Uint8Array | undefined;
  /** Whole units taken straight from the piece, without a copy. */
  bulk: Uint8Array;
  /** `first` (if any) plus the units in `bulk`. */
  count: number;
  /** What is left of the piece, to `keep` once the units are used. */
  tail: Uint8Array;
}

/**
 * Cuts pieces of any size into whole units (chunks to seal, records to open), copying only the
 * bytes that straddle a unit boundary: a piece's units are used in place.
 */
function unitCarry(size: number) {
  const buf = new Uint8Array(size);
  let n = 0;
  return {
    /** The bytes carried over, less than one unit. */
    bytes: () => buf.subarray(0, n),
    /** The units `piece` completes, or `undefined` when it only added to the carry. */
    take(piece: Uint8Array): Units | undefined {
      let off = 0;
      let first: Uint8Array | undefined;
      if (n > 0) {
        off = Math.min(size - n, piece.length);
        buf.set(piece.subarray(0, off), n);
        n += off;
        if (n < size) return undefined;
        first = buf;
        n = 0;
      }
      const whole = Math.floor((piece.length - off) / size);
      const end = off + whole * size;
      return {
        first,
        bulk: piece.subarray(off, end),
        count: whole + (first ? 1 : 0),
        tail: piece.subarray(end),
      };
    },
    /** Carries `tail` (shorter than a unit) over to the next piece. */
    keep(tail: Uint8Array): void {
      buf.set(tail, 0);
      n = tail.length;
    },
    wipe: (): void => void buf.fill(0),
  };
}

/** Runs `f` after `step`: at once when `step` was synchronous, else when its promise settles. */
function after(step: void | Promise<void>, f: () => void): void | Promise<void> {
  return step instanceof Promise ? step.then(f) : f();
}

/**
 * One direction of a stream (chunks to seal, records to open): the whole units of each write go
 * to `run` (the carried one, then those in the piece itself, in place) into one new buffer, which
 * is enqueued. A full record is never the final chunk, so every unit is released as soon as it
 * authenticates; `rest` is what is left for the final chunk. Synchronous when `run` is. A write
 * that fails wipes the carry: the stream is errored, and nothing will seal or open it.
 */
function unitStream(
  inUnit: number,
  outUnit: number,
  run: (input: Uint8Array, out: Uint8Array, offset: number) => void | Promise<void>,
) {
  const carry = unitCarry(inUnit);
  const failed = (e: unknown): never => {
    carry.wipe();
    throw e;
  };
  const write = (
    piece: Uint8Array,
    c: TransformStreamDefaultController<Uint8Array>,
  ): void | Promise<void> => {
    if (!(piece instanceof Uint8Array))
      throw new E2EEError('INVALID_ARGUMENT', 'write Uint8Array pieces only');
    const units = carry.take(piece);
    if (!units) return;
    if (units.count === 0) return carry.keep(units.tail);
    const out = allocForOverwrite(units.count * outUnit);
    const skip = units.first ? 1 : 0;
    return after(units.first && run(units.first, out, 0), () =>
      after(run(units.bulk, out, skip * outUnit), () => {
        c.enqueue(out);
        carry.keep(units.tail);
      }),
    );
  };
  return {
    /** A write; one that fails, at once or later, wipes the carry. */
    push(piece: Uint8Array, c: TransformStreamDefaultController<Uint8Array>): void | Promise<void> {
      try {
        const done = write(piece, c);
        return done instanceof Promise ? done.catch(failed) : done;
      } catch (e) {
        return failed(e);
      }
    },
    rest: carry.bytes,
    wipe: carry.wipe,
  };
}

/**
 * A transformer with `cancel`, called when the readable side is cancelled or the writable side
 * aborted: in the Streams standard since 2023, not yet in TypeScript's DOM types.
 */
type CancellableTransformer = Transformer<Uint8Array, Uint8Array> & { cancel: () => void };

/**
 * A streaming encryptor: write plaintext in pieces of any size, read the ciphertext. Memory
 * stays at one 16 KiB chunk plus the output of the current write.
 *
 * The stream keeps a copy of the plaintext that does not fill a chunk until the next write, and
 * zeroes it at the end, when a write fails, and when it is cancelled or aborted where the runtime
 * calls a transformer's `cancel` (Node 20–24, Bun 1.4.5 and Deno 2.9.6 do; Chromium 156 does not;
 * other browsers are not checked).
 *
 * @example
 * ```ts
 * const ciphertext = file.stream().pipeThrough(createEncryptStream(key, { context: 'my-app v1' }));
 * ```
 */
export function createEncryptStream(
  inputKey: Uint8Array,
  options: ChunkedOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  checkInputKey(inputKey);
  hooksOf(options); // refuses the old options now, not at the first write
  // Our own copy: the caller may wipe theirs as soon as this returns.
  const key = new Uint8Array(inputKey);
  let sealer: MessageSealer;
  const chunks = unitStream(CHUNK_SIZE, RECORD_SIZE, (input, out, at) => sealer.seal(input, out, at, false));

  const transformer: CancellableTransformer = {
    async start(controller) {
      try {
        sealer = await createMessageSealer(key, options);
      } finally {
        key.fill(0);
      }
      controller.enqueue(sealer.prefix);
    },
    // Not `async`: on a synchronous backend a write is sealed and enqueued at once.
    transform: (piece, controller) => chunks.push(piece, controller),
    async flush(controller) {
      const rest = chunks.rest();
      const out = new Uint8Array(rest.length + TAG_SIZE);
      try {
        await sealer.seal(rest, out, 0, true);
      } finally {
        chunks.wipe();
      }
      controller.enqueue(out);
    },
    // The readable side cancelled or the writable side aborted: the carried plaintext will never
    // be sealed. Chromium 156 never calls this: there the carry of a stream stopped between
    // writes stays until the stream is collected.
    cancel: chunks.wipe,
  };
  return new TransformStream(transformer);
}

/**
 * A streaming decryptor. The commitment is checked before any chunk is decrypted; each chunk is
 * released only after it authenticates; the stream errors (and stays errored) on the first
 * failure, including a missing or extended end. Until the stream closes without error, the
 * output is an authenticated *prefix*, not the message: do not act on it before the end.
 *
 * Its copy of the key is zeroed once the header is checked, or when the stream fails or is
 * closed first, or cancelled or aborted where the runtime calls a transformer's `cancel` (see
 * {@link createEncryptStream}).
 */
export function createDecryptStream(
  inputKey: Uint8Array,
  options: ChunkedOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  checkInputKey(inputKey);
  hooksOf(options); // refuses the old options now, not at the first write
  // Our own copies: the caller may wipe or change theirs as soon as this returns.
  const key = new Uint8Array(inputKey);
  const opts = { ...options, context: new Uint8Array(toBytes(options.context ?? new Uint8Array(0))) };
  let opener: MessageOpener | undefined;
  let records: ReturnType<typeof unitStream> | undefined;
  const header = new Uint8Array(HEADER_SIZE);
  let headerLen = 0;

  // Until the header is complete the key copy waits here; if the stream fails or stops first,
  // nothing else will wipe it. (HKDF reads it before its first `await`, so wiping it while the
  // header is being checked takes nothing from the check.)
  const wipeKey = () => void key.fill(0);

  const transformer: CancellableTransformer = {
    // Not `async`: once the header is checked, on node:crypto a write is opened synchronously.
    transform(piece, controller) {
      if (records) return records.push(piece, controller);
      if (!(piece instanceof Uint8Array)) {
        wipeKey();
        throw new E2EEError('INVALID_ARGUMENT', 'write Uint8Array pieces only');
      }
      const off = Math.min(HEADER_SIZE - headerLen, piece.length);
      header.set(piece.subarray(0, off), headerLen);
      headerLen += off;
      if (headerLen < HEADER_SIZE) return;
      return createMessageOpener(key, header, opts)
        .finally(wipeKey)
        .then((o) => {
          opener = o;
          records = unitStream(RECORD_SIZE, CHUNK_SIZE, (input, out, at) => o.open(input, out, at, false));
          return records.push(piece.subarray(off), controller);
        });
    },
    async flush(controller) {
      if (!opener || !records) {
        wipeKey();
        return void chunkedPlaintextSize(headerLen); // throws TRUNCATED
      }
      const rest = records.rest();
      const out = new Uint8Array(Math.max(0, rest.length - TAG_SIZE));
      await opener.open(rest, out, 0, true);
      controller.enqueue(out);
    },
    cancel: wipeKey,
  };
  return new TransformStream(transformer);
}

/** Where {@link openChunked} reads ciphertext from: a file, a blob, an HTTP range reader … */
export interface RandomAccessSource {
  /** Total ciphertext length in bytes. */
  readonly size: number;
  /** Exactly `length` bytes at `offset` (never fewer unless the source is broken). */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** Authenticated random access to a message's plaintext; see {@link openChunked}. */
export interface ChunkedReader {
  /** The authenticated plaintext length. */
  readonly plaintextSize: number;
  /**
   * Returns plaintext bytes `[offset, offset + length)`, after authenticating every chunk they
   * touch. Throws `CHUNK_AUTH` if one does not.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
}

async function readExactly(source: RandomAccessSource, offset: number, length: number): Promise<Uint8Array> {
  const bytes = await source.read(offset, length);
  if (!(bytes instanceof Uint8Array) || bytes.length !== length)
    throw new E2EEError(
      'TRUNCATED',
      `the source returned ${bytes?.length ?? 'no'} bytes at offset ${offset}, not ${length}`,
    );
  return bytes;
}

/**
 * Opens a message for random access. The commitment is checked, then the final chunk is
 * decrypted to authenticate the length (as the spec requires before seeking from the end);
 * only then is the reader returned.
 *
 * @example
 * ```ts
 * const reader = await openChunked(key, { size: bytes.length, read: async (o, n) => bytes.subarray(o, o + n) });
 * const tail = await reader.read(reader.plaintextSize - 100, 100);
 * ```
 */
export async function openChunked(
  inputKey: Uint8Array,
  source: RandomAccessSource,
  options: ChunkedOptions = {},
): Promise<ChunkedReader> {
  const total = source.size;
  if (!Number.isSafeInteger(total) || total < 0)
    throw new E2EEError('INVALID_ARGUMENT', 'source.size must be a byte count');
  if (total < HEADER_SIZE) chunkedPlaintextSize(total); // throws TRUNCATED
  const opener = await createMessageOpener(inputKey, await readExactly(source, 0, HEADER_SIZE), options);
  const plaintextSize = chunkedPlaintextSize(total);
  const finalIndex = Math.floor(plaintextSize / CHUNK_SIZE);
  const finalOffset = HEADER_SIZE + finalIndex * RECORD_SIZE;
  const finalPlain = new Uint8Array(plaintextSize - finalIndex * CHUNK_SIZE);
  await opener.openAt(
    finalIndex,
    await readExactly(source, finalOffset, total - finalOffset),
    finalPlain,
    0,
    true,
  );

  return {
    plaintextSize,
    async read(offset, length) {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0)
        throw new E2EEError('INVALID_ARGUMENT', 'offset and length must be non-negative integers');
      if (offset + length > plaintextSize)
        throw new E2EEError(
          'INVALID_ARGUMENT',
          `bytes ${offset}..${offset + length} lie past the end (${plaintextSize})`,
        );
      if (length === 0) return new Uint8Array(0);
      const first = Math.floor(offset / CHUNK_SIZE);
      const last = Math.floor((offset + length - 1) / CHUNK_SIZE);
      const plain = new Uint8Array((last - first + 1) * CHUNK_SIZE);
      // Whole chunks are opened and only the bytes asked for are returned: the rest is wiped.
      try {
        const fromFinal = last === finalIndex;
        const lastFull = fromFinal ? last - 1 : last;
        if (lastFull >= first) {
          const start = HEADER_SIZE + first * RECORD_SIZE;
          const records = await readExactly(source, start, (lastFull - first + 1) * RECORD_SIZE);
          await opener.openAt(first, records, plain, 0, false);
        }
        // The final chunk was authenticated when opening: reuse it rather than read it again.
        if (fromFinal) plain.set(finalPlain, (finalIndex - first) * CHUNK_SIZE);
        const start = offset - first * CHUNK_SIZE;
        return plain.slice(start, start + length);
      } finally {
        plain.fill(0);
      }
    },
  };
}
