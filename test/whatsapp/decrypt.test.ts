// crypt15 files from the independent writer in ./encoder.ts, opened through the library on every
// backend: node:crypto streaming, and the one-shot WebCrypto and @noble/ciphers paths.
import { randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { E2EEError, type ErrorCode } from '../../src/errors.js';
import { type Backend, decryptWith } from '../../src/whatsapp/decrypt.js';
import {
  decryptWhatsAppBackup,
  decryptWhatsAppBackupBytes,
  inspectWhatsAppBackup,
} from '../../src/whatsapp/index.js';
import { seededSplits, textAndNoise } from '../util.js';
import { backupPrefix, bfield, crypt15, expiry, iterate, keyFile, vfield, zipOf } from './encoder.js';

const BACKENDS: Backend[] = ['node', 'webcrypto', 'noble'];
const root = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
const otherRoot = new Uint8Array(32).map((_, i) => i);
const code = Buffer.from(root).toString('hex');

function sqliteLike(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  out.set(new TextEncoder().encode('SQLite format 3\0').subarray(0, n));
  out.set(textAndNoise(n, seed, 12, 5).subarray(Math.min(16, n)), Math.min(16, n));
  return out;
}

/** Opens `file` on `backend`, read to the end: the output and the error, never throwing. */
async function open(
  backend: Backend,
  file: Uint8Array | Uint8Array[],
  key: string | Uint8Array = root,
  options: { maxOutputBytes?: number; phoneDigits?: boolean } = {},
): Promise<{ data?: Uint8Array; error?: E2EEError; released: number; payload?: string; layout?: string }> {
  let released = 0;
  try {
    const input = Array.isArray(file) ? iterate(file) : file;
    const opened = await decryptWith(backend, input, key, options);
    const parts: Uint8Array[] = [];
    const reader = opened.stream.getReader();
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        released += r.value.length;
        parts.push(r.value);
      }
    } catch (e) {
      return { error: e as E2EEError, released };
    }
    return { data: Buffer.concat(parts), released, payload: opened.payload, layout: opened.layout };
  } catch (e) {
    if (!(e instanceof E2EEError)) throw e;
    return { error: e, released };
  }
}

/** `data` in pieces of `size` bytes. */
function pieces(data: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let o = 0; o < data.length; o += size) out.push(data.subarray(o, o + size));
  return out;
}

function codeOf(r: { error?: E2EEError }): ErrorCode | undefined {
  return r.error?.code;
}

describe('round trips', () => {
  const db = sqliteLike(200_000, 3);
  for (const featureTable of [true, false])
    for (const md5 of [true, false])
      it(`zlib payload, ${featureTable ? 'with' : 'without'} the 0x01 byte, ${md5 ? 'with' : 'without'} MD5`, async () => {
        const file = crypt15({ root, data: db, featureTable, md5 });
        for (const backend of BACKENDS) {
          const r = await open(backend, file);
          expect(r.error, backend).toBeUndefined();
          expect(Buffer.from(r.data!).equals(Buffer.from(db)), backend).toBe(true);
          expect(r.payload).toBe('zlib');
          expect(r.layout).toBe(md5 ? 'md5' : 'no-md5');
        }
      });

  it('a multi-file backup: a ZIP archive without MD5, handed over as it is', async () => {
    const zip = zipOf('wallpaper.jpg', randomBytes(5000));
    const file = crypt15({ root, plaintext: zip, md5: false, featureTable: false });
    for (const backend of BACKENDS) {
      const r = await open(backend, file);
      expect(r.error, backend).toBeUndefined();
      expect(Buffer.from(r.data!).equals(zip)).toBe(true);
      expect(r.payload).toBe('zip');
    }
  });

  it('opens with the code in any spelling, the key file, or the raw key', async () => {
    const file = crypt15({ root, data: db });
    const spellings = [
      code,
      code.toUpperCase().replace(/(.{4})(?!$)/g, '$1 '),
      code.replace(/(.{16})(?!$)/g, '$1\n'),
      code.replace(/(.{4})(?!$)/g, '$1-'),
      new TextEncoder().encode(`${code}\n`),
      keyFile(root),
      root,
    ];
    for (const key of spellings) {
      const { data } = await decryptWhatsAppBackupBytes(file, key);
      expect(Buffer.from(data).equals(Buffer.from(db))).toBe(true);
    }
  });

  test.prop(
    [fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.boolean(), fc.boolean()],
    {
      numRuns: 40,
    },
  )(
    'any size, any split of the input, the same bytes on every backend',
    async (n, seed, md5, featureTable) => {
      const data = sqliteLike(n, seed);
      const file = crypt15({ root, data, md5, featureTable, iv: randomBytes(16) });
      for (const backend of BACKENDS) {
        const r = await open(backend, seededSplits(file, seed));
        expect(r.error).toBeUndefined();
        expect(Buffer.from(r.data!).equals(Buffer.from(data))).toBe(true);
      }
    },
  );

  it('a prefix longer than 127 bytes (L is one plain byte, not a varint)', async () => {
    const file = crypt15({ root, data: db, expiry: { appVersion: 'x'.repeat(150), features: [5] } });
    expect(file[0]).toBeGreaterThan(127);
    for (const backend of BACKENDS) expect((await open(backend, file)).error).toBeUndefined();
  });
});

