import { createCipheriv, createHmac } from 'node:crypto';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import {
  CHUNK_SIZE,
  chunkedCiphertextSize,
  chunkedPlaintextSize,
  HEADER_SIZE,
  RECORD_SIZE,
  TAG_SIZE,
} from '../src/cobblestone/chunked.js';
import { E2EEError, type ErrorCode } from '../src/errors.js';
import { hkdfExpandSha512 } from '../src/internal/hashes.js';
import type { AeadBackend } from '../src/primitives/aes-gcm.js';
import {
  createDecryptStream,
  createEncryptStream,
  decryptChunked,
  encryptChunked,
  openChunked,
} from '../src/testing.js';
import { collect, pseudoRandom, SLOW, sameBytes, sourceOf, splitAt } from './util.js';

const key = new Uint8Array(32).map((_, i) => i);
const otherKey = new Uint8Array(32).fill(7);
const salt = new Uint8Array(24).fill(9);
const BOUNDARY_SIZES = [0, 1, 16383, 16384, 16385, 32768];

const bytes = (n: number, seed = 1): Uint8Array => pseudoRandom(n, seed);

async function codeOf(p: Promise<unknown>): Promise<ErrorCode | 'ok'> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof E2EEError) return e.code;
    throw e;
  }
}

async function streamDecryptCode(ct: Uint8Array, k = key): Promise<ErrorCode | 'ok'> {
  const { error } = await collect(createDecryptStream(k), [ct]);
  if (!error) return 'ok';
  if (error instanceof E2EEError) return error.code;
  throw error;
}

/** HKDF-SHA-512's 76 output bytes (RFC 5869 expand, two HMAC blocks) for `key`, with node:crypto. */
function okmFromSpec(info: Buffer): Buffer {
  const t1 = createHmac('sha512', key)
    .update(Buffer.concat([info, Buffer.of(1)]))
    .digest();
  const t2 = createHmac('sha512', key)
    .update(Buffer.concat([t1, info, Buffer.of(2)]))
    .digest();
  return Buffer.concat([t1, t2]).subarray(0, 76);
}

