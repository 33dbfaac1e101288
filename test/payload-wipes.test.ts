// What a backup's payload streams wipe: the one reused plaintext buffer of each side, up to what
// it ever held (src/container/payload-streams.ts). The sealer's is seen where it goes, as the
// chunks it hands AES-GCM (a crypto provider, the public way to supply one); the opener's as
// the views its reader lends.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CHUNK_SIZE } from '../src/cobblestone/chunked.js';
import { decryptBackup, decryptBackupIterable, encryptBackup } from '../src/container/backup.js';
import { openedReader } from '../src/container/payload-streams.js';
import { resetCryptoProvider } from '../src/internal/provider.js';
import { toPieceSource } from '../src/internal/streams.js';
import { encryptChunked } from '../src/testing.js';
import { byteStreamOf, pseudoRandom, sameBytes, watchByobReads, watchSealing } from './util.js';

const key = new Uint8Array(32).map((_, i) => i + 7);
const zero = (b: Uint8Array) => b.every((x) => x === 0);
const MiB = 2 ** 20;

afterEach(() => {
  vi.restoreAllMocks();
  resetCryptoProvider();
});

/** The plaintext each AES-GCM cipher is given, from now on. */
function watched(): Uint8Array[] {
  const seen: Uint8Array[] = [];
  watchSealing((p) => seen.push(p));
  return seen;
}

/** A stream that gives `first` and then waits for more until it is cancelled. */
function stalled(first: Uint8Array): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(c) {
      if (sent) return new Promise(() => {});
      sent = true;
      c.enqueue(first);
    },
  });
}

