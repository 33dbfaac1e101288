/**
 * The payload layer: Cobblestone-256 exactly as specified at c2sp.org/chunked-encryption
 * (HKDF-SHA-512 expand, AES-256-GCM, 16 KiB chunks, 24-byte salt, 32-byte key commitment).
 *
 * A ciphertext is `salt (24) ‖ commitment (32) ‖ chunk₀ ‖ … ‖ chunkₙ`, where every chunk but the
 * last holds 16384 plaintext bytes plus a 16-byte tag and the last always holds fewer (possibly
 * none), so that the length itself is authenticated.
 *
 * @module
 */

import { type Aead, createAead } from './aead.js';
import { allocForOverwrite, concat, constantTimeEqual, randomBytes, toBytes } from './bytes.js';
import { E2EEError } from './errors.js';
import { hkdfExpandSha512 } from './hkdf.js';
import { type ChunkedHooks, TEST_HOOKS } from './hooks.js';

/** Plaintext bytes in every chunk but the last. */
export const CHUNK_SIZE = 16384;
/** AES-GCM tag bytes after each chunk. */
export const TAG_SIZE = 16;
/** Bytes of one full encrypted chunk. */
export const RECORD_SIZE = CHUNK_SIZE + TAG_SIZE;
/** Bytes of the random salt that starts a ciphertext. */
export const SALT_SIZE = 24;
/** Bytes of the key commitment that follows the salt. */
export const COMMITMENT_SIZE = 32;
/** Bytes before the first chunk: salt and commitment. */
export const HEADER_SIZE = SALT_SIZE + COMMITMENT_SIZE;
/** Bytes of the input key (AES-256). */
export const KEY_SIZE = 32;
/** The spec's limit on chunks per message. */
export const MAX_CHUNKS = 2 ** 38;

const NONCE_SIZE = 12;
// "c2sp.org/chunked-encryption@v1+" ‖ aead ‖ 0x00, then salt ‖ context.
const INFO_PREFIX = toBytes('c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\u0000');
// How many chunks go to the backend at once: enough to keep WebCrypto's thread pool busy,
// few enough that one call's output stays around 1 MiB.
const GROUP = 64;

/** Options shared by every chunked operation. */
export interface ChunkedOptions {
  /**
   * Application data bound into the key derivation (not stored in the ciphertext). Decryption
   * with a different context fails the commitment check. A string is taken as UTF-8.
   */
  context?: Uint8Array | string;
  /**
   * Streams only: worker threads to seal and open chunks on, from `workerPool()` in
   * `e2ee-backup/node`. A stream moves to them once it has passed 1 MiB; the bytes are the same.
   * Without it, every chunk runs on the calling thread.
   */
  workers?: ChunkWorkers;
}

/**
 * The hooks `e2ee-backup/testing` set (a chosen salt, a chosen AES-GCM backend), after refusing
 * the old public options of those names: a salt chosen by the caller, reused under one key,
 * repeats every AES-GCM key and nonce, so the public API draws it itself, every time.
 */
function hooksOf(options: ChunkedOptions): ChunkedHooks {
  const o = options as ChunkedOptions & { salt?: unknown; backend?: unknown; [TEST_HOOKS]?: ChunkedHooks };
  if (o.salt !== undefined || o.backend !== undefined)
    throw new E2EEError(
      'INVALID_ARGUMENT',
      "no 'salt' or 'backend' option here: tests have them from e2ee-backup/testing",
    );
  return o[TEST_HOOKS] ?? {};
}

/**
 * Worker threads for the chunked streams (`ChunkedOptions.workers`): get them from
 * `workerPool()` in `e2ee-backup/node`.
 */
export interface ChunkWorkers {
  /** How many workers; 0 means none (everything stays on the calling thread). */
  readonly size: number;
  /**
   * Starts the rest of one stream on the workers from chunk `counter` on. `failure` names the
   * error for a record that does not authenticate.
   * @internal
   */
  engine(
    op: 'seal' | 'open',
    message: { key: Uint8Array; baseNonce: Uint8Array; counter: number },
    controller: TransformStreamDefaultController<Uint8Array>,
    failure: (counter: number, record: Uint8Array) => Promise<unknown>,
  ): ChunkEngine;
}

