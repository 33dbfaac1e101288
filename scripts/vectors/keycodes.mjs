// backup_key_code_test.json: how the 32-byte backup key is read back from its 64-digit code.
// Each expected value is written out here from the rules (SPEC.md Appendix A.4), not taken from
// the library: test/vectors.test.ts checks the library against them.
import { checkNotes, numberTests } from './common.mjs';
import { hex } from './craft.mjs';
import { seeded } from './determinism.mjs';

export const KEY_CODE_NOTES = {
  Spelling: {
    bugType: 'FUNCTIONALITY',
    description:
      'A valid code: 64 hex digits in any case, with spaces, tabs, CR, LF and "-" anywhere between and around them.',
    links: ['SPEC.md Appendix A.4'],
  },
  LengthBoundary: {
    bugType: 'EDGE_CASE',
    description:
      'Texts of exactly 1024 UTF-16 code units are read; longer ones are refused before they are scanned.',
    links: ['SPEC.md Appendix A.4'],
  },
  BadCharacter: {
    bugType: 'FUNCTIONALITY',
    description:
      'A character that is neither a hex digit nor an allowed separator (look-alikes, other white space, punctuation, astral and unpaired surrogate code points): its 1-based position in code points is reported, even when the digit count is also wrong.',
    links: ['SPEC.md Appendix A.4'],
  },
  DigitCount: {
    bugType: 'FUNCTIONALITY',
    description: 'Only allowed characters, but not 64 hex digits: the number of digits found is reported.',
    links: ['SPEC.md Appendix A.4'],
  },
  TooLong: {
    bugType: 'RESOURCE_EXHAUSTION',
    description: 'Longer than 1024 UTF-16 code units: refused as a whole, before any character is examined.',
    links: ['SPEC.md Appendix A.4'],
  },
};

const valid = (comment, code, key, flags = ['Spelling']) => ({
  tcId: 0,
  comment,
  flags,
  code,
  result: 'valid',
  key: hex(key),
});
const badChar = (comment, code, position) => ({
  tcId: 0,
  comment,
  flags: ['BadCharacter'],
  code,
  result: 'invalid',
  error: 'KEY_FORMAT',
  reason: 'character',
  position,
});
const badCount = (comment, code, digits) => ({
  tcId: 0,
  comment,
  flags: ['DigitCount'],
  code,
  result: 'invalid',
  error: 'KEY_FORMAT',
  reason: 'digitCount',
  digits,
});
const tooLong = (comment, code) => ({
  tcId: 0,
  comment,
  flags: ['TooLong'],
  code,
  result: 'invalid',
  error: 'KEY_FORMAT',
  reason: 'length',
});

const groups = (h, size, sep) => h.match(new RegExp(`.{${size}}`, 'g')).join(sep);

function spellings(key) {
  const h = hex(key);
  const mixed = [...h].map((c, i) => (i % 3 === 0 ? c.toUpperCase() : c)).join('');
  return [
    valid('16 groups of 4, lower case, single spaces (as formatted)', groups(h, 4, ' '), key),
    valid('upper case', groups(h, 4, ' ').toUpperCase(), key),
    valid('mixed case', groups(mixed, 4, ' '), key),
    valid('no separators', h, key),
    valid('dashes between groups', groups(h, 4, '-'), key),
    valid('groups of 8 with two spaces', groups(h, 8, '  '), key),
    valid('four lines of four groups (LF)', groups(h, 16, '\n'), key),
    valid('four lines of four groups (CRLF)', groups(h, 16, '\r\n'), key),
    valid('CR alone between halves', groups(h, 32, '\r'), key),
    valid('tabs between groups', groups(h, 4, '\t'), key),
    valid('leading and trailing white space', ` \t\n${groups(h, 4, ' ')}\n\r\n `, key),
    valid('leading and trailing dashes', `--${h}--`, key),
    valid('a separator after every digit', groups(h, 1, '-'), key),
    valid('runs of mixed separators', groups(h, 4, ' - \t'), key),
    valid('64 digits and 960 spaces: 1024 code units', `${h}${' '.repeat(960)}`, key, ['LengthBoundary']),
  ];
}

