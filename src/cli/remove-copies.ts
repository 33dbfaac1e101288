/**
 * `backup create --remove-source` and `--replaces FILE`: unencrypted copies the user names,
 * removed only once the new backup has verified, and only if each is still what was checked.
 *
 * @module
 */

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Stats } from 'node:fs';
import { link, lstat, open, realpath, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { MAGIC } from '../container/header.js';
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
 * time) and, for the source, still holds exactly what was backed up (its SHA-256 is the backup's
 * plaintext's: a same-size rewrite within the clock's granularity keeps the same size and time).
 * Each is first renamed to a private name, so that a new version saved under its name meanwhile
 * (an editor's rename) is never what is removed; one that fails the checks is put back, never over
 * a file that has appeared at its name (it is then left at the private name, and said so).
 * Returns what was removed and what was kept, with why.
 */
export async function removeCopies(
  copies: CopyToRemove[],
  sourceSha256: Uint8Array,
): Promise<{ removed: string[]; kept: { path: string; why: string }[] }> {
  const removed: string[] = [];
  const kept: { path: string; why: string }[] = [];
  for (const c of copies) {
    const aside = join(dirname(c.path), `.${basename(c.path)}.${randomBytes(6).toString('hex')}.removing`);
    try {
      await rename(c.path, aside);
    } catch (e) {
      kept.push({ path: c.path, why: e instanceof Error ? e.message : String(e) });
      continue;
    }
    let why: string | undefined;
    try {
      why = await changed(aside, c, sourceSha256);
    } catch (e) {
      why = e instanceof Error ? e.message : String(e);
    }
    if (why === undefined) {
      try {
        await unlink(aside);
        removed.push(c.path);
        continue;
      } catch (e) {
        why = e instanceof Error ? e.message : String(e);
      }
    }
    kept.push({ path: c.path, why: await putBack(aside, c.path, why) });
  }
  return { removed, kept };
}

/** Why the file now at `aside` is not the copy that was checked, or `undefined` if it is. */
async function changed(
  aside: string,
  c: CopyToRemove,
  sourceSha256: Uint8Array,
): Promise<string | undefined> {
  const h = await open(aside, 'r');
  try {
    const same = (st: Stats) =>
      st.ino === c.stat.ino &&
      st.dev === c.stat.dev &&
      st.size === c.stat.size &&
      st.mtimeMs === c.stat.mtimeMs;
    if (!same(await h.stat())) return 'it changed while the backup was made';
    if (c.role !== 'source') return undefined;
    const hash = createHash('sha256');
    const buf = new Uint8Array(1 << 20);
    for (;;) {
      const { bytesRead } = await h.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
    if (!same(await h.stat()) || !timingSafeEqual(hash.digest(), sourceSha256))
      return 'it does not hold what was backed up (it changed while the backup was made)';
    return undefined;
  } finally {
    await h.close();
  }
}

/** Puts `aside` back at `path`, never over a file that appeared there; returns why it was kept. */
async function putBack(aside: string, path: string, why: string): Promise<string> {
  try {
    await link(aside, path); // fails if something is at `path` now
    await unlink(aside);
    return why;
  } catch (e) {
    const code = (e as { code?: string }).code;
    // No hard links on this file system: rename back, if the name is still free.
    if (
      code !== 'EEXIST' &&
      (await lstat(path).then(
        () => false,
        () => true,
      ))
    ) {
      try {
        await rename(aside, path);
        return why;
      } catch {
        // kept at the private name, below
      }
    }
    return `${why}; a new file is at its name now, so it is kept as ${aside}`;
  }
}
