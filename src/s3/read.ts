/**
 * Reading S3 objects: a whole object as a stream that picks up where it stopped when the
 * connection drops (a Range request from the last byte received, pinned to the object's ETag so
 * that a replaced object is never spliced onto the old one), and byte ranges for random access.
 *
 * @module
 */

import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { RandomAccessSource } from '../cobblestone/chunked.js';
import { E2EEError } from '../errors.js';
import { httpStatus, s3Error, s3ErrorName } from './errors.js';

/** An object in a bucket. */
export interface ObjectRef {
  readonly client: S3Client;
  readonly bucket: string;
  readonly key: string;
  /** What the object is called in errors. */
  readonly label: string;
}

/** Consecutive failed attempts, without a byte of progress, before a read gives up. */
const ATTEMPTS = 5;

function missing(ref: ObjectRef, e: unknown): E2EEError {
  return new E2EEError('IO', `no backup named ${ref.label}`, { cause: e });
}

function isMissing(e: unknown): boolean {
  const name = s3ErrorName(e);
  return name === 'NoSuchKey' || name === 'NotFound' || httpStatus(e) === 404;
}

function changed(ref: ObjectRef, e: unknown): E2EEError {
  return new E2EEError('IO', `${ref.label} was replaced while it was being read`, { cause: e });
}

async function getBody(ref: ObjectRef, range: string | undefined, etag: string | undefined) {
  try {
    return await ref.client.send(
      new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key, Range: range, IfMatch: etag }),
    );
  } catch (e) {
    if (isMissing(e)) throw missing(ref, e);
    if (s3ErrorName(e) === 'PreconditionFailed' || httpStatus(e) === 412) throw changed(ref, e);
    throw s3Error(`cannot read ${ref.label}`, e);
  }
}

/**
 * The whole object as a stream. A dropped connection is resumed with a Range request from the
 * first missing byte (up to 5 attempts in a row without progress); the stream errors with `IO`
 * if the object is missing, was replaced meanwhile, or cannot be read.
 */
export async function readObject(ref: ObjectRef): Promise<ReadableStream<Uint8Array>> {
  const first = await getBody(ref, undefined, undefined);
  const size = first.ContentLength;
  const etag = first.ETag;
  let got = 0;
  let failures = 0;
  let body: ReadableStreamDefaultReader<Uint8Array> | undefined =
    first.Body?.transformToWebStream().getReader();
  const reopen = async () => {
    const r = await getBody(ref, `bytes=${got}-`, etag);
    body = r.Body?.transformToWebStream().getReader();
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        for (;;) {
          try {
            if (!body) throw new Error('no body');
            const r = await body.read();
            if (r.done) {
              if (size !== undefined && got < size)
                throw new Error(`the body ended at byte ${got} of ${size}`);
              c.close();
              return;
            }
            if (r.value.length === 0) continue;
            got += r.value.length;
            failures = 0;
            c.enqueue(r.value);
            return;
          } catch (e) {
            if (e instanceof E2EEError) throw e;
            await body?.cancel().catch(() => {});
            body = undefined;
            // Only a body whose length is known can be resumed safely; and not for ever.
            if (size === undefined || etag === undefined || ++failures >= ATTEMPTS)
              throw s3Error(`cannot read ${ref.label} (${got} bytes received)`, e);
            await reopen();
          }
        }
      },
      async cancel(reason) {
        await body?.cancel(reason).catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * An object as a {@link RandomAccessSource}: its size from one HEAD request, then each `read` a
 * Range request pinned to that version's ETag (retried up to 5 times).
 */
export async function objectSource(ref: ObjectRef): Promise<RandomAccessSource> {
  let head: { ContentLength?: number; ETag?: string };
  try {
    head = await ref.client.send(new HeadObjectCommand({ Bucket: ref.bucket, Key: ref.key }));
  } catch (e) {
    if (isMissing(e)) throw missing(ref, e);
    throw s3Error(`cannot read ${ref.label}`, e);
  }
  const size = head.ContentLength ?? 0;
  const etag = head.ETag;
  return {
    size,
    async read(offset, length) {
      if (length === 0) return new Uint8Array(0);
      for (let attempt = 1; ; attempt++) {
        try {
          const r = await getBody(ref, `bytes=${offset}-${offset + length - 1}`, etag);
          const bytes = await r.Body!.transformToByteArray();
          if (bytes.length !== length)
            throw new Error(`asked for ${length} bytes at ${offset}, got ${bytes.length}`);
          return bytes;
        } catch (e) {
          if (e instanceof E2EEError || attempt >= ATTEMPTS)
            throw s3Error(`cannot read bytes ${offset}..${offset + length} of ${ref.label}`, e);
        }
      }
    },
  };
}
