import * as nodeCrypto from 'node:crypto';
import { vi } from 'vitest';
import { setCryptoProvider } from '../src/internal/provider.js';

/** A seeded xorshift32 generator of unsigned 32-bit numbers (not for secrets). */
export function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

/**
 * `n` pseudo-random bytes, the same for a seed on every run and platform: the one byte generator
 * of the tests (not for secrets). Four bytes per xorshift32 step, little-endian.
 */
export function pseudoRandom(n: number, seed: number): Uint8Array {
  const next = xorshift(seed);
  const out = new Uint8Array(n);
  const whole = n & ~3;
  const words = new DataView(out.buffer);
  for (let i = 0; i < whole; i += 4) words.setUint32(i, next(), true);
  for (let i = whole, w = next(); i < n; i++, w >>>= 8) out[i] = w & 0xff;
  return out;
}

/**
 * Text with stretches of noise (pseudo-random bytes), so that a backup has both deflated and
 * stored blocks: every third stretch of `2^stretchLog2` bytes is noise, the rest letters from the
 * first `letters` of a–z. Deterministic for a seed, like {@link pseudoRandom}.
 */
export function textAndNoise(n: number, seed: number, stretchLog2 = 14, letters = 6): Uint8Array {
  const next = xorshift(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i >> stretchLog2) % 3 === 2 ? next() & 255 : 97 + (next() % letters);
  return out;
}

/** Splits `data` into pieces of pseudo-random sizes (deterministic for a seed). */
export function seededSplits(data: Uint8Array, seed: number): Uint8Array[] {
  const next = xorshift(seed);
  const out: Uint8Array[] = [];
  let off = 0;
  while (off < data.length) {
    // Mix tiny, chunk-sized and large pieces.
    const kind = next() % 4;
    const max = kind === 0 ? 17 : kind === 1 ? 16400 : kind === 2 ? 70000 : 3;
    const n = 1 + (next() % max);
    out.push(data.slice(off, off + n));
    off += n;
  }
  return out;
}

/** Splits `data` at the given cut points (any order, clamped). */
export function splitAt(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => Math.max(0, Math.min(data.length, c))))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, data.length]) {
    out.push(data.slice(prev, p));
    prev = p;
  }
  return out;
}

/**
 * Pushes `pieces` through `stream`, collecting what comes out. Never throws: returns the
 * concatenated output and the error the stream ended with, if any; `released` receives each
 * output piece as it is read.
 */
export async function collect(
  stream: TransformStream<Uint8Array, Uint8Array>,
  pieces: Uint8Array[],
  released: Uint8Array[] = [],
): Promise<{ result: Uint8Array; error: unknown }> {
  const writer = stream.writable.getWriter();
  const writing = (async () => {
    for (const p of pieces) await writer.write(p);
    await writer.close();
  })().catch(() => {});
  const reader = stream.readable.getReader();
  let error: unknown;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      released.push(value);
    }
  } catch (e) {
    error = e;
  }
  await writing;
  return { result: new Uint8Array(Buffer.concat(released)), error };
}

/** A random-access source over bytes in memory. */
export function sourceOf(bytes: Uint8Array) {
  return { size: bytes.length, read: async (o: number, n: number) => bytes.slice(o, o + n) };
}

/** Byte equality that stays fast on MiB-sized arrays (vitest's toEqual walks them slowly). */
export function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return (
    !!a &&
    !!b &&
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
      Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    )
  );
}

/**
 * Tests too slow for the default `npm test` (default-cost Argon2id, exhaustive or large inputs):
 * their titles start with `[slow]`; they run under `npm run test:slow` (E2EE_SLOW_TESTS=1), which
 * CI runs too, and are skipped otherwise.
 */
export const SLOW = process.env['E2EE_SLOW_TESTS'] === '1';

/**
 * Registers node:crypto's AES-GCM as the crypto provider (the public way to supply one), and
 * hands `seen` each plaintext a cipher is given, as the very array passed: tests look there for
 * what the library wiped. The provider's own check at registration is not reported.
 */
export function watchSealing(seen: (plaintext: Uint8Array) => void): void {
  let registered = false;
  setCryptoProvider({
    aesGcm: {
      createCipheriv: (alg, k, iv) => {
        const c = nodeCrypto.createCipheriv(alg, k, iv);
        return {
          setAAD: (aad: Uint8Array) => c.setAAD(aad),
          update: (data: Uint8Array) => {
            if (registered) seen(data);
            return c.update(data);
          },
          final: () => c.final(),
          getAuthTag: () => c.getAuthTag(),
        };
      },
      createDecipheriv: (alg, k, iv) => nodeCrypto.createDecipheriv(alg, k, iv),
    },
  });
  registered = true;
}

/**
 * A byte stream (`type: 'bytes'`) of `data` in pieces of up to 300 000 bytes; `cancelled` gets
 * the reasons it is cancelled with, `pulled` how far it has been read.
 */
export function byteStreamOf(
  data: Uint8Array,
  watch: { cancelled?: unknown[]; pulled?: (bytes: number) => void } = {},
): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream({
    type: 'bytes',
    pull(c) {
      if (off >= data.length) {
        c.close();
        c.byobRequest?.respond(0);
        return;
      }
      const n = Math.min(300_000, data.length - off);
      c.enqueue(data.slice(off, off + n));
      off += n;
      watch.pulled?.(off);
    },
    cancel: (reason) => void watch.cancelled?.push(reason),
  });
}

/** The buffers that BYOB reads fill from now on (until `vi.restoreAllMocks()`). */
export function watchByobReads(): ArrayBufferLike[] {
  const read = ReadableStreamBYOBReader.prototype.read;
  const filled: ArrayBufferLike[] = [];
  vi.spyOn(ReadableStreamBYOBReader.prototype, 'read').mockImplementation(async function (
    this: ReadableStreamBYOBReader,
    ...args: Parameters<typeof read>
  ) {
    const r = await read.apply(this, args);
    if (r.value) filled.push(r.value.buffer);
    return r;
  } as typeof read);
  return filled;
}
