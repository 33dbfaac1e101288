// What makes the generator reproducible byte for byte: a seeded DRBG in place of the platform's
// randomness, and a platform-independent deflate for the library's encoder.
//
// - Randomness: the library draws only from `globalThis.crypto.getRandomValues`. While the
//   generator runs, that function is replaced: inside `seeded(label, fn)` it returns the
//   AES-256-CTR keystream of key SHA-256(SEED ‖ 0x00 ‖ label), zero IV; outside it throws, so
//   any ambient randomness that would reach a vector fails the run instead.
// - Deflate: node:zlib (and CompressionStream, which wraps it) may emit different bytes on other
//   Node versions or CPUs. The library falls back to fflate (pure JavaScript, pinned by
//   package-lock.json) when neither exists, so the generator hides both from it.
// - Time: every `createdAt` is passed explicitly; nothing reads the clock.
import { createCipheriv, createHash } from 'node:crypto';

export const SEED = 'e2ee-backup container v1 test vectors, seed 1';

/** A deterministic byte source for one label. */
export function drbg(label) {
  const key = createHash('sha256').update(`${SEED}\u0000${label}`).digest();
  const ctr = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return (n) => new Uint8Array(ctr.update(Buffer.alloc(n)));
}

let current;
const usedLabels = new Set();

/**
 * Runs `fn(random)` with the platform's randomness replaced by `drbg(label)` (also handed to `fn`).
 * Labels must be unique: two vectors never share random bytes by accident.
 */
export async function seeded(label, fn) {
  if (usedLabels.has(label)) throw new Error(`seed label used twice: ${label}`);
  if (current) throw new Error(`seeded(${label}) inside seeded(): generation must be sequential`);
  usedLabels.add(label);
  current = drbg(label);
  try {
    return await fn(current);
  } finally {
    current = undefined;
  }
}

/** Installs the replacements; returns a function that restores the platform. */
export function installDeterminism() {
  const crypto = globalThis.crypto;
  const original = Object.getOwnPropertyDescriptor(crypto, 'getRandomValues');
  Object.defineProperty(crypto, 'getRandomValues', {
    configurable: true,
    writable: true,
    value(array) {
      if (!current) throw new Error('randomness requested outside seeded(): it would make the vectors drift');
      new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(current(array.byteLength));
      return array;
    },
  });
  const getBuiltinModule = process.getBuiltinModule;
  process.getBuiltinModule = (id) =>
    id === 'node:zlib' || id === 'zlib' ? undefined : getBuiltinModule.call(process, id);
  const streams = {};
  for (const name of ['CompressionStream', 'DecompressionStream']) {
    streams[name] = Object.getOwnPropertyDescriptor(globalThis, name);
    Object.defineProperty(globalThis, name, { configurable: true, writable: true, value: undefined });
  }
  return () => {
    if (original) Object.defineProperty(crypto, 'getRandomValues', original);
    else delete crypto.getRandomValues;
    process.getBuiltinModule = getBuiltinModule;
    for (const [name, d] of Object.entries(streams)) {
      if (d) Object.defineProperty(globalThis, name, d);
      else delete globalThis[name];
    }
  };
}
