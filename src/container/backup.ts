/**
 * The backup API: `encryptBackup` / `decryptBackup` over bytes and Web streams,
 * `inspectBackup` for what anyone can read without a key, and `recoverBackupKey` for a mistyped
 * 64-digit code. The format is SPEC.md's container v1.
 *
 * @module
 */

import { E2EEError } from '../errors.js';
import { concat, randomBytes } from '../internal/bytes.js';
import { byobReaderOf, cancelQuietly, readAll, toPieceSource } from '../internal/streams.js';
import { type BackupKeyCandidate, backupKeyTypoCandidates, parseBackupKey } from '../key/backup-key.js';
import { checkPassword } from '../key/password.js';
import { type Argon2idParams, DEFAULT_KDF_PARAMS } from '../primitives/kdf.js';
import { openBackupBytes, type PreparedBackup, sealBackupBytes } from './backup-bytes.js';
import {
  BACKUP_SET_NAME,
  type BackupMetadata,
  type BlockSource,
  byteReader,
  encodeMetadata,
  type FramedReader,
  type FramingSource,
  framePieces,
  framingSource,
  type JsonValue,
  readBlocks,
} from './framing.js';
import {
  backupKeyKek,
  buildHeader,
  FLAG_COMPRESSED,
  FLAG_PADDED,
  HEADER_FIXED_SIZE,
  headerLength,
  type NewBackupKeySlot,
  type NewPasswordSlot,
  parseHeader,
  unlockFileKey,
  unwrap,
} from './header.js';
import {
  aborted,
  type Keying,
  openedReader,
  pulledBody,
  RESUME_KEYINGS,
  sealedIterable,
  sealedStream,
} from './payload-streams.js';

export type { BackupMetadata, JsonValue } from './framing.js';

/** What a backup can be read from or written from. */
export type BackupInput = Uint8Array | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

/** Credentials: a backup key (bytes or its 64-digit code), a password, or both. */
export interface BackupCredentials {
  /** The 32-byte backup key, or its 64-digit code. */
  key?: Uint8Array | string;
  /** A password: a string (NFC-normalised before Argon2id); bytes are refused (`INVALID_ARGUMENT`). */
  password?: string;
}

/** Options of {@link encryptBackup}. */
export interface EncryptBackupOptions extends BackupCredentials {
  /** `'deflate'` (the default) compresses body blocks that shrink; `'none'` stores them all. */
  compression?: 'deflate' | 'none';
  /**
   * Deflate level 1–9 (default 5: on chat-like data about 1.2× as fast as level 6, for output
   * about 0.6 % larger; `npm run bench:levels` measures it).
   */
  level?: number;
  /** `'padme'` (the default) pads the payload so its size leaks little; `'none'` does not. */
  padding?: 'padme' | 'none';
  /** Application fields stored in the encrypted metadata record. */
  metadata?: { [key: string]: JsonValue };
  /** Rollback protection: a number that grows with each backup (default 0). */
  generation?: number;
  /**
   * The backup set (SPEC.md §5.1) written to the encrypted metadata: 1–64 of A–Z, a–z, 0–9,
   * `.`, `_`, `-`. `createBackup` sets it; rotation supersedes only backups of the same set.
   */
  set?: string;
  /** Creation time written to the metadata (default now). */
  createdAt?: Date;
  /** Argon2id parameters for a password slot (default m = 64 MiB, t = 3, p = 4). */
  kdf?: Partial<Argon2idParams>;
  /** Allow Argon2id parameters below OWASP's floor (tests, low-end devices that know the cost). */
  allowWeakKdf?: boolean;
  /** Called with the number of plaintext bytes consumed so far. */
  onProgress?: (bytesDone: number) => void;
  /** Stops the work; the stream then errors with `ABORTED`. */
  signal?: AbortSignal;
}

/** Options of {@link decryptBackup}. */
export interface DecryptBackupOptions extends BackupCredentials {
  /** Upper bounds on a password slot's Argon2id parameters (default m 1 GiB, t 16, p 16). */
  kdfMaxima?: Partial<Argon2idParams>;
  /**
   * Stop with `OUTPUT_LIMIT` before the body exceeds this many bytes. Default 1 TiB for a body
   * that streams ({@link DEFAULT_MAX_OUTPUT_BYTES}), 256 MiB where the whole body is returned in
   * memory ({@link DEFAULT_MAX_OUTPUT_BYTES_IN_MEMORY}, `decryptBackupBytes`).
   */
  maxOutputBytes?: number;
  /** Called with the number of plaintext bytes produced so far. */
  onProgress?: (bytesDone: number) => void;
  /** Stops the work; the stream then errors with `ABORTED`. */
  signal?: AbortSignal;
}