function malformed(key) {
  const h = hex(key);
  const g = groups(h, 4, ' ');
  const at = (text, index, ch) => text.slice(0, index) + ch + text.slice(index + 1); // index is 0-based
  return [
    badChar('"g" at position 1', at(g, 0, 'g'), 1),
    badChar('letter "o" for zero at position 17', at(g, 16, 'o'), 17),
    badChar('capital "O" for zero at position 80', at(g, 79, 'O'), 80),
    badChar('Cyrillic "о" (U+043E) at position 6', at(g, 5, '\u043e'), 6),
    badChar('full-width "０" (U+FF10) at position 2', at(g, 1, '\uff10'), 2),
    badChar('no-break space (U+00A0) between groups', at(g, 4, '\u00a0'), 5),
    badChar('zero-width space (U+200B) inside a group', `${g.slice(0, 2)}\u200b${g.slice(2)}`, 3),
    badChar('line separator (U+2028) between groups', at(g, 9, '\u2028'), 10),
    badChar('vertical tab between groups', at(g, 14, '\u000b'), 15),
    badChar('form feed between groups', at(g, 19, '\u000c'), 20),
    badChar('underscore between groups', at(g, 24, '_'), 25),
    badChar('colon between groups', at(g, 29, ':'), 30),
    badChar('dot at the end', `${g}.`, 80),
    badChar('"0x" prefix', `0x${h}`, 2),
    badChar('an astral character (U+1F511) at position 10', `${g.slice(0, 9)}🔑${g.slice(9)}`, 10),
    badChar('an unpaired surrogate (U+D800) at position 3', `${h.slice(0, 2)}\ud800${h.slice(2)}`, 3),
    badChar('65 digits, then "x": the character is reported, not the count', `${h}a x`, 67),
    badChar('63 digits, then "z"', `${h.slice(0, 63)}z`, 64),
    badChar('"g" at position 1024, the last code unit allowed', `${h}${' '.repeat(959)}g`, 1024),
    badCount('an empty text', '', 0),
    badCount('separators only', ' - \t\r\n - ', 0),
    badCount('1 digit', 'a', 1),
    badCount('63 digits: one missing', g.slice(0, -1), 63),
    badCount('62 digits', h.slice(2), 62),
    badCount('65 digits: one too many', `${g}0`, 65),
    badCount('128 digits: the code pasted twice', `${g}\n${g}`, 128),
    badCount('32 digits: half a code', groups(h.slice(0, 32), 4, ' '), 32),
    tooLong('64 digits and 961 spaces: 1025 code units', `${h}${' '.repeat(961)}`),
    tooLong('2000 characters with "g" at position 2: the length is checked first', `a${'g'.repeat(1999)}`),
    tooLong(
      '64 digits and 500 astral characters: 564 code points but 1064 UTF-16 code units',
      `${h}${'🔑'.repeat(500)}`,
    ),
  ];
}

/** The whole backup_key_code_test.json document. */
export async function keyCodeFile() {
  const tests = [];
  await seeded('key codes', async (rnd) => {
    tests.push(...spellings(rnd(32)), ...malformed(rnd(32)));
  });
  const edge = [
    valid('the all-zero key', '0000 '.repeat(16).trim(), new Uint8Array(32)),
    valid('the all-ones key, upper case', 'FFFF-'.repeat(16).slice(0, -1), new Uint8Array(32).fill(0xff)),
  ];
  return checkNotes(
    numberTests({
      algorithm: 'e2ee-backup backup key code',
      schema: 'schema.json',
      generator: 'scripts/vectors/generate.mjs',
      numberOfTests: 0,
      header: [
        'Reading a 32-byte backup key from its 64-hex-digit code (SPEC.md Appendix A.4).',
        'valid: key is the 32 bytes in hex. invalid: error KEY_FORMAT with reason character (position:',
        '1-based, in code points, of the first character that is neither a hex digit nor a separator),',
        'digitCount (digits: how many hex digits there are, when not 64) or length (over 1024 UTF-16',
        'code units).',
      ],
      notes: KEY_CODE_NOTES,
      testGroups: [{ type: 'BackupKeyCode', tests: [...tests, ...edge] }],
    }),
  );
}
