/**
 * The CLI's memory of its backups, so that rollback protection works without the user tracking
 * numbers: per store (a folder, or an S3 bucket and prefix), this machine's backup set, the newest
 * generation it has confirmed (created or restored) and the largest it has used (a failed
 * attempt's included), whatever the credential — a backup made with a key and a password is known
 * to a restore with either — and the largest Argon2id parameters it has written there, so that it
 * can open its own backups.
 *
 * A small JSON file, `$XDG_CONFIG_HOME/e2ee-backup/state.json` (`~/.config/…` without it), or
 * `--state FILE`; written with the package's one file writer (atomically, mode 0600) before a
 * backup is uploaded, and after each create and restore. It holds no key and nothing of one.
 *
 * Writers take a lock file beside it (`state.json.lock`, created with O_EXCL): a `backup create`
 * holds it from reading the state until its generation is recorded, so that two creates never
 * reserve the same generation; any other change holds it while it reads and writes the file.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { link, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { BACKUP_SET_NAME } from '../container/framing.js';
import { openFileOutput } from '../node/file-output.js';
import type { Argon2idParams } from '../primitives/kdf.js';
import { configDir } from './config-dir.js';
import { CliError, EXIT, withContext } from './exit-codes.js';
import { cleanUpOnSignal } from './io.js';

/** What the CLI remembers about one store folder. */
export interface StoreState {
  /** The store folder, as an absolute path; or `s3://bucket/prefix/` (and ` at ENDPOINT`). */
  readonly store: string;
  /** This machine's backup set in that store (made at its first backup there). */
  set?: string;
  /** The newest generation created or restored here. */
  newest?: number;
  /** The largest generation used or seen here, failed attempts included. */
  used?: number;
  /** The largest Argon2id parameters of a password slot written here (each the largest). */
  kdf?: Argon2idParams;
}

interface StateFile {
  version: 1;
  stores: StoreState[];
}

/** `$XDG_CONFIG_HOME/e2ee-backup/state.json`, or `~/.config/e2ee-backup/state.json`. */
export function defaultStatePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), 'state.json');
}

/** A new backup set name for this machine: its host name and 6 random hex digits. */
export function newSetName(): string {
  const host = hostname()
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 40);
  const name = `${host || 'cli'}-${randomBytes(3).toString('hex')}`;
  return BACKUP_SET_NAME.test(name) ? name : `cli-${randomBytes(3).toString('hex')}`;
}

function damaged(path: string, why: string): CliError {
  return new CliError(
    EXIT.CORRUPT,
    `the state file ${path} is damaged (${why})`,
    'Fix or remove it; without it, rollback protection starts over (give --newest-seen N to keep it)',
  );
}

const isGeneration = (v: unknown) => v === undefined || (Number.isSafeInteger(v) && (v as number) >= 0);
const isKdf = (v: unknown) =>
  v === undefined ||
  (typeof v === 'object' &&
    v !== null &&
    ['m', 't', 'p'].every((k) => Number.isSafeInteger((v as Record<string, unknown>)[k])));

/** The larger of two optional generations. */
export function larger(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.max(a, b);
}

/** Each parameter the larger of the two. */
export function largerKdf(a: Argon2idParams | undefined, b: Argon2idParams): Argon2idParams {
  return a === undefined ? { ...b } : { m: Math.max(a.m, b.m), t: Math.max(a.t, b.t), p: Math.max(a.p, b.p) };
}

async function load(path: string): Promise<StateFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return { version: 1, stores: [] };
    throw withContext(e, `cannot read the state file ${path}`);
  }
  if (text.trim() === '') return { version: 1, stores: [] }; // e.g. --state /dev/null
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw damaged(path, 'not JSON');
  }
  const file = parsed as StateFile;
  if (typeof file !== 'object' || file === null || file.version !== 1 || !Array.isArray(file.stores))
    throw damaged(path, 'not a version 1 state');
  const stores = new Map<string, StoreState>();
  for (const s of file.stores as (StoreState & { credential?: unknown })[]) {
    if (
      typeof s?.store !== 'string' ||
      (s.credential !== undefined && typeof s.credential !== 'string') ||
      (s.set !== undefined && !(typeof s.set === 'string' && BACKUP_SET_NAME.test(s.set))) ||
      !isGeneration(s.newest) ||
      !isGeneration(s.used) ||
      !isKdf(s.kdf)
    )
      throw damaged(path, `a bad entry for ${String(s?.store)}`);
    // Files written before the state was kept per store had one entry per store and credential:
    // they become one, with the larger numbers.
    const { credential: _, ...entry } = s;
    const seen = stores.get(s.store);
    if (!seen) stores.set(s.store, entry);
    else {
      seen.set ??= entry.set;
      seen.newest = larger(seen.newest, entry.newest);
      seen.used = larger(seen.used, entry.used);
      if (entry.kdf) seen.kdf = largerKdf(seen.kdf, entry.kdf);
    }
  }
  return { version: 1, stores: [...stores.values()] };
}

/** A lock held on the state file; {@link StateLock.release} may be called more than once. */
interface StateLock {
  release(): Promise<void>;
}

/** A lock whose holder is gone (same host, no such process) or that is older than this. */
const STALE_LOCK_MS = 60 * 60 * 1000;

function holderAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code !== 'ESRCH';
  }
}

