/**
 * The vault under load and local faults, deterministically: admission control (a bounded queue
 * answered 503 with Retry-After before anything is counted, one operation per turn of the event
 * loop), the health endpoint, HTTP timeouts sized in seconds, a secure deletion that says when it
 * could not overwrite, and the client's handling of Retry-After. PostgreSQL's faults are in
 * postgres-faults.test.ts; crashes, floods and full disks in `npm run test:vault-faults`.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { toBase64url } from '../../src/vault/base64url.js';
import { createVaultClient, retryAfterMs, VaultError } from '../../src/vault/client.js';
import { startLogin, startRegistration } from '../../src/vault/protocol.js';
import { AdmissionRefused, type Admitted, createAdmission } from '../../src/vault/server/admission.js';
import { startVaultServer } from '../../src/vault/server/index.js';
import { generateVaultKeyFile, parseVaultKeyFile, staticKeyProvider } from '../../src/vault/server/keys.js';
import { createVaultService } from '../../src/vault/server/service.js';
import { createMemoryVaultStore } from '../../src/vault/server/store/memory.js';
import { openSqliteVaultStore } from '../../src/vault/server/store/sqlite.js';
import type { VaultStore, VaultStoreNotice } from '../../src/vault/server/store/store.js';
import { CHEAP_KSF, errorOf, type LooseJson, tempDir, testLimits } from './helpers.js';

let t: { dir: string }; // removed when this file ends (tempDir)
beforeAll(() => {
  t = tempDir();
});
const keys = staticKeyProvider(parseVaultKeyFile(generateVaultKeyFile()));
const rnd = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const ke1 = () => toBase64url(startLogin('any password').ke1);
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A promise and its resolver. */
function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

