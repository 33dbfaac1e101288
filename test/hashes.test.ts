// The two backends of src/internal/hashes.ts: @noble/hashes (the library's, everywhere) and
// node:crypto (hashes-node.ts, the CLI's build). Each is checked against RFC 5869's known answers
// and against the other (two independent implementations, OpenSSL and noble), and the CLI's is
// run through every published vector of vectors/ and Wycheproof's Cobblestone-256 vectors, in
// place of the portable one, as the CLI's build puts it. Both compute the HMACs RFC 5869 asks for,
// no more, and refuse the same lengths with the same error; the CLI's wipes what it computed.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { fc, test } from '@fast-check/vitest';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it, vi } from 'vitest';
import * as inUse from '../src/internal/hashes.js';
import * as nodeHashes from '../src/internal/hashes-node.js';
import { decryptChunked } from '../src/testing.js';
import { thirdPartyFile } from './shared-data.js';
import {
  all,
  CONTAINER_FIELDS,
  container,
  expected,
  fromHex,
  KDF_FIELDS,
  kdf,
  libraryContainer,
  libraryKdf,
  sha512,
  toHex,
} from './vector-files.js';

// Everything this file imports runs on the CLI's hashes; the portable ones are still reachable
// under another name, to compare against.
vi.mock('../src/internal/hashes.js', () => import('../src/internal/hashes-node.js'));
const noble = await vi.importActual<typeof import('../src/internal/hashes.js')>('../src/internal/hashes.js');

const backends = [
  ['@noble/hashes', noble],
  ['node:crypto', nodeHashes],
] as const;

// RFC 5869, Appendix A.1 and A.3 (A.3: empty salt and info, as a WhatsApp key's HKDF has).
const RFC5869 = [
  {
    name: 'A.1',
    ikm: '0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b',
    salt: '000102030405060708090a0b0c',
    info: 'f0f1f2f3f4f5f6f7f8f9',
    okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
  },
  {
    name: 'A.3',
    ikm: '0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b',
    salt: '',
    info: '',
    okm: '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
  },
];

