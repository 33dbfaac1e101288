import { fc, test } from '@fast-check/vitest';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { describe, expect } from 'vitest';
import { E2EEError } from '../src/errors.js';
import { fromHex, toHex } from '../src/internal/bytes.js';
import {
  type BackupKeyCandidate,
  backupKeyTypoCandidates,
  formatBackupKey,
  generateBackupKey,
  isKeyFormatError,
  type KeyFormatError,
  parseBackupKey,
} from '../src/key/backup-key.js';

const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const HEX = '0123456789abcdef';
const SAMPLE = '0123 4567 89ab cdef 0123 4567 89ab cdef 0123 4567 89ab cdef 0123 4567 89ab cdef';

/** Runs `fn` and returns the KEY_FORMAT error it throws. */
function keyFormatErrorOf(fn: () => unknown): KeyFormatError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(E2EEError);
    expect((err as E2EEError).code).toBe('KEY_FORMAT');
    expect(isKeyFormatError(err)).toBe(true);
    return err as KeyFormatError;
  }
  throw new Error('expected a KEY_FORMAT error');
}

describe('generateBackupKey', () => {
  test('gives 32 bytes, different each time', () => {
    const a = generateBackupKey();
    const b = generateBackupKey();
    expect(a).toBeInstanceOf(Uint8Array);
    expect(a.length).toBe(32);
    expect(b.length).toBe(32);
    expect(bytesToHex(a)).not.toBe(bytesToHex(b));
  });
});

// The key codes' hex (src/internal/bytes.ts), against Node's Buffer.
describe('toHex and fromHex', () => {
  test.prop([fc.uint8Array({ maxLength: 100 })])('agree with Buffer both ways', (bytes) => {
    const hex = Buffer.from(bytes).toString('hex');
    expect(toHex(bytes)).toBe(hex);
    expect(fromHex(hex)).toEqual(bytes);
  });

  test('refuse what is not an even number of lowercase hex digits', () => {
    for (const bad of ['0', 'abc', 'AB', '0g', ' 00', '00 ', '+1', '0x00'])
      expect(() => fromHex(bad), bad).toThrow(/not an even number of lowercase hex digits/);
    expect(fromHex('')).toEqual(new Uint8Array(0));
  });
});

