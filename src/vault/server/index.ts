/**
 * `e2ee-backup/vault/server`: the vault server on Node. A key file for the long-term secrets, an
 * SQLite or PostgreSQL store, the Hono app, and {@link startVaultServer} to serve it over HTTP.
 * Also the server-side pieces a custom server needs: the transport-free service, the store contract
 * and the in-memory store, the rate limiter, and the server half of OPAQUE. The client entry,
 * `e2ee-backup/vault`, holds none of them.
 *
 * Node only (Bun and Deno should work through their Node compatibility). Even so, every Node
 * module and native package is loaded inside the functions that need it.
 *
 * @module
 */

import type { AddressInfo } from 'node:net';
import { E2EEError } from '../../errors.js';
import { createVaultApp, type VaultAppOptions } from './http.js';
import { generateVaultKeyFile, parseVaultKeyFile, type VaultKeyProvider } from './keys.js';
import type { VaultLogEvent, VaultService } from './service.js';
import { openPostgresVaultStore } from './store/postgres.js';
import { openSqliteVaultStore } from './store/sqlite.js';
import type { VaultStore, VaultStoreNotice } from './store/store.js';

// The server half of OPAQUE (the client half and the messages are in `e2ee-backup/vault`).
export {
  createFakeRecord,
  createRegistrationResponse,
  deriveDiffieHellmanKeyPair,
  deriveOprfKey,
  type FakeRecord,
  type GenerateFakeKE2Params,
  type GenerateKE2Params,
  generateFakeKE2,
  generateKE2,
  generateServerKeys,
  type KeyPair,
  publicKeyFromPrivateKey,
  type ServerKeys,
  type ServerLoginState,
  serverFinish,
  serverKeysFromSeed,
} from '../opaque/opaque.js';
export { FAKE_CREDENTIAL_PREFIX, fakeCredentialIdentifier } from '../protocol.js';
export { createVaultApp, type VaultApp, type VaultAppOptions } from './http.js';
export {
  generateVaultKeyFile,
  parseVaultKeyFile,
  staticKeyProvider,
  type VaultKeyFile,
  type VaultKeyProvider,
  type VaultServerSecrets,
} from './keys.js';
export { type RateLimit, TokenBuckets } from './rate-limit.js';
export {
  createVaultService,
  DEFAULT_VAULT_LIMITS,
  VAULT_HTTP_STATUS,
  type VaultLimits,
  type VaultLogEvent,
  type VaultOperation,
  type VaultRequestContext,
  type VaultResponse,
  type VaultService,
  type VaultServiceOptions,
} from './service.js';
export { createMemoryVaultStore } from './store/memory.js';
export { openPostgresVaultStore, type PostgresVaultStoreOptions } from './store/postgres.js';
export { openSqliteVaultStore, type SqliteVaultStoreOptions } from './store/sqlite.js';
export type {
  AccountStatus,
  AttemptResult,
  CommitInput,
  CommitOutcome,
  DeleteOutcome,
  FakeCounter,
  LoginOutcome,
  PendingLogin,
  PendingRegistration,
  VaultAccount,
  VaultStore,
  VaultStoreHealth,
  VaultStoreNotice,
} from './store/store.js';
export { CLAIMED_LOGIN_GRACE_MS } from './store/store.js';

/** Options of {@link fileKeyProvider}. */
export interface FileKeyProviderOptions {
  /** Create the file with fresh secrets if it does not exist (default true). */
  create?: boolean;
  /**
   * Accept a key file that group or others may read (default false: refused, like ssh does with
   * private keys). Ignored on Windows, whose permissions modes do not describe.
   */
  allowInsecureMode?: boolean;
}

/**
 * Secrets from a JSON key file (see `VaultKeyFile`), created with mode 0600 on first use.
 * Creation is atomic (written to a temporary file, then hard-linked into place), so vault nodes
 * starting together on one file system end up with the same secrets.
 *
 * Keep the key file out of the database's backups: a database copy together with the key file is
 * what an offline password search needs (THREAT-MODEL.md).
 *
 * Its `load()` rejects with an E2EEError with code `IO` if the file cannot be read or created, or
 * `INVALID_ARGUMENT` if it is not a valid key file or others may read it.
 */
