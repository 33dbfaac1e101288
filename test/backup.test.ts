import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DecryptBackupOptions,
  decryptBackup,
  decryptBackupBytes,
  encryptBackup,
  encryptBackupBytes,
  inspectBackup,
  recoverBackupKey,
} from '../src/container/backup.js';
import { FLAG_COMPRESSED, FLAG_PADDED, parseHeader } from '../src/container/header.js';
import { padme } from '../src/container/padme.js';
import { E2EEError, type ErrorCode } from '../src/errors.js';
import { concat } from '../src/internal/bytes.js';
import { formatBackupKey, generateBackupKey } from '../src/key/backup-key.js';
import { decryptFile, encryptFile } from '../src/node/files.js';
import { craft, deflated, END, META, metaRecord, reseal, stored, u32 } from './craft.js';
import { sameBytes, splitAt, textAndNoise } from './util.js';

// Cheap Argon2id so that property tests can run many cases; the real defaults are exercised in
// test/kdf.test.ts and by the demo.
const FAST = { kdf: { m: 64, t: 1, p: 1 }, allowWeakKdf: true } as const;
const key = new Uint8Array(32).map((_, i) => i * 7);
const otherKey = new Uint8Array(32).fill(1);

async function readAllOf(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

// Text (compressible) interleaved with noise (not), so both block kinds appear.
const chatLike = (n: number, seed: number): Uint8Array => textAndNoise(n, seed, 14, 6);

async function codeOf(p: Promise<unknown>): Promise<ErrorCode | 'ok'> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof E2EEError) return e.code;
    throw e;
  }
}

const open = (ct: Uint8Array, o: DecryptBackupOptions) => codeOf(decryptBackupBytes(ct, o));

function streamOf(pieces: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (i < pieces.length) c.enqueue(pieces[i++]!);
      else c.close();
    },
  });
}