/** Lets every pending read, open and seal run as far as it can. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

async function readAllOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
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

  it('holds only zeros when the reader cancels while a batch waits for input', async () => {
    // Past the first batch the input stalls, so a read is pending (filling the buffer) when
    // the cancel comes; once it has gone through, the buffer must hold nothing.
    for (const first of [MiB + 5, 2 * MiB - 100, 3 * MiB - 1]) {
      const seen = watched();
      const reader = encryptBackup(stalled(pseudoRandom(first, first)), {
        key,
        compression: 'none',
      }).getReader();
      const reads = Array.from({ length: 6 }, () => reader.read().catch(() => undefined));
      await settle();
      await reader.cancel();
      await Promise.all(reads);
      await settle();
      const batches = seen.filter((s) => s.buffer.byteLength === MiB);
      expect(batches.length, `${first}`).toBeGreaterThan(0);
      expect(zero(new Uint8Array(batches[0]!.buffer)), `${first}`).toBe(true);
      resetCryptoProvider();
    }
  });
});

describe("the encrypt path's blocks: the buffer input is read into, and the copies deflate gets", () => {
  /** Every 1 MiB buffer that input was read (BYOB) or copied (`set`) into, from now on. */
  function plaintextBuffers(): () => ArrayBufferLike[] {
    const set = vi.spyOn(Uint8Array.prototype, 'set');
    const filled = watchByobReads();
    return () =>
      [...(set.mock.contexts as Uint8Array[]).map((c) => c.buffer), ...filled].filter(
        (b) => b.byteLength === MiB,
      );
  }
  // Five letters at random: deflate takes it to about 3/8 of its size, no further (log2 5 bits a
  // byte), so zlib has work in flight and the backup cannot end within a few reads.
  const text = (n: number) => pseudoRandom(n, n).map((b) => 97 + (b % 5));
  /** `data` as a byte stream (read BYOB), a default stream, or an async iterable. */
  let pulled = 0; // how far the input was read
  const inputs = {
    bytes: (data: Uint8Array) =>
      byteStreamOf(data, {
        pulled: (n) => {
          pulled = n;
        },
      }),
    default: (data: Uint8Array) => {
      let off = 0;
      return new ReadableStream<Uint8Array>({
        pull(c) {
          if (off >= data.length) return c.close();
          c.enqueue(data.slice(off, off + 300_000));
          off += 300_000;
          pulled = off;
        },
      });
    },
    iterable: async function* (data: Uint8Array) {
      for (let off = 0; off < data.length; off += 300_000) {
        pulled = off + 300_000;
        yield data.slice(off, off + 300_000);
      }
    },
  };
  const cases = Object.keys(inputs).flatMap((input) =>
    (['deflate', 'none'] as const).flatMap((compression) =>
      [text, (n: number) => pseudoRandom(n, n)].map((body) => ({
        input: input as keyof typeof inputs,
        compression,
        body,
      })),
    ),
  );

  it('hold only zeros once a backup is sealed', async () => {
    for (const { input, compression, body } of cases) {
      const buffers = plaintextBuffers();
      const data = body(3 * MiB + 5);
      const sealed = await readAllOf(encryptBackup(inputs[input](data), { key, compression }));
      const name = `${input}, ${compression}, ${body === text ? 'text' : 'random'}`;
      expect(buffers().length, name).toBeGreaterThan(0);
      for (const b of buffers()) expect(zero(new Uint8Array(b)), name).toBe(true);
      vi.restoreAllMocks();
      const { stream } = await decryptBackup(sealed, { key });
      expect(sameBytes(await readAllOf(stream), data), name).toBe(true);
    }
  });

  it('hold only zeros once the reader cancels half-way', async () => {
    for (const { input, compression, body } of cases) {
      const buffers = plaintextBuffers();
      const reader = encryptBackup(inputs[input](body(12 * MiB)), { key, compression }).getReader();
      pulled = 0;
      for (let i = 0; i < 3; i++) await reader.read();
      await reader.cancel();
      const name = `${input}, ${compression}, ${body === text ? 'text' : 'random'}`;
      expect(pulled, name).toBeLessThan(9 * MiB); // of 12: half-way indeed
      // Blocks still being deflated are wiped once zlib is done with them.
      await vi.waitFor(
        () => {
          for (const b of buffers()) expect(zero(new Uint8Array(b)), name).toBe(true);
        },
        { timeout: 10_000 },
      );
      expect(buffers().length, name).toBeGreaterThan(compression === 'deflate' ? 2 : 1);
      vi.restoreAllMocks();
    }
  });

  it('hold only zeros once cancelled while an async generator input waits in next()', async () => {
    // A generator's return() waits for the next() it is inside: the cancel must not wait for
    // it, nor leave the copies with zlib and in the pool unwiped.
    const buffers = plaintextBuffers();
    let waiting = false;
    async function* input() {
      yield text(5 * MiB);
      waiting = true;
      await new Promise(() => {});
    }
    const reader = encryptBackup(input(), { key }).getReader();
    const reads = Array.from({ length: 8 }, () => reader.read().catch(() => undefined));
    await vi.waitFor(() => expect(waiting).toBe(true), { timeout: 10_000 });
    await settle();
    await reader.cancel();
    await Promise.all(reads);
    expect(buffers().length).toBeGreaterThan(2); // the sealer's buffer and copies
    await vi.waitFor(
      () => {
        for (const b of buffers()) expect(zero(new Uint8Array(b))).toBe(true);
      },
      { timeout: 10_000 },
    );
  }, 20_000);
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

  it('holds only zeros once cancelled, with or without a read waiting for input', async () => {
    // 66 records where the stream stalls: the first batch (64) is read, and the next read waits
    // for more records when the cancel comes (the old code then opened the two it had).
    const pt = pseudoRandom(67 * CHUNK_SIZE, 4);
    const ct = await encryptChunked(key, pt, { context });
    for (const pending of [false, true]) {
      const reader = await openedReader(
        key,
        context,
        [],
        stalled(ct.subarray(0, 56 + 66 * (CHUNK_SIZE + 16))),
      );
      const first = await reader.upTo(64 * CHUNK_SIZE);
      expect(first!.length).toBe(64 * CHUNK_SIZE);
      expect(sameBytes(first!.slice(), pt.subarray(0, 64 * CHUNK_SIZE))).toBe(true);
      const next = pending ? reader.upTo(100) : undefined;
      await settle();
      await reader.cancel(new Error('stop'));
      if (next) await expect(next).rejects.toMatchObject({ code: 'ABORTED' });
      await settle();
      expect(zero(new Uint8Array(first!.buffer)), `pending ${pending}`).toBe(true);
      await expect(reader.upTo(1)).rejects.toMatchObject({ code: 'ABORTED' });
      await expect(reader.exactly(1)).rejects.toMatchObject({ code: 'ABORTED' });
    }
  });

  it('holds only zeros when decryptBackupIterable is aborted while a read waits for input', async () => {
    // Through the public API, where the buffer is not lent out: it is found as the 1 MiB array
    // that the opener wipes (the only one there is).
    const body = pseudoRandom(3 * MiB, 6);
    const sealed = await readAllOf(encryptBackup(body, { key, compression: 'none', padding: 'none' }));
    const wiped = new Set<ArrayBufferLike>();
    const fill = Uint8Array.prototype.fill;
    vi.spyOn(Uint8Array.prototype, 'fill').mockImplementation(function (this: Uint8Array, ...a) {
      if (this.buffer.byteLength === MiB) wiped.add(this.buffer);
      return fill.apply(this, a);
    });
    const ac = new AbortController();
    const { body: it } = await decryptBackupIterable(stalled(sealed.subarray(0, 1.5 * MiB)), {
      key,
      signal: ac.signal,
    });
    const pieces = it[Symbol.asyncIterator]();
    let got = 0;
    for (;;) {
      const next = pieces.next();
      const r = await Promise.race([next, settle().then(() => 'waiting' as const)]);
      if (r === 'waiting') {
        ac.abort();
        await expect(next).rejects.toMatchObject({ code: 'ABORTED' });
        break;
      }
      expect(r.done).toBe(false);
      got += r.value!.length;
    }
    await settle();
    expect(got).toBeGreaterThan(0);
    expect(wiped.size).toBe(1);
    for (const b of wiped) expect(zero(new Uint8Array(b))).toBe(true);
  });

  it('holds only zeros after a record fails, the bytes its open wrote included', async () => {
    const pt = pseudoRandom(CHUNK_SIZE + 100, 9);
    const ct = await encryptChunked(key, pt, { context });
    ct[ct.length - 20]! ^= 1; // in the final record's ciphertext: its open writes, then fails
    const { views, copies, error } = await lentViews(ct, CHUNK_SIZE);
    expect(error).toMatchObject({ code: 'CHUNK_AUTH' });
    expect(copies.length).toBe(1);
    expect(sameBytes(copies[0], pt.subarray(0, CHUNK_SIZE))).toBe(true);
    const buffer = new Uint8Array(views[0]!.buffer);
    expect(zero(buffer)).toBe(true);
  });
});