export function fileKeyProvider(path: string, options: FileKeyProviderOptions = {}): VaultKeyProvider {
  return {
    async load() {
      const fs = await import('node:fs/promises');
      const read = async () => {
        const handle = await fs.open(path, 'r');
        try {
          const info = await handle.stat();
          if (process.platform !== 'win32' && (info.mode & 0o077) !== 0 && !options.allowInsecureMode) {
            throw new E2EEError(
              'INVALID_ARGUMENT',
              `vault key file ${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}): chmod 600 it`,
            );
          }
          return await handle.readFile('utf8');
        } finally {
          await handle.close();
        }
      };
      let text: string;
      try {
        text = await read();
      } catch (err) {
        if ((err as { code?: string }).code !== 'ENOENT' || options.create === false)
          throw ioError(path, err);
        await createKeyFile(path);
        text = await read().catch((e) => {
          throw ioError(path, e);
        });
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new E2EEError('INVALID_ARGUMENT', `vault key file ${path} is not JSON`);
      }
      return parseVaultKeyFile(json);
    },
  };
}

/** Writes a new key file, 0600, through the package's one file writer; another process's wins. */
async function createKeyFile(path: string): Promise<void> {
  const { openFileOutput } = await import('../../node/file-output.js');
  try {
    const out = await openFileOutput(path, { mode: 0o600, overwrite: false });
    await out.write(new TextEncoder().encode(`${JSON.stringify(generateVaultKeyFile(), null, 2)}\n`));
    await out.commit(); // link(): fails with EEXIST if another process won the race
  } catch (err) {
    // Another process won the race: use theirs.
    if ((err as { code?: string }).code !== 'EEXIST') throw err;
  }
}

function ioError(path: string, err: unknown): unknown {
  if (err instanceof E2EEError) return err;
  return new E2EEError('IO', `cannot read the vault key file ${path}: ${(err as Error).message}`, {
    cause: err,
  });
}

/** Where the vault keeps its data: an SQLite file (or `:memory:`) or a PostgreSQL URL. */
export type VaultStoreLocation =
  | {
      /** An SQLite file, created if missing, or `:memory:`. */
      dbPath: string;
    }
  | {
      /** A PostgreSQL connection string, for several nodes sharing one database. */
      postgresUrl: string;
    };

/**
 * Opens the store for a location, creating its tables if needed. A PostgreSQL store opens while
 * its database is down, answers 503 (and says so at /v1/health) until it is up, then serves:
 * nodes and database may start in any order.
 *
 * @throws An E2EEError with code `VAULT_UNAVAILABLE` if the driver (`better-sqlite3` or `pg`, optional
 * peer dependencies) cannot be loaded or the SQLite database cannot be opened.
 */
export function openVaultStore(
  location: VaultStoreLocation,
  onNotice: (notice: VaultStoreNotice) => void = consoleVaultNotice,
): Promise<VaultStore> {
  return 'postgresUrl' in location
    ? openPostgresVaultStore({ connectionString: location.postgresUrl, waitForDatabase: true, onNotice })
    : openSqliteVaultStore({ path: location.dbPath, onNotice });
}

/** A log sink for {@link startVaultServer}: one JSON line per request on stderr. */
export function consoleVaultLog(event: VaultLogEvent): void {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
}

/**
 * The default notice sink of {@link startVaultServer}: one JSON line on stderr per notice
 * (`{"time":…,"notice":"secure-delete-incomplete","detail":…}`), whether or not requests are logged.
 */
export function consoleVaultNotice(notice: VaultStoreNotice): void {
  process.stderr.write(
    `${JSON.stringify({ time: new Date().toISOString(), notice: notice.kind, detail: notice.detail })}\n`,
  );
}

/**
 * Node's HTTP timeouts, sized for the vault's requests (headers and a body of at most
 * `maxBodyBytes`, under 1 KiB in practice): seconds, not Node's 60 s for headers and 300 s for a
 * request, which let a slow client hold a connection for minutes.
 */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 15_000;

/** Options of {@link startVaultServer}. */
export interface StartVaultServerOptions
  extends Pick<VaultAppOptions, 'limits' | 'log' | 'now' | 'authorize' | 'clientAddress'> {
  /** TCP port; 0 picks a free one (default 0). */
  port?: number;
  /** Listen address (default `127.0.0.1`: put TLS and a reverse proxy in front for anything else). */
  host?: string;
  /** SQLite file (or `:memory:`). One of `dbPath`, `postgresUrl` or `store` is required. */
  dbPath?: string;
  /** PostgreSQL connection string, for several nodes sharing one database. */
  postgresUrl?: string;
  /** A store you opened yourself (it is not closed by `close()`). */
  store?: VaultStore;
  /** Path of the key file, created (mode 0600) on first start. Required unless `keys` is given. */
  keyFile?: string;
  /** Where to get the secrets instead of a key file (e.g. a KMS-backed provider); wins over `keyFile`. */
  keys?: VaultKeyProvider;
  /** How often to run housekeeping (default 30 s). */
  sweepIntervalMs?: number;
  /** How long a client may take to send a request's headers, in ms (default 10 000). */
  headersTimeoutMs?: number;
  /** How long a client may take to send a whole request, in ms (default 15 000; at least `headersTimeoutMs`). */
  requestTimeoutMs?: number;
  /**
   * Receives what the store reports outside any request: destroyed data not yet overwritten, the
   * database going away and coming back (default {@link consoleVaultNotice}: a JSON line on stderr).
   */
  onNotice?: (notice: VaultStoreNotice) => void;
}

