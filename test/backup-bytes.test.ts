// The byte API where Web streams and TextDecoder are missing (Hermes): encryptBackupBytes and
// decryptBackupBytes then take src/backup-bytes.ts's path. With those globals removed, every
// container vector must give the outcome it gives through the streams, and the encoder must
// write the very bytes the streaming encoder writes under the same header and salt.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decryptBackupBytes,
  type EncryptBackupOptions,
  encryptBackupBytes,
} from '../src/container/backup.js';
import { buildHeader, FLAG_COMPRESSED, FLAG_PADDED } from '../src/container/header.js';
import { RESUME_KEYINGS } from '../src/container/payload-streams.js';
import { E2EEError, type ErrorCode } from '../src/errors.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const sha512 = (b: Uint8Array) => createHash('sha512').update(b).digest('hex');

const MISSING = ['ReadableStream', 'WritableStream', 'TransformStream', 'TextDecoder'] as const;
const saved = new Map<string, unknown>();
const g = globalThis as unknown as Record<string, unknown>;
/** Runs `f` as on Hermes: no Web streams, no TextDecoder. */
async function withoutStreams<T>(f: () => Promise<T>): Promise<T> {
  for (const name of MISSING) {
    saved.set(name, g[name]);
    delete g[name];
  }
  try {
    return await f();
  } finally {
    for (const name of MISSING) g[name] = saved.get(name);
  }
}

describe('without ReadableStream and TextDecoder', () => {
  let streams: typeof ReadableStream;
  beforeAll(() => {
    streams = ReadableStream;
  });
  afterAll(() => {
    expect(ReadableStream).toBe(streams);
  });

  it('really has neither while it runs', async () => {
    await withoutStreams(async () => {
      expect(typeof ReadableStream).toBe('undefined');
      expect(typeof TextDecoder).toBe('undefined');
    });
  });

  interface ContainerTest {
    tcId: number;
    comment: string;
    result: string;
    error?: ErrorCode;
    key?: string;
    password?: string;
    kdfMaxima?: { m?: number; t?: number; p?: number };
    maxOutputBytes?: number;
    ct: string;
    ctCompressed?: true;
    msgLength?: number;
    msgSha512?: string;
    metadata?: unknown;
  }
  const file = JSON.parse(
    readFileSync(join(import.meta.dirname, '..', 'vectors', 'container_v1_test.json'), 'utf8'),
  );
  const tests: ContainerTest[] = file.testGroups.flatMap((x: { tests: ContainerTest[] }) => x.tests);

  it.each(tests.map((t) => [`tcId ${t.tcId}: ${t.comment}`, t] as const))('container %s', async (_, t) => {
    const ct = t.ctCompressed ? new Uint8Array(inflateSync(hex(t.ct))) : hex(t.ct);
    const outcome = await withoutStreams(() =>
      decryptBackupBytes(ct, {
        ...(t.key !== undefined ? { key: hex(t.key) } : {}),
        ...(t.password !== undefined ? { password: t.password } : {}),
        ...(t.kdfMaxima ? { kdfMaxima: t.kdfMaxima } : {}),
        maxOutputBytes: t.maxOutputBytes ?? 2 ** 40,
      }).then(
        ({ metadata, data }) => ({
          result: 'valid',
          msgLength: data.length,
          msgSha512: sha512(data),
          metadata: JSON.parse(JSON.stringify(metadata)),
        }),
        (e: unknown) => {
          if (!(e instanceof E2EEError)) throw e;
          return { result: 'invalid', error: e.code };
        },
      ),
    );
    const want = Object.fromEntries(
      ['result', 'error', 'msgLength', 'msgSha512', 'metadata']
        .filter((k) => (t as unknown as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, (t as unknown as Record<string, unknown>)[k]]),
    );
    expect(outcome).toEqual(want);
  });

  /** Options whose header, file key and payload salt are fixed, as a resumed upload's are. */
  async function fixed(options: EncryptBackupOptions & { key: Uint8Array }): Promise<EncryptBackupOptions> {
    const fileKey = randomBytes(32);
    const flags =
      (options.compression === 'none' ? 0 : FLAG_COMPRESSED) | (options.padding === 'none' ? 0 : FLAG_PADDED);
    const bytes = await buildHeader(
      [{ type: 'backup-key', backupKey: options.key }],
      Uint8Array.from(fileKey),
      flags,
    );
    const salt = randomBytes(24);
    const o = { ...options };
    // Copies each time: the streaming encoder hands the header's buffer over, and wipes the key.
    RESUME_KEYINGS.set(o, async () => ({ bytes: bytes.slice(), fileKey: Uint8Array.from(fileKey), salt }));
    return o;
  }

  const key = new Uint8Array(32).fill(9);
  const sizes = [0, 1, 16_383, 16_384, 16_385, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3_000_000];
  for (const compression of ['deflate', 'none'] as const)
    for (const padding of ['padme', 'none'] as const)
      it(`writes the streaming encoder's bytes (${compression}, ${padding})`, async () => {
        for (const n of sizes) {
          // Half compressible, half not.
          const data = new Uint8Array(n);
          data.set(randomBytes(n >> 1));
          const o = await fixed({ key, compression, padding, createdAt: new Date(0), metadata: { n } });
          const streamed = await encryptBackupBytes(data, o);
          const direct = await withoutStreams(() => encryptBackupBytes(data, o));
          expect(Buffer.from(direct).equals(Buffer.from(streamed)), `${n} bytes`).toBe(true);
          const back = await withoutStreams(() => decryptBackupBytes(direct, { key }));
          expect(Buffer.from(back.data).equals(Buffer.from(data))).toBe(true);
          expect(back.metadata.app).toEqual({ n });
        }
      });

  it('round-trips with a password, and refuses a tampered backup', async () => {
    const data = randomBytes(20_000);
    const enc = await withoutStreams(() =>
      encryptBackupBytes(data, { password: 'pw', kdf: { m: 64, t: 1, p: 1 }, allowWeakKdf: true }),
    );
    const back = await withoutStreams(() => decryptBackupBytes(enc, { password: 'pw' }));
    expect(Buffer.from(back.data).equals(data)).toBe(true);
    for (const [at, code] of [
      [enc.length - 1, 'CHUNK_AUTH'],
      [40, 'MALFORMED_HEADER'],
    ] as const) {
      const bad = enc.slice();
      bad[at]! ^= 1;
      await expect(withoutStreams(() => decryptBackupBytes(bad, { password: 'pw' }))).rejects.toMatchObject({
        code,
      });
    }
    await expect(withoutStreams(() => decryptBackupBytes(enc, { password: 'px' }))).rejects.toMatchObject({
      code: 'WRONG_PASSWORD',
    });
  });

  it('keeps decryptBackupBytes’s default output limit and an aborted signal', async () => {
    const enc = await encryptBackupBytes(new Uint8Array(300 * 2 ** 20), { key, padding: 'none' });
    await expect(withoutStreams(() => decryptBackupBytes(enc, { key }))).rejects.toMatchObject({
      code: 'OUTPUT_LIMIT',
    });
    const signal = AbortSignal.abort();
    await expect(withoutStreams(() => decryptBackupBytes(enc, { key, signal }))).rejects.toMatchObject({
      code: 'ABORTED',
    });
    await expect(
      withoutStreams(() => encryptBackupBytes(new Uint8Array(1), { key, signal })),
    ).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
