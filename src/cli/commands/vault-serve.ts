/**
 * `e2ee-backup vault serve`: the key vault server on this machine, with the embedded SQLite store
 * (default) or a PostgreSQL database shared by several nodes. Prints its URL on standard output
 * once it listens, logs one JSON line per request on standard error (unless `--quiet`), and stops
 * cleanly — connections closed, store closed, exit 0 — on SIGINT or SIGTERM.
 *
 * @module
 */

import { isE2EEError } from '../../errors.js';
import type { KsfParams } from '../../vault/protocol.js';
import type { Context } from '../context.js';
import { INSECURE_FAST_KDF } from '../credentials.js';
import { CliError, EXIT, usageError } from '../exit-codes.js';

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
  // Loaded here: the other commands never need the server, Hono or a database driver.
  const { consoleVaultLog, startVaultServer } = await import('../../vault/server-node.js');
  const server = await startVaultServer({
    port: flags.port ?? 8787,
    host,
    keyFile: flags.keyFile ?? DEFAULT_VAULT_KEY_FILE,
    ...(flags.postgres !== undefined
      ? { postgresUrl: flags.postgres }
      : { dbPath: flags.db ?? DEFAULT_VAULT_DB }),
    limits,
    ...(ctx.quiet ? {} : { log: consoleVaultLog }),
  }).catch((err: unknown) => {
    throw storeError(err, flags);
  });
  try {
    process.stdout.write(`${server.url}\n`);
    ctx.warn(
      `e2ee-backup: vault listening on ${server.url} (store: ${flags.postgres !== undefined ? 'PostgreSQL' : (flags.db ?? DEFAULT_VAULT_DB)}, key file: ${flags.keyFile ?? DEFAULT_VAULT_KEY_FILE}); stop it with Ctrl-C`,
    );
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) resolve();
      else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    await server.close();
  }
  ctx.warn('e2ee-backup: vault stopped');
}

/**
 * The store could not be opened: say what to check on this machine (the table's advice for
 * VAULT_UNAVAILABLE is a client's, about --url and the network).
 */
function storeError(err: unknown, flags: VaultServeFlags): unknown {
  if (!isE2EEError(err, 'VAULT_UNAVAILABLE')) return err;
  const fix =
    flags.postgres !== undefined
      ? 'Check the --postgres URL (user, password, database name) and that the database accepts this user'
      : /needs the better-sqlite3 package/.test(err.message)
        ? 'Install better-sqlite3 next to e2ee-backup (npm install better-sqlite3), or use --postgres'
        : `Check the --db path (${flags.db ?? DEFAULT_VAULT_DB}), the permissions of its folder and the free space`;
  return new CliError(EXIT.IO, err.message, fix, { cause: err });
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