describe('formatBackupKey', () => {
  test.prop([key32])('is 16 groups of 4 lowercase hex digits', (key) => {
    const text = formatBackupKey(key);
    expect(text).toMatch(/^[0-9a-f]{4}( [0-9a-f]{4}){15}$/);
    expect(text.replaceAll(' ', '')).toBe(bytesToHex(key));
  });

  test('known value', () => {
    expect(formatBackupKey(hexToBytes(SAMPLE.replaceAll(' ', '')))).toBe(SAMPLE);
  });

  test.each([0, 16, 31, 33, 64])('rejects %i bytes with INVALID_KEY_SIZE', (n) => {
    expect(() => formatBackupKey(new Uint8Array(n))).toThrow(
      expect.objectContaining({ code: 'INVALID_KEY_SIZE' }),
    );
  });

  test('rejects a non-Uint8Array with INVALID_ARGUMENT', () => {
    expect(() => formatBackupKey('00'.repeat(32) as unknown as Uint8Array)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  test('says why a key is refused: its type, or its length and the one wanted', () => {
    expect(() => formatBackupKey([1, 2] as unknown as Uint8Array)).toThrow(/backup key must be a Uint8Array/);
    expect(() => formatBackupKey(new Uint8Array(31))).toThrow(/backup key is 31 bytes long; it must be 32/);
  });
});

describe('parseBackupKey', () => {
  test.prop([key32])('round-trips format → parse', (key) => {
    expect(parseBackupKey(formatBackupKey(key))).toEqual(key);
  });

  test.prop([
    key32,
    fc.array(fc.constantFrom(' ', '-', '\t', '\n', '\r', '\r\n', '  '), { minLength: 65, maxLength: 65 }),
    fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }),
  ])('accepts any case and separators anywhere', (key, seps, upper) => {
    const hex = bytesToHex(key);
    let text = seps[0]!;
    for (let i = 0; i < 64; i++) text += (upper[i] ? hex[i]!.toUpperCase() : hex[i]!) + seps[i + 1]!;
    expect(parseBackupKey(text)).toEqual(key);
  });

  test('accepts upper case, dashes, newlines and mixtures', () => {
    const key = hexToBytes(SAMPLE.replaceAll(' ', ''));
    expect(parseBackupKey(SAMPLE.toUpperCase())).toEqual(key);
    expect(parseBackupKey(SAMPLE.replaceAll(' ', '-'))).toEqual(key);
    expect(parseBackupKey(SAMPLE.replaceAll(' ', '\n'))).toEqual(key);
    expect(parseBackupKey(SAMPLE.replaceAll(' ', ''))).toEqual(key);
    expect(parseBackupKey(`  ${SAMPLE.slice(0, 39).toUpperCase()}\r\n${SAMPLE.slice(40)}\t\n`)).toEqual(key);
    expect(
      parseBackupKey('01-23 45\t67 89-AB-cd-EF\n0123456789ABCDEF 0-1-2-3-4-5-6-7 89abcdef\r0123456789abcdef'),
    ).toEqual(key);
  });

  test.each([
    [1, 'x'],
    [17, 'o'],
    [40, 'g'],
    [79, 'O'],
  ])('a non-hex letter at character %i is named with its position', (position, ch) => {
    const text = SAMPLE.slice(0, position - 1) + ch + SAMPLE.slice(position);
    const err = keyFormatErrorOf(() => parseBackupKey(text));
    expect(err.message).toContain(`character ${position} '${ch}' is not a hex digit`);
    expect(err.position).toBe(position);
    expect(err.offset).toBe(position - 1);
    expect(err.digits).toBeUndefined();
  });

  test('the first offending character is reported, not a later one or the digit count', () => {
    const err = keyFormatErrorOf(() => parseBackupKey(`12 3z 45 .. ${SAMPLE}`));
    expect(err.position).toBe(5);
    expect(err.message).toContain("character 5 'z'");
  });

  test('a character after the last digit is reported too', () => {
    const err = keyFormatErrorOf(() => parseBackupKey(`${SAMPLE}.`));
    expect(err.position).toBe(80);
    expect(err.message).toContain("character 80 '.' is not a hex digit or an allowed separator");
  });

  test.each([
    ['Cyrillic о', '\u043e', "'о' (U+043E) is not a hex digit"],
    ['Greek omicron', '\u03bf', "'ο' (U+03BF) is not a hex digit"],
    ['full-width 0', '\uff10', "'０' (U+FF10, looks like '0') is not a hex digit"],
    ['full-width A', '\uff21', "'Ａ' (U+FF21, looks like 'A') is not a hex digit"],
    ['no-break space', '\u00a0', 'U+00A0 is not a hex digit or an allowed separator'],
    ['zero-width space', '\u200b', 'U+200B is not a hex digit or an allowed separator'],
    ['NUL', '\u0000', 'U+0000 is not a hex digit or an allowed separator'],
    ['en dash', '\u2013', "'–' (U+2013) is not a hex digit or an allowed separator"],
    ['combining acute', '\u0301', 'U+0301 is not a hex digit or an allowed separator'],
    ['dot', '.', "'.' is not a hex digit or an allowed separator"],
    ['comma', ',', "',' is not a hex digit or an allowed separator"],
  ])('rejects %s with a readable name and its position', (_name, ch, expected) => {
    const text = `${SAMPLE.slice(0, 9)}${ch}${SAMPLE.slice(9)}`;
    const err = keyFormatErrorOf(() => parseBackupKey(text));
    expect(err.message).toContain(`character 10 ${expected}`);
    expect(err.position).toBe(10);
    expect(err.offset).toBe(9);
  });

  test('counts an astral character as one character, and gives its UTF-16 offset', () => {
    // U+1F600 and U+1D7CE (MATHEMATICAL BOLD DIGIT ZERO) are two UTF-16 units each.
    const err = keyFormatErrorOf(() => parseBackupKey(`ab\u{1f600}cd\u{1d7ce}${SAMPLE}`));
    expect(err.position).toBe(3);
    expect(err.offset).toBe(2);
    const err2 = keyFormatErrorOf(() => parseBackupKey(`ab cd\u{1d7ce}${SAMPLE}`));
    expect(err2.position).toBe(6);
    expect(err2.message).toContain("'𝟎' (U+1D7CE, looks like '0')");
  });

  test.each([
    [63, '63 digits: one is missing'],
    [62, '62 digits: 2 are missing'],
    [1, '1 digits: 63 are missing'],
    [65, '65 digits: one too many'],
    [66, '66 digits: 2 too many'],
    [128, '128 digits: 64 too many'],
  ])('%i digits → KEY_FORMAT', (n, message) => {
    const text = '0123456789abcdef'.repeat(9).slice(0, n);
    const err = keyFormatErrorOf(() => parseBackupKey(text));
    expect(err.message).toContain(message);
    expect(err.position).toBeUndefined();
    expect(err.digits).toBe(n);
  });

  test.each([
    ['empty', ''],
    ['only separators', ' - \n\t '],
  ])('%s text → KEY_FORMAT with 0 digits', (_name, text) => {
    const err = keyFormatErrorOf(() => parseBackupKey(text));
    expect(err.message).toContain('no hex digits');
    expect(err.digits).toBe(0);
    expect(err.position).toBeUndefined();
  });

  test('rejects text longer than 1024 characters before scanning it', () => {
    expect(() => parseBackupKey(`${SAMPLE}${' '.repeat(1024 - SAMPLE.length)}`)).not.toThrow();
    const err = keyFormatErrorOf(() => parseBackupKey(`${SAMPLE}${' '.repeat(1025 - SAMPLE.length)}`));
    expect(err.message).toContain('at most 1024');
    expect(err.position).toBeUndefined();
    // Scanning would have named the 'x' at character 1; the length is refused first.
    const long = keyFormatErrorOf(() => parseBackupKey('x'.repeat(10_000_000)));
    expect(long.message).toContain('at most 1024');
    expect(long.message).not.toMatch(/character \d/);
    expect(long.position).toBeUndefined();
  });

  test('rejects a non-string with INVALID_ARGUMENT', () => {
    expect(() => parseBackupKey(42 as unknown as string)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });

  test('isKeyFormatError is false for other errors', () => {
    expect(isKeyFormatError(new E2EEError('KEY_FORMAT', 'x'))).toBe(false);
    expect(isKeyFormatError(new Error('x'))).toBe(false);
  });

  test('isKeyFormatError needs an E2EEError, the code KEY_FORMAT, and both position and digits', () => {
    const fields = { position: undefined, offset: undefined, digits: 63 };
    expect(isKeyFormatError(Object.assign(new E2EEError('KEY_FORMAT', 'x'), fields))).toBe(true);
    expect(isKeyFormatError(Object.assign(new E2EEError('KEY_FORMAT', 'x'), { digits: 63 }))).toBe(false);
    expect(isKeyFormatError(Object.assign(new E2EEError('KEY_FORMAT', 'x'), { position: 1 }))).toBe(false);
    expect(isKeyFormatError(Object.assign(new E2EEError('INVALID_ARGUMENT', 'x'), fields))).toBe(false);
    // Not an E2EEError (no brand), though shaped like one.
    expect(isKeyFormatError(Object.assign(new Error('x'), { code: 'KEY_FORMAT', ...fields }))).toBe(false);
  });

  test('says why a non-string is refused', () => {
    expect(() => parseBackupKey(42 as unknown as string)).toThrow(/backup key code must be a string/);
    expect(() => backupKeyTypoCandidates(null as unknown as string)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: 'backup key code must be a string' }),
    );
  });

  const NOT_SEPARATOR = "is not a hex digit or an allowed separator (space, tab, line break, '-')";
  test.each([
    // The printable ASCII range is shown as itself, from '!' (U+0021) to '~' (U+007E) inclusive.
    ['!', '!', `'!' ${NOT_SEPARATOR}`],
    ['~', '~', `'~' ${NOT_SEPARATOR}`],
    ['DEL', '\u007f', `U+007F ${NOT_SEPARATOR}`],
    ['¡, the first visible character after ASCII', '\u00a1', `'¡' (U+00A1) ${NOT_SEPARATOR}`],
    // NFKC of '½' is '1⁄2': three characters, not one hex digit, so no "looks like".
    ['½', '\u00bd', "'½' (U+00BD) is not a hex digit"],
    ['full-width hyphen-minus', '\uff0d', `'－' (U+FF0D, looks like '-') ${NOT_SEPARATOR}`],
    ['full-width small f', '\uff46', "'ｆ' (U+FF46, looks like 'f') is not a hex digit"],
  ])('names %s exactly', (_name, ch, expected) => {
    const err = keyFormatErrorOf(() => parseBackupKey(`${SAMPLE.slice(0, 9)}${ch}${SAMPLE.slice(9)}`));
    expect(err.message).toBe(`backup key code: character 10 ${expected}`);
  });
});