/**
 * One stream's work on worker threads: `push` takes its writes (and waits while too much is in
 * flight); `finish` releases everything and returns the bytes left over (the final chunk) with
 * their chunk counter.
 * @internal
 */
export interface ChunkEngine {
  push(piece: Uint8Array): Promise<void>;
  finish(): Promise<{ rest: Uint8Array; counter: number }>;
}

// A stream moves to its worker threads after this many chunks (1 MiB) on the calling thread.
const WORKERS_AFTER = 64;

interface MessageKeys {
  aead: Aead;
  /** The AES key itself, kept only when worker threads were given: they need it. */
  aesKey: Uint8Array | undefined;
  workers: ChunkWorkers | undefined;
  baseNonce: Uint8Array;
  commitment: Uint8Array;
}

/** The salt of a new message: a fresh random one (or e2ee-backup/testing's). */
function messageSalt(options: ChunkedOptions): Uint8Array {
  const salt = hooksOf(options).salt ?? randomBytes(SALT_SIZE);
  if (salt.length !== SALT_SIZE)
    throw new E2EEError('INVALID_ARGUMENT', `the salt must be ${SALT_SIZE} bytes`);
  return salt;
}

function checkInputKey(inputKey: Uint8Array): void {
  if (!(inputKey instanceof Uint8Array))
    throw new E2EEError('INVALID_ARGUMENT', 'the input key must be a Uint8Array');
  if (inputKey.length !== KEY_SIZE)
    throw new E2EEError(
      'INVALID_KEY_SIZE',
      `the input key must be ${KEY_SIZE} bytes, got ${inputKey.length}`,
    );
}

async function deriveMessageKeys(
  inputKey: Uint8Array,
  salt: Uint8Array,
  options: ChunkedOptions,
): Promise<MessageKeys> {
  const info = concat(INFO_PREFIX, salt, toBytes(options.context ?? new Uint8Array(0)));
  const okm = hkdfExpandSha512(inputKey, info, KEY_SIZE + NONCE_SIZE + COMMITMENT_SIZE);
  const aead = await createAead(okm.subarray(0, KEY_SIZE), hooksOf(options).backend);
  const workers = options.workers;
  const aesKey = workers?.size ? okm.slice(0, KEY_SIZE) : undefined;
  const baseNonce = okm.slice(KEY_SIZE, KEY_SIZE + NONCE_SIZE);
  const commitment = okm.slice(KEY_SIZE + NONCE_SIZE);
  okm.fill(0);
  return { aead, aesKey, workers, baseNonce, commitment };
}

/**
 * The nonce of chunk `counter`: the base nonce XOR the counter as a big-endian integer. Written
 * into `into` when given (synchronous backends reuse one buffer: they are done with a nonce
 * before the call returns), else into a new array.
 */
function chunkNonce(baseNonce: Uint8Array, counter: number, into = new Uint8Array(NONCE_SIZE)): Uint8Array {
  if (counter >= MAX_CHUNKS)
    throw new E2EEError('MESSAGE_TOO_LARGE', `a Cobblestone message holds at most 2^38 chunks (4 PiB)`);
  into.set(baseNonce);
  // counter < 2^38 fits in the last five bytes; >>> works on its low 32 bits.
  into[11]! ^= counter & 0xff;
  into[10]! ^= (counter >>> 8) & 0xff;
  into[9]! ^= (counter >>> 16) & 0xff;
  into[8]! ^= (counter >>> 24) & 0xff;
  into[7]! ^= Math.floor(counter / 2 ** 32) & 0xff;
  return into;
}

/** Ciphertext length for a plaintext of `plaintextSize` bytes. */
export function chunkedCiphertextSize(plaintextSize: number): number {
  const full = Math.floor(plaintextSize / CHUNK_SIZE);
  return HEADER_SIZE + full * RECORD_SIZE + (plaintextSize - full * CHUNK_SIZE) + TAG_SIZE;
}

