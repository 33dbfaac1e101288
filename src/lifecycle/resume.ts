/**
 * The lifecycle's side of resumable uploads: opening the interrupted backups a store kept
 * (`pendingPuts`) with the caller's credential, saying what each is (its set and generation,
 * for the ownership rules of ./retire.ts) and whether it can be resumed with the options now
 * given, and encrypting the source again into exactly the same bytes, so that the store can
 * skip what it already sent.
 *
 * The same bytes need the same header, file key and payload salt. None of them is kept anywhere
 * new: the header and salt are the first bytes of the object, which the store's resume state
 * holds (the provider holds them too), and the file key is unwrapped from that header with the
 * caller's credential, as any decryption does. The creation time, generation and set come from
 * the authenticated metadata record in those first bytes. SPEC.md §11 has the rule and why it
 * is safe.
 *
 * A store offers interrupted uploads through the optional `ResumablePuts` capability of
 * ./store.ts (the S3 store implements it); this module knows no store of its own.
 *
 * @module
 */

import { createMessageOpener, HEADER_SIZE, RECORD_SIZE, SALT_SIZE } from '../cobblestone/message.js';
import type { BackupCredentials, EncryptBackupOptions } from '../container/backup.js';
import { encryptBackup } from '../container/backup.js';
import { type BackupMetadata, byteReader, decodeFraming } from '../container/framing.js';
import {
  FLAG_COMPRESSED,
  FLAG_PADDED,
  type Header,
  parseHeader,
  unlockFileKey,
} from '../container/header.js';
import { RESUME_KEYINGS } from '../container/payload-streams.js';
import { E2EEError } from '../errors.js';
import { constantTimeEqual } from '../internal/bytes.js';
import { parseBackupKey } from '../key/backup-key.js';
import { type Argon2idParams, DEFAULT_KDF_PARAMS } from '../primitives/kdf.js';
import { claimedGeneration, type EntryFacts } from './retire.js';
import type { BackupStore, PendingPut, ResumablePuts } from './store.js';

function resumable(store: BackupStore): store is BackupStore & ResumablePuts {
  const s = store as Partial<ResumablePuts>;
  return typeof s.pendingPuts === 'function' && typeof s.discardPut === 'function';
}

