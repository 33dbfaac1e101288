// An S3 provider in memory, for tests that must see exactly what a provider receives: every byte
// of every part and object body, including the first bytes of a part whose request was cut.
// It answers the commands the S3 store sends (by class name), no more, and has no retries: a cut
// fails the call, as the SDK does once its attempts are used up.
import type { S3Client } from '@aws-sdk/client-s3';

interface Part {
  etag: string;
  bytes: Uint8Array;
}

interface Upload {
  key: string;
  parts: Map<number, Part>;
}

/** Everything the provider was sent for one object key, in order. */
export interface Received {
  /** `part` is the part number, or 0 for a PutObject body; `bytes` what arrived (maybe a prefix). */
  readonly sends: { part: number; bytes: Uint8Array; whole: boolean }[];
}

export interface FakeS3 {
  readonly client: S3Client;
  /** Objects by key. */
  readonly objects: Map<string, Uint8Array>;
  /** Open multipart uploads by id. */
  readonly uploads: Map<string, Upload>;
  /** What arrived for each object key, across all uploads and attempts. */
  readonly received: Map<string, Received>;
  /**
   * Arms a cut: once `bytes` more body bytes have arrived, the request under way keeps only what
   * arrived, fails, and so does every request after it until `restore()`.
   */
  cutAfter(bytes: number): void;
  restore(): void;
  /** Holds the next UploadPart request until `release()`; resolves once it is held. */
  holdNextPart(): Promise<void>;
  release(): void;
}

class FakeError extends Error {
  $metadata: { httpStatusCode?: number };
  constructor(name: string, message: string, status?: number) {
    super(message);
    this.name = name;
    this.$metadata = { httpStatusCode: status };
  }
}

function md5ish(bytes: Uint8Array, n: number): string {
  // Not MD5: any value that changes with the bytes will do for an ETag here.
  let h = 2166136261 ^ n;
  for (let i = 0; i < bytes.length; i += 997) h = Math.imul(h ^ bytes[i]!, 16777619);
  return `"${(h >>> 0).toString(16)}-${bytes.length}"`;
}

function bodyOf(bytes: Uint8Array) {
  return {
    transformToWebStream: () =>
      new ReadableStream<Uint8Array>({
        start(c) {
          for (let o = 0; o < bytes.length; o += 65536) c.enqueue(bytes.slice(o, o + 65536));
          c.close();
        },
      }),
    transformToByteArray: async () => bytes.slice(),
  };
}

