// The chunked streams on WebCrypto, the asynchronous backend: the same engine as on node:crypto
// (src/cobblestone/message.ts), with every chunk of a write in flight at once. The bytes and the errors must
// be those of the synchronous backends.

import { describe, expect, it } from 'vitest';
import { CHUNK_SIZE, HEADER_SIZE, RECORD_SIZE } from '../src/cobblestone/chunked.js';
import type { E2EEError } from '../src/errors.js';
import { createDecryptStream, createEncryptStream, encryptChunked } from '../src/testing.js';
import { collect, pseudoRandom, sameBytes, seededSplits } from './util.js';

const key = new Uint8Array(32).map((_, i) => 3 * i + 1);
const salt = new Uint8Array(24).fill(5);
const plain = pseudoRandom(10 * CHUNK_SIZE + 77, 7);

describe('chunked streams on WebCrypto (asynchronous: a run of chunks in flight together)', () => {
  const small = plain;
  const opts = { context: 'parallel', backend: 'webcrypto' } as const;

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