/**
 * Plaintext length of a ciphertext of `ciphertextSize` bytes, or a `TRUNCATED` error when no
 * message has that length (a header cut short, a missing tag, or a missing short final chunk).
 */
export function chunkedPlaintextSize(ciphertextSize: number): number {
  if (ciphertextSize < HEADER_SIZE)
    throw new E2EEError(
      'TRUNCATED',
      `the ciphertext is ${ciphertextSize} bytes, shorter than the ${HEADER_SIZE}-byte salt and commitment`,
    );
  const body = ciphertextSize - HEADER_SIZE;
  const full = Math.floor(body / RECORD_SIZE);
  const last = body - full * RECORD_SIZE;
  if (last < TAG_SIZE)
    throw new E2EEError(
      'TRUNCATED',
      last === 0
        ? 'the ciphertext ends after a full chunk: the short final chunk is missing'
        : `the ciphertext length is impossible: its final chunk would be ${last} bytes, shorter than a ${TAG_SIZE}-byte tag (cut short or extended)`,
    );
  return full * CHUNK_SIZE + last - TAG_SIZE;
}

/** Runs `f` after `step`: at once when `step` was synchronous, else when its promise settles. */
function after(step: void | Promise<void>, f: () => void | Promise<void>): void | Promise<void> {
  return step instanceof Promise ? step.then(f) : f();
}

/**
 * Runs `count` chunk operations and returns the index of the first failed one, or -1. On a
 * synchronous backend that is one call after another and a plain number: no promise, so that
 * streams on node:crypto pay no microtask per write. On an asynchronous one, groups are kept in
 * flight together (WebCrypto runs them on its thread pool).
 */
function runChunks(
  aead: Aead,
  count: number,
  op: (i: number) => boolean | undefined | Promise<boolean | undefined>,
): number | Promise<number> {
  if (aead.sync) {
    for (let i = 0; i < count; i++) if (op(i) === false) return i;
    return -1;
  }
  return (async () => {
    for (let g = 0; g < count; g += GROUP) {
      const n = Math.min(GROUP, count - g);
      const results = await Promise.all(Array.from({ length: n }, (_, k) => op(g + k)));
      const bad = results.indexOf(false);
      if (bad >= 0) return g + bad;
    }
    return -1;
  })();
}

/** A nonce for each chunk of a run: one reused buffer on a synchronous backend. */
function nonces(m: MessageKeys, counter: number): (i: number) => Uint8Array {
  if (!m.aead.sync) return (i) => chunkNonce(m.baseNonce, counter + i);
  const scratch = new Uint8Array(NONCE_SIZE);
  return (i) => chunkNonce(m.baseNonce, counter + i, scratch);
}

/**
 * Encrypts `plaintext`, in order, as chunks `counter`, `counter + 1`, … into `out` at
 * `outOffset`. Without `final` it must be whole chunks; with `final` it ends with the short
 * (possibly empty) final chunk. Synchronous on a synchronous backend.
 */
function sealRun(
  m: MessageKeys,
  counter: number,
  plaintext: Uint8Array,
  out: Uint8Array,
  outOffset: number,
  final: boolean,
): void | Promise<void> {
  const count = Math.floor(plaintext.length / CHUNK_SIZE) + (final ? 1 : 0);
  const nonce = nonces(m, counter);
  const done = runChunks(m.aead, count, (i) =>
    m.aead.seal(
      nonce(i),
      plaintext.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE),
      out,
      outOffset + i * RECORD_SIZE,
    ),
  );
  if (done instanceof Promise) return done.then(() => undefined);
}

/**
 * Decrypts consecutive records starting at chunk `counter` into `out`. Every record is
 * RECORD_SIZE long except, when `final`, the last. Fails on the first record that does not
 * authenticate. Synchronous on a synchronous backend, until a record fails.
 */
