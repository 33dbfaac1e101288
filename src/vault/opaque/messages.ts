/**
 * OPAQUE-3DH (RFC 9807) wire messages for the ristretto255-SHA512 configuration: sizes, typed
 * structures and exact serialisation / deserialisation of every message the RFC defines.
 *
 * Deserialisers check every length and decode every group element (canonical ristretto255
 * encoding, not the identity element); any failure is an {@link E2EEError} with code
 * `OPAQUE_ERRORS.MALFORMED` (`VAULT_PROTOCOL`). Serialisers check the field lengths of hand-built structures the same way.
 *
 * @module
 */

import { ristretto255 } from '@noble/curves/ed25519.js';
import { E2EEError, type ErrorCode } from '../../errors.js';
import { concat } from '../../internal/bytes.js';

/** The sizes (bytes) of the RFC 9807 ristretto255-SHA512 configuration. */
export const OPAQUE_SIZES = {
  /** Nonce length. */
  Nn: 32,
  /** Seed length for key derivation. */
  Nseed: 32,
  /** Serialized AKE public key (ristretto255 element). */
  Npk: 32,
  /** Serialized AKE private key (ristretto255 scalar). */
  Nsk: 32,
  /** Serialized OPRF element. */
  Noe: 32,
  /** OPRF private key. */
  Nok: 32,
  /** Hash output (SHA-512). */
  Nh: 64,
  /** KDF extract output (HKDF-SHA-512). */
  Nx: 64,
  /** MAC output (HMAC-SHA-512). */
  Nm: 64,
} as const;

const { Nn, Npk, Noe, Nh, Nm } = OPAQUE_SIZES;

/** The serialized length (bytes) of every message and structure. */
export const OPAQUE_MESSAGE_LENGTHS = {
  /** {@link RegistrationRequest}: 32. */
  registrationRequest: Noe,
  /** {@link RegistrationResponse}: 64. */
  registrationResponse: Noe + Npk,
  /** {@link Envelope}: 96. */
  envelope: Nn + Nm,
  /** {@link RegistrationRecord}: 192. */
  registrationRecord: Npk + Nh + Nn + Nm,
  /** {@link CredentialRequest}: 32. */
  credentialRequest: Noe,
  /** {@link CredentialResponse}: 192. */
  credentialResponse: Noe + Nn + Npk + Nn + Nm,
  /** {@link AuthRequest}: 64. */
  authRequest: Nn + Npk,
  /** {@link AuthResponse}: 128. */
  authResponse: Nn + Npk + Nm,
  /** {@link KE1}, the client's first login message: 96. */
  ke1: Noe + Nn + Npk,
  /** {@link KE2}, the server's answer: 320. */
  ke2: Noe + Nn + Npk + Nn + Nm + Nn + Npk + Nm,
  /** {@link KE3}, the client's final MAC: 64. */
  ke3: Nm,
} as const;

/**
 * Which {@link ErrorCode} each OPAQUE failure raises. One table so the codes can be rewired in
 * one place (e.g. to dedicated `OPAQUE_*` codes).
 */
export const OPAQUE_ERRORS = {
  /** A message or argument has the wrong length, or an element does not decode. */
  MALFORMED: 'VAULT_PROTOCOL',
  /** The client could not open its envelope: wrong password (or a modified KE2). */
  ENVELOPE_RECOVERY: 'WRONG_PASSWORD',
  /** The server's MAC in KE2 is wrong (ServerAuthenticationError). */
  SERVER_AUTHENTICATION: 'SERVER_AUTH',
  /** The client's MAC in KE3 is wrong, or the login ran against a fake record (ClientAuthenticationError). */
  CLIENT_AUTHENTICATION: 'WRONG_PASSWORD',
} as const satisfies Record<string, ErrorCode>;

/** @internal An `OPAQUE_ERRORS.MALFORMED` (`VAULT_PROTOCOL`) error. */
export function malformed(message: string, cause?: unknown): E2EEError {
  return new E2EEError(
    OPAQUE_ERRORS.MALFORMED,
    `OPAQUE: ${message}`,
    cause === undefined ? undefined : { cause },
  );
}

/** @internal Checks that `value` is a Uint8Array, of length `length` when given. */
export function checkBytes(value: unknown, name: string, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw malformed(`${name} must be a Uint8Array`);
  if (length !== undefined && value.length !== length) {
    throw malformed(`${name} must be ${length} bytes, got ${value.length}`);
  }
  return value;
}

