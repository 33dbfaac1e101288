/**
 * `e2ee-backup/vault`: the backup key vault. A password the user can remember unlocks the backup
 * key from a server that never learns the password, cannot test guesses offline, and destroys the
 * key after 10 wrong ones.
 *
 * - OPAQUE-3DH (RFC 9807, ristretto255-SHA512): `opaque.ts`.
 * - The vault protocol (labels, KSF, sealed key, device credential, client steps): `protocol.ts`.
 * - The fetch-based client, for browsers and servers alike: {@link createVaultClient}.
 *
 * The client side only: everything here runs in browsers, workers, Node, Bun and Deno, and
 * nothing of the server is reachable from it. The server (its logic, the store contract and
 * stores, the key file, the server half of OPAQUE, the HTTP app) is `e2ee-backup/vault/server`
 * (`server-node.ts`).
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
// The client half of OPAQUE and the messages both halves exchange. The server half (and the
// deterministic variants the RFC vectors need) is not here.
export {
  type AuthRequest,
  type AuthResponse,
  type CleartextCredentials,
  type ClientLoginState,
  type CredentialRequest,
  type CredentialResponse,
  createRegistrationRequest,
  deserializeAuthRequest,
  deserializeAuthResponse,
  deserializeCredentialRequest,
  deserializeCredentialResponse,
  deserializeEnvelope,
  deserializeKE1,
  deserializeKE2,
  deserializeKE3,
  deserializeRegistrationRecord,
  deserializeRegistrationRequest,
  deserializeRegistrationResponse,
  type Envelope,
  type FinalizeRegistrationParams,
  finalizeRegistrationRequest,
  type GenerateKE3Params,
  generateKE1,
  generateKE3,
  type KE1,
  type KE2,
  type KE3,
  type Ksf,
  OPAQUE_ERRORS,
  OPAQUE_MESSAGE_LENGTHS,
  OPAQUE_SIZES,
  type OpaqueIdentities,
  type OpaqueLoginOptions,
  type RegistrationClientState,
  type RegistrationRecord,
  type RegistrationRequest,
  type RegistrationResponse,
  serializeAuthRequest,
  serializeAuthResponse,
  serializeCleartextCredentials,
  serializeCredentialRequest,
  serializeCredentialResponse,
  serializeEnvelope,
  serializeKE1,
  serializeKE2,
  serializeKE3,
  serializeRegistrationRecord,
  serializeRegistrationRequest,
  serializeRegistrationResponse,
} from './opaque/opaque.js';
export {
  accountBytes,
  BACKUP_KEY_BYTES,
  CREDENTIAL_ID_BYTES,
  checkKsfParams,
  createArgon2idKsf,
  DEFAULT_KSF_PARAMS,
  DEFAULT_MAX_ATTEMPTS,
  DEVICE_CREDENTIAL_BYTES,
  DEVICE_CREDENTIAL_INFO,
  DEVICE_SALT_BYTES,
  type DeleteRequest,
  type DeleteResponse,
  type DeviceSaltRequest,
  type DeviceSaltResponse,
  deriveDeviceCredential,
  deriveSealKey,
  deviceVerifier,
  type ErrorResponse,
  type FinishLoginParams,
  type FinishRegistrationParams,
  finishLogin,
  finishRegistration,
  type InfoResponse,
  KSF_SALT,
  type KsfParams,
  type LoginAbortRequest,
  type LoginAbortResponse,
  type LoginFinishRequest,
  type LoginFinishResponse,
  type LoginStartRequest,
  type LoginStartResponse,
  MAX_ACCOUNT_BYTES,
  newDeviceSalt,
  opaqueOptions,
  openSealedBackupKey,
  passwordBytes,
  type RegisterFinishRequest,
  type RegisterFinishResponse,
  type RegisterStartRequest,
  type RegisterStartResponse,
  SEAL_KEY_INFO,
  SEAL_NONCE_BYTES,
  SEALED_KEY_BYTES,
  SESSION_ID_BYTES,
  sealBackupKey,
  serverKeyFingerprint,
  startLogin,
  startRegistration,
  VAULT_CONTEXT,
  VAULT_PROTOCOL_VERSION,
  type VaultLoginState,
  type VaultRegistrationState,
} from './protocol.js';