/** The default {@link DecryptBackupOptions.maxOutputBytes} of a body that streams: 1 TiB. */
export const DEFAULT_MAX_OUTPUT_BYTES = 2 ** 40;

/**
 * The default {@link DecryptBackupOptions.maxOutputBytes} where the whole body is returned in
 * memory (`decryptBackupBytes`): 256 MiB. A small backup can expand about 1000-fold, so without it
 * a planted 1.5 MiB file would take 1.5 GiB of memory.
 */
export const DEFAULT_MAX_OUTPUT_BYTES_IN_MEMORY = 256 * 2 ** 20;

function keyBytes(key: Uint8Array | string): Uint8Array {
  if (typeof key === 'string') return parseBackupKey(key);
  if (!(key instanceof Uint8Array) || key.length !== 32)
    throw new E2EEError('INVALID_KEY_SIZE', 'the backup key must be 32 bytes or its 64-digit code');
  return key;
}

/** The deflate level used when none is given; see `EncryptBackupOptions.level`. */
export const DEFAULT_LEVEL = 5;

/**
 * Pipes `source` out through a stream that errors with `ABORTED` as soon as `signal` fires, even
 * while a read is waiting on a slow source.
 */
function withSignal(
  source: ReadableStream<Uint8Array>,
  signal: AbortSignal | undefined,
): ReadableStream<Uint8Array> {
  if (!signal) return source;
  const byob = byobReaderOf(source);
  const reader = byob ?? source.getReader();
  let stop: (() => void) | undefined;
  const release = () => signal.removeEventListener('abort', stop!);
  const start = (c: ReadableStreamController<Uint8Array>) => {
    stop = () => {
      const e = aborted(signal);
      c.error(e);
      void cancelQuietly(reader, e);
    };
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
  };
  const cancel = (reason: unknown) => {
    release();
    return cancelQuietly(reader, reason);
  };
  // Not a Promise.race per read against one long-lived promise: each race would stay attached to
  // it, holding every chunk ever read (memory growing with the backup).
  if (!byob)
    return new ReadableStream<Uint8Array>({
      start,
      async pull(c) {
        const r = await (reader as ReadableStreamDefaultReader<Uint8Array>).read();
        if (signal.aborted) return; // already errored by `stop`
        if (r.done) {
          release();
          c.close();
        } else c.enqueue(r.value);
      },
      cancel,
    });
  // A byte stream stays one: a BYOB read goes down into the reader's own buffer; any other read
  // goes through one reused buffer and gets a copy of exactly what came.
  let scratch = new Uint8Array(1 << 20);
  const out: ReadableStream<Uint8Array> = new ReadableStream({
    type: 'bytes',
    start,
    async pull(c: ReadableByteStreamController) {
      const request = c.byobRequest;
      const view = request?.view;
      const r = await byob.read(
        view ? new Uint8Array(view.buffer, view.byteOffset, view.byteLength) : scratch,
      );
      if (signal.aborted) return; // already errored by `stop`
      if (!request && r.value) scratch = new Uint8Array(r.value.buffer);
      if (r.done) {
        release();
        c.close();
      }
      if (!r.value) return;
      // The read moved the view's memory; hand it back, filled.
      if (request) request.respondWithNewView(r.value);
      else if (!r.done) c.enqueue(r.value.slice());
    },
    cancel,
  });
  return out;
}

/**
 * A backup's password is text (SPEC.md §3.5): a string, checked and later NFC-normalised. Bytes
 * are refused rather than used as they are, which would skip the normalisation every other
 * implementation applies (and which `encryptBackup` never wrote).
 */
function checkBackupPassword(password: unknown): asserts password is string {
  if (typeof password !== 'string')
    throw new E2EEError(
      'INVALID_ARGUMENT',
      'the password must be a string (decode bytes with TextDecoder first, so that it is normalised like any password)',
    );
  checkPassword(password);
}

