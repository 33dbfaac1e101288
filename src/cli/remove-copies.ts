/**
 * `backup create --remove-source` and `--replaces FILE`: unencrypted copies the user names,
 * removed only once the new backup has verified, and only if each is still what was checked.
 *
 * @module
 */

import type { Stats } from 'node:fs';
import { lstat, open, realpath, unlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { MAGIC } from '../header.js';
import { usageError, withContext } from './exit-codes.js';

/** A file to remove after the backup, as it was when checked. */
export interface CopyToRemove {
  /** The path as given. */
  readonly path: string;
  /** `source` (the file backed up) or `replaced` (named by --replaces). */
  readonly role: 'source' | 'replaced';
  readonly stat: Stats;
}

async function startsWithMagic(path: string): Promise<boolean> {
  const h = await open(path, 'r');
  try {
    const buf = new Uint8Array(MAGIC.length);
    const { bytesRead } = await h.read(buf, 0, buf.length, 0);
    return bytesRead === MAGIC.length && buf.every((b, i) => b === MAGIC[i]);
  } finally {
    await h.close();
  }
}

/**
 * Checks, before anything is written, that each path is a regular file that may be removed:
 * not an encrypted backup (for --replaces), not one of the files the command itself relies on.
 */
export async function checkCopies(
  copies: { path: string; role: 'source' | 'replaced' }[],
  protectedFiles: (string | undefined)[],
): Promise<CopyToRemove[]> {
  const guarded = new Set<string>();
  for (const p of protectedFiles) if (p !== undefined) guarded.add(await realpath(p).catch(() => resolve(p)));
  const out: CopyToRemove[] = [];
  for (const { path, role } of copies) {
    const flag = role === 'source' ? '--remove-source' : '--replaces';
    const st = await lstat(path).catch((e: unknown) => {
      throw withContext(e, `cannot check ${path} (${flag})`);
    });
    if (!st.isFile())
      throw usageError(`${flag}: ${path} is not a regular file`, 'Name the unencrypted copy itself');
    if (guarded.has(await realpath(path)))
      throw usageError(
        `${flag}: ${path} is a file this command uses (the key, password or state file)`,
        'Name the unencrypted copy of the data',
      );
    if (role === 'replaced' && (await startsWithMagic(path)))
      throw usageError(
        `--replaces: ${path} is an encrypted backup, not an unencrypted copy`,
        'Backups in the store are retired by the rotation; remove other backups yourself',
      );
    out.push({ path, role, stat: st });
  }
  return out;
}

/**
 * Removes each copy that is still the file that was checked (same inode, size and modification
 * time); returns what was removed and what was kept, with why.
 */
export async function removeCopies(
  copies: CopyToRemove[],
): Promise<{ removed: string[]; kept: { path: string; why: string }[] }> {
  const removed: string[] = [];
  const kept: { path: string; why: string }[] = [];
  for (const c of copies) {
    try {
      const now = await lstat(c.path);
      if (
        now.ino !== c.stat.ino ||
        now.dev !== c.stat.dev ||
        now.size !== c.stat.size ||
        now.mtimeMs !== c.stat.mtimeMs
      ) {
        kept.push({ path: c.path, why: 'it changed while the backup was made' });
        continue;
      }
      await unlink(c.path);
      removed.push(c.path);
    } catch (e) {
      kept.push({ path: c.path, why: e instanceof Error ? e.message : String(e) });
    }
  }
  return { removed, kept };
}
