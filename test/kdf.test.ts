import { fc, test } from '@fast-check/vitest';
import { argon2id as nobleArgon2id } from '@noble/hashes/argon2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { argon2id } from 'hash-wasm';
import { beforeEach, describe, expect, vi } from 'vitest';
import { assignedInUnicode14 } from '../src/key/password.js';
import {
  type Argon2idParams,
  DEFAULT_KDF_MAXIMA,
  DEFAULT_KDF_PARAMS,
  deriveKeyFromPassword,
  KDF_MINIMA,
  MIN_SALT_BYTES,
  validateKdfParams,
} from '../src/primitives/kdf.js';
import { SLOW } from './util.js';

// A spy around the real hash-wasm, to prove validation happens before it is ever called.
vi.mock('hash-wasm', async (importOriginal) => {
  const actual = await importOriginal<typeof import('hash-wasm')>();
  return { ...actual, argon2id: vi.fn(actual.argon2id) };
});
const argon2idSpy = vi.mocked(argon2id);

const SALT = new Uint8Array(16).fill(7);
const WEAK: Argon2idParams = { m: 64, t: 1, p: 1 };

function kdfParamsError(fn: () => void): Error & { code: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toMatchObject({ name: 'E2EEError', code: 'KDF_PARAMS' });
    return err as Error & { code: string };
  }
  throw new Error('expected a KDF_PARAMS error');
}

beforeEach(() => {
  argon2idSpy.mockClear();
});

describe('Argon2id implementations', () => {
  // RFC 9106 §5.3. hash-wasm has `secret` but no associated-data input, so the full vector is
  // proven with noble (key = secret, personalization = associated data) and hash-wasm is shown
  // to agree with noble below.
  const rfc = {
    password: new Uint8Array(32).fill(0x01),
    salt: new Uint8Array(16).fill(0x02),
    secret: new Uint8Array(8).fill(0x03),
    ad: new Uint8Array(12).fill(0x04),
    tag: '0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659',
  };

  test('noble reproduces the RFC 9106 §5.3 Argon2id vector', () => {
    const tag = nobleArgon2id(rfc.password, rfc.salt, {
      m: 32,
      t: 3,
      p: 4,
      key: rfc.secret,
      personalization: rfc.ad,
      dkLen: 32,
    });
    expect(bytesToHex(tag)).toBe(rfc.tag);
  });

  test('hash-wasm with the RFC secret (no associated data) equals noble with the same inputs', async () => {
    const wasm = await argon2id({
      password: rfc.password,
      salt: rfc.salt,
      secret: rfc.secret,
      parallelism: 4,
      iterations: 3,
      memorySize: 32,
      hashLength: 32,
      outputType: 'binary',
    });
    const noble = nobleArgon2id(rfc.password, rfc.salt, { m: 32, t: 3, p: 4, key: rfc.secret, dkLen: 32 });
    expect(bytesToHex(wasm)).toBe(bytesToHex(noble));
    expect(bytesToHex(wasm)).not.toBe(rfc.tag); // the associated data does matter
  });

  const smallParams = fc.integer({ min: 1, max: 4 }).chain((p) =>
    fc.record({
      p: fc.constant(p),
      m: fc.integer({ min: 8 * p, max: 256 }),
      t: fc.integer({ min: 1, max: 3 }),
    }),
  );
  const password = fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 64 }),
    fc
      .string({ unit: 'binary', minLength: 1, maxLength: 32 })
      .filter((s) => !/\p{Cs}/u.test(s) && [...s].every((c) => assignedInUnicode14(c.codePointAt(0)!))),
  );

  test.prop([smallParams, password, fc.uint8Array({ minLength: 16, maxLength: 32 })], { numRuns: 40 })(
    'deriveKeyFromPassword (hash-wasm) equals noble on random small parameters',
    async (params, pw, salt) => {
      const ours = await deriveKeyFromPassword(pw, salt, params, { allowWeak: true });
      const bytes = typeof pw === 'string' ? new TextEncoder().encode(pw.normalize('NFC')) : pw;
      const noble = nobleArgon2id(bytes, salt, { ...params, dkLen: 32 });
      expect(bytesToHex(ours)).toBe(bytesToHex(noble));
    },
  );
});

