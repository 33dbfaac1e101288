/**
 * A byte stream written to one S3 object: a single `PutObject` when it fits in one part, else a
 * multipart upload completed only after its last part, so that the object appears whole or not
 * at all. Parts are read straight into reused buffers (a BYOB reader when the stream is a byte
 * stream) and a bounded number are in flight.
 *
 * Resumable: with an {@link UploadStateStore}, every part's size and SHA-256 are saved durably
 * *before* its first byte is sent, and its ETag once the server has it. If the upload fails on
 * the S3 side (after the SDK's own retries), the upload and its state are kept; a later upload of
 * the same bytes to the same key skips the parts the server already has and sends the rest. A
 * part that was ever started is sent again only if its bytes hash the same as before: for a
 * backup, the ciphertext under one key and nonce is then never two different things (SPEC.md
 * §11). If the bytes differ, the old upload is aborted, its state removed, and the call fails; if
 * the *producer* fails (an abort, a read error), the upload is aborted and its state removed. One
 * writer per upload: the state is locked while an upload works on it.
 *
 * @module
 */

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  type ListPartsCommandOutput,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { E2EEError } from '../errors.js';
import { toHex } from '../internal/bytes.js';
import { byobReaderOf, cancelQuietly } from '../internal/streams.js';
import { s3Error, s3ErrorName } from './errors.js';
import type { UploadedPart, UploadState, UploadStateStore } from './state.js';

/** S3's smallest part (all but the last). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** S3's largest part. */
const MAX_PART_SIZE = 5 * 1024 ** 3;
/** S3's most parts in one upload. */
const MAX_PARTS = 10_000;
/** Parts double in size after every this many, so that 10 000 parts of 8 MiB reach about 8 TB. */
const GROW_EVERY = 1000;
/** How much of the object's start the state keeps (a backup's header and metadata fit). */
export const HEAD_SIZE = 96 * 1024;

/** The size of part `n` (from 1) of an upload whose first part is `first` bytes. */
export function partSizeOf(first: number, n: number): number {
  return Math.min(MAX_PART_SIZE, first * 2 ** Math.floor((n - 1) / GROW_EVERY));
}

/** How one upload is done. */
export interface UploadTarget {
  readonly client: S3Client;
  readonly bucket: string;
  readonly key: string;
  /** Bytes of the first part (≥ 5 MiB). */
  readonly partSize: number;
  /** Parts in flight at once (at the first part's size; fewer when parts have grown). */
  readonly queueSize: number;
  /** Where the upload is remembered while it is unfinished; without it a failure aborts it. */
  readonly states?: UploadStateStore;
  /** The upload's id in `states`. */
  readonly stateId: string;
  /** Called as parts complete: bytes sent in this call, and bytes found already uploaded. */
  readonly onProgress?: (sent: number, resumed: number) => void;
}

/** Why an upload stopped: the producer's error, the server's, or a resume that does not match. */
type Stop = { kind: 'producer' | 'store' | 'mismatch'; error: unknown };

type NodeCrypto = { createHash(a: string): { update(b: Uint8Array): { digest(e: 'hex'): string } } };
const nodeCrypto = (
  globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
).process?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;

/** SHA-256 in hex: node:crypto where it exists (WebCrypto would copy each 8 MiB part first). */
async function sha256Hex(bytes: Uint8Array): Promise<string> {
  if (nodeCrypto) return nodeCrypto.createHash('sha256').update(bytes).digest('hex');
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return toHex(digest);
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000)
    s += String.fromCharCode(...bytes.subarray(i, Math.min(bytes.length, i + 0x8000)));
  return btoa(s);
}

/** Reads a stream in parts, each into a buffer the caller hands in (and gets back, filled). */
function partReader(stream: ReadableStream<Uint8Array>) {
  const byob = byobReaderOf(stream);
  const reader = byob ?? stream.getReader();
  let carry: Uint8Array | undefined; // a default reader's piece that ran past the last part
  let done = false;
  return {
    /** Fills `buffer` with up to `size` bytes; `ended` once the stream has closed. */
    async fill(buffer: ArrayBuffer, size: number): Promise<{ bytes: Uint8Array; ended: boolean }> {
      let ab = buffer;
      let n = 0;
      while (n < size && !done) {
        if (byob) {
          const r = await byob.read(new Uint8Array(ab, n, size - n));
          if (r.value) {
            ab = r.value.buffer as ArrayBuffer; // the read moved the memory; it comes back here
            n += r.value.length;
          }
          if (r.done) done = true;
          continue;
        }
        let piece = carry;
        carry = undefined;
        if (!piece) {
          const r = await (reader as ReadableStreamDefaultReader<Uint8Array>).read();
          if (r.done) {
            done = true;
            break;
          }
          piece = r.value;
        }
        const take = Math.min(piece.length, size - n);
        new Uint8Array(ab, n, take).set(piece.subarray(0, take));
        n += take;
        if (take < piece.length) carry = piece.subarray(take);
      }
      return { bytes: new Uint8Array(ab, 0, n), ended: done && !carry };
    },
    cancel: (reason: unknown) => cancelQuietly(reader, reason),
    release: () => reader.releaseLock(),
  };
}

