/**
 * The vault's storage contract, {@link VaultStore}, and the decisions every adapter shares.
 *
 * The store, not the server process, is where the guarantees live: several server processes may
 * share one store, so every method is one atomic step (one transaction). The rules each adapter
 * applies inside its transaction are the pure functions below, so SQLite, PostgreSQL and the
 * in-memory store cannot drift apart; one test suite (`test/vault/store.test.ts`) runs against
 * all of them.
 *
 * Browser-safe (types and pure functions only).
 *
 * @module
 */

import { E2EEError } from '../../../errors.js';
import { constantTimeEqual } from '../../../internal/bytes.js';
import type { KsfParams } from '../../protocol.js';

/** `active`: a record and a sealed key are stored. `locked`: destroyed by the attempt limit. */
export type AccountStatus = 'active' | 'locked';

/**
 * One account as stored. A `locked` account is a tombstone: the record, sealed key, credential
 * identifier and KSF cost are gone; the name, status, counters, device salt and device verifier
 * remain, so that it answers `VAULT_LOCKED` rather than looking unknown, and only the device that
 * holds the backup key (or an override the deployment's `authorize` gate approves) may register
 * over it.
 */
export interface VaultAccount {
  /** The account name (NFC), the key of the row. */
  account: string;
  /** Whether the record is live or destroyed. */
  status: AccountStatus;
  /** Login attempts left; decremented when an attempt starts, reset on success. */
  remaining: number;
  /**
   * Set by every (re-)registration from a store-wide counter, so an account's generations strictly
   * increase, even across a delete; pending logins name the generation they counted against.
   */
  generation: number;
  /** The random OPAQUE credential identifier of this registration (32 bytes). */
  credentialId?: Uint8Array;
  /** The OPAQUE RegistrationRecord (192 bytes). */
  record?: Uint8Array;
  /** The client-sealed backup key (60 bytes). */
  sealedKey?: Uint8Array;
  /** SHA-256 of the device credential (32 bytes); kept by a tombstone. */
  deviceVerifier?: Uint8Array;
  /**
   * The salt of the device credential (32 bytes), drawn by the client for this registration; kept
   * by a tombstone. Absent for a record stored before device salts existed (the empty salt).
   */
  deviceSalt?: Uint8Array;
  /** The KSF parameters the client registered with, handed back at login. */
  ksf?: KsfParams;
}

/** What {@link VaultStore.countAttempt} found. */
export type AttemptResult =
  | {
      /** A live record: the attempt is counted and pending; answer with a real KE2. */
      kind: 'counted';
      /** The record's generation, which the pending login was recorded against. */
      generation: number;
      /** Attempts left after this one. */
      remaining: number;
      /** The record's OPAQUE credential identifier (32 bytes). */
      credentialId: Uint8Array;
      /** The OPAQUE RegistrationRecord (192 bytes). */
      record: Uint8Array;
      /** The record's KSF parameters, for the client. */
      ksf: KsfParams;
    }
  | {
      /** Destroyed (now or earlier): answer `VAULT_LOCKED`. */
      kind: 'locked';
    }
  | {
      /**
       * No such account: the attempt is counted on the account's fake counter (and pending, as a
       * fake login); answer from the fake record. (A spent fake counter answers `locked`.)
       */
      kind: 'absent';
      /** Attempts left on the fake counter after this one. */
      remaining: number;
    };

/**
 * The fake attempt counter of an account that has no record, so that unknown accounts count down
 * and lock exactly like real ones, on every node. Kept in the store under a keyed hash of the
 * account (the store never learns which names were probed), and forgotten once untouched until
 * `expiresAt`.
 */
export interface FakeCounter {
  /** Keyed hash of the account (hex), computed by the server; the counter's key in the store. */
  key: string;
  /** The attempts a new (or forgotten) fake counter starts with: the server's limit. */
  maxAttempts: number;
  /** Epoch milliseconds until which the counter is kept; every attempt moves it. */
  expiresAt: number;
}

/** A login between KE2 and KE3, kept by the server (never by the client). */
export interface PendingLogin {
  /** SHA-256 (hex) of the login id handed to the client: the store never holds the id itself. */
  idHash: string;
  /** The account the login is for. */
  account: string;
  /** The generation the attempt was counted against (0 for a fake login). */
  generation: number;
  /** The KE3 MAC the server expects (64 bytes). */
  expectedMac: Uint8Array;
  /** Answered from the fake record: can only fail. */
  fake: boolean;
  /** Epoch milliseconds. */
  expiresAt: number;
}