describe('backup round trips', () => {
  test.prop(
    [
      fc.oneof(
        fc.constantFrom(0, 1, 16383, 16384, 16385, (1 << 20) - 1, 1 << 20, (1 << 20) + 1),
        fc.integer({ min: 0, max: 3 << 20 }),
      ),
      fc.constantFrom<('key' | 'password')[]>(['key'], ['password'], ['key', 'password']),
      fc.constantFrom<'deflate' | 'none'>('deflate', 'none'),
      fc.constantFrom<'padme' | 'none'>('padme', 'none'),
      fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<never>, {
        maxKeys: 4,
      }),
      fc.array(fc.integer({ min: 0, max: 4 << 20 }), { maxLength: 8 }),
      fc.array(fc.integer({ min: 0, max: 4 << 20 }), { maxLength: 8 }),
    ],
    { numRuns: 25 },
  )(
    'every combination of slots, compression, padding and metadata',
    async (n, slots, compression, padding, app, cutsIn, cutsOut) => {
      const body = chatLike(n, n);
      const creds = {
        key: slots.includes('key') ? key : undefined,
        password: slots.includes('password') ? 'pässword' : undefined,
      };
      const ct = await collect(
        encryptBackup(streamOf(splitAt(body, cutsIn)), {
          ...creds,
          ...FAST,
          compression,
          padding,
          metadata: app,
          generation: 7,
        }),
      );
      const info = inspectBackup(ct);
      expect(info.compressed).toBe(compression === 'deflate');
      expect(info.padded).toBe(padding === 'padme');
      expect(info.slots.map((s) => s.type)).toEqual(
        slots.map((s) => (s === 'key' ? 'backup-key' : 'password')),
      );
      for (const cred of slots) {
        const opts = cred === 'key' ? { key } : { password: 'pa\u0308ssword' }; // NFD spelling: same password
        const { metadata, stream } = await decryptBackup(streamOf(splitAt(ct, cutsOut)), opts);
        expect(metadata.generation).toBe(7);
        expect(metadata.app).toEqual(JSON.parse(JSON.stringify(app)));
        expect(sameBytes(await collect(stream), body)).toBe(true);
      }
    },
  );

  it('accepts a 64-digit code, an AsyncIterable, and reports progress', async () => {
    const body = chatLike(3 << 20, 3);
    async function* pieces() {
      for (let o = 0; o < body.length; o += 100_000) yield body.subarray(o, o + 100_000);
    }
    const seen: number[] = [];
    const ct = await collect(
      encryptBackup(pieces(), { key: formatBackupKey(key), onProgress: (n) => seen.push(n) }),
    );
    expect(seen.at(-1)).toBe(body.length);
    const back = await decryptBackupBytes(ct, { key: formatBackupKey(key).toUpperCase() });
    expect(sameBytes(back.data, body)).toBe(true);
  });

  it('pads to exactly Padmé of the framed length, and compresses what shrinks', async () => {
    const text = new TextEncoder().encode('hello '.repeat(200_000));
    const plain = await encryptBackupBytes(text, { key, compression: 'none', padding: 'none' });
    const packed = await encryptBackupBytes(text, { key, padding: 'none' });
    expect(packed.length).toBeLessThan(plain.length / 20);
    const padded = await encryptBackupBytes(text, { key, compression: 'none' });
    const h = parseHeader(plain).bytes.length;
    const framedPlain = plain.length - h - 56 - 16 * Math.ceil((plain.length - h - 56) / 16400);
    const framedPadded = padded.length - h - 56 - 16 * Math.ceil((padded.length - h - 56) / 16400);
    expect(framedPadded).toBe(padme(framedPlain));
  });

  it('rejects bad options before doing any work', () => {
    expect(() => encryptBackup(new Uint8Array(1), {})).toThrow(/backup key, a password, or both/);
    expect(() => encryptBackup(new Uint8Array(1), { key, level: 0 })).toThrow(E2EEError);
    expect(() => encryptBackup(new Uint8Array(1), { key, compression: 'zstd' as never })).toThrow(E2EEError);
    expect(() => encryptBackup(new Uint8Array(1), { key: 'not a code' })).toThrow(/KEY_FORMAT|hex digit/);
    expect(() =>
      encryptBackup(new Uint8Array(1), { key, metadata: { x: undefined as never }, generation: -1 }),
    ).toThrow(E2EEError);
  });

  it('writes the backup set into the encrypted metadata, and refuses a set name SPEC.md §5.1 does not allow', async () => {
    const ct = await encryptBackupBytes(new Uint8Array(3), { key, set: 'phone-1.A_b', generation: 2 });
    expect((await decryptBackupBytes(ct, { key })).metadata).toMatchObject({
      set: 'phone-1.A_b',
      generation: 2,
    });
    const none = await decryptBackupBytes(await encryptBackupBytes(new Uint8Array(3), { key }), { key });
    expect('set' in none.metadata).toBe(false);
    for (const set of ['', 'x'.repeat(65), 'my phone', 'a/b', 'téléphone', 7 as never])
      expect(() => encryptBackup(new Uint8Array(1), { key, set }), String(set)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
  });

  it('refuses weak Argon2id parameters on creation unless the caller opts in', async () => {
    const s = encryptBackup(new Uint8Array(1), { password: 'pw', kdf: { m: 64, t: 1, p: 1 } });
    expect(await codeOf(collect(s))).toBe('KDF_PARAMS');
  });

  it('stops with ABORTED at once, even while waiting on a source that never yields again', async () => {
    const ac = new AbortController();
    async function* stalled() {
      for (let i = 0; i < 5; i++) {
        await new Promise((r) => setTimeout(r, 10));
        yield new Uint8Array(65536).fill(i);
      }
      setTimeout(() => ac.abort(), 10);
      // Never settles: only the signal can end the read below, or the test times out.
      await new Promise(() => {});
    }
    const reader = encryptBackup(stalled(), { key, signal: ac.signal }).getReader();
    await expect(
      (async () => {
        for (;;) await reader.read();
      })(),
    ).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('with a signal, memory does not grow with the backup (nothing holds the chunks read)', async () => {
    const ac = new AbortController();
    let i = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        if (i++ < 256) c.enqueue(new Uint8Array(1 << 20).fill(i));
        else c.close();
      },
    });
    let peak = 0;
    await encryptBackup(source, { key, compression: 'none', padding: 'none', signal: ac.signal }).pipeTo(
      new WritableStream({
        write() {
          peak = Math.max(peak, process.memoryUsage().arrayBuffers);
        },
      }),
    );
    // 256 MiB went through; when every chunk was retained this passed 256 MiB. Dead buffers not
    // yet collected count too: 37 MiB on Node 20, 112–133 MiB on Node 24, whose collector waits
    // longer. Three quarters of the total still tells retention from a late collection.
    expect(peak).toBeLessThan(192 << 20);
  });

  it('stops with ABORTED when the signal fires', async () => {
    const ac = new AbortController();
    const s = encryptBackup(chatLike(4 << 20, 1), { key, signal: ac.signal });
    const reader = s.getReader();
    await reader.read();
    ac.abort();
    await expect(
      (async () => {
        for (;;) if ((await reader.read()).done) return;
      })(),
    ).rejects.toMatchObject({ code: 'ABORTED' });
  });
});

