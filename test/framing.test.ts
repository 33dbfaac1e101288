// The plaintext framing of SPEC.md §5 (metadata record, body blocks, end marker, padding),
// checked in-process without encryption: the inputs are built byte by byte from the spec's
// tables (node:zlib for deflate), and what the decoder must accept or refuse, and with which
// code, is taken from SPEC.md's text, not from the code under test. Fast on purpose: it is the
// suite mutation testing runs for framing.ts (docs/mutation-testing.md).
import { createHash } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  BLOCK_SIZE,
  byteReader,
  checkMetadata,
  decodeFraming,
  encodeMetadata,
  type FramedReader,
  framePieces,
  framingSource,
  MAX_METADATA_SIZE,
  metadataJsonProblem,
  owned,
  readBlocks,
} from '../src/container/framing.js';
import { padme } from '../src/container/padme.js';
import { E2EEError } from '../src/errors.js';
import { concat } from '../src/internal/bytes.js';
import { byteStreamOf, watchByobReads } from './util.js';

const u32 = (n: number) => Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
const utf8 = (s: string) => new TextEncoder().encode(s);
const metaRecord = (json: string) => concat(u32(utf8(json).length), utf8(json));
const stored = (data: Uint8Array) => concat(Uint8Array.of(1), u32(data.length), data);
const deflated = (data: Uint8Array, packed = new Uint8Array(deflateRawSync(data))) =>
  concat(Uint8Array.of(2), u32(packed.length), u32(data.length), packed);
const END = Uint8Array.of(0);
const META = '{"created":"2026-11-26T12:00:00Z","generation":1,"app":{}}';
const METADATA = { created: '2026-11-26T12:00:00Z', generation: 1, app: {} };

/** Byte arrays compared as bytes (vitest's toEqual walks a megabyte element by element, slowly). */
function same(a: Uint8Array | undefined, b: Uint8Array, what = ''): void {
  expect(a, what).toBeInstanceOf(Uint8Array);
  expect(a!.length, what).toBe(b.length);
  if (!Buffer.from(a!.buffer, a!.byteOffset, a!.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length)))
    expect(Array.from(a!.subarray(0, 64)), what).toEqual(Array.from(b.subarray(0, 64)));
  expect(
    Buffer.from(a!.buffer, a!.byteOffset, a!.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length)),
    what,
  ).toBe(true);
}

/** Bytes 0, 1, 2 … (mod 251): a body whose every byte is checked. */
const counting = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % 251);
const zeros = (b: ArrayBufferLike) => new Uint8Array(b).every((x) => x === 0);

afterEach(() => {
  vi.restoreAllMocks();
});

/** SPEC.md §5.4: the zeros a plaintext of `u` framed bytes gets. */
const padFor = (u: number, padded: boolean) => new Uint8Array(padded ? padme(u) - u : 0);

/** A framed plaintext: metadata, blocks, end marker, then the padding its flag requires. */
function framed(blocks: Uint8Array[], padded = false, json = META): Uint8Array {
  const u = concat(metaRecord(json), ...blocks, END);
  return concat(u, padFor(u.length, padded));
}

/** `bytes` as a stream of pieces of the given sizes (cycled), or one piece. */
function streamOf(bytes: Uint8Array, sizes: number[] = [bytes.length || 1]): ReadableStream<Uint8Array> {
  let off = 0;
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (off >= bytes.length) return c.close();
      const n = Math.max(1, sizes[i++ % sizes.length]!);
      c.enqueue(bytes.slice(off, off + n));
      off += n;
    },
  });
}

async function drain(body: ReadableStream<Uint8Array>, byob = false, view = 1000): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  if (byob) {
    const reader = body.getReader({ mode: 'byob' });
    for (;;) {
      const { done, value } = await reader.read(new Uint8Array(view));
      if (done) break;
      parts.push(value.slice());
    }
  } else {
    const reader = body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value.slice());
    }
  }
  return concat(...parts);
}

interface Decode {
  compressed?: boolean;
  padded?: boolean;
  maxOutputBytes?: number;
  lent?: boolean;
  byob?: boolean;
  sizes?: number[];
  onProgress?: (n: number) => void;
}

async function decode(bytes: Uint8Array, o: Decode = {}) {
  const { metadata, body } = await decodeFraming(byteReader(streamOf(bytes, o.sizes)), {
    compressed: o.compressed ?? true,
    padded: o.padded ?? false,
    maxOutputBytes: o.maxOutputBytes ?? 1 << 30,
    lent: o.lent ?? false,
    onProgress: o.onProgress,
  });
  return { metadata, body: await drain(body, o.byob) };
}

/** The code and message a promise rejects with ('ok' if it resolves). */
async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
    return { code: 'ok', message: '' };
  } catch (e) {
    if (e instanceof E2EEError) return { code: e.code, message: e.message };
    throw e;
  }
}

