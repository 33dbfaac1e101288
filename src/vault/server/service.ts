/**
 * The vault server's logic, independent of HTTP: each operation takes the parsed JSON body and
 * returns a status and a JSON body. {@link createVaultApp} puts it behind Hono.
 *
 * The rules that matter (see THREAT-MODEL.md and SPEC.md §9):
 * - a login attempt is counted in the store, atomically, *before* KE2 is computed, so every OPRF
 *   evaluation under a live record's key is one counted guess;
 * - the server keeps each login's state (the expected KE3 MAC) in the store under a random id,
 *   single use, for a short time; the client never carries it;
 * - the sealed key leaves only after KE3 verifies; success resets the counter; the failure that
 *   leaves no attempt and no pending attempt destroys the record, leaving a `locked` tombstone;
 * - an unknown account is answered from the fake record, and counted on a fake counter kept in the
 *   store (under a keyed hash of the name), so that the login endpoints do not tell unknown
 *   accounts from wrong passwords, whichever node answers;
 * - registration evaluates the OPRF under a fresh random credential identifier, never under a
 *   live record's, so `register/start` is no uncounted guessing oracle;
 * - nothing secret is logged: events carry the operation, status, error code, attempts left and a
 *   short hash of the account.
 *
 * Browser-safe (no Node APIs): it could run in a worker runtime with a suitable store.
 *
 * @module
 */

import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { E2EEError, type ErrorCode, isE2EEError } from '../../errors.js';
import { isAllZero, randomBytes, toBytes } from '../../internal/bytes.js';
import { type Argon2idParams, DEFAULT_KDF_MAXIMA } from '../../primitives/kdf.js';
import { fromBase64url, toBase64url } from '../base64url.js';
import {
  createRegistrationResponse,
  deserializeKE1,
  deserializeKE3,
  deserializeRegistrationRecord,
  deserializeRegistrationRequest,
  generateFakeKE2,
  generateKE2,
  serializeKE2,
  serializeRegistrationRecord,
  serializeRegistrationResponse,
  serverFinish,
} from '../opaque/opaque.js';
import {
  accountBytes,
  CREDENTIAL_ID_BYTES,
  checkKsfParams,
  DEFAULT_KSF_PARAMS,
  DEFAULT_MAX_ATTEMPTS,
  DEVICE_CREDENTIAL_BYTES,
  DEVICE_SALT_BYTES,
  deviceVerifier,
  type ErrorResponse,
  fakeCredentialIdentifier,
  type KsfParams,
  opaqueOptions,
  SEALED_KEY_BYTES,
  SESSION_ID_BYTES,
  VAULT_PROTOCOL_VERSION,
} from '../protocol.js';
import { AdmissionRefused, createAdmission } from './admission.js';
import type { VaultKeyProvider, VaultServerSecrets } from './keys.js';
import { type RateLimit, TokenBuckets } from './rate-limit.js';
import { type LoginOutcome, overridesTombstone, type PendingLogin, type VaultStore } from './store/store.js';

