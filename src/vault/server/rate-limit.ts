/**
 * In-memory token buckets for the vault's per-address and per-account rate limits.
 *
 * Per process: with N vault nodes behind a load balancer the effective limit is up to N times the
 * configured one. That is acceptable because the rate limit is not what bounds password guessing
 * (the attempt counter in the shared store does); it only slows floods and lockout attempts. A
 * deployment that needs a global limit should put one in front (reverse proxy, API gateway).
 *
 * Browser-safe (no I/O).
 *
 * @module
 */

import { E2EEError } from '../../errors.js';

/** A bucket of `capacity` tokens, refilled continuously at `refillPerSecond`. */
export interface RateLimit {
  /** The burst: requests allowed at once after a quiet spell (at least 1). */
  capacity: number;
  /** Tokens regained per second (above 0; 0.1 is one request per 10 s sustained). */
  refillPerSecond: number;
}

/**
 * The result of {@link TokenBuckets.take}.
 *
 * @inline
 */
export type TakeResult =
  | {
      /** A token was taken: go ahead. */
      ok: true;
    }
  | {
      /** The bucket is empty: refuse. */
      ok: false;
      /** Whole seconds until a token is back (at least 1), for `Retry-After`. */
      retryAfterSeconds: number;
    };

/**
 * A set of token buckets keyed by string, bounded to `maxKeys` entries: when full, the least
 * recently used bucket is forgotten (a forgotten bucket starts full again, which errs on the
 * side of letting a request through, never of refusing one wrongly).
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limit: RateLimit,
    private readonly maxKeys = 100_000,
  ) {
    if (!(limit.capacity >= 1) || !(limit.refillPerSecond > 0)) {
      throw new E2EEError('INVALID_ARGUMENT', 'a rate limit needs capacity >= 1 and refillPerSecond > 0');
    }
  }

  /** Takes one token for `key` at time `now` (ms), or says how long to wait. */
  take(key: string, now: number): TakeResult {
    const { capacity, refillPerSecond } = this.limit;
    const bucket = this.buckets.get(key);
    let tokens = capacity;
    if (bucket) {
      this.buckets.delete(key); // re-inserted below: Map order is the LRU order
      tokens = Math.min(capacity, bucket.tokens + (Math.max(0, now - bucket.at) / 1000) * refillPerSecond);
    } else if (this.buckets.size >= this.maxKeys) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    if (tokens >= 1) {
      this.buckets.set(key, { tokens: tokens - 1, at: now });
      return { ok: true };
    }
    this.buckets.set(key, { tokens, at: now });
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / refillPerSecond)) };
  }
}
