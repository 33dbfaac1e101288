// The fallback path in Node: with node:crypto (process.getBuiltinModule) and WebCrypto
// (crypto.subtle) both hidden, defaultAeadBackend() is 'noble' and it passes the Wycheproof vectors.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { defaultAeadBackend } from '../../src/primitives/aes-gcm.js';
import './provided.js';
import { chunkedSuite } from './suites/chunked.js';
import { wycheproofSuite } from './suites/wycheproof.js';

const data = inject('shared');

describe('Node with node:crypto and WebCrypto hidden: the noble backend', () => {
  const hidden: [object, string, PropertyDescriptor | undefined][] = [];
  const hide = (target: object, prop: string) => {
    hidden.push([target, prop, Object.getOwnPropertyDescriptor(target, prop)]);
    Object.defineProperty(target, prop, { value: undefined, configurable: true });
  };
  beforeAll(() => {
    expect(defaultAeadBackend()).toBe('node');
    hide(globalThis.crypto, 'subtle');
    hide(process, 'getBuiltinModule');
  });
  afterAll(() => {
    for (const [target, prop, desc] of hidden.reverse()) {
      if (desc) Object.defineProperty(target, prop, desc);
      else delete (target as Record<string, unknown>)[prop];
    }
    expect(defaultAeadBackend()).toBe('node');
  });

  it("defaultAeadBackend() is 'noble'", () => {
    expect(defaultAeadBackend()).toBe('noble');
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
