import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decryptBackupBytes, encryptBackupBytes } from '../src/backup.js';
import { E2EEError } from '../src/errors.js';
import { createBackup, listBackups, restoreLatest } from '../src/lifecycle.js';
import { createFileStore } from '../src/node.js';
import { type BackupStore, createMemoryStore } from '../src/store.js';

const key = new Uint8Array(32).fill(5);
const text = (s: string) => new TextEncoder().encode(s);

async function readAll(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/** The invariant: the store holds at least one complete backup that decrypts. */
async function holdsAGoodBackup(store: BackupStore): Promise<Uint8Array[]> {
  const good: Uint8Array[] = [];
  for (const e of await listBackups(store)) {
    if (!e.encrypted) continue;
    try {
      good.push((await decryptBackupBytes(await readAll(await store.get(e.name)), { key })).data);
    } catch {
      // a broken one does not count
    }
  }
  expect(good.length).toBeGreaterThan(0);
  return good;
}

type Step = 'put' | 'put-midway' | 'get' | 'delete' | 'list';

/** A store that fails at one step, the n-th time it is reached. */
function failing(inner: BackupStore, step: Step, nth = 1): BackupStore {
  let count = 0;
  const boom = (s: Step) => {
    if (s === step && ++count === nth) throw new E2EEError('IO', `injected failure at ${s}`);
  };
  return {
    async put(name, data) {
      boom('put');
      if (step === 'put-midway') {
        // Reads part of the data, then fails: a crash in the middle of an upload.
        const r = data.getReader();
        await r.read();
        boom('put-midway');
        await r.cancel();
        return;
      }
      return inner.put(name, data);
    },
    async get(name) {
      boom('get');
      return inner.get(name);
    },
    async list() {
      boom('list');
      return inner.list();
    },
    async delete(name) {
      boom('delete');
      return inner.delete(name);
    },
  };
}

describe('createBackup: rotation', () => {
  it('keeps exactly one backup, the newest, with growing generations', async () => {
    const store = createMemoryStore();
    const a = await createBackup(store, text('first'), { key });
    const b = await createBackup(store, text('second'), { key });
    expect(b.generation).toBe(a.generation + 1);
    expect(b.removed).toEqual([a.name]);
    const list = await listBackups(store);
    expect(list.map((e) => e.name)).toEqual([b.name]);
    const r = await restoreLatest(store, { key });
    expect(new TextDecoder().decode(await readAll(r.stream))).toBe('second');
    expect(r.metadata.generation).toBe(b.generation);
  });

  it('removes an older unencrypted backup, but only after the encrypted one verifies', async () => {
    const store = createMemoryStore();
    await store.put('chats.db', new Response('plain old backup').body!);
    const bad = failing(store, 'get'); // the restore drill cannot read: verification fails
    await expect(createBackup(bad, text('x'), { key })).rejects.toThrow(/injected/);
    expect([...store.entries.keys()]).toEqual(['chats.db']);
    const ok = await createBackup(store, text('x'), { key });
    expect(ok.removed).toEqual(['chats.db']);
    expect((await listBackups(store)).every((e) => e.encrypted)).toBe(true);
  });

  for (const [step, nth] of [
    ['list', 1],
    ['put', 1],
    ['put-midway', 1],
    ['get', 1], // reading the old backup's metadata
    ['get', 2], // the restore drill
    ['delete', 1],
  ] as [Step, number][]) {
    it(`a failure at ${step} #${nth} leaves a complete, decryptable backup`, async () => {
      const store = createMemoryStore();
      await createBackup(store, text('old'), { key });
      const attempt = createBackup(failing(store, step, nth), text('new'), { key }).catch((e) => e);
      const outcome = await attempt;
      const good = await holdsAGoodBackup(store);
      // The old one survives every failure before the drill passed; after it, the new one.
      const contents = good.map((g) => new TextDecoder().decode(g));
      if (step === 'delete') expect(contents).toContain('new');
      else if (!(outcome instanceof Error)) expect(contents).toContain('new');
      else expect(contents).toContain('old');
    });
  }

  it('a backup that does not verify (the store corrupts it) is removed and the old one kept', async () => {
    const store = createMemoryStore();
    await createBackup(store, text('old'), { key });
    const corrupting: BackupStore = {
      ...store,
      async put(name, data) {
        await store.put(name, data);
        const b = store.entries.get(name)!;
        b[b.length - 5]! ^= 1;
      },
    };
    await expect(createBackup(corrupting, text('new'), { key })).rejects.toMatchObject({
      code: 'CHUNK_AUTH',
    });
    const good = await holdsAGoodBackup(store);
    expect(good.map((g) => new TextDecoder().decode(g))).toEqual(['old']);
    expect(store.entries.size).toBe(1);
  });

  it('works on a folder, and leaves no temporary files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'e2ee-store-'));
    const store = createFileStore(dir);
    await createBackup(store, text('one'), { key });
    const two = await createBackup(store, text('two'), {
      key,
      password: 'pw',
      kdf: { m: 64, t: 1, p: 1 },
      allowWeakKdf: true,
    });
    expect(readdirSync(dir)).toEqual([two.name]);
    const r = await restoreLatest(store, { password: 'pw' });
    expect(new TextDecoder().decode(await readAll(r.stream))).toBe('two');
  });
});

describe('restoreLatest: rollback protection', () => {
  it('refuses a backup older than the newest generation seen, unless told, and says why', async () => {
    const store = createMemoryStore();
    const first = await createBackup(store, text('v1'), { key });
    const saved = new Map(store.entries);
    const second = await createBackup(store, text('v2'), { key });
    // An attacker (or a sync glitch) puts the old backup back.
    store.entries.clear();
    for (const [k, v] of saved) store.entries.set(k, v);
    await expect(restoreLatest(store, { key }, { newestSeen: second.generation })).rejects.toMatchObject({
      code: 'ROLLBACK',
      message: expect.stringMatching(new RegExp(`generation ${first.generation}.*${second.generation}`)),
    });
    const forced = await restoreLatest(
      store,
      { key },
      { newestSeen: second.generation, allowRollback: true },
    );
    expect(new TextDecoder().decode(await readAll(forced.stream))).toBe('v1');
  });

  it('uses the authenticated generation, not the file name', async () => {
    const store = createMemoryStore();
    const real = await createBackup(store, text('real'), { key });
    // A file renamed to look newer still carries its own generation inside.
    const bytes = store.entries.get(real.name)!;
    store.entries.set('backup-9999999999999999-000000000000.e2ee', bytes);
    const r = await restoreLatest(store, { key }, { newestSeen: real.generation });
    expect(r.metadata.generation).toBe(real.generation);
  });

  it('the next backup continues from newestSeen when the store is empty', async () => {
    const store = createMemoryStore();
    const b = await createBackup(store, text('x'), { key, newestSeen: 41 });
    expect(b.generation).toBe(42);
  });

  it('says so when there is nothing to restore, or nothing the key opens', async () => {
    await expect(restoreLatest(createMemoryStore(), { key })).rejects.toMatchObject({ code: 'IO' });
    const store = createMemoryStore();
    await store.put(
      'x.e2ee',
      new Response((await encryptBackupBytes(text('x'), { key: new Uint8Array(32) })) as BodyInit).body!,
    );
    await expect(restoreLatest(store, { key })).rejects.toMatchObject({ code: 'WRONG_KEY' });
  });
});
