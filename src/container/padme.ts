/**
 * Padmé padding (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and
 * Communication with PURBs", PETS 2019, §4): rounds a length up so that it leaks
 * O(log log L) bits, with at most about 12 % overhead (less for large files).
 *
 * @module
 */

import { E2EEError } from '../errors.js';

function bitLength(n: number): number {
  // Exact for every safe integer, unlike Math.log2 near powers of two.
  return n === 0 ? 0 : n.toString(2).length;
}

/**
 * The padded length for an unpadded length `length` (a safe integer ≥ 0):
 * E = ⌊log₂ L⌋, S = ⌊log₂ E⌋ + 1, then L rounded up to a multiple of 2^(E − S).
 * Lengths below 2 are returned unchanged (E = 0 leaves nothing to round).
 *
 * @example
 * ```ts
 * padme(1000);   // 1024
 * padme(5000);   // 5120
 * padme(2 ** 30 + 1); // 2 ** 30 + 2 ** 25
 * ```
 */
export function padme(length: number): number {
  if (!Number.isSafeInteger(length) || length < 0)
    throw new E2EEError('INVALID_ARGUMENT', 'padme: length must be a byte count');
  if (length < 2) return length;
  const e = bitLength(length) - 1;
  const s = bitLength(e);
  const unit = 2 ** (e - s);
  return Math.ceil(length / unit) * unit;
}
