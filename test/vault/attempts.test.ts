/**
 * The service's attempt-counting decisions, in-process over the memory store (no socket, no
 * database): what `login/start`, `login/finish` and `login/abort` answer at each count, for a real
 * record and for an unknown account, and what they wipe. Fast, so that the mutation run of
 * service.ts can use it (docs/mutation-testing.md).
 */
import { describe, expect, it } from 'vitest';
import { fromBase64url, toBase64url } from '../../src/vault/base64url.js';
import { createVaultClient } from '../../src/vault/client.js';
import { finishLogin, openSealedBackupKey, startLogin } from '../../src/vault/protocol.js';
import { createVaultApp } from '../../src/vault/server/http.js';
import { generateVaultKeyFile, parseVaultKeyFile, staticKeyProvider } from '../../src/vault/server/keys.js';
import type { VaultLimits, VaultLogEvent, VaultServiceOptions } from '../../src/vault/server/service.js';
import { createMemoryVaultStore } from '../../src/vault/server/store/memory.js';
import type { LoginOutcome, PendingLogin, VaultStore } from '../../src/vault/server/store/store.js';
import { CHEAP_KSF, cheapClient, type LooseJson, randomKey, testLimits } from './helpers.js';

const keys = staticKeyProvider(parseVaultKeyFile(generateVaultKeyFile()));
let n = 0;
const account = (tag = 'user') => `${tag}-${n++}@example.test`;
const garbageKe3 = () => toBase64url(new Uint8Array(64));

const LOCKED_MESSAGE = 'too many wrong passwords: this vault record has been destroyed for good';
const CHANGED_MESSAGE =
  'the vault record changed during this login (reset, deleted or destroyed): start again';
const UNKNOWN_LOGIN_MESSAGE = 'unknown, expired or already finished login: start the login again';
const wrongMessage = (left: number) =>
  left === 0
    ? 'wrong password, and no attempts are left: the vault has destroyed this backup key'
    : left === 1
      ? 'wrong password: 1 attempt left'
      : `wrong password: ${left} attempts left`;

/** A vault over `store` (default: a fresh memory store), its clock, its log and a client. */
function vault(
  options: {
    store?: VaultStore;
    limits?: Partial<VaultLimits>;
    authorize?: VaultServiceOptions['authorize'];
  } = {},
) {
  const store = options.store ?? createMemoryVaultStore();
  const clock = { t: 1_700_000_000_000 };
  const events: VaultLogEvent[] = [];
  const { app, service } = createVaultApp({
    store,
    keys,
    limits: { ...testLimits, ...options.limits },
    now: () => clock.t,
    log: (e) => events.push(e),
    authorize: options.authorize,
  });
  const fetchApp = (input: RequestInfo | URL, init?: RequestInit) =>
    Promise.resolve(app.fetch(new Request(input, init)));
  const client = createVaultClient('http://vault.test', { ...cheapClient, fetch: fetchApp as typeof fetch });
  const call = async (op: 'login/start' | 'login/finish' | 'login/abort', body: unknown) => {
    const r = await service.handle(op, body);
    return { status: r.status, json: r.body as LooseJson, event: events.at(-1)! };
  };
  return {
    service,
    client,
    clock,
    events,
    call,
    /** `login/start` with a KE1 for `password`; keeps the client state to finish it. */
    async start(name: string, password = 'a guess') {
      const { ke1, state } = startLogin(password);
      const r = await call('login/start', { account: name, ke1: toBase64url(ke1) });
      return { ...r, state, name };
    },
    /** The KE3 a client with the right password sends (and its export key). */
    async ke3For(s: { json: LooseJson; state: ReturnType<typeof startLogin>['state']; name: string }) {
      const { ke3, exportKey } = await finishLogin({
        state: s.state,
        account: s.name,
        ke2: fromBase64url(s.json['ke2'])!,
        ksf: s.json['ksf'],
      });
      return { ke3: toBase64url(ke3), exportKey };
    },
    finish: (loginId: unknown, ke3 = garbageKe3()) => call('login/finish', { loginId, ke3 }),
    abort: (loginId: unknown) => call('login/abort', { loginId }),
  };
}

async function registered(v: ReturnType<typeof vault>, password = 'right') {
  const name = account();
  const backupKey = randomKey();
  await v.client.register({ account: name, password, backupKey });
  return { name, backupKey };
}