/** Tunables of the vault server. */
export interface VaultLimits {
  /** Attempts per record (default 10). */
  maxAttempts: number;
  /** How long a login may sit between KE2 and KE3 (default 60 s). */
  loginTtlMs: number;
  /** How long a registration may sit between start and finish (default 5 min: Argon2 on a slow phone). */
  registrationTtlMs: number;
  /** Largest accepted request body (default 8 KiB; the largest real one is under 1 KiB). */
  maxBodyBytes: number;
  /** Per client address, every request (default 60 burst, 1 per second); `false` disables. */
  perAddress: RateLimit | false;
  /** Per account, requests naming it (default 10 burst, 1 per 10 s); `false` disables. */
  perAccount: RateLimit | false;
  /** Accept KSF parameters below OWASP's floor at registration (tests only). Default false. */
  allowWeakKsf: boolean;
  /** KSF parameters suggested by `/v1/info` and reported for unknown accounts. */
  ksfDefaults: KsfParams;
  /** Upper bounds on stored KSF parameters (default: the library's KDF maxima). */
  ksfMaxima: Partial<Argon2idParams>;
  /**
   * How long an unknown account's fake attempt counter is kept after its last attempt (default
   * 90 days). Kept in the store, so it holds across nodes and restarts; once forgotten it starts
   * again from `maxAttempts`, where a real counter would not (THREAT-MODEL.md). `Infinity` keeps
   * them for good.
   */
  fakeCounterTtlMs: number;
  /**
   * `login/start` and `register/start` (OPAQUE's server-side group operations, about 20 ms of one
   * core each) in progress at once (default 8). More wait their turn, one started per turn of the
   * event loop, so that the server keeps reading new connections meanwhile.
   */
  concurrency: number;
  /**
   * How many of them may wait (default 32: some 0.5 s of one core). Beyond, or beyond
   * `queueLimitPerAddress` from one address, the answer is at once 503 `VAULT_UNAVAILABLE` with
   * `Retry-After: 1`, before anything is counted; an address that comes back sooner is answered
   * the same, but only once that second is over.
   */
  queueLimit: number;
  /**
   * How many in progress or waiting may come from one client address (default 8): the address of
   * the per-address rate limit (`clientAddress`), so that one source cannot fill the queue.
   */
  queueLimitPerAddress: number;
}

/** The defaults of {@link VaultLimits}. */
export const DEFAULT_VAULT_LIMITS: Readonly<VaultLimits> = Object.freeze({
  maxAttempts: DEFAULT_MAX_ATTEMPTS,
  loginTtlMs: 60_000,
  registrationTtlMs: 300_000,
  maxBodyBytes: 8192,
  perAddress: { capacity: 60, refillPerSecond: 1 },
  perAccount: { capacity: 10, refillPerSecond: 0.1 },
  allowWeakKsf: false,
  ksfDefaults: DEFAULT_KSF_PARAMS,
  ksfMaxima: DEFAULT_KDF_MAXIMA,
  fakeCounterTtlMs: 90 * 24 * 3600 * 1000,
  concurrency: 8,
  queueLimit: 32,
  queueLimitPerAddress: 8,
});

/** One line of the vault's log. Never contains a password, key, record or protocol message. */
export interface VaultLogEvent {
  /** The operation requested. */
  op: VaultOperation;
  /** The HTTP status answered. */
  status: number;
  /** The error code, for 4xx and 5xx answers. */
  code?: string;
  /** First 12 hex digits of SHA-256(account): lets operators correlate without writing the name. */
  accountTag?: string;
  /** Attempts left on the record after this request, when it touched them. */
  remainingAttempts?: number;
  /** For 5xx: the internal error's message (never request data). */
  detail?: string;
}

/** The operations of the API, named after their paths under `/v1/`. */
export type VaultOperation =
  | 'info'
  | 'device-salt'
  | 'health'
  | 'register/start'
  | 'register/finish'
  | 'login/start'
  | 'login/finish'
  | 'login/abort'
  | 'delete';

/** What the transport knows about the request. */
export interface VaultRequestContext {
  /** The client's network address, for the per-address rate limit. */
  address?: string;
  /** The request headers, for {@link VaultServiceOptions.authorize}. */
  headers?: Headers;
}

/** A JSON answer. */
export interface VaultResponse {
  /** The HTTP status. */
  status: number;
  /** The JSON body: one of the `…Response` types of the protocol, or an {@link ErrorResponse}. */
  body: unknown;
  /** Extra response headers, e.g. `retry-after` with `RATE_LIMITED`. */
  headers?: Record<string, string>;
}

