/**
 * The load of the fault suite and its invariants. Attackers guess wrong passwords on attacked and
 * unknown accounts; owners recover their own keys with the right password. A ledger records, per
 * account, every `login/start` sent and the `remainingAttempts` of every one answered with a KE2,
 * so that after the faults the store's counters can be checked against what was handed out:
 *
 * - no answered guess uncounted: the `remainingAttempts` values handed out for an account are all
 *   different, and none is below the counter the store holds at the end (a counted, answered
 *   attempt that a crash forgot would hand the same value out again, or leave the counter above it);
 * - no guess counted twice: the store counted at most as many attempts as were sent;
 * - every live record still opens (checked by the scenarios), and owners never see a wrong
 *   password or a lock.
 */

import { type HttpFetch, httpFetch } from '../../bench/vault-harness.mjs';
import { isE2EEError } from '../../src/errors.js';
import { createVaultClient } from '../../src/vault/client.js';
import type { KsfParams } from '../../src/vault/protocol.js';

export const CHEAP_KSF: KsfParams = { algorithm: 'argon2id', m: 64, t: 1, p: 1 };
export const MAX_ATTEMPTS = 10;

export interface Account {
  name: string;
  password: string;
  backupKey: Uint8Array;
}

export interface Accounts {
  attacked: Account[];
  owners: Account[];
  unknown: string[];
}

export interface Ledger {
  /** login/start requests sent, per account (answered or not). */
  sent: Map<string, number>;
  /** remainingAttempts of each login/start answered 200, per account. */
  answered: Map<string, number[]>;
  /** Answers by HTTP status (0: no answer). */
  statuses: Map<number, number>;
  /** Owners who were told a wrong password or a lock: a bug. */
  ownerFailures: string[];
  /** Owners' successful recoveries. */
  recovered: number;
}

/** A fetch that writes every login/start and its answer into the ledger. */
function recording(inner: typeof fetch, ledger: Ledger): typeof fetch {
  return async (input, init) => {
    const url = String(input);
    if (!url.endsWith('/v1/login/start')) return inner(input, init);
    const account = (JSON.parse(String(init?.body)) as { account: string }).account;
    ledger.sent.set(account, (ledger.sent.get(account) ?? 0) + 1);
    let res: Response;
    try {
      res = await inner(input, init);
    } catch (err) {
      ledger.statuses.set(0, (ledger.statuses.get(0) ?? 0) + 1);
      throw err;
    }
    ledger.statuses.set(res.status, (ledger.statuses.get(res.status) ?? 0) + 1);
    if (res.status === 200) {
      const body = (await res.clone().json()) as { remainingAttempts: number };
      const list = ledger.answered.get(account) ?? [];
      list.push(body.remainingAttempts);
      ledger.answered.set(account, list);
    }
    return res;
  };
}

const client = (url: string, fetchImpl: typeof fetch) =>
  createVaultClient(url, {
    fetch: fetchImpl,
    ksf: CHEAP_KSF,
    allowWeakKsf: true,
    maxRetryWaitMs: 2000,
    timeoutMs: 15_000,
  });

/** Registers `attacked` + `owners` accounts (and names `unknown` others) through `url`. */
export async function registerAccounts(
  url: string,
  tag: string,
  counts: { attacked: number; owners: number; unknown: number },
): Promise<Accounts> {
  const fetchImpl = httpFetch({ localAddress: '127.0.3.1', maxSockets: 8 });
  const make = (role: string, i: number): Account => ({
    name: `${tag}-${role}-${i}`,
    password: `the password of ${tag}-${role}-${i}`,
    backupKey: crypto.getRandomValues(new Uint8Array(32)),
  });
  const attacked = Array.from({ length: counts.attacked }, (_, i) => make('attacked', i));
  const owners = Array.from({ length: counts.owners }, (_, i) => make('owner', i));
  const vault = client(url, fetchImpl);
  for (const a of [...attacked, ...owners]) await vault.register({ account: a.name, ...a });
  fetchImpl.close();
  return {
    attacked,
    owners,
    unknown: Array.from({ length: counts.unknown }, (_, i) => `${tag}-unknown-${i}`),
  };
}

export interface Load {
  ledger: Ledger;
  /** login/start answered 200 so far. */
  answered(): number;
  stop(): Promise<void>;
}

/**
 * Starts `attackers` + `owners` loops against the nodes `urls()` returns (a random one per
 * operation), each from a source address of its own, until `stop()`.
 */