function openRun(
  m: MessageKeys,
  counter: number,
  records: Uint8Array,
  out: Uint8Array,
  outOffset: number,
  final: boolean,
): void | Promise<void> {
  const count = Math.ceil(records.length / RECORD_SIZE);
  const record = (i: number) => records.subarray(i * RECORD_SIZE, (i + 1) * RECORD_SIZE);
  const nonce = nonces(m, counter);
  const fail = async (bad: number): Promise<void> => {
    // Whatever a failed open wrote is not plaintext anyone may see.
    out.fill(0, outOffset);
    throw await chunkFailure(m, counter + bad, record(bad), final && bad === count - 1);
  };
  const bad = runChunks(m.aead, count, (i) =>
    m.aead.open(nonce(i), record(i), out, outOffset + i * CHUNK_SIZE),
  );
  if (bad instanceof Promise) return bad.then((b) => (b >= 0 ? fail(b) : undefined));
  if (bad >= 0) return fail(bad);
}

// How many trailing bytes chunkFailure looks for: enough for the usual accidents (a newline or a
// block of padding appended by a transfer tool), cheap enough that every failure can afford it.
const TRAILING_PROBE = 256;

/**
 * The error for a chunk that failed to authenticate. A valid message followed by a few extra
 * bytes shows up as a failing chunk that starts with a valid *final* chunk; looking for it costs
 * one trial decryption per candidate length, at most TRAILING_PROBE of them, paid only on this
 * error path, and lets us name the real problem.
 */
async function chunkFailure(
  m: MessageKeys,
  counter: number,
  record: Uint8Array,
  isFinal: boolean,
): Promise<E2EEError> {
  const nonce = chunkNonce(m.baseNonce, counter);
  const longest = Math.min(record.length - 1, RECORD_SIZE - 1);
  const shortest = Math.max(TAG_SIZE, longest - TRAILING_PROBE + 1);
  const scratch = new Uint8Array(RECORD_SIZE);
  for (let len = longest; len >= shortest; len--) {
    if (await m.aead.open(nonce, record.subarray(0, len), scratch, 0)) {
      const extra = record.length - len;
      return new E2EEError(
        'TRAILING_DATA',
        `the message ends inside chunk ${counter}, followed by ${isFinal ? extra : `${extra} or more`} bytes of trailing data`,
      );
    }
  }
  return new E2EEError(
    'CHUNK_AUTH',
    `chunk ${counter} failed authentication: the ciphertext was modified, reordered, cut or extended`,
  );
}

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
 * One message sealed into buffers its caller owns and reuses, for a pipeline that frames its own
 * plaintext (the backup container). `prefix` is salt ‖ commitment; each `seal` encrypts the next
 * chunks of the message into `out` at `offset`: whole chunks only, unless `final`, which ends the
 * message with its short (possibly empty) final chunk. Synchronous on a synchronous backend.
 * @internal
 */
export interface MessageSealer {
  readonly prefix: Uint8Array;
  seal(plaintext: Uint8Array, out: Uint8Array, offset: number, final: boolean): void | Promise<void>;
}

/**
 * Starts a {@link MessageSealer}: the same key derivation, nonces and chunks as
 * {@link createEncryptStream}, on the calling thread.
 * @internal
 */
export async function createMessageSealer(
  inputKey: Uint8Array,
  options: ChunkedOptions = {},
): Promise<MessageSealer> {
  checkInputKey(inputKey);
  const salt = messageSalt(options);
  const m = await deriveMessageKeys(inputKey, salt, { ...options, workers: undefined });
  let counter = 0;
  let ended = false;
  return {
    prefix: concat(salt, m.commitment),
    seal(plaintext, out, offset, final) {
      if (ended) throw new E2EEError('INVALID_ARGUMENT', 'the message has already ended');
      if (!final && plaintext.length % CHUNK_SIZE !== 0)
        throw new E2EEError('INVALID_ARGUMENT', 'only whole chunks can be sealed before the final one');
      const first = counter;
      counter += Math.floor(plaintext.length / CHUNK_SIZE) + (final ? 1 : 0);
      ended = final;
      return sealRun(m, first, plaintext, out, offset, final);
    },
  };
}

