/**
 * Password → 32-byte key with Argon2id (RFC 9106), computed by `hash-wasm`.
 *
 * Parameters read from a backup are attacker-chosen, so they are bounded before any memory is
 * allocated; parameters for a new backup must also clear OWASP's floor unless the caller opts out.
 *
 * @module
 */

import { E2EEError } from '../errors.js';
import { providedArgon2id } from '../internal/provider.js';
import { checkPassword, encodePassword } from '../key/password.js';

/** Argon2id cost parameters, named as in RFC 9106. */
export interface Argon2idParams {
  /** Memory in KiB. */
  m: number;
  /** Iterations (passes over memory). */
  t: number;
  /** Lanes (degree of parallelism). */
  p: number;
}

/** RFC 9106 §4 second recommended option: 64 MiB, 3 passes, 4 lanes. */
export const DEFAULT_KDF_PARAMS: Readonly<Argon2idParams> = Object.freeze({ m: 65536, t: 3, p: 4 });

/**
 * Upper bounds applied to every derivation, including when opening a backup whose header an
 * attacker may have written: 1 GiB, 16 passes, 16 lanes. Override per call with `maxima`.
 */
export const DEFAULT_KDF_MAXIMA: Readonly<Argon2idParams> = Object.freeze({ m: 1048576, t: 16, p: 16 });

/**
 * OWASP Password Storage Cheat Sheet's Argon2id floor, as equivalent memory/iteration pairs
 * (p = 1). Parameters are strong enough when they meet at least one pair (m ≥ mᵢ and t ≥ tᵢ).
 */
export const KDF_MINIMA: readonly Readonly<{
  /** Memory in KiB. */
  m: number;
  /** Iterations. */
  t: number;
}>[] = Object.freeze([
  Object.freeze({ m: 47104, t: 1 }), // 46 MiB
  Object.freeze({ m: 19456, t: 2 }), // 19 MiB
  Object.freeze({ m: 12288, t: 3 }), // 12 MiB
  Object.freeze({ m: 9216, t: 4 }), // 9 MiB
  Object.freeze({ m: 7168, t: 5 }), // 7 MiB
]);

/** Shortest accepted salt, in bytes. */
export const MIN_SALT_BYTES = 16;

/** Length of the derived key, in bytes. */
export const KDF_OUTPUT_BYTES = 32;

/** Options shared by {@link validateKdfParams} and {@link deriveKeyFromPassword}. */
export interface KdfOptions {
  /**
   * `'create'` (default) for parameters of a new backup: OWASP's floor applies.
   * `'open'` for parameters read from an existing backup: only the maxima apply.
   */
  purpose?: 'create' | 'open';
  /** Per-parameter overrides of {@link DEFAULT_KDF_MAXIMA}; `Infinity` lifts a bound. */
  maxima?: Partial<Argon2idParams>;
  /** Skip OWASP's floor when creating (for tests, or hardware that cannot afford it). */
  allowWeak?: boolean;
}

// Argon2's own limits (RFC 9106 §3.1).
const ARGON2_MAX_P = 2 ** 24 - 1;
const ARGON2_MAX_U32 = 2 ** 32 - 1;

const NAMES = { m: 'memory', t: 'iterations', p: 'parallelism' } as const;

/**
 * Checks Argon2id parameters, throwing before anything is allocated.
 *
 * Always: `m`, `t`, `p` are safe integers ≥ 1 within Argon2's limits (p ≤ 2^24 − 1,
 * m and t ≤ 2^32 − 1, m ≥ 8·p) and at most the maxima. Only when `purpose` is `'create'` (the
 * default) and `allowWeak` is not `true`: at least one pair of {@link KDF_MINIMA}.
 *
 * @throws E2EEError `KDF_PARAMS` naming the parameter, its value and the bound, e.g.
 *   `Argon2id memory m = 2097152 KiB exceeds the maximum 1048576 KiB (1 GiB); raise maxima.m if you
 *   trust this input`. `INVALID_ARGUMENT` for malformed options.
 * @example
 * ```ts
 * validateKdfParams(headerParams, { purpose: 'open' }); // attacker-chosen: bounded, no floor
 * ```
 */
