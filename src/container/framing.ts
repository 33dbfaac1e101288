/**
 * The inner framing of a backup's plaintext (SPEC.md §5): a metadata record, the body as blocks
 * that are each either raw-deflate compressed or stored, an end marker, and Padmé padding of
 * zero bytes. All of it is inside the Cobblestone payload, so nothing here is visible to the
 * cloud that stores the backup.
 *
 * @module
 */

import { E2EEError } from '../errors.js';
import { concat, isAllZero, toBytes } from '../internal/bytes.js';
import {
  byobReaderOf,
  cancelled,
  cancelQuietly,
  isStream,
  type PieceSource,
  readerOf,
} from '../internal/streams.js';
import { decodeUtf8 } from '../internal/utf8.js';
import { compressionGate } from './compressibility.js';
import { deflateRaw, inflateRaw } from './deflate.js';
import { padme } from './padme.js';

/** Largest body block before compression. */
export const BLOCK_SIZE = 1 << 20;
/** Largest metadata record in bytes. */
export const MAX_METADATA_SIZE = 65536;
/** Block kind bytes. */
export const BLOCK_END = 0x00;
export const BLOCK_STORED = 0x01;
export const BLOCK_DEFLATE = 0x02;
// Blocks compressed concurrently: node:zlib runs them on libuv's thread pool, so this keeps both
// cores busy while output order is preserved.
const IN_FLIGHT = 4;

/** A JSON value, as metadata fields may hold. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** The encrypted metadata record of a backup. */
export interface BackupMetadata {
  /** When the backup was made (ISO 8601, UTC, as written by `Date.prototype.toISOString`). */
  created: string;
  /** A number that grows with each backup of the same source: rollback protection. */
  generation: number;
  /** The application's own fields. */
  app: { [key: string]: JsonValue };
  /**
   * The backup set it belongs to (SPEC.md §5.1): one writer's backups of one source. Rotation
   * supersedes only backups of the same set. Absent in backups that belong to no set.
   */
  set?: string;
}

/** A backup set's name (SPEC.md §5.1): 1–64 of A–Z, a–z, 0–9, `.`, `_`, `-`. */
export const BACKUP_SET_NAME = /^[A-Za-z0-9._-]{1,64}$/;

const ISO_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?Z$/;

/**
 * A real UTC instant from 1970 on: the fields must survive a round trip through Date (no 30
 * February, no 24:00, no leap second).
 */
function isRealInstant(text: string): boolean {
  const m = ISO_UTC.exec(text);
  if (!m) return false;
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (y < 1970) return false;
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, sec));
  return (
    t.getUTCFullYear() === y &&
    t.getUTCMonth() === mo - 1 &&
    t.getUTCDate() === d &&
    t.getUTCHours() === h &&
    t.getUTCMinutes() === mi &&
    t.getUTCSeconds() === sec
  );
}

/** Deepest nesting of arrays and objects in the metadata JSON; the record itself is depth 1. */
export const MAX_METADATA_DEPTH = 64;

// With the u flag a surrogate pair is one code point, so this matches only a lone half.
const LONE_SURROGATE = /\p{Cs}/u;
// SPEC.md §5.1: `generation` is written as a whole number, without sign, fraction or exponent.
const WHOLE_NUMBER = /^(?:0|[1-9][0-9]*)$/;

/**
 * What JSON.parse does not check in the metadata JSON (`json`, already known to parse), as
 * SPEC.md §5.1 requires: member names unique in every object at every depth (JSON.parse keeps
 * the last of duplicates silently; other decoders may keep the first), nesting at most
 * {@link MAX_METADATA_DEPTH} deep, every string (names too) free of escaped lone surrogates, and
 * the top-level `generation`, when it is a number, written as a whole number. Returns the first
 * problem found, in words, or `undefined`.
 */