/**
 * One message opened into buffers its caller owns and reuses: the counterpart of
 * {@link MessageSealer}. `open` decrypts the next records of the message into `out` at `offset`,
 * each RECORD_SIZE long except, with `final`, the last; it fails with the same errors as
 * {@link createDecryptStream} (`CHUNK_AUTH`, `TRAILING_DATA`), having wiped what it wrote.
 * @internal
 */
export interface MessageOpener {
  open(records: Uint8Array, out: Uint8Array, offset: number, final: boolean): void | Promise<void>;
}

/**
 * Checks the salt ‖ commitment that starts a message (`COMMITMENT_MISMATCH`; `TRUNCATED` when it
 * is short) and starts a {@link MessageOpener}, on the calling thread.
 * @internal
 */
export async function createMessageOpener(
  inputKey: Uint8Array,
  prefix: Uint8Array,
  options: ChunkedOptions = {},
): Promise<MessageOpener> {
  checkInputKey(inputKey);
  if (prefix.length < HEADER_SIZE) chunkedPlaintextSize(prefix.length); // throws TRUNCATED
  const m = await openHeader(inputKey, prefix, { ...options, workers: undefined });
  let counter = 0;
  let ended = false;
  return {
    open(records, out, offset, final) {
      if (ended) throw new E2EEError('INVALID_ARGUMENT', 'the message has already ended');
      if (final && records.length < TAG_SIZE) chunkedPlaintextSize(HEADER_SIZE + records.length); // throws TRUNCATED
      const first = counter;
      counter += Math.ceil(records.length / RECORD_SIZE);
      ended = final;
      return openRun(m, first, records, out, offset, final);
    },
  };
}

async function openHeader(
  inputKey: Uint8Array,
  header: Uint8Array,
  options: ChunkedOptions,
): Promise<MessageKeys> {
  const m = await deriveMessageKeys(inputKey, header.subarray(0, SALT_SIZE), options);
  if (!constantTimeEqual(m.commitment, header.subarray(SALT_SIZE, HEADER_SIZE)))
    throw new E2EEError(
      'COMMITMENT_MISMATCH',
      'the key commitment does not match: the key or context is wrong, or the salt or commitment was modified',
    );
  return m;
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
  await opener.open(body.subarray(0, full * RECORD_SIZE), out, 0, false);
  chunkedPlaintextSize(ciphertext.length); // throws TRUNCATED for an impossible length
  await opener.open(body.subarray(full * RECORD_SIZE), out, full * CHUNK_SIZE, true);
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
    wipe: () => buf.fill(0),
  };
}

/**
 * For backends that answer with buffers of their own (WebCrypto): runs `op` over the units of a
 * piece, GROUP at a time in flight, and hands the outputs on as they are, one per unit, without
 * copying them into fresh memory. On the first unit that fails to open (`op` answers
 * `undefined`) it releases nothing and throws `failure`'s error.
 */
async function eachUnit(
  units: Units,
  unit: number,
  op: (k: number, input: Uint8Array) => Promise<Uint8Array | undefined>,
  done: (outs: Uint8Array[]) => void,
  failure?: (k: number, input: Uint8Array) => Promise<E2EEError>,
): Promise<void> {
  const inputs = units.first ? [units.first] : [];
  for (let off = 0; off < units.bulk.length; off += unit) inputs.push(units.bulk.subarray(off, off + unit));
  const outs: Uint8Array[] = [];
  for (let g = 0; g < inputs.length; g += GROUP) {
    const group = await Promise.all(inputs.slice(g, g + GROUP).map((input, i) => op(g + i, input)));
    const bad = group.indexOf(undefined);
    if (bad >= 0 && failure) throw await failure(g + bad, inputs[g + bad]!);
    outs.push(...(group as Uint8Array[]));
  }
  done(outs);
}

/**
 * Runs `op` over the units of a piece (the carried one, then the bulk) into one new buffer of
 * `outUnit` bytes per unit, then enqueues it. Synchronous when `op` is.
 */
