/**
 * Keeping exactly one current backup, and never none: `createBackup` writes the new backup under
 * a new name, runs a restore drill on it, and only then deletes the previous ones; `restoreLatest`
 * opens the newest backup and refuses one older than a generation already seen (rollback).
 *
 * @module
 */

import { sha256 } from '@noble/hashes/sha2.js';
import {
  type BackupCredentials,
  type BackupInput,
  type BackupMetadata,
  decryptBackup,
  type EncryptBackupOptions,
  encryptBackup,
  type JsonValue,
} from './backup.js';
import { constantTimeEqual, randomBytes } from './bytes.js';
import { E2EEError } from './errors.js';
import { MAGIC } from './header.js';
import { resumableBackup } from './s3/resume-backup.js';
import type { BackupStore, StoredBackup } from './store.js';
import { toStream } from './streams.js';

const ENCRYPTED_NAME = /^backup-(\d{16})-([0-9a-f]{12})\.e2ee$/;

function nameGeneration(name: string): number | undefined {
  const m = ENCRYPTED_NAME.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** A backup in a store, as {@link listBackups} finds it. */
export interface BackupEntry extends StoredBackup {
  /** Whether it starts with the e2ee-backup magic bytes. */
  readonly encrypted: boolean;
  /** The generation in its name (unauthenticated until opened), for encrypted ones. */
  readonly generation?: number;
}

async function firstBytes(store: BackupStore, name: string, n: number): Promise<Uint8Array> {
  const reader = (await store.get(name)).getReader();
  const out = new Uint8Array(n);
  let got = 0;
  try {
    while (got < n) {
      const { done, value } = await reader.read();
      if (done) break;
      out.set(value.subarray(0, n - got), got);
      got += Math.min(value.length, n - got);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return out.subarray(0, got);
}

/** Lists a store's entries, telling encrypted backups (by their magic bytes) from anything else. */
export async function listBackups(store: BackupStore): Promise<BackupEntry[]> {
  const out: BackupEntry[] = [];
  for (const e of await store.list()) {
    const head = await firstBytes(store, e.name, MAGIC.length);
    const encrypted = head.length === MAGIC.length && constantTimeEqual(head, MAGIC);
    const m = ENCRYPTED_NAME.exec(e.name);
    out.push({ ...e, encrypted, ...(encrypted && m ? { generation: Number(m[1]) } : {}) });
  }
  return out;
}

/** Opens a backup's metadata (authenticated) without reading its body. */
async function openMetadata(
  store: BackupStore,
  name: string,
  credentials: BackupCredentials,
): Promise<BackupMetadata> {
  const { metadata, stream } = await decryptBackup(await store.get(name), credentials);
  await stream.cancel();
  return metadata;
}

/** Options of {@link createBackup}. */
export interface CreateBackupOptions extends Omit<EncryptBackupOptions, 'generation'> {
  /** The newest generation this device has seen: the new backup gets a larger one. */
  newestSeen?: number;
}

/** What {@link createBackup} did. */
export interface CreatedBackup {
  /** The new backup's name in the store. */
  readonly name: string;
  /** Its generation: one more than the newest found in the store or given as `newestSeen`. */
  readonly generation: number;
  /** SHA-256 of the plaintext, as checked by the restore drill. */
  readonly sha256: Uint8Array;
  /** Entries removed after the new backup verified (older backups, unencrypted copies). */
  readonly removed: readonly string[];
}

function hashing(
  input: ReadableStream<Uint8Array>,
  h: ReturnType<typeof sha256.create>,
): ReadableStream<Uint8Array> {
  return input.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        h.update(chunk);
        c.enqueue(chunk);
      },
    }),
  );
}

/**
 * Makes a new encrypted backup and retires the old ones, in an order that always leaves at least
 * one complete, decryptable backup in the store:
 *
 * 1. the generation is one more than the newest found in the store (or `newestSeen`);
 * 2. the backup is written under a new name (the store's `put` is atomic);
 * 3. a restore drill decrypts it from the store: every chunk must authenticate, the metadata must
 *    be what was written, and the plaintext's SHA-256 must match what went in;
 * 4. only then are older backups — and any unencrypted copy — deleted.
 *
 * A failure in 2 or 3 removes the new (unverified) backup and leaves the old ones as they were;
 * a failure in 4 leaves the new, verified backup plus some old ones.
 *
 * @throws An E2EEError with code `MALFORMED_PAYLOAD` if the restore drill fails, `IO` if the store
 * fails, or what `encryptBackup` throws for bad options (e.g. `INVALID_ARGUMENT`, `KDF_PARAMS`).
 *
 * @example
 * ```ts
 * const { generation } = await createBackup(createFileStore('/backups'), exportStream, { key });
 * ```
 */
