// The engine (src/cobblestone/message.ts) at chunk counters no whole message in a test reaches:
// the nonce's high bytes and the 2^38-chunk limit (SPEC.md §4), checked against an independent
// construction from node:crypto (HMAC-SHA-512 HKDF-Expand, AES-256-GCM), not against the engine.
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TEST_HOOKS } from '../src/cobblestone/hooks.js';
import {
  CHUNK_SIZE,
  chunkedPlaintextSize,
  createMessageOpener,
  createMessageSealer,
  HEADER_SIZE,
  MAX_CHUNKS,
  RECORD_SIZE,
} from '../src/cobblestone/message.js';
import { E2EEError } from '../src/errors.js';
import type { AeadBackend } from '../src/primitives/aes-gcm.js';

const INFO_PREFIX = Buffer.from('c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\u0000');

/** RFC 5869 HKDF-Expand with SHA-512, written out. */
function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Buffer {
  const blocks: Buffer[] = [];
  let t = Buffer.alloc(0);
  for (let i = 1; Buffer.concat(blocks).length < length; i++) {
    t = createHmac('sha512', prk)
      .update(Buffer.concat([t, info, Buffer.of(i)]))
      .digest();
    blocks.push(t);
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/** The message's keys, and chunk `counter` sealed as the spec says: base nonce XOR u96(counter). */
function reference(inputKey: Uint8Array, salt: Uint8Array, context: Uint8Array) {
  const okm = hkdfExpand(inputKey, Buffer.concat([INFO_PREFIX, salt, context]), 76);
  const key = okm.subarray(0, 32);
  const baseNonce = okm.subarray(32, 44);
  return {
    prefix: Buffer.concat([salt, okm.subarray(44, 76)]),
    seal(counter: number, plaintext: Uint8Array): Buffer {
      const nonce = Buffer.from(baseNonce);
      let c = BigInt(counter);
      for (let i = 11; i >= 0; i--, c >>= 8n) nonce[i]! ^= Number(c & 0xffn);
      const gcm = createCipheriv('aes-256-gcm', key, nonce);
      return Buffer.concat([gcm.update(plaintext), gcm.final(), gcm.getAuthTag()]);
    },
  };
}

// node:crypto takes the synchronous path (one reused nonce buffer), WebCrypto the asynchronous one.
const BACKENDS: AeadBackend[] = ['node', 'webcrypto'];
// Each counter sets bits in another byte of the nonce: 0–7 (byte 11) up to 32–37 (byte 7).
const COUNTERS = [0x01, 0x0203, 0x040506, 0x0708090a, 2 ** 32 + 0x0b, 2 ** 36 + 2 ** 33 + 7, MAX_CHUNKS - 1];

describe('the engine at any chunk counter', () => {
  for (const backend of BACKENDS) {
    it(`opens chunks sealed by the reference at counters up to 2^38 - 1 (${backend})`, async () => {
      const inputKey = randomBytes(32);
      const salt = randomBytes(24);
      const context = Buffer.from('message.test');
      const ref = reference(inputKey, salt, context);
      const opener = await createMessageOpener(inputKey, ref.prefix, {
        context,
        [TEST_HOOKS]: { backend },
      } as object);
      for (const counter of COUNTERS) {
        const full = randomBytes(CHUNK_SIZE);
        const short = randomBytes(100);
        const out = new Uint8Array(CHUNK_SIZE);
        await opener.openAt(counter, ref.seal(counter, full), out, 0, false);
        expect(Buffer.from(out).equals(full), `full chunk ${counter}`).toBe(true);
        await opener.openAt(counter, ref.seal(counter, short), out, 0, true);
        expect(Buffer.from(out.subarray(0, 100)).equals(short), `final chunk ${counter}`).toBe(true);
        // The same record under its neighbours' counters does not open.
        for (const other of [counter - 1, counter + 1].filter((c) => c >= 0 && c < MAX_CHUNKS))
          await expect(
            Promise.resolve().then(() => opener.openAt(other, ref.seal(counter, full), out, 0, false)),
          ).rejects.toMatchObject({ code: 'CHUNK_AUTH' });
      }
    });

    it(`refuses chunk 2^38 and beyond: MESSAGE_TOO_LARGE (${backend})`, async () => {
      const inputKey = randomBytes(32);
      const ref = reference(inputKey, randomBytes(24), new Uint8Array(0));
      const opener = await createMessageOpener(inputKey, ref.prefix, { [TEST_HOOKS]: { backend } } as object);
      for (const counter of [MAX_CHUNKS, MAX_CHUNKS + 1]) {
        const record = ref.seal(counter - 1, new Uint8Array(10));
        await expect(
          Promise.resolve().then(() => opener.openAt(counter, record, new Uint8Array(CHUNK_SIZE), 0, true)),
        ).rejects.toMatchObject({
          code: 'MESSAGE_TOO_LARGE',
          message: expect.stringMatching(/2\^38 chunks/),
        });
      }
    });
  }

  it('names trailing data exactly up to 256 bytes past the final chunk, CHUNK_AUTH beyond', async () => {
    const inputKey = randomBytes(32);
    const ref = reference(inputKey, randomBytes(24), new Uint8Array(0));
    const opener = await createMessageOpener(inputKey, ref.prefix);
    const record = ref.seal(3, randomBytes(1000));
    for (const extra of [1, 255, 256, 257]) {
      const extended = Buffer.concat([record, Buffer.alloc(extra, 0x0a)]);
      const err = await Promise.resolve()
        .then(() => opener.openAt(3, extended, new Uint8Array(CHUNK_SIZE), 0, true))
        .catch((e) => e);
      if (extra <= 256)
        expect(err, `${extra}`).toMatchObject({
          code: 'TRAILING_DATA',
          message: `the message ends inside chunk 3, followed by ${extra} bytes of trailing data`,
        });
      else expect(err, `${extra}`).toMatchObject({ code: 'CHUNK_AUTH' });
    }
    // Read as a record that is not the message's last: the bytes after it may go on.
    const err = await Promise.resolve()
      .then(() =>
        opener.openAt(3, Buffer.concat([record, Buffer.alloc(100)]), new Uint8Array(CHUNK_SIZE), 0, false),
      )
      .catch((e) => e);
    expect(err).toMatchObject({
      code: 'TRAILING_DATA',
      message: 'the message ends inside chunk 3, followed by 100 or more bytes of trailing data',
    });
  });
});

/** The error `f` throws or rejects with (undefined when it succeeds). */
async function failure(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('a failure inside a run of several records names the chunk that failed', () => {
  for (const backend of BACKENDS) {
    it(`CHUNK_AUTH names the modified chunk by its counter (${backend})`, async () => {
      const inputKey = randomBytes(32);
      const ref = reference(inputKey, randomBytes(24), new Uint8Array(0));
      const opener = await createMessageOpener(inputKey, ref.prefix, { [TEST_HOOKS]: { backend } } as object);
      const records = Buffer.concat([5, 6, 7].map((c) => ref.seal(c, randomBytes(CHUNK_SIZE))));
      records[RECORD_SIZE + 10]! ^= 1; // chunk 6, the run's second record
      const out = new Uint8Array(3 * CHUNK_SIZE).fill(0xaa);
      const err = await failure(() => opener.openAt(5, records, out, 0, false));
      expect(err).toMatchObject({
        code: 'CHUNK_AUTH',
        message: expect.stringMatching(/^chunk 6 failed authentication/),
      });
      expect(out.every((b) => b === 0)).toBe(true); // chunk 5 opened, and was wiped
    });

    it(`TRAILING_DATA found in a run's second record: its chunk, and "or more" before the run's end (${backend})`, async () => {
      const inputKey = randomBytes(32);
      const ref = reference(inputKey, randomBytes(24), new Uint8Array(0));
      const opener = await createMessageOpener(inputKey, ref.prefix, { [TEST_HOOKS]: { backend } } as object);
      // Chunk 9 full, chunk 10 final (16300 bytes, a 16316-byte record), then 100 extra bytes: the
      // second record holds the final chunk and 84 of them, a third record the other 16.
      const run = Buffer.concat([
        ref.seal(9, randomBytes(CHUNK_SIZE)),
        ref.seal(10, randomBytes(16300)),
        Buffer.alloc(100, 0x0a),
      ]);
      const err = await failure(() => opener.openAt(9, run, new Uint8Array(3 * CHUNK_SIZE), 0, true));
      expect(err).toMatchObject({
        code: 'TRAILING_DATA',
        message: 'the message ends inside chunk 10, followed by 84 or more bytes of trailing data',
      });
    });
  }
});

describe("the engine's argument checks", () => {
  const key = new Uint8Array(32).fill(3);

  it('a salt (from the testing hook) must be 24 bytes', async () => {
    for (const n of [0, 23, 25]) {
      const options = { [TEST_HOOKS]: { salt: new Uint8Array(n) } } as object;
      expect(await failure(() => createMessageSealer(key, options)), `${n}`).toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/salt must be 24 bytes/),
      });
    }
  });

  it('the input key must be a Uint8Array of 32 bytes', async () => {
    const prefix = (await createMessageSealer(key)).prefix;
    const notBytes = Array.from(key) as unknown as Uint8Array;
    for (const start of [() => createMessageSealer(notBytes), () => createMessageOpener(notBytes, prefix)])
      expect(await failure(start)).toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/input key must be a Uint8Array/),
      });
    for (const start of [
      () => createMessageSealer(new Uint8Array(31)),
      () => createMessageOpener(new Uint8Array(31), prefix),
    ])
      expect(await failure(start)).toMatchObject({
        code: 'INVALID_KEY_SIZE',
        message: expect.stringMatching(/must be 32 bytes, got 31/),
      });
  });

  it('a sealer takes whole chunks before the final one, and nothing after it', async () => {
    const sealer = await createMessageSealer(key);
    const out = new Uint8Array(2 * RECORD_SIZE);
    expect(await failure(() => sealer.seal(new Uint8Array(100), out, 0, false))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/only whole chunks/),
    });
    await sealer.seal(new Uint8Array(CHUNK_SIZE), out, 0, false);
    await sealer.seal(new Uint8Array(5), out, RECORD_SIZE, true);
    expect(await failure(() => sealer.seal(new Uint8Array(0), out, 0, true))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/already ended/),
    });
  });

  it('an opener takes nothing after the final records; a final record shorter than a tag is TRUNCATED', async () => {
    const sealer = await createMessageSealer(key);
    const ct = new Uint8Array(HEADER_SIZE + 5 + 16);
    ct.set(sealer.prefix);
    await sealer.seal(new Uint8Array(5), ct, HEADER_SIZE, true);
    const opener = await createMessageOpener(key, ct.subarray(0, HEADER_SIZE));
    const out = new Uint8Array(CHUNK_SIZE);
    expect(
      await failure(() => opener.open(ct.subarray(HEADER_SIZE, HEADER_SIZE + 5), out, 0, true)),
    ).toMatchObject({
      code: 'TRUNCATED',
      message: expect.stringMatching(/final chunk would be 5 bytes/),
    });
    const fresh = await createMessageOpener(key, ct.subarray(0, HEADER_SIZE));
    await fresh.open(ct.subarray(HEADER_SIZE), out, 0, true);
    expect(await failure(() => fresh.open(new Uint8Array(0), out, 0, true))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/already ended/),
    });
  });

  it('chunkedPlaintextSize says why a length is impossible, naming the sizes', () => {
    const messageOf = (n: number) => {
      try {
        chunkedPlaintextSize(n);
      } catch (e) {
        expect(e).toBeInstanceOf(E2EEError);
        expect((e as E2EEError).code).toBe('TRUNCATED');
        return (e as E2EEError).message;
      }
      throw new Error(`${n} bytes is a possible length`);
    };
    expect(messageOf(55)).toMatch(/is 55 bytes, shorter than the 56-byte salt and commitment/);
    for (const n of [HEADER_SIZE, HEADER_SIZE + RECORD_SIZE])
      expect(messageOf(n), `${n}`).toMatch(/ends after a full chunk: the short final chunk is missing/);
    expect(messageOf(HEADER_SIZE + RECORD_SIZE + 5)).toMatch(
      /final chunk would be 5 bytes, shorter than a 16-byte tag/,
    );
  });

  // The streams rely on this: on node:crypto a write is opened with no microtask (src/cobblestone/chunked.ts).
  it('seals and opens synchronously on a synchronous backend, asynchronously on WebCrypto', async () => {
    for (const backend of BACKENDS) {
      const options = { [TEST_HOOKS]: { backend } } as object;
      const sealer = await createMessageSealer(key, options);
      const plaintext = randomBytes(CHUNK_SIZE + 7);
      const ct = new Uint8Array(HEADER_SIZE + RECORD_SIZE + 7 + 16);
      ct.set(sealer.prefix);
      const sealed = sealer.seal(plaintext, ct, HEADER_SIZE, true);
      const opener = await createMessageOpener(key, sealer.prefix, options);
      if (backend === 'node') {
        expect(sealed).toBeUndefined();
        const out = new Uint8Array(CHUNK_SIZE + 7);
        expect(opener.open(ct.subarray(HEADER_SIZE), out, 0, true)).toBeUndefined();
        expect(Buffer.from(out).equals(plaintext)).toBe(true);
      } else {
        expect(sealed).toBeInstanceOf(Promise);
        await sealed;
        const out = new Uint8Array(CHUNK_SIZE + 7);
        const opened = opener.open(ct.subarray(HEADER_SIZE), out, 0, true);
        expect(opened).toBeInstanceOf(Promise);
        await opened;
        expect(Buffer.from(out).equals(plaintext)).toBe(true);
      }
    }
  });
});
