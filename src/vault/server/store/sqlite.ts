/**
 * The embedded {@link VaultStore}: one SQLite file through `better-sqlite3` (12.x or 13.x), loaded
 * on first use so that the rest of the library never needs the native module.
 *
 * Every method is one `BEGIN IMMEDIATE` transaction: it takes SQLite's write lock before reading,
 * so two processes on one file serialise exactly like two calls in one process. The file runs in
 * WAL mode with `synchronous = FULL` (a committed decrement survives power loss: losing one would
 * hand out an extra guess) and `secure_delete = ON` (destroyed records are overwritten with zeros
 * in the file, not just unlinked; see THREAT-MODEL.md for what that does not cover), and the WAL
 * is checkpointed and truncated after every destruction, deletion and replacement, so the old
 * record does not linger in WAL frames either. A checkpoint that cannot complete (another
 * connection reading, a full disk, an I/O error) is reported (`onNotice`, `health()`) and retried
 * at every `sweep` until one completes.
 *
 * Node only.
 *
 * @module
 */

import type BetterSqlite3 from 'better-sqlite3';
import { E2EEError } from '../../../errors.js';
import type { KsfParams } from '../../protocol.js';
import {
  type AttemptResult,
  CLAIMED_LOGIN_GRACE_MS,
  type CommitInput,
  checkTablePrefix,
  decideCommit,
  decideDelete,
  decideFinish,
  type FakeCounter,
  type PendingLogin,
  type VaultAccount,
  type VaultStore,
  type VaultStoreNotice,
} from './store.js';

/** Options of {@link openSqliteVaultStore}. */
export interface SqliteVaultStoreOptions {
  /** A file path, or `':memory:'` (tests). */
  path: string;
  /** Prefix of the table names (default `vault_`). */
  tablePrefix?: string;
  /** How long to wait for another process's write lock, in ms (default 5000). */
  busyTimeoutMs?: number;
  /** Told when destroyed data could not be overwritten (`secure-delete-incomplete`), and when it was. */
  onNotice?: (notice: VaultStoreNotice) => void;
}

type Row = Record<string, unknown>;

const bytes = (v: unknown): Uint8Array | undefined =>
  v === null || v === undefined ? undefined : new Uint8Array(v as Uint8Array);

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

function toLogin(row: Row): PendingLogin {
  return {
    idHash: row['id_hash'] as string,
    account: row['account'] as string,
    generation: Number(row['generation']),
    expectedMac: bytes(row['expected_mac'])!,
    fake: Number(row['fake']) === 1,
    expiresAt: Number(row['expires_at']),
  };
}

/** The schema, shared in spirit with the PostgreSQL adapter (BLOB there is BYTEA). */
function schema(p: string): string {
  return `
CREATE TABLE IF NOT EXISTS ${p}accounts (
  account TEXT PRIMARY KEY,
  status TEXT NOT NULL CHECK (status IN ('active', 'locked')),
  remaining INTEGER NOT NULL,
  generation INTEGER NOT NULL,
  credential_id BLOB,
  record BLOB,
  sealed_key BLOB,
  device_verifier BLOB,
  device_salt BLOB,
  ksf TEXT,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ${p}logins (
  id_hash TEXT PRIMARY KEY,
  account TEXT NOT NULL,
  generation INTEGER NOT NULL,
  expected_mac BLOB,
  fake INTEGER NOT NULL,
  used INTEGER NOT NULL DEFAULT 0,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ${p}logins_account ON ${p}logins (account, generation);
CREATE INDEX IF NOT EXISTS ${p}logins_expires ON ${p}logins (expires_at);
CREATE TABLE IF NOT EXISTS ${p}registrations (
  id_hash TEXT PRIMARY KEY,
  account TEXT NOT NULL,
  credential_id BLOB NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ${p}registrations_expires ON ${p}registrations (expires_at);
CREATE TABLE IF NOT EXISTS ${p}fake_counters (
  key TEXT PRIMARY KEY,
  remaining INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ${p}fake_counters_expires ON ${p}fake_counters (expires_at);
CREATE TABLE IF NOT EXISTS ${p}meta (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
INSERT OR IGNORE INTO ${p}meta (name, value)
  SELECT 'generation', coalesce(max(generation), 0) FROM ${p}accounts;`;
}

