/**
 * Random access to a stored backup's payload: the header is read and a slot unwrapped, then the
 * chunked layer's `openChunked` reads only the records a range touches (and, once, the final
 * chunk, to authenticate the length). Over `S3Store.source(name)` each read is one Range request,
 * so an app can check or read part of a large backup without downloading all of it.
 *
 * @module
 */

import { type ChunkedReader, openChunked, type RandomAccessSource } from '../cobblestone/chunked.js';
import type { BackupCredentials } from '../container/backup.js';
import { HEADER_FIXED_SIZE, headerLength, parseHeader, unlockFileKey } from '../container/header.js';
import { E2EEError } from '../errors.js';
import { parseBackupKey } from '../key/backup-key.js';
import type { Argon2idParams } from '../primitives/kdf.js';

/** A stored backup opened for random access by {@link openBackupPayload}. */
export interface BackupPayloadReader extends ChunkedReader {
  /** The header's length: the payload (the Cobblestone message) starts at this byte. */
  readonly headerSize: number;
}

async function exactly(source: RandomAccessSource, offset: number, length: number): Promise<Uint8Array> {
  if (source.size < offset + length)
    throw new E2EEError('TRUNCATED', `the backup is ${source.size} bytes, too short for its header`);
  const bytes = await source.read(offset, length);
  if (bytes.length !== length)
    throw new E2EEError('TRUNCATED', `the source returned ${bytes.length} bytes, not ${length}`);
  return bytes;
}

/**
 * Opens a backup for random access to its payload's plaintext: the framed bytes of SPEC.md §5
 * (the metadata record, the body blocks, the end marker, the padding), each range authenticated
 * chunk by chunk before it is returned. The header is authenticated by the key commitment, and
 * the payload's length by its final chunk, before this returns.
 *
 * @throws What `decryptBackup` throws for the header and credentials (`WRONG_KEY`,
 * `WRONG_PASSWORD`, `HEADER_AUTH`, `MALFORMED_HEADER` …); `TRUNCATED` or `CHUNK_AUTH` for a
 * damaged payload; `IO` if the source fails.
 *
 * @example
 * ```ts
 * const reader = await openBackupPayload(await store.source(name), { key });
 * const chunk7 = await reader.read(7 * 16384, 16384); // two Range requests at most
 * ```
 */
export async function openBackupPayload(
  source: RandomAccessSource,
  credentials: BackupCredentials,
  options: {
    /** Upper bounds on a password slot's Argon2id parameters (default m 1 GiB, t 16, p 16). */
    kdfMaxima?: Partial<Argon2idParams>;
  } = {},
): Promise<BackupPayloadReader> {
  const size = headerLength(await exactly(source, 0, HEADER_FIXED_SIZE));
  const header = parseHeader(await exactly(source, 0, size));
  const key = typeof credentials.key === 'string' ? parseBackupKey(credentials.key) : credentials.key;
  const fileKey = await unlockFileKey(
    header,
    { key, password: credentials.password },
    { kdfMaxima: options.kdfMaxima },
  );
  try {
    const reader = await openChunked(
      fileKey,
      { size: source.size - size, read: (offset, length) => source.read(size + offset, length) },
      { context: header.bytes },
    );
    return { headerSize: size, plaintextSize: reader.plaintextSize, read: (o, n) => reader.read(o, n) };
  } catch (e) {
    // The slot opened, so a commitment that does not match means the header was changed.
    if (e instanceof E2EEError && e.code === 'COMMITMENT_MISMATCH')
      throw new E2EEError('HEADER_AUTH', 'the backup header does not authenticate: it was modified', {
        cause: e,
      });
    throw e;
  } finally {
    fileKey.fill(0);
  }
}
