/**
 * Two vault servers sharing one PostgreSQL database keep one attempt counter, and a login may
 * start on one and finish on the other. Run twice: with two in-process servers (separate apps,
 * separate connection pools) and with two separate Node processes (the vault bundled with esbuild
 * for the child processes). Both use one key file, created by whichever starts first.
 *
 * Needs E2EE_TEST_PG_URL (see scripts/start-postgres.sh): skipped with a printed reason without
 * it, and failing when CI=true.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64url, toBase64url } from '../../src/vault/base64url.js';
import { createVaultClient } from '../../src/vault/client.js';
import { finishLogin, startLogin } from '../../src/vault/protocol.js';
import { startVaultServer } from '../../src/vault/server/index.js';
import { openPostgresVaultStore } from '../../src/vault/server/store/postgres.js';
import type { VaultStore } from '../../src/vault/server/store/store.js';
import {
  cheapClient,
  errorOf,
  type LooseJson,
  PG_URL,
  pgPrefix,
  pgSkipReason,
  randomKey,
  tempDir,
  testLimits,
} from './helpers.js';

const skip = pgSkipReason();
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Nodes {
  urls: [string, string];
  /** A store of the test's own on the same tables, to look at the counters. */
  inspect: VaultStore;
  close(): Promise<void>;
}

async function inProcessNodes(keyFile: string, prefix: string): Promise<Nodes> {
  const open = () => openPostgresVaultStore({ connectionString: PG_URL!, tablePrefix: prefix });
  const stores = await Promise.all([open(), open(), open()]);
  const servers = await Promise.all([
    startVaultServer({ keyFile, store: stores[0], limits: testLimits }),
    startVaultServer({ keyFile, store: stores[1], limits: testLimits }),
  ]);
  return {
    urls: [servers[0].url, servers[1].url],
    inspect: stores[2],
    async close() {
      for (const s of servers) await s.close();
      for (const s of stores) await s.close();
    },
  };
}

/** The child: opens its own pool, serves, prints its URL, and shuts down on SIGTERM. */
const CHILD = `
const [bundle, keyFile, url, prefix, limits] = process.argv.slice(2);
const { startVaultServer, openPostgresVaultStore } = await import(bundle);
const store = await openPostgresVaultStore({ connectionString: url, tablePrefix: prefix });
const server = await startVaultServer({ keyFile, store, limits: JSON.parse(limits) });
process.stdout.write(JSON.stringify({ url: server.url, pid: process.pid }) + '\\n');
process.on('SIGTERM', async () => { await server.close(); await store.close(); process.exit(0); });
`;

