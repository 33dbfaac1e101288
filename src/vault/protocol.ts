/**
 * The backup key vault protocol on top of OPAQUE (RFC 9807): every label, length and composition
 * the client and the server must agree on, the JSON wire types, and the client's steps as pure
 * functions over bytes (no I/O, so any transport can carry them; {@link createVaultClient} is the
 * fetch-based one). The compositions are written out in `SPEC.md`, section 9.
 *
 * Browser-safe: no `node:` imports.
 *
 * @module
 */

import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { E2EEError } from '../errors.js';
import { concat, constantTimeEqual, isAllZero, randomBytes, toBytes, toHex } from '../internal/bytes.js';
import { hkdfExpandSha512 } from '../internal/hashes.js';
import { checkEngineNormalizes } from '../key/password.js';
import { createAead } from '../primitives/aes-gcm.js';
import {
  type Argon2idParams,
  DEFAULT_KDF_PARAMS,
  deriveKeyFromPassword,
  type KdfOptions,
  validateKdfParams,
} from '../primitives/kdf.js';
import {
  type ClientLoginState,
  createRegistrationRequest,
  deserializeKE2,
  deserializeRegistrationResponse,
  finalizeRegistrationRequest,
  generateKE1,
  generateKE3,
  type Ksf,
  type OpaqueLoginOptions,
  type RegistrationClientState,
  serializeKE1,
  serializeKE3,
  serializeRegistrationRecord,
  serializeRegistrationRequest,
} from './opaque/opaque.js';

// ---------------------------------------------------------------------------------------------
// Constants (each one is part of the protocol: changing it breaks every stored record)

/** Protocol name and version, reported by `GET /v1/info`. */
export const VAULT_PROTOCOL_VERSION = 'e2ee-backup-vault/1';

/** Attempts a new or successfully opened record gets; the 10 of WhatsApp, Apple and Google. */
export const DEFAULT_MAX_ATTEMPTS = 10;

/** The OPAQUE 3DH `context` (bound into the transcript of every login). */
export const VAULT_CONTEXT = toBytes('e2ee-backup vault v1');

/**
 * The Argon2id salt of the KSF. Constant on purpose: Argon2's input is the OPRF output, which is
 * already unique per (server OPRF key, random credential identifier, password), so a per-user salt
 * would add nothing; the label only separates this use of Argon2id from others. (opaque-ke uses
 * an all-zero salt for the same reason.)
 */
export const KSF_SALT = toBytes('e2ee-backup vault KSF v1');

/** HKDF-Expand info for the key that seals the backup key, from OPAQUE's export_key. */
export const SEAL_KEY_INFO = toBytes('e2ee-backup vault seal key v1');

/** HKDF info prefix for the device credential (followed by 0x00 and the account; SPEC.md §9.4). */
export const DEVICE_CREDENTIAL_INFO = toBytes('e2ee-backup vault device credential v1');

/** Prefix of the credential identifier used for unknown accounts (fake records). */
export const FAKE_CREDENTIAL_PREFIX = toBytes('e2ee-backup vault unknown account v1:');

/** Length of the backup key the vault protects. */
export const BACKUP_KEY_BYTES = 32;
/** Random credential identifier the server picks for every registration. */
export const CREDENTIAL_ID_BYTES = 32;
/** The device credential, and the SHA-256 verifier the server keeps of it. */
export const DEVICE_CREDENTIAL_BYTES = 32;
/** The device salt: drawn by the client for every registration, the HKDF salt of its device credential. */
export const DEVICE_SALT_BYTES = 32;
/** AES-GCM nonce of the sealed key. */
export const SEAL_NONCE_BYTES = 12;
/** nonce ‖ AES-256-GCM(backup key) ‖ tag. */
export const SEALED_KEY_BYTES = SEAL_NONCE_BYTES + BACKUP_KEY_BYTES + 16;
/** Random login and registration ids (base64url on the wire: 22 characters). */
export const SESSION_ID_BYTES = 16;
/** Longest account name, in UTF-8 bytes. */
export const MAX_ACCOUNT_BYTES = 256;

// ---------------------------------------------------------------------------------------------
// Wire types (JSON; every binary field is unpadded base64url)

/** The key-stretching parameters stored with a record and returned at login. */
export interface KsfParams extends Argon2idParams {
  /** The only KSF so far; named so that another can be added without ambiguity. */
  algorithm: 'argon2id';
}

