// The async-iterable backup API (issue #20), for where ReadableStream does not exist: it runs here
// with ReadableStream, TransformStream and TextDecoder removed, and must write the very bytes the
// Web-stream API writes under the same seeded randomness, open what that API wrote, refuse every
// change with the same error codes, and never complete a body whose end does not authenticate.
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it, vi } from 'vitest';
import {
  type DecryptBackupOptions,
  decryptBackup,
  decryptBackupIterable,
  type EncryptBackupOptions,
  encryptBackup,
  encryptBackupBytes,
  encryptBackupIterable,
} from '../src/container/backup.js';
import { E2EEError } from '../src/errors.js';
import { readAll } from '../src/internal/streams.js';
import { sameBytes, seededSplits, textAndNoise, xorshift } from './util.js';

const key = new Uint8Array(32).map((_, i) => i * 3 + 7);

const MISSING = ['ReadableStream', 'WritableStream', 'TransformStream', 'TextDecoder'] as const;
const g = globalThis as unknown as Record<string, unknown>;
/** Runs `f` as on Hermes: no Web streams, no TextDecoder. */
async function withoutStreams<T>(f: () => Promise<T>): Promise<T> {
  const saved = MISSING.map((name) => g[name]);
  for (const name of MISSING) delete g[name];
  try {
    return await f();
  } finally {
    MISSING.forEach((name, i) => {
      g[name] = saved[i];
    });
  }
}

/** An async generator of `first` then, once `open()` is called, `second`; `closed()` once it ends. */
function gated(first: Uint8Array, second: Uint8Array) {
  let open = () => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  let ended = false;
  async function* input() {
    try {
      yield first;
      await gate;
      yield second;
    } finally {
      ended = true;
    }
  }
  return { input: input(), open, closed: () => ended };
}

/** Runs `fn` with WebCrypto's getRandomValues replaced by a seeded generator. */
async function seeded<T>(seed: number, fn: () => Promise<T>): Promise<T> {
  const next = xorshift(seed);
  const spy = vi.spyOn(globalThis.crypto, 'getRandomValues').mockImplementation(<A>(a: A) => {
    const v = a as unknown as ArrayBufferView;
    const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    for (let i = 0; i < bytes.length; i++) bytes[i] = next() & 255;
    return a;
  });
  try {
    return await fn();
  } finally {
    spy.mockRestore();
  }
}

async function* piecesOf(parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield p;
}

async function gather(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of it) parts.push(p.slice());
  return new Uint8Array(Buffer.concat(parts));
}

/** The outcome of opening `ct` through the Web-stream API: the body, or the error code. */
async function openWithStreams(ct: Uint8Array, o: DecryptBackupOptions): Promise<Uint8Array | string> {
  try {
    const { stream } = await decryptBackup(ct, o);
    return await readAll(stream);
  } catch (e) {
    return e instanceof E2EEError ? e.code : `not an E2EEError: ${e}`;
  }
}

/**
 * The outcome of opening `ct` through the iterable API without Web streams, and whether the
 * loop over the body ran to its end (it must not, when there is an error).
 */
async function openIterable(
  ct: Uint8Array | AsyncIterable<Uint8Array>,
  o: DecryptBackupOptions,
): Promise<{ outcome: Uint8Array | string; completed: boolean; released: number }> {
  let completed = false;
  let released = 0;
  try {
    return await withoutStreams(async () => {
      const { body } = await decryptBackupIterable(ct, o);
      const parts: Uint8Array[] = [];
      for await (const p of body) {
        parts.push(p.slice());
        released += p.length;
      }
      completed = true;
      return { outcome: new Uint8Array(Buffer.concat(parts)), completed, released };
    });
  } catch (e) {
    return { outcome: e instanceof E2EEError ? e.code : `not an E2EEError: ${e}`, completed, released };
  }
}

const options = (o: Partial<EncryptBackupOptions> = {}): EncryptBackupOptions => ({
  key,
  createdAt: new Date(0),
  metadata: { app: 'test' },
  ...o,
});

