/**
 * `e2ee-backup vault serve`: the key vault server on this machine, with the embedded SQLite store
 * (default) or a PostgreSQL database shared by several nodes. Prints its URL and its key
 * fingerprint on standard output once it listens, logs one JSON line per request on standard
 * error (unless `--quiet`), and stops cleanly — connections closed, store closed, exit 0 — on
 * SIGINT or SIGTERM.
 *
 * What can fail is checked before anything is written: the store's driver, the port, an existing
 * key file; then the store is opened, and only then is a new key file created. So a start that
 * fails leaves no database or key file behind — and a key file that another vault node may
 * already be using is never removed.
 *
 * @module
 */

import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { E2EEError } from '../../errors.js';
import { type KsfParams, serverKeyFingerprint } from '../../vault/protocol.js';
import type { Context } from '../context.js';
import { INSECURE_FAST_KDF } from '../credentials.js';
import { CliError, EXIT, usageError, withContext } from '../exit-codes.js';

/** Flags of `vault serve`. */
export interface VaultServeFlags {
  port?: number;
  host?: string;
  /** SQLite file (default `vault.sqlite`). */
  db?: string;
  /** The server's long-term secrets, created (mode 0600) on first start (default `vault-keys.json`). */
  keyFile?: string;
  /** A PostgreSQL connection string, instead of `db`. */
  postgres?: string;
  /** INSECURE, for tests and demos: accept and suggest Argon2id m=1 MiB, t=1, p=1. */
  insecureFastKdf?: boolean;
  /** `--no-rate-limit` sets this to false: no per-account or per-address limits. */
  rateLimit?: boolean;
}

/** The default SQLite file of `vault serve`. */
export const DEFAULT_VAULT_DB = 'vault.sqlite';
/** The default key file of `vault serve`. */
export const DEFAULT_VAULT_KEY_FILE = 'vault-keys.json';

/** Runs `vault serve` until the abort signal fires. */
export async function vaultServe(flags: VaultServeFlags, ctx: Context): Promise<void> {
  if (flags.postgres !== undefined && flags.db !== undefined)
    throw usageError('--db and --postgres both name a store', 'Give one of them');
  const host = flags.host ?? '127.0.0.1';
  if (!isLoopback(host))
    ctx.warn(
      `e2ee-backup: warning: listening on ${host} over plain HTTP; put TLS (a reverse proxy) in front of it before clients use it over a network`,
    );
  const limits: { allowWeakKsf?: boolean; ksfDefaults?: KsfParams; perAccount?: false; perAddress?: false } =
    {};
  if (flags.insecureFastKdf) {
    ctx.warn(
      'e2ee-backup: warning: --insecure-fast-kdf: the vault accepts Argon2id m=1 MiB, t=1, p=1 registrations (tests and demos only)',
    );
    limits.allowWeakKsf = true;
    limits.ksfDefaults = { algorithm: 'argon2id', ...INSECURE_FAST_KDF };
  }
  if (flags.rateLimit === false) {
    ctx.warn('e2ee-backup: warning: --no-rate-limit: no per-account or per-address rate limits');
    limits.perAccount = false;
    limits.perAddress = false;
  }
  const port = flags.port ?? 8787;
  const keyFile = flags.keyFile ?? DEFAULT_VAULT_KEY_FILE;
  // Loaded here: the other commands never need the server, Hono or a database driver.
  const { consoleVaultLog, fileKeyProvider, openVaultStore, staticKeyProvider, startVaultServer } =
    await import('../../vault/server/index.js');

  await requireDriver(flags.postgres !== undefined ? 'pg' : 'better-sqlite3');
  await requireFreePort(host, port);
  // An existing key file is read (and checked) now; a new one is created once the store is open.
  const keyFileExists = await stat(keyFile).then(
    () => true,
    (e: { code?: string }) => {
      if (e.code === 'ENOENT') return false;
      throw withContext(e, `cannot read the key file ${keyFile}`);
    },
  );
  let secrets = keyFileExists ? await fileKeyProvider(keyFile, { create: false }).load() : undefined;
  if (!secrets) await requireWritableFolder(keyFile);

  const store = await openVaultStore(
    flags.postgres !== undefined ? { postgresUrl: flags.postgres } : { dbPath: flags.db ?? DEFAULT_VAULT_DB },
  ).catch((e: unknown) => {
    throw storeError(e, flags.postgres !== undefined);
  });
  try {
    secrets ??= await fileKeyProvider(keyFile).load();
    const server = await startVaultServer({
      port,
      host,
      store,
      keys: staticKeyProvider(secrets),
      limits,
      ...(ctx.quiet ? {} : { log: consoleVaultLog }),
    }).catch((e: unknown) => {
      throw portError((e as { cause?: unknown }).cause ?? e, host, port) ?? e;
    });
    try {
      const fingerprint = serverKeyFingerprint(secrets.serverKeys.publicKey);
      process.stdout.write(`${server.url}\n${fingerprint}\n`);
      ctx.warn(
        `e2ee-backup: vault listening on ${server.url} (store: ${flags.postgres !== undefined ? 'PostgreSQL' : (flags.db ?? DEFAULT_VAULT_DB)}, key file: ${keyFile}); stop it with Ctrl-C`,
      );
      ctx.warn(`e2ee-backup: the vault's key fingerprint (clients pin it with --server-key): ${fingerprint}`);
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted) resolve();
        else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      await server.close();
    }
  } finally {
    await store.close();
  }
  ctx.warn('e2ee-backup: vault stopped');
}