/**
 * Encrypts a backup. Nothing is read from `input` until the returned stream is read.
 *
 * The result is a byte stream: a BYOB reader
 * (`getReader({ mode: 'byob' })`) gets the encrypted chunks written straight into its own buffer,
 * which it can then reuse, and a byte-stream `input` (a file's `stream()`, for one) is read
 * straight into one reused buffer, so that large backups cost no memory per byte. Pieces of any
 * other input are used as they are, not copied: do not change a piece once it has been handed
 * over.
 *
 * @example
 * ```ts
 * const key = generateBackupKey();
 * const encrypted = encryptBackup(file.stream(), { key, metadata: { app: 'chat', device: 'pixel' } });
 * await encrypted.pipeTo(uploadStream);
 * ```
 */
export function encryptBackup(input: BackupInput, options: EncryptBackupOptions): ReadableStream<Uint8Array> {
  // The payload is sealed straight from one reused plaintext buffer into the reader's buffers:
  // see sealedStream.
  return sealedStream(...framedInput(input, options), options.signal);
}

/**
 * {@link encryptBackup} as an async iterable, for where `ReadableStream` does not exist (React
 * Native's Hermes): the same bytes, options and errors. Nothing is read from `input` until the
 * result is iterated; each piece it yields (about 1 MiB) is a new buffer the caller owns. Pieces
 * of `input` are used as they are, not copied: do not change a piece once it has been handed
 * over. A `signal` that fires stops a pending `next()` at once with `ABORTED`, even while `input`
 * keeps it waiting; leaving the loop early releases `input` (calls its iterator's `return`, not
 * awaited while a `next()` is pending: an async generator stops only once that is over).
 *
 * @example
 * ```ts
 * for await (const piece of encryptBackupIterable(readFileInPieces(path), { key }))
 *   await upload.write(piece);
 * ```
 */
export function encryptBackupIterable(
  input: BackupInput,
  options: EncryptBackupOptions,
): AsyncIterable<Uint8Array> {
  return sealedIterable(...framedInput(input, options), options.signal);
}

/** The header maker, framed pieces and blocks of `input`: checked before anything is read. */
function framedInput(
  input: BackupInput,
  options: EncryptBackupOptions,
): [() => Promise<Keying>, AsyncGenerator<Uint8Array, void, undefined>, BlockSource] {
  const { meta, framing, header } = prepareBackup(options);
  const blocks = readBlocks(toPieceSource(input), true);
  return [header, framePieces(blocks, meta, { ...framing, lend: true }), blocks];
}

/** encryptBackup's options, checked before anything is read, and what they make. */
function prepareBackup(options: EncryptBackupOptions): PreparedBackup {
  const slots: (NewBackupKeySlot | NewPasswordSlot)[] = [];
  if (options.key !== undefined) slots.push({ type: 'backup-key', backupKey: keyBytes(options.key) });
  if (options.password !== undefined) {
    checkBackupPassword(options.password);
    slots.push({
      type: 'password',
      password: options.password,
      kdf: { ...DEFAULT_KDF_PARAMS, ...options.kdf },
      kdfOptions: { allowWeak: options.allowWeakKdf === true },
    });
  }
  if (slots.length === 0) throw new E2EEError('INVALID_ARGUMENT', 'give a backup key, a password, or both');
  const compression = options.compression ?? 'deflate';
  if (compression !== 'deflate' && compression !== 'none')
    throw new E2EEError('INVALID_ARGUMENT', `compression must be 'deflate' or 'none'`);
  const level = options.level ?? DEFAULT_LEVEL;
  if (!Number.isInteger(level) || level < 1 || level > 9)
    throw new E2EEError('INVALID_ARGUMENT', 'level must be 1..9');
  const padding = options.padding ?? 'padme';
  if (padding !== 'padme' && padding !== 'none')
    throw new E2EEError('INVALID_ARGUMENT', `padding must be 'padme' or 'none'`);
  if (options.set !== undefined && !(typeof options.set === 'string' && BACKUP_SET_NAME.test(options.set)))
    throw new E2EEError('INVALID_ARGUMENT', 'set must be 1 to 64 characters of A-Z, a-z, 0-9, ".", "_", "-"');
  const metadata: BackupMetadata = {
    created: (options.createdAt ?? new Date()).toISOString(),
    generation: options.generation ?? 0,
    app: options.metadata ?? {},
    ...(options.set !== undefined ? { set: options.set } : {}),
  };
  const flags = (compression === 'deflate' ? FLAG_COMPRESSED : 0) | (padding === 'padme' ? FLAG_PADDED : 0);
  const meta = encodeMetadata(metadata); // checked here, so bad metadata fails the call itself
  const framing = {
    deflateLevel: compression === 'deflate' ? level : undefined,
    padded: padding === 'padme',
    onProgress: options.onProgress,
  };
  // The file key is wiped by whoever receives it, or here if the header cannot be made.
  const resumed = RESUME_KEYINGS.get(options);
  const header: () => Promise<Keying> =
    resumed ??
    (async () => {
      const fileKey = randomBytes(32);
      try {
        return { bytes: await buildHeader(slots, fileKey, flags), fileKey };
      } catch (e) {
        fileKey.fill(0);
        throw e;
      }
    });
  return { meta, framing, header };
}

