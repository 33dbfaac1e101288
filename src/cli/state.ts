/**
 * The CLI's memory of its backups, so that rollback protection works without the user tracking
 * numbers: per store (a folder, or an S3 bucket and prefix) and credential, this machine's backup
 * set, the newest generation it has confirmed (created or restored) and the largest it has used
 * (a failed attempt's included).
 *
 * A small JSON file, `$XDG_CONFIG_HOME/e2ee-backup/state.json` (`~/.config/…` without it), or
 * `--state FILE`; written with the package's one file writer (atomically, mode 0600) before a
 * backup is uploaded, and after each create and restore. It holds no key: a backup key is named
 * by an HMAC of it, a password not at all.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { openFileOutput } from '../file-output.js';
import { BACKUP_SET_NAME } from '../framing.js';
import { CliError, EXIT, withContext } from './exit-codes.js';

/** What the CLI remembers about one store folder and credential. */
export interface StoreState {
  /** The store folder, as an absolute path; or `s3://bucket/prefix/` (and ` at ENDPOINT`). */
  readonly store: string;
  /** `key:` and 16 hex digits of an HMAC of the backup key, or `password`. */
  readonly credential: string;
  /** This machine's backup set in that store (made at its first backup there). */
  set?: string;
  /** The newest generation created or restored here. */
  newest?: number;
  /** The largest generation used or seen here, failed attempts included. */
  used?: number;
}

interface StateFile {
  version: 1;
  stores: StoreState[];
}

/** `$XDG_CONFIG_HOME/e2ee-backup/state.json`, or `~/.config/e2ee-backup/state.json`. */
export function defaultStatePath(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_CONFIG_HOME'];
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.config');
  return join(base, 'e2ee-backup', 'state.json');
}

/** How the state names a credential: never the key itself, and nothing of a password. */
export function credentialId(key: Uint8Array | undefined): string {
  if (key === undefined) return 'password';
  return `key:${bytesToHex(hmac(sha256, key, new TextEncoder().encode('e2ee-backup cli state v1'))).slice(0, 16)}`;
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
  for (const s of file.stores)
    if (
      typeof s?.store !== 'string' ||
      typeof s.credential !== 'string' ||
      (s.set !== undefined && !(typeof s.set === 'string' && BACKUP_SET_NAME.test(s.set))) ||
      !isGeneration(s.newest) ||
      !isGeneration(s.used)
    )
      throw damaged(path, `a bad entry for ${String(s?.store)}`);
  return file;
}

/** The state file at `path`, for the store folder `store` and one credential. */
export interface StateHandle {
  /** The entry as read (a copy; empty when there is none). */
  readonly entry: StoreState;
  /** Re-reads the file, changes this entry with `change`, and writes the file atomically. */
  update(change: (entry: StoreState) => void): Promise<void>;
}

/**
 * Opens the state of `store` and `credential` in the file at `path`. `store` is a folder (made
 * absolute here) or an `s3://` store's name (`stateStoreId` in src/cli/store-url.ts).
 */
export async function openState(path: string, store: string, credential: string): Promise<StateHandle> {
  const key = { store: store.startsWith('s3://') ? store : resolve(store), credential };
  const find = (f: StateFile) =>
    f.stores.find((s) => s.store === key.store && s.credential === key.credential);
  const entry = { ...key, ...find(await load(path)) };
  return {
    entry,
    async update(change) {
      // Read again just before: another run may have written since (the larger numbers win).
      const file = await load(path);
      let current = find(file);
      if (!current) {
        current = { ...key };
        file.stores.push(current);
      }
      change(current);
      await mkdir(dirname(path), { recursive: true, mode: 0o700 }).catch((e: unknown) => {
        throw withContext(e, `cannot create the folder of the state file ${path}`);
      });
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
    },
  };
}

/** The larger of two optional generations. */
export function larger(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.max(a, b);
}