/** `GET /v1/info`. */
export interface InfoResponse {
  /** Protocol name and version ({@link VAULT_PROTOCOL_VERSION}). */
  protocol: typeof VAULT_PROTOCOL_VERSION;
  /**
   * The server's AKE public key (32 bytes). A client with a pinned key compares it before every
   * operation: a check against a wrong server, not an authentication (SPEC.md §9.1).
   */
  serverPublicKey: string;
  /** Wrong passwords in a row after which a record is destroyed. */
  maxAttempts: number;
  /** The KSF parameters the server suggests for new registrations. */
  ksf: KsfParams;
}

/** `POST /v1/register/start`. */
export interface RegisterStartRequest {
  /** The account name, by the account profile of {@link accountBytes}. */
  account: string;
  /** OPAQUE RegistrationRequest (32 bytes). */
  registrationRequest: string;
}
/** The answer to `POST /v1/register/start`. */
export interface RegisterStartResponse {
  /** Names this registration in `register/finish` (16 random bytes). */
  registrationId: string;
  /** OPAQUE RegistrationResponse (64 bytes). */
  registrationResponse: string;
  /** How long the server waits for `register/finish` (5 minutes by default: Argon2 on a slow phone). */
  expiresInSeconds: number;
}

/** `POST /v1/device-salt`: the device salt of the account's current record (or tombstone). */
export interface DeviceSaltRequest {
  /** The account name, by the account profile of {@link accountBytes}. */
  account: string;
}
/** The answer to `POST /v1/device-salt` (404 `VAULT_NOT_FOUND` when the account has no record). */
export interface DeviceSaltResponse {
  /**
   * The salt of the device credential that authorises replacing, resetting or deleting the record
   * (32 bytes). The empty string for a record stored before device salts existed: clients refuse
   * it (SPEC.md §9.4).
   */
  deviceSalt: string;
}

/** `POST /v1/register/finish`. */
export interface RegisterFinishRequest {
  /** From {@link RegisterStartResponse}; single use. */
  registrationId: string;
  /** The same account as in `register/start`. */
  account: string;
  /** `register`: create, or replace when the device credential matches. `reset`: replace only. */
  mode: 'register' | 'reset';
  /** OPAQUE RegistrationRecord (192 bytes). */
  registrationRecord: string;
  /** nonce ‖ AES-256-GCM(backup key) (60 bytes). */
  sealedKey: string;
  /**
   * The new record's device salt (32 random bytes, fresh for every registration). The server
   * refuses all zeros and the salt the account already has (`VAULT_PROTOCOL`).
   */
  deviceSalt: string;
  /** SHA-256 of the new record's device credential (32 bytes): the credential itself is not sent. */
  deviceVerifier: string;
  /**
   * The device credential of the record being replaced (32 bytes), derived with its device salt:
   * required to replace a live record, and to register over a tombstone unless the deployment's
   * `authorize` gate approved the request. Absent when the account has no record.
   */
  deviceCredential?: string;
  /** The KSF parameters the client stretched with; stored and handed back at every login. */
  ksf: KsfParams;
}
/** The answer to `POST /v1/register/finish` (HTTP 201 when created, 200 when replaced). */
export interface RegisterFinishResponse {
  /** Whether the account had no live record (`created`) or had one (`replaced`). */
  status: 'created' | 'replaced';
  /** The attempts the record starts with: the full limit. */
  remainingAttempts: number;
}

/** `POST /v1/login/start`. */
export interface LoginStartRequest {
  /** The account name, by the account profile of {@link accountBytes}. */
  account: string;
  /** OPAQUE KE1 (96 bytes). */
  ke1: string;
}
/**
 * The answer to `POST /v1/login/start`. An unknown account gets the same answer, from a fake
 * record, so that logins do not reveal which accounts exist.
 */
export interface LoginStartResponse {
  /** Names this login in `login/finish` or `login/abort` (16 random bytes). */
  loginId: string;
  /** OPAQUE KE2 (320 bytes). */
  ke2: string;
  /** The KSF parameters stored with the record (the server's defaults for an unknown account). */
  ksf: KsfParams;
  /** Attempts left if this one fails (this one is already counted). */
  remainingAttempts: number;
  /** How long the server waits for `login/finish` (60 s by default); the attempt stays counted. */
  expiresInSeconds: number;
}