function processUnits(
  units: Units,
  outUnit: number,
  op: (counterOffset: number, input: Uint8Array, out: Uint8Array, outOffset: number) => void | Promise<void>,
  done: (out: Uint8Array) => void,
): void | Promise<void> {
  const out = allocForOverwrite(units.count * outUnit);
  const skip = units.first ? 1 : 0;
  return after(units.first && op(0, units.first, out, 0), () =>
    after(op(skip, units.bulk, out, skip * outUnit), () => done(out)),
  );
}

/**
 * A stream moves to its worker threads, if it has any, once it has passed one batch of chunks on
 * the calling thread: short messages never use them.
 */
function workerEngine(
  op: 'seal' | 'open',
  m: MessageKeys,
  counter: number,
  c: TransformStreamDefaultController<Uint8Array>,
): ChunkEngine | undefined {
  if (!m.workers?.size || counter < WORKERS_AFTER) return undefined;
  return m.workers.engine(op, { key: m.aesKey!, baseNonce: m.baseNonce, counter }, c, (n, record) =>
    chunkFailure(m, n, record, false),
  );
}

/**
 * One direction of a stream's whole units (chunks to seal, records to open), shared by both
 * streams: the carry between writes, the move to worker threads after the first MiB, and else,
 * per write, WebCrypto's own buffers passed on or one buffer sealed or opened in place. A full
 * record is never the final chunk, so every unit here is released as soon as it authenticates;
 * `finish` hands back what is left for the final chunk, and its counter.
 */
function unitPump(op: 'seal' | 'open', m: MessageKeys) {
  const seal = op === 'seal';
  const inUnit = seal ? CHUNK_SIZE : RECORD_SIZE;
  const outUnit = seal ? RECORD_SIZE : CHUNK_SIZE;
  const carry = unitCarry(inUnit);
  let counter = 0;
  let engine: ChunkEngine | undefined;
  return {
    push(piece: Uint8Array, c: TransformStreamDefaultController<Uint8Array>): void | Promise<void> {
      if (!engine) {
        engine = workerEngine(op, m, counter, c);
        if (engine) {
          const carried = carry.bytes().slice();
          carry.wipe();
          carry.keep(new Uint8Array(0));
          return engine
            .push(carried)
            .finally(() => carried.fill(0))
            .then(() => engine!.push(piece));
        }
      }
      if (engine) return engine.push(piece);
      const units = carry.take(piece);
      if (!units) return;
      if (units.count === 0) return carry.keep(units.tail);
      const fresh = seal ? m.aead.sealNew : m.aead.openNew;
      if (fresh)
        return eachUnit(
          units,
          inUnit,
          (k, input) => fresh(chunkNonce(m.baseNonce, counter + k), input),
          (outs) => {
            counter += outs.length;
            for (const out of outs) c.enqueue(out);
            carry.keep(units.tail);
          },
          seal ? undefined : (k, input) => chunkFailure(m, counter + k, input, false),
        );
      const run = seal ? sealRun : openRun;
      return processUnits(
        units,
        outUnit,
        (k, input, out, at) => run(m, counter + k, input, out, at, false),
        (out) => {
          counter += units.count;
          c.enqueue(out);
          carry.keep(units.tail);
        },
      );
    },
    finish(): Promise<{ rest: Uint8Array; counter: number }> {
      return engine ? engine.finish() : Promise.resolve({ rest: carry.bytes(), counter });
    },
    wipe: () => carry.wipe(),
  };
}

