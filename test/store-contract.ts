// The BackupStore contract (src/lifecycle/store.ts) as one suite that every store must pass: memory,
// folder and S3 (test/store-contract.test.ts runs it on each).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decryptBackupBytes, encryptBackupBytes } from '../src/container/backup.js';
import { E2EEError } from '../src/errors.js';
import { createBackup, listBackups, restoreLatest } from '../src/lifecycle/lifecycle.js';
import type { BackupStore } from '../src/lifecycle/store.js';
import { xorshift } from './util.js';

/** Deterministic pseudo-random bytes (not for secrets). */
export function pseudoRandom(n: number, seed: number): Uint8Array {
  const next = xorshift(seed);
  const out = new Uint8Array(n);
  const words = new Uint32Array(out.buffer, 0, Math.floor(n / 4));
  for (let i = 0; i < words.length; i++) words[i] = next();
  for (let i = words.length * 4; i < n; i++) out[i] = next() & 0xff;
  return out;
}

/** A stream of `data` in pieces of `piece` bytes, each piece a fresh copy. */
function pieces(data: Uint8Array, piece: number): ReadableStream<Uint8Array> {
  let o = 0;
  return new ReadableStream({
    pull(c) {
      if (o >= data.length) return c.close();
      c.enqueue(data.slice(o, o + piece));
      o += piece;
    },
  });
}

/**
 * A stream of `data` in pieces of `piece` bytes, all in one buffer that is refilled when the next
 * piece is asked for (as a producer that reuses its buffer does): a store must be done with a
 * piece, or have copied it, before it reads the next.
 */
function reusing(data: Uint8Array, piece: number): ReadableStream<Uint8Array> {
  const buffer = new Uint8Array(piece);
  let o = 0;
  return new ReadableStream(
    {
      pull(c) {
        if (o >= data.length) return c.close();
        const n = Math.min(piece, data.length - o);
        buffer.set(data.subarray(o, o + n));
        o += n;
        c.enqueue(buffer.subarray(0, n));
      },
    },
    { highWaterMark: 0 },
  );
}

/** A stream of `data` that errors after `after` bytes. */
function failingAfter(data: Uint8Array, after: number): ReadableStream<Uint8Array> {
  let o = 0;
  return new ReadableStream({
    pull(c) {
      if (o >= after) return c.error(new E2EEError('ABORTED', 'the producer gave up'));
      const n = Math.min(64 * 1024, after - o);
      c.enqueue(data.slice(o, o + n));
      o += n;
    },
  });
}

async function drain(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/**
 * Asserts two byte arrays are equal, naming the first difference (vitest's own diff of megabytes
 * of bytes takes minutes).
 */
export function expectBytes(actual: Uint8Array, expected: Uint8Array, label = ''): void {
  let at = -1;
  const n = Math.min(actual.length, expected.length);
  if (Buffer.compare(actual, expected) !== 0) {
    at = n;
    for (let i = 0; i < n; i++)
      if (actual[i] !== expected[i]) {
        at = i;
        break;
      }
  }
  expect(
    at === -1 ? 'equal' : `differ at byte ${at} (lengths ${actual.length} and ${expected.length})`,
    label,
  ).toBe('equal');
}

async function rejection(p: Promise<unknown>): Promise<E2EEError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(E2EEError);
  return e as E2EEError;
}

const backupName = (generation: number, tag: string) =>
  `backup-${String(generation).padStart(16, '0')}-${tag}.e2ee`;

export interface ContractStore {
  store: BackupStore;
  /** A value at least this large goes beyond the store's first write unit (e.g. one S3 part). */
  large: number;
  cleanup: () => Promise<void>;
}