describe('backup rejects', () => {
  it('tells a wrong key and a wrong password apart from corruption', async () => {
    const ct = await encryptBackupBytes(chatLike(100_000, 2), { key, password: 'right', ...FAST });
    expect(await open(ct, { key: otherKey })).toBe('WRONG_KEY');
    expect(await open(ct, { password: 'wrong' })).toBe('WRONG_PASSWORD');
    const keyOnly = await encryptBackupBytes(chatLike(10, 2), { key });
    expect(await open(keyOnly, { password: 'right' })).toBe('NO_MATCHING_SLOT');
    const corrupt = ct.slice();
    corrupt[corrupt.length - 100]! ^= 4;
    expect(await open(corrupt, { key })).toBe('CHUNK_AUTH');
    expect(await open(ct.subarray(0, ct.length - 1), { key })).not.toBe('ok');
    expect(await open(concat(ct, new Uint8Array(3)), { key })).toBe('TRAILING_DATA');
  });

  it('rejects every byte of the header, changed, and never opens', async () => {
    const ct = await encryptBackupBytes(chatLike(1000, 4), { key, password: 'pw', ...FAST });
    const size = parseHeader(ct).bytes.length;
    for (let i = 0; i < size; i++) {
      const bad = ct.slice();
      bad[i]! ^= 0x10;
      const code = await open(bad, { key });
      const want: ErrorCode[] =
        i < 8
          ? ['MALFORMED_HEADER']
          : i === 8
            ? ['UNSUPPORTED_VERSION']
            : i < 12
              ? ['MALFORMED_HEADER', 'TRUNCATED']
              : ['MALFORMED_HEADER'];
      expect(want, `byte ${i}`).toContain(code);
    }
  });

  it('rejects every byte of the header changed by an attacker who fixes the checksum', async () => {
    const ct = await encryptBackupBytes(chatLike(1000, 4), { key, password: 'pw', ...FAST });
    const h = parseHeader(ct).bytes;
    for (let i = 9; i < h.length - 16; i++) {
      if (i === 10 || i === 11) continue; // header length: changes the framing, not the content
      const edited = h.slice();
      edited[i]! ^= 0x01;
      const bad = concat(reseal(edited), ct.subarray(h.length));
      for (const cred of [{ key }, { password: 'pw' }]) {
        const code = await open(bad, cred);
        expect(code, `byte ${i}`).not.toBe('ok');
        expect(
          [
            'HEADER_AUTH',
            'WRONG_KEY',
            'WRONG_PASSWORD',
            'UNKNOWN_FLAG',
            'UNKNOWN_SLOT_TYPE',
            'MALFORMED_HEADER',
            'KDF_PARAMS',
          ],
          `byte ${i}`,
        ).toContain(code);
      }
    }
  });

  it('with both credentials, a wrong key is reported even when the password slot is out of bounds', async () => {
    const ct = await encryptBackupBytes(new Uint8Array(10), { key, password: 'pw', ...FAST });
    const h = parseHeader(ct).bytes;
    const x = h.slice();
    x.set(u32(2 ** 32 - 1), 13 + 83 + 3); // m of the password slot, after the backup-key slot
    const bad = concat(reseal(x), ct.subarray(h.length));
    expect(await open(bad, { key: otherKey, password: 'pw' })).toBe('WRONG_KEY');
    expect(await open(bad, { password: 'pw' })).toBe('KDF_PARAMS');
    // An unused slot's parameters are not checked; the edited header then fails authentication.
    expect(await open(bad, { key })).toBe('HEADER_AUTH');
  });

  it('rejects a slot swapped in from another backup with HEADER_AUTH', async () => {
    const a = await encryptBackupBytes(chatLike(5000, 5), { key });
    const b = await encryptBackupBytes(chatLike(5000, 6), { key });
    const ha = parseHeader(a).bytes;
    const hb = parseHeader(b).bytes;
    const swapped = ha.slice();
    swapped.set(hb.subarray(13, 13 + 83), 13);
    const bad = concat(reseal(swapped), a.subarray(ha.length));
    expect(await open(bad, { key })).toBe('HEADER_AUTH');
  });

  it('rejects unknown versions, flags and slot types with their codes', async () => {
    const ct = await encryptBackupBytes(new Uint8Array(10), { key });
    const h = parseHeader(ct).bytes;
    const edit = (f: (x: Uint8Array) => void) => {
      const x = h.slice();
      f(x);
      return concat(reseal(x), ct.subarray(h.length));
    };
    expect(
      await open(
        edit((x) => (x[8] = 2)),
        { key },
      ),
    ).toBe('UNSUPPORTED_VERSION');
    expect(
      await open(
        edit((x) => (x[9]! |= 0x04)),
        { key },
      ),
    ).toBe('UNKNOWN_FLAG');
    expect(
      await open(
        edit((x) => (x[9]! |= 0x80)),
        { key },
      ),
    ).toBe('UNKNOWN_FLAG');
    expect(
      await open(
        edit((x) => (x[13] = 0x03)),
        { key },
      ),
    ).toBe('UNKNOWN_SLOT_TYPE');
    expect(
      await open(
        edit((x) => (x[12] = 0)),
        { key },
      ),
    ).toBe('MALFORMED_HEADER');
    expect(
      await open(
        edit((x) => (x[12] = 2)),
        { key },
      ),
    ).toBe('MALFORMED_HEADER');
    expect(() => inspectBackup(edit((x) => (x[9]! |= 0x04)))).toThrow(/unknown flag/);
  });

  it('checks Argon2id parameters against the maxima before allocating anything', async () => {
    const ct = await encryptBackupBytes(new Uint8Array(10), { password: 'pw', ...FAST });
    const h = parseHeader(ct).bytes;
    // m is the first field of the password slot body: offset 13 + 3.
    const withM = (m: number) => {
      const x = h.slice();
      x.set(u32(m), 16);
      return concat(reseal(x), ct.subarray(h.length));
    };
    expect(await open(withM(2 ** 31), { password: 'pw' })).toBe('KDF_PARAMS'); // 2 TiB: never allocated
    expect(await open(withM(2 ** 21), { password: 'pw' })).toBe('KDF_PARAMS'); // 2 GiB > 1 GiB default
    expect(await open(withM(128), { password: 'pw', kdfMaxima: { m: 100 } })).toBe('KDF_PARAMS');
  });

  it('refuses a maxOutputBytes that would switch the bomb guard off', async () => {
    const ct = await encryptBackupBytes(new Uint8Array(10), { key });
    for (const bad of [Number.NaN, -1, 1.5, Number('x')]) {
      expect(await open(ct, { key, maxOutputBytes: bad })).toBe('INVALID_ARGUMENT');
    }
    expect(await open(ct, { key, maxOutputBytes: Number.POSITIVE_INFINITY })).toBe('ok');
  });

  it('stops a decompression bomb at maxOutputBytes', async () => {
    const zeros = new Uint8Array(64 << 20);
    const ct = await encryptBackupBytes(zeros, { key });
    expect(ct.length).toBeLessThan(200_000); // 64 MiB of zeros packs ~1000:1
    const { stream } = await decryptBackup(ct, { key, maxOutputBytes: 5 << 20 });
    let got = 0;
    const err = await (async () => {
      const r = stream.getReader();
      for (;;) {
        const x = await r.read();
        if (x.done) return undefined;
        got += x.value.length;
      }
    })().catch((e) => e);
    expect(err).toMatchObject({ code: 'OUTPUT_LIMIT' });
    expect(got).toBeLessThanOrEqual(5 << 20);
  });

  it('decryptBackupBytes stops at 256 MiB by default and says how to raise it (issue #16)', async () => {
    // 256 MiB + 1 of zeros: a backup of a few hundred kB that would fill memory.
    const MiB = new Uint8Array(1 << 20);
    const ct = await encryptBackupBytes(new Uint8Array(0), { key }); // a small one opens as before
    expect((await decryptBackupBytes(ct, { key })).data.length).toBe(0);
    async function* body() {
      for (let i = 0; i < 256; i++) yield MiB;
      yield new Uint8Array(1);
    }
    const bomb = await readAllOf(encryptBackup(body(), { key }));
    expect(bomb.length).toBeLessThan(2_000_000);
    const err = await decryptBackupBytes(bomb, { key }).then(
      (r) => new Error(`returned ${r.data.length} bytes`),
      (e) => e,
    );
    expect(err.code ?? err.message).toBe('OUTPUT_LIMIT');
    expect(err.message).toMatch(/268435456 bytes \(256 MiB\).*pass maxOutputBytes to raise it/);
    // An explicit limit is the caller's: its error is the plain one.
    const explicit = await decryptBackupBytes(bomb, { key, maxOutputBytes: 1000 }).catch((e) => e);
    expect(explicit).toMatchObject({
      code: 'OUTPUT_LIMIT',
      message: expect.stringMatching(/maxOutputBytes \(1000\)/),
    });
  });
});

