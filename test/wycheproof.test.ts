// Conformance with the 35 Wycheproof Cobblestone-256 vectors (C2SP/wycheproof, commit dac1dd47),
// vendored in vectors/third-party/wycheproof ($WYCHEPROOF_DIR reads another copy).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { E2EEError, type ErrorCode } from '../src/errors.js';
import type { AeadBackend } from '../src/primitives/aes-gcm.js';
import { createDecryptStream, decryptChunked, openChunked } from '../src/testing.js';
import { thirdPartyFile } from './shared-data.js';
import { collect, seededSplits, sourceOf } from './util.js';

interface Vector {
  tcId: number;
  comment: string;
  flags: string[];
  key: string;
  ctx: string;
  ct: string;
  result: 'valid' | 'invalid';
  msgLength?: number;
  msgSha512?: string;
}

const path = thirdPartyFile('WYCHEPROOF_DIR', 'wycheproof', 'c2sp_chunked_encryption_aes_256_gcm_test.json');
const file = JSON.parse(readFileSync(path, 'utf8'));
const vectors: Vector[] = file.testGroups.flatMap((g: { tests: Vector[] }) => g.tests);

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const sha512 = (b: Uint8Array) => createHash('sha512').update(b).digest('hex');

/** The codes a vector may fail with, from its flags (most specific first). */
function allowedCodes(v: Vector): ErrorCode[] {
  const f = new Set(v.flags);
  if (f.has('InvalidKeySize')) return ['INVALID_KEY_SIZE'];
  if (f.has('HeaderFailure')) return f.has('Truncation') ? ['TRUNCATED'] : ['COMMITMENT_MISMATCH'];
  // Bytes after a *final* chunk are found and named (#35); garbage after a full chunk is
  // indistinguishable by length from a cut or modified final chunk (#18, #19).
  if (f.has('TrailingData')) return ['TRAILING_DATA', 'CHUNK_AUTH', 'TRUNCATED'];
  // A chunk cut mid-body reads as a final chunk that fails to authenticate.
  if (f.has('Truncation')) return ['TRUNCATED', 'CHUNK_AUTH'];
  return ['CHUNK_AUTH'];
}

async function expectCode(p: Promise<unknown>, codes: ErrorCode[]): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'must fail').toBeInstanceOf(E2EEError);
  expect(codes).toContain((err as E2EEError).code);
}

describe('Wycheproof Cobblestone-256', () => {
  it('has all 35 vectors', () => {
    expect(file.algorithm).toBe('Cobblestone-256');
    expect(vectors).toHaveLength(35);
  });

  for (const v of vectors) {
    const name = `#${v.tcId} ${v.comment} [${v.flags.join(',')}]`;
    const ct = () => new Uint8Array(inflateSync(hex(v.ct)));

    describe(name, () => {
      for (const backend of ['node', 'webcrypto', 'noble'] as AeadBackend[]) {
        it(`one-shot (${backend})`, async () => {
          const p = decryptChunked(hex(v.key), ct(), { context: hex(v.ctx), backend });
          if (v.result === 'valid') {
            const pt = await p;
            expect(pt.length).toBe(v.msgLength);
            expect(sha512(pt)).toBe(v.msgSha512);
          } else {
            await expectCode(p, allowedCodes(v));
          }
        });
      }

      it('streaming, fed in random-sized writes', async () => {
        const c = ct();
        for (const seed of [1, 2, 3]) {
          let stream: TransformStream<Uint8Array, Uint8Array>;
          try {
            stream = createDecryptStream(hex(v.key), { context: hex(v.ctx) });
          } catch (e) {
            expect(v.result).toBe('invalid');
            expect(allowedCodes(v)).toContain((e as E2EEError).code);
            return;
          }
          const released: Uint8Array[] = [];
          const { result, error } = await collect(stream, seededSplits(c, seed), released);
          if (v.result === 'valid') {
            expect(error).toBeUndefined();
            expect(result.length).toBe(v.msgLength);
            expect(sha512(result)).toBe(v.msgSha512);
          } else {
            expect(error).toBeInstanceOf(E2EEError);
            expect(allowedCodes(v)).toContain((error as E2EEError).code);
            // PartialPlaintext: at most the authenticated prefix, never a byte past it.
            const got = Buffer.concat(released);
            const prefix = v.msgLength ?? 0;
            expect(got.length).toBeLessThanOrEqual(prefix);
            if (got.length === prefix && v.msgSha512) expect(sha512(got)).toBe(v.msgSha512);
          }
        }
      });

      it('random access', async () => {
        const c = ct();
        const open = openChunked(hex(v.key), sourceOf(c), { context: hex(v.ctx) });
        if (v.result === 'valid') {
          const r = await open;
          expect(r.plaintextSize).toBe(v.msgLength);
          expect(sha512(await r.read(0, r.plaintextSize))).toBe(v.msgSha512);
          return;
        }
        if (!v.flags.includes('ValidFinalChunk')) {
          await expectCode(open, allowedCodes(v));
          return;
        }
        // The length authenticates, but reading the whole message must not.
        const r = await open;
        await expectCode(r.read(0, r.plaintextSize), allowedCodes(v));
        if (v.msgLength) expect(sha512(await r.read(0, v.msgLength))).toBe(v.msgSha512);
      });
    });
  }
});
