/**
 * Fault runs on the SQLite store: the node killed with SIGKILL in mid-burst, and a full disk.
 * Part of `npm run test:vault-faults` (not of `npm test`): real processes of the built CLI, real
 * kills, minutes of load. E2EE_FAULTS_ROUNDS (default 3) sets the kills per run;
 * E2EE_FAULTS_CLI runs another build (e.g. an older one, to compare).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, waitFor } from '../../bench/vault-harness.mjs';
import { buildCli } from '../cli/helpers.js';
import { startCluster } from './cluster.js';
import { type Counter, checkCounts, checkRecordsOpen, registerAccounts, report, startLoad } from './load.js';

const ROUNDS = Math.max(1, Number(process.env['E2EE_FAULTS_ROUNDS'] ?? 3));
const CLI = process.env['E2EE_FAULTS_CLI'];
const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'e2ee-vault-faults-'));
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  if (!CLI) await buildCli();
}, 300_000);
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function sqliteCounter(path: string): { counter: (a: string) => Promise<Counter>; close: () => void } {
  const db = new Database(path, { readonly: true });
  const q = db.prepare('SELECT status, remaining FROM vault_accounts WHERE account = ?');
  return {
    counter: async (a) => q.get(a) as Counter,
    close: () => db.close(),
  };
}

describe('SQLite: kill -9 in mid-burst', () => {
  it(`the node killed ${ROUNDS} times under 16 attackers and 8 owners: no count lost, none doubled`, async () => {
    const dir = temp();
    const db = join(dir, 'vault.sqlite');
    const keyFile = join(dir, 'vault-keys.json');
    const cluster = await startCluster({
      size: 1,
      keyFile,
      store: { db },
      cwd: dir,
      ...(CLI ? { cli: CLI } : {}),
    });
    const accounts = await registerAccounts(cluster.urls()[0]!, 'k9', {
      attacked: 8 * ROUNDS,
      owners: 8,
      unknown: 4,
    });
    const load = startLoad({ urls: cluster.urls, accounts });
    const killedAt: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const target = load.answered() + 30;
      await waitFor(() => load.answered() >= target, { timeoutMs: 60_000 });
      killedAt.push(load.answered());
      await cluster.kill(0);
      await cluster.restart(0);
    }
    const target = load.answered() + 30;
    await waitFor(() => load.answered() >= target, { timeoutMs: 60_000 });
    await load.stop();
    await cluster.stop();

    const store = sqliteCounter(db);
    const counts = await checkCounts(load.ledger, accounts, store.counter);
    const again = await startCluster({
      size: 1,
      keyFile,
      store: { db },
      cwd: dir,
      ...(CLI ? { cli: CLI } : {}),
    });
    const open = await checkRecordsOpen(again.urls()[0]!, accounts, store.counter);
    await again.stop();
    store.close();
    report('sqlite kill -9', {
      rounds: ROUNDS,
      killedAt,
      crashes: cluster.crashes.length,
      ...counts,
      statuses: Object.fromEntries(load.ledger.statuses),
      ownersRecovered: load.ledger.recovered,
      recordsOpened: open.opened,
    });
    expect(cluster.crashes).toEqual([]);
    expect(counts.violations).toEqual([]);
    expect(open.problems).toEqual([]);
  });
});

/** Mounts a tmpfs of `size` at `dir`; undefined if this machine will not (not root, no CAP_SYS_ADMIN). */
function mountTmpfs(dir: string, size: string): (() => void) | undefined {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  if (r.status !== 0) return undefined;
  return () => {
    execFileSync('umount', ['-l', dir]);
  };
}

const canMount = (() => {
  const probe = join(tmpdir(), `e2ee-vault-faults-probe-${process.pid}`);
  const unmount = mountTmpfs(probe, '64k');
  unmount?.();
  rmSync(probe, { recursive: true, force: true });
  return unmount !== undefined;
})();
if (!canMount) console.warn('cannot mount a tmpfs here (needs root): skipping the full-disk run');

describe.skipIf(!canMount)('SQLite: a full disk', () => {
  it('503s or answers while full, no crash, no lost count; every record opens once there is room', async () => {
    const dir = temp();
    const mnt = join(dir, 'small');
    const unmount = mountTmpfs(mnt, '3m')!;
    try {
      const db = join(mnt, 'vault.sqlite');
      const keyFile = join(dir, 'vault-keys.json');
      const cluster = await startCluster({
        size: 1,
        keyFile,
        store: { db },
        cwd: dir,
        ...(CLI ? { cli: CLI } : {}),
      });
      const accounts = await registerAccounts(cluster.urls()[0]!, 'full', {
        attacked: 16,
        owners: 8,
        unknown: 4,
      });
      // Fill the file system to the last byte.
      const filler = openSync(join(mnt, 'filler'), 'w');
      const block = Buffer.alloc(4096, 1);
      try {
        for (;;) writeSync(filler, block);
      } catch (err) {
        expect((err as { code?: string }).code).toBe('ENOSPC');
      }
      try {
        for (;;) writeSync(filler, block.subarray(0, 1));
      } catch {
        // full to the byte
      }
      closeSync(filler);
      const load = startLoad({ urls: cluster.urls, accounts });
      await sleep(4000);
      const whileFull = Object.fromEntries(load.ledger.statuses);
      rmSync(join(mnt, 'filler'));
      const room = load.answered();
      const serving = await waitFor(() => load.answered() >= room + 20, { timeoutMs: 60_000 });
      await load.stop();
      await cluster.stop();

      const store = sqliteCounter(db);
      const counts = await checkCounts(load.ledger, accounts, store.counter);
      const again = await startCluster({
        size: 1,
        keyFile,
        store: { db },
        cwd: dir,
        ...(CLI ? { cli: CLI } : {}),
      });
      const open = await checkRecordsOpen(again.urls()[0]!, accounts, store.counter);
      await again.stop();
      store.close();
      report('sqlite full disk', {
        crashes: cluster.crashes.length,
        whileFull,
        servingAgainMs: Math.round(serving),
        ...counts,
        statuses: Object.fromEntries(load.ledger.statuses),
        recordsOpened: open.opened,
      });
      expect(cluster.crashes).toEqual([]);
      expect(serving).toBeGreaterThanOrEqual(0);
      expect(counts.violations).toEqual([]);
      expect(open.problems).toEqual([]);
    } finally {
      unmount();
    }
  });
});