export function metadataJsonProblem(json: string): string | undefined {
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  let generation = false; // the next value is the top-level "generation"
  for (let i = 0; i < json.length; i++) {
    const ch = json[i];
    if (ch === '"') {
      let j = i + 1;
      let escaped = false;
      while (json[j] !== '"') {
        if (json[j] === '\\') {
          escaped = true;
          j += 2;
        } else j += 1;
      }
      // Only an escape can make a lone surrogate: the text itself came from strict UTF-8.
      const value = escaped ? (JSON.parse(json.slice(i, j + 1)) as string) : json.slice(i + 1, j);
      if (escaped && LONE_SURROGATE.test(value)) return 'holds a string with an escaped lone surrogate';
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        if (top.has(value)) return 'repeats a member name';
        top.add(value);
        expectKey = false;
        generation = stack.length === 1 && value === 'generation';
      } else generation = false;
      i = j;
    } else if (ch === '{' || ch === '[') {
      if (stack.length === MAX_METADATA_DEPTH)
        return `nests arrays and objects more than ${MAX_METADATA_DEPTH} deep`;
      stack.push(ch === '{' ? new Set() : null);
      expectKey = ch === '{';
      generation = false;
    } else if (ch === '}' || ch === ']') {
      stack.pop();
    } else if (ch === ',') {
      expectKey = stack.length > 0 && stack[stack.length - 1] !== null;
      generation = false;
    } else if (generation && (ch === '-' || (ch! >= '0' && ch! <= '9'))) {
      let j = i;
      while (j < json.length && !',}] \t\n\r'.includes(json[j]!)) j++;
      if (!WHOLE_NUMBER.test(json.slice(i, j)))
        return 'writes "generation" other than as a whole number (no sign, fraction or exponent)';
      generation = false;
      i = j - 1;
    }
  }
  return undefined;
}

/** The depth of a JSON value as SPEC.md §5.1 counts it, up to `limit + 1` (so cycles end). */
function depthOf(value: unknown, limit: number): number {
  if (typeof value !== 'object' || value === null) return 0;
  if (limit === 0) return 1;
  let deepest = 0;
  for (const v of Array.isArray(value) ? value : Object.values(value)) {
    deepest = Math.max(deepest, depthOf(v, limit - 1));
    if (deepest >= limit) break;
  }
  return 1 + deepest;
}

function badPayload(message: string): E2EEError {
  return new E2EEError('MALFORMED_PAYLOAD', `backup payload: ${message}`);
}

/** Checks a metadata object against SPEC.md's rules; returns it typed. */
export function checkMetadata(value: unknown): BackupMetadata {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw badPayload('metadata is not a JSON object');
  const keys = Object.keys(value).sort().join(',');
  if (keys !== 'app,created,generation' && keys !== 'app,created,generation,set')
    throw badPayload(
      `metadata must have exactly the fields app, created, generation and optionally set (has ${keys || 'none'})`,
    );
  const m = value as BackupMetadata;
  if (typeof m.created !== 'string' || !isRealInstant(m.created))
    throw badPayload('metadata.created is not an ISO 8601 UTC timestamp of a real instant');
  if (!Number.isSafeInteger(m.generation) || m.generation < 0)
    throw badPayload('metadata.generation is not a non-negative integer');
  if (typeof m.app !== 'object' || m.app === null || Array.isArray(m.app))
    throw badPayload('metadata.app is not an object');
  if ('set' in m && !(typeof m.set === 'string' && BACKUP_SET_NAME.test(m.set)))
    throw badPayload('metadata.set is not 1 to 64 characters of A-Z, a-z, 0-9, ".", "_", "-"');
  return m;
}