describe('plaintext framing is strictly parsed', () => {
  const slots = [{ type: 'backup-key' as const, backupKey: key }];
  const body = new TextEncoder().encode('framing '.repeat(50));
  const valid = concat(metaRecord(META), stored(body), END);
  const cases: [string, number, Uint8Array, ErrorCode | 'ok'][] = [
    ['valid, unpadded', 0, valid, 'ok'],
    ['valid deflate block', FLAG_COMPRESSED, concat(metaRecord(META), deflated(body), END), 'ok'],
    ['valid, padded', FLAG_PADDED, concat(valid, new Uint8Array(padme(valid.length) - valid.length)), 'ok'],
    ['padding on an unpadded backup', 0, concat(valid, new Uint8Array(3)), 'BAD_PADDING'],
    [
      'padding too short',
      FLAG_PADDED,
      concat(valid, new Uint8Array(Math.max(0, padme(valid.length) - valid.length - 1))),
      'BAD_PADDING',
    ],
    [
      'padding not zero',
      FLAG_PADDED,
      concat(valid, new Uint8Array(padme(valid.length) - valid.length).fill(1)),
      'BAD_PADDING',
    ],
    ['no end marker', 0, concat(metaRecord(META), stored(body)), 'MALFORMED_PAYLOAD'],
    [
      'unknown block kind',
      0,
      concat(metaRecord(META), Uint8Array.of(7), u32(1), Uint8Array.of(1), END),
      'MALFORMED_PAYLOAD',
    ],
    ['deflate block without the flag', 0, concat(metaRecord(META), deflated(body), END), 'MALFORMED_PAYLOAD'],
    ['empty stored block', 0, concat(metaRecord(META), stored(new Uint8Array(0)), END), 'MALFORMED_PAYLOAD'],
    [
      'block longer than the payload',
      0,
      concat(metaRecord(META), Uint8Array.of(1), u32(1000), body),
      'MALFORMED_PAYLOAD',
    ],
    [
      'oversized stored block',
      0,
      concat(metaRecord(META), Uint8Array.of(1), u32((1 << 20) + 1)),
      'MALFORMED_PAYLOAD',
    ],
    [
      'deflate that does not shrink',
      FLAG_COMPRESSED,
      concat(metaRecord(META), deflated(Uint8Array.of(1, 2), new Uint8Array([99, 100, 4, 0])), END),
      'MALFORMED_PAYLOAD',
    ],
    [
      'deflate with a wrong length',
      FLAG_COMPRESSED,
      concat(metaRecord(META), Uint8Array.of(2), u32(12), u32(401), deflated(body).subarray(9), END),
      'MALFORMED_PAYLOAD',
    ],
    [
      'deflate with trailing bytes',
      FLAG_COMPRESSED,
      (() => {
        const d = deflated(body).subarray(9);
        return concat(
          metaRecord(META),
          Uint8Array.of(2),
          u32(d.length + 2),
          u32(body.length),
          d,
          Uint8Array.of(0, 0),
          END,
        );
      })(),
      'MALFORMED_PAYLOAD',
    ],
    [
      'garbage deflate',
      FLAG_COMPRESSED,
      concat(metaRecord(META), Uint8Array.of(2), u32(4), u32(400), Uint8Array.of(255, 255, 255, 255), END),
      'MALFORMED_PAYLOAD',
    ],
    ['metadata not JSON', 0, concat(metaRecord('{"created":'), END), 'MALFORMED_PAYLOAD'],
    ['metadata not UTF-8', 0, concat(u32(3), Uint8Array.of(0xff, 0xfe, 0xfd), END), 'MALFORMED_PAYLOAD'],
    ['metadata with an extra field', 0, concat(metaRecord({ ...META, user: 'x' }), END), 'MALFORMED_PAYLOAD'],
    [
      'metadata missing a field',
      0,
      concat(metaRecord({ created: META.created, app: {} }), END),
      'MALFORMED_PAYLOAD',
    ],
    [
      'metadata with a bad time',
      0,
      concat(metaRecord({ ...META, created: 'yesterday' }), END),
      'MALFORMED_PAYLOAD',
    ],
    [
      'metadata with a negative generation',
      0,
      concat(metaRecord({ ...META, generation: -1 }), END),
      'MALFORMED_PAYLOAD',
    ],
    ['metadata as an array', 0, concat(metaRecord([1]), END), 'MALFORMED_PAYLOAD'],
    ['metadata too long', 0, concat(u32(65537), new Uint8Array(65537), END), 'MALFORMED_PAYLOAD'],
    ['cut inside the metadata length', 0, Uint8Array.of(0, 0), 'MALFORMED_PAYLOAD'],
    [
      'metadata with a byte-order mark',
      0,
      concat(
        u32(3 + JSON.stringify(META).length),
        Uint8Array.of(0xef, 0xbb, 0xbf),
        new TextEncoder().encode(JSON.stringify(META)),
        END,
      ),
      'MALFORMED_PAYLOAD',
    ],
    [
      'metadata repeating a member',
      0,
      concat(metaRecord('{"created":"2026-11-26T00:00:00Z","generation":1,"generation":2,"app":{}}'), END),
      'MALFORMED_PAYLOAD',
    ],
    [
      'metadata repeating a member inside app',
      0,
      concat(
        metaRecord('{"created":"2026-11-26T00:00:00Z","generation":1,"app":{"a":1,"b":{"a":2},"a":3}}'),
        END,
      ),
      'MALFORMED_PAYLOAD',
    ],
    [
      'metadata with the same name at two depths',
      0,
      concat(
        metaRecord(
          '{"created":"2026-11-26T00:00:00Z","generation":1,"app":{"a":{"a":{"a":[{"a":1},{"a":2}]}},"b\\"":"a"}}',
        ),
        END,
      ),
      'ok',
    ],
    [
      'metadata created on 30 February',
      0,
      concat(metaRecord({ ...META, created: '2026-02-30T00:00:00Z' }), END),
      'MALFORMED_PAYLOAD',
    ],
    [
      'metadata created at 24:00',
      0,
      concat(metaRecord({ ...META, created: '2026-11-26T24:00:00Z' }), END),
      'MALFORMED_PAYLOAD',
    ],
    [
      'metadata created before 1970',
      0,
      concat(metaRecord({ ...META, created: '1969-12-31T23:59:59Z' }), END),
      'MALFORMED_PAYLOAD',
    ],
    [
      'metadata created on 29 February of a leap year',
      0,
      concat(metaRecord({ ...META, created: '2028-02-29T12:00:00.123456789Z' }), END),
      'ok',
    ],
  ];
  for (const [name, flags, plaintext, want] of cases) {
    it(`${name}: ${want}`, async () => {
      const ct = await craft(slots, flags, plaintext);
      const code = await open(ct, { key });
      expect(code).toBe(want);
    });
  }
});