/** `POST /v1/login/finish`. */
export interface LoginFinishRequest {
  /** From {@link LoginStartResponse}; single use. */
  loginId: string;
  /** OPAQUE KE3 (64 bytes). */
  ke3: string;
}
/** The answer to `POST /v1/login/finish`: the password was right, and the counter is full again. */
export interface LoginFinishResponse {
  /** The sealed backup key (60 bytes). */
  sealedKey: string;
}

/** `POST /v1/login/abort`: the client could not finish (wrong password, bad server MAC). */
export interface LoginAbortRequest {
  /** From {@link LoginStartResponse}. */
  loginId: string;
}
/** The answer to `POST /v1/login/abort`: the attempt is settled as failed. */
export interface LoginAbortResponse {
  /** Attempts left (0 when none are, or the record was destroyed or replaced meanwhile). */
  remainingAttempts: number;
}

/** `POST /v1/delete`. */
export interface DeleteRequest {
  /** The account name, by the account profile of {@link accountBytes}. */
  account: string;
  /** The device credential (32 bytes): proof that the caller holds the backup key. */
  deviceCredential: string;
}
/** The answer to `POST /v1/delete`: the record is gone, with no tombstone. */
export interface DeleteResponse {
  /** Always `deleted`. */
  status: 'deleted';
}

/** The body of every 4xx and 5xx answer. */
export interface ErrorResponse {
  /** What went wrong. */
  error: {
    /** An {@link errors!ErrorCode} such as `WRONG_PASSWORD`; clients should branch on it. */
    code: string;
    /** A readable explanation, for people rather than programs. */
    message: string;
    /** With `WRONG_PASSWORD`: attempts left (0: the record has been destroyed). */
    remainingAttempts?: number;
    /** With `RATE_LIMITED`: seconds to wait (also sent as `Retry-After`). */
    retryAfterSeconds?: number;
  };
}

// ---------------------------------------------------------------------------------------------
// Accounts, passwords, KSF

/**
 * Code points an account name may not hold (SPEC.md §9.1, the account profile): controls (Cc),
 * format characters (Cf: zero-width spaces and joiners, bidirectional controls), surrogates (Cs),
 * private-use (Co) and unassigned (Cn) code points, line and paragraph separators (Zl, Zp),
 * default-ignorable code points (fillers, variation selectors) and every white space but U+0020.
 * Each is either invisible or rendered differently from place to place, so two names that look
 * alike would be two accounts.
 */
const ACCOUNT_FORBIDDEN =
  /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]|(?! )\p{White_Space}/u;

/**
 * Checks an account name against the vault's account profile and returns its UTF-8 bytes: 1 to
 * {@link MAX_ACCOUNT_BYTES} UTF-8 bytes, in Unicode NFC, with no invisible, control, private-use
 * or unassigned code point, no white space but U+0020 and none at either end (SPEC.md §9.1). The
 * client normalises to NFC before sending; the server refuses anything else, so that one account
 * has exactly one spelling on both sides.
 *
 * @throws E2EEError `INVALID_ARGUMENT`, naming the first offending code point and its position.
 */
export function accountBytes(account: unknown): Uint8Array {
  if (typeof account !== 'string' || account.length === 0) {
    throw new E2EEError('INVALID_ARGUMENT', 'the account must be a non-empty string');
  }
  const bad = ACCOUNT_FORBIDDEN.exec(account);
  if (bad) {
    const cp = bad[0].codePointAt(0)!;
    const position = [...account.slice(0, bad.index)].length + 1;
    throw new E2EEError(
      'INVALID_ARGUMENT',
      `the account has an invisible, control or unassigned character (U+${cp.toString(16).toUpperCase().padStart(4, '0')} at position ${position})`,
    );
  }
  if (account.startsWith(' ') || account.endsWith(' ')) {
    throw new E2EEError('INVALID_ARGUMENT', 'the account begins or ends with a space');
  }
  if (account.normalize('NFC') !== account) {
    throw new E2EEError('INVALID_ARGUMENT', 'the account is not in Unicode NFC');
  }
  const bytes = toBytes(account);
  if (bytes.length > MAX_ACCOUNT_BYTES) {
    throw new E2EEError('INVALID_ARGUMENT', `the account is longer than ${MAX_ACCOUNT_BYTES} UTF-8 bytes`);
  }
  return bytes;
}