/** The metadata record's bytes: a 4-byte big-endian length, then UTF-8 JSON. */
export function encodeMetadata(metadata: BackupMetadata): Uint8Array {
  // Before JSON.stringify, which would overflow the stack some thousands of levels down (or
  // loop on a cycle): the record itself counts as one level.
  if (depthOf(metadata, MAX_METADATA_DEPTH) > MAX_METADATA_DEPTH)
    throw new E2EEError(
      'INVALID_ARGUMENT',
      `metadata nests arrays and objects more than ${MAX_METADATA_DEPTH} deep (the record itself is one level)`,
    );
  let checked: BackupMetadata;
  try {
    checked = checkMetadata(metadata);
  } catch (e) {
    // The same rules as on reading, but here the caller's argument is at fault.
    if (e instanceof E2EEError && e.code === 'MALFORMED_PAYLOAD')
      throw new E2EEError('INVALID_ARGUMENT', e.message.replace(/^backup payload: /, ''), { cause: e });
    throw e;
  }
  const text = JSON.stringify(checked);
  const problem = metadataJsonProblem(text);
  if (problem) throw new E2EEError('INVALID_ARGUMENT', `metadata ${problem}; decoders would refuse it`);
  const json = toBytes(text);
  if (json.length > MAX_METADATA_SIZE)
    throw new E2EEError(
      'INVALID_ARGUMENT',
      `metadata is ${json.length} bytes as JSON; at most ${MAX_METADATA_SIZE}`,
    );
  const out = new Uint8Array(4 + json.length);
  new DataView(out.buffer).setUint32(0, json.length);
  out.set(json, 4);
  return out;
}

/** Options of the framing encoder. */
export interface FramingOptions {
  /** Compress blocks with raw deflate at this level (1–9), or store them all (`undefined`). */
  deflateLevel?: number;
  /** Pad with zeros to Padmé's length. */
  padded: boolean;
  /** Called with the number of body bytes consumed so far. */
  onProgress?: (bytesDone: number) => void;
}

/** A block record's header: kind, data length and, for a compressed block, the raw length. */
function blockHead(kind: number, length: number, rawLength?: number): Uint8Array {
  const head = new Uint8Array(kind === BLOCK_DEFLATE ? 9 : 5);
  const v = new DataView(head.buffer);
  head[0] = kind;
  v.setUint32(1, length);
  if (kind === BLOCK_DEFLATE) v.setUint32(5, rawLength!);
  return head;
}

async function encodeBlock(block: Uint8Array, level: number, worthIt: boolean): Promise<Uint8Array[]> {
  // SPEC.md §5.2 lets a writer store any block: one judged incompressible is not deflated at all.
  if (!worthIt) return [blockHead(BLOCK_STORED, block.length), block];
  const packed = await deflateRaw(block, level);
  // A block that does not shrink is stored: no second pass, and the decoder insists on it.
  if (packed.length < block.length) return [blockHead(BLOCK_DEFLATE, packed.length, block.length), packed];
  return [blockHead(BLOCK_STORED, block.length), block];
}

// Input pieces shorter than this are copied together rather than passed on one by one, so that a
// caller writing tiny pieces does not make a block of thousands of them.
const SMALL_PIECE = 16384;
const STAGING_SIZE = 65536;

/**
 * Gathers one block's bytes as a list of pieces: large input pieces as they are (subarrays, no
 * copy), small ones copied together into a staging buffer.
 */
function blockGatherer(lend: boolean) {
  let parts: Uint8Array[] = [];
  let staged: Uint8Array[] = []; // with `lend`, the parts that are views of staging, to wipe
  let staging = new Uint8Array(0);
  let start = 0; // staged bytes not yet in `parts` are staging[start, end)
  let end = 0;
  const unstage = () => {
    if (end > start) {
      const view = staging.subarray(start, end);
      parts.push(view);
      if (lend) staged.push(view); // without, the caller owns them: not held here
    }
    start = end;
  };
  return {
    add(bytes: Uint8Array): void {
      if (bytes.length >= SMALL_PIECE) {
        unstage();
        parts.push(bytes);
        return;
      }
      if (end + bytes.length > staging.length) {
        unstage();
        staging = new Uint8Array(STAGING_SIZE);
        start = end = 0;
      }
      staging.set(bytes, end);
      end += bytes.length;
    },
    /** The block so far, as pieces; the gatherer starts a new one. */
    take(): Uint8Array[] {
      unstage();
      const out = parts;
      parts = [];
      return out;
    },
    /** Zeroes every staged copy: of the blocks taken (once their reader is done) and the next. */
    wipe(): void {
      for (const view of staged) view.fill(0);
      staged = [];
      staging.fill(0, start, end);
    },
  };
}