/** A registration between `register/start` and `register/finish`. */
export interface PendingRegistration {
  /** SHA-256 (hex) of the registration id handed to the client. */
  idHash: string;
  /** The account `register/start` named; `register/finish` must name the same. */
  account: string;
  /** The credential identifier the server's OPRF evaluation used. */
  credentialId: Uint8Array;
  /** Epoch milliseconds. */
  expiresAt: number;
}

/** How a login ended, from {@link VaultStore.finishLogin}. */
export type LoginOutcome =
  | {
      /** The password was right: the counter is full again. */
      kind: 'released';
      /** The sealed backup key to hand to the client (60 bytes). */
      sealedKey: Uint8Array;
    }
  | {
      /** The password was wrong (or the login aborted). */
      kind: 'failed';
      /** Attempts left. */
      remaining: number;
      /** Whether this failure destroyed the record (no attempts and nothing else pending). */
      destroyed: boolean;
    }
  | {
      /** The record had already been destroyed. */
      kind: 'locked';
    }
  | {
      /** The record was replaced or deleted after KE1: this login can no longer succeed. */
      kind: 'changed';
    };

/** What `register/finish` asks the store to write. */
export interface CommitInput {
  /** The account (NFC). */
  account: string;
  /** `register`: create, or replace when the verifier matches. `reset`: replace a live record only. */
  mode: 'register' | 'reset';
  /** The credential identifier of the pending registration (32 bytes). */
  credentialId: Uint8Array;
  /** The OPAQUE RegistrationRecord (192 bytes). */
  record: Uint8Array;
  /** The client-sealed backup key (60 bytes). */
  sealedKey: Uint8Array;
  /** The new record's device verifier (32 bytes): SHA-256 of its device credential, to store. */
  deviceVerifier: Uint8Array;
  /** The new record's device salt (32 bytes), to store. */
  deviceSalt: Uint8Array;
  /**
   * SHA-256 of the device credential presented for the current record (32 bytes), checked against
   * the stored verifier; absent when none was presented.
   */
  presentedVerifier?: Uint8Array;
  /**
   * Whether the deployment's `authorize` gate approved a tombstone override for this request (it
   * answered `'override-tombstone'` to a call with `tombstoneOverride: true`): enough to register
   * over a tombstone without its device credential. False when there is no gate, or it was not
   * asked, or it answered anything else.
   */
  authorized: boolean;
  /** The KSF parameters to store with the record. */
  ksf: KsfParams;
  /** The attempts the new record starts with. */
  maxAttempts: number;
}

/**
 * What {@link VaultStore.commitRecord} did: `created` or `replaced` the record, or refused it as
 * `unauthorized` (a live record or a tombstone, and no matching device credential), `not_found`
 * (`reset` without a record), `locked` (`reset` of a destroyed record) or `salt_reused` (the new
 * device salt is the one the record or tombstone already has: its credential would not change).
 */
export type CommitOutcome = 'created' | 'replaced' | 'unauthorized' | 'not_found' | 'locked' | 'salt_reused';
/**
 * What {@link VaultStore.deleteRecord} did: `deleted`, or refused as `unauthorized` (other device
 * credential), `not_found` or `locked` (a tombstone stays, to keep answering `VAULT_LOCKED`).
 */
export type DeleteOutcome = 'deleted' | 'unauthorized' | 'not_found' | 'locked';

/**
 * How long a claimed login stays pending after its expiry (ms): the time its `login/finish` has
 * to settle it. Until then neither housekeeping nor another attempt may settle the attempt for it
 * (and so destroy a record whose right password is being finished); after it, a claim whose
 * request died is settled like an expired login.
 */
export const CLAIMED_LOGIN_GRACE_MS = 60_000;

/**
 * Whether a pending login still counts as pending at `now` for the destruction rule: unexpired,
 * or claimed and within {@link CLAIMED_LOGIN_GRACE_MS} of its expiry.
 */
export function stillPending(login: { expiresAt: number; used: boolean }, now: number): boolean {
  return login.expiresAt > now || (login.used && login.expiresAt > now - CLAIMED_LOGIN_GRACE_MS);
}

/**
 * The value of a fake counter after one more attempt: `maxAttempts - 1` for a new or expired
 * counter, one less otherwise; -1 marks a spent counter (the attempt is refused as `locked`).
 */
export function nextFakeRemaining(
  current: { remaining: number; expiresAt: number } | undefined,
  now: number,
  maxAttempts: number,
): number {
  if (current === undefined || current.expiresAt <= now) return maxAttempts - 1;
  return Math.max(current.remaining - 1, -1);
}

/**
 * Storage for the vault. Every method is atomic with respect to every other call on any store
 * instance that shares the same data (other processes included). Times are epoch milliseconds
 * from the server's clock, passed in so tests can move time.
 */
