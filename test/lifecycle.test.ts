import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it, vi } from 'vitest';
import { HEADER_SIZE, RECORD_SIZE } from '../src/cobblestone/message.js';
import { decryptBackupBytes, encryptBackupBytes } from '../src/container/backup.js';
import { E2EEError, ERROR_CODES, type ErrorCode } from '../src/errors.js';
import { createBackup, listBackups, restoreLatest } from '../src/lifecycle/lifecycle.js';
import { claimedGeneration, type EntryFacts, retirementVerdict } from '../src/lifecycle/retire.js';
import { type BackupStore, createMemoryStore } from '../src/lifecycle/store.js';
import { createFileStore } from '../src/node/files.js';
import { reseal, u32 } from './craft.js';

// Every Argon2id run is recorded; one asking for more than 64 MiB is refused instead of run, so
// that a planted slot at the decoder's maxima (1 GiB, p = 16) costs this test nothing either way.
const argon = vi.hoisted(() => ({ calls: [] as { m: number; t: number; p: number }[] }));
vi.mock('../src/primitives/argon2id.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/primitives/argon2id.js')>();
  return {
    argon2id: (o: Parameters<typeof real.argon2id>[0]) => {
      argon.calls.push({ m: o.memorySize, t: o.iterations, p: o.parallelism });
      if (o.memorySize > 65536) throw new Error('test: refused to run an expensive Argon2id');
      return real.argon2id(o);
    },
  };
});