describe('the prefix', () => {
  const iv = Buffer.alloc(16, 7);
  const head = (proto: Buffer, flag = true) =>
    Buffer.concat([Buffer.from([proto.length]), flag ? Buffer.from([1]) : Buffer.alloc(0), proto]);

  it('reports key type, versions and features; the phone digits only when asked', () => {
    const file = crypt15({
      root,
      data: new Uint8Array(10),
      expiry: { appVersion: '2.24.9.78', jidSuffix: '07', backupVersion: 1, features: [39, 5, 37, 12] },
    });
    const info = inspectWhatsAppBackup(file);
    expect(info).toEqual({
      unauthenticated: true,
      format: 'crypt15',
      keyType: 1,
      featureTable: true,
      prefixSize: 2 + file[0]!,
      appVersion: '2.24.9.78',
      backupVersion: 1,
      features: [5, 12, 37, 39],
    });
    expect(inspectWhatsAppBackup(file, { phoneDigits: true }).phoneDigits).toBe('07');
    expect(inspectWhatsAppBackup(crypt15({ root, featureTable: false })).featureTable).toBe(false);
  });

  it('follows protobuf: unknown fields skipped, the last scalar wins, repeated messages merge, false flags are not features', () => {
    const proto = Buffer.concat([
      vfield(1, 0), // overwritten by the key_type below
      Buffer.from([0x29, 1, 2, 3, 4, 5, 6, 7, 8]), // field 5, fixed64: unknown
      Buffer.from([0x35, 1, 2, 3, 4]), // field 6, fixed32: unknown
      bfield(3, bfield(1, Buffer.alloc(16, 1))),
      bfield(4, Buffer.concat([bfield(1, '2.1'), bfield(2, 'Pixel'), vfield(38, 123456), vfield(6, 1)])),
      vfield(1, 1),
      bfield(3, bfield(1, iv)), // merged into C15_IV: its IV replaces the first
      bfield(4, Buffer.concat([bfield(1, '2.2'), vfield(4, -1), vfield(6, 0), vfield(7, 2)])),
    ]);
    const info = inspectWhatsAppBackup(head(proto), { phoneDigits: true });
    expect(info).toMatchObject({ appVersion: '2.2', backupVersion: -1, features: [7] });
    expect(info.phoneDigits).toBeUndefined();
  });

  it('uses the IV it reads (the last one on the wire)', async () => {
    const proto = Buffer.concat([
      vfield(1, 1),
      bfield(3, bfield(1, Buffer.alloc(16, 9))),
      bfield(3, bfield(1, iv)),
    ]);
    const data = sqliteLike(3000, 1);
    const file = crypt15({ root, data, iv, prefix: proto });
    for (const backend of BACKENDS) expect((await open(backend, file)).error).toBeUndefined();
  });

  const refused: [string, Uint8Array, ErrorCode, RegExp?][] = [
    ['an empty file', new Uint8Array(0), 'TRUNCATED'],
    ['one byte', Uint8Array.of(5), 'TRUNCATED'],
    [
      'a file ending inside the prefix',
      head(backupPrefix(iv, { appVersion: '2' })).subarray(0, 20),
      'TRUNCATED',
    ],
    [
      'a SQLite database',
      new TextEncoder().encode('SQLite format 3\0 and more'),
      'UNSUPPORTED_VERSION',
      /SQLite/,
    ],
    ['a ZIP archive', zipOf('a', new Uint8Array(3)), 'UNSUPPORTED_VERSION', /ZIP/],
    [
      'a crypt12 backup',
      Buffer.concat([Buffer.from([0, 1, 2]), randomBytes(80)]),
      'UNSUPPORTED_VERSION',
      /crypt12/,
    ],
    ['an empty prefix', Buffer.from([0, 7, 7, 7]), 'MALFORMED_HEADER'],
    [
      'a crypt14 backup',
      head(
        Buffer.concat([
          vfield(1, 0),
          bfield(2, Buffer.concat([bfield(1, Buffer.from([0, 1])), bfield(5, iv)])),
        ]),
      ),
      'UNSUPPORTED_VERSION',
      /crypt14/,
    ],
    ['key type 0', head(backupPrefix(iv, undefined, 0)), 'UNSUPPORTED_VERSION', /key type 0/],
    ['no key type (0 by default)', head(bfield(3, bfield(1, iv))), 'UNSUPPORTED_VERSION', /key type 0/],
    ['key type 2', head(backupPrefix(iv, undefined, 2)), 'UNSUPPORTED_VERSION', /key type 2/],
    ['no IV', head(vfield(1, 1)), 'MALFORMED_HEADER', /C15_IV/],
    [
      'an empty C15_IV',
      head(Buffer.concat([vfield(1, 1), bfield(3, Buffer.alloc(0))])),
      'MALFORMED_HEADER',
      /0 bytes/,
    ],
    ['a 12-byte IV', head(backupPrefix(Buffer.alloc(12), undefined)), 'MALFORMED_HEADER', /12 bytes/],
    ['a 17-byte IV', head(backupPrefix(Buffer.alloc(17), undefined)), 'MALFORMED_HEADER', /17 bytes/],
    [
      'the key type as bytes',
      head(Buffer.concat([bfield(1, 'x'), bfield(3, bfield(1, iv))])),
      'MALFORMED_HEADER',
    ],
    ['a group (wire type 3)', head(Buffer.concat([vfield(1, 1), Buffer.from([0x3b])])), 'MALFORMED_HEADER'],
    ['field number 0', head(Buffer.concat([Buffer.from([0x02, 0x00]), vfield(1, 1)])), 'MALFORMED_HEADER'],
    [
      'a field running past L',
      head(Buffer.concat([vfield(1, 1), Buffer.from([0x1a, 0x40])])),
      'MALFORMED_HEADER',
    ],
    ['an unterminated varint', head(Buffer.from([0x08, 0x81])), 'MALFORMED_HEADER'],
    [
      'an 11-byte varint',
      head(Buffer.concat([Buffer.from([0x08]), Buffer.alloc(10, 0x80), Buffer.from([1])])),
      'MALFORMED_HEADER',
    ],
    [
      'a non-UTF-8 app version',
      head(Buffer.concat([backupPrefix(iv, undefined), bfield(4, bfield(1, Buffer.from([0xff])))])),
      'MALFORMED_HEADER',
    ],
    [
      // CESU-8 / WTF-8 of U+D800: a decoder that let it through would hand a lone surrogate to
      // the metadata of an import, which SPEC.md §5.1 forbids.
      'an app version holding an encoded lone surrogate',
      head(
        Buffer.concat([
          backupPrefix(iv, undefined),
          bfield(4, bfield(1, Buffer.from([0x32, 0xed, 0xa0, 0x80]))),
        ]),
      ),
      'MALFORMED_HEADER',
    ],
    [
      'phone digits holding an encoded lone surrogate',
      head(
        Buffer.concat([backupPrefix(iv, undefined), bfield(4, bfield(3, Buffer.from([0xed, 0xb0, 0x80])))]),
      ),
      'MALFORMED_HEADER',
    ],
  ];
  for (const [what, bytes, code, message] of refused)
    it(`refuses ${what} (${code})`, async () => {
      expect(() => inspectWhatsAppBackup(bytes)).toThrow(expect.objectContaining({ code }));
      if (message) expect(() => inspectWhatsAppBackup(bytes)).toThrow(message);
      for (const backend of BACKENDS) expect(codeOf(await open(backend, bytes)), backend).toBe(code);
    });
});