describe('a real record', () => {
  it('a right password is counted at start and released at finish, which fills the counter again', async () => {
    const v = vault();
    const { name, backupKey } = await registered(v);
    const wrong = await v.start(name);
    expect((await v.finish(wrong.json['loginId'])).json['error'].remainingAttempts).toBe(9);

    const s = await v.start(name, 'right');
    expect(s.status).toBe(200);
    expect(s.json['remainingAttempts']).toBe(8);
    expect(s.json['ksf']).toEqual(CHEAP_KSF);
    expect(s.json['expiresInSeconds']).toBe(60);
    expect(fromBase64url(s.json['ke2'])).toHaveLength(320);
    expect(s.event).toMatchObject({ op: 'login/start', status: 200, remainingAttempts: 8 });

    const { ke3, exportKey } = await v.ke3For(s);
    const f = await v.finish(s.json['loginId'], ke3);
    expect(f.status).toBe(200);
    expect(Object.keys(f.json)).toEqual(['sealedKey']);
    expect(await openSealedBackupKey(exportKey, fromBase64url(f.json['sealedKey'])!)).toEqual(backupKey);
    expect(f.event).toMatchObject({ op: 'login/finish', status: 200, remainingAttempts: 10 });

    // The counter is full again: the next attempt leaves 9.
    expect((await v.start(name)).json['remainingAttempts']).toBe(9);
  });

  it('each wrong guess counts once and says how many are left; the tenth destroys the record', async () => {
    const v = vault();
    const { name } = await registered(v);
    for (let left = 9; left >= 0; left--) {
      const s = await v.start(name);
      expect([s.status, s.json['remainingAttempts']]).toEqual([200, left]);
      const f = await v.finish(s.json['loginId']);
      expect(f.status).toBe(401);
      expect(f.json).toEqual({
        error: { code: 'WRONG_PASSWORD', message: wrongMessage(left), remainingAttempts: left },
      });
      expect(f.event).toMatchObject({ status: 401, code: 'WRONG_PASSWORD', remainingAttempts: left });
    }
    for (const password of ['wrong', 'right']) {
      const s = await v.start(name, password);
      expect(s.status).toBe(423);
      expect(s.json).toEqual({ error: { code: 'VAULT_LOCKED', message: LOCKED_MESSAGE } });
    }
  });

  it('a right KE3 after wrong guesses still wins, and a wrong one never releases the key', async () => {
    const v = vault({ limits: { maxAttempts: 2 } });
    const { name } = await registered(v);
    const s = await v.start(name, 'right');
    const { ke3 } = await v.ke3For(s);
    // The same login, finished with a KE3 that does not verify: refused, and spent.
    const bad = await v.finish(s.json['loginId']);
    expect(bad.json['error']).toMatchObject({ code: 'WRONG_PASSWORD', remainingAttempts: 1 });
    expect((await v.finish(s.json['loginId'], ke3)).status).toBe(409);
    const s2 = await v.start(name, 'right');
    expect(s2.json['remainingAttempts']).toBe(0);
    const good = await v.finish(s2.json['loginId'], (await v.ke3For(s2)).ke3);
    expect(good.status).toBe(200);
  });

  it('an abort spends the attempt and answers the attempts left', async () => {
    const v = vault();
    const { name } = await registered(v);
    const s = await v.start(name, 'right');
    const a = await v.abort(s.json['loginId']);
    expect([a.status, a.json]).toEqual([200, { remainingAttempts: 9 }]);
    expect(a.event).toMatchObject({ op: 'login/abort', status: 200, remainingAttempts: 9 });
    // Aborted, not released: it cannot be finished now, even with the right KE3.
    expect((await v.finish(s.json['loginId'], (await v.ke3For(s)).ke3)).status).toBe(409);
    expect((await v.start(name)).json['remainingAttempts']).toBe(8);
  });

  it('a reset drops the logins in flight: their ids are unknown, the new record has 10 attempts', async () => {
    const v = vault();
    const { name, backupKey } = await registered(v);
    const s1 = await v.start(name, 'right');
    const s2 = await v.start(name, 'right');
    const { ke3 } = await v.ke3For(s1);
    await v.client.resetPassword({ account: name, backupKey, newPassword: 'new' });
    const unknown = { error: { code: 'VAULT_PROTOCOL', message: UNKNOWN_LOGIN_MESSAGE } };
    expect(await v.finish(s1.json['loginId'], ke3)).toMatchObject({ status: 409, json: unknown });
    expect(await v.abort(s2.json['loginId'])).toMatchObject({ status: 409, json: unknown });
    expect((await v.start(name)).json['remainingAttempts']).toBe(9);
  });
  it('login/start asks the gate for its account; finish and abort name none', async () => {
    const asked: { op: string; account: string }[] = [];
    const v = vault({
      authorize: ({ op, account: a }) => {
        asked.push({ op, account: a });
        return op !== 'login/start' || a !== 'refused@example.test';
      },
    });
    const { name } = await registered(v);
    asked.length = 0;
    const s = await v.start(name);
    await v.abort(s.json['loginId']);
    const s2 = await v.start(name);
    await v.finish(s2.json['loginId']);
    expect(asked).toEqual([
      { op: 'login/start', account: name },
      { op: 'login/start', account: name },
    ]);
    const refused = await v.start('refused@example.test');
    expect(refused.status).toBe(401);
    expect(refused.json['error'].code).toBe('UNAUTHORIZED');
  });
});