export interface VaultStore {
  /** A short name for logs: `memory`, `sqlite`, `postgres`. */
  readonly kind: string;
  /**
   * Counts a login attempt before the server answers KE1: in one step, if the account is active
   * with attempts left, decrements `remaining`, records `pending` as an unarmed pending login of
   * the record's generation (so the attempt is pending from the moment it is counted), and
   * returns the record. An active account with no attempts left answers `locked` (and is
   * destroyed here if no counted attempt is still pending). An account with no row at all is
   * counted on its fake counter `fake` instead (by `nextFakeRemaining`; its expiry moved to
   * `fake.expiresAt`), with `pending` recorded as an unarmed fake login: `absent`, or `locked`
   * once the fake counter is spent.
   */
  countAttempt(
    account: string,
    now: number,
    pending: { idHash: string; expiresAt: number },
    fake: FakeCounter,
  ): Promise<AttemptResult>;
  /**
   * Stores the server side of a login once KE2 is computed: arms the pending row
   * {@link countAttempt} created (sets its expected MAC), and answers false if that row is gone
   * (the record was replaced or destroyed meanwhile).
   */
  putLogin(login: PendingLogin): Promise<boolean>;
  /**
   * Marks an armed pending login as used and returns it; `undefined` if it is unknown, unarmed,
   * expired or already used (a replayed KE3). The row stays until {@link finishLogin}, so a login in flight
   * still counts as pending for the destruction rule.
   */
  claimLogin(idHash: string, now: number): Promise<PendingLogin | undefined>;
  /**
   * Ends a claimed login. Success (same generation, still active): resets `remaining` to
   * `maxAttempts` and returns the sealed key. Failure: if no attempts remain and no other
   * counted attempt is pending, destroys the record (tombstone). A fake login only disappears,
   * and fails with the current value of the fake counter `fakeKey` (as a real login reports its
   * account's current counter; 0 if the counter is spent, forgotten or not named).
   */
  finishLogin(
    login: PendingLogin,
    success: boolean,
    now: number,
    maxAttempts: number,
    fakeKey?: string,
  ): Promise<LoginOutcome>;
  /** Stores a pending registration until {@link takeRegistration} removes it or it expires. */
  putRegistration(registration: PendingRegistration): Promise<void>;
  /** Removes and returns a pending registration; `undefined` if unknown or expired. */
  takeRegistration(idHash: string, now: number): Promise<PendingRegistration | undefined>;
  /**
   * Creates or replaces a record by the rules every adapter shares (`decideCommit`; the outcomes
   * are listed at {@link CommitOutcome}), with a full counter, the new device salt and verifier,
   * and the next value of the store's generation counter (above any generation the account had),
   * and drops the account's pending logins.
   */
  commitRecord(input: CommitInput): Promise<CommitOutcome>;
  /** Deletes a record, leaving no tombstone, by the shared rules (`decideDelete`). */
  deleteRecord(account: string, deviceVerifier: Uint8Array): Promise<DeleteOutcome>;
  /** The stored account, for operators and tests. */
  getAccount(account: string): Promise<VaultAccount | undefined>;
  /**
   * Housekeeping: forgets expired logins (claimed ones only after {@link CLAIMED_LOGIN_GRACE_MS}),
   * registrations and fake counters, and destroys every active account with no attempts left and
   * no pending counted attempt (abandoned last attempts). Returns the number of accounts destroyed.
   */
  sweep(now: number): Promise<number>;
  /**
   * Whether the store can serve requests now, for the health endpoint: resolves with what the
   * operator should know, rejects if the database cannot be reached. Optional: a store without it
   * is taken to be always available.
   */
  health?(): Promise<VaultStoreHealth>;
  /** Closes the database (the in-memory store forgets everything); call it once, at shutdown. */
  close(): Promise<void>;
}

/** What {@link VaultStore.health} reports beyond "available". */
export interface VaultStoreHealth {
  /**
   * Destroyed or replaced records whose bytes may still be readable in the database file or its
   * log, because overwriting them failed; retried at every housekeeping run (SQLite only).
   */
  secureDeletePending?: boolean;
  /** How many times overwriting destroyed data has failed since the store was opened. */
  secureDeleteFailures?: number;
}

/**
 * What a store tells the operator outside any answer (the `onNotice` option of the SQL stores;
 * `startVaultServer` logs each as one line). Never holds request data.
 */
