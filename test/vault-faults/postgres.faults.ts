/**
 * Fault runs on the PostgreSQL store, against a PostgreSQL of the suite's own (never the shared
 * test database): by default on 127.0.0.1:54339 with its data in /tmp/e2ee-vault-faults-pgdata
 * (E2EE_FAULTS_PG_PORT, E2EE_FAULTS_PG_DATA), started with `fsync = on`, `full_page_writes = on`
 * and `synchronous_commit = off` at the server level: a crash then loses what a real server
 * loses, and a store that did not force `synchronous_commit = on` itself would lose answered
 * attempts. Two vault nodes share one database; under 16 attackers and 8 owners, E2EE_FAULTS_ROUNDS
 * times (default 3): one node killed with SIGKILL; PostgreSQL stopped (`-m fast`) and restarted;
 * PostgreSQL crashed (`-m immediate`) and restarted; every backend of the database terminated.
 * Invariants: no node crashes, no answered attempt is uncounted, none is counted twice, every live
 * record opens at the end, and after each restart both nodes serve within 2 s of the database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type OwnPostgres,
  postgresUnavailable,
  sleep,
  startPostgres,
  waitFor,
} from '../../bench/vault-harness.mjs';
import { buildCli } from '../cli/helpers.js';
import { type Cluster, startCluster } from './cluster.js';
import {
  type Accounts,
  type Counter,
  checkCounts,
  checkRecordsOpen,
  registerAccounts,
  report,
  startLoad,
} from './load.js';

const ROUNDS = Math.max(1, Number(process.env['E2EE_FAULTS_ROUNDS'] ?? 3));
const CLI = process.env['E2EE_FAULTS_CLI'];
const PORT = Number(process.env['E2EE_FAULTS_PG_PORT'] ?? 54339);
const DATA = process.env['E2EE_FAULTS_PG_DATA'] ?? '/tmp/e2ee-vault-faults-pgdata';
const skip = postgresUnavailable();
if (skip) console.warn(`skipping the PostgreSQL fault runs: ${skip}`);

let pg: OwnPostgres;
const dirs: string[] = [];

beforeAll(async () => {
  if (skip) return;
  if (!CLI) await buildCli();
  pg = await startPostgres({
    port: PORT,
    data: DATA,
    log: `${DATA}.log`,
    settings: { synchronous_commit: 'off' },
  });
  const [settings] = await pg.query(
    "SELECT current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sync, current_setting('full_page_writes') AS fpw",
  );
  report('postgres settings', { port: PORT, ...settings });
  // Guard: these runs need a server that would lose asynchronous commits in a crash.
  expect(settings).toEqual({ fsync: 'on', sync: 'off', fpw: 'on' });
}, 300_000);

afterAll(() => {
  if (pg && !process.env['E2EE_FAULTS_KEEP_PG']) pg.stop('fast');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Run {
  cluster: Cluster;
  accounts: Accounts;
  db: string;
  dir: string;
  keyFile: string;
}

async function setUp(db: string): Promise<Run> {
  await pg.createDatabase(db);
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-vault-faults-'));
  dirs.push(dir);
  const keyFile = join(dir, 'vault-keys.json');
  const cluster = await startCluster({
    size: 2,
    keyFile,
    store: { postgres: pg.url(db) },
    cwd: dir,
    ...(CLI ? { cli: CLI } : {}),
  });
  const accounts = await registerAccounts(cluster.urls()[0]!, db, {
    attacked: 8 * ROUNDS,
    owners: 8,
    unknown: 4,
  });
  return { cluster, accounts, db, dir, keyFile };
}

const counterOf =
  (db: string) =>
  async (account: string): Promise<Counter> =>
    (
      await pg.query('SELECT status, remaining FROM vault_accounts WHERE account = $1', [account], db)
    )[0] as Counter;

/** Stops the load and the nodes, checks every invariant, reports, and asserts. */
async function finish(
  run: Run,
  load: ReturnType<typeof startLoad>,
  scenario: string,
  facts: Record<string, unknown>,
) {
  await load.stop();
  await run.cluster.stop();
  const counter = counterOf(run.db);
  const counts = await checkCounts(load.ledger, run.accounts, counter);
  const again = await startCluster({
    size: 1,
    keyFile: run.keyFile,
    store: { postgres: pg.url(run.db) },
    cwd: run.dir,
    ...(CLI ? { cli: CLI } : {}),
  });
  const open = await checkRecordsOpen(again.urls()[0]!, run.accounts, counter);
  await again.stop();
  report(scenario, {
    rounds: ROUNDS,
    ...facts,
    crashes: run.cluster.crashes.length,
    ...counts,
    statuses: Object.fromEntries(load.ledger.statuses),
    ownersRecovered: load.ledger.recovered,
    recordsOpened: open.opened,
  });
  expect(run.cluster.crashes.map((c) => `node ${c.node} exited ${String(c.code)}: ${c.log}`)).toEqual([]);
  expect(counts.violations).toEqual([]);
  expect(open.problems).toEqual([]);
}

