// Padmé as SPEC.md §5.4 defines it, checked against the text, not the code: for L < 2, L;
// otherwise E = ⌊log₂ L⌋, S = ⌊log₂ E⌋ + 1, and L rounded up to a multiple of 2^(E − S). The
// reference below works on BigInt, with the logarithms found by doubling, so it shares neither
// padme()'s bit-length trick nor its floating point.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { padme } from '../src/container/padme.js';
import { E2EEError } from '../src/errors.js';

/** ⌊log₂ x⌋ for x ≥ 1, by doubling. */
function floorLog2(x: bigint): bigint {
  let e = 0n;
  while (2n ** (e + 1n) <= x) e++;
  return e;
}

function reference(length: number): number {
  const l = BigInt(length);
  if (l < 2n) return length;
  const e = floorLog2(l);
  const s = floorLog2(e) + 1n;
  const unit = 2n ** (e - s);
  return Number(((l + unit - 1n) / unit) * unit);
}

describe('padme (SPEC.md §5.4)', () => {
  it("gives the spec's examples", () => {
    expect(padme(1000)).toBe(1024);
    expect(padme(5000)).toBe(5120);
    expect(padme(2 ** 30 + 1)).toBe(2 ** 30 + 2 ** 25);
  });

  it('leaves 0 and 1 unchanged', () => {
    expect(padme(0)).toBe(0);
    expect(padme(1)).toBe(1);
  });

  it('matches the definition for every length up to 4096', () => {
    for (let l = 0; l <= 4096; l++) expect(padme(l), `Padmé(${l})`).toBe(reference(l));
  });

  it('matches the definition on each side of every power of two, up to 2^53 - 1', () => {
    for (let k = 1; k <= 53; k++) {
      for (const d of [-2, -1, 0, 1, 2]) {
        const l = 2 ** k + d;
        if (l < 0 || !Number.isSafeInteger(l)) continue;
        expect(padme(l), `Padmé(2^${k} + ${d})`).toBe(reference(l));
      }
    }
    expect(padme(Number.MAX_SAFE_INTEGER)).toBe(reference(Number.MAX_SAFE_INTEGER));
  });

  it('matches the definition for any safe length', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (l) => {
        expect(padme(l)).toBe(reference(l));
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses what is not a byte count with INVALID_ARGUMENT, saying so', () => {
    for (const bad of [
      -1,
      -0.5,
      0.5,
      1.5,
      1000.25,
      Number.NaN,
      Infinity,
      -Infinity,
      2 ** 53,
      '10' as never,
    ]) {
      let err: unknown;
      try {
        padme(bad);
      } catch (e) {
        err = e;
      }
      expect(err, String(bad)).toBeInstanceOf(E2EEError);
      expect((err as E2EEError).code).toBe('INVALID_ARGUMENT');
      expect((err as E2EEError).message).toMatch(/padme: length must be a byte count/);
    }
  });
});
