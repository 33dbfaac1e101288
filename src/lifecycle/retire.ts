/**
 * The one decision in this package that deletes data: whether a store entry is a backup that a
 * new, verified backup supersedes. It is a pure function of facts gathered beforehand, so that it
 * can be read, and tested, on its own (SPEC.md §5.1, "Backup sets").
 *
 * @module
 */

import type { ErrorCode } from '../errors.js';

/** How `createBackup` names the backups it writes: generation (16 digits) and 12 random hex digits. */
export const BACKUP_NAME = /^backup-(\d{16})-([0-9a-f]{12})\.e2ee$/;

/** The generation an entry's name claims (unauthenticated), or `undefined` if it is not so named. */
export function claimedGeneration(name: string): number | undefined {
  const m = BACKUP_NAME.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * Why a store entry was left in place:
 *
 * - `not-a-backup`: not named as `createBackup` names backups (`backup-<generation>-<random>.e2ee`),
 *   or, where names do not matter (`restoreLatest`, `listBackups`), not an encrypted backup;
 * - `another-key`: the credential does not open it (another key or password, or no slot for it);
 * - `kdf-limit`: its password slot asks for more Argon2id work than allowed, so it was skipped
 *   without running Argon2id;
 * - `unreadable`: it cannot be opened (damaged, a version this library does not read, or the
 *   store failed to read it), or it is named as a backup but does not start like one;
 * - `another-set`: it opens, but belongs to another backup set, or to none;
 * - `newer`: it is of the same set, but its generation is not lower than the new backup's;
 * - `remove-failed`: it is superseded, but the store failed to remove it (tried again next time).
 */
export type KeptReason =
  | 'not-a-backup'
  | 'another-key'
  | 'kdf-limit'
  | 'unreadable'
  | 'another-set'
  | 'newer'
  | 'remove-failed';

/** What is known about one store entry: the input of {@link retirementVerdict}. */
export interface EntryFacts {
  /** Its name in the store. */
  readonly name: string;
  /** Whether it starts with the e2ee-backup magic bytes. */
  readonly encrypted: boolean;
  /** Its authenticated metadata, when the credential opened it. */
  readonly opened?: { readonly generation: number; readonly set?: string };
  /** When it did not open: the code of the error (`undefined` for an error without one). */
  readonly failure?: ErrorCode;
}

/** The backup just written and verified, against which the others are judged. */
export interface WrittenBackup {
  readonly set: string;
  readonly generation: number;
}

/** Remove the entry, or keep it and say why. */
export type Verdict = { readonly remove: true } | { readonly remove: false; readonly reason: KeptReason };

/** Why an entry that did not open was not opened. */
export function failureReason(
  code: ErrorCode | undefined,
): Exclude<KeptReason, 'another-set' | 'newer' | 'remove-failed'> {
  if (code === 'WRONG_KEY' || code === 'WRONG_PASSWORD' || code === 'NO_MATCHING_SLOT') return 'another-key';
  if (code === 'KDF_PARAMS') return 'kdf-limit';
  return 'unreadable';
}

const keep = (reason: KeptReason): Verdict => ({ remove: false, reason });

/**
 * Whether `entry` is proven superseded by `written`, which has been written and verified: it is
 * named as backups are named, a credential the writer was given (key or password) opened it, it
 * belongs to the same set, and its authenticated generation is lower. Anything else is kept.
 */
export function retirementVerdict(entry: EntryFacts, written: WrittenBackup): Verdict {
  if (!BACKUP_NAME.test(entry.name)) return keep('not-a-backup');
  // Named as a backup but without the magic bytes: it may be one of ours, damaged.
  if (!entry.encrypted) return keep('unreadable');
  if (entry.opened === undefined) return keep(failureReason(entry.failure));
  if (entry.opened.set === undefined || entry.opened.set !== written.set) return keep('another-set');
  if (!(entry.opened.generation < written.generation)) return keep('newer');
  return { remove: true };
}
