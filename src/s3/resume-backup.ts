/**
 * The lifecycle's side of resumable uploads: finding an interrupted backup that a store kept
 * (`pendingPuts`), checking it is this caller's and made with the same options, and encrypting
 * the source again into exactly the same bytes, so that the store can skip what it already sent.
 *
 * The same bytes need the same header, file key and payload salt. None of them is kept anywhere
 * new: the header and salt are the first bytes of the object, which the store's resume state
 * holds (the provider holds them too), and the file key is unwrapped from that header with the
 * caller's credentials, as any decryption does. The creation time comes from the authenticated
 * metadata record in those first bytes. SPEC.md §11 has the rule and why it is safe.
 *
 * No AWS SDK here: the lifecycle imports this module.
 *
 * @module
 */

import type { EncryptBackupOptions } from '../backup.js';
import { encryptBackup } from '../backup.js';
import { constantTimeEqual } from '../bytes.js';
import { createMessageOpener, HEADER_SIZE, RECORD_SIZE, SALT_SIZE } from '../chunked.js';
import { type BackupMetadata, byteReader, decodeFraming } from '../framing.js';
import { FLAG_COMPRESSED, FLAG_PADDED, parseHeader, unlockFileKey } from '../header.js';
import { DEFAULT_KDF_PARAMS } from '../kdf.js';
import { parseBackupKey } from '../key.js';
import { RESUME_KEYING } from '../payload.js';
import type { BackupStore } from '../store.js';

/** An interrupted `put` a store kept: the name it was writing and its first bytes. */
export interface PendingPut {
  /** The name it was writing. */
  readonly name: string;
  /** The first bytes it was writing (up to 96 KiB). */
  readonly head: Uint8Array;
}

/** A store that keeps interrupted `put`s to be resumed (the S3 store with a resume state). */
export interface ResumablePuts {
  /** The interrupted `put`s it remembers. */
  pendingPuts(): Promise<PendingPut[]>;
  /** Aborts an interrupted `put` of `name` and forgets it. */
  discardPut(name: string): Promise<void>;
}

function resumable(store: BackupStore): store is BackupStore & ResumablePuts {
  const s = store as Partial<ResumablePuts>;
  return typeof s.pendingPuts === 'function' && typeof s.discardPut === 'function';
}

/** What a pending backup holds, once opened with the caller's credentials. */
interface Opened {
  header: Uint8Array;
  fileKey: Uint8Array;
  salt: Uint8Array;
  /** Its metadata record, unless the head does not decode. */
  metadata?: BackupMetadata;
  /** Whether it was made with the options now given (slots, flags, metadata, time). */
  sameOptions: boolean;
}

/**
 * Opens a pending backup's head with the credentials; `undefined` when they do not open it (it
 * is not the caller's: leave it alone).
 */
