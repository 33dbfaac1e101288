/**
 * Stores created before device salts existed: opening one adds the column, and its records still
 * open with their password; but clients refuse their empty salt, and so send no device credential
 * for them (SPEC.md §9.4).
 */
import { hkdfSync } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVaultClient } from '../../src/vault/client.js';
import { deviceVerifier } from '../../src/vault/protocol.js';
import { startVaultServer } from '../../src/vault/server/index.js';
import { openPostgresVaultStore } from '../../src/vault/server/store/postgres.js';
import { openSqliteVaultStore } from '../../src/vault/server/store/sqlite.js';
import type { VaultStore } from '../../src/vault/server/store/store.js';
import {
  cheapClient,
  errorOf,
  PG_URL,
  pgPrefix,
  pgSkipReason,
  randomKey,
  tempDir,
  testLimits,
} from './helpers.js';

let t: { dir: string }; // removed when this file ends (tempDir)
beforeAll(() => {
  t = tempDir();
});

// The accounts table as the stores created it before the device_salt column.
const OLD_ACCOUNTS = (p: string, blob: string) => `CREATE TABLE ${p}accounts (
  account TEXT PRIMARY KEY, status TEXT NOT NULL CHECK (status IN ('active', 'locked')),
  remaining INTEGER NOT NULL, generation INTEGER NOT NULL, credential_id ${blob}, record ${blob},
  sealed_key ${blob}, device_verifier ${blob}, ksf TEXT, updated_at BIGINT NOT NULL)`;

/** Registers through a running server, then rewrites the row as an old store would hold it. */
async function legacyRecord(
  open: () => Promise<VaultStore>,
  forget: (account: string, verifier: Uint8Array) => Promise<void>,
) {
  const store = await open();
  const server = await startVaultServer({ store, keyFile: `${t.dir}/keys.json`, limits: testLimits });
  try {
    const sent: string[] = [];
    const vault = createVaultClient(server.url, {
      ...cheapClient,
      fetch: (url, init) => {
        sent.push(`${new URL(String(url)).pathname} ${String(init?.body ?? '')}`);
        return fetch(url, init);
      },
    });
    const backupKey = randomKey();
    await vault.register({ account: 'old-timer', password: 'pw', backupKey });
    // The credential of before: HKDF with the empty salt; its row has no salt.
    const info = new Uint8Array([
      ...new TextEncoder().encode('e2ee-backup vault device credential v1'),
      0,
      ...new TextEncoder().encode('old-timer'),
    ]);
    const legacy = new Uint8Array(hkdfSync('sha512', backupKey, new Uint8Array(0), info, 32));
    await forget('old-timer', deviceVerifier(legacy));
    const res = await fetch(`${server.url}/v1/device-salt`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ account: 'old-timer' }),
    });
    expect(await res.json()).toEqual({ deviceSalt: '' });
    // It still opens with its password.
    expect(await vault.recover({ account: 'old-timer', password: 'pw' })).toEqual(backupKey);
    // But the client will not derive the credential of the empty salt, which a server could ask
    // any device for: reset and delete stop before a credential leaves.
    sent.length = 0;
    // One at a time: started together, a rejection that came first would go unhandled while
    // the other was awaited.
    for (const refused of [
      () => vault.resetPassword({ account: 'old-timer', backupKey, newPassword: 'pw2' }),
      () => vault.delete({ account: 'old-timer', backupKey }),
    ]) {
      const err = await errorOf(refused());
      expect(err.code).toBe('VAULT_PROTOCOL');
      expect(err.message).toMatch(/empty device salt/);
    }
    expect(sent.map((r) => r.split(' ')[0])).toEqual(['/v1/device-salt', '/v1/device-salt']);
    expect(sent.join('\n')).not.toContain('deviceCredential');
    expect((await store.getAccount('old-timer'))!.status).toBe('active');
  } finally {
    await server.close();
    await store.close();
  }
}

describe('a store from before device salts', () => {
  it('SQLite: the column is added; old records open, and get no device credential', async () => {
    const path = `${t.dir}/old.sqlite`;
    const db = new Database(path);
    db.exec(OLD_ACCOUNTS('vault_', 'BLOB'));
    db.close();
    await legacyRecord(
      () => openSqliteVaultStore({ path }),
      async (account, verifier) => {
        const raw = new Database(path);
        raw
          .prepare('UPDATE vault_accounts SET device_salt = NULL, device_verifier = ? WHERE account = ?')
          .run(Buffer.from(verifier), account);
        raw.close();
      },
    );
  });

  describe.skipIf(pgSkipReason() !== undefined)('PostgreSQL', () => {
    const { prefix, drop } = pgPrefix();
    afterAll(drop);
    it('the column is added; old records open, and get no device credential', async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      try {
        await c.query(OLD_ACCOUNTS(prefix, 'BYTEA'));
        await legacyRecord(
          () => openPostgresVaultStore({ connectionString: PG_URL!, tablePrefix: prefix }),
          async (account, verifier) => {
            await c.query(
              `UPDATE ${prefix}accounts SET device_salt = NULL, device_verifier = $1 WHERE account = $2`,
              [Buffer.from(verifier), account],
            );
          },
        );
      } finally {
        await c.end();
      }
    });
  });
});