export async function createBackup(
  store: BackupStore,
  source: BackupInput,
  options: CreateBackupOptions,
): Promise<CreatedBackup> {
  const credentials = { key: options.key, password: options.password };
  const before = await listBackups(store);
  let generation = (options.newestSeen ?? -1) + 1;
  for (const e of before) {
    if (!e.encrypted) continue;
    try {
      generation = Math.max(generation, (await openMetadata(store, e.name, credentials)).generation + 1);
    } catch {
      // A backup we cannot open does not count towards the generation (and will be replaced).
    }
  }
  // A store that kept an interrupted upload of this backup set resumes it (src/s3/resume-backup.ts).
  const resumed = await resumableBackup(store, options, generation, nameGeneration);
  if (resumed) generation = resumed.generation;
  const name =
    resumed?.name ??
    `backup-${String(generation).padStart(16, '0')}-${Array.from(randomBytes(6), (b) => b.toString(16).padStart(2, '0')).join('')}.e2ee`;
  const h = sha256.create();
  const app = options.metadata ?? {};
  try {
    const input = hashing(toStream(source), h);
    await store.put(
      name,
      resumed ? resumed.encrypt(input) : encryptBackup(input, { ...options, generation }),
    );
  } catch (e) {
    await store.delete(name).catch(() => {});
    throw e;
  }
  const digest = h.digest();
  try {
    await verify(store, name, credentials, generation, app, digest);
  } catch (e) {
    await store.delete(name).catch(() => {});
    throw e;
  }
  const removed: string[] = [];
  for (const e of before) {
    await store.delete(e.name);
    removed.push(e.name);
  }
  return { name, generation, sha256: digest, removed };
}

/** The restore drill: decrypt from the store, check metadata and plaintext hash. */
async function verify(
  store: BackupStore,
  name: string,
  credentials: BackupCredentials,
  generation: number,
  app: { [key: string]: JsonValue },
  digest: Uint8Array,
): Promise<void> {
  const { metadata, stream } = await decryptBackup(await store.get(name), credentials);
  const h = sha256.create();
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    h.update(value);
  }
  if (metadata.generation !== generation || JSON.stringify(metadata.app) !== JSON.stringify(app))
    throw new E2EEError('MALFORMED_PAYLOAD', `restore drill: ${name} holds other metadata than was written`);
  if (!constantTimeEqual(h.digest(), digest))
    throw new E2EEError('MALFORMED_PAYLOAD', `restore drill: ${name} does not decrypt to what was written`);
}

/** Options of {@link restoreLatest}. */
export interface RestoreOptions {
  /**
   * The newest generation this device (or the vault) has seen. A newest backup older than this
   * is a rollback — someone put an old backup back — and is refused with `ROLLBACK`.
   */
  newestSeen?: number;
  /** Restore an older generation anyway (the caller has asked the user). */
  allowRollback?: boolean;
}

/**
 * Opens the newest encrypted backup in the store that the credentials open (by authenticated
 * generation). Returns its metadata and a body stream (provisional until it closes, as with
 * `decryptBackup`).
 *
 * @throws An E2EEError with code `ROLLBACK` if the newest backup is older than `newestSeen`; `IO` if
 * the store holds no encrypted backup; otherwise, when no backup opens, the error of the last one
 * tried (e.g. `WRONG_KEY`, `WRONG_PASSWORD`). The stream errors with `CHUNK_AUTH`, `TRUNCATED` etc.
 * if the body is damaged.
 *
 * @example
 * ```ts
 * const { metadata, stream } = await restoreLatest(createFileStore('/backups'), { key }, { newestSeen });
 * await stream.pipeTo(destination); // only trust what arrived once this resolves
 * ```
 */
export async function restoreLatest(
  store: BackupStore,
  credentials: BackupCredentials,
  options: RestoreOptions = {},
): Promise<{
  /** The backup's name in the store. */
  name: string;
  /** Its authenticated metadata, including the generation: remember it as the next `newestSeen`. */
  metadata: BackupMetadata;
  /** The plaintext; errors if the body is damaged, so treat it as provisional until it closes. */
  stream: ReadableStream<Uint8Array>;
}> {
  let best: { name: string; generation: number } | undefined;
  let lastError: unknown;
  for (const e of await listBackups(store)) {
    if (!e.encrypted) continue;
    try {
      const m = await openMetadata(store, e.name, credentials);
      if (!best || m.generation > best.generation) best = { name: e.name, generation: m.generation };
    } catch (err) {
      lastError = err;
    }
  }
  if (!best) {
    if (lastError) throw lastError;
    throw new E2EEError('IO', 'the store holds no encrypted backup');
  }
  if (options.newestSeen !== undefined && best.generation < options.newestSeen && !options.allowRollback)
    throw new E2EEError(
      'ROLLBACK',
      `the newest backup here is generation ${best.generation}, older than generation ${options.newestSeen} already seen: ` +
        'an older backup was put back in place of a newer one (allowRollback restores it anyway)',
    );
  const { metadata, stream } = await decryptBackup(await store.get(best.name), credentials);
  return { name: best.name, metadata, stream };
}

export * from './setup.js';
export * from './store.js';
