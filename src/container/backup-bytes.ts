/**
 * `encryptBackupBytes` / `decryptBackupBytes` where Web streams are missing (Hermes, React
 * Native's engine): the same container, the same checks in the same order and the same errors as
 * the streaming path, over whole buffers — the payload is sealed in one call and opened, all of
 * it authenticated, before its framing is read. backup.ts chooses this path only where
 * `ReadableStream` is absent; test/backup-bytes.test.ts runs the container vectors through it.
 *
 * @module
 */

import { decryptChunked } from '../cobblestone/chunked.js';
import { chunkedCiphertextSize, createMessageSealer, HEADER_SIZE } from '../cobblestone/message.js';
import { E2EEError } from '../errors.js';
import { concat } from '../internal/bytes.js';
import type { Argon2idParams } from '../primitives/kdf.js';
import {
  type BackupMetadata,
  BLOCK_SIZE,
  type BlockSource,
  type FramedReader,
  type FramingOptions,
  framePieces,
  framingSource,
} from './framing.js';
import {
  FLAG_COMPRESSED,
  FLAG_PADDED,
  HEADER_FIXED_SIZE,
  type Header,
  headerLength,
  parseHeader,
  unlockFileKey,
} from './header.js';
import { aborted, type Keying, pulledBody, withSalt } from './payload-streams.js';

/** What encryptBackup has checked and prepared from its options. @internal */
export interface PreparedBackup {
  meta: Uint8Array;
  framing: FramingOptions;
  /** The header and file key (Argon2id runs here for a password slot). */
  header: () => Promise<Keying>;
}

function checkBytes(data: unknown): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) throw new E2EEError('INVALID_ARGUMENT', 'data must be a Uint8Array');
}

/** The body as blocks of BLOCK_SIZE bytes, as readBlocks cuts a stream. */
function blocksOf(data: Uint8Array): BlockSource {
  let at = 0;
  return {
    async next() {
      if (at >= data.length) return undefined;
      const block = data.subarray(at, at + BLOCK_SIZE);
      at += block.length;
      return [block];
    },
    async cancel() {},
  };
}

/** A whole encrypted backup of `data`. @internal */
export async function sealBackupBytes(
  data: Uint8Array,
  prepared: PreparedBackup,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  checkBytes(data);
  if (signal?.aborted) throw aborted(signal);
  const { bytes, fileKey, salt } = await prepared.header();
  let framed: Uint8Array | undefined;
  try {
    const pieces: Uint8Array[] = [];
    for await (const piece of framePieces(blocksOf(data), prepared.meta, {
      ...prepared.framing,
      lend: false,
    })) {
      if (signal?.aborted) throw aborted(signal);
      pieces.push(piece);
    }
    framed = concat(...pieces);
    const sealer = await createMessageSealer(fileKey, withSalt({ context: bytes }, salt));
    const out = new Uint8Array(bytes.length + chunkedCiphertextSize(framed.length));
    out.set(bytes);
    out.set(sealer.prefix, bytes.length);
    await sealer.seal(framed, out, bytes.length + HEADER_SIZE, true);
    return out;
  } finally {
    fileKey.fill(0);
    framed?.fill(0);
  }
}

/** Options {@link openBackupBytes} takes, checked by decryptBackup's argument checks. @internal */
export interface OpenBytesOptions {
  key: Uint8Array | undefined;
  password: string | undefined;
  kdfMaxima: Partial<Argon2idParams> | undefined;
  maxOutputBytes: number;
  onProgress: ((bytesDone: number) => void) | undefined;
  signal: AbortSignal | undefined;
}

/** A {@link FramedReader} over a buffer. */
function bufferReader(plain: Uint8Array): FramedReader {
  let at = 0;
  let got = 0;
  return {
    get got() {
      return got;
    },
    async exactly(n) {
      if (plain.length - at < n) {
        got = plain.length - at;
        return undefined;
      }
      at += n;
      return plain.subarray(at - n, at);
    },
    async upTo(n) {
      if (at >= plain.length) return undefined;
      const take = Math.min(n, plain.length - at);
      at += take;
      return plain.subarray(at - take, at);
    },
    async cancel() {},
  };
}

/**
 * Opens a whole backup: the header checks and slot unlocking of decryptBackup, then the whole
 * payload authenticated, then its framing. A commitment mismatch is left as
 * `COMMITMENT_MISMATCH` for the caller to rename. @internal
 */
export async function openBackupBytes(
  data: Uint8Array,
  o: OpenBytesOptions,
): Promise<{ metadata: BackupMetadata; data: Uint8Array }> {
  checkBytes(data);
  if (o.signal?.aborted) throw aborted(o.signal);
  if (data.length < HEADER_FIXED_SIZE)
    throw new E2EEError('TRUNCATED', `the backup is ${data.length} bytes, too short for a header`);
  const size = headerLength(data.subarray(0, HEADER_FIXED_SIZE));
  if (data.length < size) throw new E2EEError('TRUNCATED', `the backup ends inside its ${size}-byte header`);
  const header: Header = parseHeader(data.slice(0, size));
  const fileKey = await unlockFileKey(
    header,
    { key: o.key, password: o.password },
    { kdfMaxima: o.kdfMaxima },
  );
  let plain: Uint8Array;
  try {
    plain = await decryptChunked(fileKey, data.subarray(size), { context: header.bytes });
  } finally {
    fileKey.fill(0);
  }
  try {
    const { metadata, source } = await framingSource(bufferReader(plain), {
      compressed: (header.flags & FLAG_COMPRESSED) !== 0,
      padded: (header.flags & FLAG_PADDED) !== 0,
      maxOutputBytes: o.maxOutputBytes,
      onProgress: o.onProgress,
      lent: false,
    });
    const parts: Uint8Array[] = [];
    for await (const piece of pulledBody(source, o.signal)) parts.push(piece);
    // Stored blocks are views into `plain`: copied out before it is wiped.
    return { metadata, data: concat(...parts) };
  } finally {
    plain.fill(0);
  }
}
