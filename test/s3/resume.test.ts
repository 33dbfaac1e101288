// The S3 store under a cut connection (a loopback proxy that drops after N bytes): uploads resume
// without re-sending completed parts, downloads resume with a Range request, and an aborted
// upload leaves no object and no open multipart upload. Needs an S3 server (E2EE_TEST_S3_URL).

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, ListPartsCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2EEError } from '../../src/errors.js';
import { createS3Store, type UploadStateStore, uploadStateFolder } from '../../src/s3/index.js';
import { expectBytes, pseudoRandom } from '../store-contract.js';
import {
  type CuttingProxy,
  cuttingProxy,
  drain,
  memoryStates,
  openUploads,
  s3Client,
  s3SkipReason,
  streamOf,
  tempBucket,
} from './helpers.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;

describe.skipIf(s3SkipReason() !== undefined)('S3 store: failures, resume, abort', () => {
  let direct: S3Client;
  let bucket: string;
  let cleanup: () => Promise<void>;
  let proxy: CuttingProxy;
  beforeAll(async () => {
    direct = s3Client();
    ({ bucket, cleanup } = await tempBucket(direct));
    proxy = await cuttingProxy();
  });
  afterAll(async () => {
    await proxy?.close();
    await cleanup?.();
  });

  // Through the proxy, one attempt per request: a cut fails the call instead of being retried.
  const store = (states?: UploadStateStore) =>
    createS3Store({
      client: s3Client({ endpoint: proxy.endpoint, maxAttempts: 1 }),
      bucket,
      prefix: 'resume',
      partSize: PART,
      queueSize: 2,
      resume: states,
    });

  it('an upload cut mid-way resumes without re-sending completed parts; the object is byte-identical', async () => {
    const data = pseudoRandom(4 * PART + 3 * MiB, 11); // five parts, the last one short
    const states = memoryStates();
    proxy.cutAfter('up', 2 * PART + MiB, { stayDown: true });
    const err = await store(states)
      .put('cut-up', streamOf(data))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(E2EEError);
    expect((err as E2EEError).code).toBe('IO');
    expect((err as E2EEError).message).toMatch(/writing the same bytes again resumes it/);
    // Kept: the upload is open on the server, the object is not visible, and the state says so.
    expect(await openUploads(direct, bucket)).toEqual(['resume/cut-up']);
    await expect(
      direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'resume/cut-up' })),
    ).rejects.toThrow();
    const state = [...states.map.values()][0]!;
    const complete = state.parts.filter((p) => p.etag !== undefined);
    expect(complete.length).toBeGreaterThanOrEqual(1);
    // The server agrees with the state about the completed parts.
    const listed = await direct.send(
      new ListPartsCommand({ Bucket: bucket, Key: 'resume/cut-up', UploadId: state.uploadId }),
    );
    for (const p of complete)
      expect(listed.Parts?.find((q) => q.PartNumber === p.number)).toMatchObject({
        ETag: p.etag,
        Size: p.size,
      });
    // Write-ahead: each part's hash was saved before the part was sent (no save added a part
    // together with its ETag).
    for (const p of state.parts)
      expect(
        states.saves.some((s) => s.parts.some((q) => q.number === p.number && q.etag === undefined)),
      ).toBe(true);

    proxy.restore();
    const upBefore = proxy.up;
    const progress: [number, number][] = [];
    await createS3Store({
      client: s3Client({ endpoint: proxy.endpoint, maxAttempts: 1 }),
      bucket,
      prefix: 'resume',
      partSize: PART,
      queueSize: 2,
      resume: states,
      onUploadProgress: (p) => progress.push([p.sent, p.resumed]),
    }).put('cut-up', streamOf(data));
    const skipped = complete.reduce((n, p) => n + p.size, 0);
    const resent = proxy.up - upBefore;
    // Only the missing parts (plus HTTP overhead) went over the wire again.
    expect(resent).toBeGreaterThanOrEqual(data.length - skipped);
    expect(resent).toBeLessThan(data.length - skipped + 256 * 1024);
    expect(progress.at(-1)).toEqual([data.length - skipped, skipped]);
    expectBytes(
      await drain(await createS3Store({ client: direct, bucket, prefix: 'resume' }).get('cut-up')),
      data,
    );
    expect(await openUploads(direct, bucket)).toEqual([]);
    expect(states.map.size).toBe(0);
  });

  it('a resume with different bytes aborts the old upload and fails, sending none of them', async () => {
    const data = pseudoRandom(3 * PART + 100, 12);
    const states = memoryStates();
    proxy.cutAfter('up', PART + MiB, { stayDown: true });
    await expect(store(states).put('cut-changed', streamOf(data))).rejects.toThrow(/resumes it/);
    proxy.restore();
    const changed = data.slice();
    changed[10]! ^= 1; // in part 1, which the server already has
    const upBefore = proxy.up;
    await expect(store(states).put('cut-changed', streamOf(changed))).rejects.toThrow(
      /differs from what the interrupted upload sent/,
    );
    expect(proxy.up - upBefore).toBeLessThan(64 * 1024); // a listing and an abort, no part
    expect(await openUploads(direct, bucket)).toEqual([]);
    expect(states.map.size).toBe(0);
    // The next put starts afresh.
    await store(states).put('cut-changed', streamOf(changed));
    expectBytes(await drain(await store().get('cut-changed')), changed);
  });

  it('a download cut mid-way resumes with a Range request; the bytes are identical', async () => {
    const data = pseudoRandom(3 * PART + 777, 13);
    await createS3Store({ client: direct, bucket, prefix: 'resume' }).put('cut-down', streamOf(data));
    const s = store();
    const before = proxy.connections;
    const downBefore = proxy.down;
    const stream = await s.get('cut-down');
    proxy.cutAfter('down', 4 * MiB); // once: the next connection goes through
    expectBytes(await drain(stream), data);
    await proxy.cut();
    expect(proxy.connections - before).toBeGreaterThanOrEqual(2);
    // Roughly the object once, not twice.
    expect(proxy.down - downBefore).toBeLessThan(data.length + 4 * MiB + 64 * 1024);
  });

  it('a download that keeps failing errors with IO instead of hanging', async () => {
    const data = pseudoRandom(2 * PART, 14);
    await createS3Store({ client: direct, bucket, prefix: 'resume' }).put('cut-dead', streamOf(data));
    const stream = await store().get('cut-dead');
    proxy.cutAfter('down', MiB, { stayDown: true });
    await expect(drain(stream)).rejects.toMatchObject({ code: 'IO' });
    proxy.restore();
  });

  it('a producer that aborts leaves no object, no open upload and no state', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'e2ee-s3-abort-'));
    try {
      const states = uploadStateFolder(dir);
      const data = pseudoRandom(4 * PART, 15);
      let o = 0;
      const aborting = new ReadableStream<Uint8Array>({
        pull(c) {
          if (o >= 2 * PART + 12345) return c.error(new E2EEError('ABORTED', 'stopped by the user'));
          c.enqueue(data.slice(o, o + 65536));
          o += 65536;
        },
      });
      await expect(
        createS3Store({ client: direct, bucket, prefix: 'resume', partSize: PART, resume: states }).put(
          'aborted',
          aborting,
        ),
      ).rejects.toMatchObject({ code: 'ABORTED' });
      expect(await openUploads(direct, bucket)).not.toContain('resume/aborted');
      await expect(
        direct.send(new HeadObjectCommand({ Bucket: bucket, Key: 'resume/aborted' })),
      ).rejects.toThrow();
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('discardPut aborts a kept upload and forgets it', async () => {
    const states = memoryStates();
    proxy.cutAfter('up', PART + MiB, { stayDown: true });
    await expect(store(states).put('discard', streamOf(pseudoRandom(3 * PART, 16)))).rejects.toThrow(
      /resumes it/,
    );
    proxy.restore();
    const s = store(states);
    expect((await s.pendingPuts()).map((p) => p.name)).toEqual(['discard']);
    await s.discardPut('discard');
    expect(await s.pendingPuts()).toEqual([]);
    expect(await openUploads(direct, bucket)).toEqual([]);
  });
});