/**
 * Creates the database file, empty, with mode 0600 whatever the umask, unless it exists (an
 * existing file keeps its mode: the operator chose it). SQLite gives the WAL and shared-memory
 * files it creates beside the database the database's mode, so they are private too.
 */
async function createPrivateFile(path: string): Promise<void> {
  const fs = await import('node:fs/promises');
  let handle: import('node:fs/promises').FileHandle;
  try {
    handle = await fs.open(path, 'wx', 0o600);
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST') return;
    throw err;
  }
  try {
    await handle.chmod(0o600);
  } finally {
    await handle.close();
  }
}

/**
 * Adds the `device_salt` column to an accounts table created before it existed (in a write
 * transaction, so two processes opening one old file add it once). Its rows keep a NULL salt,
 * which SPEC.md §9.4 reads as the empty salt.
 */
function addDeviceSalt(db: BetterSqlite3.Database, p: string): void {
  db.transaction(() => {
    const columns = db.prepare(`PRAGMA table_info(${p}accounts)`).all() as Row[];
    if (!columns.some((c) => c['name'] === 'device_salt')) {
      db.exec(`ALTER TABLE ${p}accounts ADD COLUMN device_salt BLOB`);
    }
  }).immediate();
}

/**
 * Why this better-sqlite3 cannot run on this Node, or undefined. better-sqlite3 13 is a Node-API 10
 * addon: on a Node without Node-API 10 (20, and 22 before 22.14) it loads, then crashes the process
 * (a segmentation fault, which nothing can catch) at the first database it opens. 13 is told from
 * 12 by `Database#explain`, new in 13.0.0 (the package's version is not reachable from here in
 * both module formats).
 *
 * @internal
 */
export function sqliteDriverMismatch(
  Database: typeof BetterSqlite3,
  napi: string | undefined = process.versions.napi,
): string | undefined {
  if (!('explain' in Database.prototype) || Number(napi) >= 10) return undefined;
  return `better-sqlite3 13 needs Node-API 10 (Node 22.14 or later), and Node ${process.version} has Node-API ${napi ?? 'none'}`;
}

/**
 * Opens (creating if needed) an SQLite vault store. A new database file is created with mode
 * 0600, and so are its WAL and shared-memory files.
 *
 * @throws E2EEError `VAULT_UNAVAILABLE` if `better-sqlite3` cannot be loaded (or is 13 on a Node
 * without Node-API 10, where it would crash the process) or the file opened.
 */
