/**
 * Opening a crypt15 backup: the prefix, the key, the ciphertext, the zlib stream — streamed in
 * constant memory on node:crypto and node:zlib, in one piece elsewhere.
 *
 * Internal module: the functions are re-exported by `e2ee-backup/whatsapp`.
 */

import type { BackupInput } from '../container/backup.js';
import { E2EEError } from '../errors.js';
import { concat } from '../internal/bytes.js';
import { readAll, toStream } from '../internal/streams.js';
import { nodeCrypto, type OneShotBackend, openWhole, streamOpener, type WhatsAppLayout } from './cipher.js';
import { crypt15CipherKey, parseWhatsAppKey } from './key.js';
import { MAX_PREFIX_SIZE, parsePrefix, type WhatsAppBackupInfo } from './prefix.js';
import { hasNodeZlib, inflateAll, inflateStream, payloadKind, type WhatsAppPayload } from './zlib.js';

/** Options of {@link decryptWhatsAppBackup} and {@link decryptWhatsAppBackupBytes}. */
export interface DecryptWhatsAppBackupOptions {
  /** Stop with `OUTPUT_LIMIT` before the output exceeds this many bytes (default 1 TiB). */
  maxOutputBytes?: number;
  /** Include the last two digits of the phone number in `info` (default false). */
  phoneDigits?: boolean;
  /** Stops the work; the stream then errors with `ABORTED`. */
  signal?: AbortSignal;
}

/** What a crypt15 backup holds once opened. */
export interface WhatsAppBackupContents {
  /** The prefix: unauthenticated, as {@link WhatsAppBackupInfo} says. */
  info: WhatsAppBackupInfo;
  /**
   * `'zlib'`: the plaintext is a zlib stream and the output is what it inflates to (the
   * database); `'zip'`: a multi-file backup's ZIP archive, output as it is.
   */
  payload: WhatsAppPayload;
  /**
   * Whether the file ends with an MD5 trailer (`'md5'`, single-file backups) or not (`'no-md5'`,
   * multi-file ones). Known once the whole file has been read: `undefined` until then.
   */
  readonly layout: WhatsAppLayout | undefined;
}

/** Ciphertext decrypted per step on node:crypto. */
const SLICE = 1 << 20;

/** Same default as `decryptBackup`'s: 1 TiB. */
const DEFAULT_MAX_OUTPUT_BYTES = 2 ** 40;

/**
 * Without node:crypto, the whole file is decrypted at once and held in memory (WebCrypto's
 * AES-GCM cannot stream): files up to 1 GiB.
 */
export const ONE_SHOT_MAX_BYTES = 2 ** 30;

/** How a file is opened: streamed on node:crypto, or whole on one of the one-shot backends. */
export type Backend = 'node' | OneShotBackend;

/** The fastest way available here. */
export function defaultBackend(): Backend {
  if (nodeCrypto() && hasNodeZlib()) return 'node';
  return globalThis.crypto?.subtle ? 'webcrypto' : 'noble';
}

function aborted(signal: AbortSignal): E2EEError {
  return new E2EEError('ABORTED', 'the operation was aborted', { cause: signal.reason });
}

function outputLimit(options: DecryptWhatsAppBackupOptions): number {
  const limit = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  // NaN would compare false against everything and silently switch the bomb guard off.
  if (!(Number.isSafeInteger(limit) && limit >= 0) && limit !== Number.POSITIVE_INFINITY)
    throw new E2EEError('INVALID_ARGUMENT', 'maxOutputBytes must be a non-negative integer (or Infinity)');
  return limit;
}

function notAPayload(): E2EEError {
  return new E2EEError(
    'MALFORMED_PAYLOAD',
    'the WhatsApp backup decrypted and authenticated, but holds neither a zlib stream nor a ZIP archive',
  );
}