/** An interrupted backup of the store, as the caller's credential opens it. */
export interface PendingBackup {
  /** The name it was being written under. */
  readonly name: string;
  /** What is known about it, for `retirementVerdict` (it is never a store entry itself). */
  readonly facts: EntryFacts;
  /** Whether a live writer holds it (then it is left alone). */
  readonly inUse: boolean;
  /**
   * Present when it can be resumed with the options given: the same slots, flags and application
   * metadata, and a name that claims its authenticated generation. Encrypts the source into the
   * interrupted attempt's bytes (given the same source), with `set` as its metadata says.
   */
  readonly resume?: (input: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>;
  /** Wipes the file key it holds (after `resume` has been handed to an encryption, or not). */
  wipe(): void;
}

/** The options an interrupted backup's bytes depend on, as `createBackup` passes them on. */
export type ResumeOptions = EncryptBackupOptions & { set: string };

/** Decrypts the metadata record from the whole records of `head` after the header. */
async function headMetadata(head: Uint8Array, header: Header, fileKey: Uint8Array): Promise<BackupMetadata> {
  const h = header.bytes.length;
  const prefix = head.subarray(h, h + HEADER_SIZE);
  const opener = await createMessageOpener(fileKey, prefix, { context: header.bytes });
  const records = Math.floor((head.length - h - HEADER_SIZE) / RECORD_SIZE);
  const plain = new Uint8Array(records * (RECORD_SIZE - 16));
  await opener.open(head.subarray(h + HEADER_SIZE, h + HEADER_SIZE + records * RECORD_SIZE), plain, 0, false);
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
  plain.fill(0);
  return metadata;
}

/** Whether the header and metadata are what `options` would write (the slots open to `fileKey`). */
async function sameOptions(
  header: Header,
  metadata: BackupMetadata,
  fileKey: Uint8Array,
  options: ResumeOptions,
  key: Uint8Array | undefined,
): Promise<boolean> {
  const flags =
    ((options.compression ?? 'deflate') === 'deflate' ? FLAG_COMPRESSED : 0) |
    ((options.padding ?? 'padme') === 'padme' ? FLAG_PADDED : 0);
  const same =
    header.flags === flags &&
    header.slots.length === (key !== undefined ? 1 : 0) + (options.password !== undefined ? 1 : 0) &&
    JSON.stringify(metadata.app) === JSON.stringify(options.metadata ?? {}) &&
    (options.createdAt === undefined || options.createdAt.toISOString() === metadata.created) &&
    new Date(metadata.created).toISOString() === metadata.created;
  if (!same) return false;
  // Each slot asked for must be there and open to the same file key (a second credential too).
  const kdf: Argon2idParams = { ...DEFAULT_KDF_PARAMS, ...options.kdf };
  for (const slot of header.slots) {
    const opens = (credentials: { key?: Uint8Array; password?: string }) =>
      unlockFileKey({ ...header, slots: [slot] }, credentials)
        .then((k) => constantTimeEqual(k, fileKey))
        .catch(() => false);
    const ok =
      slot.type === 'password'
        ? // Argon2id runs only with the parameters this call writes with.
          options.password !== undefined &&
          slot.kdf.m === kdf.m &&
          slot.kdf.t === kdf.t &&
          slot.kdf.p === kdf.p &&
          (await opens({ password: options.password }))
        : key !== undefined && (await opens({ key }));
    if (!ok) return false;
  }
  return true;
}

/**
 * Opens one interrupted backup's head with `owner` (the backup key when there is one, as the
 * lifecycle proves ownership). Never throws for what the head holds: that is a fact about it.
 */
async function openPending(
  p: PendingPut,
  options: ResumeOptions,
  owner: BackupCredentials,
  kdfMaxima: Partial<Argon2idParams>,
): Promise<PendingBackup> {
  const none = () => {};
  let header: Header;
  try {
    header = parseHeader(p.head);
  } catch (e) {
    return {
      name: p.name,
      inUse: p.inUse,
      facts: { name: p.name, encrypted: true, failure: codeOf(e) },
      wipe: none,
    };
  }
  const ownerKey = typeof owner.key === 'string' ? parseBackupKey(owner.key) : owner.key;
  let fileKey: Uint8Array;
  try {
    fileKey = await unlockFileKey(header, { key: ownerKey, password: owner.password }, { kdfMaxima });
  } catch (e) {
    return {
      name: p.name,
      inUse: p.inUse,
      facts: { name: p.name, encrypted: true, failure: codeOf(e) },
      wipe: none,
    };
  }
  const wipe = () => fileKey.fill(0);
  let metadata: BackupMetadata;
  try {
    metadata = await headMetadata(p.head, header, fileKey);
  } catch (e) {
    // The credential opens the slot but the head does not decode: ours, and broken (kept).
    wipe();
    return {
      name: p.name,
      inUse: p.inUse,
      facts: { name: p.name, encrypted: true, failure: codeOf(e) },
      wipe,
    };
  }
  const facts: EntryFacts = {
    name: p.name,
    encrypted: true,
    opened: { generation: metadata.generation, set: metadata.set },
  };
  const key = typeof options.key === 'string' ? parseBackupKey(options.key) : options.key;
  const fits =
    !p.inUse &&
    metadata.set === options.set &&
    claimedGeneration(p.name) === metadata.generation &&
    (await sameOptions(header, metadata, fileKey, options, key));
  if (!fits) {
    wipe();
    return { name: p.name, inUse: p.inUse, facts, wipe };
  }
  const salt = p.head.slice(header.bytes.length, header.bytes.length + SALT_SIZE);
  const resume = (input: ReadableStream<Uint8Array>) => {
    const again: EncryptBackupOptions = {
      ...options,
      generation: metadata.generation,
      createdAt: new Date(metadata.created),
    };
    // The receiver wipes the copy it is given; `wipe` the original.
    RESUME_KEYINGS.set(again, async () => ({ bytes: header.bytes, fileKey: fileKey.slice(), salt }));
    return encryptBackup(input, again);
  };
  return { name: p.name, inUse: p.inUse, facts, resume, wipe };
}

function codeOf(e: unknown) {
  return e instanceof E2EEError ? e.code : undefined;
}

/**
 * The interrupted backups `store` kept (none if it keeps none), opened with `owner` (a password
 * slot asking for more Argon2id work than `kdfMaxima` is not run). Only names of backups count.
 * The caller wipes each one's file key when done (`wipe`).
 */
export async function pendingBackups(
  store: BackupStore,
  options: ResumeOptions,
  owner: BackupCredentials,
  kdfMaxima: Partial<Argon2idParams>,
): Promise<PendingBackup[]> {
  if (!resumable(store)) return [];
  const out: PendingBackup[] = [];
  try {
    for (const p of await store.pendingPuts())
      if (claimedGeneration(p.name) !== undefined) out.push(await openPending(p, options, owner, kdfMaxima));
  } catch (e) {
    for (const p of out) p.wipe();
    throw e;
  }
  return out;
}

/** Aborts an interrupted backup the lifecycle proved superseded (a store without them: nothing). */
export async function discardPending(store: BackupStore, name: string): Promise<void> {
  if (resumable(store)) await store.discardPut(name);
}