async function childProcessNodes(keyFile: string, prefix: string, dir: string): Promise<Nodes> {
  // Inside node_modules/.cache so that the bundle's bare imports (hono, pg, ...) resolve.
  const out = join(repoRoot, 'node_modules', '.cache', 'e2ee-backup-vault-test');
  mkdirSync(out, { recursive: true });
  const bundle = join(out, `vault-${process.pid}.mjs`);
  const { build } = await import('esbuild');
  await build({
    entryPoints: [join(repoRoot, 'src/vault/server/index.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outfile: bundle,
    logLevel: 'error',
  });
  const script = join(dir, 'child.mjs');
  writeFileSync(script, CHILD);
  const children: ChildProcess[] = [];
  const startChild = () =>
    new Promise<string>((resolveUrl, reject) => {
      const child = spawn(
        process.execPath,
        [script, bundle, keyFile, PG_URL!, prefix, JSON.stringify(testLimits)],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      children.push(child);
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`vault child exited with ${code}`)));
      createInterface({ input: child.stdout! }).once('line', (line) => resolveUrl(JSON.parse(line).url));
    });
  const urls = (await Promise.all([startChild(), startChild()])) as [string, string];
  const inspect = await openPostgresVaultStore({ connectionString: PG_URL!, tablePrefix: prefix });
  return {
    urls,
    inspect,
    async close() {
      await inspect.close();
      rmSync(bundle, { force: true });
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((done) => {
              if (c.exitCode !== null) return done();
              c.removeAllListeners('exit');
              c.once('exit', () => done());
              c.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}

const setups: [string, (keyFile: string, prefix: string, dir: string) => Promise<Nodes>][] = [
  ['two in-process servers', inProcessNodes],
  ['two server processes', childProcessNodes],
];

for (const [title, setup] of setups) {
  // Needs a PostgreSQL server (E2EE_TEST_PG_URL); .ci/run starts one, so CI always runs it.
  describe.skipIf(skip !== undefined)(`PostgreSQL: ${title}`, () => {
    let t: { dir: string; cleanup: () => void };
    const { prefix, drop } = pgPrefix();
    let nodes: Nodes;
    let n = 0;
    const account = () => `pg-user-${n++}`;

    beforeAll(async () => {
      t = tempDir();
      nodes = await setup(join(t.dir, 'keys.json'), prefix, t.dir);
      expect(nodes.urls[0]).not.toBe(nodes.urls[1]);
    }, 120_000);

    afterAll(async () => {
      await nodes?.close();
      await drop();
      t?.cleanup();
    });

    const client = (i: number) => createVaultClient(nodes.urls[i % 2]!, cheapClient);
    const post = async (i: number, path: string, body: unknown) => {
      const res = await fetch(`${nodes.urls[i % 2]}/v1/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, json: (await res.json()) as LooseJson };
    };

    it('both nodes serve the same server key', async () => {
      const [x, y] = await Promise.all([client(0).info(), client(1).info()]);
      expect(x.serverPublicKey).toEqual(y.serverPublicKey);
    });

    it('registers on one node and recovers, changes, resets and deletes on the other', async () => {
      const name = account();
      const backupKey = randomKey();
      await client(0).register({ account: name, password: 'first', backupKey });
      expect(await client(1).recover({ account: name, password: 'first' })).toEqual(backupKey);
      await client(1).changePassword({ account: name, oldPassword: 'first', newPassword: 'second' });
      expect(await client(0).recover({ account: name, password: 'second' })).toEqual(backupKey);
      await client(0).resetPassword({ account: name, backupKey, newPassword: 'third' });
      expect(await client(1).recover({ account: name, password: 'third' })).toEqual(backupKey);
      await client(1).delete({ account: name, backupKey });
      expect(await nodes.inspect.getAccount(name)).toBeUndefined();
    });

    it('a login started on one node finishes on the other, once', async () => {
      const name = account();
      await client(0).register({ account: name, password: 'pw', backupKey: randomKey() });
      const { ke1, state } = startLogin('pw');
      const start = await post(0, 'login/start', { account: name, ke1: toBase64url(ke1) });
      const { ke3 } = await finishLogin({
        state,
        account: name,
        ke2: fromBase64url(start.json['ke2'])!,
        ksf: start.json['ksf'],
      });
      const body = { loginId: start.json['loginId'], ke3: toBase64url(ke3) };
      expect((await post(1, 'login/finish', body)).status).toBe(200);
      expect((await post(0, 'login/finish', body)).status).toBe(409); // replay, on either node
    });

    it('wrong guesses on both nodes share one counter: 10, then VAULT_LOCKED everywhere', async () => {
      const name = account();
      await client(0).register({ account: name, password: 'right', backupKey: randomKey() });
      for (let i = 9; i >= 0; i--) {
        const err = await errorOf(client(i).recover({ account: name, password: 'wrong' }));
        expect(err.remainingAttempts).toBe(i);
      }
      expect((await errorOf(client(0).recover({ account: name, password: 'right' }))).code).toBe(
        'VAULT_LOCKED',
      );
      expect((await errorOf(client(1).recover({ account: name, password: 'right' }))).code).toBe(
        'VAULT_LOCKED',
      );
      expect((await nodes.inspect.getAccount(name))!).toMatchObject({ status: 'locked', remaining: 0 });
    });

    it('50 concurrent wrong guesses split across both nodes: exactly 10 tried, 40 refused', async () => {
      const name = account();
      await client(0).register({ account: name, password: 'right', backupKey: randomKey() });
      const errors = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          errorOf(client(i).recover({ account: name, password: `guess ${i}` })),
        ),
      );
      expect(errors.filter((e) => e.code === 'WRONG_PASSWORD')).toHaveLength(10);
      expect(errors.filter((e) => e.code === 'VAULT_LOCKED')).toHaveLength(40);
      const stored = (await nodes.inspect.getAccount(name))!;
      expect(stored).toMatchObject({ status: 'locked', remaining: 0 });
      expect(stored.sealedKey).toBeUndefined();
      expect(stored.record).toBeUndefined();
    });

    it('50 concurrent KE1s split across both nodes are counted exactly', async () => {
      const name = account();
      await client(0).register({ account: name, password: 'right', backupKey: randomKey() });
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          post(i, 'login/start', { account: name, ke1: toBase64url(startLogin('guess').ke1) }),
        ),
      );
      expect(answers.filter((r) => r.status === 200)).toHaveLength(10);
      expect(answers.filter((r) => r.status === 423)).toHaveLength(40);
      expect((await nodes.inspect.getAccount(name))!).toMatchObject({ remaining: 0, status: 'active' });
    });
  });
}
