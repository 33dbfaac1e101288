/**
 * The Cobblestone-256 engine: one message sealed or opened, chunk by chunk, into buffers its
 * caller owns (c2sp.org/chunked-encryption: HKDF-SHA-512 expand, AES-256-GCM, 16 KiB chunks,
 * 24-byte salt, 32-byte key commitment; SPEC.md §4). Every way this library seals or opens a
 * payload goes through here: the one-shot functions, the Web streams, random access and the
 * backup container's streams.
 *
 * A ciphertext is `salt (24) ‖ commitment (32) ‖ chunk₀ ‖ … ‖ chunkₙ`, where every chunk but the
 * last holds 16384 plaintext bytes plus a 16-byte tag and the last always holds fewer (possibly
 * none), so that the length itself is authenticated.
 *
 * On a synchronous AES-GCM backend (node:crypto, noble) a run of chunks is one loop and returns
 * no promise, so that streams pay no microtask per write; on WebCrypto the chunks of a run are
 * kept in flight together.
 *
 * @module
 */

import { E2EEError } from '../errors.js';
import { concat, constantTimeEqual, randomBytes, toBytes } from '../internal/bytes.js';
import { hkdfExpandSha512 } from '../internal/hashes.js';
import { type Aead, createAead } from '../primitives/aes-gcm.js';
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
}

/**
 * The hooks `e2ee-backup/testing` set (a chosen salt, a chosen AES-GCM backend), after refusing
 * the old public options of those names: a salt chosen by the caller, reused under one key,
 * repeats every AES-GCM key and nonce, so the public API draws it itself, every time.
 */
export function hooksOf(options: ChunkedOptions): ChunkedHooks {
  const o = options as ChunkedOptions & { salt?: unknown; backend?: unknown; [TEST_HOOKS]?: ChunkedHooks };
  if (o.salt !== undefined || o.backend !== undefined)
    throw new E2EEError(
      'INVALID_ARGUMENT',
      "no 'salt' or 'backend' option here: tests have them from e2ee-backup/testing",
    );
  return o[TEST_HOOKS] ?? {};
}

interface MessageKeys {
  aead: Aead;
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

export function checkInputKey(inputKey: Uint8Array): void {
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
  const baseNonce = okm.slice(KEY_SIZE, KEY_SIZE + NONCE_SIZE);
  const commitment = okm.slice(KEY_SIZE + NONCE_SIZE);
  okm.fill(0);
  return { aead, baseNonce, commitment };
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
  // Each trial writes what it opened here, authenticated or not; none of it is released.
  const scratch = new Uint8Array(RECORD_SIZE);
  try {
    for (let len = longest; len >= shortest; len--) {
      if (await m.aead.open(nonce, record.subarray(0, len), scratch, 0)) {
        const extra = record.length - len;
        return new E2EEError(
          'TRAILING_DATA',
          `the message ends inside chunk ${counter}, followed by ${isFinal ? extra : `${extra} or more`} bytes of trailing data`,
        );
      }
    }
  } finally {
    scratch.fill(0);
  }
  return new E2EEError(
    'CHUNK_AUTH',
    `chunk ${counter} failed authentication: the ciphertext was modified, reordered, cut or extended`,
  );
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
 * Starts a {@link MessageSealer}: draws the salt (or takes the testing hook's), derives the
 * message's keys and commitment.
 * @internal
 */
export async function createMessageSealer(
  inputKey: Uint8Array,
  options: ChunkedOptions = {},
): Promise<MessageSealer> {
  checkInputKey(inputKey);
  const salt = messageSalt(options);
  const m = await deriveMessageKeys(inputKey, salt, options);
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
  /**
   * Random access: the same as `open`, for the records of chunks `counter`, `counter + 1`, …,
   * and without moving `open`'s position.
   */
  openAt(
    counter: number,
    records: Uint8Array,
    out: Uint8Array,
    offset: number,
    final: boolean,
  ): void | Promise<void>;
}

/**
 * Checks the salt ‖ commitment that starts a message (`COMMITMENT_MISMATCH`; `TRUNCATED` when it
 * is short) and starts a {@link MessageOpener}.
 * @internal
 */
export async function createMessageOpener(
  inputKey: Uint8Array,
  prefix: Uint8Array,
  options: ChunkedOptions = {},
): Promise<MessageOpener> {
  checkInputKey(inputKey);
  if (prefix.length < HEADER_SIZE) chunkedPlaintextSize(prefix.length); // throws TRUNCATED
  const m = await openHeader(inputKey, prefix, options);
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
    openAt: (counter, records, out, offset, final) => openRun(m, counter, records, out, offset, final),
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