describe('backupKeyTypoCandidates', () => {
  const hexDigit = fc.constantFrom(...HEX);

  /** The single candidate that yields `key`, asserting there is exactly one. */
  function findKey(text: string, key: Uint8Array): BackupKeyCandidate['correction'] {
    const hex = bytesToHex(key);
    const found = [...backupKeyTypoCandidates(text)].filter((c) => bytesToHex(c.key) === hex);
    expect(found).toHaveLength(1);
    return found[0]!.correction;
  }

  /** 1-based start of the run of `d` in `s` that ends just before 0-based `i` (or at `i`). */
  function runStart(s: string, i: number, d: string): number {
    let j = i;
    while (j > 0 && s[j - 1] === d) j--;
    return j + 1;
  }

  test.prop([key32, fc.nat(63), fc.nat(14)])('finds a substituted digit', (key, i, k) => {
    const hex = bytesToHex(key);
    const wrong = HEX.replace(hex[i]!, '')[k]!;
    const typed = formatBackupKey(hexToBytes(hex.slice(0, i) + wrong + hex.slice(i + 1)));
    expect(findKey(typed, key)).toEqual({ kind: 'substitution', position: i + 1 });
  });

  test.prop([key32, fc.nat(62)])('finds a transposition of two adjacent digits', (key, i) => {
    const hex = bytesToHex(key);
    fc.pre(hex[i] !== hex[i + 1]);
    const typed = hex.slice(0, i) + hex[i + 1] + hex[i] + hex.slice(i + 2);
    expect(findKey(typed, key)).toEqual({ kind: 'transposition', position: i + 1 });
  });

  test.prop([key32, fc.nat(63)])('finds a missing digit', (key, i) => {
    const hex = bytesToHex(key);
    const typed = hex.slice(0, i) + hex.slice(i + 1);
    expect(findKey(typed, key)).toEqual({ kind: 'missing', position: runStart(hex, i, hex[i]!) });
  });

  test.prop([key32, fc.nat(64), hexDigit])('finds an extra digit', (key, i, d) => {
    const hex = bytesToHex(key);
    const typed = hex.slice(0, i) + d + hex.slice(i);
    expect(findKey(typed, key)).toEqual({ kind: 'extra', position: runStart(typed, i, d) });
  });

  test('a missing digit inside a run is reported at the run start', () => {
    const hex = `12aaa${'0'.repeat(59)}`; // true key; the user dropped one 'a'
    expect(findKey(hex.slice(0, 3) + hex.slice(4), hexToBytes(hex))).toEqual({
      kind: 'missing',
      position: 3,
    });
  });

  test.prop([
    fc.oneof(
      key32.map((k) => bytesToHex(k)),
      fc.string({ unit: fc.constantFrom('a', 'b'), minLength: 64, maxLength: 64 }),
    ),
  ])('64 digits: distinct keys, at most 64×15+63, none equal to the typed key', (hex) => {
    const all = [...backupKeyTypoCandidates(hex)];
    const keys = new Set(all.map((c) => bytesToHex(c.key)));
    let swaps = 0;
    for (let i = 0; i < 63; i++) if (hex[i] !== hex[i + 1]) swaps++;
    expect(all.length).toBe(64 * 15 + swaps);
    expect(all.length).toBeLessThanOrEqual(64 * 15 + 63);
    expect(keys.size).toBe(all.length);
    expect(keys.has(hex)).toBe(false);
    for (const c of all) expect(c.key.length).toBe(32);
    // Documented order: all transpositions, then substitutions by position.
    const kinds = all.map((c) => c.correction.kind);
    expect(kinds.lastIndexOf('transposition')).toBeLessThan(kinds.indexOf('substitution'));
  });

  test.prop([fc.string({ unit: hexDigit, minLength: 63, maxLength: 63 })])(
    '63 digits: 961 distinct insertions',
    (hex) => {
      const all = [...backupKeyTypoCandidates(hex)];
      expect(new Set(all.map((c) => bytesToHex(c.key))).size).toBe(all.length);
      expect(all.length).toBe(64 * 16 - 63);
      expect(all.every((c) => c.correction.kind === 'missing')).toBe(true);
    },
  );

  test.prop([fc.string({ unit: fc.constantFrom('0', '1', 'f'), minLength: 65, maxLength: 65 })])(
    '65 digits: one distinct deletion per run of equal digits',
    (hex) => {
      const all = [...backupKeyTypoCandidates(hex)];
      let runs = 1;
      for (let i = 1; i < 65; i++) if (hex[i] !== hex[i - 1]) runs++;
      expect(all.length).toBe(runs);
      expect(new Set(all.map((c) => bytesToHex(c.key))).size).toBe(runs);
      expect(all.every((c) => c.correction.kind === 'extra')).toBe(true);
    },
  );

  test('reads separators and case like parseBackupKey', () => {
    const typed = SAMPLE.toUpperCase().replace('0123 4567', '0213-4567');
    const sampleKey = hexToBytes(SAMPLE.replaceAll(' ', ''));
    expect(findKey(typed, sampleKey)).toEqual({ kind: 'transposition', position: 2 });
  });

  test.each([0, 1, 62, 66, 128])(
    '%i digits → the same KEY_FORMAT error as parseBackupKey, at call time',
    (n) => {
      const text = '0123456789abcdef'.repeat(9).slice(0, n);
      const expected = keyFormatErrorOf(() => parseBackupKey(text));
      const err = keyFormatErrorOf(() => backupKeyTypoCandidates(text));
      expect(err.message).toBe(expected.message);
      expect(err.digits).toBe(n);
    },
  );

  test('a non-hex character → the same KEY_FORMAT error as parseBackupKey', () => {
    const text = `${SAMPLE.slice(0, 20)}\u043e${SAMPLE.slice(21)}`;
    const expected = keyFormatErrorOf(() => parseBackupKey(text));
    const err = keyFormatErrorOf(() => backupKeyTypoCandidates(text));
    expect(err.message).toBe(expected.message);
    expect(err.position).toBe(21);
  });
});
