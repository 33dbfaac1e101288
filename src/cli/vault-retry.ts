/**
 * The CLI's vault requests wait and try again when the vault answers 429 `RATE_LIMITED`, as long
 * as its `Retry-After` asks for a reasonable wait. A 429 is answered before the vault does
 * anything with the request (no attempt is counted, no login settled), so sending the same
 * request again is safe — and it must be the same request: a login already counted at
 * `login/start` is finished by retrying `login/finish`, not by starting over.
 *
 * @module
 */

import type { Context } from './context.js';

/** Retries of one request, at most. */
export const MAX_RATE_LIMIT_RETRIES = 3;
/** The longest `Retry-After` the CLI waits out (seconds); a longer one ends the command. */
export const MAX_RATE_LIMIT_WAIT_SECONDS = 60;
/** Per-request timeout of a retried request, as the client's own (ms). */
const RETRY_TIMEOUT_MS = 30_000;

/**
 * `Retry-After` in seconds from now: delta-seconds or an HTTP date in the IMF-fixdate form
 * servers send (RFC 9110 §10.2.3, §5.6.7); undefined when absent or anything else.
 */
export function retryAfterSeconds(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  if (!/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(text)) return undefined;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A `fetch` for `createVaultClient` that waits out a 429's `Retry-After` (up to
 * {@link MAX_RATE_LIMIT_WAIT_SECONDS}) and sends the request again, at most
 * {@link MAX_RATE_LIMIT_RETRIES} times, saying so on stderr. Any other answer, a 429 without a
 * usable `Retry-After`, or one asking for longer, is handed to the client as it is.
 */
export function retryingFetch(
  ctx: Context,
  base: typeof fetch = globalThis.fetch.bind(globalThis),
): typeof fetch {
  return async (input, init) => {
    let response = await base(input, init);
    for (let retry = 1; retry <= MAX_RATE_LIMIT_RETRIES && response.status === 429; retry++) {
      const wait = retryAfterSeconds(response.headers.get('retry-after'), Date.now());
      if (wait === undefined || wait > MAX_RATE_LIMIT_WAIT_SECONDS) break;
      await response.body?.cancel();
      ctx.warn(
        `e2ee-backup: the vault is rate-limiting; trying again in ${wait} s (${retry}/${MAX_RATE_LIMIT_RETRIES})`,
      );
      await sleep(wait * 1000, ctx.signal);
      // The client's timeout covered the first request; each retry gets its own.
      response = await base(input, {
        ...init,
        signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(RETRY_TIMEOUT_MS)]),
      });
    }
    return response;
  };
}