describe('admission control', () => {
  let clock = 1_000_000;
  // The draw of a full queue falls on the newcomer, unless a test says otherwise.
  const options = { retryAfterMs: 1000, now: () => clock, random: () => 0.999 };
  /** The result of an admitted operation (failing the test if it was refused). */
  const result = <T>(a: Admitted<T>): Promise<T> => {
    if (!a.ok) throw new Error('refused');
    return a.result;
  };

  it('admits `concurrency` plus `queueLimit`, refuses the rest at once, and frees slots as operations end', async () => {
    const admission = createAdmission({ concurrency: 1, queueLimit: 2, queueLimitPerAddress: 10 }, options);
    const g = gate();
    const started: number[] = [];
    const op = (i: number) => async () => {
      started.push(i);
      await g.opened;
      return i;
    };
    const a = result(admission.run('a', op(1)));
    const b = result(admission.run('b', op(2)));
    const c = result(admission.run('c', op(3)));
    expect(admission.run('d', op(4))).toEqual({ ok: false, holdMs: 0 });
    expect(started).toEqual([]); // nothing runs in the caller's turn
    await turn();
    expect(started).toEqual([1]);
    expect(admission.load).toEqual({ active: 1, queued: 2 });
    g.open();
    expect(await Promise.all([a, b, c])).toEqual([1, 2, 3]);
    expect(started).toEqual([1, 2, 3]); // in arrival order
    expect(admission.load).toEqual({ active: 0, queued: 0 });
    expect(await result(admission.run('e', op(5)))).toBe(5);
    clock += 1000;
    expect(await result(admission.run('d', op(4)))).toBe(4);
    expect(started).toEqual([1, 2, 3, 5, 4]);
  });

  it('an address back before its Retry-After is refused, with the rest of its wait to hold the answer', async () => {
    const admission = createAdmission({ concurrency: 1, queueLimit: 0, queueLimitPerAddress: 1 }, options);
    const g = gate();
    const held = result(admission.run('owner', async () => g.opened));
    expect(admission.run('flood', async () => 'x')).toEqual({ ok: false, holdMs: 0 }); // full
    g.open();
    await held;
    // Room now, but the flood is back too soon: refused, to be answered when its wait is over.
    clock += 400;
    expect(admission.run('flood', async () => 'x')).toEqual({ ok: false, holdMs: 600 });
    clock += 599;
    expect(admission.run('flood', async () => 'x')).toEqual({ ok: false, holdMs: 1 });
    // A newcomer gets its turn meanwhile, and so does the flood once it has waited.
    expect(await result(admission.run('newcomer', async () => 'in'))).toBe('in');
    clock += 1;
    expect(await result(admission.run('flood', async () => 'in'))).toBe('in');
  });

  it('a full queue draws at random between the waiting and the newcomer: a waiting one may give way', async () => {
    let draw = 0;
    const admission = createAdmission(
      { concurrency: 1, queueLimit: 2, queueLimitPerAddress: 10 },
      { ...options, random: () => draw },
    );
    const g = gate();
    const ran: string[] = [];
    const op = (name: string) => async () => {
      ran.push(name);
      await g.opened;
      return name;
    };
    const first = result(admission.run('a', op('a')));
    await turn(); // 'a' runs; 'b' and 'c' wait
    const b = result(admission.run('b', op('b')));
    const c = result(admission.run('c', op('c')));
    draw = 0; // falls on the first waiting: 'b'
    const d = result(admission.run('d', op('d')));
    await expect(b).rejects.toBeInstanceOf(AdmissionRefused);
    draw = 0.99; // falls on the newcomer
    expect(admission.run('e', op('e'))).toEqual({ ok: false, holdMs: 0 });
    g.open();
    expect(await Promise.all([first, c, d])).toEqual(['a', 'c', 'd']);
    expect(ran).toEqual(['a', 'c', 'd']); // 'b' never ran: nothing of it was counted
    // 'b' was told to wait like any refused request.
    expect(admission.run('b', op('b'))).toEqual({ ok: false, holdMs: 1000 });
  });

  it('holds one address to its share, in progress and waiting together', async () => {
    const admission = createAdmission({ concurrency: 2, queueLimit: 10, queueLimitPerAddress: 2 }, options);
    const g = gate();
    const op = async () => g.opened;
    const held = [result(admission.run('flood', op)), result(admission.run('flood', op))];
    expect(admission.run('flood', op).ok).toBe(false);
    expect(admission.run('other', op).ok).toBe(true);
    expect(admission.run(undefined, op).ok).toBe(true); // no address: only the global bounds
    g.open();
    await Promise.all(held);
    clock += 1000;
    expect(admission.run('flood', op).ok).toBe(true);
  });

  it('lets the event loop turn between two operations, even when both are synchronous', async () => {
    const admission = createAdmission({ concurrency: 4, queueLimit: 4, queueLimitPerAddress: 4 }, options);
    const order: string[] = [];
    const first = result(admission.run(undefined, async () => order.push('op 1')));
    const second = result(admission.run(undefined, async () => order.push('op 2')));
    // Queued after both: runs before the second operation only if a turn passes between them.
    setImmediate(() => order.push('I/O'));
    await Promise.all([first, second]);
    expect(order).toEqual(['op 1', 'I/O', 'op 2']);
  });

  it('a failing operation frees its slot and rejects its caller', async () => {
    const admission = createAdmission({ concurrency: 1, queueLimit: 0, queueLimitPerAddress: 1 }, options);
    await expect(
      result(
        admission.run('a', async () => {
          throw new Error('boom');
        }),
      ),
    ).rejects.toThrow('boom');
    expect(await result(admission.run('a', async () => 'next'))).toBe('next');
  });

  it('refuses impossible limits', () => {
    expect(() =>
      createAdmission({ concurrency: 0, queueLimit: 1, queueLimitPerAddress: 1 }, options),
    ).toThrow(/concurrency/);
  });
});

