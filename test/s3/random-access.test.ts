// Random access to a stored backup over Range requests: one chunk of the payload, read without
// downloading the object. Needs an S3 server (E2EE_TEST_S3_URL).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2EEError } from '../../src/errors.js';
import { createBackup } from '../../src/lifecycle/lifecycle.js';
import { createMemoryStore } from '../../src/lifecycle/store.js';
import { createS3Store, openBackupPayload } from '../../src/s3/index.js';
import { expectBytes, pseudoRandom } from '../store-contract.js';
import { type CuttingProxy, cuttingProxy, s3Client, s3SkipReason, tempBucket } from './helpers.js';

const key = new Uint8Array(32).fill(3);
const CHUNK = 16384;

/**
 * The framed plaintext of SPEC.md §5 for an uncompressed, unpadded backup, built from the spec
 * (not by the library): metadata record, stored 1 MiB blocks, the end marker.
 */
function framed(metadataJson: string, body: Uint8Array): Uint8Array {
  const meta = new TextEncoder().encode(metadataJson);
  const blocks = Math.ceil(body.length / (1 << 20));
  const out = new Uint8Array(4 + meta.length + blocks * 5 + body.length + 1);
  const v = new DataView(out.buffer);
  v.setUint32(0, meta.length);
  out.set(meta, 4);
  let o = 4 + meta.length;
  for (let i = 0; i < body.length; i += 1 << 20) {
    const block = body.subarray(i, i + (1 << 20));
    out[o] = 0x01;
    v.setUint32(o + 1, block.length);
    out.set(block, o + 5);
    o += 5 + block.length;
  }
  out[o] = 0x00;
  return out;
}

describe.skipIf(s3SkipReason() !== undefined)('S3 store: random access to a stored backup', () => {
  let proxy: CuttingProxy;
  let bucket: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ bucket, cleanup } = await tempBucket(s3Client()));
    proxy = await cuttingProxy();
  });
  afterAll(async () => {
    await proxy?.close();
    await cleanup?.();
  });

  it('reads one chunk of the payload with Range requests, authenticated, without the rest', async () => {
    const body = pseudoRandom(6 * (1 << 20) + 999, 21);
    const store = createS3Store({ client: s3Client({ endpoint: proxy.endpoint }), bucket, prefix: 'ra' });
    const created = await createBackup(store, body, {
      set: 'default',
      key,
      compression: 'none',
      padding: 'none',
      createdAt: new Date('2026-01-02T03:04:05.000Z'),
    });
    const expected = framed(
      JSON.stringify({
        created: '2026-01-02T03:04:05.000Z',
        generation: created.generation,
        app: {},
        set: 'default', // createBackup's set when none is given
      }),
      body,
    );
    const objectSize = (await store.list())[0]!.size;
    const before = proxy.down;
    const reader = await openBackupPayload(await store.source(created.name), { key });
    expect(reader.plaintextSize).toBe(expected.length);
    const k = 200; // a chunk in the middle of the third block
    expectBytes(await reader.read(k * CHUNK, CHUNK), expected.subarray(k * CHUNK, (k + 1) * CHUNK));
    expectBytes(
      await reader.read(k * CHUNK + 100, 50_000),
      expected.subarray(k * CHUNK + 100, k * CHUNK + 50_100),
    );
    expectBytes(await reader.read(expected.length - 10, 10), expected.subarray(expected.length - 10));
    // The header, the final chunk and four records, not the 6 MiB object.
    const fetched = proxy.down - before;
    expect(fetched).toBeLessThan(120_000);
    expect(fetched).toBeLessThan(objectSize / 50);
  });

  it('refuses a wrong key, and a modified chunk fails authentication', async () => {
    const store = createMemoryStore();
    const created = await createBackup(store, pseudoRandom(100_000, 22), {
      set: 'default',
      key,
      compression: 'none',
    });
    const bytes = store.entries.get(created.name)!;
    const source = (b: Uint8Array) => ({
      size: b.length,
      read: async (o: number, n: number) => b.slice(o, o + n),
    });
    await expect(openBackupPayload(source(bytes), { key: new Uint8Array(32) })).rejects.toMatchObject({
      code: 'WRONG_KEY',
    });
    const reader = await openBackupPayload(source(bytes), { key });
    const damaged = bytes.slice();
    damaged[reader.headerSize + 56 + 2 * 16400 + 5]! ^= 1; // inside chunk 2
    const bad = await openBackupPayload(source(damaged), { key });
    await expect(bad.read(CHUNK, CHUNK)).resolves.toBeInstanceOf(Uint8Array);
    const e = await bad.read(2 * CHUNK, 10).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(E2EEError);
    expect((e as E2EEError).code).toBe('CHUNK_AUTH');
  });
});
