// @hono/node-server is an optional peer dependency: startVaultServer without it must fail with a
// typed error naming the package, before it opens (and would leave open) a database.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import { isE2EEError } from '../../src/errors.js';
import { startVaultServer } from '../../src/vault/server/index.js';

vi.mock('@hono/node-server', () => {
  throw Object.assign(new Error("Cannot find package '@hono/node-server' imported from index.js"), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

it('throws VAULT_UNAVAILABLE naming @hono/node-server, and never creates the database', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-no-node-server-'));
  dirs.push(dir);
  const dbPath = join(dir, 'vault.sqlite');
  const err = await startVaultServer({ dbPath, keyFile: join(dir, 'keys.json') }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isE2EEError(err, 'VAULT_UNAVAILABLE')).toBe(true);
  expect((err as Error).message).toContain('@hono/node-server');
  expect((err as Error).cause).toBeInstanceOf(Error);
  expect(existsSync(dbPath)).toBe(false);
});
