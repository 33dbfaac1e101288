// createBackup's resume of an interrupted S3 upload under the ownership rules of issue #16: it
// resumes only its own set's upload, with a generation that is still the newest (monotonic, and
// `onGeneration` first), and it aborts an interrupted upload only once a new backup has verified
// and only when the rules prove it superseded. On an S3 provider in memory (test/s3/fake-s3.ts),
// so that it always runs and sees every byte.
import { describe, expect, it } from 'vitest';
import { createBackup, restoreLatest } from '../../src/lifecycle/lifecycle.js';
import type { BackupStore } from '../../src/lifecycle/store.js';
import { createS3Store } from '../../src/s3/index.js';
import { expectBytes, pseudoRandom } from '../store-contract.js';
import { type FakeS3, fakeS3 } from './fake-s3.js';
import { drain, memoryStates } from './helpers.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const key = new Uint8Array(32).fill(7);
const otherKey = new Uint8Array(32).fill(8);
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

/** A createBackup whose connection is cut after `at` bytes: fails with IO, keeps its upload. */
async function interrupted(
  store: BackupStore,
  fake: FakeS3,
  data: Uint8Array,
  options: Options,
  at = PART + MiB,
) {
  fake.cutAfter(at);
  await expect(createBackup(store, data, options)).rejects.toMatchObject({ code: 'IO' });
  fake.restore();
}

/** The names of the uploads kept (in the state) and open on the provider. */
function pendingNames(s: ReturnType<typeof setup>): { kept: string[]; open: string[] } {
  return {
    kept: [...s.states.map.values()].map((st) => st.key.slice('p/'.length)).sort(),
    open: [...s.fake.uploads.values()].map((u) => u.key.slice('p/'.length)).sort(),
  };
}

/** Part uploads the provider received for `name` so far. */
const sends = (fake: FakeS3, name: string) => fake.received.get(`p/${name}`)?.sends.length ?? 0;