/** The body of a backup, read a block (up to BLOCK_SIZE bytes) at a time. */
export interface BlockSource {
  /**
   * The next block as pieces (together 1..BLOCK_SIZE bytes), or `undefined` at the end. Fails
   * with `ABORTED` once cancelled, a read in flight included.
   */
  next(): Promise<Uint8Array[] | undefined>;
  /** Stops reading and releases the input. */
  cancel(reason?: unknown): Promise<void>;
}

/**
 * Reads `source` in blocks. A byte stream is read straight into a block buffer (BYOB). Any other
 * source's pieces are passed on as they are (subarrays; small ones copied together), so its
 * caller must not change a piece once handed over. With `lend`, a block is valid only until the
 * next `next()`: one buffer serves every block of a byte stream, and the copies of small pieces
 * are zeroed then (and on cancel).
 */
export function readBlocks(source: PieceSource, lend: boolean): BlockSource {
  // After a cancel, next() fails: a read the cancel overtook must not pass for the end of the
  // input, which would frame what came before it as a whole body.
  let stopped = false;
  const byob = isStream(source) ? byobReaderOf(source) : undefined;
  if (byob) {
    let spare: Uint8Array<ArrayBuffer> | undefined;
    let ended = false;
    let used = 0; // the lent buffer's high-water mark: a wipe past it would only map fresh pages
    // The lent buffer holds the last block until the consumer is done with it: at the end, or
    // when it cancels.
    const wipe = () => {
      spare?.fill(0, 0, used);
      spare = undefined;
    };
    return {
      async next() {
        if (stopped) throw cancelled();
        if (ended) {
          wipe();
          return undefined;
        }
        let buf: Uint8Array<ArrayBuffer> = (lend && spare) || new Uint8Array(BLOCK_SIZE);
        spare = undefined;
        let filled = 0;
        while (filled < BLOCK_SIZE) {
          const r = await byob.read(buf.subarray(filled));
          // The read transfers the buffer; its memory comes back in r.value. A read that a
          // cancel overtook gives none back (the Streams spec): `buf` is then detached.
          if (r.value) buf = new Uint8Array(r.value.buffer, 0, BLOCK_SIZE);
          if (r.done) {
            ended = true;
            break;
          }
          filled += r.value.length;
        }
        if (lend && buf.byteLength > 0) spare = buf;
        used = Math.max(used, filled);
        if (stopped) {
          wipe();
          throw cancelled();
        }
        if (filled > 0) return [buf.subarray(0, filled)];
        wipe();
        return undefined;
      },
      cancel: (reason) => {
        stopped = true;
        wipe();
        return cancelQuietly(byob, reason);
      },
    };
  }
  const reader = readerOf(source);
  const gather = blockGatherer(lend);
  let rest: Uint8Array | undefined;
  return {
    async next() {
      if (stopped) throw cancelled();
      if (lend) gather.wipe(); // the last block is done with
      let filled = 0;
      while (filled < BLOCK_SIZE) {
        let piece = rest;
        rest = undefined;
        if (!piece) {
          const r = await reader.read();
          if (stopped) throw cancelled();
          if (r.done) break;
          piece = r.value;
          if (!(piece instanceof Uint8Array))
            throw new E2EEError('INVALID_ARGUMENT', 'backup input must be Uint8Array pieces');
        }
        const n = Math.min(BLOCK_SIZE - filled, piece.length);
        if (n > 0) gather.add(piece.subarray(0, n));
        if (n < piece.length) rest = piece.subarray(n);
        filled += n;
      }
      return filled > 0 ? gather.take() : undefined;
    },
    cancel: (reason) => {
      stopped = true;
      if (lend) gather.wipe();
      return cancelQuietly(reader, reason);
    },
  };
}

