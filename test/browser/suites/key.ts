// Backup key codes on this platform's engine: CSPRNG, formatting, tolerant parsing, the exact
// error positions (code points vs UTF-16, Unicode property escapes, NFKC hints) and typo recovery.
import { E2EEError } from '../../../src/errors.js';
import {
  backupKeyTypoCandidates,
  formatBackupKey,
  generateBackupKey,
  isKeyFormatError,
  type KeyFormatError,
  parseBackupKey,
} from '../../../src/key/backup-key.js';
import {
  AssertionError,
  assert,
  assertBytesEqual,
  assertEqual,
  bytesToHex,
  hexToBytes,
  type Suite,
} from '../harness.js';

const SAMPLE = '0123 4567 89ab cdef 0123 4567 89ab cdef 0123 4567 89ab cdef 0123 4567 89ab cdef';
const SAMPLE_KEY = hexToBytes(SAMPLE.replaceAll(' ', ''));

function keyFormatErrorOf(fn: () => unknown): KeyFormatError {
  try {
    fn();
  } catch (err) {
    assert(err instanceof E2EEError, `expected an E2EEError, got ${err}`);
    assert(isKeyFormatError(err), `expected KEY_FORMAT, got ${err.code}`);
    return err;
  }
  throw new AssertionError('expected a KEY_FORMAT error');
}

export const keySuite: Suite = {
  name: 'backup key codes',
  checks: () => [
    {
      name: 'generateBackupKey: 32 fresh bytes from crypto.getRandomValues',
      run: () => {
        const a = generateBackupKey();
        const b = generateBackupKey();
        assert(a instanceof Uint8Array, 'a Uint8Array');
        assertEqual(a.length, 32, 'length');
        assert(bytesToHex(a) !== bytesToHex(b), 'two keys differ');
      },
    },
    {
      name: 'format → parse round trip, 200 random keys',
      run: () => {
        for (let i = 0; i < 200; i++) {
          const key = generateBackupKey();
          const code = formatBackupKey(key);
          assert(/^[0-9a-f]{4}( [0-9a-f]{4}){15}$/.test(code), `bad code ${code}`);
          assertBytesEqual(parseBackupKey(code), key, 'parsed key');
        }
      },
    },
    {
      name: 'known value',
      run: () => assertEqual(formatBackupKey(SAMPLE_KEY), SAMPLE, 'formatted'),
    },
    {
      name: 'accepts any case, dashes, tabs and line breaks',
      run: () => {
        for (const text of [
          SAMPLE.toUpperCase(),
          SAMPLE.replaceAll(' ', '-'),
          SAMPLE.replaceAll(' ', '\r\n'),
          SAMPLE.replaceAll(' ', ''),
          `  ${SAMPLE.slice(0, 39).toUpperCase()}\r\n${SAMPLE.slice(40)}\t\n`,
        ])
          assertBytesEqual(parseBackupKey(text), SAMPLE_KEY, JSON.stringify(text));
      },
    },
    {
      name: 'names the first offending character and its position',
      run: () => {
        const err = keyFormatErrorOf(() => parseBackupKey(`${SAMPLE.slice(0, 16)}o${SAMPLE.slice(17)}`));
        assert(err.message.includes("character 17 'o' is not a hex digit"), err.message);
        assertEqual(err.position, 17, 'position');
        assertEqual(err.offset, 16, 'offset');
      },
    },
    {
      name: 'look-alikes and invisible characters are named (Unicode tables of this engine)',
      run: () => {
        for (const [ch, expected] of [
          ['\u043e', "'о' (U+043E) is not a hex digit"],
          ['\uff10', "'０' (U+FF10, looks like '0') is not a hex digit"],
          ['\u00a0', 'U+00A0 is not a hex digit or an allowed separator'],
          ['\u200b', 'U+200B is not a hex digit or an allowed separator'],
          ['\u2013', "'–' (U+2013) is not a hex digit or an allowed separator"],
        ] as const) {
          const err = keyFormatErrorOf(() => parseBackupKey(`${SAMPLE.slice(0, 9)}${ch}${SAMPLE.slice(9)}`));
          assert(err.message.includes(`character 10 ${expected}`), err.message);
        }
      },
    },
    {
      name: 'an astral character counts as one character but two UTF-16 units',
      run: () => {
        const err = keyFormatErrorOf(() => parseBackupKey(`😀x${SAMPLE}`));
        assertEqual(err.position, 1, 'position');
        const err2 = keyFormatErrorOf(() => parseBackupKey(`0😀x`));
        assertEqual(err2.position, 2, 'position');
        assertEqual(err2.offset, 1, 'offset');
      },
    },
    {
      name: 'wrong digit counts are reported',
      run: () => {
        assert(
          keyFormatErrorOf(() => parseBackupKey(SAMPLE.slice(1))).message.includes(
            '63 digits: one is missing',
          ),
          '63',
        );
        assertEqual(keyFormatErrorOf(() => parseBackupKey(`${SAMPLE}0`)).digits, 65, 'digits');
      },
    },
    {
      name: 'typo candidates find a substitution, a transposition, a missing and an extra digit',
      run: () => {
        const hex = SAMPLE.replaceAll(' ', '');
        const cases: [string, string][] = [
          [`${hex.slice(0, 10)}${hex[10] === '0' ? '1' : '0'}${hex.slice(11)}`, 'substitution'],
          [`${hex.slice(0, 20)}${hex[21]}${hex[20]}${hex.slice(22)}`, 'transposition'],
          [`${hex.slice(0, 30)}${hex.slice(31)}`, 'missing'],
          [`${hex.slice(0, 40)}7${hex.slice(40)}`, 'extra'],
        ];
        for (const [typed, kind] of cases) {
          const found = [...backupKeyTypoCandidates(typed)].find((c) => bytesToHex(c.key) === hex);
          assert(found, `the right key is among the ${kind} candidates`);
          assertEqual(found.correction.kind, kind, 'kind');
        }
      },
    },
  ],
};