/** Registers the contract suite for the store `make` returns (one store for the whole suite). */
export function storeContract(label: string, make: () => Promise<ContractStore>): void {
  describe(`BackupStore contract: ${label}`, () => {
    let s: ContractStore;
    beforeAll(async () => {
      s = await make();
    });
    afterAll(async () => {
      await s?.cleanup();
    });

    it('put then get gives back the bytes, for empty, small and large values, whatever the pieces', async () => {
      const large = pseudoRandom(s.large + 12345, 1);
      const cases: [string, Uint8Array, (d: Uint8Array) => ReadableStream<Uint8Array>][] = [
        ['c-empty', new Uint8Array(0), (d) => pieces(d, 10)],
        ['c-one', Uint8Array.of(7), (d) => pieces(d, 10)],
        ['c-small', pseudoRandom(100_000, 2), (d) => pieces(d, 999)],
        ['c-large', large, (d) => pieces(d, 70_001)],
        ['c-reused', pseudoRandom(300_001, 10), (d) => reusing(d, 65_536)],
        ['c-reused-large', pseudoRandom(s.large + 4321, 11), (d) => reusing(d, 100_003)],
      ];
      for (const [name, data, stream] of cases) {
        await s.store.put(name, stream(data));
        expectBytes(await drain(await s.store.get(name)), data, name);
      }
      const listed = new Map((await s.store.list()).map((e) => [e.name, e.size]));
      for (const [name, data] of cases) expect(listed.get(name), name).toBe(data.length);
    });

    it('put replaces what a name held', async () => {
      await s.store.put('r-name', pieces(pseudoRandom(5000, 3), 100));
      const second = pseudoRandom(7000, 4);
      await s.store.put('r-name', pieces(second, 100));
      expectBytes(await drain(await s.store.get('r-name')), second);
      expect((await s.store.list()).filter((e) => e.name === 'r-name')).toEqual([
        { name: 'r-name', size: 7000 },
      ]);
    });

    it('a put whose data fails leaves the name as it was: the old value, or nothing', async () => {
      const old = pseudoRandom(3000, 5);
      await s.store.put('f-old', pieces(old, 1000));
      for (const after of [0, 1000, s.large + 100]) {
        const data = pseudoRandom(s.large * 2, 6);
        await expect(s.store.put('f-old', failingAfter(data, after))).rejects.toThrow();
        await expect(s.store.put('f-new', failingAfter(data, after))).rejects.toThrow();
        expectBytes(await drain(await s.store.get('f-old')), old);
        const names = (await s.store.list()).map((e) => e.name);
        expect(names).toContain('f-old');
        expect(names).not.toContain('f-new');
        expect((await rejection(s.store.get('f-new'))).code).toBe('IO');
      }
    });

    it('delete removes a name; deleting a missing one is not an error; get of a missing one is IO', async () => {
      await s.store.put('d-name', pieces(Uint8Array.of(1, 2, 3), 1));
      await s.store.delete('d-name');
      await s.store.delete('d-name');
      await s.store.delete('d-never');
      expect((await s.store.list()).map((e) => e.name)).not.toContain('d-name');
      expect((await rejection(s.store.get('d-name'))).code).toBe('IO');
    });

    it('refuses names outside [A-Za-z0-9._-]{1,200}, and . and ..', async () => {
      for (const name of ['', '.', '..', 'a/b', '../x', 'a\\b', 'x'.repeat(201), 'é', 'a b']) {
        expect((await rejection(s.store.put(name, pieces(Uint8Array.of(1), 1)))).code, name).toBe(
          'INVALID_ARGUMENT',
        );
        expect((await rejection(s.store.get(name))).code, name).toBe('INVALID_ARGUMENT');
        expect((await rejection(s.store.delete(name))).code, name).toBe('INVALID_ARGUMENT');
      }
    });

    it('a get stream can be cancelled part-way, and the value is still there', async () => {
      const data = pseudoRandom(300_000, 7);
      await s.store.put('g-cancel', pieces(data, 4096));
      const reader = (await s.store.get('g-cancel')).getReader();
      await reader.read();
      await reader.cancel();
      expectBytes(await drain(await s.store.get('g-cancel')), data);
    });

    const clear = async () => {
      for (const e of await s.store.list()) await s.store.delete(e.name);
    };
    const names = async () => (await s.store.list()).map((e) => e.name).sort();
    const putBytes = (name: string, bytes: Uint8Array) => s.store.put(name, pieces(bytes, 4096));

    it('the lifecycle works on it unchanged: rotation, drill, restore, rollback protection', async () => {
      const key = new Uint8Array(32).fill(9);
      await clear();
      const body1 = pseudoRandom(200_000, 8);
      const body2 = pseudoRandom(s.large + 5000, 9);
      const a = await createBackup(s.store, body1, { set: 'default', key, padding: 'none' });
      const b = await createBackup(s.store, body2, { set: 'default', key, compression: 'none' });
      expect(b.generation).toBe(a.generation + 1);
      expect(b.removed).toEqual([a.name]);
      expect((await listBackups(s.store)).map((e) => [e.name, e.encrypted, e.generation])).toEqual([
        [b.name, true, b.generation],
      ]);
      const r = await restoreLatest(s.store, { key }, { newestSeen: b.generation });
      expectBytes(await drain(r.stream), body2);
      expectBytes((await decryptBackupBytes(await drain(await s.store.get(b.name)), { key })).data, body2);
      await expect(restoreLatest(s.store, { key }, { newestSeen: b.generation + 1 })).rejects.toMatchObject({
        code: 'ROLLBACK',
      });
    });

    it('the lifecycle removes only what it proves superseded, and says why it kept the rest (#16)', async () => {
      const key = new Uint8Array(32).fill(9);
      const otherKey = new Uint8Array(32).fill(8);
      await clear();
      const diary = new TextEncoder().encode('dear diary');
      await putBytes('diary.txt', diary);
      const theirs = await encryptBackupBytes(pseudoRandom(1000, 12), {
        key: otherKey,
        set: 'default',
        generation: 0,
      });
      await putBytes(backupName(0, '111111111111'), theirs);
      const noSet = await encryptBackupBytes(pseudoRandom(1000, 13), { key, generation: 0 });
      await putBytes(backupName(0, '222222222222'), noSet);
      const renamed = await encryptBackupBytes(pseudoRandom(1000, 14), { key, set: 'phone', generation: 1 });
      await putBytes('chats.e2ee', renamed);

      const laptop = await createBackup(s.store, pseudoRandom(50_000, 15), { key, set: 'laptop' });
      expect(laptop.generation).toBe(2); // above every generation that opens, whatever its set
      const phone = await createBackup(s.store, pseudoRandom(s.large + 3000, 16), { key, set: 'phone' });
      expect(phone.removed).toEqual([]);
      const listedBefore = await names();
      const seen: number[] = [];
      const again = await createBackup(s.store, pseudoRandom(60_000, 17), {
        key,
        set: 'phone',
        onGeneration: async (g) => {
          seen.push(g);
          expect(await names()).toEqual(listedBefore); // nothing written yet
        },
      });
      expect(seen).toEqual([phone.generation + 1]);
      expect(again.generation).toBe(phone.generation + 1);
      expect(again.removed).toEqual([phone.name]);
      expect(Object.fromEntries(again.kept.map((k) => [k.name, k.reason]))).toEqual({
        'diary.txt': 'not-a-backup',
        'chats.e2ee': 'not-a-backup',
        [backupName(0, '111111111111')]: 'another-key',
        [backupName(0, '222222222222')]: 'another-set',
        [laptop.name]: 'another-set',
      });
      expectBytes(await drain(await s.store.get('diary.txt')), diary);
      expectBytes(await drain(await s.store.get(backupName(0, '111111111111'))), theirs);
      expectBytes(await drain(await s.store.get('chats.e2ee')), renamed);
      const r = await restoreLatest(s.store, { key }, { set: 'laptop' });
      expectBytes(await drain(r.stream), pseudoRandom(50_000, 15));
    });

    it('fails closed: a damaged newest backup is kept, and nothing is written below it (#16)', async () => {
      const key = new Uint8Array(32).fill(9);
      await clear();
      const v0 = await createBackup(s.store, pseudoRandom(30_000, 18), { set: 'default', key });
      const v1 = await createBackup(s.store, pseudoRandom(s.large + 2000, 19), { set: 'default', key });
      expect(v1.removed).toEqual([v0.name]);
      const damaged = await drain(await s.store.get(v1.name));
      // In the first chunk, which holds the metadata: opening it fails (the body is not read).
      damaged[((damaged[10]! << 8) | damaged[11]!) + 56 + 5]! ^= 1;
      await putBytes(v1.name, damaged);
      const before = await names();
      // No newestSeen: the damaged one may be the newest, so nothing is written.
      await expect(
        createBackup(s.store, pseudoRandom(1000, 20), { set: 'default', key }),
      ).rejects.toMatchObject({
        code: 'NEWEST_UNREADABLE',
        message: expect.stringContaining(v1.name),
      });
      expect(await names()).toEqual(before);
      // onGeneration can stop it before anything is written.
      await expect(
        createBackup(s.store, pseudoRandom(1000, 20), {
          set: 'default',
          key,
          newestSeen: v1.generation,
          onGeneration: () => {
            throw new Error('could not persist');
          },
        }),
      ).rejects.toThrow(/could not persist/);
      expect(await names()).toEqual(before);
      // With the newest generation persisted: above it, and the damaged one kept, not removed.
      const v2 = await createBackup(s.store, pseudoRandom(1000, 21), {
        set: 'default',
        key,
        newestSeen: v1.generation,
      });
      expect(v2.generation).toBe(v1.generation + 1);
      expect(v2.removed).toEqual([]);
      expect(v2.kept).toEqual([expect.objectContaining({ name: v1.name, reason: 'unreadable' })]);
      expectBytes(await drain(await s.store.get(v1.name)), damaged);
      await expect(restoreLatest(s.store, { key }, { newestSeen: v2.generation + 1 })).rejects.toMatchObject({
        code: 'ROLLBACK',
      });
    });
  });
}