describe('wrong keys, damage and truncation', () => {
  const db = sqliteLike(3000, 9);

  it('a wrong key: WRONG_KEY when the MD5 matches; CHUNK_AUTH without MD5 (it cannot tell)', async () => {
    for (const backend of BACKENDS) {
      expect(codeOf(await open(backend, crypt15({ root, data: db }), otherRoot)), backend).toBe('WRONG_KEY');
      expect(codeOf(await open(backend, crypt15({ root, data: db, md5: false }), otherRoot))).toBe(
        'CHUNK_AUTH',
      );
    }
  });

  it('every single-byte change of a file with MD5 is refused, not as a wrong key, with nothing handed over by the bytes variant', async () => {
    const file = crypt15({ root, data: db });
    for (let i = 0; i < file.length; i++) {
      const bad = Buffer.from(file);
      bad[i]! ^= 1 << (i % 8);
      for (const backend of BACKENDS) {
        const r = await open(backend, bad);
        expect(r.error, `byte ${i} on ${backend}`).toBeInstanceOf(E2EEError);
        expect(['WRONG_KEY', 'KEY_FORMAT']).not.toContain(r.error!.code);
        if (backend !== 'node') expect(r.released).toBe(0); // one-shot: authenticated before release
      }
      await expect(decryptWhatsAppBackupBytes(bad, root)).rejects.toBeInstanceOf(E2EEError);
    }
  });

  it('without MD5, a change is refused unless it is in an unauthenticated prefix field, and no change alters the output', async () => {
    const file = crypt15({ root, data: db, md5: false });
    const prefixSize = inspectWhatsAppBackup(file).prefixSize;
    for (let i = 0; i < file.length; i++) {
      const bad = Buffer.from(file);
      bad[i]! ^= 0x10;
      const r = await open('node', bad);
      if (r.error === undefined) {
        expect(i, `byte ${i} was accepted`).toBeLessThan(prefixSize);
        expect(Buffer.from(r.data!).equals(Buffer.from(db))).toBe(true);
      } else if (i >= prefixSize) expect(r.error.code).toBe('CHUNK_AUTH');
    }
  });

  it('every truncation is refused, except cutting exactly the MD5 trailer, which authenticates the same data', async () => {
    for (const md5 of [true, false]) {
      const file = crypt15({ root, data: db, md5 });
      for (let n = 0; n < file.length; n++) {
        for (const backend of BACKENDS) {
          const r = await open(backend, file.subarray(0, n));
          if (md5 && n === file.length - 16) {
            expect(r.error).toBeUndefined();
            expect(r.layout).toBe('no-md5');
            expect(Buffer.from(r.data!).equals(Buffer.from(db))).toBe(true);
          } else {
            expect(r.error, `${n} of ${file.length} bytes on ${backend}`).toBeInstanceOf(E2EEError);
            expect(['TRUNCATED', 'CHUNK_AUTH', 'MALFORMED_HEADER']).toContain(r.error!.code);
          }
        }
        if (n > 40) n += 6; // every length near the ends, every seventh in between
      }
    }
  });

  it('bytes appended are refused', async () => {
    const file = crypt15({ root, data: db });
    for (const extra of [1, 15, 16, 17, 32, 100])
      for (const backend of BACKENDS)
        expect(codeOf(await open(backend, Buffer.concat([file, Buffer.alloc(extra)])))).toBe('CHUNK_AUTH');
  });
});