describe('typo recovery', () => {
  const realKey = generateBackupKey();
  const code = formatBackupKey(realKey).replaceAll(' ', '');
  const backup = encryptBackupBytes(new Uint8Array(10), { key: realKey });
  const other = (c: string) => (c === '0' ? '1' : '0');

  it('finds each kind of single-digit error and says which', async () => {
    const ct = await backup;
    const i = 20;
    const swapAt = [...code].findIndex((c, k) => k > 5 && c !== code[k + 1]);
    const cases: [string, string, number][] = [
      [code.slice(0, i) + other(code[i]!) + code.slice(i + 1), 'substitution', i + 1],
      [
        code.slice(0, swapAt) + code[swapAt + 1] + code[swapAt] + code.slice(swapAt + 2),
        'transposition',
        swapAt + 1,
      ],
      [code.slice(0, i) + code.slice(i + 1), 'missing', -1],
      [`${code.slice(0, i)}${other(code[i]!)}${code.slice(i)}`, 'extra', -1],
    ];
    for (const [typed, kind, position] of cases) {
      const r = await recoverBackupKey(ct, typed);
      expect(sameBytes(r.key, realKey)).toBe(true);
      expect(r.correction?.kind).toBe(kind);
      if (position > 0) expect(r.correction?.position).toBe(position);
    }
    expect((await recoverBackupKey(ct, code)).correction).toBeNull();
  });

  it('refuses to guess when two digits are wrong', async () => {
    const ct = await backup;
    const typed = `${other(code[0]!)}${code.slice(1, 40)}${other(code[40]!)}${code.slice(41)}`;
    expect(await codeOf(recoverBackupKey(ct, typed))).toBe('WRONG_KEY');
  });

  it('works from the header alone', async () => {
    const ct = await backup;
    const typed = code.slice(0, 5) + other(code[5]!) + code.slice(6);
    const r = await recoverBackupKey(ct.subarray(0, parseHeader(ct).bytes.length), typed);
    expect(r.correction).toEqual({ kind: 'substitution', position: 6 });
  });
});

