// The engine (src/cobblestone/message.ts) at chunk counters no whole message in a test reaches:
// the nonce's high bytes and the 2^38-chunk limit (SPEC.md §4), checked against an independent
// construction from node:crypto (HMAC-SHA-512 HKDF-Expand, AES-256-GCM), not against the engine.
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TEST_HOOKS } from '../src/cobblestone/hooks.js';
import { CHUNK_SIZE, createMessageOpener, MAX_CHUNKS } from '../src/cobblestone/message.js';
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
        ).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE' });
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
