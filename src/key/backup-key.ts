/**
 * Backup keys: 32 random bytes, shown to people as a 64-digit hex code in 16 groups of 4.
 *
 * Every 64-hex-digit string is a valid key (there is no checksum), so a typo cannot be detected
 * here; {@link backupKeyTypoCandidates} lists the keys one typo away so that a caller holding a
 * backup can find the one that opens it.
 *
 * @module
 */

import { E2EEError } from '../errors.js';
import { fromHex, HEX_DIGITS as HEX, randomBytes, toHex } from '../internal/bytes.js';

/** Length of a backup key in bytes. */
export const BACKUP_KEY_BYTES = 32;

/** Number of hex digits in a backup key code. */
export const BACKUP_KEY_DIGITS = 64;

/**
 * Longest text {@link parseBackupKey} looks at. A generous code with separators is about 80
 * characters; the cap keeps a pasted document from being scanned character by character.
 */
export const MAX_BACKUP_KEY_TEXT_LENGTH = 1024;

/**
 * The shape of the `KEY_FORMAT` errors thrown by {@link parseBackupKey} and
 * {@link backupKeyTypoCandidates}: an {@link E2EEError} with extra fields so that a user interface
 * can highlight the problem. Test for it with {@link isKeyFormatError}.
 */
export type KeyFormatError = E2EEError & {
  /** Always `'KEY_FORMAT'`. */
  readonly code: 'KEY_FORMAT';
  /**
   * 1-based position, counted in Unicode code points, of the first character that is neither a
   * hex digit nor a separator; `undefined` when the problem is the number of digits or the length.
   */
  readonly position: number | undefined;
  /**
   * 0-based UTF-16 index of that character in the original text (what `setSelectionRange`
   * expects); `undefined` whenever `position` is.
   */
  readonly offset: number | undefined;
  /** How many hex digits were found, when the problem is their number; otherwise `undefined`. */
  readonly digits: number | undefined;
};

/**
 * True when `err` is a `KEY_FORMAT` error carrying the {@link KeyFormatError} fields.
 *
 * @example
 * ```ts
 * try {
 *   key = parseBackupKey(input.value);
 * } catch (err) {
 *   if (!isKeyFormatError(err)) throw err;
 *   if (err.offset !== undefined) input.setSelectionRange(err.offset, err.offset + 1);
 *   showError(err.message); // e.g. "backup key code: character 17 'o' is not a hex digit"
 * }
 * ```
 */
export function isKeyFormatError(err: unknown): err is KeyFormatError {
  return err instanceof E2EEError && err.code === 'KEY_FORMAT' && 'position' in err && 'digits' in err;
}

/**
 * A fresh random backup key from the platform CSPRNG (`crypto.getRandomValues`), or from the
 * provider's when one was given (`setCryptoProvider`).
 *
 * @example
 * ```ts
 * const key = generateBackupKey(); // Uint8Array(32)
 * ```
 */
export function generateBackupKey(): Uint8Array {
  return randomBytes(BACKUP_KEY_BYTES);
}

/**
 * The code shown to people: 64 lowercase hex digits in 16 groups of 4, separated by single spaces.
 *
 * @throws E2EEError `INVALID_KEY_SIZE` if `key` is not 32 bytes; `INVALID_ARGUMENT` if it is not a
 *   `Uint8Array`.
 * @example
 * ```ts
 * formatBackupKey(new Uint8Array(32).fill(0xab));
 * // 'abab abab abab abab abab abab abab abab abab abab abab abab abab abab abab abab'
 * ```
 */
export function formatBackupKey(key: Uint8Array): string {
  if (!(key instanceof Uint8Array))
    throw new E2EEError('INVALID_ARGUMENT', 'backup key must be a Uint8Array');
  if (key.length !== BACKUP_KEY_BYTES) {
    throw new E2EEError(
      'INVALID_KEY_SIZE',
      `backup key is ${key.length} bytes long; it must be ${BACKUP_KEY_BYTES}`,
    );
  }
  return toHex(key).replace(/(.{4})(?!$)/g, '$1 ');
}