export interface VaultStoreNotice {
  /**
   * `secure-delete-incomplete`: destroyed or replaced data could not be overwritten yet (retried
   * at every housekeeping run); `secure-delete-complete`: a retry did it.
   * `database-unavailable` / `database-available`: the database stopped or started answering.
   */
  kind: 'secure-delete-incomplete' | 'secure-delete-complete' | 'database-unavailable' | 'database-available';
  /** Why, in a sentence. */
  detail?: string;
}

// ---------------------------------------------------------------------------------------------
// Shared decisions

/**
 * Who may write a record (SPEC.md §9.5). No record: `register` creates one; `reset` needs a live
 * record. A live record is replaced only by the holder of its device credential. A tombstone is
 * registered over (a fresh start: its key is gone) by the holder of the device credential of its
 * last registration — the original device — or when the deployment's `authorize` gate approved
 * a tombstone override for the request (`authorized`); not by whoever spent its attempts.
 */
export function decideCommit(
  current: Pick<VaultAccount, 'status' | 'deviceVerifier' | 'deviceSalt'> | undefined,
  input: Pick<CommitInput, 'mode' | 'presentedVerifier' | 'authorized' | 'deviceSalt'>,
): CommitOutcome {
  const { mode, presentedVerifier } = input;
  if (current === undefined) return mode === 'register' ? 'created' : 'not_found';
  const holder = verifierMatches(current.deviceVerifier, presentedVerifier);
  let outcome: CommitOutcome;
  if (current.status === 'locked') {
    if (mode !== 'register') return 'locked';
    outcome = holder || input.authorized ? 'created' : 'unauthorized';
  } else outcome = holder ? 'replaced' : 'unauthorized';
  // Every registration rotates the device credential (SPEC.md §9.4): the same salt would keep it.
  if (outcome !== 'unauthorized' && current.deviceSalt !== undefined) {
    if (constantTimeEqual(current.deviceSalt, input.deviceSalt)) return 'salt_reused';
  }
  return outcome;
}

/**
 * Whether registering over `current` with `presentedVerifier` would take a tombstone override:
 * `current` is a tombstone, and the presented credential is not the one of its last registration
 * (or it has none: a tombstone made before tombstones kept their verifier).
 */
export function overridesTombstone(
  current: Pick<VaultAccount, 'status' | 'deviceVerifier'> | undefined,
  presentedVerifier: Uint8Array | undefined,
): boolean {
  return current?.status === 'locked' && !verifierMatches(current.deviceVerifier, presentedVerifier);
}

/** Deletion needs a live record and its device credential; a tombstone stays. */
export function decideDelete(
  current: Pick<VaultAccount, 'status' | 'deviceVerifier'> | undefined,
  presentedVerifier: Uint8Array,
): DeleteOutcome {
  if (current === undefined) return 'not_found';
  if (current.status === 'locked') return 'locked';
  return verifierMatches(current.deviceVerifier, presentedVerifier) ? 'deleted' : 'unauthorized';
}

/**
 * The end of a claimed, non-fake login, given the account row as it is now (inside the
 * transaction, after the login's own row was removed) and how many other counted attempts of the
 * same generation are still pending (by {@link stillPending}).
 */
export function decideFinish(
  current: Pick<VaultAccount, 'status' | 'remaining' | 'generation' | 'sealedKey'> | undefined,
  login: Pick<PendingLogin, 'generation'>,
  success: boolean,
  otherPending: number,
): { outcome: LoginOutcome; write: 'reset' | 'destroy' | 'none' } {
  if (current === undefined || current.generation !== login.generation) {
    return { outcome: { kind: 'changed' }, write: 'none' };
  }
  if (current.status === 'locked') return { outcome: { kind: 'locked' }, write: 'none' };
  if (success) {
    if (!current.sealedKey) return { outcome: { kind: 'changed' }, write: 'none' };
    return { outcome: { kind: 'released', sealedKey: current.sealedKey }, write: 'reset' };
  }
  // The attempt limit is spent only when every counted attempt has failed or expired: a correct
  // password racing the last wrong one must still be able to win.
  const destroy = current.remaining <= 0 && otherPending === 0;
  return {
    outcome: { kind: 'failed', remaining: Math.max(0, current.remaining), destroyed: destroy },
    write: destroy ? 'destroy' : 'none',
  };
}

function verifierMatches(stored: Uint8Array | undefined, presented: Uint8Array | undefined): boolean {
  return stored !== undefined && presented !== undefined && constantTimeEqual(stored, presented);
}

/** Checks a table-name prefix for the SQL adapters: lower-case letters, digits, underscores. */
export function checkTablePrefix(prefix: string): string {
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(prefix)) {
    throw new E2EEError('INVALID_ARGUMENT', `table prefix '${prefix}' must match /^[a-z_][a-z0-9_]{0,40}$/`);
  }
  return prefix;
}
