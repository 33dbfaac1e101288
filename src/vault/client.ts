/**
 * The vault client: {@link createVaultClient} runs the vault protocol against a vault server with
 * `fetch`, in browsers, workers, Node, Bun and Deno alike (no `node:` imports).
 *
 * Errors are {@link VaultError}s (an {@link E2EEError} with the server's extra fields):
 * - `WRONG_PASSWORD`, with `remainingAttempts` when the server tells it. An account the vault
 *   does not know answers exactly like a wrong password (the server uses OPAQUE's fake record so
 *   that logins do not reveal which accounts exist), so `recover` never says `VAULT_NOT_FOUND`;
 * - `VAULT_LOCKED`: the record was destroyed after too many wrong passwords;
 * - `VAULT_NOT_FOUND`: only from `resetPassword` and `delete` (which need the device credential
 *   and so already reveal existence);
 * - `UNAUTHORIZED`: the device credential (the backup key) does not match the stored record;
 * - `RATE_LIMITED` with `retryAfterSeconds`; `VAULT_UNAVAILABLE` (network, 5xx); `SERVER_AUTH`
 *   (not the server the password was registered with); `VAULT_PROTOCOL` (malformed exchange).
 *
 * @module
 */

import { E2EEError, ERROR_CODES, type ErrorCode, isE2EEError } from '../errors.js';
import { constantTimeEqual, isAllZero } from '../internal/bytes.js';
import type { Argon2idParams } from '../primitives/kdf.js';
import { fromBase64url, toBase64url } from './base64url.js';
import {
  accountBytes,
  BACKUP_KEY_BYTES,
  DEVICE_SALT_BYTES,
  deriveDeviceCredential,
  finishLogin,
  finishRegistration,
  type KsfParams,
  openSealedBackupKey,
  passwordBytes,
  startLogin,
  startRegistration,
  type VaultLoginState,
} from './protocol.js';

const VAULT_BRAND = Symbol.for('e2ee-backup.VaultError');

/**
 * An {@link E2EEError} from the vault client, with what the server said beyond the code.
 * `err instanceof VaultError` holds for vault errors only (and `err instanceof E2EEError` for them
 * too), across the ESM and CommonJS builds, as `E2EEError`'s own check does.
 */
export class VaultError extends E2EEError {
  /** The HTTP status, when the error came from an answer. */
  readonly status?: number;
  /** For `WRONG_PASSWORD`: attempts left before the record is destroyed (0: it has been). */
  readonly remainingAttempts?: number;
  /** For `RATE_LIMITED`: how long to wait. */
  readonly retryAfterSeconds?: number;