/**
 * Reads a backup key code typed or pasted by a person.
 *
 * Accepted: hex digits in any case, with spaces, tabs, line breaks (`\n`, `\r`) and `-` anywhere
 * between them. Anything else — including look-alikes such as Cyrillic `о`, full-width digits or a
 * no-break space — is rejected rather than guessed at, because every 64-digit string is a valid key
 * and a silent guess would just produce a wrong one.
 *
 * @throws E2EEError `KEY_FORMAT` (a {@link KeyFormatError}) naming the first offending character's
 *   1-based position and the problem, e.g. `character 17 'o' is not a hex digit`, or the digit
 *   count, e.g. `63 digits: one is missing`; also for empty text and text longer than
 *   {@link MAX_BACKUP_KEY_TEXT_LENGTH}. `INVALID_ARGUMENT` if `text` is not a string.
 * @example
 * ```ts
 * const key = parseBackupKey('ABAB-abab abab ...'); // Uint8Array(32)
 * ```
 */
export function parseBackupKey(text: string): Uint8Array {
  const digits = scanDigits(text);
  if (digits.length !== BACKUP_KEY_DIGITS) throw digitCountError(digits.length);
  return fromHex(digits);
}

/** Which single typo a {@link BackupKeyCandidate} undoes. */
export type TypoKind = 'substitution' | 'transposition' | 'missing' | 'extra';

/** A key one typo away from a typed code, with the typo it assumes. */
export interface BackupKeyCandidate {
  /** The corrected 32-byte key. */
  key: Uint8Array;
  /** The typo this candidate assumes, to show the user what was corrected. */
  correction: {
    /** Which kind of typo. */
    kind: TypoKind;
    /**
     * 1-based digit index (separators not counted) in the typed code:
     * - `substitution`: the digit that was replaced;
     * - `transposition`: the first of the two swapped digits;
     * - `missing`: the digit is inserted before typed digit `position` (64 = appended at the end);
     * - `extra`: the typed digit that is removed.
     *
     * Where a run of equal digits makes several positions give the same key, the first is reported.
     */
    position: number;
  };
}

/**
 * Every distinct key one typo away from a mistyped code, for trying against a backup (one key-slot
 * unwrap each). The code is read like {@link parseBackupKey} but may have 63, 64 or 65 digits:
 *
 * - 63 digits: every insertion of one hex digit (`missing`), by position then digit 0–f —
 *   961 keys;
 * - 64 digits: first every adjacent transposition of two different digits (`transposition`, at
 *   most 63, tried first because they are few), then every single-digit substitution
 *   (`substitution`, 64 × 15 = 960) by position then digit 0–f. The typed key itself is not
 *   included;
 * - 65 digits: every deletion of one digit (`extra`), by position — at most 65 keys.
 *
 * No key is produced twice. Validation happens at call time, before the first candidate.
 *
 * @throws E2EEError `KEY_FORMAT` exactly as {@link parseBackupKey} would, for a non-hex character
 *   or for any other digit count.
 * @example
 * ```ts
 * for (const { key, correction } of backupKeyTypoCandidates(typed)) {
 *   if (await tryOpen(key)) return { key, correction };
 * }
 * ```
 */
export function backupKeyTypoCandidates(text: string): Generator<BackupKeyCandidate> {
  const digits = scanDigits(text);
  const n = digits.length;
  if (n < BACKUP_KEY_DIGITS - 1 || n > BACKUP_KEY_DIGITS + 1) throw digitCountError(n);
  return generateCandidates(digits);
}