/**
 * Opens a backup: reads and checks the header, unlocks the file key, checks the key commitment
 * (which authenticates the header) and reads the metadata record. The body stream authenticates
 * each chunk before releasing it and errors on any problem up to its very end, so treat its
 * output as provisional until it closes (write to a temporary file, as `decryptFile` does).
 *
 * The body is a byte stream: a BYOB reader
 * (`getReader({ mode: 'byob' })`) gets the plaintext copied into its own buffer, which it can
 * reuse; and a byte-stream `input` (a file's `stream()`) is read into one reused buffer, so that
 * nothing is allocated per byte.
 *
 * @throws An {@link E2EEError}: `WRONG_KEY`, `WRONG_PASSWORD`, `NO_MATCHING_SLOT`, `HEADER_AUTH`,
 * `MALFORMED_HEADER`, `UNSUPPORTED_VERSION`, `UNKNOWN_FLAG`, `UNKNOWN_SLOT_TYPE`, `KDF_PARAMS`,
 * `TRUNCATED`, `CHUNK_AUTH`, `MALFORMED_PAYLOAD` …
 */
export async function decryptBackup(
  input: BackupInput,
  options: DecryptBackupOptions,
): Promise<{
  /** The authenticated metadata record. */
  metadata: BackupMetadata;
  /** The body, authenticated chunk by chunk; act on it only once it ends without error. */
  stream: ReadableStream<Uint8Array>;
}> {
  const { metadata, source } = await openBackup(input, options);
  const body = new ReadableStream({ ...source, type: 'bytes' });
  return { metadata, stream: withSignal(body, options.signal) };
}

/**
 * {@link decryptBackup} with the body as an async iterable, for where `ReadableStream` does not
 * exist (React Native's Hermes): the same checks, options and errors. The body authenticates each
 * chunk before releasing it and throws on any problem up to its very end (a cut, a modified final
 * chunk, bad padding), so treat what it yields as provisional until the loop ends without error.
 * Each piece is a new buffer the caller owns. A `signal` that fires stops a pending `next()` at
 * once with `ABORTED`, even while `input` keeps it waiting; leaving the loop early releases
 * `input`.
 *
 * @example
 * ```ts
 * const { metadata, body } = await decryptBackupIterable(download(), { key });
 * for await (const piece of body) await temporaryFile.write(piece);
 * await temporaryFile.commit(); // only now is the whole body authenticated
 * ```
 *
 * @throws What {@link decryptBackup} throws; the body's iteration throws what its stream errors with.
 */
export async function decryptBackupIterable(
  input: BackupInput,
  options: DecryptBackupOptions,
): Promise<{
  /** The authenticated metadata record. */
  metadata: BackupMetadata;
  /** The body, authenticated chunk by chunk; act on it only once the loop ends without error. */
  body: AsyncIterable<Uint8Array>;
}> {
  const { metadata, source } = await openBackup(input, options);
  return { metadata, body: pulledBody(source, options.signal) };
}

/**
 * What decryptBackup and decryptBackupIterable share: the header read and checked, the file key
 * unlocked, the payload opened through reused buffers and its metadata record read; the body as
 * the framing decoder's source, for either to pull.
 */
