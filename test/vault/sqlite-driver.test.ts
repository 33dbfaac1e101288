// better-sqlite3 13 is a Node-API 10 addon: on a Node without Node-API 10 (20, and 22 before
// 22.14) it crashes the process at the first database it opens, so the SQLite store refuses it
// before that (docs/vault.md). 12 runs there.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import Database from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import { sqliteDriverMismatch } from '../../src/vault/server/store/sqlite.js';

// The installed version, read from its package.json: the oracle for the check's `explain` test.
const installedMajor = Number(
  JSON.parse(
    readFileSync(createRequire(import.meta.url).resolve('better-sqlite3/package.json'), 'utf8'),
  ).version.split('.')[0],
);

describe('better-sqlite3 and the Node-API version', () => {
  it('the installed better-sqlite3 runs on this Node', () => {
    expect(sqliteDriverMismatch(Database)).toBeUndefined();
  });

  it('below Node-API 10, the installed version is refused exactly when it is 13 or later', () => {
    const mismatch = sqliteDriverMismatch(Database, '9');
    expect(mismatch !== undefined, `better-sqlite3 ${installedMajor}`).toBe(installedMajor >= 13);
    expect(sqliteDriverMismatch(Database, '10')).toBeUndefined();
  });

  it('openSqliteVaultStore refuses 13 without Node-API 10, before it opens a database', async () => {
    const opened: string[] = [];
    class Thirteen {
      constructor(path: string) {
        opened.push(path);
        throw new Error('the real 13 crashes the process here');
      }
      explain(): void {}
    }
    const napi = Object.getOwnPropertyDescriptor(process.versions, 'napi')!;
    vi.doMock('better-sqlite3', () => ({ default: Thirteen }));
    Object.defineProperty(process.versions, 'napi', { ...napi, value: '9' });
    try {
      vi.resetModules();
      const { openSqliteVaultStore } = await import('../../src/vault/server/store/sqlite.js');
      const err = await openSqliteVaultStore({ path: ':memory:' }).then(
        () => undefined,
        (e: unknown) => e as { code?: string; message?: string },
      );
      expect(err?.code).toBe('VAULT_UNAVAILABLE');
      expect(err?.message).toMatch(
        /better-sqlite3 13 needs Node-API 10 \(Node 22\.14 or later\), and Node v[\d.]+ has Node-API 9; install better-sqlite3 12 \(npm install better-sqlite3@12\)/,
      );
      expect(opened).toEqual([]);
    } finally {
      Object.defineProperty(process.versions, 'napi', napi);
      vi.doUnmock('better-sqlite3');
      vi.resetModules();
    }
  });
});
