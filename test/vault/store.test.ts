/**
 * One suite for every VaultStore adapter: in-memory, SQLite (memory and file, with a second
 * connection on the same file), and PostgreSQL (when E2EE_TEST_PG_URL is set).
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryVaultStore } from '../../src/vault/server/store/memory.js';
import { openPostgresVaultStore } from '../../src/vault/server/store/postgres.js';
import { openSqliteVaultStore } from '../../src/vault/server/store/sqlite.js';
import {
  CLAIMED_LOGIN_GRACE_MS,
  type CommitInput,
  type FakeCounter,
  type PendingLogin,
  type VaultStore,
} from '../../src/vault/server/store/store.js';
import { CHEAP_KSF, PG_URL, pgPrefix, pgSkipReason, tempDir } from './helpers.js';

const MAX = 10;
const rnd = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : undefined);
let counter = 0;
const uniqueAccount = () => `user-${Date.now()}-${counter++}`;

function commitInput(account: string, over: Partial<CommitInput> = {}): CommitInput {
  return {
    account,
    mode: 'register',
    credentialId: rnd(32),
    record: rnd(192),
    sealedKey: rnd(60),
    deviceVerifier: rnd(32),
    deviceSalt: rnd(32),
    authorized: false,
    ksf: CHEAP_KSF,
    maxAttempts: MAX,
    ...over,
  };
}

function login(
  account: string,
  generation: number,
  now: number,
  over: Partial<PendingLogin> = {},
): PendingLogin {
  return {
    idHash: Buffer.from(rnd(32)).toString('hex'),
    account,
    generation,
    expectedMac: rnd(64),
    fake: false,
    expiresAt: now + 60_000,
    ...over,
  };
}

/** Counts an attempt and records its pending login, as the server does. */
async function attempt(store: VaultStore, account: string, now: number) {
  const l = login(account, 0, now);
  const r = await store.countAttempt(account, now, l, fakeOf(account, now));
  if (r.kind !== 'counted') return { r, login: undefined };
  expect(await store.claimLogin(l.idHash, now)).toBeUndefined(); // not armed yet
  expect(await store.putLogin({ ...l, generation: r.generation })).toBe(true);
  return { r, login: { ...l, generation: r.generation } };
}

const pend = () => ({ idHash: Buffer.from(rnd(32)).toString('hex'), expiresAt: 1_700_000_060_000 });
const DAY = 86_400_000;
/** The fake counter of an account, as the service names it (there with a keyed hash). */
const fakeOf = (account: string, now: number, over: Partial<FakeCounter> = {}): FakeCounter => ({
  key: createHash('sha256').update(account).digest('hex'),
  maxAttempts: MAX,
  expiresAt: now + DAY,
  ...over,
});

interface Harness {
  open(): Promise<VaultStore>;
  /** A second store instance on the same data (another connection or "process"), if possible. */
  openSibling?(): Promise<VaultStore>;
  cleanup(): Promise<void>;
}