describe('an unknown account', () => {
  it('counts on its own fake counter like a real record, down to VAULT_LOCKED', async () => {
    const v = vault({ limits: { ksfDefaults: { ...CHEAP_KSF, t: 2 } } });
    const name = account('nobody');
    const other = account('nobody');
    for (let left = 9; left >= 0; left--) {
      const s = await v.start(name);
      expect([s.status, s.json['remainingAttempts']]).toEqual([200, left]);
      expect(s.json['ksf']).toEqual({ ...CHEAP_KSF, t: 2 });
      expect(fromBase64url(s.json['ke2'])).toHaveLength(320);
      // The client cannot open the fake record's envelope: it aborts, or sends what it has.
      const f = left % 2 ? await v.finish(s.json['loginId']) : await v.abort(s.json['loginId']);
      if (left % 2) {
        expect(f.status).toBe(401);
        expect(f.json).toEqual({
          error: { code: 'WRONG_PASSWORD', message: wrongMessage(left), remainingAttempts: left },
        });
      } else expect([f.status, f.json]).toEqual([200, { remainingAttempts: left }]);
    }
    const s = await v.start(name);
    expect([s.status, s.json]).toEqual([423, { error: { code: 'VAULT_LOCKED', message: LOCKED_MESSAGE } }]);
    // Another unknown name has a counter of its own.
    expect((await v.start(other)).json['remainingAttempts']).toBe(9);
  });

  it('a KE3 that verifies nothing is refused even against the fake record', async () => {
    const v = vault();
    const name = account('nobody');
    const s = await v.start(name, 'right');
    // The client fails to open the fake envelope; whatever KE3 it sends is WRONG_PASSWORD.
    await expect(v.ke3For(s)).rejects.toMatchObject({ code: 'WRONG_PASSWORD' });
    const f = await v.finish(s.json['loginId']);
    expect(f.json['error']).toMatchObject({ code: 'WRONG_PASSWORD', remainingAttempts: 9 });
  });

  it('its counter is kept fakeCounterTtlMs after the last attempt, then forgotten', async () => {
    const ttl = 3_600_000;
    const v = vault({ limits: { fakeCounterTtlMs: ttl } });
    const name = account('nobody');
    expect((await v.start(name)).json['remainingAttempts']).toBe(9);
    v.clock.t += ttl - 1;
    expect((await v.start(name)).json['remainingAttempts']).toBe(8);
    v.clock.t += ttl - 1; // measured from the last attempt
    expect((await v.start(name)).json['remainingAttempts']).toBe(7);
    v.clock.t += ttl;
    expect((await v.start(name)).json['remainingAttempts']).toBe(9);
  });
});

describe('login ids', () => {
  it('an unknown, replayed or expired login id is refused with 409, counting nothing', async () => {
    const v = vault();
    const { name } = await registered(v);
    const refused = { error: { code: 'VAULT_PROTOCOL', message: UNKNOWN_LOGIN_MESSAGE } };
    const unknown = toBase64url(new Uint8Array(16));
    expect(await v.finish(unknown)).toMatchObject({ status: 409, json: refused });
    expect(await v.abort(unknown)).toMatchObject({ status: 409, json: refused });

    const s = await v.start(name, 'right');
    const { ke3 } = await v.ke3For(s);
    v.clock.t += 60_000 - 1;
    expect((await v.finish(s.json['loginId'], ke3)).status).toBe(200);
    expect(await v.finish(s.json['loginId'], ke3)).toMatchObject({ status: 409, json: refused });

    const late = await v.start(name, 'right');
    const lateKe3 = (await v.ke3For(late)).ke3;
    v.clock.t += 60_000;
    expect(await v.finish(late.json['loginId'], lateKe3)).toMatchObject({ status: 409, json: refused });
  });
});

