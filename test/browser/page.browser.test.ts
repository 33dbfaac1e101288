// Every suite of suites/index.ts as vitest tests in a real Chromium page, through WebCrypto.
import { describe, expect, inject, it } from 'vitest';
import './provided.js';
import { SUITES } from './suites/index.js';

const data = inject('shared');

describe('the page', () => {
  it('is headless Chromium in a secure context with WebCrypto, and no Node', () => {
    expect(navigator.userAgent).toMatch(/Chrom(e|ium)\//);
    expect(typeof document).toBe('object');
    expect(isSecureContext).toBe(true);
    expect(typeof crypto.subtle?.encrypt).toBe('function');
    expect(
      (globalThis as { process?: { getBuiltinModule?: unknown } }).process?.getBuiltinModule,
    ).toBeUndefined();
  });
});

for (const suite of SUITES) {
  describe(suite.name, () => {
    for (const check of suite.checks(data)) it(check.name, check.run, check.timeout);
  });
}