export async function openSqliteVaultStore(options: SqliteVaultStoreOptions): Promise<VaultStore> {
  const p = checkTablePrefix(options.tablePrefix ?? 'vault_');
  let Database: typeof BetterSqlite3;
  try {
    Database = (await import('better-sqlite3')).default;
  } catch (err) {
    throw new E2EEError('VAULT_UNAVAILABLE', 'the SQLite vault store needs the better-sqlite3 package', {
      cause: err,
    });
  }
  const mismatch = sqliteDriverMismatch(Database);
  if (mismatch !== undefined)
    throw new E2EEError(
      'VAULT_UNAVAILABLE',
      `the SQLite vault store cannot run here: ${mismatch}; install better-sqlite3 12 (npm install better-sqlite3@12), or run on Node 22.14 or later`,
    );
  let db: BetterSqlite3.Database;
  try {
    if (options.path !== ':memory:' && options.path !== '') await createPrivateFile(options.path);
    db = new Database(options.path);
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    if (options.path !== ':memory:') db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('secure_delete = ON');
    db.exec(schema(p));
    addDeviceSalt(db, p);
  } catch (err) {
    throw new E2EEError(
      'VAULT_UNAVAILABLE',
      `cannot open the SQLite vault store: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  const file = options.path !== ':memory:';
  // A login still counts as pending: unexpired, or claimed and within the grace (see stillPending).
  const stillPending = '(expires_at > @now OR (used = 1 AND expires_at > @now - @grace))';
  const at = (now: number) => ({ now, grace: CLAIMED_LOGIN_GRACE_MS });

  const q = {
    decrement: db.prepare(
      `UPDATE ${p}accounts SET remaining = remaining - 1
       WHERE account = ? AND status = 'active' AND remaining > 0
       RETURNING generation, remaining, credential_id, record, ksf`,
    ),
    account: db.prepare(`SELECT * FROM ${p}accounts WHERE account = ?`),
    pending: db.prepare(
      `SELECT count(*) AS n FROM ${p}logins
       WHERE account = @account AND generation = @generation AND fake = 0 AND ${stillPending}`,
    ),
    // The tombstone keeps device_verifier and device_salt: registering over it needs them.
    destroy: db.prepare(
      `UPDATE ${p}accounts SET status = 'locked', remaining = 0, credential_id = NULL, record = NULL,
       sealed_key = NULL, ksf = NULL, updated_at = ? WHERE account = ?`,
    ),
    dropLogins: db.prepare(`DELETE FROM ${p}logins WHERE account = ?`),
    insertLogin: db.prepare(
      `INSERT INTO ${p}logins (id_hash, account, generation, expected_mac, fake, used, expires_at)
       VALUES (?, ?, ?, NULL, ?, 0, ?)`,
    ),
    countFake: db.prepare(
      `INSERT INTO ${p}fake_counters (key, remaining, expires_at) VALUES (@key, @maxAttempts - 1, @expiresAt)
       ON CONFLICT (key) DO UPDATE SET
         remaining = CASE WHEN expires_at <= @now THEN @maxAttempts - 1 ELSE max(remaining - 1, -1) END,
         expires_at = excluded.expires_at
       RETURNING remaining`,
    ),
    fakeRemaining: db.prepare(
      `SELECT max(remaining, 0) AS remaining FROM ${p}fake_counters WHERE key = ? AND expires_at > ?`,
    ),
    nextGeneration: db.prepare(
      `UPDATE ${p}meta SET value = max(value, ?) + 1 WHERE name = 'generation' RETURNING value`,
    ),
    armLogin: db.prepare(
      `UPDATE ${p}logins SET expected_mac = ? WHERE id_hash = ? AND account = ? AND expected_mac IS NULL`,
    ),
    claimLogin: db.prepare(
      `UPDATE ${p}logins SET used = 1
       WHERE id_hash = ? AND used = 0 AND expected_mac IS NOT NULL AND expires_at > ? RETURNING *`,
    ),
    deleteLogin: db.prepare(`DELETE FROM ${p}logins WHERE id_hash = ? RETURNING id_hash`),
    resetCounter: db.prepare(`UPDATE ${p}accounts SET remaining = ?, updated_at = ? WHERE account = ?`),
    putRegistration: db.prepare(
      `INSERT INTO ${p}registrations (id_hash, account, credential_id, expires_at) VALUES (?, ?, ?, ?)`,
    ),
    takeRegistration: db.prepare(`DELETE FROM ${p}registrations WHERE id_hash = ? RETURNING *`),
    upsert: db.prepare(
      `INSERT INTO ${p}accounts (account, status, remaining, generation, credential_id, record, sealed_key,
         device_verifier, device_salt, ksf, updated_at)
       VALUES (@account, 'active', @remaining, @generation, @credentialId, @record, @sealedKey,
         @deviceVerifier, @deviceSalt, @ksf, @now)
       ON CONFLICT (account) DO UPDATE SET status = 'active', remaining = excluded.remaining,
         generation = excluded.generation, credential_id = excluded.credential_id, record = excluded.record,
         sealed_key = excluded.sealed_key, device_verifier = excluded.device_verifier,
         device_salt = excluded.device_salt, ksf = excluded.ksf, updated_at = excluded.updated_at`,
    ),
    deleteAccount: db.prepare(`DELETE FROM ${p}accounts WHERE account = ?`),
    expireLogins: db.prepare(`DELETE FROM ${p}logins WHERE NOT ${stillPending}`),
    expireRegistrations: db.prepare(`DELETE FROM ${p}registrations WHERE expires_at <= ?`),
    expireFakeCounters: db.prepare(`DELETE FROM ${p}fake_counters WHERE expires_at <= ?`),
    exhausted: db.prepare(
      `SELECT account FROM ${p}accounts a WHERE status = 'active' AND remaining <= 0 AND NOT EXISTS (
         SELECT 1 FROM ${p}logins WHERE account = a.account AND generation = a.generation
         AND fake = 0 AND ${stillPending})`,
    ),
  };

  const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const pendingFor = (account: string, generation: number, now: number): number =>
    Number((q.pending.get({ account, generation, ...at(now) }) as Row)['n']);
  const destroy = (account: string): void => {
    q.destroy.run(Date.now(), account);
    q.dropLogins.run(account);
  };
  const notify = (notice: VaultStoreNotice): void => {
    try {
      options.onNotice?.(notice);
    } catch {
      // a failing log must not fail the operation
    }
  };
  // Destroyed or replaced data not yet overwritten everywhere, and how often that happened.
  let secureDeletePending = false;
  let secureDeleteFailures = 0;
  // After a destruction, deletion or replacement, fold the WAL back into the main file and
  // truncate it, so the old record does not linger in old WAL frames. It can fail (a reader
  // holding an old snapshot, a full disk, an I/O error): then say so, and try again at the next
  // sweep, so that an operator is never left believing a destroyed key is gone when it is not.
  const checkpoint = (): void => {
    if (!file) return;
    let problem: string | undefined;
    try {
      const [r] = db.pragma('wal_checkpoint(TRUNCATE)') as {
        busy: number;
        log: number;
        checkpointed: number;
      }[];
      if (r && r.busy !== 0) {
        problem = `the WAL checkpoint could not complete (another connection is using the database; ${r.checkpointed} of ${r.log} frames copied)`;
      }
    } catch (err) {
      problem = `the WAL checkpoint failed: ${(err as Error).message}`;
    }
    if (problem !== undefined) {
      secureDeleteFailures++;
      secureDeletePending = true;
      notify({
        kind: 'secure-delete-incomplete',
        detail: `SQLite ${options.path}: destroyed data may still be readable in the file or its WAL: ${problem}; retried at the next sweep`,
      });
    } else if (secureDeletePending) {
      secureDeletePending = false;
      notify({
        kind: 'secure-delete-complete',
        detail: `SQLite ${options.path}: WAL checkpointed and truncated`,
      });
    }
  };

  const countAttempt = db.transaction(
    (
      account: string,
      now: number,
      pending: { idHash: string; expiresAt: number },
      fake: FakeCounter,
    ): [AttemptResult, boolean] => {
      const row = q.decrement.get(account) as Row | undefined;
      if (row) {
        q.insertLogin.run(pending.idHash, account, Number(row['generation']), 0, pending.expiresAt);
        const result: AttemptResult = {
          kind: 'counted',
          generation: Number(row['generation']),
          remaining: Number(row['remaining']),
          credentialId: bytes(row['credential_id'])!,
          record: bytes(row['record'])!,
          ksf: JSON.parse(row['ksf'] as string) as KsfParams,
        };
        return [result, false];
      }
      const current = q.account.get(account) as Row | undefined;
      if (!current) {
        const { remaining } = q.countFake.get({ ...fake, now }) as Row;
        if (Number(remaining) < 0) return [{ kind: 'locked' }, false];
        q.insertLogin.run(pending.idHash, account, 0, 1, pending.expiresAt);
        return [{ kind: 'absent', remaining: Number(remaining) }, false];
      }
      // Active with no attempts left: the last counted attempts are pending or abandoned.
      if (current['status'] === 'active' && pendingFor(account, Number(current['generation']), now) === 0) {
        destroy(account);
        return [{ kind: 'locked' }, true];
      }
      return [{ kind: 'locked' }, false];
    },
  );

  const finishLogin = db.transaction(
    (login: PendingLogin, success: boolean, now: number, maxAttempts: number, fakeKey?: string) => {
      const existed = q.deleteLogin.get(login.idHash) !== undefined;
      if (login.fake) {
        const row =
          fakeKey === undefined ? undefined : (q.fakeRemaining.get(fakeKey, now) as Row | undefined);
        const remaining = row ? Number(row['remaining']) : 0;
        return { outcome: { kind: 'failed', remaining, destroyed: false } as const };
      }
      const row = q.account.get(login.account) as Row | undefined;
      const current = existed && row ? toAccount(row) : undefined;
      const decision = decideFinish(
        current,
        login,
        success,
        pendingFor(login.account, login.generation, now),
      );
      if (decision.write === 'reset') q.resetCounter.run(maxAttempts, Date.now(), login.account);
      else if (decision.write === 'destroy') destroy(login.account);
      return decision;
    },
  );

  const commitRecord = db.transaction((input: CommitInput) => {
    const row = q.account.get(input.account) as Row | undefined;
    const current = row ? toAccount(row) : undefined;
    const outcome = decideCommit(current, input);
    if (outcome === 'created' || outcome === 'replaced') {
      const next = q.nextGeneration.get(current?.generation ?? 0) as Row;
      q.upsert.run({
        account: input.account,
        remaining: input.maxAttempts,
        generation: Number(next['value']),
        credentialId: buf(input.credentialId),
        record: buf(input.record),
        sealedKey: buf(input.sealedKey),
        deviceVerifier: buf(input.deviceVerifier),
        deviceSalt: buf(input.deviceSalt),
        ksf: JSON.stringify(input.ksf),
        now: Date.now(),
      });
      q.dropLogins.run(input.account);
    }
    return outcome;
  });

  const deleteRecord = db.transaction((account: string, verifier: Uint8Array) => {
    const row = q.account.get(account) as Row | undefined;
    const outcome = decideDelete(row ? toAccount(row) : undefined, verifier);
    if (outcome === 'deleted') {
      q.deleteAccount.run(account);
      q.dropLogins.run(account);
    }
    return outcome;
  });

  const sweep = db.transaction((now: number): number => {
    q.expireLogins.run(at(now));
    q.expireRegistrations.run(now);
    q.expireFakeCounters.run(now);
    const accounts = (q.exhausted.all(at(now)) as Row[]).map((r) => r['account'] as string);
    for (const account of accounts) destroy(account);
    return accounts.length;
  });

  return {
    kind: 'sqlite',
    async countAttempt(account, now, pending, fake) {
      const [result, destroyed] = countAttempt.immediate(account, now, pending, fake);
      if (destroyed) checkpoint();
      return result;
    },
    async putLogin(login) {
      return q.armLogin.run(buf(login.expectedMac), login.idHash, login.account).changes === 1;
    },
    async claimLogin(idHash, now) {
      const row = q.claimLogin.get(idHash, now) as Row | undefined;
      return row ? toLogin(row) : undefined;
    },
    async finishLogin(login, success, now, maxAttempts, fakeKey) {
      const { outcome } = finishLogin.immediate(login, success, now, maxAttempts, fakeKey);
      if (outcome.kind === 'failed' && outcome.destroyed) checkpoint();
      return outcome;
    },
    async putRegistration(r) {
      q.putRegistration.run(r.idHash, r.account, buf(r.credentialId), r.expiresAt);
    },
    async takeRegistration(idHash, now) {
      const row = q.takeRegistration.get(idHash) as Row | undefined;
      if (!row || Number(row['expires_at']) <= now) return undefined;
      return {
        idHash,
        account: row['account'] as string,
        credentialId: bytes(row['credential_id'])!,
        expiresAt: Number(row['expires_at']),
      };
    },
    async commitRecord(input) {
      const outcome = commitRecord.immediate(input);
      if (outcome === 'replaced') checkpoint();
      return outcome;
    },
    async deleteRecord(account, verifier) {
      const outcome = deleteRecord.immediate(account, verifier);
      if (outcome === 'deleted') checkpoint();
      return outcome;
    },
    async getAccount(account) {
      const row = q.account.get(account) as Row | undefined;
      return row ? toAccount(row) : undefined;
    },
    async sweep(now) {
      const n = sweep.immediate(now);
      if (n > 0 || secureDeletePending) checkpoint();
      return n;
    },
    async health() {
      db.prepare('SELECT 1').get();
      return { secureDeletePending, secureDeleteFailures };
    },
    async close() {
      if (db.open) db.close();
    },
  };
}