/** The database driver of the store, or a refusal that says to install it. */
async function requireDriver(name: 'better-sqlite3' | 'pg'): Promise<void> {
  const missing = (e: unknown) =>
    new CliError(
      EXIT.IO,
      `vault serve needs the ${name} package for its ${name === 'pg' ? 'PostgreSQL' : 'SQLite'} store, and it cannot be loaded (${(e as Error).message.split('\n')[0]})`,
      `Install it where e2ee-backup-cli is installed: npm install [-g] ${name}${name === 'pg' ? '' : ' (or use a PostgreSQL store: --postgres URL, with the pg package)'}`,
      { cause: e },
    );
  let Database: typeof import('better-sqlite3') | undefined;
  try {
    if (name === 'pg') await import('pg');
    else Database = (await import('better-sqlite3')).default;
  } catch (e) {
    throw missing(e);
  }
  if (Database === undefined) return;
  // Checked before any database is opened: better-sqlite3 13 on an older Node crashes the process.
  const { sqliteDriverMismatch } = await import('../../vault/server/store/sqlite.js');
  const mismatch = sqliteDriverMismatch(Database);
  if (mismatch !== undefined)
    throw new CliError(
      EXIT.IO,
      `vault serve cannot use the installed better-sqlite3: ${mismatch}`,
      'Install better-sqlite3 12 where e2ee-backup-cli is installed: npm install [-g] better-sqlite3@12, or run on Node 22.14 or later (or use a PostgreSQL store: --postgres URL, with the pg package)',
    );
  try {
    // An in-memory database loads the native addon too (a package installed without its build).
    new Database(':memory:').close();
  } catch (e) {
    throw missing(e);
  }
}

/** What a failed listen means, as a refusal; undefined for other errors. */
function portError(e: unknown, host: string, port: number): CliError | undefined {
  const code = (e as { code?: string } | null)?.code;
  if (code === 'EADDRINUSE')
    return new CliError(
      EXIT.IO,
      `port ${port} on ${host} is already taken by another program`,
      'Stop that program, or choose another --port (0 picks a free one)',
      { cause: e },
    );
  if (code === 'EACCES')
    return new CliError(
      EXIT.IO,
      `this user may not listen on port ${port} on ${host}`,
      'Choose a --port above 1023, or put a reverse proxy on the privileged port',
      { cause: e },
    );
  if (code === 'EADDRNOTAVAIL')
    return new CliError(EXIT.IO, `${host} is not an address of this machine`, 'Check --host', { cause: e });
  return undefined;
}

/**
 * Fails as the real listen would, before anything is written: listening for a moment on the port
 * and letting it go. (Another program may still take it in between; the real listen then fails
 * the same way, after the files are made, and they stay — as they must if another vault node
 * took the port and uses them.)
 */
async function requireFreePort(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const { createServer } = await import('node:net');
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  }).catch((e: unknown) => {
    throw portError(e, host, port) ?? e;
  });
}

/** The key file's folder must be writable before the store is created beside it. */
async function requireWritableFolder(keyFile: string): Promise<void> {
  await access(dirname(keyFile), constants.W_OK).catch((e: unknown) => {
    throw new CliError(
      EXIT.IO,
      `cannot create the key file ${keyFile}: ${(e as Error).message.replace(/^E[A-Z]+: /, '')}`,
      'Check the --key-file path and the permissions of its folder',
      { cause: e },
    );
  });
}

/** A store that would not open, with advice about the store rather than about a client's --url. */
function storeError(e: unknown, postgres: boolean): unknown {
  if (!(e instanceof E2EEError) || e.code !== 'VAULT_UNAVAILABLE') return e;
  return new CliError(
    EXIT.IO,
    e.message,
    postgres
      ? 'Check the --postgres URL, that PostgreSQL is running and reachable, and its credentials'
      : 'Check the --db path and the permissions of its folder',
    { cause: e },
  );
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