describe('createBackup resumes an interrupted S3 upload by the rules of #16', () => {
  it('resumes its own set’s upload: same name, generation and set, the sent parts not sent again', async () => {
    const s = setup();
    const data = pseudoRandom(8 * MiB, 1);
    await interrupted(s.store, s.fake, data, { key, set: 'laptop' });
    const [name] = pendingNames(s).kept;
    const before = sends(s.fake, name!);
    const generations: number[] = [];
    const made = await createBackup(s.store, data, {
      key,
      set: 'laptop',
      onGeneration: (g) => {
        generations.push(g);
        expect(sends(s.fake, name!)).toBe(before); // nothing sent yet
      },
    });
    expect(made.name).toBe(name);
    expect(made.set).toBe('laptop');
    expect(generations).toEqual([made.generation]);
    // Part 1 was complete on the server: not sent again.
    expect(
      s.fake.received
        .get(`p/${name}`)!
        .sends.slice(before)
        .map((x) => x.part),
    ).not.toContain(1);
    const r = await restoreLatest(s.store, { key });
    expect(r.metadata.set).toBe('laptop');
    expectBytes(await drain(r.stream), data);
    expect(pendingNames(s)).toEqual({ kept: [], open: [] });
  });

  it('leaves another set’s and another key’s interrupted uploads alone, and writes above their generations', async () => {
    const s = setup();
    const data = pseudoRandom(8 * MiB, 2);
    await interrupted(s.store, s.fake, data, { key, set: 'phone' });
    await interrupted(s.store, s.fake, data, { key: otherKey, set: 'laptop' });
    const kept = pendingNames(s);
    expect(kept.kept).toHaveLength(2);
    const made = await createBackup(s.store, data, { key, set: 'laptop' });
    expect(kept.kept).not.toContain(made.name);
    // The phone's interrupted upload (generation 0) counts: the new backup is above it.
    expect(made.generation).toBe(1);
    expect(pendingNames(s)).toEqual(kept);
    // The other key's is still its owner's to resume. The laptop's generation 1 does not open
    // with that key, and without newestSeen it stops a create (NEWEST_UNREADABLE): its owner
    // knows it is another key's backup.
    const other = await createBackup(s.store, data, {
      key: otherKey,
      set: 'laptop',
      allowUnreadableNewest: true,
    });
    expect(kept.kept).toContain(other.name);
    expect(other.generation).toBe(0);
    // The phone's own next backup is above the laptop's generation 1, so it cannot resume
    // generation 0: it writes generation 2 and only then aborts its superseded upload.
    const phone = await createBackup(s.store, data, { key, set: 'phone' });
    expect(kept.kept).not.toContain(phone.name);
    expect(phone.generation).toBe(2);
    expect(pendingNames(s)).toEqual({ kept: [], open: [] });
  });

  it('resumes when newestSeen is the interrupted attempt’s own generation, not when it is larger', async () => {
    const s = setup();
    const data = pseudoRandom(8 * MiB, 3);
    let persisted = -1;
    const onGeneration = (g: number) => {
      persisted = Math.max(persisted, g);
    };
    await interrupted(s.store, s.fake, data, { set: 'default', key, onGeneration });
    expect(persisted).toBe(0);
    const [name] = pendingNames(s).kept;
    // The largest generation used, as onGeneration's contract asks: the same backup resumes.
    const made = await createBackup(s.store, data, {
      set: 'default',
      key,
      newestSeen: persisted,
      onGeneration,
    });
    expect([made.name, made.generation]).toEqual([name, 0]);

    // A generation seen above the interrupted one: a new backup, and the old upload is aborted.
    await interrupted(s.store, s.fake, data, { set: 'default', key, newestSeen: 0 });
    const [stale] = pendingNames(s).kept;
    const newer = await createBackup(s.store, data, { set: 'default', key, newestSeen: 5 });
    expect(newer.name).not.toBe(stale);
    expect(newer.generation).toBe(6);
    expect(pendingNames(s)).toEqual({ kept: [], open: [] });
  });

  it('a backup in the store at the interrupted generation or above stops the resume', async () => {
    const s = setup();
    const data = pseudoRandom(8 * MiB, 4);
    await interrupted(s.store, s.fake, data, { key, set: 'phone' });
    const [name] = pendingNames(s).kept;
    // Another machine (its own resume state) writes generation 0 meanwhile: it cannot see the
    // unfinished upload. Two backups of one generation must not both be this key's newest.
    const elsewhere = createS3Store({
      client: s.fake.client,
      bucket: 'b',
      prefix: 'p',
      resume: memoryStates(),
    });
    const laptop = await createBackup(elsewhere, pseudoRandom(1000, 5), { key, set: 'laptop' });
    expect(laptop.generation).toBe(0);
    const phone = await createBackup(s.store, data, { key, set: 'phone' });
    expect(phone.name).not.toBe(name);
    expect(phone.generation).toBe(1);
    expect(pendingNames(s)).toEqual({ kept: [], open: [] });
  });

  it('other options: a new backup above it, and the interrupted upload aborted only after the drill', async () => {
    const s = setup();
    const data = pseudoRandom(8 * MiB, 6);
    await interrupted(s.store, s.fake, data, { set: 'default', key });
    const kept = pendingNames(s);
    // The restore drill cannot read the new backup: it fails, and the old upload stays.
    const failingDrill: BackupStore = {
      ...s.store,
      async get() {
        throw new Error('injected: the drill cannot read');
      },
    };
    await expect(
      createBackup(failingDrill, data, { set: 'default', key, metadata: { v: 2 } }),
    ).rejects.toThrow(/injected/);
    expect(pendingNames(s)).toEqual(kept);
    const made = await createBackup(s.store, data, { set: 'default', key, metadata: { v: 2 } });
    expect(made.generation).toBe(1);
    expect(pendingNames(s)).toEqual({ kept: [], open: [] });
  });

  it('an onGeneration that rejects stops the resume before a byte is sent; the upload stays', async () => {
    const s = setup();
    const data = pseudoRandom(8 * MiB, 7);
    await interrupted(s.store, s.fake, data, { set: 'default', key });
    const kept = pendingNames(s);
    const before = sends(s.fake, kept.kept[0]!);
    await expect(
      createBackup(s.store, data, {
        set: 'default',
        key,
        onGeneration: () => {
          throw new Error('could not persist');
        },
      }),
    ).rejects.toThrow(/could not persist/);
    expect(sends(s.fake, kept.kept[0]!)).toBe(before);
    expect(pendingNames(s)).toEqual(kept);
  });
});
