/**
 * The backup key of `backup restore`, with the typo recovery `decrypt` and `verify` have: when
 * the code in the key file opens no backup in the store, the single substitution, swap, missing
 * or extra digit that does is found (on the newest-named backups first), reported, and used.
 *
 * @module
 */

import { recoverBackupKey } from '../container/backup.js';
import { backupKeyKek, MAX_HEADER_SIZE, parseHeader, unwrap } from '../container/header.js';
import { E2EEError } from '../errors.js';
import { parseBackupKey } from '../key/backup-key.js';
import { claimedGeneration } from '../lifecycle/retire.js';
import type { BackupStore } from '../lifecycle/store.js';
import type { Context } from './context.js';
import { inKeyFile, readKeyFileText } from './credentials.js';
import { reportCorrection } from './open-backup.js';

// Typo recovery tries about 1,000 candidates per backup: on this many at most.
const MAX_TYPO_TRIES = 8;

/** The first bytes of an entry (its header, if it is a backup); `undefined` if it cannot be read. */
async function headerOf(store: BackupStore, name: string): Promise<Uint8Array | undefined> {
  try {
    const reader = (await store.get(name)).getReader();
    const out = new Uint8Array(MAX_HEADER_SIZE);
    let got = 0;
    try {
      while (got < out.length) {
        const { done, value } = await reader.read();
        if (done) break;
        const n = Math.min(value.length, out.length - got);
        out.set(value.subarray(0, n), got);
        got += n;
      }
    } finally {
      await reader.cancel().catch(() => {});
    }
    parseHeader(out.subarray(0, got));
    return out.subarray(0, got);
  } catch {
    return undefined; // not a backup, or unreadable: restoreLatest will say so
  }
}

/** Reads the key file and returns the key that opens the store's backups, fixing one typo if need be. */
export async function keyForStore(store: BackupStore, keyFile: string, ctx: Context): Promise<Uint8Array> {
  const typed = await readKeyFileText(keyFile, ctx.warn);
  let exact: Uint8Array | undefined;
  let formatError: unknown;
  try {
    exact = parseBackupKey(typed);
  } catch (e) {
    formatError = inKeyFile(e, keyFile);
  }
  // Newest-named first: the backup that matters most, and the likeliest to be this key's.
  const entries = (await store.list())
    .map((e) => ({ name: e.name, claimed: claimedGeneration(e.name) ?? -1 }))
    .sort((a, b) => b.claimed - a.claimed || (a.name < b.name ? 1 : -1));
  const headers: Uint8Array[] = [];
  for (const e of entries) {
    const h = await headerOf(store, e.name);
    if (h) headers.push(h);
  }
  const opens = async (key: Uint8Array, header: Uint8Array) => {
    const slot = parseHeader(header).slots.find((s) => s.type === 'backup-key');
    return slot !== undefined && (await unwrap(backupKeyKek(key, slot.salt), slot)) !== undefined;
  };
  // The code as typed, on every backup: one unwrap each.
  if (exact) for (const h of headers) if (await opens(exact, h)) return exact;
  for (const h of headers.slice(0, MAX_TYPO_TRIES)) {
    try {
      const found = await recoverBackupKey(h, typed);
      if (found.correction)
        reportCorrection(
          keyFile,
          typed,
          found.key,
          found.correction,
          !ctx.quiet && process.stderr.isTTY === true,
        );
      return found.key;
    } catch (e) {
      if (!(e instanceof E2EEError) || (e.code !== 'WRONG_KEY' && e.code !== 'NO_MATCHING_SLOT'))
        throw inKeyFile(e, keyFile);
    }
  }
  // Nothing opens, even with one digit fixed: restoreLatest will say so (or the code is malformed).
  if (exact) return exact;
  throw formatError;
}