describe('a busy vault', () => {
  it('answers login/start beyond its queue with 503 and Retry-After, before counting anything', async () => {
    const inner = createMemoryVaultStore();
    const g = gate();
    let counted = 0;
    // A store whose counting waits for the gate: the first attempt holds the only slot.
    const store: VaultStore = {
      ...inner,
      async countAttempt(...args) {
        counted++;
        await g.opened;
        return inner.countAttempt(...args);
      },
    };
    const service = createVaultService({
      store,
      keys,
      limits: { ...testLimits, concurrency: 1, queueLimit: 0 },
    });
    const first = service.handle('login/start', { account: 'alice', ke1: ke1() }, { address: '192.0.2.1' });
    await turn();
    expect(counted).toBe(1);
    const second = service.handle('login/start', { account: 'alice', ke1: ke1() }, { address: '192.0.2.2' });
    const registration = service.handle(
      'register/start',
      { account: 'bob', registrationRequest: toBase64url(startRegistration('pw').registrationRequest) },
      { address: '192.0.2.3' },
    );
    g.open();
    const refused = await second;
    expect(refused.status).toBe(503);
    expect(refused.headers).toEqual({ 'retry-after': '1' });
    expect((refused.body as LooseJson)['error']).toMatchObject({
      code: 'VAULT_UNAVAILABLE',
      retryAfterSeconds: 1,
    });
    expect((await registration).status).toBe(503);
    expect((await first).status).toBe(200);
    expect(counted).toBe(1); // the refused attempt was never counted
    // The fake counter of 'alice' (unknown here) took exactly one attempt.
    const next = await service.handle('login/start', { account: 'alice', ke1: ke1() });
    expect((next.body as LooseJson)['remainingAttempts']).toBe(8);
  });

  it('cheap requests are not queued: login/finish, info and health answer while the queue is full', async () => {
    const inner = createMemoryVaultStore();
    const g = gate();
    const store: VaultStore = {
      ...inner,
      async countAttempt(...args) {
        await g.opened;
        return inner.countAttempt(...args);
      },
    };
    const service = createVaultService({
      store,
      keys,
      limits: { ...testLimits, concurrency: 1, queueLimit: 0 },
    });
    const held = service.handle('login/start', { account: 'alice', ke1: ke1() });
    await turn();
    expect((await service.handle('info', undefined)).status).toBe(200);
    expect(await service.handle('health', undefined)).toEqual({
      status: 200,
      body: { status: 'ok', store: 'memory' },
    });
    const finish = await service.handle('login/finish', {
      loginId: toBase64url(rnd(16)),
      ke3: toBase64url(rnd(64)),
    });
    expect(finish.status).toBe(409); // unknown login: answered, not queued
    g.open();
    expect((await held).status).toBe(200);
  });

  it('a store that fails answers 503 with Retry-After, and health says so', async () => {
    const inner = createMemoryVaultStore();
    const store: VaultStore = {
      ...inner,
      countAttempt: () => Promise.reject(new Error('connection refused')),
      health: () => Promise.reject(new Error('connection refused')),
    };
    const service = createVaultService({ store, keys, limits: testLimits });
    const r = await service.handle('login/start', { account: 'alice', ke1: ke1() });
    expect(r.status).toBe(503);
    expect(r.headers).toEqual({ 'retry-after': '1' });
    const health = await service.handle('health', undefined);
    expect(health.status).toBe(503);
    expect((health.body as LooseJson)['error']['code']).toBe('VAULT_UNAVAILABLE');
  });
});

describe('the client honours Retry-After', () => {
  const info = {
    protocol: 'e2ee-backup-vault/1',
    serverPublicKey: toBase64url(rnd(32)),
    maxAttempts: 10,
    ksf: CHEAP_KSF,
  };
  const busy = () =>
    new Response(
      JSON.stringify({ error: { code: 'VAULT_UNAVAILABLE', message: 'busy', retryAfterSeconds: 1 } }),
      {
        status: 503,
        headers: { 'content-type': 'application/json', 'retry-after': '1' },
      },
    );

  it('waits and asks again after a 503 with Retry-After, within its budget', async () => {
    const answers = [busy(), new Response(JSON.stringify(info), { status: 200 })];
    const calls: number[] = [];
    const vault = createVaultClient('http://vault.test', {
      fetch: async () => {
        calls.push(Date.now());
        return answers.shift()!;
      },
    });
    expect((await vault.info()).maxAttempts).toBe(10);
    expect(calls).toHaveLength(2);
  });

  it('gives up with the 503 once the budget is spent (0: never retries)', async () => {
    let calls = 0;
    const vault = createVaultClient('http://vault.test', {
      maxRetryWaitMs: 0,
      fetch: async () => {
        calls++;
        return busy();
      },
    });
    const err = await errorOf(vault.info());
    expect(err.code).toBe('VAULT_UNAVAILABLE');
    expect(err['retryAfterSeconds']).toBe(1);
    expect(calls).toBe(1);
  });

  it('retryAfterMs reads the delay of RATE_LIMITED and VAULT_UNAVAILABLE only', () => {
    expect(retryAfterMs(new VaultError('RATE_LIMITED', 'slow down', { retryAfterSeconds: 7 }))).toBe(7000);
    expect(retryAfterMs(new VaultError('VAULT_UNAVAILABLE', 'busy', { retryAfterSeconds: 1 }))).toBe(1000);
    expect(retryAfterMs(new VaultError('VAULT_UNAVAILABLE', 'down'))).toBeUndefined();
    expect(retryAfterMs(new VaultError('WRONG_PASSWORD', 'no', { retryAfterSeconds: 1 }))).toBeUndefined();
    expect(retryAfterMs(new Error('other'))).toBeUndefined();
  });
});