/**
 * The password as OPAQUE input: a string is normalised to NFC and UTF-8 encoded (as
 * `deriveKeyFromPassword` does), bytes are used as they are. Non-empty, at most 65535 bytes.
 *
 * @throws E2EEError `INVALID_ARGUMENT`; `CRYPTO_PROVIDER` for a password this engine may normalise
 * wrongly (`checkEngineNormalizes`)
 */
export function passwordBytes(password: string | Uint8Array): Uint8Array {
  let bytes: Uint8Array;
  if (password instanceof Uint8Array) bytes = password;
  else if (typeof password === 'string') {
    if (/\p{Cs}/u.test(password)) {
      throw new E2EEError('INVALID_ARGUMENT', 'the password has a lone UTF-16 surrogate');
    }
    checkEngineNormalizes(password);
    bytes = toBytes(password.normalize('NFC'));
  } else throw new E2EEError('INVALID_ARGUMENT', 'the password must be a string or a Uint8Array');
  if (bytes.length === 0) throw new E2EEError('INVALID_ARGUMENT', 'the password is empty');
  if (bytes.length > 0xffff) throw new E2EEError('INVALID_ARGUMENT', 'the password is over 65535 bytes');
  return bytes;
}

/** The default KSF parameters: RFC 9106's second recommendation (64 MiB, 3 passes, 4 lanes). */
export const DEFAULT_KSF_PARAMS: Readonly<KsfParams> = Object.freeze({
  algorithm: 'argon2id',
  ...DEFAULT_KDF_PARAMS,
});

/**
 * Checks KSF parameters and returns them in canonical form.
 *
 * @param options - `purpose: 'create'` (default) applies OWASP's floor unless `allowWeak`;
 *   `'open'` only bounds them (`maxima`), for parameters received from a server.
 * @throws E2EEError `KDF_PARAMS` or `INVALID_ARGUMENT`
 */
export function checkKsfParams(params: unknown, options: KdfOptions = {}): KsfParams {
  if (typeof params !== 'object' || params === null) {
    throw new E2EEError('INVALID_ARGUMENT', 'ksf must be an object { algorithm, m, t, p }');
  }
  const p = params as Record<string, unknown>;
  if (p['algorithm'] !== 'argon2id') {
    throw new E2EEError('KDF_PARAMS', `unsupported KSF algorithm ${JSON.stringify(p['algorithm'])}`);
  }
  const out = { algorithm: 'argon2id', m: p['m'], t: p['t'], p: p['p'] } as KsfParams;
  validateKdfParams(out, options);
  return out;
}

/**
 * The KSF (RFC 9807 `Stretch`): Argon2id over the OPRF output, with the constant {@link KSF_SALT},
 * the given cost and a 32-byte output.
 */
export function createArgon2idKsf(params: KsfParams, options: KdfOptions = {}): Ksf {
  const { m, t, p } = checkKsfParams(params, options);
  return (input) => deriveKeyFromPassword(input, KSF_SALT, { m, t, p }, options);
}

// ---------------------------------------------------------------------------------------------
// Sealed key, device credential, credential identifiers

function checkBackupKey(backupKey: unknown): Uint8Array {
  if (!(backupKey instanceof Uint8Array) || backupKey.length !== BACKUP_KEY_BYTES) {
    throw new E2EEError('INVALID_KEY_SIZE', `the backup key must be ${BACKUP_KEY_BYTES} bytes`);
  }
  return backupKey;
}

/** `seal_key = HKDF-Expand-SHA512(export_key, "e2ee-backup vault seal key v1", 32)`. */
export function deriveSealKey(exportKey: Uint8Array): Uint8Array {
  if (!(exportKey instanceof Uint8Array) || exportKey.length !== 64) {
    throw new E2EEError('INVALID_ARGUMENT', 'export_key must be 64 bytes');
  }
  // export_key is itself an HKDF-Expand output of Nh = 64 uniform bytes: a valid PRK, no Extract.
  return hkdfExpandSha512(exportKey, SEAL_KEY_INFO, 32);
}

/** `sealed = nonce ‖ AES-256-GCM(seal_key, nonce, backup_key)`, with a random 12-byte nonce. */
export async function sealBackupKey(exportKey: Uint8Array, backupKey: Uint8Array): Promise<Uint8Array> {
  checkBackupKey(backupKey);
  const key = deriveSealKey(exportKey);
  try {
    const aead = await createAead(key);
    const sealed = new Uint8Array(SEALED_KEY_BYTES);
    const nonce = randomBytes(SEAL_NONCE_BYTES);
    sealed.set(nonce, 0);
    await aead.seal(nonce, backupKey, sealed, SEAL_NONCE_BYTES);
    return sealed;
  } finally {
    key.fill(0);
  }
}