describe.each(backends)('%s', (_, h) => {
  it.each(RFC5869)('HKDF-SHA-256 gives RFC 5869 $name', (v) => {
    expect(toHex(h.hkdfSha256(fromHex(v.ikm), fromHex(v.salt), fromHex(v.info), v.okm.length / 2))).toBe(
      v.okm,
    );
  });

  it('SHA-256 gives FIPS 180-2\'s "abc"', () => {
    expect(toHex(h.sha256(new TextEncoder().encode('abc')))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('every HKDF refuses what RFC 5869 does not allow: no output, over 255 × HashLen, a fraction', () => {
    const k = new Uint8Array(32);
    const e = new Uint8Array(0);
    const refused = (run: () => unknown, label: string) => {
      expect(run, label).toThrow(RangeError);
      expect(run, label).toThrow(/^HKDF length$/);
    };
    for (const length of [0, -1, 1.5, 255 * 64 + 1]) {
      refused(() => h.hkdfExpandSha512(k, e, length), `Expand ${length}`);
      refused(() => h.hkdfSha512(k, e, e, length), `SHA-512 ${length}`);
    }
    for (const length of [0, 255 * 32 + 1]) refused(() => h.hkdfSha256(k, e, e, length), `SHA-256 ${length}`);
    expect(h.hkdfExpandSha512(k, e, 255 * 64)).toHaveLength(255 * 64);
    expect(h.hkdfSha512(k, e, e, 255 * 64)).toHaveLength(255 * 64);
    expect(h.hkdfSha256(k, e, e, 255 * 32)).toHaveLength(255 * 32);
  });
});

// Where each backend computes an HMAC: noble's HMAC.digestInto (which its digest() calls) and
// node:crypto's Hmac.digest. Spied on their prototypes, so each call is one HMAC output.
const nobleHmac = Object.getPrototypeOf(hmac.create(nobleSha256, new Uint8Array(1)));
const nodeHmac = Object.getPrototypeOf(createHmac('sha256', new Uint8Array(1)));

function hmacOutputs(
  h: (typeof backends)[number][1],
  run: () => Uint8Array,
): { okm: Uint8Array; outputs: Uint8Array[] } {
  const spy = h === noble ? vi.spyOn(nobleHmac, 'digestInto') : vi.spyOn(nodeHmac, 'digest');
  try {
    const okm = run();
    const outputs = spy.mock.calls.map((args, i) => (h === noble ? args[0] : spy.mock.results[i]?.value));
    return { okm, outputs };
  } finally {
    spy.mockRestore();
  }
}

describe('the HMACs an HKDF computes', () => {
  const key = new Uint8Array(40).map((_, i) => i + 1);
  const info = new TextEncoder().encode('info');
  const blocks = (length: number, hashLen: number) => Math.ceil(length / hashLen);

  // RFC 5869 §2.3: N = ceil(L/HashLen) blocks T(1)…T(N), not one more when L is a multiple of
  // HashLen. @noble/hashes' own hkdf (under hashes.ts's HKDF-SHA-256 and -512) drives the hash
  // states directly, so only Expand is counted on noble.
  it.each(backends)('%s: HKDF-SHA-512-Expand computes ceil(L/64), no more', (_, h) => {
    for (const length of [1, 63, 64, 65, 128, 129, 255 * 64]) {
      const { outputs } = hmacOutputs(h, () => h.hkdfExpandSha512(key, info, length));
      expect(outputs, `L = ${length}`).toHaveLength(blocks(length, 64));
    }
  });

  it('node:crypto: HKDF computes one HMAC to extract, then ceil(L/HashLen)', () => {
    for (const length of [1, 32, 64, 65, 255 * 32]) {
      const { outputs } = hmacOutputs(nodeHashes, () => nodeHashes.hkdfSha256(key, info, info, length));
      expect(outputs, `SHA-256, L = ${length}`).toHaveLength(1 + blocks(length, 32));
    }
    for (const length of [1, 64, 65, 128, 255 * 64]) {
      const { outputs } = hmacOutputs(nodeHashes, () => nodeHashes.hkdfSha512(key, info, info, length));
      expect(outputs, `SHA-512, L = ${length}`).toHaveLength(1 + blocks(length, 64));
    }
  });

  // node:crypto's digests are Buffers handed to the backend, which zeroes each once it is copied
  // into the output: the PRK it extracted and every T(i) (the output is the only copy left). A
  // PRK the caller gives Expand is the caller's, left as it was.
  it.each([
    [
      'HKDF-SHA-256',
      () => nodeHashes.hkdfSha256(key, info, info, 100),
      () => noble.hkdfSha256(key, info, info, 100),
    ],
    [
      'HKDF-SHA-512',
      () => nodeHashes.hkdfSha512(key, info, info, 200),
      () => noble.hkdfSha512(key, info, info, 200),
    ],
    [
      'HKDF-SHA-512-Expand',
      () => nodeHashes.hkdfExpandSha512(key, info, 200),
      () => noble.hkdfExpandSha512(key, info, 200),
    ],
  ])('node:crypto: %s wipes the PRK it extracts and every T(i)', (_, run, reference) => {
    const { okm, outputs } = hmacOutputs(nodeHashes, run);
    expect(key).toEqual(new Uint8Array(40).map((_, i) => i + 1));
    expect(okm).toEqual(reference());
    expect(outputs.length).toBeGreaterThan(1);
    for (const [i, out] of outputs.entries())
      expect(
        out.every((b) => b === 0),
        `HMAC output ${i}`,
      ).toBe(true);
  });

  // hashes.ts writes Expand out (its module comment says why) and zeroes each T(i) in the same way.
  it('@noble/hashes: HKDF-SHA-512-Expand wipes every T(i)', () => {
    for (const length of [64, 200]) {
      const { okm, outputs } = hmacOutputs(noble, () => noble.hkdfExpandSha512(key, info, length));
      expect(key).toEqual(new Uint8Array(40).map((_, i) => i + 1));
      expect(okm).toEqual(nodeHashes.hkdfExpandSha512(key, info, length));
      expect(outputs, `L = ${length}`).toHaveLength(blocks(length, 64));
      for (const [i, out] of outputs.entries())
        expect(
          out.every((b) => b === 0),
          `L = ${length}, T(${i + 1})`,
        ).toBe(true);
    }
  });
});

describe('the two backends give the same bytes', () => {
  const bytes = (max: number) => fc.uint8Array({ maxLength: max });
  const hashLength = fc.integer({ min: 1, max: 200 });
  // Info past node:crypto's hkdfSync limit of 1024 bytes too: the backend must not depend on it.
  const info = fc.oneof(bytes(100), fc.uint8Array({ minLength: 1000, maxLength: 1100 }));

  test.prop([bytes(300)])('SHA-256', (data) => {
    expect(nodeHashes.sha256(data)).toEqual(noble.sha256(data));
  });

  test.prop([bytes(100), bytes(100), info, hashLength])('HKDF-SHA-256', (ikm, salt, info, n) => {
    expect(nodeHashes.hkdfSha256(ikm, salt, info, n)).toEqual(noble.hkdfSha256(ikm, salt, info, n));
  });

  test.prop([bytes(100), bytes(200), info, hashLength])('HKDF-SHA-512', (ikm, salt, info, n) => {
    expect(nodeHashes.hkdfSha512(ikm, salt, info, n)).toEqual(noble.hkdfSha512(ikm, salt, info, n));
  });

  // PRKs shorter than, equal to and longer than SHA-512's 64 bytes and its 128-byte block;
  // lengths across block boundaries.
  test.prop([bytes(200), bytes(300), fc.integer({ min: 1, max: 300 })])(
    'HKDF-SHA-512-Expand, for a PRK of any length',
    (prk, info, n) => {
      expect(nodeHashes.hkdfExpandSha512(prk, info, n)).toEqual(noble.hkdfExpandSha512(prk, info, n));
    },
  );
});

describe("the published vectors on the CLI's hashes", () => {
  it('are what this file runs on', () => {
    expect(inUse.hkdfExpandSha512).toBe(nodeHashes.hkdfExpandSha512);
    expect(inUse.hkdfExpandSha512).not.toBe(noble.hkdfExpandSha512);
  });

  it.each(all(container).map((t) => [t.tcId, t] as const))('container tcId %s', async (_, t) => {
    expect(await libraryContainer(t)).toEqual(expected(t, CONTAINER_FIELDS));
  });

  it.each(all(kdf).map((t) => [t.tcId, t] as const))('kdf tcId %s', async (_, t) => {
    expect(await libraryKdf(t)).toEqual(expected(t, KDF_FIELDS));
  });

  it('Wycheproof Cobblestone-256: every valid vector opens, every invalid one is refused', async () => {
    const path = thirdPartyFile(
      'WYCHEPROOF_DIR',
      'wycheproof',
      'c2sp_chunked_encryption_aes_256_gcm_test.json',
    );
    const file = JSON.parse(readFileSync(path, 'utf8'));
    const vectors = file.testGroups.flatMap(
      (g: {
        tests: { tcId: number; key: string; ctx: string; ct: string; result: string; msgSha512?: string }[];
      }) => g.tests,
    );
    expect(vectors.length).toBeGreaterThanOrEqual(35);
    for (const v of vectors) {
      const ct = new Uint8Array(inflateSync(fromHex(v.ct)));
      const opened = await decryptChunked(fromHex(v.key), ct, { context: fromHex(v.ctx) }).then(
        (m) => sha512(m),
        () => 'refused',
      );
      expect(opened, `tcId ${v.tcId}`).toBe(v.result === 'valid' ? v.msgSha512 : 'refused');
    }
  });
});