function thrown(f: () => unknown): E2EEError {
  try {
    f();
  } catch (e) {
    if (e instanceof E2EEError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('metadataJsonProblem (SPEC.md §5.1: what JSON.parse does not check)', () => {
  it('accepts unique names, the same name in different objects, and a name equal to a value', () => {
    for (const json of [
      META,
      '{"a":"a","b":{"a":1,"b":2},"c":[{"a":1},{"a":2}],"d":["a","a"]}',
      '{"a":{"a":{"a":{}}}}',
      '{"x":"generation","generation":1.5}', // "generation" inside app-like object is any number? no: top level
    ].slice(0, 3))
      expect(metadataJsonProblem(json), json).toBeUndefined();
  });

  it('refuses a repeated member name at any depth, escapes decoded, and in objects after commas', () => {
    for (const json of [
      '{"a":1,"a":2}',
      '{"a":1,"b":{"c":1,"c":2}}',
      '{"a":[{"b":1},{"c":1,"c":2}]}',
      '{"a":1,"\\u0061":2}',
      '{"a\\"b":1,"a\\"b":2}',
      '{"x":[1,2],"y":{"z":[3]},"x":3}',
    ])
      expect(metadataJsonProblem(json), json).toBe('repeats a member name');
  });

  it('reads escaped quotes and backslashes inside strings as part of the string', () => {
    expect(metadataJsonProblem('{"a\\"":1,"a":2}')).toBeUndefined();
    expect(metadataJsonProblem('{"a\\\\":1,"a":2}')).toBeUndefined();
    expect(metadataJsonProblem('{"k":"x\\",\\"k\\":1","k2":1}')).toBeUndefined();
  });

  it('refuses an escaped lone surrogate in any string, names included; an escaped pair is fine', () => {
    for (const json of [
      '{"a":"\\ud800"}',
      '{"a":"\\udc00"}',
      '{"a":"\\ud800x"}',
      '{"\\udfff":1}',
      '{"a":["\\ud83d"]}',
    ])
      expect(metadataJsonProblem(json), json).toBe('holds a string with an escaped lone surrogate');
    expect(metadataJsonProblem('{"a":"\\ud83d\\ude00","😀":"😀","\\n":"\\t"}')).toBeUndefined();
  });

  it('allows nesting 64 deep and refuses 65, counting the record as 1', () => {
    const deep = (d: number) => `${'['.repeat(d)}${']'.repeat(d)}`;
    expect(metadataJsonProblem(deep(64))).toBeUndefined();
    expect(metadataJsonProblem(deep(65))).toBe('nests arrays and objects more than 64 deep');
    expect(metadataJsonProblem(`{"a":${deep(63)}}`)).toBeUndefined();
    expect(metadataJsonProblem(`{"a":${deep(64)}}`)).toBe('nests arrays and objects more than 64 deep');
    // Closing brackets free their level again.
    expect(metadataJsonProblem(`[${deep(63)},${deep(63)},{"a":${deep(62)}}]`)).toBeUndefined();
    // Brackets inside strings do not count.
    expect(metadataJsonProblem(`{"a":"${'['.repeat(100)}"}`)).toBeUndefined();
  });

  it('accepts a top-level generation written as a whole number', () => {
    for (const g of ['0', '1', '9', '10', '9007199254740991', '1 ', '1\n', '1\t', '1\r'])
      expect(metadataJsonProblem(`{"generation":${g}}`), g).toBeUndefined();
    expect(metadataJsonProblem('{"generation":7,"app":{}}')).toBeUndefined();
    expect(metadataJsonProblem('{"app":[1],"generation":7}')).toBeUndefined();
    expect(metadataJsonProblem('{"generation" : 12 }')).toBeUndefined();
  });

  it('refuses a top-level generation with a sign, fraction or exponent, or a leading zero', () => {
    for (const g of ['-0', '-1', '1.0', '1e3', '1E3', '1e-400', '1.0000000000000001', '01', '00'])
      for (const json of [
        `{"generation":${g}}`,
        `{"app":{},"generation":${g},"x":1}`,
        `{"generation": ${g}}`,
      ])
        expect(metadataJsonProblem(json), json).toBe(
          'writes "generation" other than as a whole number (no sign, fraction or exponent)',
        );
  });

  it('the generation rule is for the top-level member only, and only for a number', () => {
    for (const json of [
      '{"app":{"generation":1.5}}',
      '{"app":{"generation":-1}}',
      '{"a":[{"generation":1e3}]}',
      '{"generation":"1.5"}',
      '{"generation":[1.5]}',
      '{"generation":{"x":1.5}}',
      '{"x":"generation","y":1.5}',
      '{"generation":1,"y":1.5}',
      '{"generation":null,"y":-1}',
      '["generation",1.5]',
    ])
      expect(metadataJsonProblem(json), json).toBeUndefined();
  });
  it('the generation rule is for a member of the top-level object: a bare number is not one', () => {
    // Not an object at all: checkMetadata refuses it, not the generation rule.
    for (const json of ['1.5', '-1', '1e3', '01', ' 2.5'])
      expect(metadataJsonProblem(json), json).toBeUndefined();
  });

  it('strings in arrays are values, never member names, however many repeat', () => {
    for (const json of ['{"d":["a","a","a"]}', '{"app":{"d":["x","y","y","y"]}}', '[["k","k","k"],{"k":1}]'])
      expect(metadataJsonProblem(json), json).toBeUndefined();
  });
});

describe('checkMetadata (SPEC.md §5.1: the members and their rules)', () => {
  const ok = (m: object) => expect(checkMetadata(m)).toBe(m);
  const bad = (m: unknown, message: RegExp) => {
    const e = thrown(() => checkMetadata(m));
    expect(e.code).toBe('MALFORMED_PAYLOAD');
    expect(e.message).toMatch(/^backup payload: metadata/);
    expect(e.message).toMatch(message);
  };

  it('accepts exactly created, generation and app, with set optional', () => {
    ok(METADATA);
    ok({ app: { x: [1] }, generation: 0, created: '1970-01-01T00:00:00Z' });
    ok({ ...METADATA, set: 'a' });
    ok({ ...METADATA, set: 'A-z_0.9' });
    ok({ ...METADATA, set: 'x'.repeat(64) });
  });

  it('refuses what is not an object', () => {
    for (const v of [null, [], 1, 'x', true, undefined]) bad(v, /metadata is not a JSON object/);
  });

  it('refuses other members, and missing ones, naming what it has', () => {
    bad({}, /exactly the fields app, created, generation and optionally set \(has none\)/);
    bad({ ...METADATA, extra: 1 }, /\(has app,created,extra,generation\)/);
    bad({ created: METADATA.created, generation: 1 }, /\(has created,generation\)/);
    bad({ ...METADATA, set: 'a', x: 1 }, /\(has app,created,generation,set,x\)/);
  });

  it('created: YYYY-MM-DDTHH:MM:SS[.fraction]Z, 1-9 fraction digits', () => {
    for (const c of [
      '2026-11-26T12:00:00Z',
      '2026-11-26T12:00:00.5Z',
      '2026-11-26T12:00:00.123456789Z',
      '1970-01-01T00:00:00Z',
      '2024-02-29T23:59:59Z',
      '2026-12-31T23:59:59.999Z',
    ])
      ok({ ...METADATA, created: c });
    for (const c of [
      '2026-11-26T12:00:00.1234567890Z',
      '2026-11-26T12:00:00.Z',
      '2026-11-26t12:00:00Z',
      '2026-11-26T12:00:00z',
      '2026-11-26T12:00:00',
      '2026-11-26T12:00:00+00:00',
      '2026-11-26 12:00:00Z',
      '26-11-26T12:00:00Z',
      'x2026-11-26T12:00:00Z',
      '2026-11-26T12:00:00Zx',
      '2026-1-26T12:00:00Z',
      '',
      1,
      null,
    ])
      bad({ ...METADATA, created: c }, /metadata.created is not an ISO 8601 UTC timestamp of a real instant/);
  });

  it('created must be a string: not an array whose text is a timestamp', () => {
    // ['2026-…Z'] converts to the string '2026-…Z': a check by regex alone would let it through.
    for (const c of [[METADATA.created], [[METADATA.created]], { toString: () => METADATA.created }])
      bad({ ...METADATA, created: c }, /metadata.created is not an ISO 8601 UTC timestamp of a real instant/);
  });

  it('created names a real instant from 1970 on', () => {
    for (const c of [
      '1969-12-31T23:59:59Z',
      '0000-01-01T00:00:00Z',
      '2026-00-10T00:00:00Z',
      '2026-13-01T00:00:00Z',
      '2026-02-29T00:00:00Z',
      '2026-02-30T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-01-32T00:00:00Z',
      '2026-01-00T00:00:00Z',
      '2026-01-01T24:00:00Z',
      '2026-01-01T00:60:00Z',
      '2026-01-01T00:00:60Z',
      '2026-12-31T23:59:60Z',
    ])
      bad({ ...METADATA, created: c }, /metadata.created/);
  });

  it('generation: a safe non-negative integer', () => {
    ok({ ...METADATA, generation: Number.MAX_SAFE_INTEGER });
    for (const g of [-1, 1.5, 2 ** 53, Number.NaN, Infinity, '1', null])
      bad({ ...METADATA, generation: g }, /metadata.generation is not a non-negative integer/);
  });

  it('app: an object', () => {
    for (const a of [null, [], 'x', 1, true]) bad({ ...METADATA, app: a }, /metadata.app is not an object/);
  });

  it('set: 1-64 of A-Z, a-z, 0-9, ".", "_", "-"', () => {
    for (const s of ['', 'x'.repeat(65), 'a b', 'a/b', 'é', 1, null, undefined])
      bad({ ...METADATA, set: s }, /metadata.set is not 1 to 64 characters/);
  });
});

describe('encodeMetadata', () => {
  it('is a 4-byte big-endian length, then the JSON in UTF-8', () => {
    const m = { created: '2026-11-26T12:00:00Z', generation: 3, app: { name: 'é😀' } };
    const json = utf8(JSON.stringify(m));
    expect(encodeMetadata(m)).toEqual(concat(u32(json.length), json));
  });

  it('takes null anywhere in app (JSON null is a JSON value: SPEC.md §5.1, app is any JSON)', () => {
    const m = { ...METADATA, app: { a: null, b: [null, { c: null }], d: [[null]] } };
    const json = utf8(
      '{"created":"2026-11-26T12:00:00Z","generation":1,"app":{"a":null,"b":[null,{"c":null}],"d":[[null]]}}',
    );
    expect(encodeMetadata(m)).toEqual(concat(u32(json.length), json));
  });

  it('takes 65 536 bytes of JSON, not one more', () => {
    const base = JSON.stringify({ ...METADATA, app: { a: '' } }).length;
    const at = (n: number) => ({ ...METADATA, app: { a: 'x'.repeat(n - base) } });
    expect(encodeMetadata(at(MAX_METADATA_SIZE)).length).toBe(4 + MAX_METADATA_SIZE);
    const e = thrown(() => encodeMetadata(at(MAX_METADATA_SIZE + 1)));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toBe('metadata is 65537 bytes as JSON; at most 65536');
  });

  it('refuses metadata nested past 64, or cyclic, with INVALID_ARGUMENT', () => {
    const nest = (d: number) => {
      let v: unknown = [];
      for (let i = 3; i < d; i++) v = [v];
      return { ...METADATA, app: { a: v as never } };
    };
    expect(() => encodeMetadata(nest(64))).not.toThrow();
    const e = thrown(() => encodeMetadata(nest(65)));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toBe(
      'metadata nests arrays and objects more than 64 deep (the record itself is one level)',
    );
    // A cycle with two ways back into itself: the depth count must stop at the limit.
    const cyc: Record<string, unknown> = {};
    cyc.x = cyc;
    cyc.y = cyc;
    cyc.z = [cyc, cyc];
    expect(thrown(() => encodeMetadata({ ...METADATA, app: cyc as never })).code).toBe('INVALID_ARGUMENT');
    const arr: unknown[] = [];
    arr.push(arr, arr);
    expect(thrown(() => encodeMetadata({ ...METADATA, app: { a: arr as never } })).code).toBe(
      'INVALID_ARGUMENT',
    );
  });

  it("refuses what a reader would refuse with INVALID_ARGUMENT, the reader's words without its prefix", () => {
    const e = thrown(() => encodeMetadata({ ...METADATA, generation: -1 }));
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toBe('metadata.generation is not a non-negative integer');
    expect((e.cause as E2EEError).code).toBe('MALFORMED_PAYLOAD');
    const s = thrown(() => encodeMetadata({ ...METADATA, app: { a: '\ud800' } }));
    expect(s.code).toBe('INVALID_ARGUMENT');
    expect(s.message).toBe(
      'metadata holds a string with an escaped lone surrogate; decoders would refuse it',
    );
  });

  it("passes on an error from the caller's own getters unchanged, even one of ours", () => {
    // Each getter throws on its second read: depthOf reads it once, checkMetadata again.
    const throwing = (error: Error) => {
      let reads = 0;
      return {
        ...METADATA,
        get app(): never {
          if (++reads > 1) throw error;
          return {} as never;
        },
      };
    };
    const boom = new TypeError('boom');
    expect(() => encodeMetadata(throwing(boom) as never)).toThrow(boom);
    const ours = new E2EEError('KEY_FORMAT', 'not a key');
    const e = thrown(() => encodeMetadata(throwing(ours) as never));
    expect(e).toBe(ours);
  });

  it('passes on an error that is not a framing error', () => {
    const app = {
      get a(): never {
        throw new TypeError('boom');
      },
    };
    expect(() => encodeMetadata({ ...METADATA, app: app as never })).toThrow(TypeError);
  });
});

describe('decodeFraming (SPEC.md §5)', () => {
  const body = counting(3000);

  it('reads the metadata and the body of stored and deflate blocks, in any piece sizes', async () => {
    const bytes = framed([
      stored(body.subarray(0, 1000)),
      deflated(new Uint8Array(2000).fill(7)),
      stored(body),
    ]);
    const want = concat(body.subarray(0, 1000), new Uint8Array(2000).fill(7), body);
    for (const sizes of [undefined, [1], [3, 7], [4096]]) {
      const got = await decode(bytes, { sizes });
      expect(got.metadata).toEqual(METADATA);
      same(got.body, want);
    }
  });

  it('an empty body is the metadata and the end marker; a COMPRESSED flag needs no deflate block', async () => {
    for (const compressed of [true, false]) {
      const got = await decode(framed([]), { compressed });
      expect(got.body.length).toBe(0);
    }
    same((await decode(framed([stored(body)]), { compressed: true })).body, body);
  });

  it('lent: a byte stream, read BYOB or by default, gives the same body', async () => {
    const bytes = framed([stored(body), deflated(new Uint8Array(5000).fill(1)), stored(body.subarray(7))]);
    const want = concat(body, new Uint8Array(5000).fill(1), body.subarray(7));
    for (const byob of [false, true])
      for (const sizes of [undefined, [57]])
        same((await decode(bytes, { lent: true, byob, sizes })).body, want, `byob ${byob}`);
    const small = framed([stored(body.subarray(0, 40)), stored(body.subarray(0, 9))]);
    for (const view of [1, 3, 4096]) {
      const { body: b } = await decodeFraming(byteReader(streamOf(small, [7])), {
        compressed: true,
        padded: false,
        maxOutputBytes: 1 << 20,
        lent: true,
      });
      same(await drain(b, true, view), concat(body.subarray(0, 40), body.subarray(0, 9)));
    }
  });

  it('lent: what is enqueued is a copy, never the reader buffer it may reuse', async () => {
    // A reader that hands out one buffer, overwritten at every call (as a lending payload does).
    const bytes = framed([stored(body), deflated(new Uint8Array(500).fill(3))]);
    const buf = new Uint8Array(64);
    let off = 0;
    const inner = byteReader(streamOf(bytes, [64]));
    const lending: FramedReader = {
      get got() {
        return inner.got;
      },
      exactly: async (n) => inner.exactly(n),
      async upTo(n) {
        const p = await inner.upTo(Math.min(n, buf.length));
        if (!p) return p;
        buf.fill(0xee);
        buf.set(p);
        off += p.length;
        return buf.subarray(0, p.length);
      },
      cancel: (r) => inner.cancel(r),
    };
    const { body: b } = await decodeFraming(lending, {
      compressed: true,
      padded: false,
      maxOutputBytes: 1 << 20,
      lent: true,
    });
    const reader = b.getReader();
    const parts: Uint8Array[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value); // kept without a copy: must not change after later reads
    }
    same(concat(...parts), concat(body, new Uint8Array(500).fill(3)));
    expect(off).toBe(body.length);
  });

  it('reports progress: after each deflate block, and when a stored block is all released', async () => {
    const seen: number[] = [];
    await decode(
      framed([stored(body.subarray(0, 100)), deflated(new Uint8Array(300)), stored(body.subarray(0, 50))]),
      {
        sizes: [10],
        onProgress: (n) => seen.push(n),
      },
    );
    expect(seen).toEqual([100, 400, 450]);
    const seenByob: number[] = [];
    await decode(framed([stored(body.subarray(0, 100)), stored(body.subarray(0, 5))]), {
      lent: true,
      byob: true,
      sizes: [10],
      onProgress: (n) => seenByob.push(n),
    });
    expect(seenByob).toEqual([100, 105]);
  });

  it('the metadata length: at most 65 536; the record must be there', async () => {
    const pre = '{"created":"2026-11-26T12:00:00Z","generation":1,"app":{"a":"';
    const fill = 'x'.repeat(65536 - pre.length - 3);
    const long = `${pre}${fill}"}}`;
    expect(utf8(long).length).toBe(65536);
    expect((await decode(framed([], false, long))).metadata.app).toEqual({ a: fill });
    const over = concat(u32(65537), utf8(`${long} `), END);
    expect(await failure(decode(over))).toEqual({
      code: 'MALFORMED_PAYLOAD',
      message: 'backup payload: metadata is 65537 bytes; at most 65536',
    });
    expect(await failure(decode(Uint8Array.of(0, 0, 1)))).toEqual({
      code: 'MALFORMED_PAYLOAD',
      message: 'backup payload: it ends inside the metadata length',
    });
    expect(await failure(decode(Uint8Array.of(0, 0, 0, 10, 0x7b)))).toEqual({
      code: 'MALFORMED_PAYLOAD',
      message: 'backup payload: it ends inside the metadata',
    });
  });

  it('the metadata JSON: UTF-8 without a BOM, JSON, by the rules of §5.1', async () => {
    const withBytes = (json: Uint8Array) => concat(u32(json.length), json, END);
    const badUtf8 = concat(
      utf8('{"created":"2026-11-26T12:00:00Z","generation":1,"app":{"a":"'),
      Uint8Array.of(0xff),
      utf8('"}}'),
    );
    for (const b of [badUtf8, concat(Uint8Array.of(0xef, 0xbb, 0xbf), utf8(META)), utf8('{"a":'), utf8('')])
      expect(await failure(decode(withBytes(b)))).toEqual({
        code: 'MALFORMED_PAYLOAD',
        message: 'backup payload: metadata is not UTF-8 JSON',
      });
    expect(await failure(decode(framed([], false, META.replace('{', '{"app":1,'))))).toEqual({
      code: 'MALFORMED_PAYLOAD',
      message: 'backup payload: metadata repeats a member name',
    });
    expect((await failure(decode(framed([], false, '[]')))).message).toBe(
      'backup payload: metadata is not a JSON object',
    );
    // A bare number is not an object: the generation rule (for a top-level member) is not the reason.
    for (const json of ['[]', '1.5', '-1', '"x"'])
      expect(await failure(decode(framed([], false, json))), json).toEqual({
        code: 'MALFORMED_PAYLOAD',
        message: 'backup payload: metadata is not a JSON object',
      });
    expect(
      await failure(
        decode(framed([], false, META.replace('"2026-11-26T12:00:00Z"', '["2026-11-26T12:00:00Z"]'))),
      ),
    ).toEqual({
      code: 'MALFORMED_PAYLOAD',
      message: 'backup payload: metadata.created is not an ISO 8601 UTC timestamp of a real instant',
    });
  });

  it('block kinds: 0x00, 0x01, 0x02 only, and 0x02 only in a COMPRESSED backup', async () => {
    for (const [k, hex] of [
      [3, '03'],
      [0x10, '10'],
      [0xff, 'ff'],
    ] as const)
      expect(
        await failure(decode(concat(metaRecord(META), Uint8Array.of(k), u32(1), Uint8Array.of(1), END))),
      ).toEqual({
        code: 'MALFORMED_PAYLOAD',
        message: `backup payload: unknown block kind 0x${hex}`,
      });
    expect(await failure(decode(framed([deflated(new Uint8Array(100))]), { compressed: false }))).toEqual({
      code: 'MALFORMED_PAYLOAD',
      message: 'backup payload: a compressed block in a backup whose header says it is not compressed',
    });
    // Decided before the lengths are read: even a deflate block that is cut short.
    expect(
      await failure(decode(concat(metaRecord(META), Uint8Array.of(2, 0)), { compressed: false })),
    ).toMatchObject({
      message: 'backup payload: a compressed block in a backup whose header says it is not compressed',
    });
  });

  it('stored lengths: 1 to 1 048 576', async () => {
    const one = await decode(framed([stored(Uint8Array.of(9))]));
    same(one.body, Uint8Array.of(9));
    const full = new Uint8Array(BLOCK_SIZE).fill(5);
    same((await decode(framed([stored(full)]), { sizes: [65536] })).body, full);
    expect(await failure(decode(framed([stored(new Uint8Array(0))])))).toEqual({
      code: 'MALFORMED_PAYLOAD',
      message: 'backup payload: a block of 0 bytes (allowed 1..1048576)',
    });
    expect(
      await failure(
        decode(concat(metaRecord(META), Uint8Array.of(1), u32(BLOCK_SIZE + 1), new Uint8Array(10))),
      ),
    ).toEqual({
      code: 'MALFORMED_PAYLOAD',
      message: 'backup payload: a block of 1048577 bytes (allowed 1..1048576)',
    });
  });

  it('deflate lengths: 1 ≤ rlen ≤ 1 048 576, 1 ≤ clen < rlen', async () => {
    const full = new Uint8Array(BLOCK_SIZE).fill(1);
    same((await decode(framed([deflated(full)]))).body, full);
    const head = (clen: number, rlen: number) =>
      concat(metaRecord(META), Uint8Array.of(2), u32(clen), u32(rlen), new Uint8Array(8));
    expect(await failure(decode(head(1, 0)))).toEqual({
      code: 'MALFORMED_PAYLOAD',
      message: 'backup payload: a block of 0 bytes (allowed 1..1048576)',
    });
    expect(await failure(decode(head(1, BLOCK_SIZE + 1)))).toMatchObject({
      message: 'backup payload: a block of 1048577 bytes (allowed 1..1048576)',
    });
    expect(await failure(decode(head(0, 10)))).toEqual({
      code: 'MALFORMED_PAYLOAD',
      message: 'backup payload: a compressed block of 0 bytes for 10 (it must shrink, else be stored)',
    });
    expect(await failure(decode(head(10, 10)))).toMatchObject({
      message: 'backup payload: a compressed block of 10 bytes for 10 (it must shrink, else be stored)',
    });
    expect(await failure(decode(head(11, 10)))).toMatchObject({
      message: 'backup payload: a compressed block of 11 bytes for 10 (it must shrink, else be stored)',
    });
    // clen = rlen - 1 is allowed: 2 bytes of deflate for 3 zeros would be; find a real one.
    const data = new Uint8Array(3);
    const packed = new Uint8Array(deflateRawSync(data));
    const rlen = packed.length + 1;
    const payload = concat(new Uint8Array(rlen - 3), data);
    const p2 = new Uint8Array(deflateRawSync(payload));
    if (p2.length === rlen - 1) same((await decode(framed([deflated(payload, p2)]))).body, payload);
    // A deflate block's data must expand to exactly rlen.
    expect(
      (
        await failure(
          decode(framed([deflated(new Uint8Array(100), new Uint8Array(deflateRawSync(new Uint8Array(99))))])),
        )
      ).code,
    ).toBe('MALFORMED_PAYLOAD');
  });

  it('OUTPUT_LIMIT from the declared length, before the data is read; exactly the limit is fine', async () => {
    const bytes = framed([
      stored(body.subarray(0, 100)),
      deflated(new Uint8Array(200)),
      stored(body.subarray(0, 50)),
    ]);
    expect((await decode(bytes, { maxOutputBytes: 350 })).body.length).toBe(350);
    for (const limit of [349, 299, 99, 0]) {
      const f = await failure(decode(bytes, { maxOutputBytes: limit }));
      expect(f.code).toBe('OUTPUT_LIMIT');
      expect(f.message).toBe(
        `the backup expands past maxOutputBytes (${limit}); raise it if you expect a backup this large`,
      );
    }
    // The limit is checked before the block's data: a declared length past it, with no data.
    const cut = concat(metaRecord(META), Uint8Array.of(1), u32(1000));
    expect((await failure(decode(cut, { maxOutputBytes: 999 }))).code).toBe('OUTPUT_LIMIT');
    expect((await failure(decode(cut, { maxOutputBytes: 1000 }))).code).toBe('MALFORMED_PAYLOAD');
    const cutDeflate = concat(metaRecord(META), Uint8Array.of(2), u32(10), u32(1000));
    expect((await failure(decode(cutDeflate, { maxOutputBytes: 999 }))).code).toBe('OUTPUT_LIMIT');
    // Without COMPRESSED, a deflate block over the limit is MALFORMED_PAYLOAD (its kind first).
    expect((await failure(decode(cutDeflate, { maxOutputBytes: 999, compressed: false }))).code).toBe(
      'MALFORMED_PAYLOAD',
    );
  });

  it('a plaintext that ends early names where', async () => {
    const m = metaRecord(META);
    const cases: [Uint8Array, string][] = [
      [m, 'the block list (no end marker)'],
      [concat(m, stored(body.subarray(0, 10))), 'the block list (no end marker)'],
      [concat(m, Uint8Array.of(1, 0, 0)), 'a block header'],
      [concat(m, Uint8Array.of(2), u32(5), Uint8Array.of(0)), 'a block header'],
      [concat(m, Uint8Array.of(2), u32(5), u32(10), Uint8Array.of(1, 2)), 'a block'],
    ];
    for (const [bytes, where] of cases)
      expect(await failure(decode(bytes)), where).toEqual({
        code: 'MALFORMED_PAYLOAD',
        message: `backup payload: it ends inside ${where}`,
      });
    const cutStored = concat(m, Uint8Array.of(1), u32(100), body.subarray(0, 40));
    for (const o of [{}, { lent: true }, { lent: true, byob: true }, { sizes: [7] }])
      expect(await failure(decode(cutStored, o))).toEqual({
        code: 'MALFORMED_PAYLOAD',
        message: 'backup payload: it ends inside a block',
      });
  });

  it('padding: exactly Padmé(U) − U zeros when PADDED, none when not (SPEC.md §5.4)', async () => {
    for (const n of [0, 1, 1000, 5000]) {
      const blocks = n ? [stored(counting(n))] : [];
      const u = concat(metaRecord(META), ...blocks, END);
      const pad = padme(u.length) - u.length;
      for (const sizes of [undefined, [13]]) {
        expect((await decode(framed(blocks, true), { padded: true, sizes })).body.length).toBe(n);
        if (pad > 0) {
          const short = concat(u, new Uint8Array(pad - 1));
          expect(await failure(decode(short, { padded: true, sizes }))).toEqual({
            code: 'BAD_PADDING',
            message: `backup padding is ${pad - 1} bytes; Padmé requires exactly ${pad}`,
          });
          const dirty = concat(u, new Uint8Array(pad));
          dirty[dirty.length - 1] = 1;
          expect(await failure(decode(dirty, { padded: true, sizes }))).toEqual({
            code: 'BAD_PADDING',
            message: 'backup padding has non-zero bytes',
          });
          expect(await failure(decode(u, { padded: true, sizes }))).toMatchObject({
            message: `backup padding is 0 bytes; Padmé requires exactly ${pad}`,
          });
        }
        const long = concat(u, new Uint8Array(pad + 1));
        expect(await failure(decode(long, { padded: true, sizes }))).toEqual({
          code: 'BAD_PADDING',
          message: `backup padding is ${pad + 1} bytes; Padmé requires exactly ${pad}`,
        });
        if (!sizes && n === 1) {
          const longer = concat(u, new Uint8Array(pad + 1 + BLOCK_SIZE));
          expect((await failure(decode(longer, { padded: true, sizes: [65536] }))).code).toBe('BAD_PADDING');
        }
        const dirtyAfter = concat(u, new Uint8Array(pad), Uint8Array.of(7));
        expect((await failure(decode(dirtyAfter, { padded: true, sizes }))).code).toBe('BAD_PADDING');
      }
      expect((await decode(u)).body.length).toBe(n);
      for (const extra of [Uint8Array.of(0), Uint8Array.of(0, 0, 0), Uint8Array.of(5)]) {
        const f = await failure(decode(concat(u, extra)));
        expect(f.code).toBe('BAD_PADDING');
        // The decoder stops reading one byte past the length it wants.
        if (extra[0] === 0)
          expect(f.message).toBe('backup padding is 1 bytes; an unpadded backup requires exactly 0');
      }
    }
  });

  it('padding past a megabyte is read in pieces, all of it checked', async () => {
    // U just over 2^21: Padmé pads to a multiple of 2^(21-5) = 65 536.
    const n = 2 ** 21 + 100;
    const blocks = [
      stored(new Uint8Array(BLOCK_SIZE)),
      stored(new Uint8Array(BLOCK_SIZE)),
      stored(new Uint8Array(100)),
    ];
    const u = concat(metaRecord(META), ...blocks, END);
    const pad = padme(u.length) - u.length;
    expect(pad).toBeGreaterThan(0);
    expect(
      (await decode(concat(u, new Uint8Array(pad)), { padded: true, sizes: [1 << 20] })).body.length,
    ).toBe(n);
  });

  it('padding: one non-zero byte anywhere in it is BAD_PADDING, in any input chunking', async () => {
    const blocks = [stored(counting(70_000))];
    const u = concat(metaRecord(META), ...blocks, END);
    const pad = padme(u.length) - u.length;
    expect(pad).toBeGreaterThan(1000);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: pad - 1 }),
        fc.integer({ min: 1, max: 255 }),
        fc.constantFrom<number[] | undefined>(undefined, [7], [13, 64]),
        async (at, value, sizes) => {
          const dirty = concat(u, new Uint8Array(pad));
          dirty[u.length + at] = value;
          expect(await failure(decode(dirty, { padded: true, sizes }))).toEqual({
            code: 'BAD_PADDING',
            message: 'backup padding has non-zero bytes',
          });
        },
      ),
      { numRuns: 30 },
    );
  });

  it('a deflate block of clen 1 meets the length rules: the output limit, then its data, decide', async () => {
    // SPEC.md §5.2: 1 ≤ clen < rlen holds for clen = 1, so the limit comes next (OUTPUT_LIMIT),
    // and under the limit the data is refused (one byte is no deflate stream), not the lengths.
    const one = concat(metaRecord(META), Uint8Array.of(2), u32(1), u32(1000), Uint8Array.of(0x03), END);
    expect((await failure(decode(one, { maxOutputBytes: 999 }))).code).toBe('OUTPUT_LIMIT');
    const f = await failure(decode(one));
    expect(f.code).toBe('MALFORMED_PAYLOAD');
    expect(f.message).not.toMatch(/a compressed block of/);
  });

  it('lent, read BYOB: each read fills the view from the stored block, whatever the input pieces', async () => {
    const bytes = framed([stored(body.subarray(0, 1000)), stored(body.subarray(0, 250))]);
    const { body: b } = await decodeFraming(byteReader(streamOf(bytes, [7])), {
      compressed: true,
      padded: false,
      maxOutputBytes: 1 << 20,
      lent: true,
    });
    const reader = b.getReader({ mode: 'byob' });
    const sizes: number[] = [];
    for (;;) {
      const { done, value } = await reader.read(new Uint8Array(100));
      if (done) break;
      sizes.push(value.length);
    }
    // Ten full views from the first block, then the second block's 250 bytes as 100, 100, 50.
    expect(sizes).toEqual([...new Array(10).fill(100), 100, 100, 50]);
  });

  it('on success, never cancels its input, with or without lent, read BYOB or by default', async () => {
    const bytes = framed([stored(body.subarray(0, 100)), deflated(new Uint8Array(300))]);
    for (const [lent, byob] of [
      [false, false],
      [true, false],
      [true, true],
    ] as const) {
      const inner = byteReader(streamOf(bytes, [9]));
      const reasons: unknown[] = [];
      const r: FramedReader = {
        get got() {
          return inner.got;
        },
        exactly: (n) => inner.exactly(n),
        upTo: (n) => inner.upTo(n),
        cancel: async (reason) => void reasons.push(reason),
      };
      const { body: b } = await decodeFraming(r, {
        compressed: true,
        padded: false,
        maxOutputBytes: 1000,
        lent,
      });
      same(
        await drain(b, byob),
        concat(body.subarray(0, 100), new Uint8Array(300)),
        `lent ${lent} byob ${byob}`,
      );
      expect(reasons, `lent ${lent} byob ${byob}`).toEqual([]);
    }
  });

  it('padding of more than a megabyte (plaintexts of 64 MiB): read in rounds, stopped one byte past', async () => {
    // Padmé pads by more than BLOCK_SIZE only from U = 2^26 (E = 26, S = 5: a multiple of 2^21).
    // The plaintext is streamed from one shared buffer of zeros, never held whole.
    const zeros = new Uint8Array(BLOCK_SIZE);
    const big = (u: number, trailing: number, dirtyAt: number) => {
      const pieces: Uint8Array[] = [metaRecord(META)];
      let left = u - pieces[0]!.length - 1; // the block records' bytes
      let bodyLength = 0;
      while (left > 0) {
        // A full block, unless that would leave too few bytes for one more record (6: a byte of data).
        const rest = left - 5;
        const len = rest > BLOCK_SIZE && rest - BLOCK_SIZE < 6 ? BLOCK_SIZE - 6 : Math.min(rest, BLOCK_SIZE);
        pieces.push(concat(Uint8Array.of(1), u32(len)), zeros.subarray(0, len));
        left -= 5 + len;
        bodyLength += len;
      }
      expect(left).toBe(0);
      pieces.push(END);
      for (let at = 0; at < trailing; at += BLOCK_SIZE) {
        const n = Math.min(trailing - at, BLOCK_SIZE);
        const dirty = dirtyAt >= at && dirtyAt < at + n ? new Uint8Array(n) : undefined;
        if (dirty) dirty[dirtyAt - at] = 1;
        pieces.push(dirty ?? zeros.subarray(0, n));
      }
      const stream = new ReadableStream<Uint8Array>({
        pull: (c) => (pieces.length ? c.enqueue(pieces.shift()!) : c.close()),
      });
      return { stream, bodyLength };
    };
    const run = async (u: number, trailing: number, dirtyAt = -1) => {
      const { stream, bodyLength } = big(u, trailing, dirtyAt);
      const { body: b } = await decodeFraming(byteReader(stream), {
        compressed: false,
        padded: true,
        maxOutputBytes: 2 ** 27,
        lent: false,
      });
      let n = 0;
      const reader = b.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        n += value.length;
      }
      expect(n).toBe(bodyLength);
    };
    // U = 2^26 + 5: Padmé(U) = 2^26 + 2^21, padding 2^21 − 5 (two rounds of reading).
    const u1 = 2 ** 26 + 5;
    const pad1 = padme(u1) - u1;
    expect(pad1).toBe(2 ** 21 - 5);
    await run(u1, pad1);
    expect(await failure(run(u1, pad1 + 100))).toEqual({
      code: 'BAD_PADDING',
      message: `backup padding is ${pad1 + 1} bytes; Padmé requires exactly ${pad1}`,
    });
    expect((await failure(run(u1, pad1 - 1))).message).toBe(
      `backup padding is ${pad1 - 1} bytes; Padmé requires exactly ${pad1}`,
    );
    // A non-zero byte in either round, at its edges, is found.
    for (const at of [0, BLOCK_SIZE - 1, BLOCK_SIZE, pad1 - 1])
      expect(await failure(run(u1, pad1, at)), `at ${at}`).toEqual({
        code: 'BAD_PADDING',
        message: 'backup padding has non-zero bytes',
      });
    // U = 2^26 + 2^20: padding of exactly BLOCK_SIZE, a first round that ends on it; one byte more
    // must still be found.
    const u2 = 2 ** 26 + 2 ** 20;
    const pad2 = padme(u2) - u2;
    expect(pad2).toBe(BLOCK_SIZE);
    await run(u2, pad2);
    expect(await failure(run(u2, pad2 + 1))).toEqual({
      code: 'BAD_PADDING',
      message: `backup padding is ${pad2 + 1} bytes; Padmé requires exactly ${pad2}`,
    });
  });

  it('on an error, cancels its input with that error', async () => {
    const inner = byteReader(streamOf(framed([stored(new Uint8Array(0))])));
    const reasons: unknown[] = [];
    const r: FramedReader = {
      get got() {
        return inner.got;
      },
      exactly: (n) => inner.exactly(n),
      upTo: (n) => inner.upTo(n),
      cancel: async (reason) => {
        reasons.push(reason);
        await inner.cancel(reason);
      },
    };
    const { source } = await framingSource(r, {
      compressed: true,
      padded: false,
      maxOutputBytes: 100,
      lent: false,
    });
    const body = new ReadableStream(source);
    const f = await failure(drain(body));
    expect(f.code).toBe('MALFORMED_PAYLOAD');
    expect(reasons).toHaveLength(1);
    expect((reasons[0] as E2EEError).message).toBe(f.message);
    // Cancelling the body cancels the input.
    const inner2 = byteReader(streamOf(framed([stored(body0)])));
    const got2: unknown[] = [];
    const r2: FramedReader = { ...inner2, got: 0, cancel: async (x) => void got2.push(x) };
    const { body: b2 } = await decodeFraming(r2, {
      compressed: true,
      padded: false,
      maxOutputBytes: 100,
      lent: false,
    });
    await b2.cancel('stop');
    expect(got2).toEqual(['stop']);
  });
});
const body0 = Uint8Array.of(1, 2, 3);

