// The two inflaters of already-authenticated plaintext: node:zlib, and fflate with our own
// Adler-32 check where node:zlib is missing. They must agree on every input.
import { randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { inflateAll, inflateWithFflate, payloadKind } from '../../src/whatsapp/zlib.js';

async function outcome(
  f: (d: Uint8Array, limit: number) => Promise<Uint8Array[]>,
  data: Uint8Array,
  limit: number,
) {
  try {
    return { data: Buffer.concat(await f(data, limit)).toString('hex') };
  } catch (e) {
    return { code: (e as { code?: string }).code };
  }
}

const text = new TextEncoder().encode('SQLite format 3\0'.repeat(5000));
const z = deflateSync(text);
const cases: [string, Uint8Array, string | undefined][] = [
  ['a valid stream', z, undefined],
  ['an empty stream', deflateSync(new Uint8Array(0)), undefined],
  ['stored blocks (level 0)', deflateSync(randomBytes(70_000), { level: 0 }), undefined],
  ['truncated', z.subarray(0, z.length - 9), 'MALFORMED_PAYLOAD'],
  ['no Adler-32', z.subarray(0, z.length - 4), 'MALFORMED_PAYLOAD'],
  [
    'a wrong Adler-32',
    Buffer.concat([z.subarray(0, z.length - 1), Buffer.from([z[z.length - 1]! ^ 0x80])]),
    'MALFORMED_PAYLOAD',
  ],
  ['bytes after it', Buffer.concat([z, Buffer.from([0])]), 'MALFORMED_PAYLOAD'],
  ['five bytes after it', Buffer.concat([z, Buffer.from('12345')]), 'MALFORMED_PAYLOAD'],
  [
    'a preset dictionary flag',
    Buffer.concat([Buffer.from([0x78, 0xbb]), z.subarray(2)]),
    'MALFORMED_PAYLOAD',
  ],
  ['a bad header', Buffer.concat([Buffer.from([0x78, 0x02]), z.subarray(2)]), 'MALFORMED_PAYLOAD'],
  ['two bytes', z.subarray(0, 2), 'MALFORMED_PAYLOAD'],
];

describe('inflating authenticated plaintext', () => {
  for (const [what, data, code] of cases)
    it(`${what}: ${code ?? 'inflates'}, the same on node:zlib and fflate`, async () => {
      const node = await outcome(inflateAll, data, 2 ** 40);
      expect(node.code).toBe(code);
      expect(await outcome(inflateWithFflate, data, 2 ** 40)).toEqual(node);
    });

  it('stops at the limit: OUTPUT_LIMIT past it, the data at exactly it', async () => {
    for (const f of [inflateAll, inflateWithFflate]) {
      expect(await outcome(f, z, text.length - 1)).toEqual({ code: 'OUTPUT_LIMIT' });
      expect((await outcome(f, z, text.length)).data).toBe(Buffer.from(text).toString('hex'));
      expect(await outcome(f, deflateSync(Buffer.alloc(50 << 20)), 1 << 20)).toEqual({
        code: 'OUTPUT_LIMIT',
      });
    }
  });

  test.prop([fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 1, max: 9 })])(
    'agree on any data at any level',
    async (data, level) => {
      const d = deflateSync(data, { level });
      expect(await outcome(inflateWithFflate, d, 2 ** 40)).toEqual({
        data: Buffer.from(data).toString('hex'),
      });
    },
  );
});

it('recognises zlib headers and ZIP archives, nothing else', () => {
  for (const level of [0, 1, 6, 9])
    expect(payloadKind(deflateSync(Buffer.from('x'), { level }))).toBe('zlib');
  expect(payloadKind(Buffer.from('PK\x03\x04'))).toBe('zip');
  expect(payloadKind(Buffer.from('PK\x05\x06'))).toBeUndefined();
  expect(payloadKind(Buffer.from([0x78]))).toBeUndefined();
  expect(payloadKind(Buffer.from([0x78, 0x02]))).toBeUndefined(); // check bits wrong
  expect(payloadKind(Buffer.from([0x88, 0x01 ^ 0x1f]))).toBeUndefined(); // window 2^16: not zlib
  expect(payloadKind(Buffer.from([0x79, 0x01]))).toBeUndefined(); // not deflate
  expect(payloadKind(Buffer.from([0x78, 0xbb]))).toBeUndefined(); // preset dictionary
});