/**
 * @internal Checks that `bytes` is the canonical encoding of a ristretto255 element other than
 * the identity (RFC 9497 section 2.1 DeserializeElement plus the identity check of section 3.3).
 */
export function checkElement(bytes: unknown, name: string): Uint8Array {
  checkBytes(bytes, name, Npk);
  let isIdentity: boolean;
  try {
    isIdentity = ristretto255.Point.fromBytes(bytes as Uint8Array).is0();
  } catch (err) {
    throw malformed(`${name} is not a canonical ristretto255 element`, err);
  }
  if (isIdentity) throw malformed(`${name} is the identity element`);
  return bytes as Uint8Array;
}

/** Reads fixed-size fields from a buffer whose total length has been checked. */
class Reader {
  private offset = 0;
  constructor(private readonly bytes: Uint8Array) {}
  take(n: number): Uint8Array {
    const out = this.bytes.slice(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }
}

function reader(bytes: unknown, name: string, length: number): Reader {
  checkBytes(bytes, name);
  if ((bytes as Uint8Array).length !== length) {
    throw malformed(`${name} must be ${length} bytes, got ${(bytes as Uint8Array).length}`);
  }
  return new Reader(bytes as Uint8Array);
}

// ---------------------------------------------------------------------------------------------
// Registration

/** `struct { uint8 blinded_message[Noe]; } RegistrationRequest;` */
export interface RegistrationRequest {
  /** The blinded password (OPRF input), a ristretto255 element: 32 bytes. */
  blindedMessage: Uint8Array;
}

/** `struct { uint8 evaluated_message[Noe]; uint8 server_public_key[Npk]; } RegistrationResponse;` */
export interface RegistrationResponse {
  /** The server's OPRF evaluation of the blinded password: 32 bytes. */
  evaluatedMessage: Uint8Array;
  /** The server's long-term AKE public key: 32 bytes. */
  serverPublicKey: Uint8Array;
}

/** `struct { uint8 envelope_nonce[Nn]; uint8 auth_tag[Nm]; } Envelope;` */
export interface Envelope {
  /** Random nonce; with the password it derives the client's key pair and export key: 32 bytes. */
  nonce: Uint8Array;
  /** HMAC over the nonce and the cleartext credentials; only the right password reproduces it: 64 bytes. */
  authTag: Uint8Array;
}

/** `struct { uint8 client_public_key[Npk]; uint8 masking_key[Nh]; Envelope envelope; } RegistrationRecord;` */
export interface RegistrationRecord {
  /** The client's long-term AKE public key: 32 bytes. */
  clientPublicKey: Uint8Array;
  /**
   * Masks the server's credential response, so that answers for real and fake records look alike: 64 bytes.
   */
  maskingKey: Uint8Array;
  /** The client's envelope, opened at login with the password. */
  envelope: Envelope;
}

/**
 * Serialises a {@link RegistrationRequest} (32 bytes).
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if a field has the wrong length.
 */
export function serializeRegistrationRequest(msg: RegistrationRequest): Uint8Array {
  return concat(checkBytes(msg.blindedMessage, 'blinded_message', Noe));
}

/**
 * Parses a {@link RegistrationRequest}.
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if `bytes` is not 32 bytes long or `blinded_message` is not
 * a canonical, non-identity ristretto255 element.
 */
export function deserializeRegistrationRequest(bytes: Uint8Array): RegistrationRequest {
  const r = reader(bytes, 'RegistrationRequest', OPAQUE_MESSAGE_LENGTHS.registrationRequest);
  return { blindedMessage: checkElement(r.take(Noe), 'blinded_message') };
}

/**
 * Serialises a {@link RegistrationResponse} (64 bytes).
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if a field has the wrong length.
 */
export function serializeRegistrationResponse(msg: RegistrationResponse): Uint8Array {
  return concat(
    checkBytes(msg.evaluatedMessage, 'evaluated_message', Noe),
    checkBytes(msg.serverPublicKey, 'server_public_key', Npk),
  );
}

/**
 * Parses a {@link RegistrationResponse}.
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if `bytes` is not 64 bytes long or either element is not a
 * canonical, non-identity ristretto255 element.
 */
export function deserializeRegistrationResponse(bytes: Uint8Array): RegistrationResponse {
  const r = reader(bytes, 'RegistrationResponse', OPAQUE_MESSAGE_LENGTHS.registrationResponse);
  return {
    evaluatedMessage: checkElement(r.take(Noe), 'evaluated_message'),
    serverPublicKey: checkElement(r.take(Npk), 'server_public_key'),
  };
}

/**
 * Serialises an {@link Envelope} (96 bytes).
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if a field has the wrong length.
 */
export function serializeEnvelope(envelope: Envelope): Uint8Array {
  return concat(
    checkBytes(envelope.nonce, 'envelope_nonce', Nn),
    checkBytes(envelope.authTag, 'auth_tag', Nm),
  );
}

/**
 * Parses an {@link Envelope}.
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if `bytes` is not 96 bytes long.
 */
export function deserializeEnvelope(bytes: Uint8Array): Envelope {
  const r = reader(bytes, 'Envelope', OPAQUE_MESSAGE_LENGTHS.envelope);
  return { nonce: r.take(Nn), authTag: r.take(Nm) };
}

/**
 * Serialises a {@link RegistrationRecord} (192 bytes).
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if a field has the wrong length.
 */
export function serializeRegistrationRecord(record: RegistrationRecord): Uint8Array {
  return concat(
    checkBytes(record.clientPublicKey, 'client_public_key', Npk),
    checkBytes(record.maskingKey, 'masking_key', Nh),
    serializeEnvelope(record.envelope),
  );
}

/**
 * Parses a {@link RegistrationRecord}.
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if `bytes` is not 192 bytes long or `client_public_key` is
 * not a canonical, non-identity ristretto255 element.
 */
export function deserializeRegistrationRecord(bytes: Uint8Array): RegistrationRecord {
  const r = reader(bytes, 'RegistrationRecord', OPAQUE_MESSAGE_LENGTHS.registrationRecord);
  return {
    clientPublicKey: checkElement(r.take(Npk), 'client_public_key'),
    maskingKey: r.take(Nh),
    envelope: deserializeEnvelope(r.take(Nn + Nm)),
  };
}

// ---------------------------------------------------------------------------------------------
// Credential retrieval

/** `struct { uint8 blinded_message[Noe]; } CredentialRequest;` */
export interface CredentialRequest {
  /** The blinded password (OPRF input), a ristretto255 element: 32 bytes. */
  blindedMessage: Uint8Array;
}

/**
 * `struct { uint8 evaluated_message[Noe]; uint8 masking_nonce[Nn];
 * uint8 masked_response[Npk + Nn + Nm]; } CredentialResponse;`
 */
export interface CredentialResponse {
  /** The server's OPRF evaluation of the blinded password: 32 bytes. */
  evaluatedMessage: Uint8Array;
  /** Nonce of the masking: 32 bytes. */
  maskingNonce: Uint8Array;
  /** The server public key and the envelope, XORed with a pad from the masking key: 128 bytes. */
  maskedResponse: Uint8Array;
}

/**
 * Serialises a {@link CredentialRequest} (32 bytes).
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if a field has the wrong length.
 */
export function serializeCredentialRequest(msg: CredentialRequest): Uint8Array {
  return concat(checkBytes(msg.blindedMessage, 'blinded_message', Noe));
}

/**
 * Parses a {@link CredentialRequest}.
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if `bytes` is not 32 bytes long or `blinded_message` is not
 * a canonical, non-identity ristretto255 element.
 */
export function deserializeCredentialRequest(bytes: Uint8Array): CredentialRequest {
  const r = reader(bytes, 'CredentialRequest', OPAQUE_MESSAGE_LENGTHS.credentialRequest);
  return { blindedMessage: checkElement(r.take(Noe), 'blinded_message') };
}

/**
 * Serialises a {@link CredentialResponse} (192 bytes).
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if a field has the wrong length.
 */
export function serializeCredentialResponse(msg: CredentialResponse): Uint8Array {
  return concat(
    checkBytes(msg.evaluatedMessage, 'evaluated_message', Noe),
    checkBytes(msg.maskingNonce, 'masking_nonce', Nn),
    checkBytes(msg.maskedResponse, 'masked_response', Npk + Nn + Nm),
  );
}

/**
 * Parses a {@link CredentialResponse}.
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if `bytes` is not 192 bytes long or `evaluated_message` is
 * not a canonical, non-identity ristretto255 element.
 */
export function deserializeCredentialResponse(bytes: Uint8Array): CredentialResponse {
  const r = reader(bytes, 'CredentialResponse', OPAQUE_MESSAGE_LENGTHS.credentialResponse);
  return {
    evaluatedMessage: checkElement(r.take(Noe), 'evaluated_message'),
    maskingNonce: r.take(Nn),
    maskedResponse: r.take(Npk + Nn + Nm),
  };
}

// ---------------------------------------------------------------------------------------------
// AKE

/** `struct { uint8 client_nonce[Nn]; uint8 client_public_keyshare[Npk]; } AuthRequest;` */
export interface AuthRequest {
  /** Fresh client nonce: 32 bytes. */
  clientNonce: Uint8Array;
  /** The client's ephemeral 3DH public key: 32 bytes. */
  clientPublicKeyshare: Uint8Array;
}

/** `struct { CredentialRequest credential_request; AuthRequest auth_request; } KE1;` */
export interface KE1 {
  /** The OPRF half: the blinded password. */
  credentialRequest: CredentialRequest;
  /** The AKE half: nonce and ephemeral key share. */
  authRequest: AuthRequest;
}

/** `struct { uint8 server_nonce[Nn]; uint8 server_public_keyshare[Npk]; uint8 server_mac[Nm]; } AuthResponse;` */
export interface AuthResponse {
  /** Fresh server nonce: 32 bytes. */
  serverNonce: Uint8Array;
  /** The server's ephemeral 3DH public key: 32 bytes. */
  serverPublicKeyshare: Uint8Array;
  /** The server's MAC over the transcript, which authenticates the server to the client: 64 bytes. */
  serverMac: Uint8Array;
}

/** `struct { CredentialResponse credential_response; AuthResponse auth_response; } KE2;` */
export interface KE2 {
  /** The OPRF evaluation and the masked envelope. */
  credentialResponse: CredentialResponse;
  /** The AKE half: nonce, ephemeral key share and server MAC. */
  authResponse: AuthResponse;
}

/** `struct { uint8 client_mac[Nm]; } KE3;` */
export interface KE3 {
  /** The client's MAC over the transcript, which proves it knew the password: 64 bytes. */
  clientMac: Uint8Array;
}

/**
 * Serialises an {@link AuthRequest} (64 bytes).
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if a field has the wrong length.
 */
export function serializeAuthRequest(msg: AuthRequest): Uint8Array {
  return concat(
    checkBytes(msg.clientNonce, 'client_nonce', Nn),
    checkBytes(msg.clientPublicKeyshare, 'client_public_keyshare', Npk),
  );
}

/**
 * Parses an {@link AuthRequest}.
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if `bytes` is not 64 bytes long or `client_public_keyshare`
 * is not a canonical, non-identity ristretto255 element.
 */
export function deserializeAuthRequest(bytes: Uint8Array): AuthRequest {
  const r = reader(bytes, 'AuthRequest', OPAQUE_MESSAGE_LENGTHS.authRequest);
  return {
    clientNonce: r.take(Nn),
    clientPublicKeyshare: checkElement(r.take(Npk), 'client_public_keyshare'),
  };
}

/**
 * Serialises a {@link KE1} (96 bytes).
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if a field has the wrong length.
 */
export function serializeKE1(ke1: KE1): Uint8Array {
  return concat(serializeCredentialRequest(ke1.credentialRequest), serializeAuthRequest(ke1.authRequest));
}

/**
 * Parses a {@link KE1}.
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if `bytes` is not 96 bytes long or one of its elements is
 * not a canonical, non-identity ristretto255 element.
 */
export function deserializeKE1(bytes: Uint8Array): KE1 {
  const r = reader(bytes, 'KE1', OPAQUE_MESSAGE_LENGTHS.ke1);
  return {
    credentialRequest: deserializeCredentialRequest(r.take(OPAQUE_MESSAGE_LENGTHS.credentialRequest)),
    authRequest: deserializeAuthRequest(r.take(OPAQUE_MESSAGE_LENGTHS.authRequest)),
  };
}

/**
 * Serialises an {@link AuthResponse} (128 bytes).
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if a field has the wrong length.
 */
export function serializeAuthResponse(msg: AuthResponse): Uint8Array {
  return concat(
    checkBytes(msg.serverNonce, 'server_nonce', Nn),
    checkBytes(msg.serverPublicKeyshare, 'server_public_keyshare', Npk),
    checkBytes(msg.serverMac, 'server_mac', Nm),
  );
}

/**
 * Parses an {@link AuthResponse}.
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if `bytes` is not 128 bytes long or
 * `server_public_keyshare` is not a canonical, non-identity ristretto255 element.
 */
export function deserializeAuthResponse(bytes: Uint8Array): AuthResponse {
  const r = reader(bytes, 'AuthResponse', OPAQUE_MESSAGE_LENGTHS.authResponse);
  return {
    serverNonce: r.take(Nn),
    serverPublicKeyshare: checkElement(r.take(Npk), 'server_public_keyshare'),
    serverMac: r.take(Nm),
  };
}

/**
 * Serialises a {@link KE2} (320 bytes).
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if a field has the wrong length.
 */
export function serializeKE2(ke2: KE2): Uint8Array {
  return concat(serializeCredentialResponse(ke2.credentialResponse), serializeAuthResponse(ke2.authResponse));
}

/**
 * Parses a {@link KE2}.
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if `bytes` is not 320 bytes long or one of its elements is
 * not a canonical, non-identity ristretto255 element.
 */
export function deserializeKE2(bytes: Uint8Array): KE2 {
  const r = reader(bytes, 'KE2', OPAQUE_MESSAGE_LENGTHS.ke2);
  return {
    credentialResponse: deserializeCredentialResponse(r.take(OPAQUE_MESSAGE_LENGTHS.credentialResponse)),
    authResponse: deserializeAuthResponse(r.take(OPAQUE_MESSAGE_LENGTHS.authResponse)),
  };
}

/**
 * Serialises a {@link KE3} (64 bytes).
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if a field has the wrong length.
 */
export function serializeKE3(ke3: KE3): Uint8Array {
  return concat(checkBytes(ke3.clientMac, 'client_mac', Nm));
}

/**
 * Parses a {@link KE3}.
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if `bytes` is not 64 bytes long.
 */
export function deserializeKE3(bytes: Uint8Array): KE3 {
  const r = reader(bytes, 'KE3', OPAQUE_MESSAGE_LENGTHS.ke3);
  return { clientMac: r.take(Nm) };
}

// ---------------------------------------------------------------------------------------------
// CleartextCredentials (not sent on the wire; authenticated by the envelope)

/**
 * `struct { uint8 server_public_key[Npk]; uint8 server_identity<1..2^16-1>;
 * uint8 client_identity<1..2^16-1>; } CleartextCredentials;`
 */
export interface CleartextCredentials {
  /** The server's long-term AKE public key: 32 bytes. */
  serverPublicKey: Uint8Array;
  /** 1 to 65535 bytes (the server public key when no identity is configured). */
  serverIdentity: Uint8Array;
  /** 1 to 65535 bytes (the client public key when no identity is configured). */
  clientIdentity: Uint8Array;
}

/** @internal I2OSP(n, 2). */
export function u16(n: number): Uint8Array {
  return Uint8Array.of((n >>> 8) & 0xff, n & 0xff);
}

/** @internal Checks an identity is 1..2^16-1 bytes long, as `CleartextCredentials` requires. */
export function checkIdentity(value: unknown, name: string): Uint8Array {
  const bytes = checkBytes(value, name);
  if (bytes.length < 1 || bytes.length > 0xffff) {
    throw malformed(`${name} must be 1 to 65535 bytes, got ${bytes.length}`);
  }
  return bytes;
}

/**
 * Serialises {@link CleartextCredentials}, the bytes the envelope's MAC covers (never sent).
 *
 * @throws An E2EEError with code `VAULT_PROTOCOL` if the public key is not 32 bytes or an identity
 * is not 1 to 65535 bytes.
 */
export function serializeCleartextCredentials(creds: CleartextCredentials): Uint8Array {
  const serverIdentity = checkIdentity(creds.serverIdentity, 'server_identity');
  const clientIdentity = checkIdentity(creds.clientIdentity, 'client_identity');
  return concat(
    checkBytes(creds.serverPublicKey, 'server_public_key', Npk),
    u16(serverIdentity.length),
    serverIdentity,
    u16(clientIdentity.length),
    clientIdentity,
  );
}