async function openHead(head: Uint8Array, options: EncryptBackupOptions): Promise<Opened | undefined> {
  let header: ReturnType<typeof parseHeader>;
  let fileKey: Uint8Array;
  const key = typeof options.key === 'string' ? parseBackupKey(options.key) : options.key;
  try {
    header = parseHeader(head);
    fileKey = await unlockFileKey(header, { key, password: options.password });
  } catch {
    return undefined;
  }
  const h = header.bytes.length;
  try {
    const prefix = head.subarray(h, h + HEADER_SIZE);
    const opener = await createMessageOpener(fileKey, prefix, { context: header.bytes });
    const records = Math.floor((head.length - h - HEADER_SIZE) / RECORD_SIZE);
    const plain = new Uint8Array(records * (RECORD_SIZE - 16));
    await opener.open(
      head.subarray(h + HEADER_SIZE, h + HEADER_SIZE + records * RECORD_SIZE),
      plain,
      0,
      false,
    );
    const r = byteReader(
      new ReadableStream({
        start(c) {
          c.enqueue(plain);
          c.close();
        },
      }),
    );
    const { metadata, body } = await decodeFraming(r, {
      compressed: (header.flags & FLAG_COMPRESSED) !== 0,
      padded: (header.flags & FLAG_PADDED) !== 0,
      maxOutputBytes: Number.POSITIVE_INFINITY,
      lent: false,
    });
    await body.cancel().catch(() => {});
    const flags =
      ((options.compression ?? 'deflate') === 'deflate' ? FLAG_COMPRESSED : 0) |
      ((options.padding ?? 'padme') === 'padme' ? FLAG_PADDED : 0);
    let sameOptions =
      header.flags === flags &&
      header.slots.length ===
        (options.key !== undefined ? 1 : 0) + (options.password !== undefined ? 1 : 0) &&
      JSON.stringify(metadata.app) === JSON.stringify(options.metadata ?? {}) &&
      (options.createdAt === undefined || options.createdAt.toISOString() === metadata.created) &&
      new Date(metadata.created).toISOString() === metadata.created;
    // Each slot asked for must be there and open to the same file key (a second credential too).
    for (const slot of header.slots) {
      if (!sameOptions) break;
      if (slot.type === 'password') {
        const kdf = { ...DEFAULT_KDF_PARAMS, ...options.kdf };
        sameOptions =
          options.password !== undefined &&
          slot.kdf.m === kdf.m &&
          slot.kdf.t === kdf.t &&
          slot.kdf.p === kdf.p &&
          (await unlockFileKey({ ...header, slots: [slot] }, { password: options.password })
            .then((k) => constantTimeEqual(k, fileKey))
            .catch(() => false));
      } else
        sameOptions =
          key !== undefined &&
          (await unlockFileKey({ ...header, slots: [slot] }, { key })
            .then((k) => constantTimeEqual(k, fileKey))
            .catch(() => false));
    }
    return { header: header.bytes, fileKey, salt: prefix.slice(0, SALT_SIZE), metadata, sameOptions };
  } catch {
    // The credentials open the slot but the head does not decode: ours, and broken.
    return { header: header.bytes, fileKey, salt: new Uint8Array(0), sameOptions: false };
  }
}

/** A backup to resume: its name, its generation and how to encrypt the source into its bytes. */
export interface ResumedBackup {
  readonly name: string;
  readonly generation: number;
  /** The source encrypted into the same bytes as the interrupted attempt's (given the same source). */
  encrypt(input: ReadableStream<Uint8Array>): ReadableStream<Uint8Array>;
}

/**
 * The interrupted backup of this caller to resume, if the store kept one that the credentials
 * open, made with the same options, whose generation (in its name and its metadata) is at least
 * `generation`, the one a new backup would get. Interrupted backups the credentials open but that
 * cannot be resumed are discarded (they are the caller's, and superseded); others are left alone.
 *
 * @param nameGeneration - the generation a backup name claims, or `undefined` for other names.
 */
export async function resumableBackup(
  store: BackupStore,
  options: EncryptBackupOptions,
  generation: number,
  nameGeneration: (name: string) => number | undefined,
): Promise<ResumedBackup | undefined> {
  if (!resumable(store)) return undefined;
  const candidates: { name: string; opened: Opened }[] = [];
  for (const p of await store.pendingPuts()) {
    if (nameGeneration(p.name) === undefined) continue;
    const opened = await openHead(p.head, options);
    if (opened) candidates.push({ name: p.name, opened });
  }
  candidates.sort((a, b) => (b.opened.metadata?.generation ?? -1) - (a.opened.metadata?.generation ?? -1));
  let chosen: ResumedBackup | undefined;
  for (const { name, opened } of candidates) {
    const g = opened.metadata?.generation;
    const { header, fileKey, salt, metadata } = opened;
    if (
      !chosen &&
      metadata &&
      opened.sameOptions &&
      g === nameGeneration(name) &&
      g !== undefined &&
      g >= generation
    ) {
      chosen = {
        name,
        generation: g,
        encrypt: (input) =>
          encryptBackup(input, {
            ...options,
            generation: g,
            createdAt: new Date(metadata.created),
            // The receiver wipes the file key it is given; no other copy stays.
            [RESUME_KEYING]: async () => {
              const given = fileKey.slice();
              fileKey.fill(0);
              return { bytes: header, fileKey: given, salt };
            },
          } as EncryptBackupOptions),
      };
      continue;
    }
    fileKey.fill(0);
    await store.discardPut(name);
  }
  return chosen;
}
