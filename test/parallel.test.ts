// The node backend's worker-thread path (src/pool.ts, the batcher in src/chunked.ts): a stream
// moves to the workers after its first MiB, so these messages are several MiB long. The bytes
// must be those of the single-thread path, and every failure must be named and stop the output
// at the last authenticated batch, exactly as on one thread.

import { createCipheriv } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { decryptBackupBytes, encryptBackupBytes } from '../src/backup.js';
import { CHUNK_SIZE, HEADER_SIZE, RECORD_SIZE } from '../src/chunked.js';
import { E2EEError } from '../src/errors.js';
import { workerPool } from '../src/pool.js';
import { createDecryptStream, createEncryptStream, decryptChunked, encryptChunked } from '../src/testing.js';
import { collect, sameBytes, seededSplits } from './util.js';

const workers = workerPool();
const key = new Uint8Array(32).map((_, i) => 3 * i + 1);
const salt = new Uint8Array(24).fill(5);
const MiB = 1 << 20;

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

// The single-thread reference: one-shot encryption never uses the pool.
const plain = bytes(5 * MiB + 12345, 7);
const reference = await encryptChunked(key, plain, { salt, context: 'parallel' });

describe('chunked streams on worker threads (node backend)', () => {
  it('has workers on this machine (CI has 2 cores; a single core would get none, and stay inline)', () => {
    expect(workers.size).toBe(Math.min(4, availableParallelism()));
    expect(workerPool()).toBe(workers); // one pool per process
  });

  test.prop([fc.integer({ min: 1, max: 2 ** 31 - 1 })], { numRuns: 6 })(
    'encrypts to the same bytes as the single-thread path, whatever the write sizes',
    async (seed) => {
      const { result, error } = await collect(
        createEncryptStream(key, { salt, context: 'parallel', workers }),
        seededSplits(plain, seed),
      );
      expect(error).toBeUndefined();
      expect(sameBytes(result, reference)).toBe(true);
    },
  );

  test.prop([fc.integer({ min: 1, max: 2 ** 31 - 1 })], { numRuns: 6 })(
    'decrypts in any write sizes to the plaintext',
    async (seed) => {
      const { result, error } = await collect(
        createDecryptStream(key, { context: 'parallel', workers }),
        seededSplits(reference, seed),
      );
      expect(error).toBeUndefined();
      expect(sameBytes(result, plain)).toBe(true);
    },
  );

  it('gives the same bytes without workers, and with big writes', async () => {
    const one = await collect(createEncryptStream(key, { salt, context: 'parallel' }), [plain]);
    const big = await collect(createEncryptStream(key, { salt, context: 'parallel', workers }), [
      plain.subarray(0, 3 * MiB),
      plain.subarray(3 * MiB),
    ]);
    expect(sameBytes(one.result, reference)).toBe(true);
    expect(sameBytes(big.result, reference)).toBe(true);
  });

  test.prop([fc.integer({ min: 70, max: 5 * 64 + 3 }), fc.integer({ min: 0, max: RECORD_SIZE - 1 })], {
    numRuns: 12,
  })(
    'a flipped bit deep in the message is CHUNK_AUTH naming the chunk, and nothing past the last good batch is released',
    async (chunk, at) => {
      const bad = reference.slice();
      const pos = Math.min(HEADER_SIZE + chunk * RECORD_SIZE + at, bad.length - 1);
      bad[pos]! ^= 0x40;
      const badChunk = Math.floor((pos - HEADER_SIZE) / RECORD_SIZE);
      const released: Uint8Array[] = [];
      const { result, error } = await collect(
        createDecryptStream(key, { context: 'parallel', workers }),
        seededSplits(bad, chunk * 7919 + at),
        released,
      );
      expect(error).toBeInstanceOf(E2EEError);
      expect((error as E2EEError).code).toBe('CHUNK_AUTH');
      expect((error as E2EEError).message).toContain(`chunk ${badChunk} `);
      // What was released is an authenticated prefix that stops before the bad chunk.
      expect(result.length).toBeLessThanOrEqual(badChunk * CHUNK_SIZE);
      expect(sameBytes(result, plain.subarray(0, result.length))).toBe(true);
    },
  );

  it('names a cut message TRUNCATED and a few extra bytes TRAILING_DATA, as one thread does', async () => {
    const cut = reference.subarray(0, HEADER_SIZE + 200 * RECORD_SIZE);
    const extended = new Uint8Array([...reference, 1, 2, 3]);
    for (const [ct, code] of [
      [cut, 'TRUNCATED'],
      [extended, 'TRAILING_DATA'],
    ] as const) {
      const { error } = await collect(
        createDecryptStream(key, { context: 'parallel', workers }),
        seededSplits(ct, 3),
      );
      expect((error as E2EEError).code).toBe(code);
      await expect(decryptChunked(key, ct, { context: 'parallel' })).rejects.toMatchObject({ code });
    }
  });

  it('a wrong context fails the commitment before the pool is involved', async () => {
    const { result, error } = await collect(createDecryptStream(key, { context: 'other', workers }), [
      reference,
    ]);
    expect((error as E2EEError).code).toBe('COMMITMENT_MISMATCH');
    expect(result.length).toBe(0);
  });

  it('a slow writer still gets each write back at once (no waiting for a full batch)', async () => {
    const stream = createDecryptStream(key, { context: 'parallel', workers });
    const writer = stream.writable.getWriter();
    const reader = stream.readable.getReader();
    // Past the first MiB, so the stream is on the workers; then one record at a time.
    const first = HEADER_SIZE + 80 * RECORD_SIZE;
    void writer.write(reference.subarray(0, first));
    let got = 0;
    while (got < 80 * CHUNK_SIZE) got += (await reader.read()).value!.length;
    for (let i = 0; i < 3; i++) {
      void writer.write(reference.subarray(first + i * RECORD_SIZE, first + (i + 1) * RECORD_SIZE));
      const { value } = await reader.read();
      expect(value?.length).toBe(CHUNK_SIZE);
      expect(sameBytes(value, plain.subarray((80 + i) * CHUNK_SIZE, (81 + i) * CHUNK_SIZE))).toBe(true);
    }
    await reader.cancel();
  });

  it('a backup made on workers opens without them, and the other way round', async () => {
    const body = plain.subarray(0, 3 * MiB + 7);
    const backupKey = new Uint8Array(32).fill(0x2a);
    for (const [enc, dec] of [
      [workers, undefined],
      [undefined, workers],
    ] as const) {
      const ct = await encryptBackupBytes(body, { key: backupKey, compression: 'none', workers: enc });
      const { data: out } = await decryptBackupBytes(ct, { key: backupKey, workers: dec });
      expect(sameBytes(out, body)).toBe(true);
    }
  });

  it('once failed on the workers, the stream keeps failing', async () => {
    const bad = reference.slice();
    bad[HEADER_SIZE + 100 * RECORD_SIZE + 9]! ^= 1;
    const stream = createDecryptStream(key, { context: 'parallel', workers });
    const writer = stream.writable.getWriter();
    const reader = stream.readable.getReader();
    const reading = (async () => {
      for (;;) if ((await reader.read()).done) return;
    })();
    await writer.write(bad.subarray(0, 2 * MiB)).catch(() => {});
    await expect(reading).rejects.toMatchObject({ code: 'CHUNK_AUTH' });
    await expect(writer.write(bad.subarray(2 * MiB, 3 * MiB))).rejects.toMatchObject({ code: 'CHUNK_AUTH' });
    await expect(writer.close()).rejects.toThrow();
  });

  it('the workers compute nonces past 2^32 chunks as the spec does (base nonce XOR the 40-bit counter)', async () => {
    const aesKey = new Uint8Array(32).fill(0x11);
    const baseNonce = new Uint8Array(12).map((_, i) => 0xa0 + i);
    const start = 2 ** 32 - 3; // the batch crosses the 32-bit boundary
    const count = 6;
    const out: Uint8Array[] = [];
    let controller!: TransformStreamDefaultController<Uint8Array>;
    const sink = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c as unknown as TransformStreamDefaultController<Uint8Array>;
      },
    });
    const reader = sink.getReader();
    const engine = workers.engine(
      'seal',
      { key: aesKey.slice(), baseNonce, counter: start },
      controller,
      () => Promise.resolve(new Error('no failure expected')),
    );
    const input = bytes(count * CHUNK_SIZE + 5, 99);
    await engine.push(input);
    const { rest, counter } = await engine.finish();
    expect(counter).toBe(start + count);
    expect(sameBytes(rest, input.subarray(count * CHUNK_SIZE))).toBe(true);
    for (let got = 0; got < count * RECORD_SIZE; ) {
      const { value } = await reader.read();
      out.push(value!);
      got += value!.length;
    }
    const sealed = Buffer.concat(out);
    for (let i = 0; i < count; i++) {
      // Independent: BigInt arithmetic on the counter, node:crypto for AES-GCM.
      const iv = Buffer.from(baseNonce);
      const c = BigInt(start + i);
      for (let b = 0; b < 5; b++) iv[11 - b]! ^= Number((c >> BigInt(8 * b)) & 0xffn);
      const cipher = createCipheriv('aes-256-gcm', aesKey, iv);
      const want = Buffer.concat([
        cipher.update(input.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE)),
        cipher.final(),
        cipher.getAuthTag(),
      ]);
      expect(sealed.subarray(i * RECORD_SIZE, (i + 1) * RECORD_SIZE).equals(want)).toBe(true);
    }
  });

  it('the workers refuse to go past 2^38 chunks (MESSAGE_TOO_LARGE)', async () => {
    let controller!: TransformStreamDefaultController<Uint8Array>;
    new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c as unknown as TransformStreamDefaultController<Uint8Array>;
      },
    });
    const engine = workers.engine(
      'seal',
      { key: new Uint8Array(32), baseNonce: new Uint8Array(12), counter: 2 ** 38 - 70 },
      controller,
      () => Promise.resolve(new Error('no failure expected')),
    );
    await expect(engine.push(new Uint8Array(2 * 64 * CHUNK_SIZE))).rejects.toMatchObject({
      code: 'MESSAGE_TOO_LARGE',
    });
  });
});