  constructor(
    code: ErrorCode,
    message: string,
    extra: { status?: number; remainingAttempts?: number; retryAfterSeconds?: number; cause?: unknown } = {},
  ) {
    super(code, message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'VaultError';
    if (extra.status !== undefined) this.status = extra.status;
    if (extra.remainingAttempts !== undefined) this.remainingAttempts = extra.remainingAttempts;
    if (extra.retryAfterSeconds !== undefined) this.retryAfterSeconds = extra.retryAfterSeconds;
    Object.defineProperty(this, VAULT_BRAND, { value: true });
  }

  /**
   * By a brand of its own: the check inherited from `E2EEError` would answer true for every
   * `E2EEError`.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return (
      typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[VAULT_BRAND] === true
    );
  }
}

/** Options of {@link createVaultClient}. */
export interface VaultClientOptions {
  /** The fetch to use (default `globalThis.fetch`). */
  fetch?: typeof fetch;
  /** Argon2id cost for new registrations (default 64 MiB, 3 passes, 4 lanes). */
  ksf?: Partial<Argon2idParams>;
  /** Allow registration costs below OWASP's floor (tests, very weak hardware). */
  allowWeakKsf?: boolean;
  /** Upper bounds on the cost a server may ask for at login (default: the library's KDF maxima). */
  kdfMaxima?: Partial<Argon2idParams>;
  /**
   * The server's AKE public key (32 bytes, or base64url), as its operator gives it (its
   * fingerprint: `serverKeyFingerprint`). Every method then first compares it with the key of
   * `GET /v1/info`, and registration also with the key in the server's RegistrationResponse, and
   * refuses another with `SERVER_AUTH` before sending anything for the account.
   *
   * This catches a server that is honestly not the expected one (a wrong URL, a regenerated or
   * replaced key file); it does **not** authenticate the server. Both keys are plain values an
   * impostor can copy, and OPAQUE registration has no step in which the server proves it holds
   * the private key. Whoever answers a registration can guess its password offline, and whoever
   * answers a replace, reset or delete gets the device credential: run those only over a channel
   * that authenticates the server (HTTPS with certificate checks). Logins are bound to the key
   * registered with by OPAQUE itself (SPEC.md §9.1).
   */
  serverPublicKey?: Uint8Array | string;
  /** Extra headers on every request, e.g. the deployment's own authentication. */
  headers?: Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>);
  /** Per-request timeout in ms (default 30 000; the KSF runs between requests and is not included). */
  timeoutMs?: number;
  /**
   * How long, in all, to wait and retry when the vault answers 503 `VAULT_UNAVAILABLE` with
   * `Retry-After` (busy, or its database restarting) to a request that is safe to repeat
   * (`info`, `login/start`, `register/start`), in ms (default 10 000; 0 never retries).
   */
  maxRetryWaitMs?: number;
}

/** The vault's public facts, from `GET /v1/info`. */
export interface VaultInfo {
  /** Protocol name and version, e.g. `e2ee-backup-vault/1`. */
  protocol: string;
  /**
   * The server's AKE public key (32 bytes): what `serverPublicKey` compares with. Only as
   * trustworthy as the channel it came over.
   */
  serverPublicKey: Uint8Array;
  /** Wrong passwords in a row after which the vault destroys a record. */
  maxAttempts: number;
  /** The Argon2id cost the server suggests for new registrations. */
  ksf: KsfParams;
}

/** The operations of a vault client. Accounts are normalised to Unicode NFC. */
export interface VaultClient {
  /**
   * The server's public facts. Unauthenticated: trust its `serverPublicKey` only as far as the
   * channel it came over.
   */
  info(): Promise<VaultInfo>;
  /**
   * Stores `backupKey` under `password`. If the account already has a record, it is replaced
   * only when it protects this same backup key (its device credential matches); else
   * `UNAUTHORIZED`. Returns whether a record was created or replaced.
   *
   * @throws An E2EEError (a {@link VaultError} when the server refused) with code `UNAUTHORIZED`,
   * `SERVER_AUTH` (not the pinned key), `KDF_PARAMS`, `INVALID_ARGUMENT`, `RATE_LIMITED`,
   * `VAULT_UNAVAILABLE` or `VAULT_PROTOCOL` (also for an empty device salt).
   */
  register(params: {
    account: string;
    password: string | Uint8Array;
    backupKey: Uint8Array;
  }): Promise<'created' | 'replaced'>;
  /**
   * Recovers the backup key with the password (one counted attempt).
   *
   * @throws An E2EEError (a {@link VaultError} when the server refused) with code `WRONG_PASSWORD` (with
   * `remainingAttempts`; also for an unknown account), `VAULT_LOCKED`, `SERVER_AUTH` (not the pinned
   * key, or the server's MAC does not verify), `RATE_LIMITED`,
   * `VAULT_UNAVAILABLE` or `VAULT_PROTOCOL`.
   */
  recover(params: { account: string; password: string | Uint8Array }): Promise<Uint8Array>;
  /**
   * Recovers with the old password, then re-registers under the new one (counter back to full).
   *
   * @throws An E2EEError with the codes of `recover` and `resetPassword`.
   */
  changePassword(params: {
    account: string;
    oldPassword: string | Uint8Array;
    newPassword: string | Uint8Array;
  }): Promise<void>;
  /**
   * Re-registers under a new password, authorised by the backup key's device credential: the way
   * back in for a user who forgot the password but still has the key on a device.
   *
   * @throws An E2EEError (a {@link VaultError} when the server refused) with code `VAULT_NOT_FOUND`,
   * `VAULT_LOCKED`, `UNAUTHORIZED` (another backup key), `SERVER_AUTH` (not the pinned key),
   * `RATE_LIMITED`, `VAULT_UNAVAILABLE` or `VAULT_PROTOCOL` (also for an empty device salt).
   */
  resetPassword(params: {
    account: string;
    backupKey: Uint8Array;
    newPassword: string | Uint8Array;
  }): Promise<void>;
  /**
   * Deletes the record, authorised by the backup key's device credential.
   *
   * @throws An E2EEError (a {@link VaultError} when the server refused) with code `VAULT_NOT_FOUND`,
   * `VAULT_LOCKED`, `UNAUTHORIZED`, `SERVER_AUTH` (not the pinned key), `RATE_LIMITED`,
   * `VAULT_UNAVAILABLE` or `VAULT_PROTOCOL` (also for an empty device salt).
   */
  delete(params: { account: string; backupKey: Uint8Array }): Promise<void>;
}

type Json = Record<string, unknown>;

/**
 * Creates a client for the vault at `baseUrl` (e.g. `https://vault.example`; the API lives under
 * `/v1/`). Nothing is sent until a method is called.
 *
 * @throws A {@link VaultError} with code `VAULT_PROTOCOL` if `serverPublicKey` is a string that is
 * not 32 bytes of base64url (and a `TypeError` if `baseUrl` is not a URL).
 *
 * @example
 * ```ts
 * const vault = createVaultClient('https://vault.example');
 * await vault.register({ account: 'alice', password, backupKey });
 * const key = await vault.recover({ account: 'alice', password });
 * ```
 */
export function createVaultClient(baseUrl: string | URL, options: VaultClientOptions = {}): VaultClient {
  const base = new URL(baseUrl);
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const pinned =
    typeof options.serverPublicKey === 'string'
      ? decode(options.serverPublicKey, 'serverPublicKey', 32)
      : options.serverPublicKey;

  const maxRetryWaitMs = options.maxRetryWaitMs ?? 10_000;

  /** `send` once, or again after each `Retry-After` of a 503 while the wait budget lasts. */
  async function call(method: 'GET' | 'POST', path: string, body?: Json, retry = false): Promise<Json> {
    let waited = 0;
    for (;;) {
      try {
        return await send(method, path, body);
      } catch (err) {
        const wait = isE2EEError(err, 'VAULT_UNAVAILABLE') ? retryAfterMs(err) : undefined;
        if (!retry || wait === undefined) throw err;
        // Up to half as much again, so that clients refused together do not come back together.
        const jittered = Math.round(wait * (1 + Math.random() / 2));
        if (waited + jittered > maxRetryWaitMs) throw err;
        waited += jittered;
        await new Promise((resolve) => setTimeout(resolve, jittered));
      }
    }
  }

  async function send(method: 'GET' | 'POST', path: string, body?: Json): Promise<Json> {
    const extra = typeof options.headers === 'function' ? await options.headers() : options.headers;
    let response: Response;
    try {
      response = await doFetch(new URL(path, base), {
        method,
        headers: {
          ...extra,
          accept: 'application/json',
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new VaultError(
        'VAULT_UNAVAILABLE',
        `the vault server could not be reached: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    let json: unknown;
    try {
      json = await response.json();
    } catch (err) {
      throw new VaultError(
        response.status >= 500 ? 'VAULT_UNAVAILABLE' : 'VAULT_PROTOCOL',
        `the vault server answered ${response.status} without JSON`,
        { status: response.status, retryAfterSeconds: retryAfterHeader(response), cause: err },
      );
    }
    if (response.ok) {
      if (typeof json !== 'object' || json === null) {
        throw new VaultError('VAULT_PROTOCOL', 'the vault server answered with a non-object', {
          status: response.status,
        });
      }
      return json as Json;
    }
    throw errorFrom(response, json);
  }

  async function login(account: string, password: string | Uint8Array) {
    const { ke1, state } = startLogin(password);
    try {
      return await loginWith(account, ke1, state);
    } finally {
      forget(state.opaque); // single use: the password copy, the blind, the ephemeral key
    }
  }

  async function loginWith(account: string, ke1: Uint8Array, state: VaultLoginState) {
    // Repeatable: a 503 with Retry-After from a busy node was answered before counting anything.
    const start = await call('POST', 'v1/login/start', { account, ke1: toBase64url(ke1) }, true);
    const loginId = field(start, 'loginId');
    const ke2 = decode(start['ke2'], 'ke2', 320);
    let result: { ke3: Uint8Array; exportKey: Uint8Array };
    try {
      result = await finishLogin({
        state,
        account,
        ke2,
        ksf: start['ksf'],
        kdfOptions: options.kdfMaxima ? { maxima: options.kdfMaxima } : {},
      });
    } catch (err) {
      // Settle the attempt now rather than at expiry (a last attempt destroys the record only once
      // it is over), and learn the attempts left.
      let remaining = typeof start['remainingAttempts'] === 'number' ? start['remainingAttempts'] : undefined;
      try {
        const aborted = await call('POST', 'v1/login/abort', { loginId });
        if (typeof aborted['remainingAttempts'] === 'number') remaining = aborted['remainingAttempts'];
      } catch {
        // the server forgets the login at expiry anyway
      }
      if (isE2EEError(err, 'WRONG_PASSWORD')) throw wrongPassword(remaining, err);
      throw err;
    }
    try {
      const finish = await call('POST', 'v1/login/finish', { loginId, ke3: toBase64url(result.ke3) });
      return await openSealedBackupKey(result.exportKey, decode(finish['sealedKey'], 'sealedKey', 60));
    } finally {
      result.exportKey.fill(0); // whether or not the server released the sealed key
    }
  }

  /**
   * The device salt of the account's record or tombstone (`POST /v1/device-salt`), or undefined
   * when the account has none.
   */
  async function currentDeviceSalt(account: string): Promise<Uint8Array | undefined> {
    let answer: Json;
    try {
      answer = await call('POST', 'v1/device-salt', { account });
    } catch (err) {
      if (isE2EEError(err, 'VAULT_NOT_FOUND')) return undefined;
      throw err;
    }
    const salt = typeof answer['deviceSalt'] === 'string' ? fromBase64url(answer['deviceSalt']) : undefined;
    if (!salt || salt.length !== DEVICE_SALT_BYTES || isAllZero(salt)) {
      // The empty (or all-zero) salt gives the one credential that never changes for this key
      // and account: a server asking for it gets a credential no rotation retires (SPEC.md §9.4).
      throw new VaultError(
        'VAULT_PROTOCOL',
        salt && (salt.length === 0 || isAllZero(salt))
          ? 'the vault answered an empty device salt (a record from before device salts, or a server asking for a credential that never changes): not sending a device credential for it'
          : `'deviceSalt' must be ${DEVICE_SALT_BYTES} bytes of base64url`,
      );
    }
    return salt;
  }

  /**
   * With a pinned key, refuses (`SERVER_AUTH`) a server whose `/v1/info` names another, before
   * anything is sent for the account. Catches a wrong server, not an impostor (see the option).
   */
  async function checkPinned(): Promise<void> {
    if (!pinned) return;
    const r = await call('GET', 'v1/info');
    const key = decode(r['serverPublicKey'], 'serverPublicKey', 32);
    if (!constantTimeEqual(key, pinned)) {
      throw new VaultError('SERVER_AUTH', 'the vault server public key is not the pinned one');
    }
  }

  async function registerWith(
    mode: 'register' | 'reset',
    account: string,
    password: string | Uint8Array,
    backupKey: Uint8Array,
  ): Promise<'created' | 'replaced'> {
    checkKey(backupKey);
    // The current record's salt, for the device credential that authorises replacing it.
    const currentSalt = await currentDeviceSalt(account);
    if (currentSalt === undefined && mode === 'reset') {
      throw new VaultError('VAULT_NOT_FOUND', 'this account has no vault record to reset', { status: 404 });
    }
    const { registrationRequest, state } = startRegistration(password);
    let upload: Awaited<ReturnType<typeof finishRegistration>>;
    let registrationId: string;
    try {
      const start = await call(
        'POST',
        'v1/register/start',
        { account, registrationRequest: toBase64url(registrationRequest) },
        true,
      );
      registrationId = field(start, 'registrationId');
      upload = await finishRegistration({
        state,
        account,
        registrationResponse: decode(start['registrationResponse'], 'registrationResponse', 64),
        backupKey,
        currentDeviceSalt: currentSalt,
        ksf: options.ksf,
        kdfOptions: { allowWeak: options.allowWeakKsf === true, maxima: options.kdfMaxima },
        expectedServerPublicKey: pinned,
      });
    } finally {
      forget(state.opaque); // single use: the password copy and the blind
    }
    let done: Json;
    try {
      done = await call('POST', 'v1/register/finish', {
        registrationId,
        account,
        mode,
        registrationRecord: toBase64url(upload.registrationRecord),
        sealedKey: toBase64url(upload.sealedKey),
        deviceSalt: toBase64url(upload.deviceSalt),
        deviceVerifier: toBase64url(upload.deviceVerifier),
        ...(upload.deviceCredential ? { deviceCredential: toBase64url(upload.deviceCredential) } : {}),
        ksf: upload.ksf,
      });
    } finally {
      upload.deviceCredential?.fill(0); // sent or not
    }
    const status = done['status'];
    if (status !== 'created' && status !== 'replaced') {
      throw new VaultError('VAULT_PROTOCOL', 'unexpected answer to register/finish');
    }
    return status;
  }

  return {
    async info() {
      const r = await call('GET', 'v1/info', undefined, true);
      return {
        protocol: field(r, 'protocol'),
        serverPublicKey: decode(r['serverPublicKey'], 'serverPublicKey', 32),
        maxAttempts: Number(r['maxAttempts']),
        ksf: r['ksf'] as KsfParams,
      };
    },

    async register({ account, password, backupKey }) {
      const name = normalise(account);
      passwordBytes(password);
      checkKey(backupKey);
      await checkPinned();
      return registerWith('register', name, password, backupKey);
    },

    async recover({ account, password }) {
      const name = normalise(account);
      passwordBytes(password);
      await checkPinned();
      return login(name, password);
    },

    async changePassword({ account, oldPassword, newPassword }) {
      const name = normalise(account);
      passwordBytes(oldPassword);
      passwordBytes(newPassword);
      await checkPinned();
      const backupKey = await login(name, oldPassword);
      try {
        await registerWith('reset', name, newPassword, backupKey);
      } finally {
        backupKey.fill(0);
      }
    },

    async resetPassword({ account, backupKey, newPassword }) {
      const name = normalise(account);
      passwordBytes(newPassword);
      checkKey(backupKey);
      await checkPinned();
      await registerWith('reset', name, newPassword, backupKey);
    },

    async delete({ account, backupKey }) {
      const name = normalise(account);
      checkKey(backupKey);
      await checkPinned();
      const salt = await currentDeviceSalt(name);
      if (salt === undefined) {
        throw new VaultError('VAULT_NOT_FOUND', 'this account has no vault record', { status: 404 });
      }
      const credential = deriveDeviceCredential(backupKey, name, salt);
      try {
        await call('POST', 'v1/delete', { account: name, deviceCredential: toBase64url(credential) });
      } finally {
        credential.fill(0);
      }
    },
  };
}

/** Zeroes a used OPAQUE client state (a copy of the password, the blind, an ephemeral key). */
function forget(state: { password: Uint8Array; blind: Uint8Array; clientSecret?: Uint8Array }): void {
  state.password.fill(0);
  state.blind.fill(0);
  state.clientSecret?.fill(0);
}

function normalise(account: string): string {
  if (typeof account !== 'string') throw new E2EEError('INVALID_ARGUMENT', 'the account must be a string');
  const name = account.normalize('NFC');
  accountBytes(name);
  return name;
}

function checkKey(backupKey: unknown): void {
  if (!(backupKey instanceof Uint8Array) || backupKey.length !== BACKUP_KEY_BYTES) {
    throw new E2EEError('INVALID_KEY_SIZE', `the backup key must be ${BACKUP_KEY_BYTES} bytes`);
  }
}

function field(json: Json, name: string): string {
  const v = json[name];
  if (typeof v !== 'string') throw new VaultError('VAULT_PROTOCOL', `the vault's answer lacks '${name}'`);
  return v;
}

function decode(value: unknown, name: string, length: number): Uint8Array {
  const bytes = typeof value === 'string' ? fromBase64url(value) : undefined;
  if (!bytes || bytes.length !== length) {
    throw new VaultError('VAULT_PROTOCOL', `'${name}' must be ${length} bytes of base64url`);
  }
  return bytes;
}

function wrongPassword(remaining: number | undefined, cause: unknown): VaultError {
  const message =
    remaining === undefined
      ? 'wrong password'
      : remaining > 0
        ? `wrong password: ${remaining} attempt${remaining === 1 ? '' : 's'} left`
        : 'wrong password, and no attempts are left: the vault has destroyed this backup key';
  return new VaultError('WRONG_PASSWORD', message, { remainingAttempts: remaining, cause });
}

/**
 * How long the vault asked to wait before trying again, in ms: from the `Retry-After` of a
 * `RATE_LIMITED` or `VAULT_UNAVAILABLE` answer ({@link VaultError.retryAfterSeconds}); `undefined`
 * for any other error, or when the vault named no delay. The client already waits and retries a
 * 503 on its own (`maxRetryWaitMs`); this is for callers that retry whole operations, e.g. after
 * `RATE_LIMITED`.
 *
 * @example
 * ```ts
 * const wait = retryAfterMs(err);
 * if (wait !== undefined && wait <= 30_000) await new Promise((r) => setTimeout(r, wait));
 * ```
 */
export function retryAfterMs(err: unknown): number | undefined {
  if (!isE2EEError(err, 'RATE_LIMITED') && !isE2EEError(err, 'VAULT_UNAVAILABLE')) return undefined;
  const seconds = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds;
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

function errorFrom(response: Response, json: unknown): VaultError {
  const e = (json as { error?: Record<string, unknown> } | null)?.error;
  const status = response.status;
  const known = typeof e?.['code'] === 'string' && Object.hasOwn(ERROR_CODES, e['code']);
  const code: ErrorCode = known
    ? (e!['code'] as ErrorCode)
    : status >= 500
      ? 'VAULT_UNAVAILABLE'
      : status === 429
        ? 'RATE_LIMITED'
        : 'VAULT_PROTOCOL';
  const message = typeof e?.['message'] === 'string' ? e['message'] : `the vault server answered ${status}`;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  return new VaultError(code, message, {
    status,
    remainingAttempts: num(e?.['remainingAttempts']),
    retryAfterSeconds: num(e?.['retryAfterSeconds']) ?? retryAfterHeader(response),
  });
}

/** `Retry-After` in seconds (a proxy's 503 may carry one without a JSON body); dates are ignored. */
function retryAfterHeader(response: Response): number | undefined {
  const seconds = Number(response.headers.get('retry-after'));
  return seconds > 0 ? seconds : undefined;
}