describe('encryptBackupIterable', () => {
  test.prop(
    {
      size: fc.oneof(
        fc.integer({ min: 0, max: 70000 }),
        fc.integer({ min: (1 << 20) - 20000, max: (1 << 20) + 40000 }),
      ),
      seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      compression: fc.constantFrom('deflate', 'none') as fc.Arbitrary<'deflate' | 'none'>,
      padding: fc.constantFrom('padme', 'none') as fc.Arbitrary<'padme' | 'none'>,
      pieces: fc.boolean(),
    },
    { numRuns: 12 },
  )(
    'writes the bytes encryptBackup and encryptBackupBytes write, and each API opens the other’s',
    async ({ size, seed, compression, padding, pieces }) => {
      const plain = textAndNoise(size, seed, 15, 5);
      const o = options({ compression, padding });
      const streamed = await seeded(seed, () => readAll(encryptBackup(plain, o)));
      const bytes = await seeded(seed, () => encryptBackupBytes(plain, o));
      const iterated = await seeded(seed, () =>
        withoutStreams(() =>
          gather(encryptBackupIterable(pieces ? piecesOf(seededSplits(plain, seed)) : plain, o)),
        ),
      );
      expect(sameBytes(iterated, streamed)).toBe(true);
      expect(sameBytes(iterated, bytes)).toBe(true);
      // The iterable opens what the stream wrote (here the same bytes), in pieces or whole.
      const opened = await openIterable(piecesOf(seededSplits(streamed, seed + 1)), { key });
      expect(opened.completed).toBe(true);
      expect(sameBytes(opened.outcome as Uint8Array, plain)).toBe(true);
      expect(sameBytes((await openWithStreams(iterated, { key })) as Uint8Array, plain)).toBe(true);
    },
  );

  it('with a password: the stream API opens what it wrote', async () => {
    const plain = textAndNoise(30000, 3);
    const o = { password: 'correct horse', kdf: { m: 64, t: 1, p: 1 }, allowWeakKdf: true };
    const ct = await withoutStreams(() => gather(encryptBackupIterable(plain, o)));
    expect(sameBytes((await openWithStreams(ct, { password: 'correct horse' })) as Uint8Array, plain)).toBe(
      true,
    );
    expect(await openWithStreams(ct, { password: 'correct horse!' })).toBe('WRONG_PASSWORD');
  });

  it('reads an iterable that has only Babel’s "@@asyncIterator" key (Hermes 0.12 has no Symbol.asyncIterator)', async () => {
    const plain = textAndNoise(40000, 2);
    const parts = seededSplits(plain, 3);
    const input = { '@@asyncIterator': () => piecesOf(parts) } as unknown as AsyncIterable<Uint8Array>;
    const ct = await withoutStreams(() => gather(encryptBackupIterable(input, { key })));
    expect(sameBytes((await openWithStreams(ct, { key })) as Uint8Array, plain)).toBe(true);
    const again = { '@@asyncIterator': () => piecesOf([ct]) } as unknown as AsyncIterable<Uint8Array>;
    expect(sameBytes((await openIterable(again, { key })).outcome as Uint8Array, plain)).toBe(true);
  });

  it('checks its options at the call, before anything is read', () => {
    const input = { [Symbol.asyncIterator]: vi.fn() };
    expect(() => encryptBackupIterable(input, { key, level: 10 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => encryptBackupIterable(input, {})).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    encryptBackupIterable(input, { key });
    expect(input[Symbol.asyncIterator].mock.calls.length).toBeLessThanOrEqual(1);
  });

  it('stops a pending next() with ABORTED when the signal fires, and releases the input', async () => {
    const returned = vi.fn(async () => ({ done: true as const, value: undefined }));
    let reads = 0;
    // One piece, then a source that never answers.
    const input: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => ({
        next: () =>
          reads++ === 0
            ? Promise.resolve({ done: false, value: new Uint8Array(100) })
            : new Promise(() => {}),
        return: returned,
      }),
    };
    const ac = new AbortController();
    await withoutStreams(async () => {
      const it = encryptBackupIterable(input, { key, signal: ac.signal })[Symbol.asyncIterator]();
      expect((await it.next()).value.length).toBeGreaterThan(0); // the header
      expect((await it.next()).value.length).toBe(56); // salt ‖ commitment
      const pending = it.next();
      setTimeout(() => ac.abort(new Error('user')), 10);
      await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
      expect(returned).toHaveBeenCalled();
      expect(await it.next()).toEqual({ done: true, value: undefined });
    });
  }, 20_000);

  it('stops at once an async generator waiting in next(), which ends when it next moves on', async () => {
    // A generator's return() waits for the next() it is inside: the abort must not wait for it.
    const { input, open, closed } = gated(new Uint8Array(100), new Uint8Array(100));
    const ac = new AbortController();
    await withoutStreams(async () => {
      const it = encryptBackupIterable(input, { key, signal: ac.signal })[Symbol.asyncIterator]();
      await it.next(); // the header
      await it.next(); // salt ‖ commitment
      const pending = it.next();
      setTimeout(() => ac.abort(new Error('user')), 10);
      await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
      expect(await it.next()).toEqual({ done: true, value: undefined });
      expect(closed()).toBe(false); // still inside next()
      open();
      await vi.waitFor(() => expect(closed()).toBe(true), { timeout: 10_000 }); // returned, not read on
    });
  }, 20_000);

  it('with a signal already aborted, stops with ABORTED before reading', async () => {
    const ac = new AbortController();
    ac.abort();
    const next = vi.fn();
    const input = { [Symbol.asyncIterator]: () => ({ next }) } as unknown as AsyncIterable<Uint8Array>;
    await expect(
      withoutStreams(() => gather(encryptBackupIterable(input, { key, signal: ac.signal }))),
    ).rejects.toMatchObject({
      code: 'ABORTED',
    });
    expect(next).not.toHaveBeenCalled();
  });

  it('leaving the loop early releases the input', async () => {
    const returned = vi.fn(async () => ({ done: true as const, value: undefined }));
    const input: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => ({
        next: async () => ({ done: false, value: new Uint8Array(70000) }),
        return: returned,
      }),
    };
    await withoutStreams(async () => {
      let n = 0;
      for await (const _ of encryptBackupIterable(input, { key, compression: 'none' })) if (++n === 3) break;
    });
    expect(returned).toHaveBeenCalled();
  });
});

