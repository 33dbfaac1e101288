/**
 * A {@link VaultStore} on PostgreSQL through `pg`, for several vault nodes behind a load
 * balancer: the attempt counters, pending logins and pending registrations all live in the
 * database, so a login may start on one node and finish on another, and the limit holds across
 * nodes. `pg` is loaded on first use.
 *
 * Concurrency: the attempt is counted by one `UPDATE … SET remaining = remaining - 1 WHERE … AND
 * remaining > 0 RETURNING …` (row-locked and atomic under READ COMMITTED); every other decision
 * reads the account row `FOR UPDATE` first and writes in the same transaction. Transactions
 * always lock the account row (or an unknown account's fake counter) before login rows — the
 * sweep too, one account at a time, and its bulk removal of expired logins skips rows that are
 * locked — and are retried on serialisation failures, deadlocks and the unique violation of two
 * concurrent first registrations.
 *
 * Durability: every transaction runs with `SET LOCAL synchronous_commit = on`, whatever the
 * server's default, so a counted attempt is on disk (and on synchronous standbys) before the
 * attempt is answered. Faults: a connection that drops, checked out or idle, fails the operation
 * in progress (the vault answers 503) and leaves the pool, which connects afresh on the next one;
 * with `waitForDatabase` the store opens while the database is down and creates its tables once
 * it is up.
 *
 * Node only.
 *
 * @module
 */

import type { Pool, PoolClient } from 'pg';
import { E2EEError } from '../../../errors.js';
import type { KsfParams } from '../../protocol.js';
import {
  type AttemptResult,
  CLAIMED_LOGIN_GRACE_MS,
  checkTablePrefix,
  decideCommit,
  decideDelete,
  decideFinish,
  type PendingLogin,
  type VaultAccount,
  type VaultStore,
  type VaultStoreNotice,
} from './store.js';

/** Options of {@link openPostgresVaultStore}. */
export interface PostgresVaultStoreOptions {
  /** e.g. `postgres://vault@db.internal:5432/vault`. */
  connectionString: string;
  /** Prefix of the table names (default `vault_`). */
  tablePrefix?: string;
  /** Pool size (default 10). */
  maxConnections?: number;
  /**
   * Open even while the database cannot be reached (default false: fail at once). The tables are
   * then created by the first operation that reaches it, and until then every operation fails
   * (the vault answers 503 `VAULT_UNAVAILABLE`). A database that answers but refuses (a wrong
   * password, a missing database) still fails the open.
   */
  waitForDatabase?: boolean;
  /** How long to wait for a connection, in ms, before failing the operation (default 5000). */
  connectTimeoutMs?: number;
  /** Told when the database stops or starts answering (`database-unavailable` / `-available`). */
  onNotice?: (notice: VaultStoreNotice) => void;
}

type Row = Record<string, unknown>;

const bytes = (v: unknown): Uint8Array | undefined =>
  v === null || v === undefined ? undefined : new Uint8Array(v as Uint8Array);
const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

function toAccount(row: Row): VaultAccount {
  return {
    account: row['account'] as string,
    status: row['status'] as VaultAccount['status'],
    remaining: Number(row['remaining']),
    generation: Number(row['generation']),
    credentialId: bytes(row['credential_id']),
    record: bytes(row['record']),
    sealedKey: bytes(row['sealed_key']),
    deviceVerifier: bytes(row['device_verifier']),
    deviceSalt: bytes(row['device_salt']),
    ksf: row['ksf'] ? (JSON.parse(row['ksf'] as string) as KsfParams) : undefined,
  };
}