/**
 * Opens a sealed key with the export_key of a successful login.
 *
 * @throws E2EEError `VAULT_PROTOCOL` if it has the wrong length or does not authenticate (the
 *   server sent something other than what this password's registration sealed).
 */
export async function openSealedBackupKey(exportKey: Uint8Array, sealed: Uint8Array): Promise<Uint8Array> {
  if (!(sealed instanceof Uint8Array) || sealed.length !== SEALED_KEY_BYTES) {
    throw new E2EEError('VAULT_PROTOCOL', `the sealed key must be ${SEALED_KEY_BYTES} bytes`);
  }
  const key = deriveSealKey(exportKey);
  try {
    const aead = await createAead(key);
    const opened = new Uint8Array(BACKUP_KEY_BYTES);
    const ok = await aead.open(
      sealed.subarray(0, SEAL_NONCE_BYTES),
      sealed.subarray(SEAL_NONCE_BYTES),
      opened,
      0,
    );
    if (!ok) {
      opened.fill(0); // the contract: whatever was written must be discarded
      throw new E2EEError('VAULT_PROTOCOL', 'the sealed key from the vault does not authenticate');
    }
    return opened;
  } finally {
    key.fill(0);
  }
}

/**
 * The device credential: what a device that holds the backup key shows the vault to replace,
 * reset or delete the record without the password (SPEC.md §9.4).
 * `HKDF-SHA512(salt = device_salt, IKM = backup_key, info = "e2ee-backup vault device credential v1" ‖ 0x00 ‖ account, 32)`.
 * The account keeps one backup key from authorising another account's record; the device salt,
 * drawn afresh by every registration, makes each registration's credential a new one, so a
 * credential seen once stops working at the next password change or reset.
 *
 * @param deviceSalt - The record's device salt: {@link DEVICE_SALT_BYTES} bytes, from
 *   `POST /v1/device-salt` or {@link newDeviceSalt}. All zeros is refused: to HKDF-SHA512 it is
 *   the empty salt, whose credential is the same for every registration of the key and account.
 * @throws E2EEError `VAULT_PROTOCOL` for another length or an all-zero salt.
 */
export function deriveDeviceCredential(
  backupKey: Uint8Array,
  account: string,
  deviceSalt: Uint8Array,
): Uint8Array {
  checkBackupKey(backupKey);
  if (!(deviceSalt instanceof Uint8Array) || deviceSalt.length !== DEVICE_SALT_BYTES) {
    throw new E2EEError('VAULT_PROTOCOL', `the device salt must be ${DEVICE_SALT_BYTES} bytes`);
  }
  if (isAllZero(deviceSalt)) {
    throw new E2EEError('VAULT_PROTOCOL', 'the device salt is all zeros, the same as no salt');
  }
  const info = concat(DEVICE_CREDENTIAL_INFO, Uint8Array.of(0), accountBytes(account));
  return hkdf(sha512, backupKey, deviceSalt, info, DEVICE_CREDENTIAL_BYTES);
}

/** A fresh device salt: {@link DEVICE_SALT_BYTES} bytes from the CSPRNG, one per registration. */
export function newDeviceSalt(): Uint8Array {
  return randomBytes(DEVICE_SALT_BYTES);
}

/**
 * What the server stores of a device credential: `SHA-256(device_credential)`. A plain hash
 * suffices because the credential is 256 uniformly random bits: there is nothing to guess.
 */
export function deviceVerifier(deviceCredential: Uint8Array): Uint8Array {
  if (!(deviceCredential instanceof Uint8Array) || deviceCredential.length !== DEVICE_CREDENTIAL_BYTES) {
    throw new E2EEError('VAULT_PROTOCOL', `the device credential must be ${DEVICE_CREDENTIAL_BYTES} bytes`);
  }
  return sha256(deviceCredential);
}

/**
 * The fingerprint people compare to check a vault server's key (SPEC.md §9.1): SHA-256 of its
 * 32-byte AKE public key, as 64 lower-case hex digits in 8 groups of 8 joined by hyphens
 * (`3f2a9c01-77d4e5f6-…`). `vault serve` prints it; `--server-key` pins it.
 */