/**
 * Decrypts a WhatsApp crypt15 backup (`msgstore.db.crypt15` and the other files of an Android
 * end-to-end encrypted backup) with its 64-digit key.
 *
 * Where node:crypto and node:zlib are (Node; Bun and Deno, untested) the file is streamed in
 * constant memory, and the output is **provisional**: crypt15 has one GCM tag at the very end,
 * so the stream releases plaintext before it is authenticated and errors at its end
 * (`WRONG_KEY`, `CHUNK_AUTH`, `MALFORMED_PAYLOAD`…) if anything is wrong. Act on the output only once the stream has closed without error (write to
 * a temporary file, as the CLI does), or use {@link decryptWhatsAppBackupBytes}. Elsewhere
 * (browsers, React Native) the file is read whole — at most 1 GiB — and authenticated before
 * anything is released.
 *
 * The promise resolves once the prefix has been read and the first plaintext bytes say what the
 * payload is; errors in the prefix reject it.
 *
 * @param key - the 64-digit code, `encrypted_backup.key`'s bytes, or the 32-byte root key (see
 *   {@link parseWhatsAppKey}).
 * @throws An {@link E2EEError}: `KEY_FORMAT`, `UNSUPPORTED_VERSION` (crypt12, crypt14, a key type
 *   other than end-to-end, an unencrypted file), `MALFORMED_HEADER`, `TRUNCATED`; then, from the
 *   stream: `WRONG_KEY` (the MD5 checksum matches but the tag does not verify), `CHUNK_AUTH` (the
 *   file is damaged: neither matches), `MALFORMED_PAYLOAD`, `OUTPUT_LIMIT`, `ABORTED`.
 * @example
 * ```ts
 * const { info, stream } = await decryptWhatsAppBackup(file.stream(), code);
 * await stream.pipeTo(temporaryFile); // rename it into place only if this resolves
 * ```
 */
export function decryptWhatsAppBackup(
  input: BackupInput,
  key: string | Uint8Array,
  options: DecryptWhatsAppBackupOptions = {},
): Promise<
  WhatsAppBackupContents & {
    /** The output; provisional until it closes without error. */
    stream: ReadableStream<Uint8Array>;
  }
> {
  return decryptWith(defaultBackend(), input, key, options);
}

/**
 * {@link decryptWhatsAppBackup} for a whole file, resolving only once everything has been
 * authenticated: it never hands over unverified output.
 */
export async function decryptWhatsAppBackupBytes(
  data: Uint8Array,
  key: string | Uint8Array,
  options: DecryptWhatsAppBackupOptions = {},
): Promise<
  WhatsAppBackupContents & {
    /** The whole output, authenticated. */
    data: Uint8Array;
  }
> {
  const opened = await decryptWhatsAppBackup(data, key, options);
  const out = await readAll(opened.stream);
  return { info: opened.info, payload: opened.payload, layout: opened.layout, data: out };
}

/** {@link decryptWhatsAppBackup} on a chosen backend (tests compare them). */
export async function decryptWith(
  backend: Backend,
  input: BackupInput,
  key: string | Uint8Array,
  options: DecryptWhatsAppBackupOptions,
): Promise<WhatsAppBackupContents & { stream: ReadableStream<Uint8Array> }> {
  const limit = outputLimit(options);
  const root = parseWhatsAppKey(key);
  const aesKey = crypt15CipherKey(root);
  root.fill(0);
  const reader = toStream(input).getReader();
  try {
    const signal = options.signal;
    const read = async () => {
      if (signal?.aborted) throw aborted(signal);
      return reader.read();
    };
    // The prefix is at most 257 bytes: read that much, or the whole file if it is shorter. Bytes
    // are used as they are; pieces of a stream are copied before the next read, which may reuse
    // their memory (only small ones: a piece of 257 bytes or more is the last one read here).
    let head = input instanceof Uint8Array ? input : new Uint8Array(0);
    let ended = input instanceof Uint8Array;
    while (!ended && head.length < MAX_PREFIX_SIZE) {
      const r = await read();
      if (r.done) ended = true;
      else head = head.length === 0 ? r.value : concat(head, r.value);
      if (!ended && head.length < MAX_PREFIX_SIZE) head = new Uint8Array(head);
    }
    const { info, iv } = parsePrefix(head, { phoneDigits: options.phoneDigits });
    const result =
      backend === 'node'
        ? await streamed(aesKey, iv, head, info.prefixSize, ended, read, limit)
        : await whole(backend, aesKey, iv, head, info.prefixSize, ended, read, limit);
    const stream = toReadable(result.output, reader);
    return {
      info,
      payload: result.payload,
      get layout() {
        return result.layout();
      },
      stream,
    };
  } catch (e) {
    await reader.cancel(e).catch(() => {});
    throw e;
  } finally {
    aesKey.fill(0);
  }
}

interface Opened {
  payload: WhatsAppPayload;
  output: AsyncGenerator<Uint8Array>;
  layout(): WhatsAppLayout | undefined;
}

type Read = () => Promise<ReadableStreamReadResult<Uint8Array>>;

