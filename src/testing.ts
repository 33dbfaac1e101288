/**
 * `e2ee-backup/testing`: hooks for tests and test vectors. **Not for production.**
 *
 * Everything here fixes what real use must leave random or strong, so that output can be
 * reproduced byte for byte:
 *
 * - the chunked functions with a chosen 24-byte `salt`. Two messages under one key with one salt
 *   share every AES-GCM key and nonce: their plaintexts XOR out of the ciphertexts, and GCM's
 *   authentication key can be recovered, so anything can then be forged;
 * - a chosen AES-GCM `backend` (`'node'`, `'webcrypto'`, `'noble'`), to show they give the same bytes;
 * - OPAQUE's steps with their randomness given (`…Deterministic`): reused, it gives the server
 *   or an eavesdropper what the protocol keeps from them;
 * - {@link identityKsf}, a key-stretching function that does not stretch: with it, a stolen vault
 *   record can be guessed at the speed of a hash.
 *
 * The same functions without these options are in `e2ee-backup` and `e2ee-backup/chunked`, which
 * refuse a `salt` or `backend` option (`INVALID_ARGUMENT`). Import from here in tests only.
 *
 * @module
 */

import type { ChunkedOptions, ChunkedReader, RandomAccessSource } from './cobblestone/chunked.js';
import * as chunked from './cobblestone/chunked.js';
import { TEST_HOOKS } from './cobblestone/hooks.js';
import type { AeadBackend } from './primitives/aes-gcm.js';

export type { AeadBackend } from './primitives/aes-gcm.js';
export {
  createRegistrationRequestDeterministic,
  finalizeRegistrationRequestDeterministic,
  generateFakeKE2Deterministic,
  generateKE1Deterministic,
  generateKE2Deterministic,
  identityKsf,
  type KE1Randomness,
  type KE2Intermediates,
  type KE2Randomness,
  type RegistrationIntermediates,
} from './vault/opaque/opaque.js';

/** Chunked options with the test hooks. */
export interface TestChunkedOptions extends ChunkedOptions {
  /** The 24-byte salt. Never reuse one under a key outside a test: see the module's warning. */
  salt?: Uint8Array;
  /** The AES-GCM implementation (default: node:crypto, else WebCrypto, else @noble/ciphers). */
  backend?: AeadBackend;
}

function withHooks(options: TestChunkedOptions): ChunkedOptions {
  const { salt, backend, ...rest } = options;
  return { ...rest, [TEST_HOOKS]: { salt, backend } } as ChunkedOptions;
}

/** `encryptChunked` with a chosen salt and backend. Tests only. */
export function encryptChunked(
  inputKey: Uint8Array,
  plaintext: Uint8Array,
  options: TestChunkedOptions = {},
): Promise<Uint8Array> {
  return chunked.encryptChunked(inputKey, plaintext, withHooks(options));
}

/** `decryptChunked` on a chosen backend. Tests only. */
export function decryptChunked(
  inputKey: Uint8Array,
  ciphertext: Uint8Array,
  options: TestChunkedOptions = {},
): Promise<Uint8Array> {
  return chunked.decryptChunked(inputKey, ciphertext, withHooks(options));
}

/** `createEncryptStream` with a chosen salt and backend. Tests only. */
export function createEncryptStream(
  inputKey: Uint8Array,
  options: TestChunkedOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  return chunked.createEncryptStream(inputKey, withHooks(options));
}

/** `createDecryptStream` on a chosen backend. Tests only. */
export function createDecryptStream(
  inputKey: Uint8Array,
  options: TestChunkedOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  return chunked.createDecryptStream(inputKey, withHooks(options));
}

/** `openChunked` on a chosen backend. Tests only. */
export function openChunked(
  inputKey: Uint8Array,
  source: RandomAccessSource,
  options: TestChunkedOptions = {},
): Promise<ChunkedReader> {
  return chunked.openChunked(inputKey, source, withHooks(options));
}