/**
 * A streaming encryptor: write plaintext in pieces of any size, read the ciphertext. Memory
 * stays at one 16 KiB chunk plus the output of the current write.
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
  const salt = messageSalt(options);
  // Our own copy: the caller may wipe theirs as soon as this returns.
  const key = new Uint8Array(inputKey);
  let m: MessageKeys;
  let pump: ReturnType<typeof unitPump>;

  return new TransformStream<Uint8Array, Uint8Array>({
    async start(controller) {
      m = await deriveMessageKeys(key, salt, options);
      key.fill(0);
      pump = unitPump('seal', m);
      controller.enqueue(concat(salt, m.commitment));
    },
    // Not `async`: on a synchronous backend a write is sealed and enqueued at once.
    transform(piece, controller) {
      if (!(piece instanceof Uint8Array))
        throw new E2EEError('INVALID_ARGUMENT', 'write Uint8Array pieces only');
      return pump.push(piece, controller);
    },
    async flush(controller) {
      const { rest, counter } = await pump.finish();
      m.aesKey?.fill(0);
      const out = new Uint8Array(rest.length + TAG_SIZE);
      await sealRun(m, counter, rest, out, 0, true);
      pump.wipe();
      rest.fill(0);
      controller.enqueue(out);
    },
  });
}

/**
 * A streaming decryptor. The commitment is checked before any chunk is decrypted; each chunk is
 * released only after it authenticates; the stream errors (and stays errored) on the first
 * failure, including a missing or extended end. Until the stream closes without error, the
 * output is an authenticated *prefix*, not the message: do not act on it before the end.
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
  let m: MessageKeys | undefined;
  let pump: ReturnType<typeof unitPump> | undefined;
  const header = new Uint8Array(HEADER_SIZE);
  let headerLen = 0;

  return new TransformStream<Uint8Array, Uint8Array>({
    // Not `async`: once the header is checked, on node:crypto a write is opened synchronously.
    transform(piece, controller) {
      if (!(piece instanceof Uint8Array))
        throw new E2EEError('INVALID_ARGUMENT', 'write Uint8Array pieces only');
      if (pump) return pump.push(piece, controller);
      const off = Math.min(HEADER_SIZE - headerLen, piece.length);
      header.set(piece.subarray(0, off), headerLen);
      headerLen += off;
      if (headerLen < HEADER_SIZE) return;
      return openHeader(key, header, opts)
        .finally(() => key.fill(0))
        .then((keys) => {
          m = keys;
          pump = unitPump('open', keys);
          return pump.push(piece.subarray(off), controller);
        });
    },
    async flush(controller) {
      if (!m || !pump) return void chunkedPlaintextSize(headerLen); // throws TRUNCATED
      const { rest, counter } = await pump.finish();
      m.aesKey?.fill(0);
      if (rest.length < TAG_SIZE) chunkedPlaintextSize(HEADER_SIZE + rest.length); // throws TRUNCATED
      const out = new Uint8Array(rest.length - TAG_SIZE);
      await openRun(m, counter, rest, out, 0, true);
      controller.enqueue(out);
    },
  });
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
  checkInputKey(inputKey);
  hooksOf(options);
  const total = source.size;
  if (!Number.isSafeInteger(total) || total < 0)
    throw new E2EEError('INVALID_ARGUMENT', 'source.size must be a byte count');
  if (total < HEADER_SIZE) chunkedPlaintextSize(total); // throws TRUNCATED
  const m = await openHeader(inputKey, await readExactly(source, 0, HEADER_SIZE), {
    ...options,
    workers: undefined,
  });
  const plaintextSize = chunkedPlaintextSize(total);
  const finalIndex = Math.floor(plaintextSize / CHUNK_SIZE);
  const finalOffset = HEADER_SIZE + finalIndex * RECORD_SIZE;
  const finalPlain = new Uint8Array(plaintextSize - finalIndex * CHUNK_SIZE);
  await openRun(
    m,
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
      const fromFinal = last === finalIndex;
      const lastFull = fromFinal ? last - 1 : last;
      if (lastFull >= first) {
        const start = HEADER_SIZE + first * RECORD_SIZE;
        const records = await readExactly(source, start, (lastFull - first + 1) * RECORD_SIZE);
        await openRun(m, first, records, plain, 0, false);
      }
      // The final chunk was authenticated when opening: reuse it rather than read it again.
      if (fromFinal) plain.set(finalPlain, (finalIndex - first) * CHUNK_SIZE);
      const start = offset - first * CHUNK_SIZE;
      return plain.slice(start, start + length);
    },
  };
}