/** Reads `it` until a read has waited 100 ms for its source, and answers that read (wrapped: not awaited). */
async function waitingRead(
  it: AsyncIterator<Uint8Array>,
): Promise<{ pending: Promise<IteratorResult<Uint8Array>> }> {
  for (;;) {
    const pending = it.next();
    const raced = await Promise.race([pending, new Promise((r) => setTimeout(() => r('waiting'), 100))]);
    if (raced === 'waiting') return { pending };
  }
}

describe('decryptBackupIterable', () => {
  // Small enough for every position, large enough for two chunks and padding.
  const plain = textAndNoise(20000, 11, 15, 5);
  let ct: Uint8Array;
  const written = async () => {
    ct ??= await readAll(encryptBackup(plain, options({ compression: 'none' })));
    return ct;
  };

  it('refuses every truncation with the stream API’s error, before the loop completes', async () => {
    const c = await written();
    // Every cut in the header and the first chunk's start, and in the last two chunks' end; a
    // stride between (the machine running this is shared: every one of 20 000 would take minutes).
    const cuts = new Set<number>();
    for (let n = 0; n < c.length; n++) if (n < 300 || c.length - n <= 80 || n % 613 === 0) cuts.add(n);
    for (const n of cuts) {
      const cut = c.subarray(0, n);
      const streamed = await openWithStreams(cut, { key });
      const iterated = await openIterable(cut, { key });
      expect(typeof streamed, `cut at ${n}`).toBe('string');
      expect(iterated.outcome, `cut at ${n}`).toBe(streamed);
      expect(iterated.completed).toBe(false);
    }
  }, 300_000);

  test.prop({ at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }, { numRuns: 150 })(
    'refuses a single-bit flip anywhere with the stream API’s error, before the loop completes',
    async ({ at, bit }) => {
      const c = (await written()).slice();
      c[at % c.length]! ^= 1 << bit;
      const streamed = await openWithStreams(c, { key });
      const iterated = await openIterable(c, { key });
      expect(typeof streamed).toBe('string');
      expect(iterated.outcome).toBe(streamed);
      expect(iterated.completed).toBe(false);
    },
  );

  it('refuses a flip of every bit of the final chunk’s tag before completing', async () => {
    const c0 = await written();
    for (let i = c0.length - 16; i < c0.length; i++)
      for (let bit = 0; bit < 8; bit++) {
        const c = c0.slice();
        c[i]! ^= 1 << bit;
        const iterated = await openIterable(c, { key });
        expect(iterated.outcome).toBe('CHUNK_AUTH');
        expect(iterated.completed).toBe(false);
      }
  });

  it('releases what was authenticated, then throws at the end when the final chunk fails', async () => {
    // 3 full chunks and a final one: the body of the full chunks may come out, never the end.
    const body = textAndNoise(3 * 16384 + 5000, 4);
    const c = await readAll(encryptBackup(body, options({ compression: 'none', padding: 'none' })));
    c[c.length - 1]! ^= 0x80;
    const r = await openIterable(piecesOf(seededSplits(c, 9)), { key });
    expect(r.outcome).toBe('CHUNK_AUTH');
    expect(r.completed).toBe(false);
    expect(r.released).toBeLessThan(body.length);
  });

  it('stops at maxOutputBytes with OUTPUT_LIMIT, as the stream does', async () => {
    const c = await written();
    expect(await openWithStreams(c, { key, maxOutputBytes: 1000 })).toBe('OUTPUT_LIMIT');
    const r = await openIterable(c, { key, maxOutputBytes: 1000 });
    expect(r.outcome).toBe('OUTPUT_LIMIT');
    expect(r.released).toBe(0);
    expect((await openIterable(c, { key, maxOutputBytes: plain.length })).completed).toBe(true);
  });

  it('stops a pending next() with ABORTED when the signal fires, and releases the input', async () => {
    // More than the 64 chunks opened before the body is returned.
    const c = await readAll(encryptBackup(textAndNoise(1_200_000, 5), options({ compression: 'none' })));
    const returned = vi.fn(async () => ({ done: true as const, value: undefined }));
    let reads = 0;
    // All but the end, then a source that never answers.
    const input: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => ({
        next: () =>
          reads++ === 0
            ? Promise.resolve({ done: false, value: c.slice(0, c.length - 200) })
            : new Promise(() => {}),
        return: returned,
      }),
    };
    const ac = new AbortController();
    await withoutStreams(async () => {
      const { body } = await decryptBackupIterable(input, { key, signal: ac.signal });
      const it = body[Symbol.asyncIterator]();
      // What the opened chunks hold comes out; the read that waits on the source is stopped.
      const { pending } = await waitingRead(it);
      expect(returned).not.toHaveBeenCalled();
      ac.abort(new Error('user'));
      await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
      expect(returned).toHaveBeenCalled();
      expect(await it.next()).toEqual({ done: true, value: undefined });
    });
  }, 20_000);

  it('stops at once an async generator waiting in next(), which ends when it next moves on', async () => {
    const c = await readAll(encryptBackup(textAndNoise(1_200_000, 5), options({ compression: 'none' })));
    const { input, open, closed } = gated(c.slice(0, c.length - 200), c.slice(c.length - 200));
    const ac = new AbortController();
    await withoutStreams(async () => {
      const { body } = await decryptBackupIterable(input, { key, signal: ac.signal });
      const it = body[Symbol.asyncIterator]();
      const { pending } = await waitingRead(it);
      ac.abort(new Error('user'));
      await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
      expect(await it.next()).toEqual({ done: true, value: undefined });
      expect(closed()).toBe(false);
      open();
      await vi.waitFor(() => expect(closed()).toBe(true), { timeout: 10_000 });
    });
  }, 20_000);

  it('with a signal already aborted, stops with ABORTED', async () => {
    const ac = new AbortController();
    ac.abort();
    expect((await openIterable(await written(), { key, signal: ac.signal })).outcome).toBe('ABORTED');
  });

  it('checks its arguments before reading', async () => {
    const next = vi.fn();
    const input = { [Symbol.asyncIterator]: () => ({ next }) } as unknown as AsyncIterable<Uint8Array>;
    expect((await openIterable(input, { key, maxOutputBytes: Number.NaN })).outcome).toBe('INVALID_ARGUMENT');
    expect(next).not.toHaveBeenCalled();
  });
});