/** Options of {@link createVaultService}. */
export interface VaultServiceOptions {
  /** Where records, counters and pending logins live; shared by every server process. */
  store: VaultStore;
  /** Where the long-term secrets come from; loaded on first use, retried if that fails. */
  keys: VaultKeyProvider;
  /** Overrides of {@link DEFAULT_VAULT_LIMITS}. */
  limits?: Partial<VaultLimits>;
  /** Receives one event per request. Default: nothing is logged. */
  log?: (event: VaultLogEvent) => void;
  /** Clock (epoch ms); tests move it. */
  now?: () => number;
  /**
   * Optional gate for every operation that names an account: return `true` to let it through,
   * anything else to answer 401 `UNAUTHORIZED`. A deployment with its own accounts (a phone
   * number verified by the app's server, a session cookie) should use it, so that only the owner
   * can register an account name or spend its attempts; without it, anyone who knows an account
   * name can lock it by guessing wrong ten times (THREAT-MODEL.md).
   *
   * **Tombstone override.** A `register/finish` that would register over a `locked` tombstone
   * without the tombstone's device credential (the owner lost the backup key; SPEC.md §9.5) is
   * asked a second time, with `tombstoneOverride: true`. Only the string `'override-tombstone'`
   * approves that; `true` does not, so a gate written for ordinary requests never hands a
   * destroyed account's name to whoever asks. Return it only for the account's owner, proven by
   * the deployment's own means. (`'override-tombstone'` also approves an ordinary request.)
   */
  authorize?: (request: {
    /** The operation requested. */
    op: VaultOperation;
    /** The account it names, by the account profile (SPEC.md §9.1). */
    account: string;
    /** The transport's facts: the client address, the headers. */
    context: VaultRequestContext;
    /**
     * `true` only on the second call for a `register/finish` that would register over a
     * tombstone without its device credential: approve it with `'override-tombstone'`.
     */
    tombstoneOverride?: true;
  }) => boolean | 'override-tombstone' | Promise<boolean | 'override-tombstone'>;
}

/** The transport-independent vault server. */
export interface VaultService {
  /** The limits in force: the defaults merged with the options. */
  readonly limits: Readonly<VaultLimits>;
  /** Runs one operation. Never throws: every failure is a 4xx or 5xx {@link VaultResponse}. */
  handle(op: VaultOperation, body: unknown, context?: VaultRequestContext): Promise<VaultResponse>;
  /** Housekeeping (expired logins, abandoned last attempts); the Node server runs it periodically. */
  sweep(): Promise<number>;
}

/** HTTP status of each error code the server answers with. */
export const VAULT_HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  VAULT_PROTOCOL: 400,
  KDF_PARAMS: 400,
  WRONG_PASSWORD: 401,
  UNAUTHORIZED: 403,
  VAULT_NOT_FOUND: 404,
  VAULT_LOCKED: 423,
  RATE_LIMITED: 429,
  VAULT_UNAVAILABLE: 503,
};

/** A refusal with an HTTP status, thrown inside the service and turned into a response. */
class Refusal {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    readonly message: string,
    readonly extra: { remainingAttempts?: number; retryAfterSeconds?: number } = {},
  ) {}
}

const refuse = (code: ErrorCode, message: string, extra?: Refusal['extra'], status?: number): Refusal =>
  new Refusal(status ?? VAULT_HTTP_STATUS[code] ?? 400, code, message, extra);

// ---------------------------------------------------------------------------------------------
// Strict JSON field parsing

type Fields = Record<string, unknown>;

function fields(body: unknown, allowed: readonly string[]): Fields {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw refuse('VAULT_PROTOCOL', 'the request body must be a JSON object');
  }
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) throw refuse('VAULT_PROTOCOL', `unexpected field '${key}'`);
  }
  return body as Fields;
}

function text(f: Fields, name: string): string {
  const v = f[name];
  if (typeof v !== 'string') throw refuse('VAULT_PROTOCOL', `field '${name}' must be a string`);
  return v;
}

function binary(f: Fields, name: string, length: number): Uint8Array {
  const v = fromBase64url(text(f, name));
  if (!v) throw refuse('VAULT_PROTOCOL', `field '${name}' is not canonical unpadded base64url`);
  if (v.length !== length) {
    throw refuse('VAULT_PROTOCOL', `field '${name}' must be ${length} bytes, got ${v.length}`);
  }
  return v;
}