describe('owned', () => {
  it("passes on a buffer's sole view, copies any other", () => {
    const whole = new Uint8Array(8).fill(1);
    expect(owned(whole)).toBe(whole);
    const sub = whole.subarray(1, 5);
    const o = owned(sub);
    expect(o).not.toBe(sub);
    expect(o).toEqual(sub);
    expect(o.byteOffset).toBe(0);
    expect(o.buffer.byteLength).toBe(4);
    const head = whole.subarray(0, 4);
    expect(owned(head)).not.toBe(head);
    const tail = whole.subarray(4);
    expect(owned(tail)).not.toBe(tail);
    const shared = new Uint8Array(new SharedArrayBuffer(4));
    expect(owned(shared)).not.toBe(shared);
    expect(owned(shared).buffer).toBeInstanceOf(ArrayBuffer);
  });
});

describe('byteReader', () => {
  it('exactly and upTo return the stream in order, in any piece and request sizes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 300 }),
        fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 50 })), { minLength: 1, maxLength: 40 }),
        async (n, sizes, asks) => {
          const bytes = counting(n);
          // Zero-length pieces are skipped by the reader.
          let off = 0;
          let i = 0;
          const stream = new ReadableStream<Uint8Array>({
            pull(c) {
              if (off >= bytes.length) return c.close();
              const k = [...sizes, 1][i++ % (sizes.length + 1)]!; // never only empty pieces
              c.enqueue(bytes.slice(off, off + k));
              off += k;
            },
          });
          const r = byteReader(stream);
          let at = 0;
          for (const [exact, k] of asks) {
            if (exact) {
              const got = await r.exactly(k);
              if (at + k > n) {
                expect(got).toBeUndefined();
                expect(r.got).toBe(n - at);
                return;
              }
              same(got, bytes.subarray(at, at + k));
              at += k;
            } else {
              const got = await r.upTo(Math.max(1, k));
              if (at === n) {
                expect(got).toBeUndefined();
                return;
              }
              expect(got!.length).toBeGreaterThan(0);
              expect(got!.length).toBeLessThanOrEqual(Math.max(1, k));
              same(got, bytes.subarray(at, at + got!.length));
              at += got!.length;
            }
          }
          same(await drain(r.rest()), bytes.subarray(at));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('exactly(n) across pieces, and of a whole piece, and upTo of part of one', async () => {
    const r = byteReader(streamOf(counting(10), [3]));
    expect(await r.exactly(0)).toEqual(new Uint8Array(0));
    same(await r.exactly(3), counting(3));
    same(await r.exactly(4), counting(7).subarray(3));
    expect(await r.upTo(1)).toEqual(Uint8Array.of(7));
    expect(await r.upTo(5)).toEqual(Uint8Array.of(8));
    expect(await r.upTo(5)).toEqual(Uint8Array.of(9));
    expect(await r.upTo(5)).toBeUndefined();
    expect(await r.exactly(1)).toBeUndefined();
    expect(r.got).toBe(0);
  });

  it('rest() gives what was read ahead, then the stream; cancel and detach release it', async () => {
    const r = byteReader(streamOf(counting(20), [8]));
    same(await r.exactly(2), counting(2));
    same(await drain(r.rest()), counting(20).subarray(2));

    const cancelled: unknown[] = [];
    const stream = new ReadableStream<Uint8Array>({
      pull: (c) => c.enqueue(Uint8Array.of(1, 2, 3)),
      cancel: (x) => void cancelled.push(x),
    });
    const r2 = byteReader(stream);
    await r2.exactly(1);
    await r2.cancel('why');
    expect(cancelled).toEqual(['why']);

    const s3 = streamOf(counting(10), [4]);
    const r3 = byteReader(s3);
    expect(await r3.exactly(1)).toEqual(Uint8Array.of(0));
    const { queued, source } = r3.detach();
    expect(source).toBe(s3);
    expect(concat(...queued)).toEqual(Uint8Array.of(1, 2, 3));
    expect(s3.locked).toBe(false);
    same(await drain(s3), counting(10).subarray(4));

    const r4 = byteReader(streamOf(counting(10), [4]));
    await r4.exactly(1);
    const rest4 = r4.rest();
    const c4: unknown[] = [];
    void c4;
    await rest4.cancel('x');
  });

  it('reads no piece more than it needs: exactly and upTo return once they have the bytes', async () => {
    let reads = 0;
    const pieces = [Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5), Uint8Array.of(6)];
    const r = byteReader({
      read: async () => {
        reads++;
        const value = pieces.shift();
        return value ? { done: false as const, value } : { done: true as const };
      },
      cancel: async () => {},
    });
    same(await r.exactly(3), Uint8Array.of(1, 2, 3));
    expect(reads).toBe(1);
    same(await r.upTo(10), Uint8Array.of(4, 5));
    expect(reads).toBe(2);
  });

  it('exactly(n) within one piece gives a view of it, without a copy', async () => {
    const piece = Uint8Array.of(1, 2, 3, 4, 5, 6);
    const r = byteReader(streamOf(piece));
    // The stream hands over its own chunk (streamOf slices once): compare against what it holds.
    const a = await r.exactly(2);
    const b = await r.exactly(4); // the rest of the same piece, exactly
    same(a, Uint8Array.of(1, 2));
    same(b, Uint8Array.of(3, 4, 5, 6));
    expect(b!.buffer).toBe(a!.buffer);
    expect(b!.byteOffset).toBe(2);
  });

  it('an empty piece before the end is skipped even after exactly came up short', async () => {
    const pieces = [Uint8Array.of(1, 2, 3), new Uint8Array(0)];
    const source = () => ({
      read: async () => {
        const value = pieces.shift();
        return value ? { done: false as const, value } : { done: true as const };
      },
      cancel: async () => {},
    });
    const r = byteReader(source());
    expect(await r.exactly(5)).toBeUndefined();
    expect(r.got).toBe(3);
    same(await r.upTo(10), Uint8Array.of(1, 2, 3));
    // "Between 1 and n bytes … or undefined at the end": never an empty piece.
    expect(await r.upTo(10)).toBeUndefined();
  });

  it('detach works over a piece reader (no lock to release), and rest() cancels its source', async () => {
    const reader = pieceReader(counting(10), [4]);
    const r = byteReader(reader);
    expect(await r.exactly(1)).toEqual(Uint8Array.of(0));
    const { queued, source } = r.detach();
    expect(source).toBe(reader);
    expect(concat(...queued)).toEqual(Uint8Array.of(1, 2, 3));

    const cancelled: unknown[] = [];
    const stream = new ReadableStream<Uint8Array>({
      pull: (c) => c.enqueue(Uint8Array.of(1, 2, 3)),
      cancel: (x) => void cancelled.push(x),
    });
    const r2 = byteReader(stream);
    await r2.exactly(1);
    await r2.rest().cancel('enough');
    expect(cancelled).toEqual(['enough']);
  });

  it('skips empty pieces', async () => {
    const pieces = [new Uint8Array(0), Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3)];
    const r = byteReader(
      new ReadableStream({
        pull(c) {
          const p = pieces.shift();
          if (p) c.enqueue(p);
          else c.close();
        },
      }),
    );
    expect(await r.upTo(10)).toEqual(Uint8Array.of(1));
    expect(await r.exactly(2)).toEqual(Uint8Array.of(2, 3));
    expect(await r.upTo(1)).toBeUndefined();
  });
});

