/**
 * The vault's HTTP API: {@link createVaultApp} puts a {@link VaultService} behind Hono. JSON in
 * and out, binary fields in unpadded base64url, `{ error: { code, message } }` on every 4xx and
 * 5xx. Described in `openapi/vault.yaml`.
 *
 * Runtime-neutral (Hono runs on Node, Bun, Deno and workers); `startVaultServer` in
 * `server-node.ts` serves it on Node with a key file and an SQLite or PostgreSQL store.
 *
 * @module
 */

import type { Context } from 'hono';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { VaultKeyProvider } from './keys.js';
import {
  createVaultService,
  protocolError,
  type VaultLimits,
  type VaultLogEvent,
  type VaultOperation,
  type VaultRequestContext,
  type VaultResponse,
  type VaultService,
  type VaultServiceOptions,
} from './service.js';
import type { VaultStore } from './store/store.js';

/** Options of {@link createVaultApp}. */
export interface VaultAppOptions {
  /** Where records, counters and pending logins live; shared by every server process. */
  store: VaultStore;
  /** Where the long-term secrets come from (e.g. `fileKeyProvider`). */
  keys: VaultKeyProvider;
  /** Overrides of {@link DEFAULT_VAULT_LIMITS}: attempts, TTLs, body size, rate limits, KSF bounds. */
  limits?: Partial<VaultLimits>;
  /** Receives one event per request (e.g. `consoleVaultLog`). Default: nothing is logged. */
  log?: (event: VaultLogEvent) => void;
  /** Clock in epoch milliseconds (default `Date.now`); tests move it. */
  now?: () => number;
  /**
   * Gate for every operation that names an account: return false to answer 401 `UNAUTHORIZED`.
   * Without it, anyone who knows an account name can lock it with wrong guesses; see
   * {@link VaultServiceOptions.authorize}.
   */
  authorize?: VaultServiceOptions['authorize'];
  /**
   * The client's address for the per-address rate limit. Default: none (no per-address limit).
   * `startVaultServer` passes the socket's remote address; behind a reverse proxy, pass a function
   * that reads the header your proxy sets (and only trust it from the proxy).
   */
  clientAddress?: (c: Context) => string | undefined;
}

/** A Hono app and the service behind it. */
export interface VaultApp {
  /** The Hono app; serve `app.fetch` with any runtime's HTTP server. */
  app: Hono;
  /** The service behind it, e.g. to run `sweep()` on a timer (`startVaultServer` does). */
  service: VaultService;
}

const POST_ROUTES: readonly VaultOperation[] = [
  'device-salt',
  'register/start',
  'register/finish',
  'login/start',
  'login/finish',
  'login/abort',
  'delete',
];

/** Builds the vault's Hono app. Mount it at the root: the routes are `/v1/...`. */
export function createVaultApp(options: VaultAppOptions): VaultApp {
  const service = createVaultService(options);
  const app = new Hono();
  const send = (c: Context, r: VaultResponse) => {
    for (const [k, v] of Object.entries(r.headers ?? {})) c.header(k, v);
    c.header('cache-control', 'no-store');
    return c.json(r.body as object, r.status as 200);
  };
  const context = (c: Context): VaultRequestContext => ({
    address: options.clientAddress?.(c),
    headers: c.req.raw.headers,
  });

  app.get('/v1/info', async (c) => send(c, await service.handle('info', undefined, context(c))));
  app.get('/v1/health', async (c) => send(c, await service.handle('health', undefined, context(c))));

  for (const op of POST_ROUTES) {
    app.post(
      `/v1/${op}`,
      bodyLimit({
        maxSize: service.limits.maxBodyBytes,
        onError: (c) =>
          send(
            c,
            protocolError(
              413,
              'VAULT_PROTOCOL',
              `request bodies are limited to ${service.limits.maxBodyBytes} bytes`,
            ),
          ),
      }),
      async (c) => {
        const type = c.req.header('content-type') ?? '';
        if (!/^application\/json\s*(;|$)/i.test(type)) {
          return send(c, protocolError(415, 'VAULT_PROTOCOL', 'the request body must be application/json'));
        }
        let body: unknown;
        try {
          body = await c.req.json();
        } catch {
          return send(c, protocolError(400, 'VAULT_PROTOCOL', 'the request body is not valid JSON'));
        }
        return send(c, await service.handle(op, body, context(c)));
      },
    );
  }

  app.notFound((c) =>
    send(c, protocolError(404, 'VAULT_PROTOCOL', `no such endpoint: ${c.req.method} ${c.req.path}`)),
  );
  app.onError((_err, c) => send(c, protocolError(500, 'VAULT_UNAVAILABLE', 'internal error')));
  return { app, service };
}
