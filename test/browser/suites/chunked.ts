// Cobblestone-256 round trips through this platform's default AES-GCM backend (WebCrypto in pages
// and workers), byte-identical to @noble/ciphers, one-shot, streaming (Blob streams) and random
// access, and the failures that must be named.

import { CHUNK_SIZE, chunkedCiphertextSize } from '../../../src/cobblestone/chunked.js';
import { defaultAeadBackend } from '../../../src/primitives/aes-gcm.js';
import {
  createDecryptStream,
  createEncryptStream,
  decryptChunked,
  encryptChunked,
  openChunked,
} from '../../../src/testing.js';
import {
  assert,
  assertBytesEqual,
  assertEqual,
  assertRejects,
  type Check,
  pipeCollect,
  pseudoRandomBytes,
  type Suite,
  seededSplits,
  sourceOf,
} from '../harness.js';

const SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE, 1_000_003];
const CONTEXT = 'e2ee-backup browser test';

async function streamToBytes(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** `expected` is the backend the platform must pick by default ('webcrypto' in browsers). */
export function chunkedSuite(expected: 'webcrypto' | 'noble' | 'node' = 'webcrypto'): Suite {
  return {
    name: `chunked (default backend ${expected})`,
    checks: () => [
      {
        name: `defaultAeadBackend() is '${expected}'`,
        run: () => assertEqual(defaultAeadBackend(), expected, 'defaultAeadBackend()'),
      },
      ...SIZES.map((size) => ({
        name: `one-shot round trip, ${size} bytes, same bytes as noble with a fixed salt`,
        run: async () => {
          const key = crypto.getRandomValues(new Uint8Array(32));
          const salt = crypto.getRandomValues(new Uint8Array(24));
          const pt = pseudoRandomBytes(size, size + 1);
          const ct = await encryptChunked(key, pt, { context: CONTEXT, salt });
          assertEqual(ct.length, chunkedCiphertextSize(size), 'ciphertext size');
          const viaNoble = await encryptChunked(key, pt, { context: CONTEXT, salt, backend: 'noble' });
          assertBytesEqual(ct, viaNoble, 'default backend vs noble');
          assertBytesEqual(await decryptChunked(key, ct, { context: CONTEXT }), pt, 'decrypted');
          assertBytesEqual(
            await decryptChunked(key, ct, { context: CONTEXT, backend: 'noble' }),
            pt,
            'noble',
          );
        },
      })),
      {
        name: 'streaming 8 MiB through Blob streams, written in random-sized pieces',
        timeout: 60_000,
        run: async () => {
          const key = crypto.getRandomValues(new Uint8Array(32));
          const pt = pseudoRandomBytes(8 * 1048576 + 5, 8);
          const ct = await streamToBytes(
            new Blob([pt as BlobPart]).stream().pipeThrough(createEncryptStream(key, { context: CONTEXT })),
          );
          assertEqual(ct.length, chunkedCiphertextSize(pt.length), 'ciphertext size');
          const { result, error } = await pipeCollect(
            createDecryptStream(key, { context: CONTEXT }),
            seededSplits(ct, 42),
          );
          assert(error === undefined, `decrypt stream failed: ${error}`);
          assertBytesEqual(result, pt, 'streamed plaintext');
          assertBytesEqual(await decryptChunked(key, ct, { context: CONTEXT }), pt, 'one-shot of streamed');
        },
      },
      {
        name: 'random access reads anywhere, across chunk boundaries',
        run: async () => {
          const key = crypto.getRandomValues(new Uint8Array(32));
          const pt = pseudoRandomBytes(5 * CHUNK_SIZE + 123, 5);
          const reader = await openChunked(key, sourceOf(await encryptChunked(key, pt)));
          assertEqual(reader.plaintextSize, pt.length, 'plaintextSize');
          for (const [o, n] of [
            [0, 10],
            [CHUNK_SIZE - 5, 10],
            [2 * CHUNK_SIZE, CHUNK_SIZE],
            [pt.length - 100, 100],
            [0, pt.length],
          ] as const)
            assertBytesEqual(await reader.read(o, n), pt.subarray(o, o + n), `read(${o}, ${n})`);
        },
      },
      {
        name: 'wrong key or context: COMMITMENT_MISMATCH; flipped bit: CHUNK_AUTH; cut: TRUNCATED',
        run: async () => {
          const key = crypto.getRandomValues(new Uint8Array(32));
          const pt = pseudoRandomBytes(2 * CHUNK_SIZE + 7, 3);
          const ct = await encryptChunked(key, pt, { context: CONTEXT });
          await assertRejects(
            decryptChunked(new Uint8Array(32), ct, { context: CONTEXT }),
            ['COMMITMENT_MISMATCH'],
            'wrong key',
          );
          await assertRejects(
            decryptChunked(key, ct, { context: 'other' }),
            ['COMMITMENT_MISMATCH'],
            'context',
          );
          const flipped = ct.slice();
          flipped[100]! ^= 1;
          await assertRejects(decryptChunked(key, flipped, { context: CONTEXT }), ['CHUNK_AUTH'], 'bit flip');
          await assertRejects(
            decryptChunked(key, ct.subarray(0, 40), { context: CONTEXT }),
            ['TRUNCATED'],
            'cut',
          );
          await assertRejects(
            decryptChunked(new Uint8Array(31), ct, { context: CONTEXT }),
            ['INVALID_KEY_SIZE'],
            '31-byte key',
          );
        },
      },
      ...(expected === 'webcrypto' ? [carryCheck()] : []),
    ],
  };
}

/**
 * The encrypt stream's carry (plaintext short of a chunk, kept between writes) after it stops
 * early: zeroed after a failed write, and left after a cancel or an abort, because Chromium (156)
 * does not call a transformer's `cancel`, as the TSDoc of createEncryptStream and the CHANGELOG
 * say. The day it does, this check fails to have them updated. The carry is found through
 * WebCrypto's `encrypt`, wrapped here.
 */
function carryCheck(): Check {
  return {
    name: "a stopped encrypt stream zeroes its carry after a failed write (not on cancel or abort: no transformer's cancel here)",
    run: async () => {
      const subtle = crypto.subtle;
      const encrypt = subtle.encrypt;
      const own = Object.getOwnPropertyDescriptor(subtle, 'encrypt');
      const sealed: Uint8Array[] = [];
      Object.defineProperty(subtle, 'encrypt', {
        configurable: true,
        value: (...args: Parameters<SubtleCrypto['encrypt']>) => {
          sealed.push(args[2] as Uint8Array);
          return encrypt.apply(subtle, args);
        },
      });
      try {
        const key = crypto.getRandomValues(new Uint8Array(32));
        const pt = pseudoRandomBytes(CHUNK_SIZE + 10, 4);
        for (const stop of ['cancel', 'abort', 'a write that is not bytes'] as const) {
          let cancelled = false;
          const probe = new TransformStream({
            cancel: () => {
              cancelled = true;
            },
          } as Transformer);
          const stream = createEncryptStream(key, { backend: 'webcrypto' });
          const writer = stream.writable.getWriter();
          const reader = stream.readable.getReader();
          const reading = (async () => {
            for (;;) if ((await reader.read()).done) return;
          })().catch(() => {});
          sealed.length = 0;
          // 10 bytes carried; a piece completes that chunk (sealed from the carry) and leaves 10.
          await writer.write(pt.slice(0, 10));
          await writer.write(pt.slice(10));
          const carry = new Uint8Array(sealed[0]!.buffer);
          assertEqual(carry.length, CHUNK_SIZE, `${stop}: the carry's size`);
          assertBytesEqual(carry.subarray(0, 10), pt.subarray(CHUNK_SIZE), `${stop}: the carry before`);
          if (stop === 'cancel') {
            await reader.cancel(new Error('stop'));
            await probe.readable.cancel(new Error('stop'));
          } else if (stop === 'abort') {
            await writer.abort(new Error('stop'));
            await probe.writable.abort(new Error('stop'));
          } else await writer.write('not bytes' as unknown as Uint8Array).catch(() => {});
          await reading;
          assertEqual(
            cancelled,
            false,
            `${stop}: this browser calls a transformer's cancel; update createEncryptStream's TSDoc and the CHANGELOG, then this check`,
          );
          const wiped = carry.every((b) => b === 0);
          assertEqual(wiped, stop === 'a write that is not bytes', `${stop}: carry zeroed`);
        }
      } finally {
        if (own) Object.defineProperty(subtle, 'encrypt', own);
        else delete (subtle as { encrypt?: unknown }).encrypt;
      }
    },
  };
}
