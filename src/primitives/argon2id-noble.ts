/**
 * Argon2id in pure JavaScript (@noble/hashes), in hash-wasm's call shape: the fallback where
 * WebAssembly is absent (Hermes, React Native's engine) and no provider gives Argon2id, and what
 * the `react-native` build uses in place of hash-wasm (tsup.config.ts). The same bytes as
 * hash-wasm, checked against the KDF vectors (test/provider.test.ts); far slower: see
 * docs/react-native.md for measured times. Internal.
 */

import { argon2idAsync } from '@noble/hashes/argon2.js';

/** hash-wasm's `argon2id` options, as kdf.ts passes them. */
interface Argon2idOptions {
  password: Uint8Array;
  salt: Uint8Array;
  parallelism: number;
  iterations: number;
  memorySize: number;
  hashLength: number;
  outputType: 'binary';
}

export function argon2id(o: Argon2idOptions): Promise<Uint8Array> {
  // maxmem: the parameters were bounded by validateKdfParams already (up to 1 GiB by default, or
  // what the caller raised maxima to); noble's own default cap (1 GiB) must not refuse them, and
  // it takes at most 2^32 − 1.
  return argon2idAsync(o.password, o.salt, {
    m: o.memorySize,
    t: o.iterations,
    p: o.parallelism,
    dkLen: o.hashLength,
    maxmem: Math.min(2 ** 32 - 1, o.memorySize * 1024),
    // Yields to the event loop every 10 ms, so that an app's UI stays responsive.
    asyncTick: 10,
  });
}
