// The TextDecoder-free UTF-8 decoder (src/utf8.ts), used where TextDecoder is missing (Hermes):
// it must answer exactly what a fatal TextDecoder answers, and refuse exactly what it refuses.
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it, vi } from 'vitest';
import { decodeUtf8, encodeUtf8 } from '../src/internal/utf8.js';

const platform = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const reference = (b: Uint8Array) => {
  try {
    return platform.decode(b);
  } catch {
    return 'refused';
  }
};
const ours = (b: Uint8Array) => {
  try {
    return decodeUtf8(b);
  } catch (e) {
    expect(e).toBeInstanceOf(TypeError);
    return 'refused';
  }
};

describe('without TextDecoder', () => {
  vi.stubGlobal('TextDecoder', undefined);

  it('is really the fallback', () => {
    expect(typeof TextDecoder).toBe('undefined');
  });

  it('agrees on the edges of every sequence length, surrogates, overlongs and a byte-order mark', () => {
    const cases = [
      [],
      [0x00],
      [0x7f],
      [0x80],
      [0xc0, 0x80],
      [0xc1, 0xbf],
      [0xc2, 0x80],
      [0xdf, 0xbf],
      [0xe0, 0x9f, 0xbf],
      [0xe0, 0xa0, 0x80],
      [0xed, 0x9f, 0xbf],
      [0xed, 0xa0, 0x80],
      [0xed, 0xbf, 0xbf],
      [0xef, 0xbf, 0xbf],
      [0xef, 0xbb, 0xbf, 0x7b, 0x7d],
      [0xf0, 0x8f, 0xbf, 0xbf],
      [0xf0, 0x90, 0x80, 0x80],
      [0xf4, 0x8f, 0xbf, 0xbf],
      [0xf4, 0x90, 0x80, 0x80],
      [0xf5, 0x80, 0x80, 0x80],
      [0xff],
      [0xe2, 0x82],
      [0xf0, 0x9f, 0x98],
      [0x41, 0xc3],
    ];
    for (const c of cases)
      expect(ours(Uint8Array.from(c)), JSON.stringify(c)).toBe(reference(Uint8Array.from(c)));
  });

  test.prop([fc.string({ unit: 'grapheme', maxLength: 300 })])('decodes what TextEncoder encodes', (s) => {
    expect(decodeUtf8(new TextEncoder().encode(s))).toBe(s);
  });

  test.prop([fc.uint8Array({ maxLength: 64 })], { numRuns: 2000 })('agrees on random bytes', (b) => {
    expect(ours(b)).toBe(reference(b));
  });

  test.prop(
    [
      fc.array(fc.constantFrom(0x41, 0x80, 0xbf, 0xc2, 0xe0, 0xed, 0xf0, 0xf4, 0x90, 0xa0), {
        maxLength: 12,
      }),
    ],
    {
      numRuns: 3000,
    },
  )('agrees on bytes dense in boundary values', (a) => {
    const b = Uint8Array.from(a);
    expect(ours(b)).toBe(reference(b));
  });

  it('decodes long text in pieces', () => {
    const s = 'é😀a'.repeat(20000);
    expect(decodeUtf8(new TextEncoder().encode(s))).toBe(s);
  });
});

describe('encodeUtf8, for where TextEncoder is missing', () => {
  const encoder = new TextEncoder();
  test.prop([fc.string({ unit: 'binary', maxLength: 200 })], { numRuns: 2000 })(
    'answers what TextEncoder answers, lone surrogates included',
    (s) => {
      expect(Buffer.from(encodeUtf8(s)).toString('hex')).toBe(Buffer.from(encoder.encode(s)).toString('hex'));
    },
  );
  it('on the edges', () => {
    for (const s of [
      '',
      '\u007f\u0080\u07ff\u0800\uffff',
      '\ud800',
      '\udc00a',
      '\ud83d\ude00',
      '\udbff\udfff',
    ])
      expect(Buffer.from(encodeUtf8(s))).toEqual(Buffer.from(encoder.encode(s)));
  });
});
