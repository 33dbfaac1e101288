/**
 * The channel through which `e2ee-backup/testing` hands the chunked layer what the public API
 * never takes: a chosen salt and a chosen AES-GCM backend. A unique symbol, exported by no public
 * entry, so that only the testing entry can set it (see src/testing.ts), and the resumption of an
 * interrupted upload, which seals again under that upload's salt (src/container/payload-streams.ts `withSalt`,
 * SPEC.md §11).
 *
 * @module
 */

import type { AeadBackend } from '../primitives/aes-gcm.js';

/** What the testing entry may fix. */
export interface ChunkedHooks {
  /** The 24-byte Cobblestone salt, instead of a fresh random one. */
  salt?: Uint8Array;
  /** The AES-GCM backend, instead of the fastest one available. */
  backend?: AeadBackend;
}

/** The options key of {@link ChunkedHooks}. */
export const TEST_HOOKS: unique symbol = Symbol('e2ee-backup testing hooks');
