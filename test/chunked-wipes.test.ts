// What the chunked engine wipes when it is done with it: the streams' own copy of the caller's key,
// the plaintext carried between writes (a piece's whole chunks are sealed in place, not copied),
// also when a stream fails, is cancelled or aborted, and what it opened but does not return (a
// failed decrypt's chunks, the rest of a read's chunks, its trial openings). None is returned to
// the caller, so these tests look where the bytes go: the key copy to HKDF (@noble/hashes' HMAC,
// wrapped here to note the buffer it is given) or, where no HKDF runs, to its zeroing; the carried
// plaintext to AES-GCM (a crypto provider, the public way to supply one, or WebCrypto's `encrypt`,
// wrapped); and the buffers AES-GCM opens into (createAead, wrapped here).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CHUNK_SIZE, HEADER_SIZE, RECORD_SIZE } from '../src/cobblestone/chunked.js';
import { resetCryptoProvider } from '../src/internal/provider.js';
import {
  createDecryptStream,
  createEncryptStream,
  decryptChunked,
  encryptChunked,
  openChunked,
} from '../src/testing.js';
import { collect, pseudoRandom, sameBytes, sourceOf, watchSealing } from './util.js';

interface Seen {
  ref: Uint8Array;
  was: Uint8Array;
}

const { hmacKeys, openedInto } = vi.hoisted(() => ({
  hmacKeys: [] as Seen[],
  openedInto: new Set<Uint8Array>(),
}));

vi.mock('@noble/hashes/hmac.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('@noble/hashes/hmac.js')>();
  const create: typeof m.hmac.create = (hash, key) => {
    hmacKeys.push({ ref: key, was: key.slice() });
    return m.hmac.create(hash, key);
  };
  const hmac = Object.assign((...a: Parameters<typeof m.hmac>) => m.hmac(...a), { create });
  return { ...m, hmac };
});

// Every buffer AES-GCM opens a chunk into, so that a test can look at one the engine keeps.
vi.mock('../src/primitives/aes-gcm.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('../src/primitives/aes-gcm.js')>();
  const createAead: typeof m.createAead = async (...args) => {
    const aead = await m.createAead(...args);
    return {
      ...aead,
      open: (nonce, sealed, out, offset) => {
        openedInto.add(out);
        return aead.open(nonce, sealed, out, offset);
      },
    };
  };
  return { ...m, createAead };
});