/** The account field, by the account profile (SPEC.md §9.1): else 400 `INVALID_ARGUMENT`. */
function account(f: Fields): string {
  const v = f['account'];
  try {
    accountBytes(v);
  } catch (err) {
    throw refuse('INVALID_ARGUMENT', (err as Error).message);
  }
  return v as string;
}

/** Runs a message parser, turning its E2EEError (VAULT_PROTOCOL) into a 400. */
function parse<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (isE2EEError(err)) throw refuse('VAULT_PROTOCOL', err.message);
    throw err;
  }
}

const sessionId = (): string => toBase64url(randomBytes(SESSION_ID_BYTES));
/** Stores see only a hash of each id: reading the database does not let one finish a login. */
const idHash = (id: string): string => bytesToHex(sha256(toBytes(id)));
const accountTag = (a: string): string => bytesToHex(sha256(toBytes(a))).slice(0, 12);

/** HKDF info of the key under which fake counters are filed (SPEC.md §9.5). */
const FAKE_COUNTER_KEY_INFO = toBytes('e2ee-backup vault fake counter key v1');

/** The secrets, plus the key that files fake counters, derived once per load. */
interface LoadedSecrets extends VaultServerSecrets {
  fakeCounterKey: Uint8Array;
}

// ---------------------------------------------------------------------------------------------

