// SPEC.md §11: a resumed upload reuses the interrupted one's file key and salt, so every AES-GCM
// key and nonce repeats; it is safe only if the provider never receives two different values at
// one offset of the object (then no nonce ever encrypts two different plaintexts it can see).
// One test per case that could break that, each on an S3 provider in memory that keeps every byte
// it received, including the first bytes of a part whose request was cut (test/s3/fake-s3.ts).
import { describe, expect, it } from 'vitest';
import { encryptBackupBytes } from '../../src/container/backup.js';
import { createBackup, restoreLatest } from '../../src/lifecycle/lifecycle.js';
import type { BackupStore } from '../../src/lifecycle/store.js';
import { createS3Store } from '../../src/s3/index.js';
import { expectBytes, pseudoRandom } from '../store-contract.js';
import { conflicts, type FakeS3, fakeS3 } from './fake-s3.js';
import { drain, memoryStates } from './helpers.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const key = new Uint8Array(32).fill(7);
type Options = Parameters<typeof createBackup>[2];

function setup() {
  const fake = fakeS3();
  const states = memoryStates();
  const store = createS3Store({
    client: fake.client,
    bucket: 'b',
    prefix: 'p',
    partSize: PART,
    queueSize: 2,
    resume: states,
  });
  return { fake, states, store };
}

/** A createBackup cut after `at` bytes reached the provider; returns the name it was writing. */
async function interrupted(
  s: ReturnType<typeof setup>,
  data: Uint8Array,
  at: number,
  options: Options = { key, set: 'default' },
): Promise<string> {
  s.fake.cutAfter(at);
  await expect(createBackup(s.store, data, options)).rejects.toMatchObject({ code: 'IO' });
  s.fake.restore();
  const [state] = [...s.states.map.values()];
  return state!.key.slice('p/'.length);
}

/** Offsets of `name` at which the provider has seen two different bytes (must be 0). */
const conflictsOf = (fake: FakeS3, name: string) => conflicts(fake.received.get(`p/${name}`), () => PART);

/** The parts of `name` the provider received, as [part, bytes, whole] from the `from`-th send on. */
const sent = (fake: FakeS3, name: string, from = 0) =>
  (fake.received.get(`p/${name}`)?.sends ?? []).slice(from).map((x) => [x.part, x.bytes.length, x.whole]);

/** The payload salt of a stored backup (after its header). */
function saltOf(object: Uint8Array): string {
  const h = (object[10]! << 8) | object[11]!;
  return Buffer.from(object.subarray(h, h + 24)).toString('hex');
}

/** Expects the resume of `name` with `changed` to fail, send no new bytes, and leave no upload. */
async function refusedResume(
  s: ReturnType<typeof setup>,
  name: string,
  changed: Uint8Array,
  options: Options = { key, set: 'default' },
) {
  const before = s.fake.received.get(`p/${name}`)!.sends.length;
  await expect(createBackup(s.store, changed, options)).rejects.toThrow(
    /differs from what the interrupted upload sent|shorter than the interrupted upload/,
  );
  expect(sent(s.fake, name, before)).toEqual([]); // nothing at all went up
  expect(conflictsOf(s.fake, name)).toBe(0);
  expect(s.fake.uploads.size).toBe(0); // aborted
  expect(s.states.map.size).toBe(0); // and its keys forgotten: the next backup draws new ones
}