function schema(p: string): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${p}accounts (
      account TEXT PRIMARY KEY,
      status TEXT NOT NULL CHECK (status IN ('active', 'locked')),
      remaining INTEGER NOT NULL,
      generation INTEGER NOT NULL,
      credential_id BYTEA,
      record BYTEA,
      sealed_key BYTEA,
      device_verifier BYTEA,
      device_salt BYTEA,
      ksf TEXT,
      updated_at BIGINT NOT NULL)`,
    // Tables created before device salts existed: their rows keep NULL, the empty salt (§9.4).
    `ALTER TABLE ${p}accounts ADD COLUMN IF NOT EXISTS device_salt BYTEA`,
    `CREATE TABLE IF NOT EXISTS ${p}logins (
      id_hash TEXT PRIMARY KEY,
      account TEXT NOT NULL,
      generation INTEGER NOT NULL,
      expected_mac BYTEA,
      fake BOOLEAN NOT NULL,
      used BOOLEAN NOT NULL DEFAULT FALSE,
      expires_at BIGINT NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS ${p}logins_account ON ${p}logins (account, generation)`,
    `CREATE INDEX IF NOT EXISTS ${p}logins_expires ON ${p}logins (expires_at)`,
    `CREATE TABLE IF NOT EXISTS ${p}registrations (
      id_hash TEXT PRIMARY KEY,
      account TEXT NOT NULL,
      credential_id BYTEA NOT NULL,
      expires_at BIGINT NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS ${p}registrations_expires ON ${p}registrations (expires_at)`,
    `CREATE TABLE IF NOT EXISTS ${p}fake_counters (
      key TEXT PRIMARY KEY,
      remaining INTEGER NOT NULL,
      expires_at BIGINT NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS ${p}fake_counters_expires ON ${p}fake_counters (expires_at)`,
    `CREATE TABLE IF NOT EXISTS ${p}meta (
      name TEXT PRIMARY KEY,
      value BIGINT NOT NULL)`,
    `INSERT INTO ${p}meta (name, value)
      SELECT 'generation', coalesce(max(generation), 0) FROM ${p}accounts
      ON CONFLICT (name) DO NOTHING`,
  ];
}

// serialization_failure, deadlock_detected, unique_violation (two first registrations racing).
const RETRYABLE = new Set(['40001', '40P01', '23505']);

// One round trip: the counted attempt must be on disk before it is answered, even on a server
// running with synchronous_commit = off (SPEC.md §9.5).
const BEGIN_DURABLE = 'BEGIN; SET LOCAL synchronous_commit = on';

/**
 * Whether `err` is an error the server reported on a connection that is still usable: a SQLSTATE
 * that is not a connection failure (class 08) or a shutdown (57P), below FATAL. Anything else (a
 * dropped socket, a timeout, pg_terminate_backend) leaves the connection unusable.
 */
function usableAfter(err: unknown): boolean {
  const e = err as { code?: unknown; severity?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  return (
    /^[0-9A-Z]{5}$/.test(code) &&
    !code.startsWith('08') &&
    !code.startsWith('57P') &&
    e?.severity !== 'FATAL' &&
    e?.severity !== 'PANIC'
  );
}

/** Whether `err` says the database could not be reached (worth waiting for), not that it refused. */
function unreachable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true; // socket, DNS, timeout
  return code.startsWith('08') || code.startsWith('57P');
}

/**
 * Connects to PostgreSQL and creates the tables if they do not exist (under an advisory lock, so
 * that nodes starting together do not race on `CREATE TABLE`).
 *
 * @throws E2EEError `VAULT_UNAVAILABLE` if `pg` cannot be loaded or the database reached.
 */
export async function openPostgresVaultStore(options: PostgresVaultStoreOptions): Promise<VaultStore> {
  const p = checkTablePrefix(options.tablePrefix ?? 'vault_');
  let pg: typeof import('pg');
  try {
    const mod = (await import('pg')) as typeof import('pg') & { default?: typeof import('pg') };
    pg = mod.default ?? mod;
  } catch (err) {
    throw new E2EEError('VAULT_UNAVAILABLE', 'the PostgreSQL vault store needs the pg package', {
      cause: err,
    });
  }
  const pool: Pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    keepAlive: true,
  });
  // An idle client's network error must not crash the process; the next query reports it.
  pool.on('error', () => {});

  // Up or down, as last seen: a notice on each change, for the operator's log.
  let up = true;
  const seen = (ok: boolean, failure?: unknown): void => {
    const err = failure instanceof E2EEError && failure.cause !== undefined ? failure.cause : failure;
    if (ok === up || (!ok && !unreachable(err))) return;
    up = ok;
    try {
      options.onNotice?.(
        ok
          ? { kind: 'database-available' }
          : { kind: 'database-unavailable', detail: `PostgreSQL: ${(err as Error)?.message ?? String(err)}` },
      );
    } catch {
      // a failing log must not fail the operation
    }
  };
  const observe = async <T>(work: Promise<T>): Promise<T> => {
    try {
      const result = await work;
      seen(true);
      return result;
    } catch (err) {
      seen(false, err);
      throw err;
    }
  };

  async function run<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const c = await pool.connect();
      // pg-pool listens for 'error' on idle clients only: a connection that drops while checked
      // out (a database restart, pg_terminate_backend) would emit 'error' with no listener and
      // crash the process. The query in flight rejects as well; the listener only keeps the event.
      let broken: unknown;
      const onError = (err: unknown) => {
        broken ??= err;
      };
      c.on('error', onError);
      try {
        await c.query(BEGIN_DURABLE);
        const result = await fn(c);
        await c.query('COMMIT');
        return result;
      } catch (err) {
        if (!usableAfter(err)) broken ??= err;
        if (broken === undefined) {
          await c.query('ROLLBACK').catch((e: unknown) => {
            broken = e;
          });
        }
        // Retried only when the server said it rolled back: after a dropped connection the
        // transaction may have committed, and running it again would count an attempt twice.
        const code = (err as { code?: string }).code;
        if (broken === undefined && attempt < 8 && code !== undefined && RETRYABLE.has(code)) continue;
        throw err;
      } finally {
        c.off('error', onError);
        // A broken client leaves the pool (release with an error ends it); the pool connects afresh.
        c.release(broken === undefined ? undefined : (broken as Error));
      }
    }
  }

  let schemaReady: Promise<void> | undefined;
  const ready = (): Promise<void> => {
    schemaReady ??= run(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`e2ee-backup vault schema ${p}`]);
      for (const statement of schema(p)) await c.query(statement);
    }).catch((err: unknown) => {
      schemaReady = undefined; // tried again by the next operation
      throw new E2EEError(
        'VAULT_UNAVAILABLE',
        `cannot open the PostgreSQL vault store: ${(err as Error).message}`,
        { cause: err },
      );
    });
    return schemaReady;
  };
  const tx = <T>(fn: (c: PoolClient) => Promise<T>): Promise<T> => observe(ready().then(() => run(fn)));
  // biome-ignore lint/suspicious/noExplicitAny: the parameters of a parameterised query
  const query = (text: string, values?: any[]) => observe(ready().then(() => pool.query(text, values)));

  try {
    await ready();
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    if (!options.waitForDatabase || !unreachable(cause)) {
      await pool.end().catch(() => {});
      throw err;
    }
    seen(false, cause);
  }

  const lockAccount = async (c: PoolClient, account: string): Promise<VaultAccount | undefined> => {
    const r = await c.query(`SELECT * FROM ${p}accounts WHERE account = $1 FOR UPDATE`, [account]);
    return r.rows[0] ? toAccount(r.rows[0] as Row) : undefined;
  };
  // A login still counts as pending: unexpired, or claimed and within the grace (see stillPending).
  const stillPending = (now: string, grace: string) =>
    `(expires_at > ${now}::bigint OR (used AND expires_at > ${now}::bigint - ${grace}::bigint))`;
  const pendingFor = async (c: PoolClient, account: string, generation: number, now: number) => {
    const r = await c.query(
      `SELECT count(*)::int AS n FROM ${p}logins
       WHERE account = $1 AND generation = $2 AND NOT fake AND ${stillPending('$3', '$4')}`,
      [account, generation, now, CLAIMED_LOGIN_GRACE_MS],
    );
    return Number((r.rows[0] as Row)['n']);
  };
  const insertLogin = (
    c: PoolClient,
    pending: { idHash: string; expiresAt: number },
    account: string,
    generation: number,
    fake: boolean,
  ) =>
    c.query(
      `INSERT INTO ${p}logins (id_hash, account, generation, expected_mac, fake, used, expires_at)
       VALUES ($1, $2, $3, NULL, $4, FALSE, $5)`,
      [pending.idHash, account, generation, fake, pending.expiresAt],
    );
  // The tombstone keeps device_verifier and device_salt: registering over it needs them.
  const destroy = async (c: PoolClient, account: string): Promise<void> => {
    await c.query(
      `UPDATE ${p}accounts SET status = 'locked', remaining = 0, credential_id = NULL, record = NULL,
       sealed_key = NULL, ksf = NULL, updated_at = $2 WHERE account = $1`,
      [account, Date.now()],
    );
    await c.query(`DELETE FROM ${p}logins WHERE account = $1`, [account]);
  };
  const decrement = async (
    c: PoolClient,
    account: string,
    pending: { idHash: string; expiresAt: number },
  ): Promise<AttemptResult | undefined> => {
    const r = await c.query(
      `UPDATE ${p}accounts SET remaining = remaining - 1
       WHERE account = $1 AND status = 'active' AND remaining > 0
       RETURNING generation, remaining, credential_id, record, ksf`,
      [account],
    );
    const row = r.rows[0] as Row | undefined;
    if (!row) return undefined;
    await insertLogin(c, pending, account, Number(row['generation']), false);
    return {
      kind: 'counted',
      generation: Number(row['generation']),
      remaining: Number(row['remaining']),
      credentialId: bytes(row['credential_id'])!,
      record: bytes(row['record'])!,
      ksf: JSON.parse(row['ksf'] as string) as KsfParams,
    };
  };

  return {
    kind: 'postgres',

    countAttempt(account, now, pending, fake) {
      return tx(async (c): Promise<AttemptResult> => {
        const counted = await decrement(c, account, pending);
        if (counted) return counted;
        // Refused: find out why, with the row locked so the answer cannot change under us.
        const current = await lockAccount(c, account);
        if (!current) {
          // One atomic upsert (it row-locks the counter), so concurrent attempts never lose a count.
          const r = await c.query(
            `INSERT INTO ${p}fake_counters AS f (key, remaining, expires_at) VALUES ($1, $2::int - 1, $3)
             ON CONFLICT (key) DO UPDATE SET
               remaining = CASE WHEN f.expires_at <= $4 THEN $2::int - 1 ELSE GREATEST(f.remaining - 1, -1) END,
               expires_at = EXCLUDED.expires_at
             RETURNING remaining`,
            [fake.key, fake.maxAttempts, fake.expiresAt, now],
          );
          const remaining = Number((r.rows[0] as Row)['remaining']);
          if (remaining < 0) return { kind: 'locked' };
          await insertLogin(c, pending, account, 0, true);
          return { kind: 'absent', remaining };
        }
        if (current.status === 'locked') return { kind: 'locked' };
        if (current.remaining > 0) return (await decrement(c, account, pending))!; // reset since our UPDATE
        if ((await pendingFor(c, account, current.generation, now)) === 0) await destroy(c, account);
        return { kind: 'locked' };
      });
    },

    async putLogin(login) {
      const r = await query(
        `UPDATE ${p}logins SET expected_mac = $1 WHERE id_hash = $2 AND account = $3 AND expected_mac IS NULL`,
        [buf(login.expectedMac), login.idHash, login.account],
      );
      return r.rowCount === 1;
    },

    async claimLogin(idHash, now) {
      const r = await query(
        `UPDATE ${p}logins SET used = TRUE
         WHERE id_hash = $1 AND NOT used AND expected_mac IS NOT NULL AND expires_at > $2 RETURNING *`,
        [idHash, now],
      );
      const row = r.rows[0] as Row | undefined;
      if (!row) return undefined;
      return {
        idHash,
        account: row['account'] as string,
        generation: Number(row['generation']),
        expectedMac: bytes(row['expected_mac'])!,
        fake: row['fake'] === true,
        expiresAt: Number(row['expires_at']),
      } satisfies PendingLogin;
    },

    finishLogin(login, success, now, maxAttempts, fakeKey) {
      return tx(async (c) => {
        const current = login.fake ? undefined : await lockAccount(c, login.account);
        const deleted = await c.query(`DELETE FROM ${p}logins WHERE id_hash = $1`, [login.idHash]);
        if (login.fake) {
          const r =
            fakeKey === undefined
              ? undefined
              : await c.query(
                  `SELECT GREATEST(remaining, 0) AS remaining FROM ${p}fake_counters
                   WHERE key = $1 AND expires_at > $2`,
                  [fakeKey, now],
                );
          const row = r?.rows[0] as Row | undefined;
          return { kind: 'failed', remaining: row ? Number(row['remaining']) : 0, destroyed: false } as const;
        }
        const existed = (deleted.rowCount ?? 0) > 0;
        const { outcome, write } = decideFinish(
          existed ? current : undefined,
          login,
          success,
          await pendingFor(c, login.account, login.generation, now),
        );
        if (write === 'reset') {
          await c.query(`UPDATE ${p}accounts SET remaining = $2, updated_at = $3 WHERE account = $1`, [
            login.account,
            maxAttempts,
            Date.now(),
          ]);
        } else if (write === 'destroy') await destroy(c, login.account);
        return outcome;
      });
    },

    async putRegistration(r) {
      await query(
        `INSERT INTO ${p}registrations (id_hash, account, credential_id, expires_at) VALUES ($1, $2, $3, $4)`,
        [r.idHash, r.account, buf(r.credentialId), r.expiresAt],
      );
    },

    async takeRegistration(idHash, now) {
      const r = await query(`DELETE FROM ${p}registrations WHERE id_hash = $1 RETURNING *`, [idHash]);
      const row = r.rows[0] as Row | undefined;
      if (!row || Number(row['expires_at']) <= now) return undefined;
      return {
        idHash,
        account: row['account'] as string,
        credentialId: bytes(row['credential_id'])!,
        expiresAt: Number(row['expires_at']),
      };
    },

    commitRecord(input) {
      return tx(async (c) => {
        const current = await lockAccount(c, input.account);
        const outcome = decideCommit(current, input);
        if (outcome !== 'created' && outcome !== 'replaced') return outcome;
        // The store-wide counter: an account's generations never repeat, even across a delete.
        const next = await c.query(
          `UPDATE ${p}meta SET value = GREATEST(value, $1) + 1 WHERE name = 'generation' RETURNING value`,
          [current?.generation ?? 0],
        );
        const values = [
          input.account,
          input.maxAttempts,
          Number((next.rows[0] as Row)['value']),
          buf(input.credentialId),
          buf(input.record),
          buf(input.sealedKey),
          buf(input.deviceVerifier),
          JSON.stringify(input.ksf),
          Date.now(),
          buf(input.deviceSalt),
        ];
        if (current === undefined) {
          // A plain INSERT: if another node created the account meanwhile, the unique violation
          // retries the transaction, which then sees the row and decides again (never overwrites).
          await c.query(
            `INSERT INTO ${p}accounts (account, status, remaining, generation, credential_id, record,
               sealed_key, device_verifier, ksf, updated_at, device_salt)
             VALUES ($1, 'active', $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
            values,
          );
        } else {
          await c.query(
            `UPDATE ${p}accounts SET status = 'active', remaining = $2, generation = $3, credential_id = $4,
               record = $5, sealed_key = $6, device_verifier = $7, ksf = $8, updated_at = $9,
               device_salt = $10
             WHERE account = $1`,
            values,
          );
        }
        await c.query(`DELETE FROM ${p}logins WHERE account = $1`, [input.account]);
        return outcome;
      });
    },

    deleteRecord(account, verifier) {
      return tx(async (c) => {
        const outcome = decideDelete(await lockAccount(c, account), verifier);
        if (outcome === 'deleted') {
          await c.query(`DELETE FROM ${p}accounts WHERE account = $1`, [account]);
          await c.query(`DELETE FROM ${p}logins WHERE account = $1`, [account]);
        }
        return outcome;
      });
    },

    async getAccount(account) {
      const r = await query(`SELECT * FROM ${p}accounts WHERE account = $1`, [account]);
      return r.rows[0] ? toAccount(r.rows[0] as Row) : undefined;
    },

    async sweep(now) {
      // Expired logins, in one statement that holds no account row and waits for no lock: rows
      // another transaction holds (a login being finished or destroyed) are left for next time.
      await query(
        `DELETE FROM ${p}logins WHERE id_hash IN (
           SELECT id_hash FROM ${p}logins WHERE NOT ${stillPending('$1', '$2')} FOR UPDATE SKIP LOCKED)`,
        [now, CLAIMED_LOGIN_GRACE_MS],
      );
      await query(`DELETE FROM ${p}registrations WHERE expires_at <= $1`, [now]);
      await query(
        `DELETE FROM ${p}fake_counters WHERE key IN (
           SELECT key FROM ${p}fake_counters WHERE expires_at <= $1 FOR UPDATE SKIP LOCKED)`,
        [now],
      );
      // Abandoned last attempts: each candidate in its own transaction, which locks the account
      // row first, decides again and only then touches its login rows (SPEC.md §9.6's order).
      const candidates = await query(
        `SELECT account FROM ${p}accounts a WHERE status = 'active' AND remaining <= 0 AND NOT EXISTS (
           SELECT 1 FROM ${p}logins WHERE account = a.account AND generation = a.generation
           AND NOT fake AND ${stillPending('$1', '$2')})
         ORDER BY account`,
        [now, CLAIMED_LOGIN_GRACE_MS],
      );
      let destroyed = 0;
      for (const row of candidates.rows as Row[]) {
        const account = row['account'] as string;
        const done = await tx(async (c) => {
          const current = await lockAccount(c, account);
          if (current?.status !== 'active' || current.remaining > 0) return false;
          if ((await pendingFor(c, account, current.generation, now)) > 0) return false;
          await destroy(c, account);
          return true;
        });
        if (done) destroyed++;
      }
      return destroyed;
    },

    async health() {
      await query('SELECT 1');
      return {};
    },

    async close() {
      await pool.end();
    },
  };
}