const healthy = async (url: string) => (await fetch(`${url}/v1/health`)).status === 200;

/** Time (ms) from now until every node answers /v1/health with 200; -1 if not within 30 s. */
async function servingAgain(cluster: Cluster): Promise<number> {
  return waitFor(async () => (await Promise.all(cluster.allUrls().map(healthy))).every(Boolean), {
    timeoutMs: 30_000,
    everyMs: 20,
  });
}

/** Waits until `n` more login/starts have been answered (or 60 s). */
const progress = (load: ReturnType<typeof startLoad>, n: number) => {
  const target = load.answered() + n;
  return waitFor(() => load.answered() >= target, { timeoutMs: 60_000 });
};

describe.skipIf(skip !== undefined)('PostgreSQL faults under load, two nodes', () => {
  it('one of two nodes killed with SIGKILL in mid-burst', async () => {
    const run = await setUp('vault_faults_kill');
    const load = startLoad({ urls: run.cluster.urls, accounts: run.accounts });
    for (let r = 0; r < ROUNDS; r++) {
      await progress(load, 30);
      await run.cluster.kill(r % 2);
      await progress(load, 10); // the other node serves alone
      await run.cluster.restart(r % 2);
    }
    await progress(load, 30);
    await finish(run, load, 'postgres kill -9 of one of two nodes', {});
  });

  for (const mode of ['fast', 'immediate'] as const) {
    it(`PostgreSQL ${mode === 'fast' ? 'stopped' : 'crashed (immediate stop)'} and restarted under load`, async () => {
      const run = await setUp(`vault_faults_${mode}`);
      const load = startLoad({ urls: run.cluster.urls, accounts: run.accounts });
      const back: number[] = [];
      const down: Record<number, number>[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        await progress(load, 30);
        pg.stop(mode);
        const before = Object.fromEntries(load.ledger.statuses);
        await sleep(1500); // the nodes answer without their database meanwhile
        const after = Object.fromEntries(load.ledger.statuses);
        down.push(Object.fromEntries(Object.keys(after).map((k) => [k, (after[k] ?? 0) - (before[k] ?? 0)])));
        pg.start(); // returns once PostgreSQL accepts connections
        back.push(Math.round(await servingAgain(run.cluster)));
      }
      await progress(load, 30);
      await finish(run, load, `postgres ${mode} stop`, { servingAgainMs: back, answersWhileDown: down });
      for (const ms of back) {
        expect(ms).toBeGreaterThanOrEqual(0);
        expect(ms).toBeLessThanOrEqual(2000);
      }
    });
  }

  it('every backend of the vault database terminated (pg_terminate_backend) under load', async () => {
    const run = await setUp('vault_faults_terminate');
    const load = startLoad({ urls: run.cluster.urls, accounts: run.accounts });
    const terminated: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      await progress(load, 20);
      terminated.push(await pg.terminate(run.db));
    }
    await progress(load, 30);
    await finish(run, load, 'postgres pg_terminate_backend', { terminated });
  });
});
