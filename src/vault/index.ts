/**
 * `e2ee-backup/vault`: the backup key vault. A password the user can remember unlocks the backup
 * key from a server that never learns the password, cannot test guesses offline, and destroys the
 * key after 10 wrong ones.
 *
 * - OPAQUE-3DH (RFC 9807, ristretto255-SHA512): `opaque.ts`.
 * - The vault protocol (labels, KSF, sealed key, device credential, client steps): `protocol.ts`.
 * - The fetch-based client, for browsers and servers alike: {@link createVaultClient}.
 * - The transport-free server logic ({@link createVaultService}), the store contract and an
 *   in-memory store.
 *
 * Everything here runs in browsers, workers, Node, Bun and Deno. The HTTP server, the key file
 * and the SQLite and PostgreSQL stores are in `e2ee-backup/vault/server` (`server-node.ts`).
 *
 * @module
 */

export { fromBase64url, toBase64url } from './base64url.js';
export {
  createVaultClient,
  retryAfterMs,
  type VaultClient,
  type VaultClientOptions,
  VaultError,
  type VaultInfo,
} from './client.js';
export {
  generateVaultKeyFile,
  parseVaultKeyFile,
  staticKeyProvider,
  type VaultKeyFile,
  type VaultKeyProvider,
  type VaultServerSecrets,
} from './keys.js';
export * from './opaque.js';
export * from './protocol.js';
export { type RateLimit, TokenBuckets } from './rate-limit.js';
export {
  createVaultService,
  DEFAULT_VAULT_LIMITS,
  VAULT_HTTP_STATUS,
  type VaultLimits,
  type VaultLogEvent,
  type VaultOperation,
  type VaultRequestContext,
  type VaultResponse,
  type VaultService,
  type VaultServiceOptions,
} from './service.js';
export type {
  AccountStatus,
  AttemptResult,
  CommitInput,
  CommitOutcome,
  DeleteOutcome,
  FakeCounter,
  LoginOutcome,
  PendingLogin,
  PendingRegistration,
  VaultAccount,
  VaultStore,
} from './store.js';
export { CLAIMED_LOGIN_GRACE_MS } from './store.js';
export { createMemoryVaultStore } from './store-memory.js';