export function serverKeyFingerprint(serverPublicKey: Uint8Array): string {
  if (!(serverPublicKey instanceof Uint8Array) || serverPublicKey.length !== 32) {
    throw new E2EEError('INVALID_ARGUMENT', 'a vault server public key is 32 bytes');
  }
  return toHex(sha256(serverPublicKey)).match(/.{8}/g)!.join('-');
}

/**
 * The credential identifier (OPRF key input) the server uses for an account that has no record:
 * `"e2ee-backup vault unknown account v1:" ‖ account`. Deterministic, so repeated probes of one
 * unknown account see one OPRF key, as they would for a real account. It can never equal a real
 * one, which is exactly {@link CREDENTIAL_ID_BYTES} random bytes and shorter.
 */
export function fakeCredentialIdentifier(account: string): Uint8Array {
  return concat(FAKE_CREDENTIAL_PREFIX, accountBytes(account));
}

/** The OPAQUE identities and context of the vault: client_identity = account, default server identity. */
export function opaqueOptions(account: string): OpaqueLoginOptions {
  return { clientIdentity: accountBytes(account), context: VAULT_CONTEXT };
}

// ---------------------------------------------------------------------------------------------
// Client steps

/** Client state between `register/start` and `register/finish`. Secret; single use. */
export interface VaultRegistrationState {
  /** The OPAQUE client state: the password and the OPRF blind. */
  readonly opaque: RegistrationClientState;
}

/** Registration, step 1: the OPAQUE RegistrationRequest to send to `register/start`. */
export function startRegistration(password: string | Uint8Array): {
  /** For `register/start` (32 bytes; send as base64url). */
  registrationRequest: Uint8Array;
  /** Keep for {@link finishRegistration}. */
  state: VaultRegistrationState;
} {
  const bytes = passwordBytes(password);
  try {
    const { request, state } = createRegistrationRequest(bytes);
    return { registrationRequest: serializeRegistrationRequest(request), state: { opaque: state } };
  } finally {
    if (bytes !== password) bytes.fill(0); // our encoding of a string; the state holds its own copy
  }
}

/** Parameters of {@link finishRegistration}. */
export interface FinishRegistrationParams {
  /** From {@link startRegistration}. */
  state: VaultRegistrationState;
  /** The account, in NFC: it becomes the OPAQUE client identity and is bound into the device credential. */
  account: string;
  /** The server's RegistrationResponse. */
  registrationResponse: Uint8Array;
  /** The 32-byte backup key to seal under the password. */
  backupKey: Uint8Array;
  /**
   * The device salt of the record this registration replaces (from `POST /v1/device-salt`), if
   * the account has one: the result then carries that record's device credential, which
   * authorises the replacement.
   */
  currentDeviceSalt?: Uint8Array;
  /** KSF cost; defaults to {@link DEFAULT_KSF_PARAMS}. */
  ksf?: Partial<Argon2idParams>;
  /** `allowWeak` (tests, weak hardware) and `maxima` for the KSF. */
  kdfOptions?: Pick<KdfOptions, 'allowWeak' | 'maxima'>;
  /**
   * When given, the key in the RegistrationResponse must be this one, else `SERVER_AUTH`. That
   * catches a wrong or re-keyed server, not an impostor: the key is a plain value it can copy,
   * and registration never proves the server holds the private key (SPEC.md §9.1). Only a
   * channel that authenticates the server protects a registration.
   */
  expectedServerPublicKey?: Uint8Array;
}

/**
 * Registration, step 2: finalises OPAQUE registration and returns what `register/finish` uploads:
 * the record, the backup key sealed under the export key, the new record's device salt and
 * device verifier, the current record's device credential (when `currentDeviceSalt` is given) and
 * the KSF parameters.
 */