function joined(pieces: Uint8Array[]): Uint8Array {
  return pieces.length > 1 ? concat(...pieces) : pieces[0]!; // at most a few dozen: see blockGatherer
}

/** A lent block's bytes copied into `buf` (a BLOCK_SIZE buffer from the pool, or a new one). */
function copied(pieces: Uint8Array[], buf = new Uint8Array(BLOCK_SIZE)): Uint8Array<ArrayBuffer> {
  let n = 0;
  for (const p of pieces) {
    buf.set(p, n);
    n += p.length;
  }
  return buf.subarray(0, n);
}

/**
 * The framed plaintext, piece by piece: the metadata record (`meta`, from
 * {@link encodeMetadata}), the body's blocks, the end marker and the padding. Uncompressed, a
 * block goes out as its own pieces behind its header, without a copy. With `lend`, a piece is
 * valid only until the next `next()` (see {@link readBlocks}).
 */
export async function* framePieces(
  blocks: BlockSource,
  meta: Uint8Array,
  options: FramingOptions & { lend: boolean },
): AsyncGenerator<Uint8Array, void, undefined> {
  const level = options.deflateLevel;
  const worthDeflating = compressionGate();
  // A block's compression, in order, and (with `lend`) its copy's buffer as far as it ever held
  // plaintext: the part to wipe. The copy leaves only once its pieces are out.
  const pending: { job: Promise<Uint8Array[]>; held?: Uint8Array<ArrayBuffer> }[] = [];
  // With `lend`, each block in flight is a copy (the lent buffer is refilled at the next read);
  // a copy's buffer comes back here once its pieces are out and the reader has moved on, so
  // compressing allocates no new 1 MiB per block (less garbage between V8's collections: lower
  // peak RSS). Each is kept as its `held` view.
  const copies: Uint8Array<ArrayBuffer>[] = [];
  let framed = meta.length; // bytes yielded so far, for the padding length
  let consumed = 0;
  let finished = false;
  try {
    yield meta;
    for (;;) {
      const block = await blocks.next();
      let size = 0;
      for (const p of block ?? []) size += p.length;
      consumed += size;
      if (block) options.onProgress?.(consumed);
      if (level === undefined) {
        if (!block) break;
        framed += 5 + size;
        yield blockHead(BLOCK_STORED, size);
        yield* block;
        continue;
      }
      if (block) {
        // Blocks are compressed concurrently (node:zlib uses libuv's thread pool), output in order.
        const pooled = options.lend ? copies.pop() : undefined;
        const copy = options.lend ? copied(block, pooled && new Uint8Array(pooled.buffer)) : undefined;
        const held = pooled && copy && pooled.length > copy.length ? pooled : copy;
        const data = copy ?? joined(block);
        const job = encodeBlock(data, level, worthDeflating(data));
        job.catch(() => {}); // surfaced when its turn comes
        pending.push({ job, held });
      }
      while (pending.length > (block ? IN_FLIGHT - 1 : 0)) {
        const { job, held } = pending[0]!;
        for (const piece of await job) {
          framed += piece.length;
          yield piece;
        }
        // The reader has asked for the next piece: a lent piece (a stored block) is done with.
        pending.shift();
        if (held) copies.push(held);
      }
      if (!block) break;
    }
    yield Uint8Array.of(BLOCK_END);
    framed += 1;
    const pad = options.padded ? padme(framed) - framed : 0;
    const zeros = options.lend ? new Uint8Array(Math.min(pad, BLOCK_SIZE)) : undefined;
    for (let left = pad; left > 0; left -= BLOCK_SIZE) {
      const n = Math.min(left, BLOCK_SIZE);
      yield zeros ? zeros.subarray(0, n) : new Uint8Array(n);
    }
    finished = true;
  } finally {
    // Wipe the plaintext copies: pooled ones now, the rest once zlib is done with them (a stop
    // or a failure leaves blocks in flight, and the one whose pieces were going out).
    for (const c of copies) c.fill(0);
    for (const { job, held } of pending) {
      if (held) void job.catch(() => {}).then(() => held.fill(0));
    }
    if (!finished) await blocks.cancel();
  }
}

