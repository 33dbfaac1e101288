/**
 * The vault server's long-term secrets and the interface through which it gets them.
 *
 * Browser-safe; the key file implementation (Node only) is in `server-node.ts`.
 *
 * @module
 */

import { E2EEError } from '../../errors.js';
import { randomBytes } from '../../internal/bytes.js';
import { fromBase64url, toBase64url } from '../base64url.js';
import { checkElement } from '../opaque/messages.js';
import { createFakeRecord, type FakeRecord, type ServerKeys, serverKeysFromSeed } from '../opaque/opaque.js';

/**
 * Everything secret the server holds outside its database: the OPRF seed (from which every
 * record's OPRF key is derived), the AKE key pair, and the fake record that answers logins for
 * unknown accounts. Whoever holds these *and* a copy of the database can guess passwords
 * offline; with only one of them, nobody can (THREAT-MODEL.md).
 */
export interface VaultServerSecrets {
  /** The OPRF seed and the AKE key pair. */
  serverKeys: ServerKeys;
  /** Answers logins for unknown accounts; must stay the same across restarts and nodes. */
  fakeRecord: FakeRecord;
}

/**
 * Where the server gets its secrets. The server calls `load()` once and keeps the result in
 * memory. The file provider (`fileKeyProvider`) is the default; a KMS provider could decrypt a
 * wrapped key file at start-up. An HSM that never releases the OPRF seed would need the OPAQUE
 * server functions split at the OPRF evaluation and the 3DH (not done yet: `opaque.ts` takes the
 * keys as bytes).
 */
export interface VaultKeyProvider {
  /** Fetches the secrets; a rejection fails the request, and the next request tries again. */
  load(): Promise<VaultServerSecrets>;
}

/** A provider over secrets already in memory (tests, or secrets injected by the caller). */
export function staticKeyProvider(secrets: VaultServerSecrets): VaultKeyProvider {
  return { load: async () => secrets };
}

/** The serialised secrets of a key file (JSON, base64url fields). */
export interface VaultKeyFile {
  /** Identifies the file's kind. */
  format: 'e2ee-backup vault keys';
  /** Format version; only 1 exists. */
  version: 1;
  /** ISO 8601 creation time; informational. */
  created: string;
  /** 64 random bytes. */
  oprfSeed: string;
  /** 32 random bytes; the AKE key pair is DeriveDiffieHellmanKeyPair(akeSeed). */
  akeSeed: string;
  /** The fake record's ristretto255 public key (32 bytes). */
  fakeClientPublicKey: string;
  /** The fake record's masking key (64 bytes). */
  fakeMaskingKey: string;
}

/** Fresh secrets, serialised for a key file. */
export function generateVaultKeyFile(now = new Date()): VaultKeyFile {
  const fake = createFakeRecord();
  return {
    format: 'e2ee-backup vault keys',
    version: 1,
    created: now.toISOString(),
    oprfSeed: toBase64url(randomBytes(64)),
    akeSeed: toBase64url(randomBytes(32)),
    fakeClientPublicKey: toBase64url(fake.clientPublicKey),
    fakeMaskingKey: toBase64url(fake.maskingKey),
  };
}

/**
 * Parses and checks a key file's JSON.
 *
 * @throws E2EEError `INVALID_ARGUMENT` naming the first problem.
 */
export function parseVaultKeyFile(json: unknown): VaultServerSecrets {
  const bad = (what: string) => new E2EEError('INVALID_ARGUMENT', `vault key file: ${what}`);
  if (typeof json !== 'object' || json === null) throw bad('not a JSON object');
  const f = json as Record<string, unknown>;
  if (f['format'] !== 'e2ee-backup vault keys') throw bad('unknown format');
  if (f['version'] !== 1) throw bad(`unsupported version ${String(f['version'])}`);
  const field = (name: string, length: number): Uint8Array => {
    const value = typeof f[name] === 'string' ? fromBase64url(f[name] as string) : undefined;
    if (!value || value.length !== length) throw bad(`${name} must be ${length} bytes of base64url`);
    return value;
  };
  const oprfSeed = field('oprfSeed', 64);
  const akeSeed = field('akeSeed', 32);
  const clientPublicKey = field('fakeClientPublicKey', 32);
  const maskingKey = field('fakeMaskingKey', 64);
  try {
    checkElement(clientPublicKey, 'fakeClientPublicKey');
  } catch {
    throw bad('fakeClientPublicKey is not a ristretto255 element');
  }
  const serverKeys = serverKeysFromSeed(oprfSeed, akeSeed);
  oprfSeed.fill(0);
  akeSeed.fill(0);
  return { serverKeys, fakeRecord: { clientPublicKey, maskingKey } };
}
