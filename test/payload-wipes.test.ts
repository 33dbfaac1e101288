// What a backup's payload streams wipe: the one reused plaintext buffer of each side, up to what
// it ever held (src/container/payload-streams.ts). The sealer's is seen where it goes, as the
// chunks it hands AES-GCM (a crypto provider, the public way to supply one); the opener's as
// the views its reader lends.
import { afterEach, describe, expect, it } from 'vitest';
import { CHUNK_SIZE } from '../src/cobblestone/chunked.js';
import { decryptBackup, encryptBackup } from '../src/container/backup.js';
import { openedReader } from '../src/container/payload-streams.js';
import { resetCryptoProvider } from '../src/internal/provider.js';
import { toPieceSource } from '../src/internal/streams.js';
import { encryptChunked } from '../src/testing.js';
import { pseudoRandom, sameBytes, watchSealing } from './util.js';

const key = new Uint8Array(32).map((_, i) => i + 7);
const zero = (b: Uint8Array) => b.every((x) => x === 0);
const MiB = 2 ** 20;

afterEach(() => resetCryptoProvider());

/** The plaintext each AES-GCM cipher is given, from now on. */
function watched(): Uint8Array[] {
  const seen: Uint8Array[] = [];
  watchSealing((p) => seen.push(p));
  return seen;
}

async function readAllOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of stream) parts.push(p);
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

describe("the sealer's plaintext buffer", () => {
  for (const size of [10, 3 * CHUNK_SIZE + 5, MiB + 100])
    it(`holds only zeros once a ${size}-byte backup is sealed`, async () => {
      const seen = watched();
      const body = pseudoRandom(size, size);
      const sealed = await readAllOf(encryptBackup(body, { key, compression: 'none', padding: 'none' }));
      // The payload's chunks are views of one reused buffer: the plaintext was there …
      const chunks = seen.filter((s) => s.buffer.byteLength === MiB);
      expect(chunks.length).toBeGreaterThan(0);
      expect(chunks.some((s) => !zero(s.slice()))).toBe(false); // … and is no more
      resetCryptoProvider();
      const { stream } = await decryptBackup(sealed, { key });
      expect(sameBytes(await readAllOf(stream), body)).toBe(true);
    });

  it('holds only zeros when the reader cancels half-way', async () => {
    const seen = watched();
    const reader = encryptBackup(pseudoRandom(3 * MiB, 1), { key, compression: 'none' }).getReader();
    const chunks = () => seen.filter((s) => s.buffer.byteLength === MiB);
    for (let reads = 0; chunks().length === 0 && reads < 10; reads++) await reader.read();
    expect(chunks().some((s) => !zero(s))).toBe(true); // the first batch, sealed and not yet wiped
    await reader.cancel();
    expect(chunks().every((s) => zero(s))).toBe(true);
  });
});

describe("the opener's plaintext buffer", () => {
  const context = new TextEncoder().encode('payload-wipes');
  /** Reads the whole payload in `step`-byte views, keeping each view (not a copy). */
  async function lentViews(ct: Uint8Array, step: number) {
    const reader = await openedReader(key, context, [], toPieceSource(ct));
    const views: Uint8Array[] = [];
    const copies: Uint8Array[] = [];
    try {
      for (let v = await reader.upTo(step); v; v = await reader.upTo(step)) {
        views.push(v);
        copies.push(v.slice());
      }
      return { views, copies, error: undefined };
    } catch (error) {
      return { views, copies, error };
    }
  }

  for (const size of [1, 2 * CHUNK_SIZE + 9, MiB + 3 * CHUNK_SIZE])
    it(`holds only zeros once a ${size}-byte payload is read to its end`, async () => {
      const pt = pseudoRandom(size, size + 1);
      const { views, copies, error } = await lentViews(await encryptChunked(key, pt, { context }), 5000);
      expect(error).toBeUndefined();
      expect(sameBytes(Uint8Array.from(copies.flatMap((c) => [...c])), pt)).toBe(true);
      expect(views.every((v) => v.buffer.byteLength === MiB)).toBe(true); // views of the buffer
      expect(views.every((v) => zero(v))).toBe(true);
    });

  it('holds only zeros after a record fails, the bytes its open wrote included', async () => {
    const pt = pseudoRandom(CHUNK_SIZE + 100, 9);
    const ct = await encryptChunked(key, pt, { context });
    ct[ct.length - 20]! ^= 1; // the final record's last byte: its open writes, then fails
    const { views, copies, error } = await lentViews(ct, CHUNK_SIZE);
    expect(error).toMatchObject({ code: 'CHUNK_AUTH' });
    expect(copies.length).toBe(1);
    expect(sameBytes(copies[0], pt.subarray(0, CHUNK_SIZE))).toBe(true);
    const buffer = new Uint8Array(views[0]!.buffer);
    expect(zero(buffer)).toBe(true);
  });
});