/** Pulls exact byte counts from a stream of pieces without quadratic copying. */
export interface ByteReader {
  /** Exactly `n` bytes, or `undefined` if the stream ends first (`got` says how many were left). */
  exactly(n: number): Promise<Uint8Array | undefined>;
  /** Between 1 and `n` bytes, as soon as any are available, or `undefined` at the end. */
  upTo(n: number): Promise<Uint8Array | undefined>;
  /** Bytes left over when `exactly` came up short. */
  readonly got: number;
  /** Everything not yet read, as a stream. */
  rest(): ReadableStream<Uint8Array>;
  /** Releases the underlying stream. */
  cancel(reason?: unknown): Promise<void>;
}

/** A {@link ByteReader} over a stream or a piece reader. */
export function byteReader(source: PieceSource): ByteReader & {
  /** Releases the stream's lock, handing back what was read ahead and the source itself. */
  detach(): { queued: Uint8Array[]; source: PieceSource };
} {
  const reader = readerOf(source);
  const queue: Uint8Array[] = [];
  let available = 0;
  let ended = false;
  let got = 0;
  return {
    get got() {
      return got;
    },
    async exactly(n) {
      while (available < n && !ended) {
        const r = await reader.read();
        if (r.done) ended = true;
        else if (r.value.length > 0) {
          queue.push(r.value);
          available += r.value.length;
        }
      }
      if (available < n) {
        got = available;
        return undefined;
      }
      const head = queue[0];
      if (head && head.length >= n) {
        const out = head.subarray(0, n);
        if (head.length === n) queue.shift();
        else queue[0] = head.subarray(n);
        available -= n;
        return out;
      }
      const out = new Uint8Array(n);
      let o = 0;
      while (o < n) {
        const p = queue[0]!;
        const take = Math.min(p.length, n - o);
        out.set(p.subarray(0, take), o);
        o += take;
        if (take === p.length) queue.shift();
        else queue[0] = p.subarray(take);
      }
      available -= n;
      return out;
    },
    async upTo(n) {
      while (available === 0 && !ended) {
        const r = await reader.read();
        if (r.done) ended = true;
        else if (r.value.length > 0) {
          queue.push(r.value);
          available += r.value.length;
        }
      }
      const head = queue[0];
      if (!head) return undefined;
      const out = head.length <= n ? (queue.shift() as Uint8Array) : head.subarray(0, n);
      if (head.length > n) queue[0] = head.subarray(n);
      available -= out.length;
      return out;
    },
    rest() {
      return new ReadableStream<Uint8Array>({
        async pull(c) {
          const next = queue.shift();
          if (next) {
            available -= next.length;
            c.enqueue(next);
            return;
          }
          const r = await reader.read();
          if (r.done) c.close();
          else c.enqueue(r.value);
        },
        cancel: (reason) => cancelQuietly(reader, reason),
      });
    },
    cancel: (reason) => cancelQuietly(reader, reason),
    detach() {
      reader.releaseLock?.();
      available = 0;
      return { queued: queue.splice(0), source };
    },
  };
}

/** Options of the framing decoder. */
export interface DecodeOptions {
  /** Flags from the (now authenticated) header. */
  compressed: boolean;
  padded: boolean;
  /** Stop with `OUTPUT_LIMIT` before the body would exceed this many bytes. */
  maxOutputBytes: number;
  onProgress?: (bytesDone: number) => void;
}