export function fakeS3(): FakeS3 {
  const objects = new Map<string, Uint8Array>();
  const uploads = new Map<string, Upload>();
  const received = new Map<string, Received>();
  let cut: number | undefined; // bytes still allowed through
  let down = false;
  let ids = 0;
  let hold: (() => void) | undefined; // armed: called when the next part arrives
  let held: (() => void) | undefined;

  /** Takes a body as it arrives: all of it, or the prefix before an armed cut (then fails). */
  const arrive = (key: string, part: number, body: Uint8Array): Uint8Array => {
    if (down) throw new FakeError('NetworkError', 'connection refused (the network is down)');
    const r = received.get(key) ?? { sends: [] };
    received.set(key, r);
    if (cut !== undefined && body.length >= cut) {
      r.sends.push({ part, bytes: body.slice(0, cut), whole: false });
      cut = undefined;
      down = true;
      throw new FakeError('NetworkError', 'the connection was cut');
    }
    if (cut !== undefined) cut -= body.length;
    const bytes = body.slice();
    r.sends.push({ part, bytes, whole: true });
    return bytes;
  };
  const upload = (id: string | undefined): Upload => {
    const u = id === undefined ? undefined : uploads.get(id);
    if (!u) throw new FakeError('NoSuchUpload', 'The specified upload does not exist', 404);
    return u;
  };
  const object = (key: string): Uint8Array => {
    const o = objects.get(key);
    if (!o) throw new FakeError('NoSuchKey', 'The specified key does not exist.', 404);
    return o;
  };

  // biome-ignore lint/suspicious/noExplicitAny: commands are told apart by class name
  const send = async (command: any): Promise<any> => {
    const input = command.input;
    const name: string = command.constructor.name;
    if (down && name !== 'ListObjectsV2Command')
      throw new FakeError('NetworkError', 'connection refused (the network is down)');
    switch (name) {
      case 'PutObjectCommand': {
        const bytes = arrive(input.Key, 0, input.Body as Uint8Array);
        objects.set(input.Key, bytes);
        return { ETag: md5ish(bytes, 0) };
      }
      case 'CreateMultipartUploadCommand': {
        const id = `upload-${++ids}`;
        uploads.set(id, { key: input.Key, parts: new Map() });
        return { UploadId: id };
      }
      case 'UploadPartCommand': {
        const u = upload(input.UploadId);
        if (hold) {
          const reached = hold;
          hold = undefined;
          const waiting = new Promise<void>((r) => {
            held = r;
          });
          reached();
          await waiting;
        }
        const bytes = arrive(u.key, input.PartNumber, input.Body as Uint8Array);
        const etag = md5ish(bytes, input.PartNumber);
        u.parts.set(input.PartNumber, { etag, bytes });
        return { ETag: etag };
      }
      case 'ListPartsCommand': {
        const u = upload(input.UploadId);
        return {
          Parts: [...u.parts].map(([n, p]) => ({ PartNumber: n, ETag: p.etag, Size: p.bytes.length })),
          IsTruncated: false,
        };
      }
      case 'CompleteMultipartUploadCommand': {
        const u = upload(input.UploadId);
        const list = input.MultipartUpload.Parts as { PartNumber: number; ETag: string }[];
        const pieces = list.map((p) => {
          const part = u.parts.get(p.PartNumber);
          if (!part || part.etag !== p.ETag) throw new FakeError('InvalidPart', `part ${p.PartNumber}`, 400);
          return part.bytes;
        });
        const all = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
        let o = 0;
        for (const p of pieces) {
          all.set(p, o);
          o += p.length;
        }
        objects.set(u.key, all);
        uploads.delete(input.UploadId);
        return {};
      }
      case 'AbortMultipartUploadCommand':
        upload(input.UploadId);
        uploads.delete(input.UploadId);
        return {};
      case 'GetObjectCommand': {
        const bytes = object(input.Key);
        const m = /^bytes=(\d+)-(\d*)$/.exec(input.Range ?? '');
        const from = m ? Number(m[1]) : 0;
        const to = m && m[2] !== '' ? Number(m[2]) + 1 : bytes.length;
        const part = bytes.subarray(from, to);
        return { Body: bodyOf(part), ContentLength: part.length, ETag: md5ish(bytes, 0) };
      }
      case 'HeadObjectCommand': {
        const bytes = object(input.Key);
        return { ContentLength: bytes.length, ETag: md5ish(bytes, 0) };
      }
      case 'ListObjectsV2Command':
        return {
          Contents: [...objects]
            .filter(([k]) => k.startsWith(input.Prefix ?? ''))
            .map(([Key, b]) => ({ Key, Size: b.length })),
          IsTruncated: false,
        };
      case 'DeleteObjectCommand':
        objects.delete(input.Key);
        return {};
      default:
        throw new Error(`the fake S3 does not answer ${name}`);
    }
  };

  return {
    client: { send } as unknown as S3Client,
    objects,
    uploads,
    received,
    cutAfter(bytes) {
      cut = bytes;
    },
    restore() {
      down = false;
      cut = undefined;
    },
    holdNextPart() {
      return new Promise<void>((r) => {
        hold = r;
      });
    },
    release() {
      held?.();
      held = undefined;
    },
  };
}

/**
 * How many offsets of an object key received two different byte values from the provider's point
 * of view, over every attempt (a part's bytes start at the sum of the earlier parts' sizes, which
 * the part size fixes): the one thing a resume must never cause. 0 when every byte had one value.
 */
export function conflicts(received: Received | undefined, partSizeOf: (n: number) => number): number {
  const start = (n: number) => {
    let o = 0;
    for (let i = 1; i < n; i++) o += partSizeOf(i);
    return o;
  };
  const sends = (received?.sends ?? []).map((s) => ({
    base: s.part === 0 ? 0 : start(s.part),
    bytes: s.bytes,
  }));
  const size = sends.reduce((m, s) => Math.max(m, s.base + s.bytes.length), 0);
  const value = new Uint8Array(size);
  const seen = new Uint8Array(size);
  let n = 0;
  for (const { base, bytes } of sends)
    for (let i = 0; i < bytes.length; i++) {
      const o = base + i;
      if (!seen[o]) {
        seen[o] = 1;
        value[o] = bytes[i]!;
      } else if (value[o] !== bytes[i]) n++;
    }
  return n;
}
