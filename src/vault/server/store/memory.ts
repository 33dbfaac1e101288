/**
 * An in-memory {@link VaultStore}: for tests, demos and single-process experiments. Nothing
 * survives a restart, so a lockout does not either: never use it for a real vault.
 *
 * Atomicity comes from JavaScript itself: no method awaits between reading and writing.
 *
 * @module
 */

import {
  type AttemptResult,
  type CommitInput,
  type CommitOutcome,
  type DeleteOutcome,
  decideCommit,
  decideDelete,
  decideFinish,
  type LoginOutcome,
  nextFakeRemaining,
  type PendingLogin,
  type PendingRegistration,
  stillPending,
  type VaultAccount,
  type VaultStore,
} from './store.js';

const copy = (b: Uint8Array | undefined): Uint8Array | undefined =>
  b === undefined ? undefined : new Uint8Array(b);

function copyAccount(a: VaultAccount): VaultAccount {
  return {
    ...a,
    credentialId: copy(a.credentialId),
    record: copy(a.record),
    sealedKey: copy(a.sealedKey),
    deviceVerifier: copy(a.deviceVerifier),
    deviceSalt: copy(a.deviceSalt),
    ksf: a.ksf ? { ...a.ksf } : undefined,
  };
}

/** Creates an empty in-memory store. */
export function createMemoryVaultStore(): VaultStore {
  const accounts = new Map<string, VaultAccount>();
  const logins = new Map<string, PendingLogin & { used: boolean; armed: boolean }>();
  const registrations = new Map<string, PendingRegistration>();
  const fakeCounters = new Map<string, { remaining: number; expiresAt: number }>();
  let lastGeneration = 0;

  const pendingFor = (account: string, generation: number, now: number): number => {
    let n = 0;
    for (const l of logins.values()) {
      if (!l.fake && l.account === account && l.generation === generation && stillPending(l, now)) n++;
    }
    return n;
  };
  const fakeRemaining = (key: string | undefined, now: number): number => {
    const c = key === undefined ? undefined : fakeCounters.get(key);
    return c && c.expiresAt > now ? Math.max(0, c.remaining) : 0;
  };
  const dropLogins = (account: string): void => {
    for (const [id, l] of logins) if (l.account === account) logins.delete(id);
  };
  // The tombstone keeps the device salt and verifier: registering over it needs them.
  const destroy = (a: VaultAccount): void => {
    accounts.set(a.account, {
      account: a.account,
      status: 'locked',
      remaining: 0,
      generation: a.generation,
      deviceVerifier: a.deviceVerifier,
      deviceSalt: a.deviceSalt,
    });
    dropLogins(a.account);
  };

  return {
    kind: 'memory',

    async countAttempt(account, now, pending, fake): Promise<AttemptResult> {
      const a = accounts.get(account);
      if (!a) {
        const remaining = nextFakeRemaining(fakeCounters.get(fake.key), now, fake.maxAttempts);
        fakeCounters.set(fake.key, { remaining, expiresAt: fake.expiresAt });
        if (remaining < 0) return { kind: 'locked' };
        logins.set(pending.idHash, {
          ...pending,
          account,
          generation: 0,
          expectedMac: new Uint8Array(0),
          fake: true,
          used: false,
          armed: false,
        });
        return { kind: 'absent', remaining };
      }
      if (a.status === 'locked') return { kind: 'locked' };
      if (a.remaining <= 0) {
        if (pendingFor(account, a.generation, now) === 0) destroy(a);
        return { kind: 'locked' };
      }
      a.remaining -= 1;
      logins.set(pending.idHash, {
        ...pending,
        account,
        generation: a.generation,
        expectedMac: new Uint8Array(0),
        fake: false,
        used: false,
        armed: false,
      });
      return {
        kind: 'counted',
        generation: a.generation,
        remaining: a.remaining,
        credentialId: new Uint8Array(a.credentialId!),
        record: new Uint8Array(a.record!),
        ksf: { ...a.ksf! },
      };
    },

    async putLogin(login) {
      const l = logins.get(login.idHash);
      if (!l || l.armed || l.account !== login.account) return false;
      l.expectedMac = new Uint8Array(login.expectedMac);
      l.armed = true;
      return true;
    },

    async claimLogin(idHash, now) {
      const l = logins.get(idHash);
      if (!l || l.used || !l.armed || l.expiresAt <= now) return undefined;
      l.used = true;
      const { used: _u, armed: _a, ...login } = l;
      return { ...login, expectedMac: new Uint8Array(l.expectedMac) };
    },

    async finishLogin(login, success, now, maxAttempts, fakeKey): Promise<LoginOutcome> {
      const existed = logins.delete(login.idHash);
      if (login.fake) return { kind: 'failed', remaining: fakeRemaining(fakeKey, now), destroyed: false };
      const a = accounts.get(login.account);
      const { outcome, write } = decideFinish(
        existed ? a : undefined,
        login,
        success,
        pendingFor(login.account, login.generation, now),
      );
      if (write === 'reset') a!.remaining = maxAttempts;
      else if (write === 'destroy') destroy(a!);
      return outcome.kind === 'released'
        ? { kind: 'released', sealedKey: new Uint8Array(outcome.sealedKey) }
        : outcome;
    },

    async putRegistration(registration) {
      registrations.set(registration.idHash, {
        ...registration,
        credentialId: new Uint8Array(registration.credentialId),
      });
    },

    async takeRegistration(idHash, now) {
      const r = registrations.get(idHash);
      registrations.delete(idHash);
      return r && r.expiresAt > now ? r : undefined;
    },

    async commitRecord(input: CommitInput): Promise<CommitOutcome> {
      const current = accounts.get(input.account);
      const outcome = decideCommit(current, input);
      if (outcome === 'created' || outcome === 'replaced') {
        lastGeneration = Math.max(lastGeneration, current?.generation ?? 0) + 1;
        accounts.set(input.account, {
          account: input.account,
          status: 'active',
          remaining: input.maxAttempts,
          generation: lastGeneration,
          credentialId: new Uint8Array(input.credentialId),
          record: new Uint8Array(input.record),
          sealedKey: new Uint8Array(input.sealedKey),
          deviceVerifier: new Uint8Array(input.deviceVerifier),
          deviceSalt: new Uint8Array(input.deviceSalt),
          ksf: { ...input.ksf },
        });
        dropLogins(input.account);
      }
      return outcome;
    },

    async deleteRecord(account, deviceVerifier): Promise<DeleteOutcome> {
      const outcome = decideDelete(accounts.get(account), deviceVerifier);
      if (outcome === 'deleted') {
        accounts.delete(account);
        dropLogins(account);
      }
      return outcome;
    },

    async getAccount(account) {
      const a = accounts.get(account);
      return a ? copyAccount(a) : undefined;
    },

    async sweep(now) {
      for (const [id, l] of logins) if (!stillPending(l, now)) logins.delete(id);
      for (const [id, r] of registrations) if (r.expiresAt <= now) registrations.delete(id);
      for (const [key, c] of fakeCounters) if (c.expiresAt <= now) fakeCounters.delete(key);
      let destroyed = 0;
      for (const a of accounts.values()) {
        if (a.status === 'active' && a.remaining <= 0 && pendingFor(a.account, a.generation, now) === 0) {
          destroy(a);
          destroyed++;
        }
      }
      return destroyed;
    },

    async close() {
      accounts.clear();
      logins.clear();
      registrations.clear();
      fakeCounters.clear();
    },
  };
}