const key = new Uint8Array(32).map((_, i) => i + 1);
const zero = (b: Uint8Array) => b.every((x) => x === 0);
/** Reads `reader` to its end, as a consumer would; settles then, or when the stream errors. */
const drain = async (reader: ReadableStreamDefaultReader<Uint8Array>) => {
  for (;;) if ((await reader.read()).done) return;
};

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

  it('the decryptors wipe what their trial openings wrote when a chunk fails', async () => {
    // A failing record is opened again at shorter lengths into a scratch buffer of the engine's,
    // looking for a valid final chunk followed by trailing data. Extended by 5 bytes, the final
    // chunk's 100 bytes of plaintext are found that way; with a byte flipped, every trial fails
    // (and node:crypto writes what it deciphered before the tag check).
    const pt = pseudoRandom(CHUNK_SIZE + 100, 6);
    const ct = await encryptChunked(key, pt);
    const extended = new Uint8Array(ct.length + 5);
    extended.set(ct);
    const flipped = ct.slice();
    flipped[ct.length - 50]! ^= 1;
    for (const [bad, code] of [
      [extended, 'TRAILING_DATA'],
      [flipped, 'CHUNK_AUTH'],
    ] as const)
      for (const run of [
        () => decryptChunked(key, bad),
        async () => {
          const { error } = await collect(createDecryptStream(key), [bad]);
          throw error;
        },
      ]) {
        openedInto.clear();
        await expect(run()).rejects.toMatchObject({ code });
        const scratch = [...openedInto].filter((b) => b.length === RECORD_SIZE);
        expect(scratch).toHaveLength(1);
        expect(zero(scratch[0]!), code).toBe(true);
      }
  });

  it('decryptChunked wipes the chunks that authenticated when a later one fails', async () => {
    // Whole chunks have opened before a failure in the final chunk, in the length check or in
    // trailing data. (A failure in the second chunk itself is wiped by the run that failed, as
    // before; that case guards it.)
    const pt = pseudoRandom(2 * CHUNK_SIZE + 100, 7);
    const ct = await encryptChunked(key, pt);
    const flippedFinal = ct.slice();
    flippedFinal[ct.length - 50]! ^= 1;
    const flippedSecond = ct.slice();
    flippedSecond[HEADER_SIZE + RECORD_SIZE + 10]! ^= 1;
    const extended = new Uint8Array(ct.length + 5);
    extended.set(ct);
    for (const [bad, code] of [
      [flippedFinal, 'CHUNK_AUTH'],
      [flippedSecond, 'CHUNK_AUTH'],
      [ct.subarray(0, HEADER_SIZE + 2 * RECORD_SIZE + 3), 'TRUNCATED'],
      [extended, 'TRAILING_DATA'],
    ] as const) {
      openedInto.clear();
      await expect(decryptChunked(key, bad)).rejects.toMatchObject({ code });
      const out = [...openedInto].filter((b) => b.length >= 2 * CHUNK_SIZE);
      expect(out, code).toHaveLength(1);
      expect(zero(out[0]!), code).toBe(true);
    }
  });

  it("openChunked's read wipes the whole chunks it opened beyond the bytes asked for", async () => {
    // (A read wholly inside the final chunk opens nothing: it copies the chunk the reader keeps.)
    const pt = pseudoRandom(3 * CHUNK_SIZE + 100, 8);
    const reader = await openChunked(key, sourceOf(await encryptChunked(key, pt)));
    for (const [offset, length] of [
      [10, 5],
      [CHUNK_SIZE - 3, 10],
      [2 * CHUNK_SIZE + 7, CHUNK_SIZE + 50],
    ] as const) {
      openedInto.clear();
      const got = await reader.read(offset, length);
      expect(sameBytes(got, pt.subarray(offset, offset + length))).toBe(true);
      const plain = [...openedInto].filter((b) => b !== got && b.length % CHUNK_SIZE === 0);
      expect(plain.length, `${offset}`).toBe(1);
      expect(zero(plain[0]!), `${offset}`).toBe(true);
    }
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

describe('the encrypt stream wipes what it carried when it stops early', () => {
  // 10 bytes are carried, then a piece completes that chunk, which is sealed from the carry (how
  // the test finds the carry's buffer), and leaves its last 10 bytes there: plaintext the stream
  // holds until it seals the next chunk, or until it stops.
  const pt = pseudoRandom(CHUNK_SIZE + 10, 9);
  const failure = 'the AES-GCM backend failed';

  /**
   * Shows `seen` what each seal is given, on a synchronous backend (a crypto provider over
   * node:crypto) or an asynchronous one (WebCrypto, whose `encrypt` is wrapped); `seen` may throw,
   * or return a promise to hold the seal. Returns the stream's options and an undo. A held
   * WebCrypto seal reads its input only when released: stricter than WebCrypto itself, which
   * copies it at the call.
   */
  function watchSeals(backend: 'provider' | 'webcrypto', seen: (data: Uint8Array) => void | Promise<void>) {
    if (backend === 'provider') {
      watchSealing((data) => void seen(data));
      return { options: {}, undo: () => resetCryptoProvider() };
    }
    const subtle = globalThis.crypto.subtle;
    const encrypt = subtle.encrypt.bind(subtle);
    const spy = vi.spyOn(subtle, 'encrypt').mockImplementation(async (algorithm, k, data) => {
      await seen(data as Uint8Array);
      return encrypt(algorithm, k, data);
    });
    return { options: { backend: 'webcrypto' as const }, undo: () => spy.mockRestore() };
  }

  type Stop = (io: {
    writer: WritableStreamDefaultWriter<Uint8Array>;
    reader: ReadableStreamDefaultReader<Uint8Array>;
    failSealing: () => void;
  }) => Promise<unknown>;

  async function carryAfter(
    backend: 'provider' | 'webcrypto',
    stop: Stop,
  ): Promise<{ carry: Uint8Array; error: unknown }> {
    const sealed: Uint8Array[] = [];
    let fail = false;
    const { options, undo } = watchSeals(backend, (data) => {
      if (fail) throw new Error(failure);
      sealed.push(data);
    });
    try {
      const stream = createEncryptStream(key, options);
      const writer = stream.writable.getWriter();
      const reader = stream.readable.getReader();
      let error: unknown;
      const reading = drain(reader).catch((e) => {
        error = e;
      });
      const pieces = [pt.slice(0, 10), pt.slice(10)];
      for (const p of pieces) await writer.write(p);
      expect(sealed).toHaveLength(1);
      const carry = new Uint8Array(sealed[0]!.buffer);
      expect(pieces.some((p) => p.buffer === carry.buffer)).toBe(false);
      expect(carry.length).toBe(CHUNK_SIZE);
      expect(sameBytes(carry.subarray(0, 10), pt.subarray(CHUNK_SIZE))).toBe(true);
      await stop({ writer, reader, failSealing: () => (fail = true) }).catch(() => {});
      await reading;
      await writer.closed.catch(() => {});
      return { carry, error };
    } finally {
      undo();
    }
  }

  for (const backend of ['provider', 'webcrypto'] as const)
    describe(`on ${backend === 'provider' ? 'a synchronous' : 'an asynchronous'} backend (${backend})`, () => {
      it('when its reader cancels it', async () => {
        const { carry } = await carryAfter(backend, ({ reader }) => reader.cancel(new Error('stop')));
        expect(zero(carry)).toBe(true);
      });

      it('when its writer aborts it', async () => {
        const { carry } = await carryAfter(backend, ({ writer }) => writer.abort(new Error('stop')));
        expect(zero(carry)).toBe(true);
      });

      it('when a write is not bytes', async () => {
        const { carry, error } = await carryAfter(backend, ({ writer }) =>
          writer.write('not bytes' as unknown as Uint8Array),
        );
        expect(error).toMatchObject({ code: 'INVALID_ARGUMENT' });
        expect(zero(carry)).toBe(true);
      });

      it('when sealing the carried chunk fails', async () => {
        const { carry, error } = await carryAfter(backend, ({ writer, failSealing }) => {
          failSealing();
          return writer.write(pt.slice(0, CHUNK_SIZE));
        });
        expect(error).toMatchObject({ message: failure });
        expect(zero(carry)).toBe(true);
      });

      it('when sealing the final chunk fails', async () => {
        const { carry, error } = await carryAfter(backend, ({ writer, failSealing }) => {
          failSealing();
          return writer.close();
        });
        expect(error).toMatchObject({ message: failure });
        expect(zero(carry)).toBe(true);
      });
    });

  /** A WebCrypto encrypt stream whose second seal (of the carry, refilled) is held. */
  async function holdingSecondSeal() {
    const inputs: Uint8Array[] = [];
    let release = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const { options, undo } = watchSeals('webcrypto', (data) => {
      inputs.push(data);
      if (inputs.length > 1) return held;
    });
    try {
      const stream = createEncryptStream(key, options);
      const writer = stream.writable.getWriter();
      const reader = stream.readable.getReader();
      const reading = drain(reader).catch(() => {});
      for (const p of [pt.slice(0, 10), pt.slice(10)]) await writer.write(p);
      const carry = new Uint8Array(inputs[0]!.buffer);
      expect(carry.length).toBe(CHUNK_SIZE);
      // How the held write ends: 'written' once its record is enqueued, else its error.
      const written = writer.write(pt.slice(0, CHUNK_SIZE)).then(
        () => 'written',
        (e: unknown) => e,
      );
      await vi.waitFor(() => expect(inputs).toHaveLength(2));
      expect(inputs[1]!.buffer).toBe(carry.buffer);
      return { carry, writer, reader, release, written, reading, undo };
    } catch (e) {
      release();
      undo();
      throw e;
    }
  }

  it('when its reader cancels it while the carried chunk is being sealed (webcrypto)', async () => {
    // The cancel wipes at once, with the seal in flight; the write then fails (its enqueue
    // throws: the readable side is closed), so what it sealed reaches no reader.
    const s = await holdingSecondSeal();
    try {
      await s.reader.cancel(new Error('stop'));
      expect(zero(s.carry)).toBe(true);
      s.release();
      expect(await s.written).toBeInstanceOf(Error);
      await s.reading;
      expect(zero(s.carry)).toBe(true);
    } finally {
      s.undo();
    }
  });

  it('when its writer aborts it while the carried chunk is being sealed (webcrypto)', async () => {
    // An abort waits for the write in flight, which is still reading the carry, and its record
    // is delivered; only then is the carry wiped. Wiping it earlier would seal zeros.
    const s = await holdingSecondSeal();
    try {
      const aborting = s.writer.abort(new Error('stop'));
      await new Promise((r) => setTimeout(r, 0));
      expect(zero(s.carry)).toBe(false);
      s.release();
      expect(await s.written).toBe('written');
      await aborting;
      await s.reading;
      expect(zero(s.carry)).toBe(true);
    } finally {
      s.undo();
    }
  });
});

describe('the decrypt stream wipes its key copy when it stops before the header', () => {
  // Its copy waits for the 56 header bytes; HKDF never sees it on these paths, so the test
  // watches the zeroing itself: a fill(0) of a 32-byte array that held the key.
  async function keyCopyAfter(stop: (stream: TransformStream<Uint8Array, Uint8Array>) => Promise<unknown>) {
    const wiped: Uint8Array[] = [];
    const fill = Uint8Array.prototype.fill;
    const spy = vi.spyOn(Uint8Array.prototype, 'fill').mockImplementation(function (
      this: Uint8Array,
      ...args: Parameters<Uint8Array['fill']>
    ) {
      if (this.length === 32 && args[0] === 0 && sameBytes(this, key)) wiped.push(this);
      return fill.apply(this, args);
    });
    try {
      const k = key.slice();
      await stop(createDecryptStream(k)).catch(() => {});
      expect(sameBytes(k, key)).toBe(true); // the caller's own is left alone
      return wiped.filter((w) => w !== k && w !== key);
    } finally {
      spy.mockRestore();
    }
  }
  const header = pseudoRandom(10, 11);

  for (const [what, stop] of [
    ['closed with nothing written', (s) => s.writable.getWriter().close()],
    [
      'closed inside the header (TRUNCATED)',
      (s) => collect(s, [header]).then(({ error }) => Promise.reject(error)),
    ],
    ['given a write that is not bytes', (s) => collect(s, ['not bytes' as unknown as Uint8Array])],
    [
      'cancelled inside the header',
      async (s) => {
        const r = s.readable.getReader();
        void r.read().catch(() => {}); // a read waiting: no backpressure
        await s.writable.getWriter().write(header);
        await r.cancel(new Error('stop'));
      },
    ],
    [
      'aborted inside the header',
      async (s) => {
        void s.readable
          .getReader()
          .read()
          .catch(() => {}); // a read waiting: no backpressure
        const w = s.writable.getWriter();
        await w.write(header);
        await w.abort(new Error('stop'));
      },
    ],
  ] as const satisfies readonly (readonly [
    string,
    (s: TransformStream<Uint8Array, Uint8Array>) => Promise<unknown>,
  ])[])
    it(what, async () => {
      const copies = await keyCopyAfter(stop);
      expect(copies).toHaveLength(1);
      expect(zero(copies[0]!)).toBe(true);
    });

  it('cancelled while the header is being checked, after HKDF has read the key', async () => {
    // HKDF reads the key copy before the check's first `await` (WebCrypto's importKey, held
    // here), so the cancel's wipe takes nothing from the check; the write then fails.
    const ct = await encryptChunked(key, pseudoRandom(CHUNK_SIZE + 100, 12)); // a whole chunk to enqueue
    let release = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    const subtle = globalThis.crypto.subtle;
    const importKey = subtle.importKey.bind(subtle) as (...a: unknown[]) => Promise<CryptoKey>;
    let imports = 0;
    const spy = vi.spyOn(subtle, 'importKey').mockImplementation((async (...args: unknown[]) => {
      imports++;
      await held;
      return importKey(...args);
    }) as never);
    try {
      const k = key.slice();
      hmacKeys.length = 0;
      const stream = createDecryptStream(k, { backend: 'webcrypto' });
      const reader = stream.readable.getReader();
      const reading = drain(reader).catch(() => {});
      const written = stream.writable
        .getWriter()
        .write(ct)
        .then(
          () => 'written',
          (e: unknown) => e,
        );
      await vi.waitFor(() => expect(imports).toBe(1));
      const copies = hmacKeys.filter((h) => h.ref !== k && h.ref !== key);
      expect(copies).toHaveLength(1);
      expect(sameBytes(copies[0]!.was, key)).toBe(true); // HKDF had the key …
      expect(zero(copies[0]!.ref)).toBe(false);
      await reader.cancel(new Error('stop'));
      expect(zero(copies[0]!.ref)).toBe(true); // … and the cancel wiped the copy at once
      release();
      expect(await written).toBeInstanceOf(Error);
      await reading;
      expect(sameBytes(k, key)).toBe(true);
    } finally {
      release();
      spy.mockRestore();
    }
  });
});