describe('HTTP timeouts are seconds, not minutes', () => {
  /** Sends `text`, then nothing; resolves with what the server said before it closed. */
  const stall = (port: number, text: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(text));
      let answer = '';
      socket.on('data', (d) => {
        answer += d;
      });
      socket.on('close', () => resolve(answer));
      socket.on('error', reject);
    });

  it('a client that stalls in its headers or its body is answered 408 and disconnected', {
    timeout: 45_000,
  }, async () => {
    // The defaults: Node's own (60 s for headers, 300 s for a request) would outlast this test.
    const server = await startVaultServer({
      keyFile: join(t.dir, 'timeouts-keys.json'),
      dbPath: ':memory:',
      limits: testLimits,
    });
    try {
      const [headers, body] = await Promise.all([
        stall(server.port, 'POST /v1/login/start HTTP/1.1\r\nHost: vault\r\nContent-Type: appl'),
        stall(
          server.port,
          'POST /v1/login/start HTTP/1.1\r\nHost: vault\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"acc',
        ),
      ]);
      expect(headers).toMatch(/^HTTP\/1\.1 408 /);
      expect(body).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      await server.close();
    }
  });
});

describe('SQLite: a secure deletion that could not overwrite says so, and is retried', () => {
  it('a reader holding the WAL: reported, visible at /v1/health, then completed by the sweep', async () => {
    const path = join(t.dir, 'secure-delete.sqlite');
    const notices: VaultStoreNotice[] = [];
    const store = await openSqliteVaultStore({ path, busyTimeoutMs: 20, onNotice: (n) => notices.push(n) });
    const sealedKey = rnd(60);
    const verifier = rnd(32);
    const found = () => {
      const needle = Buffer.from(sealedKey);
      return [path, `${path}-wal`].some((f) => {
        try {
          return readFileSync(f).includes(needle);
        } catch {
          return false;
        }
      });
    };
    const server = await startVaultServer({
      keyFile: join(t.dir, 'sd-keys.json'),
      store,
      limits: testLimits,
    });
    const reader = new Database(path, { readonly: true });
    try {
      await store.commitRecord({
        account: 'erin',
        mode: 'register',
        credentialId: rnd(32),
        deviceSalt: rnd(32),
        authorized: false,
        record: rnd(192),
        sealedKey,
        deviceVerifier: verifier,
        ksf: CHEAP_KSF,
        maxAttempts: 10,
      });
      // Another connection in a read transaction pins the WAL: the checkpoint cannot truncate it.
      reader.exec('BEGIN');
      reader.prepare('SELECT count(*) FROM vault_accounts').get();
      expect(await store.deleteRecord('erin', verifier)).toBe('deleted');
      expect(notices.map((n) => n.kind)).toEqual(['secure-delete-incomplete']);
      expect(notices[0]?.detail).toMatch(/another connection/);
      expect(found()).toBe(true); // the report is true: the sealed key is still on disk
      const health = (await (await fetch(`${server.url}/v1/health`)).json()) as LooseJson;
      expect(health).toEqual({
        status: 'ok',
        store: 'sqlite',
        secureDeletePending: true,
        secureDeleteFailures: 1,
      });

      reader.exec('COMMIT');
      await store.sweep(Date.now());
      expect(notices.map((n) => n.kind)).toEqual(['secure-delete-incomplete', 'secure-delete-complete']);
      expect(found()).toBe(false);
      expect(await store.health?.()).toEqual({ secureDeletePending: false, secureDeleteFailures: 1 });
    } finally {
      reader.close();
      await server.close();
      await store.close();
    }
  });
});