async function streamed(
  aesKey: Uint8Array,
  iv: Uint8Array,
  head: Uint8Array,
  prefixSize: number,
  ended: boolean,
  read: Read,
  limit: number,
): Promise<Opened> {
  const opener = streamOpener(nodeCrypto()!, aesKey, iv, head.subarray(0, prefixSize));
  let layout: WhatsAppLayout | undefined;
  // A piece is decrypted in slices, so that a large one (a whole file given as bytes) is not
  // doubled in memory; all of it is used before the next read, so its buffer may then be reused.
  function* open(piece: Uint8Array): Generator<Uint8Array> {
    for (let o = 0; o < piece.length; o += SLICE) {
      const out = opener.update(piece.subarray(o, o + SLICE));
      if (out.length > 0) yield out;
    }
  }
  async function* plaintext(): AsyncGenerator<Uint8Array> {
    yield* open(head.subarray(prefixSize));
    if (!ended) {
      for (;;) {
        const r = await read();
        if (r.done) break;
        yield* open(r.value);
      }
    }
    const last = opener.finish();
    layout = last.layout;
    if (last.plaintext.length > 0) yield last.plaintext;
  }
  const pieces = plaintext();
  // Enough plaintext to tell zlib from ZIP (4 bytes), or all of it.
  const seen: Uint8Array[] = [];
  let seenBytes = 0;
  let done = false;
  while (seenBytes < 4) {
    const r = await pieces.next();
    if (r.done) {
      done = true;
      break;
    }
    seen.push(r.value);
    seenBytes += r.value.length;
  }
  const payload = payloadKind(concat(...seen));
  if (!payload) {
    // Random-looking plaintext is what a wrong key gives: read on for the tag's verdict first.
    if (!done) while (!(await pieces.next()).done);
    throw notAPayload();
  }
  async function* replay(): AsyncGenerator<Uint8Array> {
    yield* seen.splice(0);
    if (!done) yield* pieces;
  }
  const output = payload === 'zip' ? limited(replay(), limit) : inflateStream(replay(), limit);
  return { payload, output, layout: () => layout };
}

async function whole(
  backend: OneShotBackend,
  aesKey: Uint8Array,
  iv: Uint8Array,
  head: Uint8Array,
  prefixSize: number,
  ended: boolean,
  read: Read,
  limit: number,
): Promise<Opened> {
  // `head` may be the caller's buffer: copied before another read may reuse it.
  const parts = [ended ? head : new Uint8Array(head)];
  let size = head.length;
  while (!ended) {
    const r = await read();
    if (r.done) break;
    size += r.value.length;
    if (size > ONE_SHOT_MAX_BYTES)
      throw new E2EEError(
        'OUTPUT_LIMIT',
        `without node:crypto a WhatsApp backup is decrypted in one piece, in memory, and this one is larger than ${ONE_SHOT_MAX_BYTES} bytes`,
      );
    parts.push(new Uint8Array(r.value));
  }
  const file = parts.length === 1 ? parts[0]! : concat(...parts);
  const { plaintext, layout } = await openWhole(backend, aesKey, iv, file, prefixSize);
  const payload = payloadKind(plaintext);
  if (!payload) throw notAPayload();
  if (payload === 'zip' && plaintext.length > limit)
    throw new E2EEError('OUTPUT_LIMIT', `the backup would be larger than the ${limit}-byte limit`);
  const out = payload === 'zip' ? [plaintext] : await inflateAll(plaintext, limit);
  async function* output(): AsyncGenerator<Uint8Array> {
    yield* out;
  }
  return { payload, output: output(), layout: () => layout };
}

/** Zip output past `limit`: `OUTPUT_LIMIT`, once the rest has been read for the tag's verdict. */
async function* limited(pieces: AsyncIterator<Uint8Array>, limit: number): AsyncGenerator<Uint8Array> {
  let n = 0;
  for (;;) {
    const r = await pieces.next();
    if (r.done) return;
    n += r.value.length;
    if (n > limit) {
      while (!(await pieces.next()).done);
      throw new E2EEError('OUTPUT_LIMIT', `the backup would be larger than the ${limit}-byte limit`);
    }
    yield r.value;
  }
}

/** The output as a Web stream; a cancel stops the generators and the input. */
function toReadable(
  output: AsyncGenerator<Uint8Array>,
  input: ReadableStreamDefaultReader<Uint8Array>,
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        const r = await output.next();
        if (r.done) c.close();
        else c.enqueue(r.value);
      },
      async cancel(reason) {
        await input.cancel(reason).catch(() => {});
        await output.return(undefined).catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}