/** The parts the server holds for `uploadId`, or `undefined` when the upload no longer exists. */
async function serverParts(
  t: UploadTarget,
  uploadId: string,
): Promise<Map<number, { size: number; etag: string }> | undefined> {
  const out = new Map<number, { size: number; etag: string }>();
  let marker: string | undefined;
  for (;;) {
    let r: ListPartsCommandOutput;
    try {
      r = await t.client.send(
        new ListPartsCommand({ Bucket: t.bucket, Key: t.key, UploadId: uploadId, PartNumberMarker: marker }),
      );
    } catch (e) {
      if (s3ErrorName(e) === 'NoSuchUpload') return undefined;
      throw s3Error(`cannot list the parts of the unfinished upload of ${t.key}`, e);
    }
    for (const p of r.Parts ?? [])
      if (p.PartNumber !== undefined && p.ETag !== undefined)
        out.set(p.PartNumber, { size: p.Size ?? -1, etag: p.ETag });
    if (!r.IsTruncated || !r.NextPartNumberMarker) return out;
    marker = r.NextPartNumberMarker;
  }
}

/** Aborts `uploadId`, tolerating one that is already gone. */
export async function abortUpload(t: Pick<UploadTarget, 'client' | 'bucket' | 'key'>, uploadId: string) {
  try {
    await t.client.send(
      new AbortMultipartUploadCommand({ Bucket: t.bucket, Key: t.key, UploadId: uploadId }),
    );
  } catch (e) {
    if (s3ErrorName(e) !== 'NoSuchUpload') throw s3Error(`cannot abort the upload of ${t.key}`, e);
  }
}

/**
 * Writes `data` to `t.key`; see the module comment for what happens on failure.
 *
 * @throws `IO` if S3 fails (the upload is kept for resuming when `t.states` is given) or if the
 * bytes differ from an interrupted upload's; whatever `data` errors with (the upload aborted).
 */
export async function uploadObject(data: ReadableStream<Uint8Array>, t: UploadTarget): Promise<void> {
  if (!t.states) return upload(data, t);
  // One writer per upload: two that resumed one at once could each send a part never sent
  // before, with different bytes under the same keys (SPEC.md §11).
  const release = await t.states.lock(t.stateId).catch(async (e: unknown) => {
    await cancelQuietly(data.getReader(), e);
    throw e;
  });
  if (!release) {
    const e = new E2EEError(
      'IO',
      `another upload of ${t.key} is under way (in this process or another): wait for it to end, then try again`,
    );
    await cancelQuietly(data.getReader(), e);
    throw e;
  }
  try {
    await upload(data, t);
  } finally {
    // A lock left behind is released by the process's end (the next caller sees it gone).
    await release().catch(() => {});
  }
}

