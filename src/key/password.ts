/**
 * What SPEC.md §3.5 asks of a password before anything uses it: non-empty, a valid Unicode
 * string, and only code points that Unicode 14.0.0 assigns, so that its NFC (and so the
 * Argon2id input) is the same in every implementation whose Unicode data is 14.0.0 or later.
 *
 * @module
 */

import { E2EEError } from '../errors.js';
import { toBytes } from '../internal/bytes.js';
import { UNICODE_ASSIGNED_RANGES, UNICODE_ASSIGNED_VERSION } from './unicode-assigned.js';
import { UNICODE_NFC_NEW_RANGES } from './unicode-nfc-new.js';

/** A membership test over ranges encoded as scripts/unicode/assigned.py writes them. */
function rangeSet(encoded: string): (cp: number) => boolean {
  let starts: Uint32Array | undefined;
  let ends: Uint32Array | undefined;
  return (cp) => {
    if (!starts || !ends) {
      const tokens = encoded.split(',');
      starts = new Uint32Array(tokens.length);
      ends = new Uint32Array(tokens.length);
      let prev = -1;
      tokens.forEach((token, i) => {
        const [gap, length] = token.split('.').map((h) => Number.parseInt(h, 16)) as [number, number];
        starts![i] = prev + 1 + gap;
        ends![i] = prev = starts![i]! + length;
      });
    }
    let lo = 0;
    let hi = starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (cp < starts[mid]!) hi = mid - 1;
      else if (cp > ends[mid]!) lo = mid + 1;
      else return true;
    }
    return false;
  };
}

/** Whether Unicode 14.0.0 assigns `cp` (a binary search in the generated ranges). */
export const assignedInUnicode14: (cp: number) => boolean = /* @__PURE__ */ rangeSet(UNICODE_ASSIGNED_RANGES);

const nfcNew = /* @__PURE__ */ rangeSet(UNICODE_NFC_NEW_RANGES);
let oldNfc: boolean | undefined;

/**
 * Whether this engine's `String.prototype.normalize` predates Unicode 14.0 (Hermes 0.12 does).
 * The probe is the KDF vectors' "a U+1DFA U+0301": U+1DFA COMBINING DOT BELOW LEFT, new in
 * Unicode 14.0 with combining class 218 (UnicodeData.txt 14.0.0), lets "a" and U+0301 compose
 * across it; older data takes it for a starter and leaves the string alone.
 */
export function nfcPredatesUnicode14(): boolean {
  oldNfc ??= 'a\u1dfa\u0301'.normalize('NFC') !== '\u00e1\u1dfa';
  return oldNfc;
}

/**
 * Refuses (`CRYPTO_PROVIDER`) a password whose NFC this engine may compute wrongly: on an engine
 * whose normalisation predates Unicode 14.0, one holding a character that Unicode 3.2 did not
 * have and that takes part in normalisation (src/key/unicode-nfc-new.ts). Deriving a key from a
 * wrong NFC would make a backup that the same password does not open anywhere else.
 */
export function checkEngineNormalizes(password: string): void {
  let position = 0;
  for (const ch of password) {
    position++;
    const cp = ch.codePointAt(0)!;
    if (cp >= 0x300 && nfcNew(cp) && nfcPredatesUnicode14())
      throw new E2EEError(
        'CRYPTO_PROVIDER',
        `the password holds ${hex(cp)} (character ${position}), which this JavaScript engine's Unicode ` +
          'normalisation predates (it is older than Unicode 14.0): it could derive another key than ' +
          'every other implementation, so it is refused here; use this password on a newer engine',
      );
  }
}

const hex = (cp: number) => `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * Refuses (`INVALID_ARGUMENT`) a password that SPEC.md §3.5 does not allow: an empty one, a
 * string with a lone UTF-16 surrogate (UTF-8 cannot encode it), or one holding a code point
 * that Unicode 14.0.0 leaves unassigned (its NFC could differ between implementations). A
 * string this engine may normalise wrongly is refused with `CRYPTO_PROVIDER`
 * ({@link checkEngineNormalizes}). A `Uint8Array` is taken as bytes the caller has already encoded (`deriveKeyFromPassword`, the
 * vault's key-stretching function): only its emptiness is checked. A backup's password is never
 * one: `encryptBackup` and `decryptBackup` refuse bytes.
 */
export function checkPassword(password: unknown): asserts password is string | Uint8Array {
  if (password instanceof Uint8Array) {
    if (password.length === 0) throw new E2EEError('INVALID_ARGUMENT', 'the password is empty');
    return;
  }
  if (typeof password !== 'string')
    throw new E2EEError('INVALID_ARGUMENT', 'the password must be a string or a Uint8Array');
  if (password.length === 0) throw new E2EEError('INVALID_ARGUMENT', 'the password is empty');
  // With the u flag, a surrogate pair is one code point, so \p{Cs} matches only lone halves.
  const lone = /\p{Cs}/u.exec(password);
  if (lone)
    throw new E2EEError(
      'INVALID_ARGUMENT',
      `the password has a lone UTF-16 surrogate at index ${lone.index}; it cannot be encoded as UTF-8`,
    );
  let position = 0;
  for (const ch of password) {
    position++;
    const cp = ch.codePointAt(0)!;
    if (cp >= 0x80 && !assignedInUnicode14(cp))
      throw new E2EEError(
        'INVALID_ARGUMENT',
        `the password holds ${hex(cp)} (character ${position}), which Unicode ${UNICODE_ASSIGNED_VERSION} does not assign; ` +
          'passwords are limited to characters it assigns, so that every implementation normalises them alike',
      );
  }
  checkEngineNormalizes(password);
}

/** UTF-8(NFC(password)) of a password {@link checkPassword} allows; a `Uint8Array` as it is. */
export function encodePassword(password: string | Uint8Array): Uint8Array {
  checkPassword(password);
  if (password instanceof Uint8Array) return password;
  return toBytes(password.normalize('NFC'));
}