/** Creates the vault service over a store and a key provider. */
export function createVaultService(options: VaultServiceOptions): VaultService {
  const { store, keys } = options;
  const limits: VaultLimits = { ...DEFAULT_VAULT_LIMITS, ...options.limits };
  const now = options.now ?? Date.now;
  const byAddress = limits.perAddress ? new TokenBuckets(limits.perAddress) : undefined;
  const byAccount = limits.perAccount ? new TokenBuckets(limits.perAccount) : undefined;
  if (!(limits.fakeCounterTtlMs > 0)) {
    throw new E2EEError('INVALID_ARGUMENT', 'limits.fakeCounterTtlMs must be a positive number');
  }
  const admission = createAdmission(limits, { retryAfterMs: RETRY_AFTER_SECONDS * 1000, now });

  let secrets: Promise<LoadedSecrets> | undefined;
  const loadSecrets = (): Promise<LoadedSecrets> => {
    secrets ??= keys.load().then(
      (loaded) => ({
        ...loaded,
        // Keyed by a secret every node shares (the fake record's masking key), so that the store
        // files fake counters under names it cannot reverse by hashing candidate accounts.
        fakeCounterKey: hkdf(sha256, loaded.fakeRecord.maskingKey, undefined, FAKE_COUNTER_KEY_INFO, 32),
      }),
      (err) => {
        secrets = undefined; // retry on the next request
        throw err;
      },
    );
    return secrets;
  };
  /** Where the store files this account's fake counter: HMAC-SHA-256(fake counter key, account). */
  const fakeKey = (loaded: LoadedSecrets, name: string): string =>
    bytesToHex(hmac(sha256, loaded.fakeCounterKey, accountBytes(name)));

  const limitAccount = (name: string): void => {
    const r = byAccount?.take(name, now());
    if (r && !r.ok) {
      throw refuse('RATE_LIMITED', 'too many requests for this account', {
        retryAfterSeconds: r.retryAfterSeconds,
      });
    }
  };

  const gate = async (op: VaultOperation, name: string, context: VaultRequestContext): Promise<void> => {
    limitAccount(name);
    if (options.authorize) {
      const answer = await options.authorize({ op, account: name, context });
      if (answer !== true && answer !== 'override-tombstone') {
        throw refuse('UNAUTHORIZED', 'this request is not authorised for this account', undefined, 401);
      }
    }
  };

  /**
   * Whether the deployment approves registering over this account's tombstone without its device
   * credential: asked only when that is what the request would do, and approved only by
   * `'override-tombstone'`. Decided from a read before the store's transaction; if the account
   * changes in between, the approval can only have been asked for too often, never too rarely
   * (the store decides again, and it matters only for a tombstone).
   */
  const overrideApproved = async (
    name: string,
    mode: 'register' | 'reset',
    presented: Uint8Array | undefined,
    context: VaultRequestContext,
  ): Promise<boolean> => {
    if (!options.authorize || mode !== 'register') return false;
    if (!overridesTombstone(await store.getAccount(name), presented)) return false;
    const answer = await options.authorize({
      op: 'register/finish',
      account: name,
      context,
      tombstoneOverride: true,
    });
    return answer === 'override-tombstone';
  };

  const changed = (): Refusal =>
    refuse(
      'VAULT_PROTOCOL',
      'the vault record changed during this login (reset, deleted or destroyed): start again',
      undefined,
      409,
    );

  const locked = (): Refusal =>
    refuse('VAULT_LOCKED', 'too many wrong passwords: this vault record has been destroyed for good');

  const ops: Record<
    VaultOperation,
    (body: unknown, context: VaultRequestContext, event: VaultLogEvent) => Promise<VaultResponse>
  > = {
    async info() {
      const { serverKeys } = await loadSecrets();
      return {
        status: 200,
        body: {
          protocol: VAULT_PROTOCOL_VERSION,
          serverPublicKey: toBase64url(serverKeys.publicKey),
          maxAttempts: limits.maxAttempts,
          ksf: limits.ksfDefaults,
        },
      };
    },

    async 'device-salt'(body, context, event) {
      const f = fields(body, ['account']);
      const name = account(f);
      event.accountTag = accountTag(name);
      await gate('device-salt', name, context);
      // A tombstone answers too: registering over it takes its last device credential.
      const current = await store.getAccount(name);
      if (!current) throw refuse('VAULT_NOT_FOUND', 'this account has no vault record');
      return { status: 200, body: { deviceSalt: toBase64url(current.deviceSalt ?? new Uint8Array(0)) } };
    },

    async health() {
      // Says whether this node can serve now: its database reachable (503 while it is not).
      const health = (await store.health?.()) ?? {};
      return { status: 200, body: { status: 'ok', store: store.kind, ...health } };
    },

    async 'register/start'(body, context, event) {
      const f = fields(body, ['account', 'registrationRequest']);
      const name = account(f);
      event.accountTag = accountTag(name);
      const request = parse(() => deserializeRegistrationRequest(binary(f, 'registrationRequest', 32)));
      await gate('register/start', name, context);
      const { serverKeys } = await loadSecrets();
      // A fresh credential identifier, so this OPRF evaluation is under a key no record uses yet.
      const credentialId = randomBytes(CREDENTIAL_ID_BYTES);
      const response = createRegistrationResponse({
        request,
        serverKeys,
        credentialIdentifier: credentialId,
      });
      const id = sessionId();
      await store.putRegistration({
        idHash: idHash(id),
        account: name,
        credentialId,
        expiresAt: now() + limits.registrationTtlMs,
      });
      return {
        status: 200,
        body: {
          registrationId: id,
          registrationResponse: toBase64url(serializeRegistrationResponse(response)),
          expiresInSeconds: Math.floor(limits.registrationTtlMs / 1000),
        },
      };
    },

    async 'register/finish'(body, context, event) {
      const f = fields(body, [
        'registrationId',
        'account',
        'mode',
        'registrationRecord',
        'sealedKey',
        'deviceSalt',
        'deviceVerifier',
        'deviceCredential',
        'ksf',
      ]);
      const name = account(f);
      event.accountTag = accountTag(name);
      const id = binaryId(f, 'registrationId');
      const mode = f['mode'];
      if (mode !== 'register' && mode !== 'reset') {
        throw refuse('VAULT_PROTOCOL', "field 'mode' must be 'register' or 'reset'");
      }
      const record = parse(() => deserializeRegistrationRecord(binary(f, 'registrationRecord', 192)));
      const sealedKey = binary(f, 'sealedKey', SEALED_KEY_BYTES);
      const deviceSalt = binary(f, 'deviceSalt', DEVICE_SALT_BYTES);
      // All zeros is the empty salt to HKDF-SHA512 (HMAC pads its key with zeros): the one fixed
      // credential per key and account that device salts exist to avoid (SPEC.md §9.4).
      if (isAllZero(deviceSalt)) {
        throw refuse('VAULT_PROTOCOL', "field 'deviceSalt' is all zeros: draw it from a CSPRNG");
      }
      const newVerifier = binary(f, 'deviceVerifier', DEVICE_CREDENTIAL_BYTES);
      let presented: Uint8Array | undefined;
      if (f['deviceCredential'] !== undefined) {
        const credential = binary(f, 'deviceCredential', DEVICE_CREDENTIAL_BYTES);
        presented = deviceVerifier(credential);
        credential.fill(0); // only compared through its hash
      }
      let ksf: KsfParams;
      try {
        ksf = checkKsfParams(f['ksf'], {
          purpose: limits.allowWeakKsf ? 'open' : 'create',
          maxima: limits.ksfMaxima,
        });
      } catch (err) {
        throw refuse(
          isE2EEError(err, 'KDF_PARAMS') ? 'KDF_PARAMS' : 'VAULT_PROTOCOL',
          (err as Error).message,
        );
      }
      await gate('register/finish', name, context);
      const pending = await store.takeRegistration(idHash(id), now());
      if (!pending || pending.account !== name) {
        throw refuse(
          'VAULT_PROTOCOL',
          'unknown or expired registration (or for another account): start the registration again',
          undefined,
          409,
        );
      }
      const outcome = await store.commitRecord({
        account: name,
        mode,
        credentialId: pending.credentialId,
        record: serializeRegistrationRecord(record),
        sealedKey,
        deviceVerifier: newVerifier,
        deviceSalt,
        presentedVerifier: presented,
        authorized: await overrideApproved(name, mode, presented, context),
        ksf,
        maxAttempts: limits.maxAttempts,
      });
      switch (outcome) {
        case 'created':
        case 'replaced':
          event.remainingAttempts = limits.maxAttempts;
          return {
            status: outcome === 'created' ? 201 : 200,
            body: { status: outcome, remainingAttempts: limits.maxAttempts },
          };
        case 'unauthorized':
          throw refuse(
            'UNAUTHORIZED',
            'this account already has a vault record (or the tombstone of one), and no matching device credential was given (nor, for a tombstone, an approved override)',
          );
        case 'not_found':
          throw refuse('VAULT_NOT_FOUND', 'this account has no vault record to reset');
        case 'locked':
          throw locked();
        case 'salt_reused':
          throw refuse(
            'VAULT_PROTOCOL',
            'the new device salt is the one this account already has: every registration draws a new one',
          );
      }
    },

    async 'login/start'(body, context, event) {
      const f = fields(body, ['account', 'ke1']);
      const name = account(f);
      event.accountTag = accountTag(name);
      const ke1 = parse(() => deserializeKE1(binary(f, 'ke1', 96)));
      await gate('login/start', name, context);
      const loaded = await loadSecrets();
      const { serverKeys, fakeRecord } = loaded;
      const t = now();
      const id = sessionId();
      const pending = { idHash: idHash(id), expiresAt: t + limits.loginTtlMs };
      // Counted first, and pending from that moment: the OPRF evaluation inside KE2 is what a
      // guess costs. An unknown account is counted the same way, on its fake counter.
      const attempt = await store.countAttempt(name, t, pending, {
        key: fakeKey(loaded, name),
        maxAttempts: limits.maxAttempts,
        expiresAt: Math.min(t + limits.fakeCounterTtlMs, Number.MAX_SAFE_INTEGER),
      });
      if (attempt.kind === 'locked') throw locked();
      let answer: { ke2: Uint8Array; expectedMac: Uint8Array };
      let remaining: number;
      let ksf: KsfParams;
      let generation = 0;
      if (attempt.kind === 'counted') {
        const { ke2, state } = generateKE2({
          serverKeys,
          record: deserializeRegistrationRecord(attempt.record),
          credentialIdentifier: attempt.credentialId,
          ke1,
          ...opaqueOptions(name),
        });
        answer = { ke2: serializeKE2(ke2), expectedMac: state.expectedClientMac };
        state.sessionKey.fill(0);
        ({ remaining, ksf, generation } = attempt);
      } else {
        const { ke2, state } = generateFakeKE2({
          serverKeys,
          fakeRecord,
          credentialIdentifier: fakeCredentialIdentifier(name),
          ke1,
          ...opaqueOptions(name),
        });
        answer = { ke2: serializeKE2(ke2), expectedMac: state.expectedClientMac };
        state.sessionKey.fill(0);
        remaining = attempt.remaining;
        ksf = limits.ksfDefaults;
      }
      let armed: boolean;
      try {
        armed = await store.putLogin({
          ...pending,
          account: name,
          generation,
          expectedMac: answer.expectedMac,
          fake: attempt.kind === 'absent',
        });
      } finally {
        answer.expectedMac.fill(0); // the store has its copy
      }
      if (!armed) throw changed();
      event.remainingAttempts = remaining;
      return {
        status: 200,
        body: {
          loginId: id,
          ke2: toBase64url(answer.ke2),
          ksf,
          remainingAttempts: remaining,
          expiresInSeconds: Math.floor(limits.loginTtlMs / 1000),
        },
      };
    },

    async 'login/finish'(body, _context, event) {
      const f = fields(body, ['loginId', 'ke3']);
      const id = binaryId(f, 'loginId');
      const ke3 = parse(() => deserializeKE3(binary(f, 'ke3', 64)));
      const login = await claim(id);
      event.accountTag = accountTag(login.account);
      let ok = false;
      try {
        serverFinish(
          { expectedClientMac: login.expectedMac, sessionKey: new Uint8Array(0), fake: login.fake },
          ke3,
        );
        ok = true;
      } catch {
        ok = false;
      } finally {
        login.expectedMac.fill(0);
      }
      // A fake login fails like a real one, reporting its fake counter as it is now.
      const outcome = await finish(login, ok);
      switch (outcome.kind) {
        case 'released':
          event.remainingAttempts = limits.maxAttempts;
          return { status: 200, body: { sealedKey: toBase64url(outcome.sealedKey) } };
        case 'failed':
          throw wrongPassword(outcome.remaining, event);
        case 'locked':
          throw locked();
        case 'changed':
          throw changed();
      }
    },

    async 'login/abort'(body, _context, event) {
      const f = fields(body, ['loginId']);
      const login = await claim(binaryId(f, 'loginId'));
      event.accountTag = accountTag(login.account);
      login.expectedMac.fill(0);
      const outcome = await finish(login, false);
      const remaining = outcome.kind === 'failed' ? outcome.remaining : 0;
      event.remainingAttempts = remaining;
      return { status: 200, body: { remainingAttempts: remaining } };
    },

    async delete(body, context, event) {
      const f = fields(body, ['account', 'deviceCredential']);
      const name = account(f);
      event.accountTag = accountTag(name);
      const credential = binary(f, 'deviceCredential', DEVICE_CREDENTIAL_BYTES);
      const verifier = deviceVerifier(credential);
      credential.fill(0);
      await gate('delete', name, context);
      const outcome = await store.deleteRecord(name, verifier);
      switch (outcome) {
        case 'deleted':
          return { status: 200, body: { status: 'deleted' } };
        case 'unauthorized':
          throw refuse('UNAUTHORIZED', 'the device credential does not match this vault record');
        case 'not_found':
          throw refuse('VAULT_NOT_FOUND', 'this account has no vault record');
        case 'locked':
          throw locked();
      }
    },
  };

  function binaryId(f: Fields, name: string): string {
    binary(f, name, SESSION_ID_BYTES);
    return f[name] as string;
  }

  async function finish(login: PendingLogin, ok: boolean): Promise<LoginOutcome> {
    const key = login.fake ? fakeKey(await loadSecrets(), login.account) : undefined;
    return store.finishLogin(login, ok, now(), limits.maxAttempts, key);
  }

  async function claim(id: string) {
    const login = await store.claimLogin(idHash(id), now());
    if (!login) {
      throw refuse(
        'VAULT_PROTOCOL',
        'unknown, expired or already finished login: start the login again',
        undefined,
        409,
      );
    }
    return login;
  }

  function wrongPassword(remaining: number, event: VaultLogEvent): Refusal {
    event.remainingAttempts = remaining;
    return refuse(
      'WRONG_PASSWORD',
      remaining > 0
        ? `wrong password: ${remaining} attempt${remaining === 1 ? '' : 's'} left`
        : 'wrong password, and no attempts are left: the vault has destroyed this backup key',
      { remainingAttempts: remaining },
    );
  }

  return {
    limits,

    async handle(op, body, context = {}) {
      const event: VaultLogEvent = { op, status: 0 };
      let response: VaultResponse;
      try {
        const handler = Object.hasOwn(ops, op) ? ops[op] : undefined;
        if (!handler) throw refuse('VAULT_PROTOCOL', `unknown operation '${String(op)}'`, undefined, 404);
        const r = context.address ? byAddress?.take(context.address, now()) : undefined;
        if (r && !r.ok) {
          throw refuse('RATE_LIMITED', 'too many requests from this address', {
            retryAfterSeconds: r.retryAfterSeconds,
          });
        }
        if (op === 'login/start' || op === 'register/start') {
          const busy = () =>
            refuse('VAULT_UNAVAILABLE', 'the vault is busy: try again shortly', {
              retryAfterSeconds: RETRY_AFTER_SECONDS,
            });
          const admitted = admission.run(context.address, () => handler(body, context, event));
          if (!admitted.ok) {
            // Back before its Retry-After: answered when that is over, not at once.
            if (admitted.holdMs > 0) await new Promise((r) => setTimeout(r, admitted.holdMs));
            throw busy();
          }
          response = await admitted.result.catch((err: unknown) => {
            throw err instanceof AdmissionRefused ? busy() : err;
          });
        } else response = await handler(body, context, event);
      } catch (err) {
        response = errorResponse(err, event);
      }
      event.status = response.status;
      try {
        options.log?.(event);
      } catch {
        // a failing logger must not turn a served request into an error
      }
      return response;
    },

    sweep: () => store.sweep(now()),
  };
}

/** `Retry-After` of a 503: a busy node or a database restarting is usually back within seconds. */
const RETRY_AFTER_SECONDS = 1;

function errorResponse(err: unknown, event: VaultLogEvent): VaultResponse {
  let refusal: Refusal;
  if (err instanceof Refusal) refusal = err;
  else {
    // Store or key-provider failure: the details go to the log, not to the client.
    event.detail = err instanceof Error ? err.message : String(err);
    refusal = new Refusal(503, 'VAULT_UNAVAILABLE', 'the vault is temporarily unavailable', {
      retryAfterSeconds: RETRY_AFTER_SECONDS,
    });
  }
  event.code = refusal.code;
  const body: ErrorResponse = { error: { code: refusal.code, message: refusal.message, ...refusal.extra } };
  const headers: Record<string, string> = {};
  if (refusal.extra.retryAfterSeconds !== undefined) {
    headers['retry-after'] = String(refusal.extra.retryAfterSeconds);
  }
  return { status: refusal.status, body, headers };
}

/** @internal The error body for a refusal made outside the service (body limit, bad JSON). */
export function protocolError(status: number, code: ErrorCode, message: string): VaultResponse {
  const body: ErrorResponse = { error: { code, message } };
  return { status, body };
}
