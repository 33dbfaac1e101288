// The byte API where Web streams and TextDecoder are missing (Hermes): encryptBackupBytes and
// decryptBackupBytes then take src/backup-bytes.ts's path. With those globals removed, every
// container vector must give the outcome it gives through the streams, and the encoder must
// write the very bytes the streaming encoder writes under the same header and salt.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decryptBackupBytes,
  type EncryptBackupOptions,
  encryptBackupBytes,
} from '../src/container/backup.js';
import { buildHeader, FLAG_COMPRESSED, FLAG_PADDED } from '../src/container/header.js';
import { RESUME_KEYINGS } from '../src/container/payload-streams.js';
import { all, CONTAINER_FIELDS, container, expected, libraryContainer } from './vector-files.js';

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

  it.each(all(container).map((t) => [`tcId ${t.tcId}: ${t.comment}`, t] as const))(
    'container %s',
    async (_, t) => {
      expect(await withoutStreams(() => libraryContainer(t))).toEqual(expected(t, CONTAINER_FIELDS));
    },
  );

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