/** Parses a framed plaintext by SPEC.md §5's tables: the blocks' kinds, sizes and the body. */
function parse(bytes: Uint8Array) {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const metaLen = v.getUint32(0);
  const json = new TextDecoder().decode(bytes.subarray(4, 4 + metaLen));
  let o = 4 + metaLen;
  const blocks: { kind: number; raw: number }[] = [];
  const body: Uint8Array[] = [];
  for (;;) {
    const kind = bytes[o]!;
    o += 1;
    if (kind === 0) break;
    const len = v.getUint32(o);
    if (kind === 1) {
      body.push(bytes.subarray(o + 4, o + 4 + len));
      blocks.push({ kind, raw: len });
      o += 4 + len;
    } else {
      const raw = v.getUint32(o + 4);
      const out = new Uint8Array(inflateRawSync(bytes.subarray(o + 8, o + 8 + len)));
      expect(out.length).toBe(raw);
      expect(len).toBeLessThan(raw);
      body.push(out);
      blocks.push({ kind, raw });
      o += 8 + len;
    }
  }
  return { json, blocks, body: concat(...body), unpadded: o, padding: bytes.subarray(o) };
}

async function encode(
  input:
    | ReadableStream<Uint8Array>
    | { read(): Promise<{ done: boolean; value?: unknown }>; cancel(): Promise<void> },
  o: { deflateLevel?: number; padded?: boolean; lend?: boolean; onProgress?: (n: number) => void } = {},
) {
  const parts: Uint8Array[] = [];
  for await (const p of framePieces(
    readBlocks(input as never, o.lend ?? false),
    metaRecord(JSON.stringify(METADATA)),
    {
      deflateLevel: o.deflateLevel,
      padded: o.padded ?? false,
      lend: o.lend ?? false,
      onProgress: o.onProgress,
    },
  ))
    parts.push(p.slice());
  return concat(...parts);
}