describe('chunked layer', () => {
  it('is Cobblestone-256 as written: an independent re-derivation with node:crypto gives the same bytes', async () => {
    // Recomputes the spec's construction from its text with node:crypto primitives only.
    const pt = bytes(40000);
    const ct = await encryptChunked(key, pt, { salt, context: 'ctx' });
    const info = Buffer.concat([
      Buffer.from('c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\0'),
      salt,
      Buffer.from('ctx'),
    ]);
    const okm = okmFromSpec(info);
    expect(hkdfExpandSha512(key, info, 76)).toEqual(new Uint8Array(okm));
    const parts = [Buffer.from(salt), okm.subarray(44, 76)];
    for (let i = 0; i * CHUNK_SIZE <= pt.length; i++) {
      const nonce = Buffer.from(okm.subarray(32, 44));
      nonce[11]! ^= i;
      const c = createCipheriv('aes-256-gcm', okm.subarray(0, 32), nonce);
      parts.push(c.update(pt.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE)), c.final(), c.getAuthTag());
    }
    expect(Buffer.from(ct).equals(Buffer.concat(parts))).toBe(true);
  });

  it('sizes: every plaintext length maps to one ciphertext length and back', () => {
    for (const n of [...BOUNDARY_SIZES, 49151, 49152, 1 << 20]) {
      const c = chunkedCiphertextSize(n);
      expect(c).toBe(HEADER_SIZE + Math.floor(n / CHUNK_SIZE) * RECORD_SIZE + (n % CHUNK_SIZE) + TAG_SIZE);
      expect(chunkedPlaintextSize(c)).toBe(n);
    }
    expect(() => chunkedPlaintextSize(HEADER_SIZE + RECORD_SIZE)).toThrow(/short final chunk is missing/);
  });

  it('the three backends produce identical bytes and open each other', async () => {
    for (const n of BOUNDARY_SIZES) {
      const pt = bytes(n);
      const outs = await Promise.all(
        (['node', 'webcrypto', 'noble'] as AeadBackend[]).map((backend) =>
          encryptChunked(key, pt, { salt, backend }),
        ),
      );
      expect(sameBytes(outs[1], outs[0])).toBe(true);
      expect(sameBytes(outs[2], outs[0])).toBe(true);
      for (const backend of ['node', 'webcrypto', 'noble'] as AeadBackend[]) {
        expect(sameBytes(await decryptChunked(key, outs[0]!, { backend }), pt)).toBe(true);
      }
    }
  });

  test.prop(
    [
      fc.oneof(fc.constantFrom(...BOUNDARY_SIZES), fc.integer({ min: 0, max: 1 << 20 })),
      fc.array(fc.integer({ min: 0, max: 1 << 21 }), { maxLength: 12 }),
      fc.array(fc.integer({ min: 0, max: 1 << 21 }), { maxLength: 12 }),
      fc.constantFrom<AeadBackend>('node', 'webcrypto'),
    ],
    { numRuns: 40 },
  )('streaming round trip under arbitrary write splits', async (n, cutsIn, cutsOut, backend) => {
    const pt = bytes(n, n + 1);
    const enc = await collect(createEncryptStream(key, { salt, backend }), splitAt(pt, cutsIn));
    expect(enc.error).toBeUndefined();
    // Deterministic given the salt: the stream and the one-shot agree byte for byte.
    expect(sameBytes(enc.result, await encryptChunked(key, pt, { salt }))).toBe(true);
    const dec = await collect(createDecryptStream(key, { backend }), splitAt(enc.result, cutsOut));
    expect(dec.error).toBeUndefined();
    expect(sameBytes(dec.result, pt)).toBe(true);
  });

  test.prop(
    [fc.integer({ min: 0, max: 70000 }), fc.array(fc.tuple(fc.nat(), fc.nat(70000)), { maxLength: 8 })],
    {
      numRuns: 30,
    },
  )('random access reads equal the plaintext slices', async (n, ranges) => {
    const pt = bytes(n, 3);
    const ct = await encryptChunked(key, pt);
    const reader = await openChunked(key, sourceOf(ct));
    expect(reader.plaintextSize).toBe(n);
    for (const [a, len] of ranges) {
      const off = n === 0 ? 0 : a % (n + 1);
      const l = Math.min(len, n - off);
      expect(sameBytes(await reader.read(off, l), pt.slice(off, off + l))).toBe(true);
    }
    await expect(reader.read(n, 1)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  // Skipped in `npm test`: flipping each of the ~130,000 bits one at a time takes minutes here.
  // `npm run test:slow` (E2EE_SLOW_TESTS=1, run by .ci/run) runs it.
  it.runIf(SLOW)(
    '[slow] every single-bit flip of a two-chunk message is rejected with the right code',
    async () => {
      const ct = await encryptChunked(key, bytes(CHUNK_SIZE + 5));
      // Every bit of the header, and every bit of the first and last 64 bytes of each chunk.
      const positions = new Set<number>();
      for (let i = 0; i < HEADER_SIZE; i++) positions.add(i);
      for (const start of [HEADER_SIZE, HEADER_SIZE + RECORD_SIZE]) {
        for (let i = 0; i < 64; i++) positions.add(start + i);
      }
      for (let i = ct.length - 64; i < ct.length; i++) positions.add(i);
      for (let i = HEADER_SIZE + RECORD_SIZE - 64; i < HEADER_SIZE + RECORD_SIZE; i++) positions.add(i);
      for (const pos of positions) {
        if (pos >= ct.length) continue;
        for (let bit = 0; bit < 8; bit++) {
          const bad = ct.slice();
          bad[pos]! ^= 1 << bit;
          const want = pos < HEADER_SIZE ? 'COMMITMENT_MISMATCH' : 'CHUNK_AUTH';
          expect(await codeOf(decryptChunked(key, bad)), `byte ${pos} bit ${bit}`).toBe(want);
        }
      }
    },
  );

  test.prop([fc.integer({ min: 0, max: 3 * CHUNK_SIZE }), fc.nat(), fc.integer({ min: 0, max: 7 })], {
    numRuns: 200,
  })(
    'a flipped bit anywhere is rejected by the one-shot, streaming and random-access paths',
    async (n, where, bit) => {
      const ct = await encryptChunked(key, bytes(n, 5));
      const pos = where % ct.length;
      const bad = ct.slice();
      bad[pos]! ^= 1 << bit;
      const want = pos < HEADER_SIZE ? 'COMMITMENT_MISMATCH' : 'CHUNK_AUTH';
      expect(await codeOf(decryptChunked(key, bad))).toBe(want);
      expect(await streamDecryptCode(bad)).toBe(want);
      const opened = openChunked(key, sourceOf(bad)).then((r) => r.read(0, r.plaintextSize));
      expect(await codeOf(opened)).toBe(want);
    },
  );

  test.prop([fc.integer({ min: 0, max: 3 * CHUNK_SIZE }), fc.nat()], { numRuns: 150 })(
    'every truncation is rejected: TRUNCATED when the length is impossible, else CHUNK_AUTH',
    async (n, cut) => {
      const ct = await encryptChunked(key, bytes(n, 6));
      const len = cut % ct.length;
      const bad = ct.slice(0, len);
      let lengthPossible = true;
      try {
        chunkedPlaintextSize(len);
      } catch {
        lengthPossible = false;
      }
      const oneShot = await codeOf(decryptChunked(key, bad));
      const streamed = await streamDecryptCode(bad);
      if (len < HEADER_SIZE) {
        expect(oneShot).toBe('TRUNCATED');
        expect(streamed).toBe('TRUNCATED');
      } else if (lengthPossible) {
        expect(oneShot).toBe('CHUNK_AUTH');
        expect(streamed).toBe('CHUNK_AUTH');
      } else {
        expect(oneShot).toBe('TRUNCATED');
        expect(streamed).toBe('TRUNCATED');
      }
      expect(await codeOf(openChunked(key, sourceOf(bad)))).toBe(lengthPossible ? 'CHUNK_AUTH' : 'TRUNCATED');
    },
  );

  test.prop(
    [
      fc.oneof(
        fc.integer({ min: 0, max: 2 * CHUNK_SIZE + 10 }),
        fc.integer({ min: CHUNK_SIZE - 300, max: CHUNK_SIZE - 1 }),
      ),
      fc.uint8Array({ minLength: 1, maxLength: 256 }),
    ],
    { numRuns: 100 },
  )(
    'an extension of up to 256 bytes is named TRAILING_DATA by the sequential decryptors',
    async (n, extra) => {
      const ct = await encryptChunked(key, bytes(n, 7));
      const bad = new Uint8Array([...ct, ...extra]);
      expect(await codeOf(decryptChunked(key, bad))).toBe('TRAILING_DATA');
      expect(await streamDecryptCode(bad)).toBe('TRAILING_DATA');
      const random = await codeOf(openChunked(key, sourceOf(bad)));
      // Random access sees only the length: an impossible one is TRUNCATED, else the trailing data.
      expect(['TRAILING_DATA', 'TRUNCATED']).toContain(random);
    },
  );

  test.prop(
    [fc.integer({ min: 0, max: 2 * CHUNK_SIZE }), fc.uint8Array({ minLength: 257, maxLength: 40000 })],
    {
      numRuns: 30,
    },
  )('a longer extension is still rejected', async (n, extra) => {
    const ct = await encryptChunked(key, bytes(n, 7));
    const bad = new Uint8Array([...ct, ...extra]);
    for (const code of [await codeOf(decryptChunked(key, bad)), await streamDecryptCode(bad)]) {
      expect(['TRAILING_DATA', 'CHUNK_AUTH', 'TRUNCATED']).toContain(code);
    }
  });

  test.prop([fc.integer({ min: 2, max: 5 }), fc.nat(), fc.nat(), fc.boolean()], { numRuns: 40 })(
    'a swapped or duplicated chunk is rejected as CHUNK_AUTH',
    async (chunks, a, b, duplicate) => {
      const ct = await encryptChunked(key, bytes(chunks * CHUNK_SIZE + 100, 8));
      const i = a % (chunks + 1);
      let j = b % (chunks + 1);
      if (j === i) j = (i + 1) % (chunks + 1);
      const rec = (k: number) => ct.slice(HEADER_SIZE + k * RECORD_SIZE, HEADER_SIZE + (k + 1) * RECORD_SIZE);
      const records = Array.from({ length: chunks + 1 }, (_, k) => rec(k));
      if (duplicate) records[j] = records[i]!;
      else [records[i], records[j]] = [records[j]!, records[i]!];
      const bad = new Uint8Array(Buffer.concat([ct.subarray(0, HEADER_SIZE), ...records]));
      const codes = [await codeOf(decryptChunked(key, bad)), await streamDecryptCode(bad)];
      // Moving the short final chunk changes the length arithmetic; otherwise authentication fails.
      for (const c of codes) expect(['CHUNK_AUTH', 'TRUNCATED', 'TRAILING_DATA']).toContain(c);
      if (i !== chunks && j !== chunks) for (const c of codes) expect(c).toBe('CHUNK_AUTH');
    },
  );

  it('a wrong key or context fails the commitment before any chunk, and the stream releases nothing', async () => {
    const ct = await encryptChunked(key, bytes(50000), { context: 'a' });
    expect(await codeOf(decryptChunked(otherKey, ct, { context: 'a' }))).toBe('COMMITMENT_MISMATCH');
    expect(await codeOf(decryptChunked(key, ct, { context: 'b' }))).toBe('COMMITMENT_MISMATCH');
    expect(await codeOf(decryptChunked(key, ct))).toBe('COMMITMENT_MISMATCH');
    const released: Uint8Array[] = [];
    const { error } = await collect(createDecryptStream(otherKey, { context: 'a' }), [ct], released);
    expect(error).toMatchObject({
      code: 'COMMITMENT_MISMATCH',
      message: expect.stringMatching(/key commitment does not match: the key or context is wrong/),
    });
    expect(released).toHaveLength(0);
  });

  it('once the decrypt stream has failed it keeps failing', async () => {
    const ct = await encryptChunked(key, bytes(3 * CHUNK_SIZE));
    const bad = ct.slice();
    bad[HEADER_SIZE + RECORD_SIZE + 3]! ^= 1;
    const stream = createDecryptStream(key);
    const writer = stream.writable.getWriter();
    const reader = stream.readable.getReader();
    const [out] = await Promise.all([
      reader.read(),
      writer.write(bad.subarray(0, HEADER_SIZE + RECORD_SIZE)),
    ]);
    expect(out.value?.length).toBe(CHUNK_SIZE); // chunk 0 authenticated and was released
    const second = writer.write(bad.subarray(HEADER_SIZE + RECORD_SIZE, HEADER_SIZE + 2 * RECORD_SIZE));
    await expect(reader.read()).rejects.toMatchObject({ code: 'CHUNK_AUTH' });
    await expect(second).rejects.toMatchObject({ code: 'CHUNK_AUTH' });
    await expect(writer.write(ct.subarray(HEADER_SIZE + 2 * RECORD_SIZE))).rejects.toMatchObject({
      code: 'CHUNK_AUTH',
    });
    // Closing an errored stream is refused too (a TypeError, as the Streams spec says).
    await expect(writer.close()).rejects.toThrow();
  });

  it("never changes the caller's key, even a Node Buffer (whose slice() is a view)", async () => {
    const k = Buffer.from(key);
    const enc = await collect(createEncryptStream(k), [bytes(100)]);
    expect(sameBytes(k, key)).toBe(true);
    await collect(createDecryptStream(k), [enc.result]);
    expect(sameBytes(k, key)).toBe(true);
  });

  it('rejects keys of the wrong size and non-byte writes', async () => {
    for (const n of [0, 16, 31, 33, 64]) {
      expect(await codeOf(encryptChunked(new Uint8Array(n), bytes(1)))).toBe('INVALID_KEY_SIZE');
      expect(() => createDecryptStream(new Uint8Array(n))).toThrow(E2EEError);
    }
    const { error } = await collect(createEncryptStream(key), ['text' as unknown as Uint8Array]);
    expect((error as E2EEError).code).toBe('INVALID_ARGUMENT');
  });

  it('encryption memory does not grow with the input (heap stays flat over 64 MiB)', async () => {
    const piece = bytes(64 * 1024);
    const stream = createEncryptStream(key);
    const reader = stream.readable.getReader();
    const writer = stream.writable.getWriter();
    const drain = (async () => {
      for (;;) if ((await reader.read()).done) return;
    })();
    let peak = 0;
    for (let i = 0; i < 1024; i++) {
      await writer.write(piece);
      if (i % 64 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
    }
    await writer.close();
    await drain;
    // 64 MiB went through; a leak of the data would show as tens of MiB of heap.
    expect(peak).toBeLessThan(process.memoryUsage().heapUsed + 48 * 1024 * 1024);
  });
});

describe('the public chunked API takes no salt and no backend (e2ee-backup/testing does)', () => {
  it('refuses them with INVALID_ARGUMENT in every function, before any work', async () => {
    const pub = await import('../src/cobblestone/chunked.js');
    const ct = await pub.encryptChunked(key, bytes(100));
    const source = sourceOf(ct);
    const calls: [string, () => unknown][] = [
      ['encryptChunked salt', () => pub.encryptChunked(key, bytes(10), { salt } as never)],
      ['encryptChunked backend', () => pub.encryptChunked(key, bytes(10), { backend: 'noble' } as never)],
      ['createEncryptStream salt', () => pub.createEncryptStream(key, { salt } as never)],
      ['decryptChunked backend', () => pub.decryptChunked(key, ct, { backend: 'node' } as never)],
      ['createDecryptStream backend', () => pub.createDecryptStream(key, { backend: 'node' } as never)],
      ['openChunked salt', () => pub.openChunked(key, source, { salt } as never)],
    ];
    for (const [what, call] of calls) {
      let code: string | undefined;
      let message: string | undefined;
      try {
        await call();
      } catch (e) {
        code = e instanceof E2EEError ? e.code : String(e);
        message = (e as Error).message;
      }
      expect(code, what).toBe('INVALID_ARGUMENT');
      expect(message, what).toMatch(/e2ee-backup\/testing/); // where the option went
    }
  });

  it('two messages under one key never share a salt; the testing entry reproduces a chosen one', async () => {
    const pub = await import('../src/cobblestone/chunked.js');
    const a = await pub.encryptChunked(key, bytes(100));
    const b = await pub.encryptChunked(key, bytes(100));
    expect(sameBytes(a.subarray(0, 24), b.subarray(0, 24))).toBe(false);
    const c = await encryptChunked(key, bytes(100), { salt });
    const d = await encryptChunked(key, bytes(100), { salt, backend: 'noble' });
    expect(sameBytes(c, d)).toBe(true);
    expect(sameBytes(c.subarray(0, 24), salt)).toBe(true);
    expect(sameBytes(await pub.decryptChunked(key, c), bytes(100))).toBe(true);
  });
});

describe('the chunked API says why it refuses, and keeps its own copies', () => {
  async function errorOf(p: Promise<unknown> | (() => unknown)): Promise<E2EEError> {
    try {
      await (typeof p === 'function' ? p() : p);
    } catch (e) {
      if (e instanceof E2EEError) return e;
      throw e;
    }
    throw new Error('did not throw');
  }

  it('a stream refuses a write that is not a Uint8Array, before and after the header', async () => {
    for (const make of [() => createEncryptStream(key), () => createDecryptStream(key)]) {
      const { error } = await collect(make(), ['text' as unknown as Uint8Array]);
      expect((error as E2EEError).code).toBe('INVALID_ARGUMENT');
      expect((error as E2EEError).message).toBe('write Uint8Array pieces only');
    }
    const ct = await encryptChunked(key, bytes(100));
    const { error } = await collect(createDecryptStream(key), [ct.subarray(0, HEADER_SIZE), [1, 2] as never]);
    expect((error as E2EEError).message).toBe('write Uint8Array pieces only');
  });

  it('a stream releases nothing for a write that completes no chunk: no empty pieces', async () => {
    const enc: Uint8Array[] = [];
    const { result: ct } = await collect(createEncryptStream(key), [bytes(10)], enc);
    expect(enc.map((p) => p.length)).toEqual([HEADER_SIZE, 10 + TAG_SIZE]);
    const dec: Uint8Array[] = [];
    const { result, error } = await collect(
      createDecryptStream(key),
      [ct.subarray(0, HEADER_SIZE), ct.subarray(HEADER_SIZE, HEADER_SIZE + 5), ct.subarray(HEADER_SIZE + 5)],
      dec,
    );
    expect(error).toBeUndefined();
    expect(sameBytes(result, bytes(10))).toBe(true);
    expect(dec.map((p) => p.length)).toEqual([10]);
    const dec2: Uint8Array[] = [];
    await collect(
      createDecryptStream(key),
      [ct.subarray(0, HEADER_SIZE + 3), ct.subarray(HEADER_SIZE + 3)],
      dec2,
    );
    expect(dec2.map((p) => p.length)).toEqual([10]);
  });

  it('the decrypt stream keeps its own copy of the context', async () => {
    const context = new TextEncoder().encode('my context');
    const ct = await encryptChunked(key, bytes(100), { context });
    const stream = createDecryptStream(key, { context });
    context.fill(0);
    const { result, error } = await collect(stream, [ct]);
    expect(error).toBeUndefined();
    expect(sameBytes(result, bytes(100))).toBe(true);
  });

  it('openChunked: source.size must be a byte count; a short one is TRUNCATED, read or not', async () => {
    for (const size of [-1, 1.5, Number.NaN, Infinity, 2 ** 53, '100' as never]) {
      let reads = 0;
      const e = await errorOf(
        openChunked(key, {
          size,
          read: async () => {
            reads++;
            return new Uint8Array(0);
          },
        }),
      );
      expect(e.code, String(size)).toBe('INVALID_ARGUMENT');
      expect(e.message).toBe('source.size must be a byte count');
      expect(reads).toBe(0);
    }
    for (const size of [0, 1, HEADER_SIZE - 1]) {
      // A source that would return whatever is asked: the size alone decides.
      let reads = 0;
      const e = await errorOf(
        openChunked(key, {
          size,
          read: async (_o, n) => {
            reads++;
            return new Uint8Array(n);
          },
        }),
      );
      expect(e.code, String(size)).toBe('TRUNCATED');
      expect(reads).toBe(0);
    }
  });

  it('openChunked: a source that returns the wrong bytes or none is TRUNCATED, saying what it returned', async () => {
    const ct = await encryptChunked(key, bytes(100));
    const cases: [(o: number, n: number) => unknown, string][] = [
      [
        (o, n) => ct.slice(o, o + n - 1),
        `the source returned ${HEADER_SIZE - 1} bytes at offset 0, not ${HEADER_SIZE}`,
      ],
      [() => undefined, `the source returned no bytes at offset 0, not ${HEADER_SIZE}`],
      [
        (o, n) => Array.from(ct.subarray(o, o + n)),
        `the source returned ${HEADER_SIZE} bytes at offset 0, not ${HEADER_SIZE}`,
      ],
      [
        (o, n) => (o === 0 ? ct.slice(0, n) : Uint8Array.from([...ct.subarray(o, o + n), 0])),
        `the source returned ${100 + TAG_SIZE + 1} bytes at offset ${HEADER_SIZE}, not ${100 + TAG_SIZE}`,
      ],
    ];
    for (const [read, message] of cases) {
      const e = await errorOf(
        openChunked(key, { size: ct.length, read: async (o, n) => read(o, n) as Uint8Array }),
      );
      expect(e.code).toBe('TRUNCATED');
      expect(e.message).toBe(message);
    }
  });

  it('reader.read: refuses a bad range, saying why; a range up to the end is fine', async () => {
    const pt = bytes(2 * CHUNK_SIZE + 10);
    const reader = await openChunked(key, sourceOf(await encryptChunked(key, pt)));
    for (const [o, n] of [
      [-1, 1],
      [0, -1],
      [0.5, 1],
      [0, 1.5],
      [Number.NaN, 1],
      [0, Infinity],
    ] as const) {
      const e = await errorOf(reader.read(o, n));
      expect(e.code, `${o}, ${n}`).toBe('INVALID_ARGUMENT');
      expect(e.message).toBe('offset and length must be non-negative integers');
    }
    const past = await errorOf(reader.read(pt.length - 5, 6));
    expect(past.code).toBe('INVALID_ARGUMENT');
    expect(past.message).toBe(`bytes ${pt.length - 5}..${pt.length + 1} lie past the end (${pt.length})`);
    expect(sameBytes(await reader.read(pt.length - 5, 5), pt.subarray(pt.length - 5))).toBe(true);
    expect(sameBytes(await reader.read(0, pt.length), pt)).toBe(true);
    expect((await reader.read(pt.length, 0)).length).toBe(0);
    expect((await reader.read(CHUNK_SIZE, 0)).length).toBe(0);
    // Within one full chunk, across a boundary, and within the final chunk alone.
    for (const [o, n] of [
      [5, 10],
      [CHUNK_SIZE - 3, 6],
      [2 * CHUNK_SIZE + 1, 9],
      [CHUNK_SIZE, CHUNK_SIZE],
    ] as const)
      expect(sameBytes(await reader.read(o, n), pt.subarray(o, o + n)), `${o}, ${n}`).toBe(true);
  });

  it('the decrypt stream ends TRUNCATED, saying so, when the header is cut short or missing', async () => {
    const ct = await encryptChunked(key, bytes(100));
    for (const n of [0, 1, HEADER_SIZE - 1]) {
      const { error } = await collect(createDecryptStream(key), n === 0 ? [] : [ct.subarray(0, n)]);
      expect(error, String(n)).toMatchObject({
        code: 'TRUNCATED',
        message: `the ciphertext is ${n} bytes, shorter than the ${HEADER_SIZE}-byte salt and commitment`,
      });
    }
  });

  it('names trailing data after the final chunk exactly, in every reader', async () => {
    const ct = await encryptChunked(key, bytes(2 * CHUNK_SIZE + 100));
    const ext = new Uint8Array(ct.length + 5);
    ext.set(ct);
    ext.set([1, 2, 3, 4, 5], ct.length);
    // The final chunk is known to end the message: exactly 5 bytes follow, not "5 or more".
    const message = 'the message ends inside chunk 2, followed by 5 bytes of trailing data';
    expect(await errorOf(decryptChunked(key, ext))).toMatchObject({ code: 'TRAILING_DATA', message });
    const { error } = await collect(createDecryptStream(key), [ext]);
    expect(error).toMatchObject({ code: 'TRAILING_DATA', message });
    expect(await errorOf(openChunked(key, sourceOf(ext)))).toMatchObject({ code: 'TRAILING_DATA', message });
  });

  it('reader.read: a full record holding a final chunk and more is TRAILING_DATA, "or more"', async () => {
    const pt = bytes(3 * CHUNK_SIZE + 10);
    const ct = await encryptChunked(key, pt, { salt });
    // Same key and salt: a message whose chunk 1 is its final one (16 300 bytes, 16 316 sealed),
    // written over chunk 1 of the first: its record is 84 bytes longer than that final chunk.
    const short = await encryptChunked(key, pt.subarray(0, CHUNK_SIZE + 16300), { salt });
    const spliced = ct.slice();
    spliced.set(short.subarray(HEADER_SIZE + RECORD_SIZE), HEADER_SIZE + RECORD_SIZE);
    const reader = await openChunked(key, sourceOf(spliced));
    expect(sameBytes(await reader.read(0, 10), pt.subarray(0, 10))).toBe(true);
    // A full record is never the end of the message: more may follow than this record holds.
    expect(await errorOf(reader.read(CHUNK_SIZE, 10))).toMatchObject({
      code: 'TRAILING_DATA',
      message: 'the message ends inside chunk 1, followed by 84 or more bytes of trailing data',
    });
  });

  it('openChunked checks the commitment before the length, as decryptChunked and the stream do', async () => {
    const ct = await encryptChunked(key, bytes(100));
    // Just the header, and a length no message has (a 5-byte final chunk, shorter than a tag).
    for (const cut of [ct.slice(0, HEADER_SIZE), ct.slice(0, HEADER_SIZE + 5)]) {
      const codes = async (k: typeof key) => [
        await codeOf(decryptChunked(k, cut)),
        await streamDecryptCode(cut, k),
        await codeOf(openChunked(k, sourceOf(cut))),
      ];
      expect(await codes(key), String(cut.length)).toEqual(['TRUNCATED', 'TRUNCATED', 'TRUNCATED']);
      expect(await codes(otherKey), String(cut.length)).toEqual([
        'COMMITMENT_MISMATCH',
        'COMMITMENT_MISMATCH',
        'COMMITMENT_MISMATCH',
      ]);
    }
  });

  it('reader.read reads only the records it needs: never the final one again', async () => {
    const pt = bytes(2 * CHUNK_SIZE + 10);
    const ct = await encryptChunked(key, pt);
    const reads: [number, number][] = [];
    const reader = await openChunked(key, {
      size: ct.length,
      read: async (o, n) => {
        reads.push([o, n]);
        return ct.slice(o, o + n);
      },
    });
    const finalAt = HEADER_SIZE + 2 * RECORD_SIZE;
    expect(reads).toEqual([
      [0, HEADER_SIZE],
      [finalAt, 10 + TAG_SIZE],
    ]);
    const cases: [number, number, [number, number][]][] = [
      [2 * CHUNK_SIZE + 1, 9, []], // within the final chunk: authenticated when opening
      [2 * CHUNK_SIZE, 0, []],
      [5, 0, []], // nothing to read, even inside a full chunk
      [CHUNK_SIZE + 7, 0, []],
      [CHUNK_SIZE + 5, CHUNK_SIZE, [[HEADER_SIZE + RECORD_SIZE, RECORD_SIZE]]],
      [5, CHUNK_SIZE, [[HEADER_SIZE, 2 * RECORD_SIZE]]],
      [CHUNK_SIZE - 1, 1, [[HEADER_SIZE, RECORD_SIZE]]],
    ];
    for (const [o, n, want] of cases) {
      reads.length = 0;
      expect(sameBytes(await reader.read(o, n), pt.subarray(o, o + n)), `${o}, ${n}`).toBe(true);
      expect(reads, `${o}, ${n}`).toEqual(want);
    }
  });

  it('reader.read near the end of a 64 TiB message reads and allocates only the chunks it touches', async () => {
    // A source that claims 2^32 + 3 full chunks and can serve only the header, the last full
    // record and the final one, sealed here with node:crypto from the spec's text (the counter
    // XORed big-endian into the base nonce's last five bytes).
    const info = Buffer.concat([Buffer.from('c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\0'), salt]);
    const okm = okmFromSpec(info);
    const seal = (counter: number, pt: Uint8Array) => {
      const nonce = Buffer.from(okm.subarray(32, 44));
      for (let i = 0, c = BigInt(counter); i < 5; i++, c >>= 8n) nonce[11 - i]! ^= Number(c & 0xffn);
      const c = createCipheriv('aes-256-gcm', okm.subarray(0, 32), nonce);
      return new Uint8Array(Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]));
    };
    const n = 2 ** 32 + 3;
    const lastFull = bytes(CHUNK_SIZE, 5);
    const tail = bytes(10, 6);
    const records = new Map([
      [0, new Uint8Array(Buffer.concat([salt, okm.subarray(44, 76)]))],
      [HEADER_SIZE + (n - 1) * RECORD_SIZE, seal(n - 1, lastFull)],
      [HEADER_SIZE + n * RECORD_SIZE, seal(n, tail)],
    ]);
    const reader = await openChunked(key, {
      size: HEADER_SIZE + n * RECORD_SIZE + 10 + TAG_SIZE,
      read: async (o, len) => {
        const r = records.get(o);
        if (r?.length !== len) throw new Error(`unexpected read of ${len} bytes at ${o}`);
        return r;
      },
    });
    expect(reader.plaintextSize).toBe(n * CHUNK_SIZE + 10);
    const got = await reader.read(n * CHUNK_SIZE - 6, 16);
    expect(sameBytes(got, new Uint8Array([...lastFull.subarray(CHUNK_SIZE - 6), ...tail]))).toBe(true);
  });
});