async function upload(data: ReadableStream<Uint8Array>, t: UploadTarget): Promise<void> {
  const { client, bucket, key, states } = t;
  const saved = states ? await states.load(t.stateId) : undefined;
  if (saved && (saved.bucket !== bucket || saved.key !== key))
    throw new E2EEError(
      'IO',
      `the upload state for ${key} names another object (${saved.bucket}/${saved.key})`,
    );
  const partSize = saved?.partSize ?? t.partSize;
  if (!Number.isSafeInteger(partSize) || partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE)
    throw new E2EEError('INVALID_ARGUMENT', `the part size must be 5 MiB to 5 GiB, not ${partSize}`);
  let uploadId = saved?.uploadId;
  let head = saved?.head ?? '';
  const parts = new Map<number, UploadedPart>((saved?.parts ?? []).map((p) => [p.number, p]));
  let onServer = new Map<number, { size: number; etag: string }>();
  if (saved) {
    const found = await serverParts(t, saved.uploadId).catch(async (e) => {
      await cancelQuietly(data.getReader(), e);
      throw e;
    });
    if (!found) {
      // The upload is gone (completed, or aborted by a bucket rule): start a new one, but keep
      // the hashes, which still say what each part was.
      uploadId = undefined;
      for (const [n, p] of parts) parts.set(n, { number: n, size: p.size, sha256: p.sha256 });
    } else {
      onServer = found;
      const stranger = [...found].find(([n, s]) => parts.get(n)?.size !== s.size);
      if (stranger) {
        await abortUpload(t, saved.uploadId);
        await states!.remove(t.stateId);
        await cancelQuietly(data.getReader(), undefined);
        throw new E2EEError(
          'IO',
          `the unfinished upload of ${key} holds part ${stranger[0]}, which its local state does not describe: ` +
            'the upload was aborted; write the object again',
        );
      }
    }
  }

  const pr = partReader(data);
  const inflight = new Set<Promise<void>>();
  const free: ArrayBuffer[] = [];
  const done: number[] = [];
  let stop: Stop | undefined;
  let sent = 0;
  let resumed = 0;
  let saving: Promise<void> = Promise.resolve();

  /** Saves the state as it is now, after any save already under way. */
  const persist = (): Promise<void> => {
    if (!states || uploadId === undefined) return Promise.resolve();
    const state: UploadState = {
      version: 1,
      bucket,
      key,
      uploadId,
      partSize,
      head,
      parts: [...parts.values()].sort((a, b) => a.number - b.number),
    };
    const next = saving.catch(() => {}).then(() => states.save(t.stateId, state));
    saving = next;
    return next;
  };
  const fail = (kind: Stop['kind'], error: unknown) => {
    stop ??= { kind, error };
  };
  /** Sends part `n` once `recorded` (its write-ahead record) is saved. */
  const sendPart = (n: number, bytes: Uint8Array, recorded: Promise<void>) => {
    const task = (async () => {
      try {
        await recorded; // before the first byte of the part leaves
        const r = await client.send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: n,
            Body: bytes,
            ContentLength: bytes.length,
          }),
        );
        if (!r.ETag) throw new Error(`the server gave part ${n} no ETag`);
        parts.set(n, { ...parts.get(n)!, etag: r.ETag });
        await persist();
        sent += bytes.length;
        t.onProgress?.(sent, resumed);
      } catch (e) {
        fail('store', s3Error(`cannot upload part ${n} of ${key}`, e));
      } finally {
        free.push(bytes.buffer as ArrayBuffer);
      }
    })();
    inflight.add(task);
    void task.finally(() => inflight.delete(task));
  };

  let last = 0;
  for (let n = 1; ; n++) {
    const size = partSizeOf(partSize, n);
    if (n > MAX_PARTS) {
      fail('producer', new E2EEError('INVALID_ARGUMENT', `${key} needs more than ${MAX_PARTS} parts`));
      break;
    }
    // Bounded memory: at most queueSize first-size parts' worth in flight (one, once parts are larger).
    const limit = Math.max(1, Math.floor((t.queueSize * partSize) / size));
    while (inflight.size >= limit && !stop) await Promise.race(inflight);
    if (stop) break;
    let buffer = free.pop();
    if (!buffer || buffer.byteLength < size) buffer = new ArrayBuffer(size);
    let filled: { bytes: Uint8Array; ended: boolean };
    try {
      filled = await pr.fill(buffer, size);
    } catch (e) {
      fail('producer', e);
      break;
    }
    const { bytes, ended } = filled;
    if (stop) break;
    if (n === 1 && ended && !saved) {
      // It fits in one part: one PutObject, atomic, nothing to resume or clean up.
      pr.release();
      try {
        await client.send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes, ContentLength: bytes.length }),
        );
      } catch (e) {
        throw s3Error(`cannot write ${key}`, e);
      }
      t.onProgress?.(bytes.length, 0);
      return;
    }
    if (bytes.length === 0 && n > 1) {
      free.push(bytes.buffer as ArrayBuffer);
      last = n - 1;
      break;
    }
    if (uploadId === undefined) {
      try {
        const r = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
        if (!r.UploadId) throw new Error('the server gave no upload id');
        uploadId = r.UploadId;
      } catch (e) {
        fail('store', s3Error(`cannot start the upload of ${key}`, e));
        break;
      }
      if (!head) head = toBase64(bytes.subarray(0, HEAD_SIZE));
    }
    const sha256 = states ? await sha256Hex(bytes) : '';
    const before = parts.get(n);
    if (before && (before.size !== bytes.length || before.sha256 !== sha256)) {
      fail(
        'mismatch',
        new E2EEError(
          'IO',
          `part ${n} of ${key} differs from what the interrupted upload sent: its source or options changed. ` +
            'That upload was aborted; write the object anew',
        ),
      );
      break;
    }
    const there = onServer.get(n);
    if (before?.etag !== undefined && there?.etag === before.etag) {
      resumed += bytes.length;
      free.push(bytes.buffer as ArrayBuffer);
      t.onProgress?.(sent, resumed);
    } else {
      parts.set(n, { number: n, size: bytes.length, sha256 });
      // The next part is read while this record is saved; the part waits for it.
      sendPart(n, bytes, persist());
    }
    done.push(n);
    if (ended) {
      last = n;
      break;
    }
  }
  await Promise.allSettled([...inflight]);
  await saving.catch(() => {});
  if (!stop && [...parts.keys()].some((n) => n > last))
    fail(
      'mismatch',
      new E2EEError('IO', `${key} is shorter than the interrupted upload: its source changed`),
    );

  if (!stop && uploadId !== undefined) {
    try {
      await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: done.map((n) => ({ PartNumber: n, ETag: parts.get(n)!.etag })) },
        }),
      );
    } catch (e) {
      fail('store', s3Error(`cannot complete the upload of ${key}`, e));
    }
  }
  if (!stop) {
    await states?.remove(t.stateId);
    return;
  }
  await pr.cancel(stop.error);
  if (stop.kind === 'store' && states && uploadId !== undefined)
    throw new E2EEError(
      'IO',
      `${(stop.error as Error).message}. The upload is kept: writing the same bytes again resumes it ` +
        `(${sent + resumed} bytes are on the server)`,
      { cause: stop.error },
    );
  if (uploadId !== undefined) await abortUpload(t, uploadId).catch(() => {});
  await states?.remove(t.stateId);
  throw stop.error;
}
