// What the streams wipe when they are done with it: their own copy of the caller's key, and the
// plaintext carried between writes (a piece's whole chunks are sealed in place, not copied). Neither is returned to the caller, so these tests look where
// the bytes go: the key copy to HKDF (@noble/hashes' HMAC, wrapped here to note the buffer it is
// given), the carried plaintext to AES-GCM (a crypto provider, the public way to supply one).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CHUNK_SIZE } from '../src/cobblestone/chunked.js';
import { resetCryptoProvider } from '../src/internal/provider.js';
import { createDecryptStream, createEncryptStream, decryptChunked, encryptChunked } from '../src/testing.js';
import { collect, pseudoRandom, sameBytes, watchSealing } from './util.js';

interface Seen {
  ref: Uint8Array;
  was: Uint8Array;
}

const { hmacKeys } = vi.hoisted(() => ({ hmacKeys: [] as Seen[] }));

vi.mock('@noble/hashes/hmac.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('@noble/hashes/hmac.js')>();
  const create: typeof m.hmac.create = (hash, key) => {
    hmacKeys.push({ ref: key, was: key.slice() });
    return m.hmac.create(hash, key);
  };
  const hmac = Object.assign((...a: Parameters<typeof m.hmac>) => m.hmac(...a), { create });
  return { ...m, hmac };
});

const key = new Uint8Array(32).map((_, i) => i + 1);
const zero = (b: Uint8Array) => b.every((x) => x === 0);

afterEach(() => resetCryptoProvider());

describe('the streams wipe what they keep', () => {
  it("wipe their own copy of the key once the message's keys are derived", async () => {
    const pt = pseudoRandom(100, 3);
    for (const run of [
      async (k: Uint8Array) => (await collect(createEncryptStream(k), [pt])).result,
      async (k: Uint8Array) =>
        (await collect(createDecryptStream(k), [await encryptChunked(key, pt)])).result,
    ]) {
      const k = key.slice();
      hmacKeys.length = 0;
      const out = await run(k);
      // HKDF was keyed with a copy that held the key: the copy is zeros now, the caller's intact.
      const copies = hmacKeys.filter((s) => s.ref !== k && s.ref !== key);
      expect(copies).toHaveLength(1);
      expect(sameBytes(copies[0]!.was, key)).toBe(true);
      expect(zero(copies[0]!.ref)).toBe(true);
      expect(sameBytes(k, key)).toBe(true);
      expect(out.length).toBeGreaterThan(0);
    }
  });

  it('the decrypt stream wipes its key copy when the commitment fails too', async () => {
    const ct = await encryptChunked(new Uint8Array(32).fill(9), pseudoRandom(10, 4));
    const k = key.slice();
    hmacKeys.length = 0;
    const { error } = await collect(createDecryptStream(k), [ct]);
    expect(error).toMatchObject({ code: 'COMMITMENT_MISMATCH' });
    const copies = hmacKeys.filter((s) => s.ref !== k);
    expect(copies).toHaveLength(1);
    expect(sameBytes(copies[0]!.was, key)).toBe(true);
    expect(zero(copies[0]!.ref)).toBe(true);
  });

  it("the encrypt stream seals a piece's whole chunks in place and wipes only what it carried", async () => {
    const sealed: Seen[] = [];
    watchSealing((data) => sealed.push({ ref: data, was: data.slice() }));
    const pt = pseudoRandom(3 * CHUNK_SIZE + 30, 5);
    // 10 bytes carried; a piece that completes that chunk in the carry; two whole chunks sealed
    // in place from the third piece, and its last 30 bytes carried to the final chunk.
    const pieces = [pt.slice(0, 10), pt.slice(10, CHUNK_SIZE), pt.slice(CHUNK_SIZE)];
    const { result, error } = await collect(createEncryptStream(key), pieces);
    expect(error).toBeUndefined();
    const written = (s: Seen) => pieces.some((p) => p.buffer === s.ref.buffer);
    const carried = sealed.filter((s) => !written(s));
    // Chunk 0 from the carry, chunks 1 and 2 in place from the third piece, the final chunk carried.
    expect(sealed.map((s) => [written(s), s.ref.length])).toEqual([
      [false, CHUNK_SIZE],
      [true, CHUNK_SIZE],
      [true, CHUNK_SIZE],
      [false, 30],
    ]);
    for (const s of carried) {
      expect(zero(s.was)).toBe(false); // it held plaintext …
      expect(zero(s.ref)).toBe(true); // … wiped once the stream closed
    }
    for (const [i, p] of pieces.entries()) expect(zero(p), `piece ${i}`).toBe(false);
    expect(sameBytes(Uint8Array.from(pieces.flatMap((p) => [...p])), pt)).toBe(true);
    expect(sameBytes(await decryptChunked(key, result), pt)).toBe(true);
  });
});