export function startLoad(options: {
  urls: () => string[];
  accounts: Accounts;
  attackers?: number;
  owners?: number;
}): Load {
  const ledger: Ledger = {
    sent: new Map(),
    answered: new Map(),
    statuses: new Map(),
    ownerFailures: [],
    recovered: 0,
  };
  const { accounts } = options;
  const targets = [...accounts.attacked.map((a) => a.name), ...accounts.unknown];
  let running = true;
  const fetches: HttpFetch[] = [];
  const pick = () => {
    const urls = options.urls();
    return urls[Math.floor(Math.random() * urls.length)];
  };
  const pause = () => new Promise((r) => setTimeout(r, 50));

  const attacker = async (i: number) => {
    const f = httpFetch({ localAddress: `127.0.4.${i + 1}` });
    fetches.push(f);
    const rec = recording(f, ledger);
    for (let k = i; running; k++) {
      const url = pick();
      if (!url) {
        await pause();
        continue;
      }
      const account = targets[k % targets.length]!;
      try {
        await client(url, rec).recover({ account, password: `wrong guess ${k}` });
      } catch {
        // WRONG_PASSWORD, VAULT_LOCKED, VAULT_UNAVAILABLE...: all expected here
      }
    }
  };
  const owner = async (i: number) => {
    const f = httpFetch({ localAddress: `127.0.5.${i + 1}` });
    fetches.push(f);
    const rec = recording(f, ledger);
    const me = accounts.owners[i % accounts.owners.length]!;
    while (running) {
      const url = pick();
      if (!url) {
        await pause();
        continue;
      }
      try {
        const key = await client(url, rec).recover({ account: me.name, password: me.password });
        if (Buffer.compare(Buffer.from(key), Buffer.from(me.backupKey)) !== 0) {
          ledger.ownerFailures.push(`${me.name}: a different key`);
        } else ledger.recovered++;
      } catch (err) {
        if (isE2EEError(err, 'WRONG_PASSWORD') || isE2EEError(err, 'VAULT_LOCKED')) {
          ledger.ownerFailures.push(`${me.name}: ${(err as Error).message}`);
        }
      }
    }
  };
  const loops = [
    ...Array.from({ length: options.attackers ?? 16 }, (_, i) => attacker(i)),
    ...Array.from({ length: options.owners ?? 8 }, (_, i) => owner(i)),
  ];
  return {
    ledger,
    answered: () => ledger.statuses.get(200) ?? 0,
    async stop() {
      running = false;
      await Promise.all(loops);
      for (const f of fetches) f.close();
    },
  };
}

/** What the store holds for an account at the end (undefined: no row). */
export type Counter = { status: string; remaining: number } | undefined;

export interface CountCheck {
  /** Attacked accounts: login/starts sent, answered with a KE2, and counted by the store. */
  sent: number;
  answered: number;
  counted: number;
  /** Unknown accounts: login/starts answered (from their fake counters). */
  unknownAnswered: number;
  violations: string[];
}

/** Checks the ledger against the store's counters (see the module comment). */
export async function checkCounts(
  ledger: Ledger,
  accounts: Accounts,
  counter: (account: string) => Promise<Counter>,
): Promise<CountCheck> {
  const violations: string[] = [];
  let sent = 0;
  let answered = 0;
  let counted = 0;
  let unknownAnswered = 0;
  for (const a of accounts.attacked) {
    const values = ledger.answered.get(a.name) ?? [];
    const s = ledger.sent.get(a.name) ?? 0;
    const c = await counter(a.name);
    if (!c) {
      violations.push(`${a.name}: no row`);
      continue;
    }
    const n = c.status === 'locked' ? MAX_ATTEMPTS : MAX_ATTEMPTS - c.remaining;
    sent += s;
    answered += values.length;
    counted += n;
    const seen = new Set<number>();
    for (const v of values) {
      if (seen.has(v)) violations.push(`${a.name}: remainingAttempts ${v} handed out twice (a lost count)`);
      seen.add(v);
      if (c.status === 'active' && v < c.remaining) {
        violations.push(`${a.name}: answered with ${v} left, the store holds ${c.remaining} (a lost count)`);
      }
    }
    if (values.length > n) violations.push(`${a.name}: ${values.length} answered, ${n} counted`);
    if (n > s) violations.push(`${a.name}: ${n} counted, only ${s} sent (counted twice)`);
  }
  for (const name of accounts.unknown) {
    const values = ledger.answered.get(name) ?? [];
    unknownAnswered += values.length;
    if (new Set(values).size !== values.length) {
      violations.push(`${name} (unknown): a fake remainingAttempts handed out twice (a lost count)`);
    }
  }
  for (const f of ledger.ownerFailures) violations.push(`owner ${f}`);
  return { sent, answered, counted, unknownAnswered, violations };
}

/** Every live record still opens with its password; destroyed ones say VAULT_LOCKED. */
export async function checkRecordsOpen(
  url: string,
  accounts: Accounts,
  counter: (a: string) => Promise<Counter>,
) {
  const problems: string[] = [];
  const f = httpFetch({ localAddress: '127.0.3.2', maxSockets: 4 });
  const vault = client(url, f);
  let opened = 0;
  for (const a of [...accounts.attacked, ...accounts.owners]) {
    const c = await counter(a.name);
    try {
      const key = await vault.recover({ account: a.name, password: a.password });
      if (Buffer.compare(Buffer.from(key), Buffer.from(a.backupKey)) !== 0)
        problems.push(`${a.name}: a different key`);
      else opened++;
      if (c?.status !== 'active' || c.remaining <= 0)
        problems.push(`${a.name}: opened, but the store says ${JSON.stringify(c)}`);
    } catch (err) {
      const expectedLock = c?.status === 'locked' || (c?.status === 'active' && c.remaining <= 0);
      if (!(expectedLock && isE2EEError(err, 'VAULT_LOCKED'))) {
        problems.push(`${a.name}: ${(err as Error).message} (store: ${JSON.stringify(c)})`);
      }
    }
  }
  f.close();
  return { opened, problems };
}

/** One line for the log of a run (and the benchmark notes). */
export function report(scenario: string, facts: Record<string, unknown>): void {
  process.stdout.write(`[vault-faults] ${JSON.stringify({ scenario, ...facts })}\n`);
}