describe('validateKdfParams', () => {
  test('accepts the defaults and every OWASP floor pair when creating', () => {
    expect(() => validateKdfParams(DEFAULT_KDF_PARAMS)).not.toThrow();
    expect(() => validateKdfParams(DEFAULT_KDF_MAXIMA)).not.toThrow();
    for (const { m, t } of KDF_MINIMA) expect(() => validateKdfParams({ m, t, p: 1 })).not.toThrow();
  });

  test('the floor table is OWASP’s', () => {
    expect(KDF_MINIMA.map(({ m, t }) => [m / 1024, t])).toEqual([
      [46, 1],
      [19, 2],
      [12, 3],
      [9, 4],
      [7, 5],
    ]);
  });

  test.each([
    [{ m: 47103, t: 1, p: 1 }, 'm = 47103 KiB is below the minimum 47104 KiB (46 MiB) for t = 1'],
    [{ m: 19455, t: 2, p: 1 }, 'm = 19455 KiB is below the minimum 19456 KiB (19 MiB) for t = 2'],
    [{ m: 8192, t: 3, p: 1 }, 'm = 8192 KiB (8 MiB) is below the minimum 12288 KiB (12 MiB) for t = 3'],
    [{ m: 9215, t: 4, p: 1 }, 'below the minimum 9216 KiB (9 MiB) for t = 4'],
    [{ m: 7167, t: 16, p: 1 }, 'below the minimum 7168 KiB (7 MiB) for t = 16'],
  ])('refuses to create weak parameters %o', (params, message) => {
    const err = kdfParamsError(() => validateKdfParams(params));
    expect(err.message).toContain(message);
    expect(err.message).toContain('allowWeak');
    expect(() => validateKdfParams(params, { purpose: 'create', allowWeak: true })).not.toThrow();
    expect(() => validateKdfParams(params, { purpose: 'open' })).not.toThrow();
  });

  test('an equivalent trade-off passes: less memory with more iterations', () => {
    expect(() => validateKdfParams({ m: 12288, t: 3, p: 1 })).not.toThrow();
    expect(() => validateKdfParams({ m: 12288, t: 2, p: 1 })).toThrow();
  });

  test.each([
    [
      'm',
      { m: 2097152, t: 3, p: 4 },
      'Argon2id memory m = 2097152 KiB (2 GiB) exceeds the maximum 1048576 KiB (1 GiB); raise maxima.m',
    ],
    ['t', { m: 65536, t: 17, p: 4 }, 'Argon2id iterations t = 17 exceeds the maximum 16; raise maxima.t'],
    ['p', { m: 65536, t: 3, p: 17 }, 'Argon2id parallelism p = 17 exceeds the maximum 16; raise maxima.p'],
  ])('each maximum is enforced for both purposes and even with allowWeak (%s)', (_name, params, message) => {
    for (const options of [{}, { purpose: 'open' as const }, { allowWeak: true }]) {
      expect(kdfParamsError(() => validateKdfParams(params, options)).message).toContain(message);
    }
  });

  test('custom maxima are honoured, per parameter', () => {
    const big = { m: 2097152, t: 20, p: 32 };
    expect(() => validateKdfParams(big, { maxima: { m: 2097152, t: 20, p: 32 } })).not.toThrow();
    expect(() =>
      validateKdfParams(big, { maxima: { m: Number.POSITIVE_INFINITY, t: 20, p: 32 } }),
    ).not.toThrow();
    // An unspecified maximum keeps its default.
    expect(kdfParamsError(() => validateKdfParams(big, { maxima: { m: 2097152, t: 20 } })).message).toContain(
      'p = 32 exceeds the maximum 16',
    );
    // Lower maxima tighten the bounds.
    expect(
      kdfParamsError(() => validateKdfParams(DEFAULT_KDF_PARAMS, { purpose: 'open', maxima: { m: 32768 } }))
        .message,
    ).toContain('m = 65536 KiB (64 MiB) exceeds the maximum 32768 KiB (32 MiB)');
  });

  test.each([
    [{ m: 65536.5, t: 3, p: 4 }, 'memory m = 65536.5 is not an integer ≥ 1'],
    [{ m: 65536, t: 0, p: 4 }, 'iterations t = 0 is not an integer ≥ 1'],
    [{ m: 65536, t: 3, p: -1 }, 'parallelism p = -1 is not an integer ≥ 1'],
    [{ m: Number.NaN, t: 3, p: 4 }, 'm = NaN'],
    [{ m: Number.POSITIVE_INFINITY, t: 3, p: 4 }, 'm = Infinity'],
    [{ m: 2 ** 53, t: 3, p: 4 }, 'm = 9007199254740992'],
    [{ m: '65536', t: 3, p: 4 }, 'm = 65536 is not an integer'],
    [{ t: 3, p: 4 }, 'm = undefined'],
  ])('rejects a non-integer or non-positive parameter %o', (params, message) => {
    const err = kdfParamsError(() =>
      validateKdfParams(params as unknown as Argon2idParams, { allowWeak: true }),
    );
    expect(err.message).toContain(message);
  });

  test("Argon2's own rules: m ≥ 8·p, p ≤ 2^24−1, m ≤ 2^32−1", () => {
    expect(
      kdfParamsError(() => validateKdfParams({ m: 31, t: 1, p: 4 }, { purpose: 'open' })).message,
    ).toContain('m = 31 KiB is below 8 × p = 32 KiB');
    expect(() => validateKdfParams({ m: 32, t: 1, p: 4 }, { purpose: 'open' })).not.toThrow();
    const huge = { maxima: { m: Number.POSITIVE_INFINITY, p: Number.POSITIVE_INFINITY } };
    expect(kdfParamsError(() => validateKdfParams({ m: 2 ** 30, t: 1, p: 2 ** 24 }, huge)).message).toContain(
      "p = 16777216 exceeds Argon2's limit 16777215",
    );
    expect(kdfParamsError(() => validateKdfParams({ m: 2 ** 32, t: 1, p: 1 }, huge)).message).toContain(
      "m = 4294967296 KiB exceeds Argon2's limit",
    );
  });

  test('rejects malformed options with INVALID_ARGUMENT', () => {
    expect(() => validateKdfParams(DEFAULT_KDF_PARAMS, { purpose: 'read' as 'open' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => validateKdfParams(DEFAULT_KDF_PARAMS, { maxima: { m: Number.NaN } })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => validateKdfParams(null as unknown as Argon2idParams)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('validateKdfParams: each bound exactly, and what each refusal says', () => {
  const unbounded = {
    maxima: { m: Number.POSITIVE_INFINITY, t: Number.POSITIVE_INFINITY, p: Number.POSITIVE_INFINITY },
    purpose: 'open' as const,
  };

  test("Argon2's limits are inclusive: p = 2^24−1, m = 2^32−1, t = 2^32−1 pass; t = 2^32 does not", () => {
    expect(() => validateKdfParams({ m: 8 * (2 ** 24 - 1), t: 1, p: 2 ** 24 - 1 }, unbounded)).not.toThrow();
    expect(() => validateKdfParams({ m: 2 ** 32 - 1, t: 1, p: 1 }, unbounded)).not.toThrow();
    expect(() => validateKdfParams({ m: 8, t: 2 ** 32 - 1, p: 1 }, unbounded)).not.toThrow();
    expect(kdfParamsError(() => validateKdfParams({ m: 8, t: 2 ** 32, p: 1 }, unbounded)).message).toBe(
      "Argon2id iterations t = 4294967296 exceeds Argon2's limit 4294967295",
    );
  });

  test('a non-object is INVALID_ARGUMENT, saying what is wanted', () => {
    for (const params of [5, 'm=65536', undefined]) {
      expect(() => validateKdfParams(params as unknown as Argon2idParams)).toThrow(
        expect.objectContaining({
          code: 'INVALID_ARGUMENT',
          message: 'Argon2id parameters must be an object { m, t, p }',
        }),
      );
    }
    expect(() => validateKdfParams(DEFAULT_KDF_PARAMS, { purpose: 'read' as 'open' })).toThrow(
      "purpose must be 'create' or 'open', not read",
    );
  });

  test('a maximum that is not a number is INVALID_ARGUMENT, not compared', () => {
    for (const [t, shown] of [
      ['20', '20'],
      [Number.NaN, 'NaN'],
    ] as const) {
      expect(() => validateKdfParams(DEFAULT_KDF_PARAMS, { maxima: { t: t as unknown as number } })).toThrow(
        expect.objectContaining({
          code: 'INVALID_ARGUMENT',
          message: `maxima.t must be a number, not ${shown}`,
        }),
      );
    }
  });

  test('the floor refusal names the lowest memory reachable with more iterations', () => {
    expect(kdfParamsError(() => validateKdfParams({ m: 8192, t: 1, p: 1 })).message).toBe(
      'Argon2id memory m = 8192 KiB (8 MiB) is below the minimum 47104 KiB (46 MiB) for t = 1 ' +
        "(OWASP's floor; more iterations lower it down to 7168 KiB (7 MiB) at t = 5); " +
        'use more memory or iterations, or pass allowWeak: true',
    );
  });

  test('memory is shown in MiB from 1024 KiB, in GiB from 1048576 KiB', () => {
    const over = (m: number, max: number) =>
      kdfParamsError(() => validateKdfParams({ m, t: 1, p: 1 }, { purpose: 'open', maxima: { m: max } }))
        .message;
    expect(over(1024, 1023)).toContain('m = 1024 KiB (1 MiB) exceeds the maximum 1023 KiB;');
    expect(over(8, 0)).toContain('m = 8 KiB exceeds the maximum 0 KiB;'); // 0 is a multiple of both
    expect(over(1048576, 1047552)).toContain(
      'm = 1048576 KiB (1 GiB) exceeds the maximum 1047552 KiB (1023 MiB);',
    );
    expect(over(1049600, 1048576)).toContain(
      'm = 1049600 KiB (1025 MiB) exceeds the maximum 1048576 KiB (1 GiB);',
    );
  });
});

describe('deriveKeyFromPassword', () => {
  test('a salt that is not a Uint8Array is INVALID_ARGUMENT, before hash-wasm', async () => {
    for (const salt of ['0'.repeat(32), Array.from(SALT), undefined]) {
      await expect(
        deriveKeyFromPassword('pw', salt as unknown as Uint8Array, WEAK, { allowWeak: true }),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: 'salt must be a Uint8Array' });
    }
    expect(argon2idSpy).not.toHaveBeenCalled();
  });

  // Agreement with noble is covered by the property above; one run at the real cost suffices here.
  test.runIf(SLOW)('[slow] default parameters produce 32 bytes, deterministically', async () => {
    const a = await deriveKeyFromPassword('correct horse battery staple', SALT);
    expect(a).toBeInstanceOf(Uint8Array);
    expect(a.length).toBe(32);
    expect(argon2idSpy).toHaveBeenCalledTimes(1);
    expect(argon2idSpy.mock.calls[0]![0]).toMatchObject({
      memorySize: 65536,
      iterations: 3,
      parallelism: 4,
      hashLength: 32,
      outputType: 'binary',
    });
    expect(await deriveKeyFromPassword('correct horse battery staple', SALT)).toEqual(a);
  });

  test('partial parameters fall back to the defaults', async () => {
    await deriveKeyFromPassword('pw', SALT, { m: 19456, t: 2 });
    expect(argon2idSpy.mock.calls[0]![0]).toMatchObject({ memorySize: 19456, iterations: 2, parallelism: 4 });
  });

  test('m = 2^40 is rejected before hash-wasm is invoked', async () => {
    await expect(
      deriveKeyFromPassword('pw', SALT, { m: 2 ** 40 }, { purpose: 'open' }),
    ).rejects.toMatchObject({
      code: 'KDF_PARAMS',
    });
    expect(argon2idSpy).not.toHaveBeenCalled();
  });

  test.each([
    ['m', { m: 1048577 }],
    ['t', { t: 17 }],
    ['p', { p: 17 }],
  ])('maximum of %s exceeded → KDF_PARAMS without calling hash-wasm', async (_name, params) => {
    await expect(deriveKeyFromPassword('pw', SALT, params, { purpose: 'open' })).rejects.toMatchObject({
      code: 'KDF_PARAMS',
      message: expect.stringContaining('exceeds the maximum'),
    });
    expect(argon2idSpy).not.toHaveBeenCalled();
  });

  test('custom maxima apply to the derivation', async () => {
    await expect(
      deriveKeyFromPassword('pw', SALT, DEFAULT_KDF_PARAMS, { purpose: 'open', maxima: { m: 1024 } }),
    ).rejects.toMatchObject({ code: 'KDF_PARAMS' });
    expect(argon2idSpy).not.toHaveBeenCalled();
  });

  test('weak parameters: refused on create, allowed with allowWeak or on open', async () => {
    await expect(deriveKeyFromPassword('pw', SALT, WEAK)).rejects.toMatchObject({ code: 'KDF_PARAMS' });
    await expect(deriveKeyFromPassword('pw', SALT, WEAK, { purpose: 'create' })).rejects.toMatchObject({
      code: 'KDF_PARAMS',
    });
    expect(argon2idSpy).not.toHaveBeenCalled();
    const a = await deriveKeyFromPassword('pw', SALT, WEAK, { allowWeak: true });
    const b = await deriveKeyFromPassword('pw', SALT, WEAK, { purpose: 'open' });
    expect(a).toEqual(b);
    expect(a.length).toBe(32);
  });

  test.each([0, 8, 15])('a %i-byte salt → KDF_PARAMS', async (n) => {
    await expect(
      deriveKeyFromPassword('pw', new Uint8Array(n), WEAK, { allowWeak: true }),
    ).rejects.toMatchObject({
      code: 'KDF_PARAMS',
      message: expect.stringContaining(`salt is ${n} bytes; it must be at least ${MIN_SALT_BYTES}`),
    });
    expect(argon2idSpy).not.toHaveBeenCalled();
  });

  test('non-integer parameters → KDF_PARAMS', async () => {
    await expect(deriveKeyFromPassword('pw', SALT, { t: 2.5 })).rejects.toMatchObject({ code: 'KDF_PARAMS' });
    await expect(deriveKeyFromPassword('pw', SALT, { p: 0 })).rejects.toMatchObject({ code: 'KDF_PARAMS' });
    expect(argon2idSpy).not.toHaveBeenCalled();
  });

  test('NFC: two spellings of "é" derive the same key; raw bytes are not normalised', async () => {
    const decomposed = await deriveKeyFromPassword('caf\u0065\u0301', SALT, WEAK, { allowWeak: true });
    const composed = await deriveKeyFromPassword('caf\u00e9', SALT, WEAK, { allowWeak: true });
    expect(decomposed).toEqual(composed);
    const utf8 = await deriveKeyFromPassword(hexToBytes('636166c3a9'), SALT, WEAK, { allowWeak: true });
    expect(utf8).toEqual(composed);
    const rawDecomposed = await deriveKeyFromPassword(new TextEncoder().encode('cafe\u0301'), SALT, WEAK, {
      allowWeak: true,
    });
    expect(rawDecomposed).not.toEqual(composed);
  });

  test('empty and ill-formed passwords → INVALID_ARGUMENT', async () => {
    for (const pw of ['', new Uint8Array(0), 'ab\ud800cd', '\udc00', 42 as unknown as string]) {
      await expect(deriveKeyFromPassword(pw, SALT, WEAK, { allowWeak: true })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    }
    expect(argon2idSpy).not.toHaveBeenCalled();
  });

  test('a well-formed astral character is fine', async () => {
    await expect(deriveKeyFromPassword('🔑', SALT, WEAK, { allowWeak: true })).resolves.toHaveLength(32);
  });

  test('does not modify the caller’s password bytes', async () => {
    const pw = new Uint8Array([1, 2, 3]);
    await deriveKeyFromPassword(pw, SALT, WEAK, { allowWeak: true });
    expect(pw).toEqual(new Uint8Array([1, 2, 3]));
  });
});