describe('SPEC.md §11: a resume never sends two different bytes at one offset', () => {
  it('a part whose hash was recorded but whose bytes were only partly sent is never sent with other bytes', async () => {
    const s = setup();
    const data = pseudoRandom(12 * MiB, 1);
    const name = await interrupted(s, data, PART + 2 * MiB);
    // Part 1 arrived whole, part 2 only its first 2 MiB (no ETag: the server kept nothing of it).
    expect(sent(s.fake, name)).toContainEqual([2, 2 * MiB, false]);
    const part2 = [...s.states.map.values()][0]!.parts.find((p) => p.number === 2)!;
    expect(part2.etag).toBeUndefined();
    // The source changes inside what the provider saw of part 2.
    const changed = data.slice();
    changed[6 * MiB]! ^= 1;
    await refusedResume(s, name, changed);
    const fresh = await createBackup(s.store, changed, { set: 'default', key });
    expect(fresh.name).not.toBe(name);
    expectBytes(await drain((await restoreLatest(s.store, { key })).stream), changed);
  });

  it('compression: a change early in the source moves every later byte, and is caught where it was sent', async () => {
    const s = setup();
    // Four bits of entropy per byte: each 1 MiB block deflates to about half.
    const data = pseudoRandom(24 * MiB, 2).map((b) => 0x41 + (b & 15));
    const name = await interrupted(s, data, PART + 2 * MiB);
    // 64 KiB of the first block made compressible: that block shrinks, and everything after it,
    // in every part, shifts. The server has part 1 complete (with its ETag).
    const changed = data.slice();
    changed.fill(0x41, 100_000, 165_536);
    await refusedResume(s, name, changed);
    // Nothing of the two versions was spliced: the next backup is whole and new.
    await createBackup(s.store, changed, { set: 'default', key });
    expectBytes(await drain((await restoreLatest(s.store, { key })).stream), changed);
  });

  it('padding: a source a few bytes shorter pads to the same size, and is still caught', async () => {
    const s = setup();
    const data = pseudoRandom(12 * MiB + 5000, 3);
    const shorter = data.subarray(0, data.length - 7);
    const [a, b] = await Promise.all(
      // As createBackup writes them (its set, generation 0): only the creation time differs.
      [data, shorter].map((d) =>
        encryptBackupBytes(d, { key, createdAt: new Date(), generation: 0, set: 'default' }),
      ),
    );
    expect(a!.length).toBe(b!.length); // Padmé hides the difference in length
    // Cut in the last part, after the changed region (the last block's length) has gone up.
    const name = await interrupted(s, data, a!.length - 2000);
    expect(sent(s.fake, name).at(-1)).toEqual([3, a!.length - 2 * PART - 2000, false]);
    await refusedResume(s, name, shorter);
  });

  it('the final chunk: a shorter source ends its short final chunk where a full chunk was sent', async () => {
    const s = setup();
    const options: Options = { key, set: 'default', compression: 'none', padding: 'none' };
    const data = pseudoRandom(12 * MiB, 4);
    const total = (await encryptBackupBytes(data, { ...options, generation: 0, set: 'default' })).length;
    const name = await interrupted(s, data, total - 20_000, options);
    expect(sent(s.fake, name).at(-1)).toEqual([3, total - 2 * PART - 20_000, false]);
    // Cobblestone marks the final chunk by its length, not in its nonce: chunk i, full before,
    // would be the short final chunk now, under the same nonce, inside the part partly sent.
    await refusedResume(s, name, data.subarray(0, data.length - 30_000), options);
  });

  it('a source that changes after the first differing part: nothing more is sent under those keys, ever', async () => {
    const s = setup();
    const data = pseudoRandom(24 * MiB, 5);
    const name = await interrupted(s, data, 3 * PART + MiB);
    const firstSalt = saltOf(s.fake.received.get(`p/${name}`)!.sends[0]!.bytes);
    // Differs in part 2, and again in parts 3 and 4 (part 4 was only partly sent).
    const changed = data.slice();
    for (const at of [7 * MiB, 12 * MiB, 15 * MiB + 100]) changed[at]! ^= 0xff;
    await refusedResume(s, name, changed);
    // The next attempt, with yet other bytes, is a new message: new name, new salt.
    const again = changed.slice();
    again[20 * MiB]! ^= 1;
    const made = await createBackup(s.store, again, { set: 'default', key });
    expect(made.name).not.toBe(name);
    const object = s.fake.objects.get(`p/${made.name}`)!;
    expect(saltOf(object)).not.toBe(firstSalt);
    expect(conflictsOf(s.fake, name)).toBe(0);
    expect(conflictsOf(s.fake, made.name)).toBe(0);
  });

  it('two resumes of one upload at once, with different sources: one goes on, the other sends nothing', async () => {
    const s = setup();
    const data = pseudoRandom(24 * MiB, 6);
    const name = await interrupted(s, data, PART + MiB);
    // Equal where the interrupted upload sent anything; different in a part never started.
    const a = data.slice();
    const b = data.slice();
    a[22 * MiB]! ^= 1;
    b[22 * MiB]! ^= 2;
    // Both have chosen to resume before either writes: they meet at put.
    let arrived = 0;
    let open = () => {};
    const barrier = new Promise<void>((r) => {
      open = r;
    });
    const meeting: BackupStore = {
      ...s.store,
      async put(n, d) {
        if (++arrived === 2) open();
        await barrier;
        return s.store.put(n, d);
      },
    };
    const results = await Promise.allSettled([
      createBackup(meeting, a, { set: 'default', key }),
      createBackup(meeting, b, { set: 'default', key }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(String(failed.reason)).toMatch(/another upload of p\/backup-\S+ is under way/);
    expect(conflictsOf(s.fake, name)).toBe(0);
    const won = results[0]!.status === 'fulfilled' ? a : b;
    expect(
      (results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ name: string }>).value.name,
    ).toBe(name);
    // The one that lost removed nothing: the winner's backup is there and whole.
    expectBytes(await drain((await restoreLatest(s.store, { key })).stream), won);
  });

  it('an upload another resume is writing is neither resumed nor aborted: the new backup goes beside it', async () => {
    const s = setup();
    const data = pseudoRandom(12 * MiB, 7);
    const name = await interrupted(s, data, PART + MiB);
    const held = s.fake.holdNextPart();
    const first = createBackup(s.store, data, { set: 'default', key });
    await held; // resuming, with part 2 on its way
    const other = data.slice();
    other[11 * MiB]! ^= 1;
    const second = await createBackup(s.store, other, { set: 'default', key });
    expect(second.name).not.toBe(name);
    expect(second.generation).toBe(1); // above the interrupted generation 0
    expect([...s.fake.uploads.values()].map((u) => u.key)).toEqual([`p/${name}`]); // left alone
    s.fake.release();
    const resumed = await first;
    expect(resumed.name).toBe(name);
    // Both stand: the resumed generation 0, and beside it the newer one, which restores.
    expect([...s.fake.objects.keys()].sort()).toEqual([`p/${name}`, `p/${second.name}`].sort());
    expectBytes(await drain((await restoreLatest(s.store, { key })).stream), other);
    expect(conflictsOf(s.fake, name)).toBe(0);
  });
});
