/**
 * The output lengths RFC 5869 allows, 1 to 255 × HashLen bytes, checked by both backends of
 * ./hashes.ts so that they refuse the same lengths the same way (node:crypto would refuse 0 where
 * noble returns nothing). Internal module.
 */
export function checkOkmLength(length: number, hashLen: number): void {
  if (!Number.isInteger(length) || length < 1 || length > 255 * hashLen) throw new RangeError('HKDF length');
}
