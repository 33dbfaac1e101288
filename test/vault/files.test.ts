/** What the vault leaves on disk: its SQLite files are readable by their owner only. */
import { chmodSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openSqliteVaultStore } from '../../src/vault/server/store/sqlite.js';
import { CHEAP_KSF, tempDir } from './helpers.js';

let t: { dir: string }; // removed when this file ends (tempDir)
beforeAll(() => {
  t = tempDir();
});
const mode = (path: string) => statSync(path).mode & 0o777;

describe.skipIf(process.platform === 'win32')('SQLite store files', () => {
  it('the database, its WAL and its shared-memory file are created with mode 0600', async () => {
    // The test means something only if the umask would let others read a new file.
    const probe = join(t.dir, 'probe');
    writeFileSync(probe, '');
    expect(mode(probe) & 0o044, 'this umask already hides new files from others').not.toBe(0);

    const path = join(t.dir, 'vault.sqlite');
    const store = await openSqliteVaultStore({ path });
    try {
      // A write, so that the WAL and shared-memory files exist.
      await store.commitRecord({
        account: 'alice',
        mode: 'register',
        credentialId: new Uint8Array(32),
        record: new Uint8Array(192),
        sealedKey: new Uint8Array(60),
        deviceVerifier: new Uint8Array(32),
        deviceSalt: new Uint8Array(32),
        authorized: false,
        ksf: CHEAP_KSF,
        maxAttempts: 10,
      });
      for (const file of [path, `${path}-wal`, `${path}-shm`]) {
        expect(existsSync(file), file).toBe(true);
        expect(mode(file).toString(8), file).toBe('600');
      }
    } finally {
      await store.close();
    }
  });

  it('an existing database keeps the mode its operator gave it', async () => {
    const path = join(t.dir, 'shared.sqlite');
    writeFileSync(path, '');
    chmodSync(path, 0o640);
    const store = await openSqliteVaultStore({ path });
    await store.close();
    expect(mode(path).toString(8)).toBe('640');
  });
});
