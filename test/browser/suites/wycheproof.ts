// The 35 Wycheproof Cobblestone-256 vectors (the same file and rules as test/wycheproof.test.ts),
// run through whatever AES-GCM backend this platform gives, and through @noble/ciphers.
import { sha512 } from '@noble/hashes/sha2.js';
import { E2EEError, type ErrorCode } from '../../../src/errors.js';
import type { AeadBackend } from '../../../src/primitives/aes-gcm.js';
import { createDecryptStream, decryptChunked, openChunked } from '../../../src/testing.js';
import {
  AssertionError,
  assert,
  assertEqual,
  assertRejects,
  bytesToHex,
  type Check,
  concatBytes,
  hexToBytes,
  inflateZlib,
  pipeCollect,
  type Suite,
  seededSplits,
  sourceOf,
  type WycheproofVector,
} from '../harness.js';

/** The codes a vector may fail with, from its flags (mirrors test/wycheproof.test.ts). */
export function allowedCodes(v: WycheproofVector): ErrorCode[] {
  const f = new Set(v.flags);
  if (f.has('InvalidKeySize')) return ['INVALID_KEY_SIZE'];
  if (f.has('HeaderFailure')) return f.has('Truncation') ? ['TRUNCATED'] : ['COMMITMENT_MISMATCH'];
  if (f.has('TrailingData')) return ['TRAILING_DATA', 'CHUNK_AUTH', 'TRUNCATED'];
  if (f.has('Truncation')) return ['TRUNCATED', 'CHUNK_AUTH'];
  return ['CHUNK_AUTH'];
}

const inflated = new Map<string, Promise<Uint8Array>>();
/** The vector's ciphertext, inflated once and copied for each use. */
async function ciphertext(v: WycheproofVector): Promise<Uint8Array> {
  let p = inflated.get(v.ct);
  if (!p) {
    p = inflateZlib(hexToBytes(v.ct));
    inflated.set(v.ct, p);
  }
  return (await p).slice();
}

function checkPlaintext(v: WycheproofVector, pt: Uint8Array, what: string): void {
  assertEqual(pt.length, v.msgLength, `${what}: plaintext length`);
  assertEqual(bytesToHex(sha512(pt)), v.msgSha512, `${what}: plaintext SHA-512`);
}

export interface WycheproofSuiteOptions {
  name?: string;
  /** Backends for one-shot decryption; `undefined` means "the default one here". */
  backends?: (AeadBackend | undefined)[];
  /** Also streaming (random-sized writes) and random access, with the default backend. */
  streamingAndRandomAccess?: boolean;
  /** Only these tcIds (all when absent), e.g. to keep a worker run short. */
  only?: (v: WycheproofVector) => boolean;
}

export function wycheproofSuite(options: WycheproofSuiteOptions = {}): Suite {
  const { backends = [undefined, 'noble'], streamingAndRandomAccess = true } = options;
  return {
    name: options.name ?? 'Wycheproof Cobblestone-256',
    checks(data) {
      const file = data.wycheproof;
      const vectors = file.testGroups.flatMap((g) => g.tests);
      const checks: Check[] = [
        {
          name: 'has all 35 vectors',
          run: () => {
            assertEqual(file.algorithm, 'Cobblestone-256', 'algorithm');
            assertEqual(vectors.length, 35, 'vector count');
          },
        },
      ];
      for (const v of vectors.filter(options.only ?? (() => true))) {
        const label = `#${v.tcId} ${v.comment} [${v.flags.join(',')}]`;
        const key = hexToBytes(v.key);
        const context = hexToBytes(v.ctx);
        for (const backend of backends) {
          checks.push({
            name: `${label} one-shot (${backend ?? 'default backend'})`,
            run: async () => {
              const p = decryptChunked(key, await ciphertext(v), { context, backend });
              if (v.result === 'valid') checkPlaintext(v, await p, 'one-shot');
              else await assertRejects(p, allowedCodes(v), 'one-shot');
            },
          });
        }
        if (!streamingAndRandomAccess) continue;
        checks.push({
          name: `${label} streaming, random-sized writes`,
          run: async () => {
            const ct = await ciphertext(v);
            for (const seed of [1, 2]) {
              let stream: TransformStream<Uint8Array, Uint8Array>;
              try {
                stream = createDecryptStream(key, { context });
              } catch (e) {
                assertEqual(v.result, 'invalid', 'createDecryptStream threw for a valid vector');
                assert(e instanceof E2EEError && allowedCodes(v).includes(e.code), `unexpected ${e}`);
                return;
              }
              const { result, released, error } = await pipeCollect(stream, seededSplits(ct, seed));
              if (v.result === 'valid') {
                if (error) throw new AssertionError(`stream failed: ${error}`, { cause: error });
                checkPlaintext(v, result, 'stream');
              } else {
                assert(error instanceof E2EEError, `stream must fail with an E2EEError, got ${error}`);
                assert(allowedCodes(v).includes(error.code), `unexpected code ${error.code}`);
                // Never a byte past the authenticated prefix.
                const got = concatBytes(released);
                assert(got.length <= (v.msgLength ?? 0), 'released more than the authenticated prefix');
                if (got.length === (v.msgLength ?? 0) && v.msgSha512) checkPlaintext(v, got, 'prefix');
              }
            }
          },
        });
        checks.push({
          name: `${label} random access`,
          run: async () => {
            const open = openChunked(key, sourceOf(await ciphertext(v)), { context });
            if (v.result === 'valid') {
              const r = await open;
              assertEqual(r.plaintextSize, v.msgLength, 'plaintextSize');
              checkPlaintext(v, await r.read(0, r.plaintextSize), 'read');
              return;
            }
            if (!v.flags.includes('ValidFinalChunk')) {
              await assertRejects(open, allowedCodes(v), 'openChunked');
              return;
            }
            const r = await open;
            await assertRejects(r.read(0, r.plaintextSize), allowedCodes(v), 'read past the valid prefix');
            if (v.msgLength) checkPlaintext(v, await r.read(0, v.msgLength), 'valid prefix');
          },
        });
      }
      return checks;
    },
  };
}
