// Shared helpers of the S3 tests: the server's URL, a client, throwaway buckets, and a loopback
// TCP proxy that cuts connections after a number of bytes.

import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { expect, it } from 'vitest';
import type { UploadState, UploadStateStore } from '../../src/s3/index.js';

// The SDK warns once per process that Node 20 support ends in 2027: noise in every test file.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/** `http://ACCESS:SECRET@host:port` of an S3-compatible server (scripts/start-s3.sh prints it). */
export const S3_URL = process.env['E2EE_TEST_S3_URL'];

/**
 * Why the S3 tests cannot run, or undefined when they can. Prints the reason; with CI=true
 * registers a failing test instead, so that CI cannot pass without them.
 */
export function s3SkipReason(): string | undefined {
  if (S3_URL) return undefined;
  const reason =
    'E2EE_TEST_S3_URL is not set: skipping the tests that need an S3 server ' +
    '(start one with `export E2EE_TEST_S3_URL="$(scripts/start-s3.sh)"`)';
  if (process.env['CI'] === 'true') {
    it('an S3 server is available (required when CI=true)', () => {
      expect.fail(`${reason}; CI=true requires them`);
    });
  } else console.warn(reason);
  return reason;
}

/** The server's endpoint and credentials, from {@link S3_URL}. */
export function s3Settings(): { endpoint: string; accessKeyId: string; secretAccessKey: string } {
  const u = new URL(S3_URL!);
  return {
    endpoint: `${u.protocol}//${u.host}`,
    accessKeyId: decodeURIComponent(u.username),
    secretAccessKey: decodeURIComponent(u.password),
  };
}

/** A client of the test server, or of `endpoint` (a proxy in front of it). */
export function s3Client(options: { endpoint?: string; maxAttempts?: number } = {}): S3Client {
  const s = s3Settings();
  return new S3Client({
    endpoint: options.endpoint ?? s.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
    maxAttempts: options.maxAttempts ?? 3,
  });
}

/** A fresh bucket, and a function that empties and deletes it. */
export async function tempBucket(
  client: S3Client,
): Promise<{ bucket: string; cleanup: () => Promise<void> }> {
  const bucket = `e2ee-test-${randomBytes(6).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    bucket,
    async cleanup() {
      for (const u of (await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? [])
        await client.send(
          new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }),
        );
      for (const o of (await client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? [])
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key }));
      await client.send(new DeleteBucketCommand({ Bucket: bucket }));
    },
  };
}

/** The multipart uploads open in `bucket`. */
export async function openUploads(client: S3Client, bucket: string): Promise<string[]> {
  const r = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return (r.Uploads ?? []).map((u) => u.Key ?? '');
}

/**
 * A TCP proxy on 127.0.0.1 in front of the S3 server, counting bytes each way. `cutAfter` arms a
 * cut: once that many more bytes have passed in the given direction (`up`: client to server,
 * `down`: server to client), every connection is destroyed, and with `stayDown` new ones are
 * refused until `restore()` (a network that is gone, not a blip the SDK's retries absorb).
 */
export interface CuttingProxy {
  readonly endpoint: string;
  /** Bytes forwarded client to server, and server to client, since the start. */
  readonly up: number;
  readonly down: number;
  /** Connections accepted since the start. */
  readonly connections: number;
  cutAfter(direction: 'up' | 'down', bytes: number, options?: { stayDown?: boolean }): void;
  /** Lets connections through again. */
  restore(): void;
  /** Resolves when the armed cut has happened. */
  cut(): Promise<void>;
  close(): Promise<void>;
}

export async function cuttingProxy(): Promise<CuttingProxy> {
  const target = new URL(s3Settings().endpoint);
  const sockets = new Set<Socket>();
  let up = 0;
  let down = 0;
  let connections = 0;
  let armed: { direction: 'up' | 'down'; at: number; stayDown: boolean } | undefined;
  let down_ = false; // refusing connections
  let onCut: (() => void) | undefined;
  let cutDone: Promise<void> = Promise.resolve();
  const cutNow = () => {
    if (armed?.stayDown) down_ = true;
    armed = undefined;
    for (const s of sockets) s.destroy();
    onCut?.();
  };
  const count = (direction: 'up' | 'down', n: number) => {
    if (direction === 'up') up += n;
    else down += n;
    if (armed && armed.direction === direction && (direction === 'up' ? up : down) >= armed.at) cutNow();
  };
  const server: Server = createServer((client) => {
    connections++;
    if (down_) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client);
    sockets.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('data', (d: Buffer) => {
      count('up', d.length);
      if (!client.destroyed) upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      count('down', d.length);
      if (!upstream.destroyed) client.write(d);
    });
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get up() {
      return up;
    },
    get down() {
      return down;
    },
    get connections() {
      return connections;
    },
    cutAfter(direction, bytes, options = {}) {
      armed = {
        direction,
        at: (direction === 'up' ? up : down) + bytes,
        stayDown: options.stayDown === true,
      };
      cutDone = new Promise((r) => {
        onCut = r;
      });
    },
    restore() {
      down_ = false;
    },
    cut: () => cutDone,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A stream of `data` in pieces of `piece` bytes (copies: the consumer may keep them). */
export function streamOf(data: Uint8Array, piece = 64 * 1024): ReadableStream<Uint8Array> {
  let o = 0;
  return new ReadableStream({
    pull(c) {
      if (o >= data.length) return c.close();
      c.enqueue(data.slice(o, o + piece));
      o += piece;
    },
  });
}

/** Everything a stream yields. */
export async function drain(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/**
 * An upload state store in memory that also remembers every state it was asked to save; its
 * locks are held until released (`held` names them).
 */
export function memoryStates(): UploadStateStore & {
  saves: UploadState[];
  map: Map<string, UploadState>;
  held: Set<string>;
} {
  const map = new Map<string, UploadState>();
  const saves: UploadState[] = [];
  const held = new Set<string>();
  return {
    map,
    saves,
    held,
    load: async (id) => map.get(id),
    save: async (id, s) => {
      saves.push(structuredClone(s));
      map.set(id, structuredClone(s));
    },
    remove: async (id) => {
      map.delete(id);
    },
    list: async () => [...map].map(([id, state]) => ({ id, state, inUse: held.has(id) })),
    lock: async (id) => {
      if (held.has(id)) return undefined;
      held.add(id);
      return async () => {
        held.delete(id);
      };
    },
  };
}