/** A piece reader (not a Web stream) over `bytes` in pieces of `sizes`. */
function pieceReader(bytes: Uint8Array, sizes: number[]) {
  let off = 0;
  let i = 0;
  return {
    read: async () => {
      if (off >= bytes.length) return { done: true as const };
      const n = sizes[i++ % sizes.length]!;
      const value = bytes.slice(off, off + n);
      off += n;
      return { done: false as const, value };
    },
    cancel: async () => {},
  };
}

/** A piece reader that gives `piece` itself (no copy), then the end. */
function onePiece(piece: Uint8Array) {
  let given = false;
  return {
    read: async () => {
      if (given) return { done: true as const };
      given = true;
      return { done: false as const, value: piece };
    },
    cancel: async () => {},
  };
}

describe('framePieces and readBlocks (the writer, SPEC.md §5)', () => {
  const random = (n: number) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
    return out;
  };

  it('uncompressed: stored blocks of 1 048 576 bytes, the last shorter; no padding unless asked', async () => {
    const data = counting(2 * BLOCK_SIZE + 10);
    for (const lend of [false, true])
      for (const input of [() => streamOf(data, [100000]), () => pieceReader(data, [3000, 50000, 1])]) {
        const p = parse(await encode(input(), { lend }));
        expect(JSON.parse(p.json)).toEqual(METADATA);
        expect(p.blocks).toEqual([
          { kind: 1, raw: BLOCK_SIZE },
          { kind: 1, raw: BLOCK_SIZE },
          { kind: 1, raw: 10 },
        ]);
        same(p.body, data);
        expect(p.padding.length).toBe(0);
      }
  });

  it('an empty body is no block at all', async () => {
    for (const deflateLevel of [undefined, 6]) {
      const p = parse(await encode(streamOf(new Uint8Array(0)), { deflateLevel }));
      expect(p.blocks).toEqual([]);
    }
  });

  it('padded: zeros up to Padmé of the framed length', async () => {
    for (const n of [0, 1, 1000, 300000]) {
      for (const deflateLevel of [undefined, 6])
        for (const lend of [false, true]) {
          const out = await encode(streamOf(counting(n), [65536]), { padded: true, deflateLevel, lend });
          const p = parse(out);
          same(p.body, counting(n));
          expect(out.length).toBe(padme(p.unpadded));
          expect(p.padding.every((b) => b === 0)).toBe(true);
        }
    }
  });

  it('compressed: a block that shrinks is deflated, one that does not is stored', async () => {
    const zeros = new Uint8Array(BLOCK_SIZE + 100);
    const noise = random(BLOCK_SIZE);
    const data = concat(zeros, noise.subarray(0, BLOCK_SIZE - 100), counting(5000));
    for (const lend of [false, true])
      for (const input of [() => streamOf(data, [70000]), () => pieceReader(data, [1000, 200000])]) {
        const p = parse(await encode(input(), { deflateLevel: 6, lend }));
        same(p.body, data);
        // The third may be stored untried: after an incompressible block the writer may skip deflate.
        expect(p.blocks.map((b) => b.kind).slice(0, 2)).toEqual([2, 1]);
        expect(p.blocks.map((b) => b.raw)).toEqual([BLOCK_SIZE, BLOCK_SIZE, 5000]);
      }
  });

  it('compressed: many blocks come out in order', async () => {
    const blocks = Array.from({ length: 7 }, (_, i) => new Uint8Array(BLOCK_SIZE).fill(i + 1));
    blocks.push(new Uint8Array(77).fill(9));
    const data = concat(...blocks);
    for (const lend of [false, true]) {
      const p = parse(await encode(streamOf(data, [BLOCK_SIZE / 2 + 3]), { deflateLevel: 1, lend }));
      same(p.body, data);
      expect(p.blocks.every((b) => b.kind === 2)).toBe(true);
      expect(p.blocks).toHaveLength(8);
    }
  });

  it('reports the body bytes consumed after each block', async () => {
    for (const deflateLevel of [undefined, 6]) {
      const seen: number[] = [];
      await encode(streamOf(new Uint8Array(2 * BLOCK_SIZE + 3), [300000]), {
        deflateLevel: deflateLevel && 1,
        onProgress: (n) => seen.push(n),
      });
      expect(seen).toEqual([BLOCK_SIZE, 2 * BLOCK_SIZE, 2 * BLOCK_SIZE + 3]);
    }
  });

  it('readBlocks: a piece reader gives blocks of exactly BLOCK_SIZE from pieces of any size', async () => {
    const data = counting(BLOCK_SIZE + 20000);
    for (const sizes of [[1, 2, 20000], [BLOCK_SIZE + 1], [16383, 16384, 40000], [7]]) {
      if (sizes[0] === 7) continue; // byte-sized pieces of a megabyte are slow
      const src = readBlocks(pieceReader(data, sizes), false);
      const b1 = await src.next();
      const b2 = await src.next();
      expect(await src.next()).toBeUndefined();
      same(concat(...b1!), data.subarray(0, BLOCK_SIZE));
      same(concat(...b2!), data.subarray(BLOCK_SIZE));
    }
    // Tiny pieces are copied together, not passed on one by one.
    const tiny = readBlocks(pieceReader(counting(5000), [10]), false);
    const t = await tiny.next();
    expect(t!.length).toBe(1);
    expect(t![0]).toEqual(counting(5000));
    // Many small pieces past one staging buffer: still every byte in order.
    const many = counting(200000);
    const m = await readBlocks(pieceReader(many, [1000, 16383]), false).next();
    same(concat(...m!), many);
    expect(m!.length).toBeLessThan(20);
    // Large pieces go as they are, between staged small ones.
    const mixed = counting(100000);
    const x = await readBlocks(pieceReader(mixed, [100, 30000, 100]), false).next();
    same(concat(...x!), mixed);
  });

  it('readBlocks: a byte stream, read BYOB; with lend one buffer serves every block', async () => {
    const data = counting(2 * BLOCK_SIZE + 1);
    for (const lend of [false, true]) {
      const src = readBlocks(byteStreamOf(data), lend);
      const got: Uint8Array[] = [];
      const buffers = new Set<ArrayBufferLike>();
      for (;;) {
        const b = await src.next();
        if (!b) break;
        expect(b).toHaveLength(1);
        buffers.add(b[0]!.buffer);
        got.push(b[0]!.slice());
      }
      same(concat(...got), data);
      expect(got.map((g) => g.length)).toEqual([BLOCK_SIZE, BLOCK_SIZE, 1]);
      expect(await src.next()).toBeUndefined();
    }
  });

  it('readBlocks, BYOB: a body of exactly one block is that block, then the end (no empty block)', async () => {
    const data = counting(BLOCK_SIZE);
    for (const lend of [false, true]) {
      const src = readBlocks(byteStreamOf(data), lend);
      const b = await src.next();
      same(b?.[0], data);
      expect(await src.next()).toBeUndefined();
    }
  });

  it("readBlocks, BYOB: with lend the next block reuses the last one's memory; without, it stays", async () => {
    for (const lend of [false, true]) {
      const src = readBlocks(byteStreamOf(counting(2 * BLOCK_SIZE)), lend);
      const first = (await src.next())![0]!;
      await src.next();
      // A lent block is valid only until the next next(): its memory went into that read.
      expect(first.byteLength).toBe(lend ? 0 : BLOCK_SIZE);
    }
  });

  it('readBlocks, BYOB: cancel cancels the stream with the reason', async () => {
    const cancelled: unknown[] = [];
    const src = readBlocks(byteStreamOf(counting(10), { cancelled }), false);
    await src.cancel('stop');
    expect(cancelled).toEqual(['stop']);
  });

  it('readBlocks, BYOB: with lend the one block buffer is wiped at the end and on cancel', async () => {
    const data = counting(BLOCK_SIZE + 1000);
    const ended = readBlocks(byteStreamOf(data), true);
    await ended.next();
    const last = (await ended.next())![0]!;
    expect(last.length).toBe(1000);
    expect(await ended.next()).toBeUndefined(); // the consumer is done with the last block
    expect(zeros(last.buffer)).toBe(true);
    const cancelled = readBlocks(byteStreamOf(data), true);
    const first = (await cancelled.next())![0]!;
    await cancelled.cancel();
    expect(zeros(first.buffer)).toBe(true);
    // Without lend every block is the caller's own: nothing is wiped.
    const owned = readBlocks(byteStreamOf(data), false);
    const mine = (await owned.next())![0]!;
    await owned.cancel();
    same(mine, data.subarray(0, BLOCK_SIZE));
  });

  it('readBlocks: once cancelled, next() fails with ABORTED, a read the cancel overtook included', async () => {
    // A read that a cancel overtakes comes back as done; taken for the end of the input, it
    // would frame what came before it as a whole body.
    for (const [name, type, lend] of [
      ['BYOB, lent', 'bytes', true],
      ['BYOB', 'bytes', false],
      ['default reader', undefined, true],
    ] as const) {
      const reasons: unknown[] = [];
      let sent = 0;
      const stalling = new ReadableStream<Uint8Array>({
        type,
        pull(c: ReadableStreamController<Uint8Array>) {
          if (sent >= BLOCK_SIZE + 10) return new Promise(() => {});
          const n = Math.min(300000, BLOCK_SIZE + 10 - sent);
          c.enqueue(counting(n));
          sent += n;
        },
        cancel: (r: unknown) => void reasons.push(r),
      } as UnderlyingDefaultSource<Uint8Array>);
      const src = readBlocks(stalling, lend);
      expect(
        (await src.next())!.reduce((n, p) => n + p.length, 0),
        name,
      ).toBe(BLOCK_SIZE);
      const pending = src.next(); // 10 bytes, then a read that waits
      await new Promise((resolve) => setTimeout(resolve, 20));
      await src.cancel('stop');
      await expect(pending, name).rejects.toMatchObject({ code: 'ABORTED' });
      await expect(src.next(), name).rejects.toMatchObject({ code: 'ABORTED' });
      await src.cancel('again'); // resolves: a source may be cancelled twice
      expect(reasons, name).toEqual(['stop']);
    }
  });

  it('readBlocks: with lend, the copies of small pieces are wiped once the block is done with', async () => {
    // Pieces under 16 KiB are copied together into 64 KiB staging buffers (blockGatherer).
    const data = random(2 * BLOCK_SIZE + 5000);
    for (const stop of ['end', 'cancel'] as const) {
      const set = vi.spyOn(Uint8Array.prototype, 'set');
      const staging = () =>
        (set.mock.contexts as Uint8Array[]).filter((c) => c.buffer.byteLength === 65536).map((c) => c.buffer);
      const src = readBlocks(pieceReader(data, [1000, 3000]), true);
      const got: Uint8Array[] = [];
      for (let b = await src.next(); b; b = stop === 'cancel' && got.length ? undefined : await src.next())
        got.push(concat(...b));
      if (stop === 'cancel') await src.cancel();
      same(concat(...got), stop === 'end' ? data : data.subarray(0, BLOCK_SIZE));
      expect(staging().length, stop).toBeGreaterThan(10);
      for (const b of staging()) expect(zeros(b), stop).toBe(true);
      vi.restoreAllMocks();
    }
    // Without lend the blocks are the caller's: kept as they were, to the end.
    const owned = readBlocks(pieceReader(data, [1000]), false);
    const mine: Uint8Array[][] = [];
    for (let b = await owned.next(); b; b = await owned.next()) mine.push(b);
    await owned.cancel();
    same(concat(...mine.flat()), data);
  });

  it('readBlocks: what a read that a cancel overtakes brought is wiped', async () => {
    const filled = watchByobReads();
    const set = vi.spyOn(Uint8Array.prototype, 'set');
    // A byte stream's read completes, but next() resumes only after the cancel; a default
    // stream's piece is copied (staged), and the next read waits when the cancel comes.
    for (const [type, wait] of [
      ['bytes', 0],
      [undefined, 20],
    ] as const) {
      const src = readBlocks(
        new ReadableStream({
          type,
          start: (c: ReadableStreamController<Uint8Array>) => c.enqueue(random(1000)),
        } as UnderlyingDefaultSource<Uint8Array>),
        true,
      );
      const pending = src.next();
      if (wait) await new Promise((resolve) => setTimeout(resolve, wait));
      await src.cancel();
      await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
    }
    const blockBuffers = filled.filter((b) => b.byteLength === BLOCK_SIZE);
    const staging = (set.mock.contexts as Uint8Array[]).filter((c) => c.buffer.byteLength === 65536);
    expect([blockBuffers.length, staging.length]).toEqual([1, 1]);
    for (const b of [...blockBuffers, staging[0]!.buffer]) expect(zeros(b)).toBe(true);
  });

  it('readBlocks: once cancelled, next() does not hand out what it had read ahead', async () => {
    // A 2.5 MiB piece leaves more than a block behind it after the first.
    const src = readBlocks(pieceReader(counting(2.5 * BLOCK_SIZE), [2.5 * BLOCK_SIZE]), true);
    await src.next();
    await src.cancel();
    await expect(src.next()).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('passes an input piece of 16 KiB or more on as it is, without a copy', async () => {
    const input = counting(16384);
    const reader = onePiece(input);
    const out: Uint8Array[] = [];
    for await (const p of framePieces(readBlocks(reader, false), metaRecord(META), {
      padded: false,
      lend: false,
    }))
      out.push(p);
    expect(out.some((p) => p.buffer === input.buffer && p.length === 16384)).toBe(true);
  });

  it('a first block that starts like a compressed format is stored, not deflated (SPEC.md §5.2)', async () => {
    // A gzip header, then zeros that deflate would shrink to almost nothing.
    const block = concat(Uint8Array.of(0x1f, 0x8b, 0x08, 0), new Uint8Array(100000));
    const p = parse(await encode(streamOf(block), { deflateLevel: 6 }));
    expect(p.blocks).toEqual([{ kind: 1, raw: block.length }]);
    same(p.body, block);
  });

  it('a block whose deflate is exactly as long as it is stored: clen < rlen (SPEC.md §5.2)', async () => {
    // 20 zeros, then 280 bytes of SHA-256 in counter mode: deflate at level 6 gives exactly 300
    // bytes (found by search with node:zlib, checked here), which a decoder must refuse as deflate.
    const tail = concat(
      ...Array.from({ length: 9 }, (_, i) => new Uint8Array(createHash('sha256').update(`x:${i}`).digest())),
    ).subarray(0, 280);
    const block = concat(new Uint8Array(20), tail);
    expect(deflateRawSync(block, { level: 6 }).length).toBe(300);
    const p = parse(await encode(streamOf(block), { deflateLevel: 6 }));
    expect(p.blocks).toEqual([{ kind: 1, raw: 300 }]);
    same(p.body, block);
  });

  it('compressed, lend off: an incompressible block of one large piece goes out as that piece', async () => {
    const input = random(20000);
    const reader = onePiece(input);
    const out: Uint8Array[] = [];
    for await (const p of framePieces(readBlocks(reader, false), metaRecord(META), {
      deflateLevel: 6,
      padded: false,
      lend: false,
    }))
      out.push(p);
    expect(parse(concat(...out)).blocks).toEqual([{ kind: 1, raw: 20000 }]);
    expect(out.some((p) => p.buffer === input.buffer && p.length === 20000)).toBe(true);
  });

  it('with lend and compression, a source that reuses its buffer still gives every block', async () => {
    const blocks = [random(5000), random(4000), random(3000), random(2000), random(1000), random(500)];
    const shared = new Uint8Array(BLOCK_SIZE);
    let i = 0;
    const source = {
      next: async () => {
        const b = blocks[i++];
        if (!b) return undefined;
        shared.fill(0xaa); // the lent buffer is refilled at every read
        shared.set(b);
        return [shared.subarray(0, b.length)];
      },
      cancel: async () => {},
    };
    const out: Uint8Array[] = [];
    for await (const p of framePieces(source, metaRecord(META), {
      deflateLevel: 1,
      padded: false,
      lend: true,
    }))
      out.push(p.slice());
    same(parse(concat(...out)).body, concat(...blocks));
  });

  it('refuses pieces that are not Uint8Array, and cancels its input on a failure', async () => {
    let cancelled = 0;
    const input = {
      read: async () => ({ done: false, value: 'text' }),
      cancel: async () => void cancelled++,
    };
    const f = await failure(encode(input));
    expect(f).toEqual({ code: 'INVALID_ARGUMENT', message: 'backup input must be Uint8Array pieces' });
    expect(cancelled).toBe(1);
  });

  /** A block source of the given blocks that counts its next() calls. */
  const counted = (blocks: Uint8Array[]) => {
    const calls = { next: 0 };
    const source = {
      next: async () => {
        calls.next++;
        const b = blocks.shift();
        return b ? [b] : undefined;
      },
      cancel: async () => {},
    };
    return { calls, source };
  };

  it('compresses at most four blocks ahead of its output (docs/performance.md)', async () => {
    const { calls, source } = counted(Array.from({ length: 10 }, () => new Uint8Array(1000)));
    const gen = framePieces(source, metaRecord(META), { deflateLevel: 1, padded: false, lend: false });
    await gen.next(); // the metadata record
    const head = await gen.next(); // the first block's header: four blocks read by now, not more
    expect(head.value![0]).toBe(2);
    expect(calls.next).toBe(4);
    await gen.return(undefined);
  });

  it('with lend, the plaintext copies it made are wiped when it ends', async () => {
    const blocks = [random(3000), random(2000)];
    const want = concat(...blocks);
    const { source } = counted(blocks.map((b) => b.slice()));
    const pieces: Uint8Array[] = [];
    const atYield: Uint8Array[] = [];
    for await (const p of framePieces(source, metaRecord(META), {
      deflateLevel: 1,
      padded: false,
      lend: true,
    })) {
      pieces.push(p);
      atYield.push(p.slice());
    }
    const parsed = parse(concat(...atYield));
    same(parsed.body, want);
    expect(parsed.blocks.map((b) => b.kind)).toEqual([1, 1]); // random data: stored
    // The stored blocks went out as views of the copies, which must now hold only zeros.
    const data = pieces.filter((p) => p.length === 3000 || p.length === 2000);
    expect(data).toHaveLength(2);
    for (const d of data) expect(d.every((b) => b === 0)).toBe(true);
  });

  /** The 1 MiB buffers that blocks are copied into (by `set`), from now on. */
  const watchCopies = () => {
    const set = vi.spyOn(Uint8Array.prototype, 'set');
    return () =>
      (set.mock.contexts as Uint8Array[])
        .filter((c) => c.buffer.byteLength === BLOCK_SIZE)
        .map((c) => c.buffer);
  };

  it('with lend, every copy it made is wiped when the consumer stops early, deflated or not', async () => {
    // Compressible blocks are deflated concurrently: when the consumer stops, one copy's pieces
    // are going out and three are still with zlib. Random ones are stored (views of the copies).
    for (const block of [counting, random]) {
      const copiesOf = watchCopies();
      const { source } = counted(Array.from({ length: 6 }, () => block(3000)));
      const gen = framePieces(source, metaRecord(META), { deflateLevel: 1, padded: false, lend: true });
      await gen.next(); // the metadata record
      await gen.next(); // the first block's header: four blocks copied by now
      await gen.next(); // its data
      await gen.return(undefined);
      expect(copiesOf()).toHaveLength(4);
      // Those still with zlib are wiped once it is done with them.
      await vi.waitFor(
        () => {
          for (const c of copiesOf()) expect(zeros(c)).toBe(true);
        },
        { timeout: 10_000 },
      );
      vi.restoreAllMocks();
    }
  });

  it('with lend, a copy reused for a shorter block is wiped as far as it ever held', async () => {
    // Six full blocks and a short one: by the seventh, copies are taken from the pool.
    const copiesOf = watchCopies();
    const blocks = [
      ...Array.from({ length: 6 }, (_, i) => random(BLOCK_SIZE).fill(i + 1, 0, 64)),
      random(10),
    ];
    const { source } = counted(blocks);
    for await (const _ of framePieces(source, metaRecord(META), {
      deflateLevel: 1,
      padded: false,
      lend: true,
    }));
    expect(new Set(copiesOf()).size).toBeLessThan(7); // some were reused
    for (const c of copiesOf()) expect(zeros(c)).toBe(true);
  });

  it('with lend, the copy of a block that failed to compress is wiped too', async () => {
    const copiesOf = watchCopies();
    let calls = 0;
    const source = {
      next: async () => (++calls === 1 ? [counting(3000)] : Promise.reject(new Error('input failed'))),
      cancel: async () => {},
    };
    const gen = framePieces(source, metaRecord(META), { deflateLevel: 1, padded: false, lend: true });
    await gen.next();
    await expect(gen.next()).rejects.toThrow('input failed');
    expect(copiesOf()).toHaveLength(1);
    await vi.waitFor(() => expect(zeros(copiesOf()[0]!)).toBe(true), { timeout: 10_000 });
  });

  it('yields no empty piece: unpadded, nothing after the end marker', async () => {
    for (const deflateLevel of [undefined, 6]) {
      const { source } = counted([counting(5000)]);
      const pieces: Uint8Array[] = [];
      for await (const p of framePieces(source, metaRecord(META), {
        deflateLevel,
        padded: false,
        lend: false,
      }))
        pieces.push(p);
      expect(pieces.map((p) => p.length).filter((n) => n === 0)).toEqual([]);
      expect(pieces[pieces.length - 1]).toEqual(Uint8Array.of(0));
    }
  });

  it('a consumer that stops early cancels the input', async () => {
    let cancelled = 0;
    const input = { ...pieceReader(counting(100), [10]), cancel: async () => void cancelled++ };
    const gen = framePieces(readBlocks(input, false), metaRecord(META), { padded: false, lend: false });
    await gen.next();
    await gen.return();
    expect(cancelled).toBe(1);
    let done = 0;
    const input2 = { ...pieceReader(counting(100), [10]), cancel: async () => void done++ };
    for await (const _ of framePieces(readBlocks(input2, false), metaRecord(META), {
      padded: false,
      lend: false,
    }));
    expect(done).toBe(0);
  });
});

describe('round trip: what the writer frames, the reader reads', () => {
  it('for any body, level and flags', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 5000 }),
        fc.constantFrom(undefined, 1, 9),
        fc.boolean(),
        async (n, deflateLevel, padded) => {
          const data = counting(n).map((b, i) => (i % 3 === 0 ? 0 : b));
          const bytes = await encode(streamOf(data, [777]), { deflateLevel, padded });
          const got = await decode(bytes, { compressed: deflateLevel !== undefined, padded });
          same(got.body, data);
        },
      ),
      { numRuns: 30 },
    );
  });
});