function storeSuite(name: string, harness: () => Harness) {
  describe(`VaultStore: ${name}`, () => {
    let h: Harness;
    let store: VaultStore;
    const opened: VaultStore[] = [];
    const now = 1_700_000_000_000;

    beforeEach(async () => {
      if (!h) h = harness();
      store ??= await h.open();
      if (!opened.includes(store)) opened.push(store);
    });
    afterAll(async () => {
      for (const s of opened) await s.close();
      await h?.cleanup();
    });

    it('an unknown account is absent, and counted on its fake counter', async () => {
      const a = uniqueAccount();
      expect(await store.countAttempt(a, now, pend(), fakeOf(a, now))).toEqual({
        kind: 'absent',
        remaining: MAX - 1,
      });
      expect(await store.getAccount(a)).toBeUndefined();
    });

    it('fake counters count down to locked like real ones, report their value at finish, and expire', async () => {
      const a = uniqueAccount();
      const logins: PendingLogin[] = [];
      for (let i = MAX - 1; i >= 0; i--) {
        const l = login(a, 0, now, { fake: true });
        expect(await store.countAttempt(a, now, l, fakeOf(a, now))).toEqual({ kind: 'absent', remaining: i });
        expect(await store.claimLogin(l.idHash, now)).toBeUndefined(); // not armed yet
        expect(await store.putLogin(l)).toBe(true);
        logins.push(l);
      }
      expect(await store.countAttempt(a, now, pend(), fakeOf(a, now))).toEqual({ kind: 'locked' });
      expect(await store.countAttempt(a, now + 1, pend(), fakeOf(a, now + 1))).toEqual({ kind: 'locked' });
      const first = (await store.claimLogin(logins[0]!.idHash, now))!;
      expect(first).toMatchObject({ fake: true, account: a, generation: 0 });
      expect(await store.finishLogin(first, false, now, MAX, fakeOf(a, now).key)).toEqual({
        kind: 'failed',
        remaining: 0,
        destroyed: false,
      });
      expect(await store.getAccount(a)).toBeUndefined();

      // Another name's counter is its own, and reported at finish as it is then.
      const b = uniqueAccount();
      const lb = login(b, 0, now, { fake: true });
      await store.countAttempt(b, now, lb, fakeOf(b, now));
      await store.putLogin(lb);
      await store.countAttempt(b, now, pend(), fakeOf(b, now));
      const out = await store.finishLogin(
        (await store.claimLogin(lb.idHash, now))!,
        false,
        now,
        MAX,
        fakeOf(b, now).key,
      );
      expect(out).toEqual({ kind: 'failed', remaining: MAX - 2, destroyed: false });

      // Untouched until its expiry (moved by every attempt), a counter is forgotten.
      const later = now + 1 + DAY;
      expect(await store.countAttempt(a, later, pend(), fakeOf(a, later))).toEqual({
        kind: 'absent',
        remaining: MAX - 1,
      });
      await store.sweep(now + 2 * DAY);
      expect(await store.countAttempt(b, now + 2 * DAY, pend(), fakeOf(b, now + 2 * DAY))).toEqual({
        kind: 'absent',
        remaining: MAX - 1,
      });
    });

    it('register creates a record with a full counter; attempts count down to locked', async () => {
      const a = uniqueAccount();
      const input = commitInput(a);
      expect(await store.commitRecord(input)).toBe('created');
      const acc = (await store.getAccount(a))!;
      expect(acc).toMatchObject({
        account: a,
        status: 'active',
        remaining: MAX,
        ksf: CHEAP_KSF,
      });
      expect(acc.generation).toBeGreaterThan(0);
      expect(hex(acc.record)).toBe(hex(input.record));
      expect(hex(acc.sealedKey)).toBe(hex(input.sealedKey));
      expect(hex(acc.credentialId)).toBe(hex(input.credentialId));
      for (let i = MAX - 1; i >= 0; i--) {
        const r = await store.countAttempt(a, now, pend(), fakeOf(a, now));
        expect(r.kind).toBe('counted');
        if (r.kind === 'counted') {
          expect(r.remaining).toBe(i);
          expect(hex(r.record)).toBe(hex(input.record));
        }
      }
      // Each counted attempt is pending from the moment it is counted (even before KE2 is armed):
      // the 11th is refused but destroys nothing while they may still succeed...
      expect(await store.countAttempt(a, now, pend(), fakeOf(a, now))).toEqual({ kind: 'locked' });
      expect((await store.getAccount(a))!.status).toBe('active');
      // ...and once they have expired, the next attempt destroys the record.
      expect(await store.countAttempt(a, now + 60_000, pend(), fakeOf(a, now + 60_000))).toEqual({
        kind: 'locked',
      });
      const dead = (await store.getAccount(a))!;
      expect(dead).toMatchObject({ status: 'locked', remaining: 0 });
      expect(dead.record).toBeUndefined();
      expect(dead.sealedKey).toBeUndefined();
      expect(dead.credentialId).toBeUndefined();
      expect(dead.ksf).toBeUndefined();
      expect(await store.countAttempt(a, now, pend(), fakeOf(a, now))).toEqual({ kind: 'locked' });
    });

    it('success releases the sealed key and resets the counter', async () => {
      const a = uniqueAccount();
      const input = commitInput(a);
      await store.commitRecord(input);
      await attempt(store, a, now);
      const { login: l } = await attempt(store, a, now);
      expect((await store.getAccount(a))!.remaining).toBe(MAX - 2);
      const claimed = (await store.claimLogin(l!.idHash, now))!;
      expect(hex(claimed.expectedMac)).toBe(hex(l!.expectedMac));
      const out = await store.finishLogin(claimed, true, now, MAX);
      expect(out.kind).toBe('released');
      if (out.kind === 'released') expect(hex(out.sealedKey)).toBe(hex(input.sealedKey));
      expect((await store.getAccount(a))!.remaining).toBe(MAX);
    });

    it('a login can be claimed once, and not after it expires', async () => {
      const a = uniqueAccount();
      await store.commitRecord(commitInput(a));
      const { login: l } = await attempt(store, a, now);
      expect(await store.claimLogin(l!.idHash, now)).toBeDefined();
      expect(await store.claimLogin(l!.idHash, now)).toBeUndefined(); // replay
      const { login: l2 } = await attempt(store, a, now);
      expect(await store.claimLogin(l2!.idHash, l2!.expiresAt)).toBeUndefined(); // expired
      expect(await store.claimLogin('00'.repeat(32), now)).toBeUndefined(); // unknown
    });

    it('the last failure destroys only when no other counted attempt is pending', async () => {
      const a = uniqueAccount();
      await store.commitRecord(commitInput(a));
      const logins: PendingLogin[] = [];
      for (let i = 0; i < MAX; i++) logins.push((await attempt(store, a, now)).login!);
      expect(await store.countAttempt(a, now, pend(), fakeOf(a, now))).toEqual({ kind: 'locked' }); // pending: not destroyed yet
      expect((await store.getAccount(a))!.status).toBe('active');
      for (let i = 0; i < MAX - 1; i++) {
        const c = (await store.claimLogin(logins[i]!.idHash, now))!;
        const out = await store.finishLogin(c, false, now, MAX);
        expect(out).toEqual({ kind: 'failed', remaining: 0, destroyed: false });
      }
      const last = (await store.claimLogin(logins[MAX - 1]!.idHash, now))!;
      expect(await store.finishLogin(last, false, now, MAX)).toEqual({
        kind: 'failed',
        remaining: 0,
        destroyed: true,
      });
      const dead = (await store.getAccount(a))!;
      expect(dead.status).toBe('locked');
      expect(dead.sealedKey).toBeUndefined();
    });

    it('a correct password racing the last wrong ones still wins', async () => {
      const a = uniqueAccount();
      await store.commitRecord(commitInput(a));
      const logins: PendingLogin[] = [];
      for (let i = 0; i < MAX; i++) logins.push((await attempt(store, a, now)).login!);
      // The right one (logins[0]) is claimed, then the other nine fail before it finishes.
      const right = (await store.claimLogin(logins[0]!.idHash, now))!;
      for (const l of logins.slice(1)) {
        const out = await store.finishLogin((await store.claimLogin(l.idHash, now))!, false, now, MAX);
        expect(out).toMatchObject({ kind: 'failed', destroyed: false });
      }
      expect((await store.finishLogin(right, true, now, MAX)).kind).toBe('released');
      expect((await store.getAccount(a))!).toMatchObject({ status: 'active', remaining: MAX });
    });

    it('abandoned last attempts are destroyed by the sweep once they expire', async () => {
      const a = uniqueAccount();
      await store.commitRecord(commitInput(a));
      for (let i = 0; i < MAX; i++) await attempt(store, a, now);
      expect(await store.sweep(now)).toBe(0); // still pending
      expect((await store.getAccount(a))!.status).toBe('active');
      expect(await store.sweep(now + 60_000)).toBeGreaterThanOrEqual(1);
      expect((await store.getAccount(a))!.status).toBe('locked');
    });

    it('generations never repeat for an account, even across a delete', async () => {
      const a = uniqueAccount();
      const first = commitInput(a);
      await store.commitRecord(first);
      const g1 = (await store.getAccount(a))!.generation;
      expect(await store.deleteRecord(a, first.deviceVerifier)).toBe('deleted');
      const second = commitInput(a);
      expect(await store.commitRecord(second)).toBe('created');
      const g2 = (await store.getAccount(a))!.generation;
      expect(g2).toBeGreaterThan(g1);
      // Over a tombstone too.
      for (let i = 0; i < MAX; i++) await store.countAttempt(a, now, pend(), fakeOf(a, now));
      await store.countAttempt(a, now + 60_000, pend(), fakeOf(a, now + 60_000));
      expect((await store.getAccount(a))!.status).toBe('locked');
      expect(await store.commitRecord(commitInput(a, { presentedVerifier: second.deviceVerifier }))).toBe(
        'created',
      );
      expect((await store.getAccount(a))!.generation).toBeGreaterThan(g2);
    });

    it('a claimed login stays pending past its expiry until it is finished: a right last password wins', async () => {
      const a = uniqueAccount();
      const input = commitInput(a, { maxAttempts: 1 });
      await store.commitRecord(input);
      const { login: l } = await attempt(store, a, now);
      const claimed = (await store.claimLogin(l!.idHash, l!.expiresAt - 1))!;
      expect(claimed).toBeDefined();
      // Expired while being finished: neither housekeeping nor another attempt settles it.
      const t = l!.expiresAt;
      await store.sweep(t);
      expect((await store.getAccount(a))!.status).toBe('active');
      expect((await store.countAttempt(a, t, pend(), fakeOf(a, t))).kind).toBe('locked');
      expect((await store.getAccount(a))!.status).toBe('active');
      const out = await store.finishLogin(claimed, true, t + 1, 1);
      expect(out.kind).toBe('released');
      if (out.kind === 'released') expect(hex(out.sealedKey)).toBe(hex(input.sealedKey));
      expect((await store.getAccount(a))!).toMatchObject({ status: 'active', remaining: 1 });
    });

    it('concurrent attempts never exceed the limit', async () => {
      const a = uniqueAccount();
      await store.commitRecord(commitInput(a));
      const results = await Promise.all(Array.from({ length: 50 }, () => attempt(store, a, now)));
      const counted = results.filter((x) => x.r.kind === 'counted');
      expect(counted).toHaveLength(MAX);
      expect(results.filter((x) => x.r.kind === 'locked')).toHaveLength(50 - MAX);
      expect(new Set(counted.map((x) => (x.r.kind === 'counted' ? x.r.remaining : -1))).size).toBe(MAX);
      // The counted attempts are pending, so the refused ones destroyed nothing.
      expect((await store.getAccount(a))!).toMatchObject({ remaining: 0, status: 'active' });
    });

    it('commit: who may create, replace and reset', async () => {
      const a = uniqueAccount();
      const first = commitInput(a);
      expect(await store.commitRecord(commitInput(a, { mode: 'reset' }))).toBe('not_found');
      expect(await store.commitRecord(first)).toBe('created');
      const g1 = (await store.getAccount(a))!.generation;
      const { login: l } = await attempt(store, a, now);
      // Another backup key (verifier) cannot take the account over, in either mode.
      expect(await store.commitRecord(commitInput(a))).toBe('unauthorized');
      expect(await store.commitRecord(commitInput(a, { mode: 'reset' }))).toBe('unauthorized');
      // The current credential replaces: new generation, full counter, pending logins dropped,
      // and the new registration's device salt and verifier.
      const second = commitInput(a, { mode: 'reset', presentedVerifier: first.deviceVerifier });
      expect(await store.commitRecord(second)).toBe('replaced');
      const acc = (await store.getAccount(a))!;
      expect(acc).toMatchObject({ remaining: MAX, status: 'active' });
      expect(acc.generation).toBeGreaterThan(g1);
      expect(hex(acc.record)).toBe(hex(second.record));
      expect(hex(acc.deviceVerifier)).toBe(hex(second.deviceVerifier));
      expect(hex(acc.deviceSalt)).toBe(hex(second.deviceSalt));
      expect(await store.claimLogin(l!.idHash, now)).toBeUndefined();
      // The credential rotated: the first one no longer replaces, resets or deletes.
      expect(await store.commitRecord(commitInput(a, { presentedVerifier: first.deviceVerifier }))).toBe(
        'unauthorized',
      );
      expect(await store.deleteRecord(a, first.deviceVerifier)).toBe('unauthorized');
      expect(
        await store.commitRecord(commitInput(a, { mode: 'reset', presentedVerifier: second.deviceVerifier })),
      ).toBe('replaced');
    });

    it('commit: a registration that keeps the current device salt is refused, the record unchanged', async () => {
      const a = uniqueAccount();
      const first = commitInput(a);
      expect(await store.commitRecord(first)).toBe('created');
      const same = { presentedVerifier: first.deviceVerifier, deviceSalt: first.deviceSalt };
      expect(await store.commitRecord(commitInput(a, { mode: 'reset', ...same }))).toBe('salt_reused');
      expect(await store.commitRecord(commitInput(a, same))).toBe('salt_reused');
      expect(hex((await store.getAccount(a))!.record)).toBe(hex(first.record));
      // Refused as unauthorized first: the salt is public, the credential is what decides.
      expect(await store.commitRecord(commitInput(a, { deviceSalt: first.deviceSalt }))).toBe('unauthorized');
      // Its tombstone keeps the salt, and registering over it must rotate it too.
      for (let i = 0; i < MAX; i++) await store.countAttempt(a, now, pend(), fakeOf(a, now));
      await store.countAttempt(a, now + 60_000, pend(), fakeOf(a, now + 60_000));
      expect((await store.getAccount(a))!.status).toBe('locked');
      expect(await store.commitRecord(commitInput(a, same))).toBe('salt_reused');
      expect(await store.commitRecord(commitInput(a, { presentedVerifier: first.deviceVerifier }))).toBe(
        'created',
      );
    });

    it('a login that straddles a re-registration cannot release the new sealed key', async () => {
      const a = uniqueAccount();
      const first = commitInput(a);
      await store.commitRecord(first);
      const { login: l } = await attempt(store, a, now);
      const claimed = (await store.claimLogin(l!.idHash, now))!;
      await store.commitRecord(commitInput(a, { presentedVerifier: first.deviceVerifier }));
      expect(await store.finishLogin(claimed, true, now, MAX)).toEqual({ kind: 'changed' });
    });

    it('tombstones keep the device salt and verifier: only their holder (or authorize) registers over', async () => {
      const a = uniqueAccount();
      const first = commitInput(a);
      await store.commitRecord(first);
      const g1 = (await store.getAccount(a))!.generation;
      const lock = async (t: number) => {
        for (let i = 0; i < MAX; i++) await store.countAttempt(a, t, pend(), fakeOf(a, t));
        await store.countAttempt(a, t + 60_000, pend(), fakeOf(a, t + 60_000));
      };
      await lock(now);
      const tombstone = (await store.getAccount(a))!;
      expect(tombstone.status).toBe('locked');
      expect([tombstone.record, tombstone.sealedKey, tombstone.credentialId, tombstone.ksf]).toEqual([
        undefined,
        undefined,
        undefined,
        undefined,
      ]);
      expect(hex(tombstone.deviceVerifier)).toBe(hex(first.deviceVerifier));
      expect(hex(tombstone.deviceSalt)).toBe(hex(first.deviceSalt));
      const reset = commitInput(a, { mode: 'reset', presentedVerifier: first.deviceVerifier });
      expect(await store.commitRecord(reset)).toBe('locked');
      expect(await store.deleteRecord(a, first.deviceVerifier)).toBe('locked');
      // Whoever spent the attempts cannot take the name: no credential, or another one.
      expect(await store.commitRecord(commitInput(a))).toBe('unauthorized');
      expect(await store.commitRecord(commitInput(a, { presentedVerifier: rnd(32) }))).toBe('unauthorized');
      expect((await store.getAccount(a))!.status).toBe('locked');
      // The original device can start over.
      const again = commitInput(a, { presentedVerifier: first.deviceVerifier });
      expect(await store.commitRecord(again)).toBe('created');
      const fresh = (await store.getAccount(a))!;
      expect(fresh).toMatchObject({ status: 'active', remaining: MAX });
      expect(fresh.generation).toBeGreaterThan(g1);
      // So can a request the deployment's authorize gate approved, without the credential.
      await lock(now + 600_000);
      expect(await store.commitRecord(commitInput(a, { authorized: true }))).toBe('created');
    });

    it('delete needs the device verifier and leaves no tombstone', async () => {
      const a = uniqueAccount();
      const input = commitInput(a);
      expect(await store.deleteRecord(a, input.deviceVerifier)).toBe('not_found');
      await store.commitRecord(input);
      expect(await store.deleteRecord(a, rnd(32))).toBe('unauthorized');
      expect(await store.deleteRecord(a, input.deviceVerifier)).toBe('deleted');
      expect(await store.getAccount(a)).toBeUndefined();
      expect(await store.countAttempt(a, now, pend(), fakeOf(a, now))).toEqual({
        kind: 'absent',
        remaining: MAX - 1,
      });
    });

    it('registrations are taken once and expire', async () => {
      const a = uniqueAccount();
      const reg = {
        idHash: 'ab'.repeat(32) + counter++,
        account: a,
        credentialId: rnd(32),
        expiresAt: now + 1000,
      };
      await store.putRegistration(reg);
      const got = (await store.takeRegistration(reg.idHash, now))!;
      expect(got.account).toBe(a);
      expect(hex(got.credentialId)).toBe(hex(reg.credentialId));
      expect(await store.takeRegistration(reg.idHash, now)).toBeUndefined();
      const old = { ...reg, idHash: `${reg.idHash}x` };
      await store.putRegistration(old);
      expect(await store.takeRegistration(old.idHash, now + 1000)).toBeUndefined();
    });

    it('fake logins are single use and touch no account', async () => {
      const a = uniqueAccount();
      const l = login(a, 0, now, { fake: true });
      expect((await store.countAttempt(a, now, l, fakeOf(a, now))).kind).toBe('absent');
      expect(await store.putLogin(l)).toBe(true);
      expect(await store.putLogin(l)).toBe(false); // armed once
      const c = (await store.claimLogin(l.idHash, now))!;
      expect(c.fake).toBe(true);
      expect(await store.finishLogin(c, false, now, MAX, fakeOf(a, now).key)).toEqual({
        kind: 'failed',
        remaining: MAX - 1,
        destroyed: false,
      });
      expect(await store.claimLogin(l.idHash, now)).toBeUndefined();
      expect(await store.getAccount(a)).toBeUndefined();
    });

    it('a claimed login whose finish never comes is settled once the grace has passed', async () => {
      const a = uniqueAccount();
      await store.commitRecord(commitInput(a, { maxAttempts: 1 }));
      const { login: l } = await attempt(store, a, now);
      expect(await store.claimLogin(l!.idHash, now)).toBeDefined();
      await store.sweep(l!.expiresAt + CLAIMED_LOGIN_GRACE_MS - 1);
      expect((await store.getAccount(a))!.status).toBe('active');
      await store.sweep(l!.expiresAt + CLAIMED_LOGIN_GRACE_MS);
      expect((await store.getAccount(a))!.status).toBe('locked');
    });

    it('a second instance on the same data sees and respects the same counter', async () => {
      if (!h.openSibling) return;
      const sibling = await h.openSibling();
      opened.push(sibling);
      const a = uniqueAccount();
      await store.commitRecord(commitInput(a));
      const both = await Promise.all(
        Array.from({ length: 30 }, (_, i) => attempt(i % 2 ? sibling : store, a, now)),
      );
      expect(both.filter((x) => x.r.kind === 'counted')).toHaveLength(MAX);
      // A login counted on one instance finishes on the other.
      await sibling.commitRecord(commitInput(uniqueAccount()));
      const b = uniqueAccount();
      const input = commitInput(b);
      await store.commitRecord(input);
      const { login: l } = await attempt(store, b, now);
      const out = await sibling.finishLogin((await sibling.claimLogin(l!.idHash, now))!, true, now, MAX);
      expect(out.kind).toBe('released');
      // So does an unknown account's fake counter, concurrently too.
      const u = uniqueAccount();
      const fakes = await Promise.all(
        Array.from({ length: 14 }, (_, i) =>
          (i % 2 ? sibling : store).countAttempt(u, now, pend(), fakeOf(u, now)),
        ),
      );
      expect(fakes.filter((r) => r.kind === 'locked')).toHaveLength(4);
      const left = fakes.flatMap((r) => (r.kind === 'absent' ? [r.remaining] : []));
      expect(left.sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });
  });
}

storeSuite('memory', () => ({
  open: async () => createMemoryVaultStore(),
  cleanup: async () => {},
}));

storeSuite('sqlite :memory:', () => ({
  open: () => openSqliteVaultStore({ path: ':memory:' }),
  cleanup: async () => {},
}));

storeSuite('sqlite file (two connections)', () => {
  const t = tempDir();
  const path = join(t.dir, 'vault.sqlite');
  return {
    open: () => openSqliteVaultStore({ path }),
    openSibling: () => openSqliteVaultStore({ path }),
    cleanup: async () => t.cleanup(),
  };
});

const pgSkip = pgSkipReason();
if (!pgSkip) {
  storeSuite('postgres (two pools)', () => {
    const { prefix, drop } = pgPrefix();
    return {
      open: () => openPostgresVaultStore({ connectionString: PG_URL!, tablePrefix: prefix }),
      openSibling: () => openPostgresVaultStore({ connectionString: PG_URL!, tablePrefix: prefix }),
      cleanup: drop,
    };
  });
}