/** A running vault server. */
export interface RunningVaultServer {
  /** e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** The TCP port it listens on (the one picked when `port` was 0). */
  port: number;
  /** The store in use: the one passed in, or the one opened from `dbPath` or `postgresUrl`. */
  store: VaultStore;
  /** The service behind the HTTP API. */
  service: VaultService;
  /** Stops listening, closes open connections, stops housekeeping, and closes the store it opened. */
  close(): Promise<void>;
}

/**
 * Starts the vault on Node's HTTP server. Loads (or creates) the key file before listening, so a
 * bad key file fails the start rather than the first request.
 *
 * @throws An E2EEError with code `INVALID_ARGUMENT` if neither `keyFile` nor `keys`, or none of
 * `dbPath`, `postgresUrl` and `store`, is given, or the key file is invalid; `IO` if the key file
 * cannot be read or the port cannot be listened on; `VAULT_UNAVAILABLE` if the database cannot be
 * opened or the optional peer dependency `@hono/node-server` is not installed.
 *
 * @example
 * ```ts
 * const vault = await startVaultServer({ port: 8787, dbPath: 'vault.sqlite', keyFile: 'vault-keys.json' });
 * console.log(`vault on ${vault.url}`);
 * ```
 */
export async function startVaultServer(options: StartVaultServerOptions): Promise<RunningVaultServer> {
  const keys = options.keys ?? (options.keyFile ? fileKeyProvider(options.keyFile) : undefined);
  if (!keys) throw new E2EEError('INVALID_ARGUMENT', 'startVaultServer needs keyFile or keys');
  const secrets = await keys.load();
  // Before the store is opened: a missing optional peer must not leave a database open.
  const { serve } = await import('@hono/node-server').catch((err: unknown) => {
    throw new E2EEError(
      'VAULT_UNAVAILABLE',
      'startVaultServer needs the @hono/node-server package (npm install @hono/node-server)',
      { cause: err },
    );
  });
  let store = options.store;
  const ownStore = store === undefined;
  const onNotice = options.onNotice ?? consoleVaultNotice;
  if (!store) {
    if (options.postgresUrl) store = await openVaultStore({ postgresUrl: options.postgresUrl }, onNotice);
    else if (options.dbPath) store = await openVaultStore({ dbPath: options.dbPath }, onNotice);
    else throw new E2EEError('INVALID_ARGUMENT', 'startVaultServer needs dbPath, postgresUrl or store');
  }
  const { app, service } = createVaultApp({
    ...options,
    store,
    keys: { load: async () => secrets },
    clientAddress:
      options.clientAddress ??
      ((c) =>
        (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket
          ?.remoteAddress),
  });
  const host = options.host ?? '127.0.0.1';
  const requestTimeout = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const serverOptions = {
    headersTimeout: Math.min(options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS, requestTimeout),
    requestTimeout,
    // Node checks both only this often (default 30 s): a timeout would fire up to 30 s late.
    connectionsCheckingInterval: 1000,
  };
  let server: ReturnType<typeof serve>;
  const port = await new Promise<number>((resolve, reject) => {
    server = serve(
      { fetch: app.fetch, port: options.port ?? 0, hostname: host, serverOptions },
      (info: AddressInfo) => resolve(info.port),
    );
    server.once('error', reject);
  }).catch(async (err) => {
    if (ownStore) await store.close();
    throw new E2EEError('IO', `cannot listen on ${host}:${options.port ?? 0}: ${(err as Error).message}`, {
      cause: err,
    });
  });
  const sweep = () => {
    service.sweep().catch(() => {}); // the store may be briefly unavailable; the next run retries
  };
  sweep();
  const timer = setInterval(sweep, options.sweepIntervalMs ?? 30_000);
  timer.unref();
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  let closed = false;
  return {
    url: `http://${hostInUrl}:${port}`,
    port,
    store,
    service,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await new Promise<void>((resolve) => {
        const s = server as unknown as { close(cb: () => void): void; closeAllConnections?: () => void };
        s.close(() => resolve());
        s.closeAllConnections?.();
      });
      if (ownStore) await store.close();
    },
  };
}
