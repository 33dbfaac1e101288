/**
 * Where backups live: a small interface that a filesystem, an in-memory map or an S3 bucket can
 * implement. `put` must be atomic (a name appears only with its complete bytes), which is what
 * lets rotation promise that a store never holds only a broken backup.
 *
 * @module
 */

import { E2EEError } from '../errors.js';

/** One entry of a {@link BackupStore}. */
export interface StoredBackup {
  /** The name it is stored under. */
  readonly name: string;
  /** Its size in bytes. */
  readonly size: number;
}

/** A place to keep backups. Names are plain strings of `[A-Za-z0-9._-]`, 1–200 characters. */
export interface BackupStore {
  /** Stores `data` under `name`. Atomic: on failure nothing under `name` changes. */
  put(name: string, data: ReadableStream<Uint8Array>): Promise<void>;
  /** The bytes stored under `name`; `IO` error if there are none. */
  get(name: string): Promise<ReadableStream<Uint8Array>>;
  /** Every entry, in no particular order. */
  list(): Promise<StoredBackup[]>;
  /** Removes `name`; removing a missing name is not an error. */
  delete(name: string): Promise<void>;
}

const NAME = /^[A-Za-z0-9._-]{1,200}$/;

/** Throws unless `name` is a valid store name (no separators, no `..`). */
export function checkStoreName(name: string): void {
  if (typeof name !== 'string' || !NAME.test(name) || name === '.' || name === '..')
    throw new E2EEError(
      'INVALID_ARGUMENT',
      `'${String(name)}' is not a valid backup name ([A-Za-z0-9._-], 1–200)`,
    );
}

/**
 * An in-memory store, for tests and for apps that hand bytes to their own storage.
 *
 * @example
 * ```ts
 * const store = createMemoryStore();
 * await createBackup(store, chatExport, { key, set: deviceId }); // deviceId: made once per install
 * ```
 */
export function createMemoryStore(): BackupStore & {
  /** The stored bytes by name, to inspect or hand to other storage (not copied: do not mutate). */
  readonly entries: Map<string, Uint8Array>;
} {
  const entries = new Map<string, Uint8Array>();
  return {
    entries,
    async put(name, data) {
      checkStoreName(name);
      // Each piece copied as it arrives: a producer may refill its buffer once a read has
      // returned, so a reference kept until the end would hold later bytes, not these.
      const pieces: Uint8Array[] = [];
      let size = 0;
      const reader = data.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        pieces.push(value.slice());
        size += value.length;
      }
      const all = new Uint8Array(size);
      let o = 0;
      for (const p of pieces) {
        all.set(p, o);
        o += p.length;
      }
      entries.set(name, all);
    },
    async get(name) {
      checkStoreName(name);
      const bytes = entries.get(name);
      if (!bytes) throw new E2EEError('IO', `no backup named ${name}`);
      return new ReadableStream({
        start(c) {
          c.enqueue(new Uint8Array(bytes));
          c.close();
        },
      });
    },
    async list() {
      return [...entries].map(([name, b]) => ({ name, size: b.length }));
    },
    async delete(name) {
      checkStoreName(name);
      entries.delete(name);
    },
  };
}

/** An interrupted `put` a store kept: the name it was writing and its first bytes. */
export interface PendingPut {
  /** The name it was writing. */
  readonly name: string;
  /** The first bytes it was writing (up to 96 KiB). */
  readonly head: Uint8Array;
  /**
   * Whether a live writer (another process, or another call in this one) is working on it now:
   * then it is neither resumed nor discarded.
   */
  readonly inUse: boolean;
}

/** A store that keeps interrupted `put`s to be resumed (the S3 store with a resume state). */
export interface ResumablePuts {
  /** The interrupted `put`s it remembers. */
  pendingPuts(): Promise<PendingPut[]>;
  /** Aborts an interrupted `put` of `name` and forgets it, unless a live writer holds it. */
  discardPut(name: string): Promise<void>;
}