/** What the framing decoder reads the plaintext through. */
export type FramedReader = Pick<ByteReader, 'exactly' | 'upTo' | 'got' | 'cancel'>;

/** A byte stream takes ownership of what is enqueued: only a buffer's sole view may go. */
export function owned(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  return (whole && bytes.buffer instanceof ArrayBuffer ? bytes : bytes.slice()) as Uint8Array<ArrayBuffer>;
}

/**
 * Reads the framed plaintext: returns the metadata at once and the body as a stream that
 * checks every block, the end marker and the padding, and errors on any violation.
 *
 * With `lent`, what `r` returns is valid only until its next call (it reuses one buffer): the body
 * is then a byte stream that copies stored blocks into a BYOB reader's own buffer, or into a new
 * one of the size `r` returned for any other reader. Otherwise stored blocks are passed on as `r`
 * returns them.
 */
export async function decodeFraming(
  r: FramedReader,
  options: DecodeOptions & { lent: boolean },
): Promise<{ metadata: BackupMetadata; body: ReadableStream<Uint8Array> }> {
  const { metadata, source } = await framingSource(r, options);
  const body: ReadableStream<Uint8Array> = options.lent
    ? new ReadableStream({ ...source, type: 'bytes' })
    : new ReadableStream(source);
  return { metadata, body };
}

/** The body's underlying source, as a Web stream or a caller without one pulls it. */
export interface FramingSource {
  pull(c: ReadableStreamController<Uint8Array>): Promise<void>;
  cancel(reason: unknown): Promise<void>;
}

/**
 * {@link decodeFraming} without a Web stream: the metadata and the body's underlying source,
 * which callers where ReadableStream is missing pull themselves (src/backup-bytes.ts).
 */