async function openBackup(
  input: BackupInput,
  options: DecryptBackupOptions,
): Promise<{ metadata: BackupMetadata; source: FramingSource }> {
  // The caller's arguments are checked before the first byte is read (SPEC.md §7): a bad one is
  // reported whatever the file holds.
  const { key, maxOutputBytes } = decryptArguments(options);
  const r = byteReader(toPieceSource(input));
  let plaintext: FramedReader | undefined;
  try {
    if (options.signal?.aborted) throw aborted(options.signal);
    const fixed = await r.exactly(HEADER_FIXED_SIZE);
    if (!fixed) throw new E2EEError('TRUNCATED', `the backup is ${r.got} bytes, too short for a header`);
    const size = headerLength(fixed);
    const restOfHeader = await r.exactly(size - HEADER_FIXED_SIZE);
    if (!restOfHeader) throw new E2EEError('TRUNCATED', `the backup ends inside its ${size}-byte header`);
    const header = parseHeader(concat(fixed, restOfHeader));
    const fileKey = await unlockFileKey(
      header,
      { key, password: options.password },
      { kdfMaxima: options.kdfMaxima },
    );
    // As when encrypting, the payload is opened through reused buffers (src/container/payload-streams.ts).
    try {
      const { queued, source } = r.detach();
      plaintext = await openedReader(fileKey, header.bytes, queued, source).catch((e: unknown) => {
        throw isCommitmentError(e) ? headerAuthError(e) : e;
      });
    } finally {
      fileKey.fill(0);
    }
    return await framingSource(plaintext, {
      compressed: (header.flags & FLAG_COMPRESSED) !== 0,
      padded: (header.flags & FLAG_PADDED) !== 0,
      maxOutputBytes,
      onProgress: options.onProgress,
      lent: true,
    });
  } catch (e) {
    await (plaintext ?? r).cancel(e).catch(() => {});
    throw e;
  }
}

/** decryptBackup's arguments, checked: the backup key's bytes and the output limit. */
function decryptArguments(options: DecryptBackupOptions): {
  key: Uint8Array | undefined;
  maxOutputBytes: number;
} {
  const key = options.key !== undefined ? keyBytes(options.key) : undefined;
  if (options.password !== undefined) checkBackupPassword(options.password);
  if (key === undefined && options.password === undefined)
    throw new E2EEError('INVALID_ARGUMENT', 'give a backup key, a password, or both');
  for (const [name, max] of Object.entries(options.kdfMaxima ?? {}))
    if (typeof max !== 'number' || Number.isNaN(max))
      throw new E2EEError('INVALID_ARGUMENT', `kdfMaxima.${name} must be a number, not ${String(max)}`);
  const maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  // NaN would compare false against everything and silently switch the bomb guard off.
  if (
    !(Number.isSafeInteger(maxOutputBytes) && maxOutputBytes >= 0) &&
    maxOutputBytes !== Number.POSITIVE_INFINITY
  )
    throw new E2EEError('INVALID_ARGUMENT', 'maxOutputBytes must be a non-negative integer (or Infinity)');
  return { key, maxOutputBytes };
}

function isCommitmentError(e: unknown): boolean {
  return e instanceof E2EEError && e.code === 'COMMITMENT_MISMATCH';
}

/**
 * After a slot has unwrapped, a commitment mismatch can only mean that the header (the
 * payload's context) is not the one the payload was written with.
 */
function headerAuthError(cause: unknown): E2EEError {
  return new E2EEError(
    'HEADER_AUTH',
    'the backup header does not authenticate: it was modified, or a key slot comes from another backup',
    { cause },
  );
}

/** {@link encryptBackup} for a whole buffer. */
export async function encryptBackupBytes(
  data: Uint8Array,
  options: EncryptBackupOptions,
): Promise<Uint8Array> {
  // Without Web streams (Hermes): the same container from whole buffers (src/backup-bytes.ts).
  if (typeof ReadableStream !== 'function')
    return sealBackupBytes(data, prepareBackup(options), options.signal);
  return readAll(encryptBackup(data, options));
}

/**
 * {@link decryptBackup} for a whole buffer: everything is authenticated before it returns. The
 * body is held in memory, so it stops at 256 MiB unless `maxOutputBytes` says otherwise
 * ({@link DEFAULT_MAX_OUTPUT_BYTES_IN_MEMORY}); stream larger backups with `decryptBackup`.
 *
 * @throws What {@link decryptBackup} throws; `OUTPUT_LIMIT` when the body would pass the limit.
 */
