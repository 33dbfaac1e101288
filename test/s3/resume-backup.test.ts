// createBackup on the S3 store when the connection is cut: the next createBackup resumes the same
// backup (same name, header, salt, creation time), sends only what the server lacks, and stores
// an object byte-identical to an uninterrupted run with the same random values. Needs an S3
// server (E2EE_TEST_S3_URL).
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { decryptBackupBytes } from '../../src/container/backup.js';
import { createBackup, restoreLatest } from '../../src/lifecycle/lifecycle.js';
import { createS3Store, type UploadStateStore } from '../../src/s3/index.js';
import { expectBytes, pseudoRandom } from '../store-contract.js';
import { xorshift } from '../util.js';
import {
  type CuttingProxy,
  cuttingProxy,
  drain,
  memoryStates,
  openUploads,
  s3Client,
  s3SkipReason,
  tempBucket,
} from './helpers.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const key = new Uint8Array(32).fill(7);
const createdAt = new Date('2026-12-01T10:00:00.000Z');

/** Makes the platform's random source deterministic (file keys, salts, names) until restored. */
function seedRandom(seed: number): void {
  const next = xorshift(seed);
  const fill = (a: ArrayBufferView) => {
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    for (let i = 0; i < bytes.length; i++) bytes[i] = next() & 0xff;
    return a;
  };
  vi.spyOn(globalThis.crypto, 'getRandomValues').mockImplementation(fill as typeof crypto.getRandomValues);
}

/** A source of 24 MiB, a quarter compressible: deflate and stored blocks, four 5 MiB parts. */
function source(): Uint8Array {
  const data = pseudoRandom(24 * MiB, 31);
  for (let i = 0; i < data.length; i += 4 * MiB) data.fill(i % 3, i, i + MiB);
  return data;
}

describe.skipIf(s3SkipReason() !== undefined)('createBackup on S3: a cut upload resumes', () => {
  let direct: S3Client;
  let proxy: CuttingProxy;
  let bucket: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    direct = s3Client();
    ({ bucket, cleanup } = await tempBucket(direct));
    proxy = await cuttingProxy();
  });
  afterAll(async () => {
    await proxy?.close();
    await cleanup?.();
  });
  afterEach(() => {
    vi.restoreAllMocks();
    proxy.restore();
  });

  const store = (prefix: string, states?: UploadStateStore) =>
    createS3Store({
      client: s3Client({ endpoint: proxy.endpoint, maxAttempts: 1 }),
      bucket,
      prefix,
      partSize: PART,
      queueSize: 2,
      resume: states,
    });
  const object = async (key_: string) =>
    drain(
      (await direct.send(new GetObjectCommand({ Bucket: bucket, Key: key_ }))).Body!.transformToWebStream(),
    );

  it('stores the same bytes as an uninterrupted run, re-sending only the missing parts', async () => {
    const data = source();
    seedRandom(99);
    const clean = await createBackup(store('clean'), data, {
      set: 'default',
      key,
      createdAt,
      metadata: { app: 'chat' },
    });
    vi.restoreAllMocks();
    const cleanBytes = await object(`clean/${clean.name}`);

    const states = memoryStates();
    seedRandom(99);
    proxy.cutAfter('up', 2 * PART + MiB, { stayDown: true });
    await expect(
      createBackup(store('cut', states), data, { set: 'default', key, createdAt, metadata: { app: 'chat' } }),
    ).rejects.toMatchObject({ code: 'IO' });
    vi.restoreAllMocks(); // the resumed run draws different random values: it must not use them
    proxy.restore();
    const kept = [...states.map.values()][0]!;
    const skipped = kept.parts.filter((p) => p.etag).reduce((n, p) => n + p.size, 0);
    expect(skipped).toBeGreaterThan(0);

    const up = proxy.up;
    // No createdAt this time: the resumed backup takes the interrupted one's.
    const resumed = await createBackup(store('cut', states), data, {
      set: 'default',
      key,
      metadata: { app: 'chat' },
    });
    expect(resumed.name).toBe(clean.name);
    expect(resumed.generation).toBe(clean.generation);
    expectBytes(await object(`cut/${resumed.name}`), cleanBytes);
    expect(proxy.up - up).toBeLessThan(cleanBytes.length - skipped + 512 * 1024);
    expect(states.map.size).toBe(0);
    expect(await openUploads(direct, bucket)).toEqual([]);
    const r = await restoreLatest(store('cut'), { key });
    expectBytes(await drain(r.stream), data);
    expect(r.metadata.created).toBe(createdAt.toISOString());
  });

  it('a source changed since the cut fails the resume, aborts the old upload, and the next run starts afresh', async () => {
    const data = source();
    const states = memoryStates();
    proxy.cutAfter('up', PART + MiB, { stayDown: true });
    await expect(createBackup(store('changed', states), data, { set: 'default', key })).rejects.toMatchObject(
      { code: 'IO' },
    );
    proxy.restore();
    const changed = data.slice();
    changed[100]! ^= 1;
    await expect(createBackup(store('changed', states), changed, { set: 'default', key })).rejects.toThrow(
      /differs from what the interrupted upload sent/,
    );
    expect(await openUploads(direct, bucket)).toEqual([]);
    const fresh = await createBackup(store('changed', states), changed, { set: 'default', key });
    const { data: back } = await decryptBackupBytes(await object(`changed/${fresh.name}`), { key });
    expectBytes(back, changed);
  });

  it('other options: a new backup supersedes the interrupted one; another key’s is left alone', async () => {
    const data = pseudoRandom(12 * MiB, 33);
    const states = memoryStates();
    const otherKey = new Uint8Array(32).fill(8);
    proxy.cutAfter('up', PART + MiB, { stayDown: true });
    await expect(
      createBackup(store('opts', states), data, { set: 'default', key: otherKey }),
    ).rejects.toMatchObject({
      code: 'IO',
    });
    proxy.restore();
    proxy.cutAfter('up', PART + MiB, { stayDown: true });
    await expect(createBackup(store('opts', states), data, { set: 'default', key })).rejects.toMatchObject({
      code: 'IO',
    });
    proxy.restore();
    expect(states.map.size).toBe(2);
    // Same key, other metadata: this set's interrupted backup cannot be resumed; the new backup
    // gets a generation above it, and once verified aborts it (same set, lower generation).
    const made = await createBackup(store('opts', states), data, { set: 'default', key, metadata: { v: 2 } });
    const pending = await store('opts', states).pendingPuts();
    expect(pending).toHaveLength(1);
    expect(pending[0]!.name).not.toBe(made.name);
    // The other key's interrupted backup is still there, and still resumes (the new backup above
    // it does not open with that key: its owner says so, as no newestSeen is given).
    const other = await createBackup(store('opts', states), data, {
      set: 'default',
      key: otherKey,
      allowUnreadableNewest: true,
    });
    expect(other.name).toBe(pending[0]!.name);
    expect(await openUploads(direct, bucket)).toEqual([]);
  });
});
