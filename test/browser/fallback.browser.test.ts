// The fallback path in the page: with crypto.subtle shadowed (and no node:crypto, as in any
// browser), defaultAeadBackend() is 'noble' and @noble/ciphers passes the Wycheproof vectors.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAead, defaultAeadBackend } from '../../src/primitives/aes-gcm.js';
import './provided.js';
import { chunkedSuite } from './suites/chunked.js';
import { wycheproofSuite } from './suites/wycheproof.js';

const data = inject('shared');

describe('no WebCrypto, no node:crypto: the noble backend', () => {
  beforeAll(() => {
    Object.defineProperty(globalThis.crypto, 'subtle', { value: undefined, configurable: true });
  });
  afterAll(() => {
    delete (globalThis.crypto as { subtle?: unknown }).subtle;
    expect(defaultAeadBackend()).toBe('webcrypto');
  });

  it("defaultAeadBackend() is 'noble', and 'webcrypto' cannot be forced", async () => {
    expect(globalThis.crypto.subtle).toBeUndefined();
    expect(defaultAeadBackend()).toBe('noble');
    await expect(createAead(new Uint8Array(32), 'webcrypto')).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  for (const suite of [
    chunkedSuite('noble'),
    wycheproofSuite({ name: 'Wycheproof via noble', backends: [undefined] }),
  ]) {
    describe(suite.name, () => {
      for (const check of suite.checks(data)) it(check.name, check.run, check.timeout);
    });
  }
});