export async function decryptBackupBytes(
  data: Uint8Array,
  options: DecryptBackupOptions,
): Promise<{
  /** The authenticated metadata record. */
  metadata: BackupMetadata;
  /** The whole body, authenticated. */
  data: Uint8Array;
}> {
  const limit = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES_IN_MEMORY;
  try {
    if (typeof ReadableStream !== 'function') {
      // Without Web streams (Hermes): the same checks on the whole buffer (src/backup-bytes.ts).
      const { key } = decryptArguments({ ...options, maxOutputBytes: limit });
      return await openBackupBytes(data, {
        key,
        password: options.password,
        kdfMaxima: options.kdfMaxima,
        maxOutputBytes: limit,
        onProgress: options.onProgress,
        signal: options.signal,
      }).catch((e: unknown) => {
        throw isCommitmentError(e) ? headerAuthError(e) : e;
      });
    }
    const { metadata, stream } = await decryptBackup(data, { ...options, maxOutputBytes: limit });
    return { metadata, data: await readAll(stream) };
  } catch (e) {
    if (options.maxOutputBytes !== undefined || !(e instanceof E2EEError) || e.code !== 'OUTPUT_LIMIT')
      throw e;
    throw new E2EEError(
      'OUTPUT_LIMIT',
      `the backup expands past ${limit} bytes (256 MiB), the default limit of decryptBackupBytes, which holds ` +
        'the whole body in memory: pass maxOutputBytes to raise it, or stream the body with decryptBackup',
      { cause: e },
    );
  }
}

/** What {@link inspectBackup} reports. */
export interface BackupInfo {
  /** Always true: none of this is authenticated until the backup is opened with a key. */
  readonly unauthenticated: true;
  /** Container format version. */
  readonly version: number;
  /** Header length in bytes (the Cobblestone message starts after it). */
  readonly headerSize: number;
  /** Whether the body is deflate-compressed. */
  readonly compressed: boolean;
  /** Whether the payload carries Padmé padding. */
  readonly padded: boolean;
  /** The key slots, in header order, with each password slot's Argon2id parameters. */
  readonly slots: readonly (
    | {
        /** A slot opened by the 64-digit backup key. */
        type: 'backup-key';
      }
    | {
        /** A slot opened by a password. */
        type: 'password';
        /** Its Argon2id parameters (attacker-controlled until the backup is opened). */
        kdf: Argon2idParams;
      }
  )[];
}

/**
 * What anyone can read from a backup's header without a key: format version, flags, slot types
 * and Argon2id parameters. Unauthenticated: an attacker can change any of it (a change is
 * caught when the backup is opened).
 */
export function inspectBackup(bytes: Uint8Array): BackupInfo {
  const h = parseHeader(bytes);
  return {
    unauthenticated: true,
    version: h.version,
    headerSize: h.bytes.length,
    compressed: (h.flags & FLAG_COMPRESSED) !== 0,
    padded: (h.flags & FLAG_PADDED) !== 0,
    slots: h.slots.map((s) =>
      s.type === 'password' ? { type: s.type, kdf: { ...s.kdf } } : { type: s.type },
    ),
  };
}

/** What {@link recoverBackupKey} found. */
export interface RecoveredKey {
  /** The key that opens the backup. */
  key: Uint8Array;
  /** The fix applied to the typed code, or `null` when it was right as typed. */
  correction: BackupKeyCandidate['correction'] | null;
}

/**
 * When a 64-digit code does not open a backup, finds the single substitution, adjacent
 * transposition, missing or extra digit that does. Each candidate costs one key-slot unwrap
 * (about 1,000 candidates). Refuses to guess further: with two errors it throws `WRONG_KEY`.
 *
 * @param backupHeader - the backup's first bytes (at least its header; the whole file is fine).
 */
export async function recoverBackupKey(backupHeader: Uint8Array, typedCode: string): Promise<RecoveredKey> {
  const header = parseHeader(backupHeader);
  const slot = header.slots.find((s) => s.type === 'backup-key');
  if (!slot)
    throw new E2EEError('NO_MATCHING_SLOT', 'this backup has no backup-key slot: it opens with a password');
  const opens = async (key: Uint8Array) => (await unwrap(backupKeyKek(key, slot.salt), slot)) !== undefined;
  let exact: Uint8Array | undefined;
  try {
    exact = parseBackupKey(typedCode);
  } catch {
    // Not 64 clean digits: only the candidates can help.
  }
  if (exact && (await opens(exact))) return { key: exact, correction: null };
  for (const candidate of backupKeyTypoCandidates(typedCode)) {
    if (await opens(candidate.key)) return candidate;
  }
  throw new E2EEError(
    'WRONG_KEY',
    'no single-digit correction of this code opens the backup: check every group against where you saved it',
  );
}