export async function framingSource(
  r: FramedReader,
  options: DecodeOptions & { lent: boolean },
): Promise<{ metadata: BackupMetadata; source: FramingSource }> {
  const need = async (n: number, what: string) => {
    const b = await r.exactly(n);
    if (!b) throw badPayload(`it ends inside ${what}`);
    return b;
  };
  const lenBytes = await need(4, 'the metadata length');
  const metaLen = new DataView(lenBytes.buffer, lenBytes.byteOffset, 4).getUint32(0);
  if (metaLen > MAX_METADATA_SIZE)
    throw badPayload(`metadata is ${metaLen} bytes; at most ${MAX_METADATA_SIZE}`);
  let parsed: unknown;
  let text = '';
  try {
    // A byte-order mark stays in the text (ignoreBOM), where JSON.parse rejects it (SPEC.md §5.1).
    text = decodeUtf8(await need(metaLen, 'the metadata'));
    parsed = JSON.parse(text);
  } catch (e) {
    if (e instanceof E2EEError) throw e;
    throw badPayload('metadata is not UTF-8 JSON');
  }
  const problem = metadataJsonProblem(text);
  if (problem) throw badPayload(`metadata ${problem}`);
  const metadata = checkMetadata(parsed);
  let framed = 4 + metaLen;
  let produced = 0; // body bytes released, for OUTPUT_LIMIT and progress
  let storedLeft = 0; // bytes of the current stored block not yet released
  const lent = options.lent;

  /** Reads the next block record's header; answers whether the body has ended. */
  const nextBlock = async (c: ReadableStreamController<Uint8Array>): Promise<boolean> => {
    const kind = (await need(1, 'the block list (no end marker)'))[0]!;
    framed += 1;
    if (kind === BLOCK_END) {
      await checkPadding(r, framed, options.padded);
      return true;
    }
    if (kind !== BLOCK_STORED && kind !== BLOCK_DEFLATE)
      throw badPayload(`unknown block kind 0x${kind.toString(16).padStart(2, '0')}`);
    if (kind === BLOCK_DEFLATE && !options.compressed)
      throw badPayload('a compressed block in a backup whose header says it is not compressed');
    const head = await need(kind === BLOCK_DEFLATE ? 8 : 4, 'a block header');
    const v = new DataView(head.buffer, head.byteOffset, head.length);
    const len = v.getUint32(0);
    const raw = kind === BLOCK_DEFLATE ? v.getUint32(4) : len;
    if (raw < 1 || raw > BLOCK_SIZE) throw badPayload(`a block of ${raw} bytes (allowed 1..${BLOCK_SIZE})`);
    if (kind === BLOCK_DEFLATE && (len < 1 || len >= raw))
      throw badPayload(`a compressed block of ${len} bytes for ${raw} (it must shrink, else be stored)`);
    if (produced + raw > options.maxOutputBytes)
      throw new E2EEError(
        'OUTPUT_LIMIT',
        `the backup expands past maxOutputBytes (${options.maxOutputBytes}); raise it if you expect a backup this large`,
      );
    framed += head.length + len;
    if (kind === BLOCK_STORED) storedLeft = len;
    else {
      const out = await inflateRaw(await need(len, 'a block'), raw);
      produced += out.length;
      (c as ReadableStreamDefaultController<Uint8Array>).enqueue(lent ? owned(out) : out);
      options.onProgress?.(produced);
    }
    return false;
  };

  /** Releases the next part of the current stored block. */
  const release = async (c: ReadableStreamController<Uint8Array>): Promise<void> => {
    let n: number;
    const request = lent ? (c as ReadableByteStreamController).byobRequest : null;
    if (!request) {
      // Passed on piece by piece as the payload delivers it: no 1 MiB buffer per read, whatever
      // the size of the blocks. A lent piece is copied first: its memory is about to be reused.
      const piece = await r.upTo(storedLeft);
      if (!piece) throw badPayload('it ends inside a block');
      (c as ReadableStreamDefaultController<Uint8Array>).enqueue(lent ? piece.slice() : piece);
      n = piece.length;
    } else {
      // A BYOB reader's buffer: filled in place.
      const view = request.view!;
      const into = new Uint8Array(view.buffer, view.byteOffset, Math.min(view.byteLength, storedLeft));
      for (n = 0; n < into.length; ) {
        const piece = await r.upTo(into.length - n);
        if (!piece) throw badPayload('it ends inside a block');
        into.set(piece, n);
        n += piece.length;
      }
      request.respond(n);
    }
    storedLeft -= n;
    produced += n;
    if (storedLeft === 0) options.onProgress?.(produced);
  };

  const source = {
    async pull(c: ReadableStreamController<Uint8Array>) {
      try {
        if (storedLeft === 0 && (await nextBlock(c))) {
          c.close();
          if (lent) (c as ReadableByteStreamController).byobRequest?.respond(0);
          return;
        }
        if (storedLeft > 0) await release(c);
      } catch (e) {
        await r.cancel(e); // releases the input (and wipes a lent buffer)
        throw e;
      }
    },
    cancel: (reason: unknown) => r.cancel(reason),
  };
  return { metadata, source };
}

async function checkPadding(r: FramedReader, framed: number, padded: boolean): Promise<void> {
  const expected = padded ? padme(framed) - framed : 0;
  let seen = 0;
  for (;;) {
    const piece = (await r.exactly(Math.min(BLOCK_SIZE, expected - seen + 1))) ?? (await r.exactly(r.got));
    if (!piece || piece.length === 0) break;
    if (!isAllZero(piece)) throw new E2EEError('BAD_PADDING', 'backup padding has non-zero bytes');
    seen += piece.length;
    if (seen > expected) break;
  }
  if (seen !== expected)
    throw new E2EEError(
      'BAD_PADDING',
      `backup padding is ${seen} bytes; ${padded ? 'Padmé' : 'an unpadded backup'} requires exactly ${expected}`,
    );
}