/** A store that records what the service hands it and answers what a test scripts. */
function spyStore(script: { putLogin?: boolean; finishLogin?: LoginOutcome } = {}) {
  const inner = createMemoryVaultStore();
  const handed: { put: Uint8Array[]; logins: PendingLogin[]; claimed: Uint8Array[] } = {
    put: [],
    logins: [],
    claimed: [],
  };
  const store: VaultStore = Object.create(inner);
  Object.assign(store, {
    async putLogin(login: Parameters<VaultStore['putLogin']>[0]) {
      handed.put.push(login.expectedMac);
      handed.logins.push({ ...login, expectedMac: new Uint8Array(login.expectedMac) });
      const armed = await inner.putLogin(login);
      return script.putLogin ?? armed;
    },
    async claimLogin(idHash: string, now: number) {
      const login = await inner.claimLogin(idHash, now);
      if (login) handed.claimed.push(login.expectedMac);
      return login;
    },
    async finishLogin(...args: Parameters<VaultStore['finishLogin']>) {
      const outcome = await inner.finishLogin(...args);
      return script.finishLogin ?? outcome;
    },
  });
  return { store, handed };
}

describe('what the service does with the store', () => {
  it('wipes the expected KE3 MAC once the store has its copy, and after checking KE3', async () => {
    const { store, handed } = spyStore();
    const v = vault({ store });
    const { name } = await registered(v);
    for (const password of ['right', 'wrong']) {
      const s = await v.start(name, password);
      expect(handed.put.at(-1)).toHaveLength(64);
      expect(handed.put.at(-1)!.every((b) => b === 0)).toBe(true);
      const f = password === 'right' ? await v.finish(s.json['loginId'], (await v.ke3For(s)).ke3) : undefined;
      if (f) expect(f.status).toBe(200);
      else await v.finish(s.json['loginId']);
      expect(handed.claimed.at(-1)).toHaveLength(64);
      expect(handed.claimed.at(-1)!.every((b) => b === 0)).toBe(true);
    }
  });

  it('hands the store the login it counted: account, generation, fake or not, expiry', async () => {
    const { store, handed } = spyStore();
    const v = vault({ store });
    const { name } = await registered(v);
    const nobody = account('nobody');
    for (const [who, fake] of [
      [name, false],
      [nobody, true],
    ] as const) {
      const s = await v.start(who);
      expect(s.status).toBe(200);
      const login = handed.logins.at(-1)!;
      expect(login).toMatchObject({ account: who, fake, expiresAt: v.clock.t + 60_000 });
      expect(login.expectedMac).toHaveLength(64);
      // A real login is filed against the record's generation; a fake one against none (0).
      if (fake) expect(login.generation).toBe(0);
      else expect(login.generation).toBeGreaterThan(0);
    }
  });

  it('a login the store cannot arm (the record changed after counting) is 409', async () => {
    const { store } = spyStore({ putLogin: false });
    const v = vault({ store });
    const { name } = await registered(v);
    const s = await v.start(name);
    expect(s.status).toBe(409);
    expect(s.json).toEqual({ error: { code: 'VAULT_PROTOCOL', message: CHANGED_MESSAGE } });
  });

  it('a login whose record the store finds changed answers 409 at finish, 0 left at abort', async () => {
    const { store } = spyStore({ finishLogin: { kind: 'changed' } });
    const v = vault({ store });
    const { name } = await registered(v);
    const s = await v.start(name, 'right');
    const f = await v.finish(s.json['loginId'], (await v.ke3For(s)).ke3);
    expect([f.status, f.json]).toEqual([
      409,
      { error: { code: 'VAULT_PROTOCOL', message: CHANGED_MESSAGE } },
    ]);
    const s2 = await v.start(name);
    expect(await v.abort(s2.json['loginId'])).toMatchObject({ status: 200, json: { remainingAttempts: 0 } });
  });

  it('a login whose record the store finds destroyed answers VAULT_LOCKED at finish, 0 left at abort', async () => {
    const { store } = spyStore({ finishLogin: { kind: 'locked' } });
    const v = vault({ store });
    const { name } = await registered(v);
    const s = await v.start(name, 'right');
    const f = await v.finish(s.json['loginId'], (await v.ke3For(s)).ke3);
    expect([f.status, f.json]).toEqual([423, { error: { code: 'VAULT_LOCKED', message: LOCKED_MESSAGE } }]);
    const s2 = await v.start(name);
    expect(await v.abort(s2.json['loginId'])).toMatchObject({ status: 200, json: { remainingAttempts: 0 } });
  });
});