describe('chunked streams on WebCrypto (one buffer per chunk, passed on as WebCrypto returns it)', () => {
  const small = plain.subarray(0, 10 * CHUNK_SIZE + 77);
  const opts = { context: 'parallel', backend: 'webcrypto' } as const;

  it('hands over to worker threads after its first MiB with nothing in flight lost or reordered', async () => {
    const big = plain.subarray(0, 3 * 1024 * 1024 + 999);
    const ct = await encryptChunked(key, big, { salt, context: 'parallel' });
    for (const seed of [1, 2, 3]) {
      const enc = await collect(
        createEncryptStream(key, { ...opts, salt, workers }),
        seededSplits(big, seed),
      );
      expect(enc.error).toBeUndefined();
      expect(sameBytes(enc.result, ct)).toBe(true);
    }
  });

  it('round-trips in any write sizes, to the bytes of the node backend', async () => {
    const ct = await encryptChunked(key, small, { salt, context: 'parallel' });
    const enc = await collect(createEncryptStream(key, { ...opts, salt }), seededSplits(small, 5));
    expect(sameBytes(enc.result, ct)).toBe(true);
    const dec = await collect(createDecryptStream(key, opts), seededSplits(ct, 6));
    expect(sameBytes(dec.result, small)).toBe(true);
  });

  it('a modified chunk is CHUNK_AUTH naming it, and nothing of the failing write is released', async () => {
    const ct = await encryptChunked(key, small, { salt, context: 'parallel' });
    const bad = ct.slice();
    bad[HEADER_SIZE + 6 * RECORD_SIZE + 100]! ^= 2;
    const released: Uint8Array[] = [];
    // Writes of 4 records: the second write holds chunks 4..7, so chunks 0..3 alone come out.
    const cuts = [HEADER_SIZE + 4 * RECORD_SIZE, HEADER_SIZE + 8 * RECORD_SIZE];
    const { result, error } = await collect(
      createDecryptStream(key, opts),
      [bad.subarray(0, cuts[0]), bad.subarray(cuts[0], cuts[1]), bad.subarray(cuts[1])],
      released,
    );
    expect((error as E2EEError).code).toBe('CHUNK_AUTH');
    expect((error as E2EEError).message).toContain('chunk 6 ');
    expect(result.length).toBe(4 * CHUNK_SIZE);
    expect(sameBytes(result, small.subarray(0, 4 * CHUNK_SIZE))).toBe(true);
  });

  it('a few bytes after the end are TRAILING_DATA; a cut message is TRUNCATED', async () => {
    const ct = await encryptChunked(key, small, { salt, context: 'parallel' });
    const extended = new Uint8Array([...ct, 9, 9]);
    const cut = ct.subarray(0, HEADER_SIZE + 10 * RECORD_SIZE);
    expect(((await collect(createDecryptStream(key, opts), [extended])).error as E2EEError).code).toBe(
      'TRAILING_DATA',
    );
    expect(((await collect(createDecryptStream(key, opts), [cut])).error as E2EEError).code).toBe(
      'TRUNCATED',
    );
  });
});