const key = new Uint8Array(32).fill(5);
const SET = 'phone';
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
    const a = await createBackup(store, text('first'), { set: SET, key });
    const b = await createBackup(store, text('second'), { set: SET, key });
    expect(b.generation).toBe(a.generation + 1);
    expect(b.removed).toEqual([a.name]);
    const list = await listBackups(store);
    expect(list.map((e) => e.name)).toEqual([b.name]);
    const r = await restoreLatest(store, { key });
    expect(new TextDecoder().decode(await readAll(r.stream))).toBe('second');
    expect(r.metadata.generation).toBe(b.generation);
  });

  it('removes an unencrypted copy only when named in replaces, and only after the backup verifies', async () => {
    const store = createMemoryStore();
    await store.put('chats.db', new Response('plain old backup').body!);
    const plainOnly = await createBackup(store, text('x'), { set: SET, key });
    expect(plainOnly.removed).toEqual([]);
    expect(plainOnly.kept).toContainEqual({ name: 'chats.db', reason: 'not-a-backup' });
    const bad = failing(store, 'get', 3); // two entries opened, then the drill cannot read
    await expect(createBackup(bad, text('y'), { set: SET, key, replaces: ['chats.db'] })).rejects.toThrow(
      /injected/,
    );
    expect(store.entries.has('chats.db')).toBe(true);
    const ok = await createBackup(store, text('y'), { set: SET, key, replaces: ['chats.db'] });
    expect(ok.removed).toEqual([plainOnly.name, 'chats.db']);
    expect(ok.kept).toEqual([]); // removed as a replaced copy, not kept as not-a-backup
    expect([...store.entries.keys()]).toEqual([ok.name]);
  });

  it('replaces refuses, before writing anything, a name that is missing or an encrypted backup', async () => {
    const store = createMemoryStore();
    const first = await createBackup(store, text('x'), { set: SET, key });
    for (const [replaces, message] of [
      [['missing.db'], 'replaces names missing.db, which is not in the store'],
      [
        [first.name],
        `replaces names ${first.name}, an encrypted backup: backups are retired by their set and generation, not by name`,
      ],
    ] as const)
      await expect(createBackup(store, text('y'), { set: SET, key, replaces })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message,
      });
    expect([...store.entries.keys()]).toEqual([first.name]);
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
      await createBackup(store, text('old'), { set: SET, key });
      const attempt = createBackup(failing(store, step, nth), text('new'), { set: SET, key }).catch((e) => e);
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
    await createBackup(store, text('old'), { set: SET, key });
    const corrupting: BackupStore = {
      ...store,
      async put(name, data) {
        await store.put(name, data);
        const b = store.entries.get(name)!;
        b[b.length - 5]! ^= 1;
      },
    };
    await expect(createBackup(corrupting, text('new'), { set: SET, key })).rejects.toMatchObject({
      code: 'CHUNK_AUTH',
    });
    const good = await holdsAGoodBackup(store);
    expect(good.map((g) => new TextDecoder().decode(g))).toEqual(['old']);
    expect(store.entries.size).toBe(1);
  });

  it('works on a folder, and leaves no temporary files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'e2ee-store-'));
    try {
      const store = createFileStore(dir);
      await createBackup(store, text('one'), { set: SET, key });
      const two = await createBackup(store, text('two'), {
        set: SET,
        key,
        password: 'pw',
        kdf: { m: 64, t: 1, p: 1 },
        allowWeakKdf: true,
      });
      expect(readdirSync(dir)).toEqual([two.name]);
      const r = await restoreLatest(store, { password: 'pw' });
      expect(new TextDecoder().decode(await readAll(r.stream))).toBe('two');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('listBackups', () => {
  it('an entry the store cannot read is listed as unreadable, with or without credentials', async () => {
    const store = createMemoryStore();
    const made = await createBackup(store, text('x'), { key, set: 'phone' });
    await store.put('broken.e2ee', body(text('whatever')));
    const flaky: BackupStore = {
      ...store,
      async get(name) {
        if (name === 'broken.e2ee') throw new E2EEError('IO', 'injected: cannot read broken.e2ee');
        return store.get(name);
      },
    };
    for (const credentials of [undefined, { key }]) {
      const listed = await listBackups(flaky, credentials);
      expect(listed.find((e) => e.name === made.name)).toMatchObject({ encrypted: true });
      expect(listed.find((e) => e.name === 'broken.e2ee')).toMatchObject({
        reason: 'unreadable',
        error: expect.objectContaining({ code: 'IO' }),
      });
    }
  });
});

describe('restoreLatest: rollback protection', () => {
  it('fails with IO, not an older backup, when the store fails to read an entry named as newer', async () => {
    const store = createMemoryStore();
    await createBackup(store, text('v1'), { set: SET, key });
    const saved = new Map(store.entries);
    const second = await createBackup(store, text('v2'), { set: SET, key });
    // The older backup is back beside the newest, and the store fails to hand over the newest.
    for (const [k, v] of saved) store.entries.set(k, v);
    const failing: BackupStore = {
      ...store,
      list: () => store.list(),
      get: (name) =>
        name === second.name ? Promise.reject(new E2EEError('IO', 'connection reset')) : store.get(name),
    };
    await expect(restoreLatest(failing, { key })).rejects.toMatchObject({
      code: 'IO',
      message: expect.stringContaining(second.name),
    });
    // A newer entry the store does hand over, damaged, is skipped as before.
    const bytes = store.entries.get(second.name)!.slice();
    bytes[bytes.length - 20]! ^= 1;
    store.entries.set(second.name, bytes);
    const r = await restoreLatest(store, { key });
    expect(r.metadata.generation).toBe(second.generation - 1);
    expect(r.skipped.map((k) => k.name)).toContain(second.name);
  });

  it('refuses a backup older than the newest generation seen, unless told, and says why', async () => {
    const store = createMemoryStore();
    const first = await createBackup(store, text('v1'), { set: SET, key });
    const saved = new Map(store.entries);
    const second = await createBackup(store, text('v2'), { set: SET, key });
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
    const real = await createBackup(store, text('real'), { set: SET, key });
    // A file renamed to look newer still carries its own generation inside.
    const bytes = store.entries.get(real.name)!;
    store.entries.set('backup-9999999999999999-000000000000.e2ee', bytes);
    const r = await restoreLatest(store, { key }, { newestSeen: real.generation });
    expect(r.metadata.generation).toBe(real.generation);
  });

  it('the next backup continues from newestSeen when the store is empty', async () => {
    const store = createMemoryStore();
    const b = await createBackup(store, text('x'), { set: SET, key, newestSeen: 41 });
    expect(b.generation).toBe(42);
  });

  it('newestSeen and the next generation are integers from 0 to 2^53 − 2', async () => {
    const store = createMemoryStore();
    const top = Number.MAX_SAFE_INTEGER - 1; // 2^53 − 2
    for (const newestSeen of [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, top + 1, '1' as never]) {
      const refused = {
        code: 'INVALID_ARGUMENT',
        message: 'newestSeen must be an integer from 0 to 2^53 − 2',
      };
      await expect(createBackup(store, text('x'), { set: SET, key, newestSeen })).rejects.toMatchObject(
        refused,
      );
      await expect(restoreLatest(store, { key }, { newestSeen })).rejects.toMatchObject(refused);
    }
    expect(store.entries.size).toBe(0);
    await expect(createBackup(store, text('x'), { set: SET, key, newestSeen: top })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'the next generation must be an integer from 0 to 2^53 − 2',
    });
    expect(store.entries.size).toBe(0);
    expect((await createBackup(store, text('x'), { set: SET, key, newestSeen: top - 1 })).generation).toBe(
      top,
    );
    expect(
      (await createBackup(createMemoryStore(), text('x'), { set: SET, key, newestSeen: 0 })).generation,
    ).toBe(1);
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

const FAST = { kdf: { m: 64, t: 1, p: 1 }, allowWeakKdf: true } as const;
const otherKey = new Uint8Array(32).fill(6);
const backupName = (generation: number, tag = 'abcdefabcdef') =>
  `backup-${String(generation).padStart(16, '0')}-${tag}.e2ee`;
const body = (b: Uint8Array) => new Response(b as BodyInit).body!;
const decode = (b: Uint8Array) => new TextDecoder().decode(b);

describe('createBackup removes only what it proves superseded (issue #16)', () => {
  it('keeps files that are not backups, backups of another key and of another set, and says why', async () => {
    const store = createMemoryStore();
    const keyFile = text('0123 4567 89ab cdef ...');
    await store.put('diary.txt', body(text('dear diary')));
    await store.put('photo.jpg', body(new Uint8Array([0xff, 0xd8, 0xff])));
    await store.put('k.key', body(keyFile));
    const foreign = await encryptBackupBytes(text('theirs'), {
      key: otherKey,
      set: 'default',
      generation: 0,
    });
    await store.put(backupName(0, '111111111111'), body(foreign));
    // A first backup into a store holding another key's: told it is not ours (see below).
    const laptop = await createBackup(store, text('laptop'), {
      key,
      set: 'laptop',
      allowUnreadableNewest: true,
    });
    expect(laptop.removed).toEqual([]);
    const phone = await createBackup(store, text('phone'), { key, set: 'phone' });
    expect(phone.removed).toEqual([]);
    expect(phone.generation).toBe(laptop.generation + 1); // generations grow across sets
    const again = await createBackup(store, text('phone 2'), { key, set: 'phone' });
    expect(again.removed).toEqual([phone.name]);
    const reasons = Object.fromEntries(again.kept.map((k) => [k.name, k.reason]));
    expect(reasons).toEqual({
      'diary.txt': 'not-a-backup',
      'photo.jpg': 'not-a-backup',
      'k.key': 'not-a-backup',
      [backupName(0, '111111111111')]: 'another-key',
      [laptop.name]: 'another-set',
    });
    expect(store.entries.get('k.key')).toEqual(keyFile);
    expect(decode(store.entries.get('diary.txt')!)).toBe('dear diary');
    // Each device restores its own; without a set, the newest of all.
    expect(decode(await readAll((await restoreLatest(store, { key }, { set: 'laptop' })).stream))).toBe(
      'laptop',
    );
    expect(decode(await readAll((await restoreLatest(store, { key })).stream))).toBe('phone 2');
  });

  it("a set is required: two devices on one default set would remove each other's backups", async () => {
    const store = createMemoryStore();
    for (const options of [{ key }, { key, set: undefined }])
      await expect(createBackup(store, text('x'), options as never)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/needs a set.*remove each other's backups.*once per install/),
      });
    expect(store.entries.size).toBe(0);
  });

  it('never removes a backup without a set, or one named otherwise', async () => {
    const store = createMemoryStore();
    await store.put(backupName(0), body(await encryptBackupBytes(text('no set'), { key, generation: 0 })));
    const renamed = await encryptBackupBytes(text('renamed'), { key, set: 'default', generation: 1 });
    await store.put('chats.e2ee', body(renamed));
    const made = await createBackup(store, text('new'), { set: SET, key });
    expect(made.generation).toBe(2);
    expect(made.removed).toEqual([]);
    expect(made.kept.map((k) => k.reason).sort()).toEqual(['another-set', 'not-a-backup']);
  });

  it('a newest backup the store damaged is kept, and without newestSeen nothing restarts below it', async () => {
    const store = createMemoryStore();
    await createBackup(store, text('v0'), { set: SET, key });
    const v1 = await createBackup(store, text('v1'), { set: SET, key });
    const replay = store.entries.get(v1.name)!.slice();
    const v2 = await createBackup(store, text('v2'), { set: SET, key });
    const damaged = store.entries.get(v2.name)!;
    damaged[damaged.length - 20]! ^= 1;
    // Without state: refused, nothing written, nothing removed.
    const before = [...store.entries.keys()];
    await expect(createBackup(store, text('v3'), { set: SET, key })).rejects.toMatchObject({
      code: 'NEWEST_UNREADABLE',
      message: expect.stringContaining(v2.name),
    });
    expect([...store.entries.keys()]).toEqual(before);
    // With the persisted newest generation: generation 3, and the damaged one is kept.
    const v3 = await createBackup(store, text('v3'), { set: SET, key, newestSeen: 2 });
    expect(v3.generation).toBe(3);
    expect(store.entries.has(v2.name)).toBe(true);
    expect(v3.kept).toContainEqual(expect.objectContaining({ name: v2.name, reason: 'unreadable' }));
    // The store now serves an old copy instead: refused as a rollback.
    store.entries.clear();
    store.entries.set(v1.name, replay);
    await expect(restoreLatest(store, { key }, { newestSeen: 3 })).rejects.toMatchObject({
      code: 'ROLLBACK',
    });
  });

  it('a key slot the store damaged reads as another key, and still stops a create without state', async () => {
    const store = createMemoryStore();
    const v2 = await createBackup(store, text('v2'), { key, set: SET, newestSeen: 1 });
    const bytes = store.entries.get(v2.name)!.slice();
    const headerSize = (bytes[10]! << 8) | bytes[11]!;
    bytes[13 + 3 + 32]! ^= 1; // the wrapped file key of the backup-key slot
    bytes.set(reseal(bytes.slice(0, headerSize)), 0); // the checksum is unkeyed: recomputed
    store.entries.set(v2.name, bytes);
    await expect(decryptBackupBytes(bytes, { key })).rejects.toMatchObject({ code: 'WRONG_KEY' });
    const before = [...store.entries.keys()];
    await expect(createBackup(store, text('v3'), { key, set: SET })).rejects.toMatchObject({
      code: 'NEWEST_UNREADABLE',
      message: expect.stringMatching(
        new RegExp(
          `^${v2.name} \\(another key's, or damaged: WRONG_KEY\\) may be newer than every backup that opens, .*refusing to write generation 0.*Pass newestSeen.*allowUnreadableNewest`,
        ),
      ),
    });
    expect([...store.entries.keys()]).toEqual(before);
    const v3 = await createBackup(store, text('v3'), { key, set: SET, newestSeen: 2 });
    expect(v3.generation).toBe(3);
    expect(v3.kept).toContainEqual(expect.objectContaining({ name: v2.name, reason: 'another-key' }));
    expect(store.entries.get(v2.name)).toEqual(bytes);
    // Another key's backup named below the next generation stops nothing.
    const other = await encryptBackupBytes(text('theirs'), { key: otherKey, set: 'x', generation: 1 });
    await store.put(backupName(1, '222222222222'), body(other));
    expect((await createBackup(store, text('v4'), { key, set: SET })).generation).toBe(4);
  });

  it('without newestSeen, an unopened entry named at the next generation stops it too; all are named', async () => {
    const store = createMemoryStore();
    const zero = await createBackup(store, text('v0'), { set: SET, key });
    await store.put(backupName(1), body(text('not even the magic bytes')));
    await store.put(
      backupName(3),
      body(await encryptBackupBytes(text('theirs'), { key: otherKey, generation: 3 })),
    );
    const before = [...store.entries.keys()];
    await expect(createBackup(store, text('v1'), { set: SET, key })).rejects.toMatchObject({
      code: 'NEWEST_UNREADABLE',
      message: expect.stringMatching(
        new RegExp(
          `^${backupName(1)} \\(not an encrypted backup\\), ${backupName(3)} \\(another key's, or damaged: WRONG_KEY\\) ` +
            `may be newer than generation ${zero.generation}, the newest that opens, .*refusing to write generation 1, `,
        ),
      ),
    });
    expect([...store.entries.keys()]).toEqual(before);
  });

  it('an entry it fails to remove is kept and reported, with the error: a superseded backup, a replaced copy', async () => {
    const store = createMemoryStore();
    const old = await createBackup(store, text('v0'), { set: SET, key });
    await store.put('chats.db', body(text('plain old backup')));
    const refused = new E2EEError('IO', 'injected: cannot delete');
    const undeletable: BackupStore = {
      ...store,
      async delete(name) {
        if (name === old.name || name === 'chats.db') throw refused;
        return store.delete(name);
      },
    };
    const made = await createBackup(undeletable, text('v1'), { set: SET, key, replaces: ['chats.db'] });
    expect(made.removed).toEqual([]);
    expect(made.kept).toEqual([
      { name: old.name, reason: 'remove-failed', generation: 0, set: SET, error: refused },
      { name: 'chats.db', reason: 'remove-failed', error: refused },
    ]);
    expect([...store.entries.keys()].sort()).toEqual([old.name, 'chats.db', made.name].sort());
  });

  it('a put that fails after the store took the bytes: the new name is removed, the old backup kept', async () => {
    const store = createMemoryStore();
    const old = await createBackup(store, text('v0'), { set: SET, key });
    const failing: BackupStore = {
      ...store,
      async put(name, data) {
        await store.put(name, data); // stored, then the acknowledgement is lost
        throw new E2EEError('IO', 'injected: connection reset');
      },
    };
    await expect(createBackup(failing, text('v1'), { set: SET, key })).rejects.toThrow(/connection reset/);
    expect([...store.entries.keys()]).toEqual([old.name]);
  });

  it('with a key and a password, backups the password alone opens count and are superseded', async () => {
    const store = createMemoryStore();
    const old: string[] = [];
    for (const v of ['v0', 'v1', 'v2'])
      old.push((await createBackup(store, text(v), { password: 'pw', ...FAST, set: SET })).name);
    argon.calls.length = 0;
    const both = await createBackup(store, text('v3 with a key'), { key, password: 'pw', ...FAST, set: SET });
    expect(both.generation).toBe(3);
    expect(both.removed).toEqual([old[2]]); // each password-only one superseded the one before
    const r = await restoreLatest(store, { password: 'pw' }, { kdfMaxima: FAST.kdf });
    expect(r.metadata.generation).toBe(3);
    expect(decode(await readAll(r.stream))).toBe('v3 with a key');
    // The password was run on what the key did not open, within the app's parameters.
    expect(argon.calls.length).toBeGreaterThan(0);
    expect(argon.calls.every((c) => c.m <= FAST.kdf.m)).toBe(true);
  });

  it('allowUnreadableNewest writes above the newest that opens, and keeps the unreadable one', async () => {
    const store = createMemoryStore();
    await store.put(backupName(7), body(text('not even the magic bytes')));
    await expect(createBackup(store, text('x'), { set: SET, key })).rejects.toMatchObject({
      code: 'NEWEST_UNREADABLE',
    });
    const made = await createBackup(store, text('x'), { set: SET, key, allowUnreadableNewest: true });
    expect(made.generation).toBe(0);
    expect(made.kept).toEqual([{ name: backupName(7), reason: 'unreadable' }]);
    // An unreadable entry named below the next generation does not stop anything.
    expect((await createBackup(createMemoryStore(), text('y'), { set: SET, key })).generation).toBe(0);
  });

  it('onGeneration sees the generation before anything is written, and can stop it', async () => {
    const store = createMemoryStore();
    const seen: number[] = [];
    await expect(
      createBackup(store, text('x'), {
        set: SET,
        key,
        newestSeen: 4,
        onGeneration: (g) => {
          seen.push(g);
          expect(store.entries.size).toBe(0);
          throw new Error('could not persist');
        },
      }),
    ).rejects.toThrow(/could not persist/);
    expect(seen).toEqual([5]);
    expect(store.entries.size).toBe(0);
  });

  it('the restore drill reads back no more than was written (maxOutputBytes bounds it further)', async () => {
    const store = createMemoryStore();
    await expect(
      createBackup(store, new Uint8Array(1000), { set: SET, key, maxOutputBytes: 999 }),
    ).rejects.toMatchObject({
      code: 'OUTPUT_LIMIT',
    });
    expect(store.entries.size).toBe(0);
    expect(
      (await createBackup(store, new Uint8Array(1000), { set: SET, key, maxOutputBytes: 1000 })).generation,
    ).toBe(0);
  });
});

/** A password-only backup whose slot now asks for `kdf` (checksum recomputed, as an attacker would). */
async function planted(generation: number, kdf: { m: number; t: number; p: number }): Promise<Uint8Array> {
  const b = await encryptBackupBytes(text('planted'), {
    password: 'pw',
    ...FAST,
    generation,
    set: 'default',
  });
  const headerSize = (b[10]! << 8) | b[11]!;
  const header = b.slice(0, headerSize);
  header.set(u32(kdf.m), 16);
  header.set(u32(kdf.t), 20);
  header.set(u32(kdf.p), 24);
  const out = b.slice();
  out.set(reseal(header), 0);
  return out;
}

describe('planted expensive password slots are skipped, not run (issue #16)', () => {
  it('restoreLatest, createBackup and listBackups never run Argon2id beyond the parameters the app writes with', async () => {
    const store = createMemoryStore();
    const mine = await createBackup(store, text('mine'), { set: SET, password: 'pw', ...FAST });
    for (let i = 0; i < 3; i++)
      await store.put(backupName(90 + i), body(await planted(90 + i, { m: 1 << 20, t: 3, p: 16 })));
    argon.calls.length = 0;
    const r = await restoreLatest(store, { password: 'pw' }, { kdfMaxima: FAST.kdf });
    expect(decode(await readAll(r.stream))).toBe('mine');
    expect(argon.calls.filter((c) => c.m > FAST.kdf.m)).toEqual([]);
    expect(r.name).toBe(mine.name);
    expect(r.skipped.map((k) => k.reason)).toEqual(['kdf-limit', 'kdf-limit', 'kdf-limit']);
    const made = await createBackup(store, text('mine 2'), {
      set: SET,
      password: 'pw',
      ...FAST,
      newestSeen: 0,
    });
    expect(made.kept.map((k) => k.reason)).toEqual(['kdf-limit', 'kdf-limit', 'kdf-limit']);
    expect(made.removed).toEqual([mine.name]);
    const listed = await listBackups(store, { password: 'pw' }, { kdfMaxima: FAST.kdf });
    expect(listed.filter((e) => e.reason === 'kdf-limit')).toHaveLength(3);
    expect(argon.calls.every((c) => c.m <= FAST.kdf.m && c.p <= FAST.kdf.p)).toBe(true);
    expect(argon.calls.length).toBeGreaterThan(0);
  });

  it('by default the bound is what the app writes with: 64 MiB, t = 3, p = 4', async () => {
    const store = createMemoryStore();
    await store.put(backupName(5), body(await planted(5, { m: 1024, t: 1, p: 5 })));
    argon.calls.length = 0;
    await expect(restoreLatest(store, { password: 'pw' })).rejects.toMatchObject({
      code: 'KDF_PARAMS',
      message: expect.stringMatching(/skipped without running Argon2id: pass kdfMaxima/),
    });
    expect(argon.calls).toEqual([]);
    // Raised by the caller, it is run (and fails: the slot was changed).
    const r = await restoreLatest(store, { password: 'pw' }, { kdfMaxima: { p: 5 } }).catch((e) => e);
    expect(r).toMatchObject({ code: 'WRONG_PASSWORD' });
    expect(argon.calls).toEqual([{ m: 1024, t: 1, p: 5 }]);
    // A bound not named stays at the default: more than 64 MiB is still not run.
    await store.put(backupName(6), body(await planted(6, { m: 65537, t: 1, p: 5 })));
    const again = await restoreLatest(store, { password: 'pw' }, { kdfMaxima: { p: 5 } }).catch((e) => e);
    expect(again).toMatchObject({ code: 'KDF_PARAMS' }); // tried first: the most telling reason
    expect(argon.calls.filter((c) => c.m > 65536)).toEqual([]);
  });
});

describe('retirementVerdict: the deletion decision on its own', () => {
  const written = { set: 'phone', generation: 5 };
  const named = backupName(3);
  it('removes exactly a same-set, lower-generation backup the credential opened, named as backups are', () => {
    expect(
      retirementVerdict({ name: named, encrypted: true, opened: { generation: 4, set: 'phone' } }, written),
    ).toEqual({
      remove: true,
    });
    const cases: [EntryFacts, string][] = [
      [{ name: 'diary.txt', encrypted: false }, 'not-a-backup'],
      [{ name: 'chats.e2ee', encrypted: true, opened: { generation: 1, set: 'phone' } }, 'not-a-backup'],
      [{ name: named, encrypted: false }, 'unreadable'],
      [{ name: named, encrypted: true, failure: 'WRONG_KEY' }, 'another-key'],
      [{ name: named, encrypted: true, failure: 'WRONG_PASSWORD' }, 'another-key'],
      [{ name: named, encrypted: true, failure: 'NO_MATCHING_SLOT' }, 'another-key'],
      [{ name: named, encrypted: true, failure: 'KDF_PARAMS' }, 'kdf-limit'],
      [{ name: named, encrypted: true, failure: 'CHUNK_AUTH' }, 'unreadable'],
      [{ name: named, encrypted: true, failure: 'IO' }, 'unreadable'],
      [{ name: named, encrypted: true }, 'unreadable'],
      [{ name: named, encrypted: true, opened: { generation: 4 } }, 'another-set'],
      [{ name: named, encrypted: true, opened: { generation: 4, set: 'laptop' } }, 'another-set'],
      [{ name: named, encrypted: true, opened: { generation: 5, set: 'phone' } }, 'newer'],
      [{ name: named, encrypted: true, opened: { generation: 9, set: 'phone' } }, 'newer'],
    ];
    for (const [facts, reason] of cases)
      expect(retirementVerdict(facts, written), JSON.stringify(facts)).toEqual({ remove: false, reason });
  });

  it('never removes a backup without a set, even for a written backup without one (a caller bypassing types)', () => {
    const setless = { set: undefined as unknown as string, generation: 5 };
    expect(retirementVerdict({ name: named, encrypted: true, opened: { generation: 4 } }, setless)).toEqual({
      remove: false,
      reason: 'another-set',
    });
  });

  it('reads the generation a name claims: 16 digits, then 12 lowercase hex digits, nothing around', () => {
    expect(claimedGeneration('backup-0000000000000042-0123456789ab.e2ee')).toBe(42);
    expect(claimedGeneration('backup-9007199254740991-abcdefabcdef.e2ee')).toBe(9007199254740991);
    for (const name of [
      'backup-000000000000042-0123456789ab.e2ee', // 15 digits
      'backup-00000000000000042-0123456789ab.e2ee', // 17 digits
      'backup-0000000000000042-0123456789a.e2ee', // 11 hex digits
      'backup-0000000000000042-0123456789abc.e2ee', // 13 hex digits
      'backup-0000000000000042-0123456789AB.e2ee', // upper case
      'backup-0000000000000042-0123456789ag.e2ee', // not hex
      'xbackup-0000000000000042-0123456789ab.e2ee',
      'backup-0000000000000042-0123456789ab.e2eex',
      'backup-0000000000000042-0123456789ab.e2ee.tmp',
      'backup-000000000000004x-0123456789ab.e2ee',
      'backup-0000000000000042-0123456789ab-e2ee',
      '',
    ])
      expect(claimedGeneration(name), name).toBeUndefined();
  });

  const codes = Object.keys(ERROR_CODES) as ErrorCode[];
  test.prop([
    fc.record(
      {
        name: fc.oneof(
          fc.string(),
          fc.integer({ min: 0, max: 20 }).map((g) => backupName(g)),
          fc.constantFrom('backup-0000000000000001-ABCDEFabcdef.e2ee', 'backup-1-abcdefabcdef.e2ee'),
        ),
        encrypted: fc.boolean(),
        opened: fc.record(
          { generation: fc.integer({ min: 0, max: 20 }), set: fc.constantFrom('a', 'b', 'A') },
          { requiredKeys: ['generation'] },
        ),
        failure: fc.constantFrom(...codes),
      },
      { requiredKeys: ['name', 'encrypted'] },
    ),
    fc.constantFrom('a', 'b'),
    fc.integer({ min: 0, max: 21 }),
  ])('removes only when every condition holds', (facts, set, generation) => {
    const v = retirementVerdict(facts, { set, generation });
    const proven =
      /^backup-\d{16}-[0-9a-f]{12}\.e2ee$/.test(facts.name) &&
      facts.encrypted &&
      facts.opened !== undefined &&
      facts.opened.set === set &&
      facts.opened.generation < generation;
    expect(v.remove).toBe(proven);
  });
});

/**
 * A memory store that also keeps interrupted uploads (as the S3 store does with a resume state),
 * each as the head an upload sent before it stopped: its header and first whole record.
 */
function resumableStore() {
  const inner = createMemoryStore();
  const pending = new Map<string, { head: Uint8Array; inUse: boolean }>();
  const discarded: string[] = [];
  const store = {
    ...inner,
    async put(name: string, data: ReadableStream<Uint8Array>) {
      await inner.put(name, data);
      pending.delete(name);
    },
    async pendingPuts() {
      return [...pending].map(([name, p]) => ({ name, head: p.head, inUse: p.inUse }));
    },
    async discardPut(name: string) {
      discarded.push(name);
      pending.delete(name);
    },
  };
  /** An upload of generation `generation` of `set`, interrupted after its first record. */
  async function interrupt(
    generation: number,
    set: string,
    options: { key?: Uint8Array; inUse?: boolean; tag?: string } = {},
  ) {
    const data = new Uint8Array(40_000);
    crypto.getRandomValues(data); // incompressible: three records
    const bytes = await encryptBackupBytes(data, { key: options.key ?? key, set, generation });
    const headerSize = (bytes[10]! << 8) | bytes[11]!;
    const name = backupName(generation, options.tag ?? 'fedcbafedcba');
    pending.set(name, {
      head: bytes.slice(0, headerSize + HEADER_SIZE + RECORD_SIZE),
      inUse: options.inUse ?? false,
    });
    return name;
  }
  return { store, pending, discarded, interrupt };
}

describe('createBackup and interrupted uploads: resumed, kept or discarded by the rules', () => {
  it('resumes its own set’s upload when its generation is the newest: same name and generation', async () => {
    const s = resumableStore();
    const older = await createBackup(s.store, text('v0'), { set: SET, key });
    const name = await s.interrupt(1, SET);
    const head = s.pending.get(name)!.head;
    const seen: number[] = [];
    const made = await createBackup(s.store, text('v1'), {
      set: SET,
      key,
      onGeneration: (g) => void seen.push(g),
    });
    expect([made.name, made.generation, seen]).toEqual([name, 1, [1]]);
    // The same backup: its header, salt and commitment are the interrupted upload's (SPEC.md §11).
    const prefix = head.length - RECORD_SIZE;
    expect(s.store.entries.get(name)!.subarray(0, prefix)).toEqual(head.subarray(0, prefix));
    expect(made.removed).toEqual([older.name]);
    expect(s.discarded).toEqual([]);
    expect(decode(await readAll((await restoreLatest(s.store, { key })).stream))).toBe('v1');
    // Generation 0 too, without newestSeen (the first attempt ever, interrupted).
    const first = resumableStore();
    const zero = await first.interrupt(0, SET);
    expect(await createBackup(first.store, text('x'), { set: SET, key })).toMatchObject({
      name: zero,
      generation: 0,
    });
  });

  it('a resumed upload whose put fails is left in place, to be resumed again', async () => {
    const s = resumableStore();
    const name = await s.interrupt(0, SET);
    const failing = {
      ...s.store,
      async put(n: string, data: ReadableStream<Uint8Array>) {
        await s.store.put(n, data);
        s.pending.set(n, { head: s.store.entries.get(n)!.slice(0, 20_000), inUse: false });
        throw new E2EEError('IO', 'injected: connection reset');
      },
    };
    await expect(createBackup(failing, text('x'), { set: SET, key })).rejects.toThrow(/connection reset/);
    expect([...s.store.entries.keys()]).toEqual([name]); // another writer's, for all it knows
    expect([...s.pending.keys()]).toEqual([name]);
    expect(s.discarded).toEqual([]);
  });

  it('does not resume below or at a generation that opens, and discards the superseded upload', async () => {
    for (const stored of [1, 2]) {
      const s = resumableStore();
      await createBackup(s.store, text('v'), { set: SET, key, newestSeen: stored - 1 });
      const name = await s.interrupt(1, SET);
      const made = await createBackup(s.store, text('new'), { set: SET, key });
      expect(made.name).not.toBe(name);
      expect(made.generation).toBe(stored + 1);
      expect(s.discarded).toEqual([name]);
    }
  });

  it('resumes at newestSeen (the attempt’s own, persisted), not below it', async () => {
    for (const [newestSeen, resumed] of [
      [2, true],
      [3, false],
    ] as const) {
      const s = resumableStore();
      const name = await s.interrupt(2, SET);
      const made = await createBackup(s.store, text('x'), { set: SET, key, newestSeen });
      expect(made.name === name, `newestSeen ${newestSeen}`).toBe(resumed);
      expect(made.generation).toBe(resumed ? 2 : 4);
      expect(s.discarded).toEqual(resumed ? [] : [name]);
    }
  });

  it('resumes the newest of its own uploads, only above every other, and keeps what is not proven superseded', async () => {
    const s = resumableStore();
    const three = await s.interrupt(3, SET);
    const five = await s.interrupt(5, SET);
    const made = await createBackup(s.store, text('x'), { set: SET, key });
    expect([made.name, made.generation]).toEqual([five, 5]);
    expect(s.discarded).toEqual([three]);

    // Another set's upload above it: counted, not resumed, not discarded; this set's is discarded.
    const t = resumableStore();
    const mine = await t.interrupt(5, SET);
    const theirs = await t.interrupt(6, 'laptop');
    const busy = await t.interrupt(2, SET, { inUse: true });
    const other = await t.interrupt(4, SET, { key: otherKey });
    const next = await createBackup(t.store, text('y'), { set: SET, key });
    expect(next.generation).toBe(7);
    expect([mine, theirs, busy, other]).not.toContain(next.name);
    expect(t.discarded).toEqual([mine]);
    expect([...t.pending.keys()].sort()).toEqual([busy, other, theirs].sort());

    // Nor at the generation of another set's upload.
    const v = resumableStore();
    const level = await v.interrupt(5, SET);
    await v.interrupt(5, 'laptop', { tag: '0a0a0a0a0a0a' });
    const above = await createBackup(v.store, text('w'), { set: SET, key });
    expect([above.name === level, above.generation, v.discarded]).toEqual([false, 6, [level]]);

    // Another set's upload alone is never resumed.
    const u = resumableStore();
    const laptop = await u.interrupt(0, 'laptop');
    const own = await createBackup(u.store, text('z'), { set: SET, key });
    expect([own.name === laptop, own.generation, u.discarded]).toEqual([false, 1, []]);
  });
});