function* generateCandidates(s: string): Generator<BackupKeyCandidate> {
  const n = s.length;
  if (n === BACKUP_KEY_DIGITS - 1) {
    for (let gap = 0; gap <= n; gap++) {
      for (const d of HEX) {
        // Inserting d anywhere inside a run of d gives the same key: only insert at the run's start.
        if (gap > 0 && s[gap - 1] === d) continue;
        yield candidate(s.slice(0, gap) + d + s.slice(gap), 'missing', gap + 1);
      }
    }
  } else if (n === BACKUP_KEY_DIGITS + 1) {
    for (let i = 0; i < n; i++) {
      // Deleting any digit of a run gives the same key: only delete the run's first digit.
      if (i > 0 && s[i - 1] === s[i]) continue;
      yield candidate(s.slice(0, i) + s.slice(i + 1), 'extra', i + 1);
    }
  } else {
    for (let i = 0; i + 1 < n; i++) {
      if (s[i] === s[i + 1]) continue;
      yield candidate(s.slice(0, i) + s[i + 1] + s[i] + s.slice(i + 2), 'transposition', i + 1);
    }
    for (let i = 0; i < n; i++) {
      for (const d of HEX) {
        if (d === s[i]) continue;
        yield candidate(s.slice(0, i) + d + s.slice(i + 1), 'substitution', i + 1);
      }
    }
  }
}

function candidate(digits: string, kind: TypoKind, position: number): BackupKeyCandidate {
  return { key: fromHex(digits), correction: { kind, position } };
}

/** The lowercase hex digits of `text`, separators dropped; throws at the first other character. */
function scanDigits(text: string): string {
  if (typeof text !== 'string') throw new E2EEError('INVALID_ARGUMENT', 'backup key code must be a string');
  if (text.length > MAX_BACKUP_KEY_TEXT_LENGTH) {
    throw keyFormatError(
      `the text is ${text.length} characters long; a backup key code has at most ${MAX_BACKUP_KEY_TEXT_LENGTH}`,
      undefined,
      undefined,
      undefined,
    );
  }
  let digits = '';
  let position = 0;
  let offset = 0;
  // for..of walks code points, so an astral character counts as one character, as people see it.
  for (const ch of text) {
    position++;
    if (/^[0-9a-fA-F]$/.test(ch)) digits += ch.toLowerCase();
    else if (!/^[ \t\n\r-]$/.test(ch)) {
      throw keyFormatError(`character ${position} ${describeChar(ch)}`, position, offset, undefined);
    }
    offset += ch.length;
  }
  return digits;
}

function digitCountError(n: number): KeyFormatError {
  const want = BACKUP_KEY_DIGITS;
  let problem: string;
  if (n === 0) problem = 'the text has no hex digits; a backup key code has 64';
  else if (n < want) problem = `${n} digits: ${want - n === 1 ? 'one is' : `${want - n} are`} missing`;
  else problem = `${n} digits: ${n - want === 1 ? 'one' : n - want} too many`;
  return keyFormatError(problem, undefined, undefined, n);
}

/** Names the offending character so that invisible and look-alike characters can be told apart. */
function describeChar(ch: string): string {
  const cp = ch.codePointAt(0)!;
  const u = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  const visible = /^[\p{L}\p{N}\p{P}\p{S}]$/u.test(ch);
  let shown: string;
  if (visible && cp >= 0x21 && cp <= 0x7e) shown = `'${ch}'`;
  else if (visible) {
    // NFKC maps full-width and other compatibility forms to what they look like, e.g. '０' → '0'.
    const plain = ch.normalize('NFKC');
    const hint = plain !== ch && /^[0-9a-fA-F -]$/.test(plain) ? `, looks like '${plain}'` : '';
    shown = `'${ch}' (${u}${hint})`;
  } else shown = u;
  return /^[\p{L}\p{N}]$/u.test(ch)
    ? `${shown} is not a hex digit`
    : `${shown} is not a hex digit or an allowed separator (space, tab, line break, '-')`;
}

function keyFormatError(
  problem: string,
  position: number | undefined,
  offset: number | undefined,
  digits: number | undefined,
): KeyFormatError {
  const err = new E2EEError('KEY_FORMAT', `backup key code: ${problem}`);
  return Object.assign(err, { position, offset, digits }) as KeyFormatError;
}
