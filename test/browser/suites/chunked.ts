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
    ],
  };
}
