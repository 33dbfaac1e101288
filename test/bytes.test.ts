// Byte helpers of src/internal/bytes.ts that no other suite covers on their own.
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { isAllZero } from '../src/internal/bytes.js';

describe('isAllZero', () => {
  test.prop([
    fc.integer({ min: 0, max: 70 }),
    fc.integer({ min: 0, max: 7 }),
    fc.option(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 }))),
  ])('is true exactly when no byte is set, at any length and offset', (length, offset, dirty) => {
    const bytes = new Uint8Array(offset + length + 3).subarray(offset, offset + length);
    if (dirty && length > 0) bytes[dirty[0] % length] = dirty[1];
    expect(isAllZero(bytes)).toBe(bytes.every((b) => b === 0));
  });

  test('ignores the bytes around a view', () => {
    const around = Uint8Array.of(9, 0, 0, 0, 9);
    expect(isAllZero(around.subarray(1, 4))).toBe(true);
    expect(isAllZero(around.subarray(0, 4))).toBe(false);
    expect(isAllZero(around.subarray(1, 5))).toBe(false);
  });
});