describe('the payload', () => {
  it('authentic plaintext that is neither zlib nor ZIP is MALFORMED_PAYLOAD; under a wrong key, WRONG_KEY', async () => {
    const file = crypt15({ root, plaintext: new TextEncoder().encode('plain text, not compressed') });
    for (const backend of BACKENDS) {
      expect(codeOf(await open(backend, file))).toBe('MALFORMED_PAYLOAD');
      expect(codeOf(await open(backend, file, otherRoot))).toBe('WRONG_KEY');
    }
  });

  const z = deflateSync(sqliteLike(50_000, 4), { level: 1 });
  const cases: [string, Uint8Array][] = [
    ['a truncated zlib stream', z.subarray(0, z.length - 10)],
    ['a zlib stream without its Adler-32', z.subarray(0, z.length - 4)],
    ['a wrong Adler-32', Buffer.concat([z.subarray(0, z.length - 1), Buffer.from([z[z.length - 1]! ^ 1])])],
    ['bytes after the zlib stream', Buffer.concat([z, Buffer.from('trailing')])],
    ['a second zlib stream after the first', Buffer.concat([z, z])],
    [
      'a bad deflate block',
      Buffer.concat([z.subarray(0, 2), Buffer.from([0xff, 0xff, 0xff]), z.subarray(5)]),
    ],
  ];
  for (const [what, plaintext] of cases)
    it(`${what}: MALFORMED_PAYLOAD once authenticated; CHUNK_AUTH first when the file is also damaged`, async () => {
      const file = crypt15({ root, plaintext });
      const damaged = Buffer.from(file);
      damaged[damaged.length - 20]! ^= 1; // in the tag
      for (const backend of BACKENDS) {
        expect(codeOf(await open(backend, file)), backend).toBe('MALFORMED_PAYLOAD');
        expect(codeOf(await open(backend, damaged)), backend).toBe('CHUNK_AUTH');
      }
    });

  it('a zlib error early in a long file still waits for the tag: CHUNK_AUTH, not MALFORMED_PAYLOAD', async () => {
    const plaintext = Buffer.concat([Buffer.from([0x78, 0x01, 0xff, 0xff]), randomBytes(2 << 20)]);
    const file = crypt15({ root, plaintext });
    file[file.length - 20]! ^= 1;
    for (const backend of BACKENDS)
      expect(codeOf(await open(backend, pieces(file, 4096))), backend).toBe('CHUNK_AUTH');
  });

  it('a zlib bomb stops at maxOutputBytes with OUTPUT_LIMIT, or CHUNK_AUTH when the file is also damaged', async () => {
    const bomb = crypt15({ root, plaintext: deflateSync(Buffer.alloc(64 << 20)) });
    const damaged = Buffer.from(bomb);
    damaged[damaged.length - 1]! ^= 1;
    for (const backend of BACKENDS) {
      const r = await open(backend, pieces(bomb, 1024), root, { maxOutputBytes: 1 << 20 });
      expect(r.error?.code, backend).toBe('OUTPUT_LIMIT');
      expect(r.released).toBeLessThanOrEqual(1 << 20);
      expect(codeOf(await open(backend, pieces(damaged, 1024), root, { maxOutputBytes: 1 << 20 }))).toBe(
        'CHUNK_AUTH',
      );
    }
    const exact = await open('node', bomb, root, { maxOutputBytes: 64 << 20 });
    expect(exact.data?.length).toBe(64 << 20);
    const zip = crypt15({ root, plaintext: zipOf('a', new Uint8Array(3000)), md5: false });
    for (const backend of BACKENDS)
      expect(codeOf(await open(backend, zip, root, { maxOutputBytes: 1000 }))).toBe('OUTPUT_LIMIT');
  });

  it('refuses a maxOutputBytes that is not a size', async () => {
    for (const maxOutputBytes of [-1, 1.5, Number.NaN])
      await expect(decryptWhatsAppBackup(crypt15({ root }), root, { maxOutputBytes })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
  });
});

describe('streaming on node:crypto', () => {
  it('reads its input as its output is read: one piece out of a large file pulls a few pieces in', async () => {
    const db = randomBytes(8 << 20);
    const file = crypt15({ root, plaintext: deflateSync(db, { level: 0 }) });
    let pulled = 0;
    const PIECE = 64 * 1024;
    const input = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          if (pulled * PIECE >= file.length) return c.close();
          c.enqueue(file.subarray(pulled * PIECE, (pulled + 1) * PIECE));
          pulled++;
        },
      },
      { highWaterMark: 0 },
    );
    const { stream } = await decryptWhatsAppBackup(input, root);
    const reader = stream.getReader();
    const first = await reader.read();
    expect(first.value!.length).toBeGreaterThan(0);
    expect(first.value!.length).toBeLessThanOrEqual(64 * 1024);
    // The whole file is 129 pieces; node:zlib and the streams in between read a bounded amount ahead.
    expect(pulled).toBeLessThan(20);
    await reader.cancel();
  });

  it('copies what it keeps: a source may reuse its buffer (a Node Buffer, whose slice is a view) between reads', async () => {
    const db = sqliteLike(300_000, 8);
    for (const md5 of [true, false]) {
      const file = crypt15({ root, data: db, md5 });
      for (const size of [7, 31, 33, 200, 1000, 65536])
        for (const backend of BACKENDS) {
          const buf = Buffer.alloc(size);
          let at = 0;
          const input = new ReadableStream<Uint8Array>(
            {
              pull(c) {
                if (at >= file.length) return c.close();
                const n = file.copy(buf, 0, at, at + size);
                at += n;
                c.enqueue(buf.subarray(0, n)); // the same memory every time
              },
            },
            { highWaterMark: 0 },
          );
          const { stream } = await decryptWith(backend, input, root, {});
          const out = Buffer.from(await new Response(stream).arrayBuffer());
          expect(out.equals(Buffer.from(db)), `pieces of ${size} on ${backend}`).toBe(true);
        }
    }
  });

  it('hands over plaintext before the end (provisional) and errors at the end when the tag fails', async () => {
    const db = sqliteLike(4 << 20, 5);
    const bad = crypt15({ root, data: db });
    bad[bad.length - 20]! ^= 1;
    const r = await open('node', seededSplits(bad, 3));
    expect(r.error?.code).toBe('CHUNK_AUTH');
    expect(r.released).toBeGreaterThan(0);
  });

  it('stops with ABORTED when the signal fires, and a cancel stops the input', async () => {
    const file = crypt15({ root, data: sqliteLike(1 << 20, 1) });
    const controller = new AbortController();
    const { stream } = await decryptWhatsAppBackup(iterate(seededSplits(file, 9)), root, {
      signal: controller.signal,
    });
    const reader = stream.getReader();
    await reader.read();
    controller.abort();
    await expect(
      (async () => {
        for (;;) if ((await reader.read()).done) return;
      })(),
    ).rejects.toMatchObject({ code: 'ABORTED' });

    let cancelled = false;
    const input = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(file.subarray(0, 70_000));
      },
      cancel() {
        cancelled = true;
      },
    });
    const opened = await decryptWhatsAppBackup(input, root);
    await opened.stream.cancel();
    expect(cancelled).toBe(true);
  });
});

it('the bytes variant hands over only authenticated output', async () => {
  const db = sqliteLike(100_000, 2);
  const file = crypt15({ root, data: db, expiry: { jidSuffix: '12' } });
  const opened = await decryptWhatsAppBackupBytes(file, code, { phoneDigits: true });
  expect(Buffer.from(opened.data).equals(Buffer.from(db))).toBe(true);
  expect(opened.info.phoneDigits).toBe('12');
  expect(opened.layout).toBe('md5');
  const bad = Buffer.from(file);
  bad[bad.length - 17]! ^= 1;
  await expect(decryptWhatsAppBackupBytes(bad, code)).rejects.toMatchObject({ code: 'CHUNK_AUTH' });
  // The expiry writer above is the test's own; make sure it wrote what the reader saw.
  expect(expiry({ jidSuffix: '12' }).toString('hex')).toBe('1a023132');
});