export async function finishRegistration(params: FinishRegistrationParams): Promise<{
  /** The OPAQUE RegistrationRecord (192 bytes). */
  registrationRecord: Uint8Array;
  /** The backup key sealed under the export key (60 bytes). */
  sealedKey: Uint8Array;
  /** The new record's device salt (32 fresh random bytes). */
  deviceSalt: Uint8Array;
  /** SHA-256 of the new record's device credential (32 bytes). */
  deviceVerifier: Uint8Array;
  /**
   * The device credential of the record being replaced (32 bytes), when `currentDeviceSalt` was
   * given. Secret: zero it once sent.
   */
  deviceCredential?: Uint8Array;
  /** The KSF parameters used, in canonical form. */
  ksf: KsfParams;
}> {
  const { state, account, backupKey } = params;
  checkBackupKey(backupKey);
  const kdfOptions: KdfOptions = { ...params.kdfOptions, purpose: 'create' };
  const ksf = checkKsfParams({ ...DEFAULT_KSF_PARAMS, ...params.ksf, algorithm: 'argon2id' }, kdfOptions);
  const response = deserializeRegistrationResponse(params.registrationResponse);
  const pinned = params.expectedServerPublicKey;
  if (pinned && !constantTimeEqual(pinned, response.serverPublicKey)) {
    throw new E2EEError('SERVER_AUTH', 'the vault server public key is not the pinned one');
  }
  const { record, exportKey } = await finalizeRegistrationRequest({
    state: state.opaque,
    response,
    ksf: createArgon2idKsf(ksf, kdfOptions),
    clientIdentity: accountBytes(account),
  });
  try {
    const deviceSalt = newDeviceSalt();
    const credential = deriveDeviceCredential(backupKey, account, deviceSalt);
    const verifier = deviceVerifier(credential);
    credential.fill(0); // the new credential is never sent: only its hash
    return {
      registrationRecord: serializeRegistrationRecord(record),
      sealedKey: await sealBackupKey(exportKey, backupKey),
      deviceSalt,
      deviceVerifier: verifier,
      ...(params.currentDeviceSalt
        ? { deviceCredential: deriveDeviceCredential(backupKey, account, params.currentDeviceSalt) }
        : {}),
      ksf,
    };
  } finally {
    exportKey.fill(0);
  }
}

/** Client state between `login/start` and `login/finish`. Secret; single use. */
export interface VaultLoginState {
  /** The OPAQUE client state: the password, the OPRF blind and the ephemeral key. */
  readonly opaque: ClientLoginState;
}

/** Login, step 1: KE1 for `login/start`. */
export function startLogin(password: string | Uint8Array): {
  /** For `login/start` (96 bytes; send as base64url). */
  ke1: Uint8Array;
  /** Keep for {@link finishLogin}. */
  state: VaultLoginState;
} {
  const bytes = passwordBytes(password);
  try {
    const { ke1, state } = generateKE1(bytes);
    return { ke1: serializeKE1(ke1), state: { opaque: state } };
  } finally {
    if (bytes !== password) bytes.fill(0); // our encoding of a string; the state holds its own copy
  }
}

/** Parameters of {@link finishLogin}. */
export interface FinishLoginParams {
  /** From {@link startLogin}. */
  state: VaultLoginState;
  /** The account, in NFC, as sent to `login/start` (the OPAQUE client identity). */
  account: string;
  /** The server's KE2 (320 bytes). */
  ke2: Uint8Array;
  /** The KSF parameters the server returned with KE2 (bounded by `maxima` before use). */
  ksf: unknown;
  /** `maxima`: the highest KSF cost to accept from the server (default: the library's KDF maxima). */
  kdfOptions?: Pick<KdfOptions, 'maxima'>;
}

/**
 * Login, step 2: runs the KSF and OPAQUE's GenerateKE3. Returns KE3 for `login/finish` and the
 * export key that opens the sealed key it releases.
 *
 * @throws E2EEError `WRONG_PASSWORD` (the envelope does not open: wrong password, or an unknown
 *   account answered with a fake record), `SERVER_AUTH`, `VAULT_PROTOCOL`, `KDF_PARAMS`.
 */
export async function finishLogin(params: FinishLoginParams): Promise<{
  /** For `login/finish` (64 bytes). */
  ke3: Uint8Array;
  /** Opens the sealed key with {@link openSealedBackupKey} (64 bytes). Secret: zero it after use. */
  exportKey: Uint8Array;
}> {
  // Parameters chosen by the server are bounded, not floored: a server that lowered them could
  // not make the envelope open anyway, and the record was made with the registering client's.
  const kdfOptions: KdfOptions = { ...params.kdfOptions, purpose: 'open' };
  const ksf = checkKsfParams(params.ksf, kdfOptions);
  const { ke3, exportKey, sessionKey } = await generateKE3({
    state: params.state.opaque,
    ke2: deserializeKE2(params.ke2),
    ksf: createArgon2idKsf(ksf, kdfOptions),
    ...opaqueOptions(params.account),
  });
  sessionKey.fill(0);
  return { ke3: serializeKE3(ke3), exportKey };
}