describe('file helpers', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'e2ee-files-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('round trip through files', async () => {
    const body = chatLike(2 << 20, 9);
    writeFileSync(join(dir, 'in'), body);
    await encryptFile(join(dir, 'in'), join(dir, 'in.e2ee'), { key, metadata: { n: 1 } });
    const meta = await decryptFile(join(dir, 'in.e2ee'), join(dir, 'out'), { key });
    expect(meta.app).toEqual({ n: 1 });
    expect(sameBytes(readFileSync(join(dir, 'out')), body)).toBe(true);
  });

  it('decryptFile leaves nothing behind on a tampered input, and keeps an existing destination', async () => {
    const ct = readFileSync(join(dir, 'in.e2ee'));
    ct[ct.length - 50]! ^= 1;
    writeFileSync(join(dir, 'bad.e2ee'), ct);
    writeFileSync(join(dir, 'keep'), 'old contents');
    const before = readdirSync(dir).sort();
    expect(await codeOf(decryptFile(join(dir, 'bad.e2ee'), join(dir, 'fresh'), { key }))).toBe('CHUNK_AUTH');
    expect(await codeOf(decryptFile(join(dir, 'bad.e2ee'), join(dir, 'keep'), { key }))).toBe('CHUNK_AUTH');
    expect(existsSync(join(dir, 'fresh'))).toBe(false);
    expect(readFileSync(join(dir, 'keep'), 'utf8')).toBe('old contents');
    expect(readdirSync(dir).sort()).toEqual(before);
    expect(await codeOf(decryptFile(join(dir, 'in.e2ee'), join(dir, 'x'), { key: otherKey }))).toBe(
      'WRONG_KEY',
    );
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });

  it('encryptFile never replaces an existing file with a partial one', async () => {
    writeFileSync(join(dir, 'old.e2ee'), 'previous backup');
    const before = readdirSync(dir).sort();
    expect(await codeOf(encryptFile(join(dir, 'missing'), join(dir, 'old.e2ee'), { key }))).toBe('IO');
    // A source that fails half way (a directory cannot be read as a file).
    expect(await codeOf(encryptFile(dir, join(dir, 'old.e2ee'), { key }))).toBe('IO');
    expect(readFileSync(join(dir, 'old.e2ee'), 'utf8')).toBe('previous backup');
    expect(readdirSync(dir).sort()).toEqual(before);
  });
});

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const r = stream.getReader();
  for (;;) {
    const { done, value } = await r.read();
    if (done) return concat(...parts);
    parts.push(value);
  }
}