/**
 * Takes the lock `lockPath` (O_EXCL). A lock whose process is gone (on this host), or that is
 * over an hour old, is broken: renamed away first, and removed only if it is still the lock that
 * was judged stale, so that two runs breaking it at once cannot remove a fresh one.
 */
async function takeLock(lockPath: string, statePath: string, waitMs: number): Promise<StateLock> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const h = await open(lockPath, 'wx', 0o600);
      try {
        await h.writeFile(
          JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }),
        );
      } finally {
        await h.close();
      }
      const forget = cleanUpOnSignal(() => rmSync(lockPath, { force: true }));
      let held = true;
      return {
        async release() {
          if (!held) return;
          held = false;
          forget();
          await unlink(lockPath).catch(() => {});
        },
      };
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST')
        throw withContext(e, `cannot lock the state file ${statePath} (${lockPath})`);
    }
    const st = await stat(lockPath).catch(() => undefined);
    if (st === undefined) continue; // released meanwhile
    let holder: { pid?: unknown; host?: unknown; since?: unknown } = {};
    try {
      holder = JSON.parse(await readFile(lockPath, 'utf8'));
    } catch {
      // Being written, or garbage: judged by its age alone.
    }
    const gone =
      holder.host === hostname() && Number.isSafeInteger(holder.pid) && !holderAlive(holder.pid as number);
    if (gone || Date.now() - st.mtimeMs > STALE_LOCK_MS) {
      const aside = `${lockPath}.${randomBytes(6).toString('hex')}.stale`;
      if (
        await rename(lockPath, aside).then(
          () => true,
          () => false,
        )
      ) {
        const moved = await stat(aside).catch(() => undefined);
        // Another run replaced it between our look and the rename: put it back (never over a
        // newer one).
        if (moved && moved.ino !== st.ino) await link(aside, lockPath).catch(() => {});
        await unlink(aside).catch(() => {});
      }
      continue;
    }
    if (Date.now() >= deadline)
      throw new CliError(
        EXIT.IO,
        `another e2ee-backup${Number.isSafeInteger(holder.pid) ? ` (PID ${holder.pid}${typeof holder.host === 'string' ? ` on ${holder.host}` : ''})` : ''} is using the state file ${statePath}: it holds ${lockPath}`,
        'Wait for it to finish, then run this again; if no such process is running, remove that lock file',
      );
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Where the lock of `statePath` goes: beside it, unless the state is not a file (`--state
 * /dev/null` keeps nothing, and needs no lock).
 */
async function lockPathOf(statePath: string): Promise<string | undefined> {
  const st = await stat(statePath).catch(() => undefined);
  return st === undefined || st.isFile() ? `${statePath}.lock` : undefined;
}

/** The state file at `path`, for the store folder `store`. */
export interface StateHandle {
  /** The entry as read (a copy; empty when there is none). */
  readonly entry: StoreState;
  /**
   * Re-reads the file, changes this entry with `change`, and writes the file atomically, under
   * the lock (the one this handle holds, else taken for the while, waiting up to a minute).
   */
  update(change: (entry: StoreState) => void): Promise<void>;
  /** Releases the lock taken by `openState(…, { lock: true })` (nothing otherwise). */
  release(): Promise<void>;
}

/**
 * Opens the state of `store` in the file at `path`: a folder (made absolute here) or an `s3://`
 * store's name (`stateStoreId` in src/cli/store-url.ts). With `lock`, takes the lock first and holds
 * it until {@link StateHandle.release}: a `backup create` reserving its generation. If another
 * run holds it, fails at once (exit 4) rather than wait.
 */
export async function openState(
  path: string,
  store: string,
  options: { lock?: boolean } = {},
): Promise<StateHandle> {
  const key = store.startsWith('s3://') ? store : resolve(store);
  const find = (f: StateFile) => f.stores.find((s) => s.store === key);
  const lockPath = await lockPathOf(path);
  const makeFolder = () =>
    mkdir(dirname(path), { recursive: true, mode: 0o700 }).catch((e: unknown) => {
      throw withContext(e, `cannot create the folder of the state file ${path}`);
    });
  let held: StateLock | undefined;
  if (options.lock && lockPath !== undefined) {
    await makeFolder();
    held = await takeLock(lockPath, path, 0);
  }
  let entry: StoreState;
  try {
    entry = { store: key, ...find(await load(path)) };
  } catch (e) {
    await held?.release();
    throw e;
  }
  return {
    entry,
    async update(change) {
      await makeFolder();
      const lock = held ?? (lockPath !== undefined ? await takeLock(lockPath, path, 60_000) : undefined);
      try {
        // Read again under the lock: another run may have written since (the larger numbers win).
        const file = await load(path);
        let current = find(file);
        if (!current) {
          current = { store: key };
          file.stores.push(current);
        }
        change(current);
        const out = await openFileOutput(path, { mode: 0o600 }).catch((e: unknown) => {
          throw withContext(e, `cannot write the state file ${path}`);
        });
        try {
          await out.write(new TextEncoder().encode(`${JSON.stringify(file, null, 2)}\n`));
          await out.commit();
        } catch (e) {
          await out.abort();
          throw withContext(e, `cannot write the state file ${path}`);
        }
      } finally {
        if (lock !== held) await lock?.release();
      }
    },
    async release() {
      const lock = held;
      held = undefined;
      await lock?.release();
    },
  };
}
