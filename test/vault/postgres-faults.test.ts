/**
 * The PostgreSQL store under faults it must survive: connections dropped mid-transaction and
 * idle, a database that is down when the vault starts, and a server whose default is
 * `synchronous_commit = off`. The network fails through a TCP proxy of the test's own
 * (tcp-proxy.ts), so the shared test database is never stopped and none of its backends is
 * terminated. Crashes and restarts of PostgreSQL itself are in `npm run test:vault-faults`.
 *
 * Needs E2EE_TEST_PG_URL (see scripts/start-postgres.sh): skipped with a printed reason without
 * it, and failing when CI=true.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64url } from '../../src/vault/base64url.js';
import { createVaultClient } from '../../src/vault/client.js';
import { startLogin } from '../../src/vault/protocol.js';
import { type RunningVaultServer, startVaultServer } from '../../src/vault/server/index.js';
import { openPostgresVaultStore } from '../../src/vault/server/store/postgres.js';
import type { VaultStore, VaultStoreNotice } from '../../src/vault/server/store/store.js';
import {
  cheapClient,
  type LooseJson,
  PG_URL,
  pgPrefix,
  pgSkipReason,
  randomKey,
  tempDir,
  testLimits,
} from './helpers.js';
import { startTcpProxy, type TcpProxy, viaProxy } from './tcp-proxy.js';

const skip = pgSkipReason();
const rnd = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const KSF = { algorithm: 'argon2id', m: 64, t: 1, p: 1 } as const;

async function post(url: string, path: string, body: unknown) {
  const res = await fetch(`${url}/v1/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as LooseJson };
}
const ke1 = () => toBase64url(startLogin('any password').ke1);

describe.skipIf(skip !== undefined)('PostgreSQL: every counting transaction commits durably', () => {
  const { prefix, drop } = pgPrefix();
  let admin: pg.Client;
  afterAll(async () => {
    await admin?.query(`DROP FUNCTION IF EXISTS ${prefix}note_sync() CASCADE`);
    await admin?.query(`DROP TABLE IF EXISTS ${prefix}sync_seen`);
    await admin?.end();
    await drop();
  });

  it('runs with synchronous_commit = on even when the session default is off', async () => {
    // The session default off, whatever the test server's configuration: what a server running
    // with synchronous_commit = off would give every connection.
    const url = viaProxy(PG_URL!, Number(new URL(PG_URL!).port || 5432), 'options=-c synchronous_commit=off');
    const store = await openPostgresVaultStore({ connectionString: url, tablePrefix: prefix });
    admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    // A trigger notes the setting in force inside every transaction that writes a counter.
    await admin.query(`CREATE TABLE ${prefix}sync_seen (tbl TEXT, op TEXT, setting TEXT)`);
    await admin.query(
      `CREATE FUNCTION ${prefix}note_sync() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
         INSERT INTO ${prefix}sync_seen VALUES (TG_TABLE_NAME, TG_OP, current_setting('synchronous_commit'));
         RETURN NULL; END $$`,
    );
    for (const table of ['accounts', 'fake_counters']) {
      await admin.query(
        `CREATE TRIGGER note AFTER INSERT OR UPDATE ON ${prefix}${table}
         FOR EACH ROW EXECUTE FUNCTION ${prefix}note_sync()`,
      );
    }
    try {
      const now = Date.now();
      const pending = () => ({ idHash: Buffer.from(rnd(32)).toString('hex'), expiresAt: now + 60_000 });
      const fake = (key: string) => ({ key, maxAttempts: 10, expiresAt: now + 86_400_000 });
      expect(
        await store.commitRecord({
          account: 'alice',
          mode: 'register',
          credentialId: rnd(32),
          deviceSalt: rnd(32),
          authorized: false,
          record: rnd(192),
          sealedKey: rnd(60),
          deviceVerifier: rnd(32),
          ksf: KSF,
          maxAttempts: 10,
        }),
      ).toBe('created');
      const p = pending();
      const counted = await store.countAttempt('alice', now, p, fake('a'));
      expect(counted).toMatchObject({ kind: 'counted', remaining: 9 });
      expect(
        await store.putLogin({ ...p, account: 'alice', generation: 1, expectedMac: rnd(64), fake: false }),
      ).toBe(true);
      const login = await store.claimLogin(p.idHash, now);
      expect(login).toBeDefined();
      // A success resets the counter: also a counter write.
      expect(await store.finishLogin(login!, true, now, 10)).toMatchObject({ kind: 'released' });
      expect(await store.countAttempt('nobody', now, pending(), fake('n'))).toMatchObject({ kind: 'absent' });
      // The control: the same trigger, in a session of that default writing outside the store,
      // sees off, so the check above is not vacuous.
      const plain = new pg.Client({ connectionString: url });
      await plain.connect();
      await plain.query(`UPDATE ${prefix}accounts SET updated_at = 0 WHERE account = 'alice'`);
      await plain.end();

      const seen = (await admin.query(`SELECT tbl, op, setting FROM ${prefix}sync_seen`)).rows as LooseJson[];
      const control = seen.pop();
      expect(control?.['setting']).toBe('off');
      expect(seen.length).toBeGreaterThanOrEqual(4);
      expect(seen.filter((r) => r['setting'] !== 'on')).toEqual([]);
    } finally {
      await store.close();
    }
  });
});

describe.skipIf(skip !== undefined)('PostgreSQL: a dropped connection is a 503, not a crash', () => {
  const { prefix, drop } = pgPrefix();
  let t: { dir: string; cleanup: () => void };
  let proxy: TcpProxy;
  let store: VaultStore;
  let server: RunningVaultServer;
  beforeAll(async () => {
    t = tempDir();
    const target = new URL(PG_URL!);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    store = await openPostgresVaultStore({
      connectionString: viaProxy(PG_URL!, proxy.port),
      tablePrefix: prefix,
    });
    server = await startVaultServer({ keyFile: `${t.dir}/keys.json`, store, limits: testLimits });
  });
  afterAll(async () => {
    await server?.close();
    await store?.close();
    await proxy?.close();
    await drop();
    t?.cleanup();
  });

  it('a connection dropped while checked out in the counting transaction: 503, uncounted, then served', async () => {
    const vault = createVaultClient(server.url, cheapClient);
    const backupKey = randomKey();
    await vault.register({ account: 'bob', password: 'pw of bob', backupKey });
    // Dropped as the counting UPDATE is sent: the server never runs it.
    const dropped = proxy.cutOn('remaining = remaining - 1');
    const refused = await post(server.url, 'login/start', { account: 'bob', ke1: ke1() });
    await dropped;
    expect(refused.status).toBe(503);
    expect(refused.json['error']).toMatchObject({ code: 'VAULT_UNAVAILABLE', retryAfterSeconds: 1 });
    expect(refused.headers.get('retry-after')).toBe('1');
    expect((await store.getAccount('bob'))?.remaining).toBe(10);
    // The pool connects afresh: the next attempt is served and counted once.
    const served = await post(server.url, 'login/start', { account: 'bob', ke1: ke1() });
    expect(served.status).toBe(200);
    expect(served.json['remainingAttempts']).toBe(9);
    expect((await store.getAccount('bob'))?.remaining).toBe(9);
  });

  it('a connection dropped at COMMIT: 503, then served', async () => {
    const dropped = proxy.cutOn('COMMIT');
    const refused = await post(server.url, 'login/start', { account: 'bob', ke1: ke1() });
    await dropped;
    expect(refused.status).toBe(503);
    expect((await store.getAccount('bob'))?.remaining).toBe(9); // the server never saw COMMIT
    expect((await post(server.url, 'login/start', { account: 'bob', ke1: ke1() })).status).toBe(200);
  });

  it('every connection dropped while idle: the client recovers the key (the pool reconnects)', async () => {
    const vault = createVaultClient(server.url, cheapClient);
    const backupKey = randomKey();
    await vault.register({ account: 'carol', password: 'pw of carol', backupKey });
    const before = proxy.connections;
    proxy.cut();
    // The first request may meet a connection not yet known dead (503, retried by the client).
    expect(await vault.recover({ account: 'carol', password: 'pw of carol' })).toEqual(backupKey);
    expect(proxy.connections).toBeGreaterThan(before);
  });
});

describe.skipIf(skip !== undefined)('PostgreSQL: the vault starts while its database is down', () => {
  let t: { dir: string; cleanup: () => void };
  const database = `i24_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
  let admin: pg.Client;
  let proxy: TcpProxy;
  let server: RunningVaultServer | undefined;
  beforeAll(async () => {
    t = tempDir();
    // A database of its own: startVaultServer uses the default table names.
    admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    const target = new URL(PG_URL!);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  });
  afterAll(async () => {
    await server?.close();
    await proxy?.close();
    await admin?.query(`DROP DATABASE IF EXISTS ${database}`);
    await admin?.end();
    t?.cleanup();
  });

  it('answers 503 (health says so) until the database is up, then serves', async () => {
    proxy.refuse(true);
    const url = new URL(viaProxy(PG_URL!, proxy.port));
    url.pathname = `/${database}`;
    const notices: VaultStoreNotice['kind'][] = [];
    server = await startVaultServer({
      keyFile: `${t.dir}/keys.json`,
      postgresUrl: url.toString(),
      limits: testLimits,
      onNotice: (n) => notices.push(n.kind),
    });
    const health = await fetch(`${server.url}/v1/health`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as LooseJson)['error']['code']).toBe('VAULT_UNAVAILABLE');
    const refused = await post(server.url, 'login/start', { account: 'dave', ke1: ke1() });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(notices).toEqual(['database-unavailable']);

    proxy.refuse(false);
    const up = await fetch(`${server.url}/v1/health`);
    expect(up.status).toBe(200);
    expect(await up.json()).toEqual({ status: 'ok', store: 'postgres' });
    expect(notices).toEqual(['database-unavailable', 'database-available']);
    const vault = createVaultClient(server.url, cheapClient);
    const backupKey = randomKey();
    await vault.register({ account: 'dave', password: 'pw of dave', backupKey });
    expect(await vault.recover({ account: 'dave', password: 'pw of dave' })).toEqual(backupKey);
  });
});