export function validateKdfParams(params: Argon2idParams, options: KdfOptions = {}): void {
  const { purpose = 'create', allowWeak = false } = options;
  const maxima = options.maxima ?? {};
  if (purpose !== 'create' && purpose !== 'open') {
    throw new E2EEError('INVALID_ARGUMENT', `purpose must be 'create' or 'open', not ${String(purpose)}`);
  }
  if (typeof params !== 'object' || params === null) {
    throw new E2EEError('INVALID_ARGUMENT', 'Argon2id parameters must be an object { m, t, p }');
  }
  for (const name of ['m', 't', 'p'] as const) {
    const value: unknown = params[name];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw kdfError(`Argon2id ${NAMES[name]} ${name} = ${String(value)} is not an integer ≥ 1`);
    }
  }
  const { m, t, p } = params;
  if (p > ARGON2_MAX_P)
    throw kdfError(`Argon2id parallelism p = ${p} exceeds Argon2's limit ${ARGON2_MAX_P}`);
  if (m > ARGON2_MAX_U32) {
    throw kdfError(`Argon2id memory m = ${m} KiB exceeds Argon2's limit ${ARGON2_MAX_U32} KiB`);
  }
  if (t > ARGON2_MAX_U32)
    throw kdfError(`Argon2id iterations t = ${t} exceeds Argon2's limit ${ARGON2_MAX_U32}`);
  if (m < 8 * p) {
    throw kdfError(
      `Argon2id memory m = ${m} KiB is below 8 × p = ${8 * p} KiB (Argon2 needs 8 KiB per lane)`,
    );
  }

  for (const name of ['m', 't', 'p'] as const) {
    const max = maxima[name] ?? DEFAULT_KDF_MAXIMA[name];
    if (typeof max !== 'number' || Number.isNaN(max)) {
      throw new E2EEError('INVALID_ARGUMENT', `maxima.${name} must be a number, not ${String(max)}`);
    }
    if (params[name] > max) {
      const value = name === 'm' ? kib(m) : String(params[name]);
      const bound = name === 'm' ? kib(max) : String(max);
      throw kdfError(
        `Argon2id ${NAMES[name]} ${name} = ${value} exceeds the maximum ${bound}; raise maxima.${name} if you trust this input`,
      );
    }
  }

  if (purpose === 'create' && allowWeak !== true && !KDF_MINIMA.some((min) => m >= min.m && t >= min.t)) {
    // The floor is monotone in t, so "the memory this t needs" is well defined and actionable.
    const needed = Math.min(...KDF_MINIMA.filter((min) => t >= min.t).map((min) => min.m));
    throw kdfError(
      `Argon2id memory m = ${kib(m)} is below the minimum ${kib(needed)} for t = ${t} (OWASP's floor; ` +
        `more iterations lower it down to ${kib(KDF_MINIMA.at(-1)!.m)} at t = ${KDF_MINIMA.at(-1)!.t}); ` +
        'use more memory or iterations, or pass allowWeak: true',
    );
  }
}

/**
 * Derives a 32-byte key from a password with Argon2id.
 *
 * A string password is normalised to Unicode NFC, then UTF-8 encoded, so that the same text typed
 * on different keyboards gives the same key: `'e\u0301'` and `'\u00e9'` (two spellings of "é")
 * derive the same key. A string containing a lone UTF-16 surrogate is rejected, since UTF-8
 * cannot encode it and a replacement character would make different strings collide; so is one
 * holding a code point that Unicode 14.0.0 does not assign, whose NFC could differ between
 * implementations (SPEC.md §3.5). A `Uint8Array` password is used byte for byte, without
 * normalisation.
 *
 * Parameters default to {@link DEFAULT_KDF_PARAMS} and are validated by
 * {@link validateKdfParams} (with `options`) before `hash-wasm` is called or any memory allocated.
 *
 * @param password - Non-empty: an empty password protects nothing, so it is refused.
 * @param salt - At least {@link MIN_SALT_BYTES} bytes, random per backup.
 * @throws E2EEError `INVALID_ARGUMENT` for an empty or ill-formed password (checked first) or a
 *   salt that is not a `Uint8Array`; `KDF_PARAMS` for out-of-bounds parameters or a short salt
 *   (all as rejections).
 * @example
 * ```ts
 * const salt = crypto.getRandomValues(new Uint8Array(16));
 * const kek = await deriveKeyFromPassword('correct horse battery staple', salt);
 * // later, with parameters read from the backup header:
 * const again = await deriveKeyFromPassword(password, salt, header.kdf, { purpose: 'open' });
 * ```
 */
export async function deriveKeyFromPassword(
  password: string | Uint8Array,
  salt: Uint8Array,
  params: Partial<Argon2idParams> = {},
  options: KdfOptions = {},
): Promise<Uint8Array> {
  // The caller's password before the parameters (which may come from a file): SPEC.md §7.
  checkPassword(password);
  const full: Argon2idParams = {
    m: params.m ?? DEFAULT_KDF_PARAMS.m,
    t: params.t ?? DEFAULT_KDF_PARAMS.t,
    p: params.p ?? DEFAULT_KDF_PARAMS.p,
  };
  validateKdfParams(full, options);
  if (!(salt instanceof Uint8Array)) throw new E2EEError('INVALID_ARGUMENT', 'salt must be a Uint8Array');
  if (salt.length < MIN_SALT_BYTES) {
    throw kdfError(`Argon2id salt is ${salt.length} bytes; it must be at least ${MIN_SALT_BYTES}`);
  }
  const encoded = encodePassword(password);
  try {
    // A registered provider's Argon2id comes first (src/provider.ts).
    const provided = providedArgon2id();
    if (provided) return await provided(encoded, salt, { ...full, len: KDF_OUTPUT_BYTES });
    // Loaded on first use: its WebAssembly costs memory that backups opened by key never need.
    // Without WebAssembly (Hermes), @noble/hashes' pure-JS Argon2id: the same bytes, slower.
    const { argon2id } =
      typeof WebAssembly === 'object' ? await import('./argon2id.js') : await import('./argon2id-noble.js');
    return (await argon2id({
      password: encoded,
      salt,
      parallelism: full.p,
      iterations: full.t,
      memorySize: full.m,
      hashLength: KDF_OUTPUT_BYTES,
      outputType: 'binary',
    })) as Uint8Array; // 'binary': both answer bytes
  } finally {
    // Best effort: wipe our own copy of the password (never the caller's bytes).
    if (encoded !== password) encoded.fill(0);
  }
}

/** `65536 KiB (64 MiB)`: KiB as RFC 9106 counts, plus a unit people read at a glance. */
function kib(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return 'unbounded';
  if (value >= 1048576 && value % 1048576 === 0) return `${value} KiB (${value / 1048576} GiB)`;
  if (value >= 1024 && value % 1024 === 0) return `${value} KiB (${value / 1024} MiB)`;
  return `${value} KiB`;
}

function kdfError(message: string): E2EEError {
  return new E2EEError('KDF_PARAMS', message);
}
