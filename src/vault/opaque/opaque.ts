/**
 * OPAQUE-3DH (RFC 9807) for the ristretto255-SHA512 configuration: OPRF ristretto255-SHA512
 * (RFC 9497 mode 0x00, from `@noble/curves`), HKDF-SHA-512, HMAC-SHA-512, SHA-512, 3DH over
 * ristretto255, and a caller-chosen key-stretching function (KSF).
 *
 * Everything here is a pure function over byte arrays and plain objects: no classes, no I/O.
 * Client and server keep their per-run state in the objects these functions return and pass it
 * back in; states are single-use and hold secrets. Every function that needs randomness has a
 * `…Deterministic` twin that takes it explicitly (for the RFC test vectors only; never reuse
 * nonces, seeds or blinds in production).
 *
 * Registration:
 * ```
 * client: { request, state } = createRegistrationRequest(password)
 * server: response = createRegistrationResponse({ request, serverKeys, credentialIdentifier })
 * client: { record, exportKey } = await finalizeRegistrationRequest({ state, response, ksf })
 * server: store record under credentialIdentifier
 * ```
 * Login:
 * ```
 * client: { ke1, state } = generateKE1(password)
 * server: { ke2, state } = generateKE2({ serverKeys, record, credentialIdentifier, ke1 })
 *         (or generateFakeKE2({ serverKeys, fakeRecord, credentialIdentifier, ke1 }) for unknown users)
 * client: { ke3, sessionKey, exportKey } = await generateKE3({ state, ke2, ksf })
 * server: sessionKey = serverFinish(state, ke3)
 * ```
 *
 * @module
 */

import { ristretto255, ristretto255_hasher, ristretto255_oprf } from '@noble/curves/ed25519.js';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { E2EEError } from '../../errors.js';
import { concat, constantTimeEqual, randomBytes } from '../../internal/bytes.js';
import {
  type CleartextCredentials,
  type CredentialResponse,
  checkBytes,
  checkElement,
  checkIdentity,
  type Envelope,
  type KE1,
  type KE2,
  type KE3,
  malformed,
  OPAQUE_ERRORS,
  OPAQUE_SIZES,
  type RegistrationRecord,
  type RegistrationRequest,
  type RegistrationResponse,
  serializeCleartextCredentials,
  serializeCredentialResponse,
  serializeEnvelope,
  serializeKE1,
  u16,
} from './messages.js';

export {
  type AuthRequest,
  type AuthResponse,
  type CleartextCredentials,
  type CredentialRequest,
  type CredentialResponse,
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
  type KE1,
  type KE2,
  type KE3,
  OPAQUE_ERRORS,
  OPAQUE_MESSAGE_LENGTHS,
  OPAQUE_SIZES,
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
} from './messages.js';

const { Nn, Nseed, Npk, Nsk, Nok, Nh, Nx, Nm } = OPAQUE_SIZES;

const Point = ristretto255.Point;
type RistrettoPoint = InstanceType<typeof Point>;
const Fn = Point.Fn;
const oprf = ristretto255_oprf.oprf;

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

const LABEL_DERIVE_KEY_PAIR = utf8('OPAQUE-DeriveKeyPair');
const LABEL_DERIVE_DH_KEY_PAIR = utf8('OPAQUE-DeriveDiffieHellmanKeyPair');
// RFC 9497 section 3.1: contextString = "OPRFV1-" || I2OSP(mode, 1) || "-" || identifier, mode 0x00.
const OPRF_HASH_TO_GROUP_DST = concat(
  utf8('HashToGroup-OPRFV1-'),
  Uint8Array.of(0x00),
  utf8('-ristretto255-SHA512'),
);
const EMPTY = new Uint8Array(0);

// ---------------------------------------------------------------------------------------------
// Public types

/**
 * The key-stretching function applied to the OPRF output (`Stretch` in RFC 9807). Must be
 * collision resistant and deterministic; Argon2id in production, the identity (`identityKsf`) only for the
 * RFC's test vectors.
 */
export type Ksf = (input: Uint8Array) => Uint8Array | Promise<Uint8Array>;

/** The identity KSF of the RFC test vectors: `Stretch(msg) = msg`. Offers no protection; tests only. */
export const identityKsf: Ksf = (input) => new Uint8Array(input);

/** The server's long-term secrets: the OPRF seed (Nh bytes) and the 3DH AKE key pair. */
export interface ServerKeys {
  /** Nh = 64 random bytes from which every credential's OPRF key is derived. */
  oprfSeed: Uint8Array;
  /** The AKE private key: a canonical ristretto255 scalar (Nsk = 32 bytes, little-endian). */
  privateKey: Uint8Array;
  /** The AKE public key: a ristretto255 element (Npk = 32 bytes). */
  publicKey: Uint8Array;
}

/** A Diffie-Hellman key pair over ristretto255. */
export interface KeyPair {
  /** A canonical nonzero ristretto255 scalar (32 bytes, little-endian). Secret. */
  privateKey: Uint8Array;
  /** `privateKey * G`, a ristretto255 element (32 bytes). */
  publicKey: Uint8Array;
}

/**
 * Optional identities. When absent, each defaults to the party's public key (RFC 9807 section 4).
 * When given, they must be 1 to 65535 bytes and the same on both sides and in both phases.
 */
export interface OpaqueIdentities {
  /** The client's identity (default: the client's public key). */
  clientIdentity?: Uint8Array;
  /** The server's identity (default: the server's public key). */
  serverIdentity?: Uint8Array;
}

/** Identities plus the shared `context` bound into the 3DH transcript (0 to 65535 bytes; default empty). */
export interface OpaqueLoginOptions extends OpaqueIdentities {
  /** Application context both sides must agree on, or the MACs fail (0 to 65535 bytes; default empty). */
  context?: Uint8Array;
}

/** The client's registration state between the request and the server's response. */
export interface RegistrationClientState {
  /** A copy of the password. Secret. */
  readonly password: Uint8Array;
  /** The OPRF blind (32-byte scalar), needed to unblind the server's evaluation. Secret. */
  readonly blind: Uint8Array;
}

/** The client's login state between KE1 and KE2 (`ClientState` with its `ClientAkeState`). */
export interface ClientLoginState {
  /** A copy of the password. Secret. */
  readonly password: Uint8Array;
  /** The OPRF blind (32-byte scalar), needed to unblind the server's evaluation. Secret. */
  readonly blind: Uint8Array;
  /** The ephemeral 3DH private key. */
  readonly clientSecret: Uint8Array;
  /** A copy of the KE1 sent, which the 3DH transcript covers. */
  readonly ke1: KE1;
}

/** The server's login state between KE2 and KE3 (`ServerAkeState`). */
export interface ServerLoginState {
  /** The KE3 MAC a client that knows the password sends (64 bytes). Secret. */
  readonly expectedClientMac: Uint8Array;
  /** The session key, released by {@link serverFinish} once the client MAC checks (64 bytes). Secret. */
  readonly sessionKey: Uint8Array;
  /** True when KE2 was made from a fake record: {@link serverFinish} then always fails. */
  readonly fake: boolean;
}

/**
 * The fake record used to answer login attempts for unknown credential identifiers (RFC 9807
 * section 6.3.2.2): a random public key and a random masking key; its envelope is all zeros.
 * Create it once with {@link createFakeRecord} and store it alongside the real records.
 */
export interface FakeRecord {
  /** A random ristretto255 public key (32 bytes). */
  clientPublicKey: Uint8Array;
  /** A random masking key (64 bytes). Secret: with it, fake answers could be told from real ones. */
  maskingKey: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// Primitives

// The library's one source of randomness: the crypto provider's CSPRNG when one is registered
// (React Native), else the platform's.
const random = randomBytes;

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length !== b.length) throw new Error('xor: unequal lengths');
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

const kdfExtract = (salt: Uint8Array, ikm: Uint8Array): Uint8Array => extract(sha512, ikm, salt);
const kdfExpand = (prk: Uint8Array, info: Uint8Array, length: number): Uint8Array =>
  expand(sha512, prk, info, length);
const mac = (key: Uint8Array, msg: Uint8Array): Uint8Array => hmac(sha512, key, msg);
const hash = (msg: Uint8Array): Uint8Array => sha512(msg);

/** Decodes a secret scalar: canonical little-endian, in 1..n-1. */
function decodeScalar(bytes: Uint8Array, name: string): bigint {
  checkBytes(bytes, name, Nsk);
  let s: bigint;
  try {
    s = Fn.fromBytes(bytes);
  } catch (err) {
    throw malformed(`${name} is not a canonical ristretto255 scalar`, err);
  }
  if (Fn.is0(s)) throw malformed(`${name} is zero`);
  return s;
}

function decodeElement(bytes: Uint8Array, name: string): RistrettoPoint {
  checkElement(bytes, name);
  return Point.fromBytes(bytes);
}

function randomScalar(): Uint8Array {
  for (;;) {
    // 64 uniform bytes reduced mod n: bias below 2^-250.
    const wide = random(64);
    let n = 0n;
    for (let i = wide.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(wide[i]!);
    const s = Fn.create(n);
    wide.fill(0);
    if (!Fn.is0(s)) return Fn.toBytes(s);
  }
}

/** Runs a noble call, turning its exceptions into `OPAQUE_ERRORS.MALFORMED`. */
function guard<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof E2EEError) throw err;
    throw malformed(`${what} failed: ${err instanceof Error ? err.message : String(err)}`, err);
  }
}

function checkPassword(password: Uint8Array): Uint8Array {
  checkBytes(password, 'password');
  if (password.length > 0xffff) throw malformed('password must be at most 65535 bytes');
  return password;
}

function checkContext(context: Uint8Array | undefined): Uint8Array {
  if (context === undefined) return EMPTY;
  checkBytes(context, 'context');
  if (context.length > 0xffff) throw malformed('context must be at most 65535 bytes');
  return context;
}

// ---------------------------------------------------------------------------------------------
// OPRF (RFC 9497 modeOPRF) and key derivation

/**
 * RFC 9497 Blind with an explicit blind scalar. The element is
 * `HashToGroup(input) * blind` with the modeOPRF ristretto255-SHA512 DST.
 */
function blindWith(input: Uint8Array, blind: Uint8Array): Uint8Array {
  const b = decodeScalar(blind, 'blind');
  const inputElement = guard('HashToGroup', () =>
    ristretto255_hasher.hashToCurve(input, { DST: OPRF_HASH_TO_GROUP_DST }),
  );
  if (inputElement.is0()) throw malformed('password hashes to the identity element'); // InvalidInputError
  return inputElement.multiply(b).toBytes();
}

/** `DeriveKeyPair(seed, info)` of RFC 9497 section 3.2 (modeOPRF context). */
function deriveKeyPair(seed: Uint8Array, info: Uint8Array): KeyPair {
  checkBytes(seed, 'seed', Nseed);
  const { secretKey, publicKey } = guard('DeriveKeyPair', () => oprf.deriveKeyPair(seed, info));
  return { privateKey: secretKey, publicKey };
}

/**
 * `DeriveDiffieHellmanKeyPair(seed)` for 3DH over ristretto255:
 * `DeriveKeyPair(seed, "OPAQUE-DeriveDiffieHellmanKeyPair")` (RFC 9807 section 6.4.1.1).
 */
export function deriveDiffieHellmanKeyPair(seed: Uint8Array): KeyPair {
  return deriveKeyPair(seed, LABEL_DERIVE_DH_KEY_PAIR);
}

/** The ristretto255 public key (`private * G`) of a canonical nonzero private scalar. */
export function publicKeyFromPrivateKey(privateKey: Uint8Array): Uint8Array {
  return Point.BASE.multiply(decodeScalar(privateKey, 'private key')).toBytes();
}

/** `DiffieHellman(k, B)`: scalar multiplication, after validating B. */
function diffieHellman(privateKey: Uint8Array, publicKey: Uint8Array, name: string): Uint8Array {
  const k = decodeScalar(privateKey, 'private key');
  const shared = decodeElement(publicKey, name).multiply(k);
  // Cannot happen for a valid nonzero scalar and a non-identity element of a prime-order group.
  if (shared.is0()) throw malformed('Diffie-Hellman result is the identity element');
  return shared.toBytes();
}

/**
 * The per-credential OPRF private key:
 * `DeriveKeyPair(Expand(oprf_seed, credential_identifier || "OprfKey", Nok), "OPAQUE-DeriveKeyPair")`.
 */
export function deriveOprfKey(oprfSeed: Uint8Array, credentialIdentifier: Uint8Array): Uint8Array {
  checkBytes(oprfSeed, 'oprf_seed', Nh);
  checkBytes(credentialIdentifier, 'credential_identifier');
  const seed = kdfExpand(oprfSeed, concat(credentialIdentifier, utf8('OprfKey')), Nok);
  const { privateKey } = deriveKeyPair(seed, LABEL_DERIVE_KEY_PAIR);
  seed.fill(0);
  return privateKey;
}

function blindEvaluate(oprfKey: Uint8Array, blindedMessage: Uint8Array): Uint8Array {
  checkElement(blindedMessage, 'blinded_message');
  return guard('BlindEvaluate', () => oprf.blindEvaluate(oprfKey, blindedMessage));
}

/** Finalize, Stretch and Extract: the `randomized_password`, plus the raw OPRF output. */
async function randomizePassword(
  password: Uint8Array,
  blind: Uint8Array,
  evaluatedMessage: Uint8Array,
  ksf: Ksf,
): Promise<{ randomizedPassword: Uint8Array }> {
  checkElement(evaluatedMessage, 'evaluated_message');
  decodeScalar(blind, 'blind');
  if (typeof ksf !== 'function') throw malformed('ksf must be a function');
  const oprfOutput = guard('Finalize', () => oprf.finalize(password, blind, evaluatedMessage));
  let stretched: Uint8Array | undefined;
  try {
    stretched = await ksf(oprfOutput);
    checkBytes(stretched, 'KSF output');
    const ikm = concat(oprfOutput, stretched);
    const randomizedPassword = kdfExtract(EMPTY, ikm);
    ikm.fill(0);
    return { randomizedPassword };
  } finally {
    oprfOutput.fill(0);
    if (stretched instanceof Uint8Array) stretched.fill(0);
  }
}

// ---------------------------------------------------------------------------------------------
// Server long-term keys

/**
 * The server's long-term keys from explicit seeds: `oprfSeed` (Nh = 64 bytes, used as is) and the
 * AKE key pair `DeriveDiffieHellmanKeyPair(akeSeed)` (akeSeed: Nseed = 32 bytes).
 */
export function serverKeysFromSeed(oprfSeed: Uint8Array, akeSeed: Uint8Array): ServerKeys {
  checkBytes(oprfSeed, 'oprf_seed', Nh);
  checkBytes(akeSeed, 'AKE seed', Nseed);
  const { privateKey, publicKey } = deriveDiffieHellmanKeyPair(akeSeed);
  return { oprfSeed: new Uint8Array(oprfSeed), privateKey, publicKey };
}

/** Fresh random server keys (from the crypto provider's CSPRNG, else `crypto.getRandomValues`). */
export function generateServerKeys(): ServerKeys {
  const akeSeed = random(Nseed);
  const keys = serverKeysFromSeed(random(Nh), akeSeed);
  akeSeed.fill(0);
  return keys;
}

function checkServerKeys(keys: ServerKeys, needPrivate: boolean): void {
  if (typeof keys !== 'object' || keys === null) throw malformed('serverKeys must be an object');
  checkBytes(keys.oprfSeed, 'oprf_seed', Nh);
  checkElement(keys.publicKey, 'server_public_key');
  if (needPrivate) decodeScalar(keys.privateKey, 'server_private_key');
}

// ---------------------------------------------------------------------------------------------
// Envelope (RFC 9807 section 4.1)

function cleartextCredentials(
  serverPublicKey: Uint8Array,
  clientPublicKey: Uint8Array,
  ids: OpaqueIdentities,
): CleartextCredentials {
  return {
    serverPublicKey,
    serverIdentity:
      ids.serverIdentity === undefined
        ? serverPublicKey
        : checkIdentity(ids.serverIdentity, 'server_identity'),
    clientIdentity:
      ids.clientIdentity === undefined
        ? clientPublicKey
        : checkIdentity(ids.clientIdentity, 'client_identity'),
  };
}

interface EnvelopeKeys {
  authKey: Uint8Array;
  exportKey: Uint8Array;
  keyPair: KeyPair;
}

function envelopeKeys(randomizedPassword: Uint8Array, nonce: Uint8Array): EnvelopeKeys {
  const authKey = kdfExpand(randomizedPassword, concat(nonce, utf8('AuthKey')), Nh);
  const exportKey = kdfExpand(randomizedPassword, concat(nonce, utf8('ExportKey')), Nh);
  const seed = kdfExpand(randomizedPassword, concat(nonce, utf8('PrivateKey')), Nseed);
  const keyPair = deriveDiffieHellmanKeyPair(seed);
  seed.fill(0);
  return { authKey, exportKey, keyPair };
}

function envelopeTag(authKey: Uint8Array, nonce: Uint8Array, creds: CleartextCredentials): Uint8Array {
  return mac(authKey, concat(nonce, serializeCleartextCredentials(creds)));
}

// ---------------------------------------------------------------------------------------------
// Registration

/** Client: `CreateRegistrationRequest(password)` with a random blind. */
export function createRegistrationRequest(password: Uint8Array): {
  /** The message to send to the server. */
  request: RegistrationRequest;
  /** Keep for {@link finalizeRegistrationRequest}; single use. */
  state: RegistrationClientState;
} {
  return createRegistrationRequestDeterministic(password, randomScalar());
}

/** Client: `CreateRegistrationRequest` with an explicit blind (32-byte canonical nonzero scalar). Tests only. */
export function createRegistrationRequestDeterministic(
  password: Uint8Array,
  blind: Uint8Array,
): {
  /** The message to send to the server. */
  request: RegistrationRequest;
  /** Keep for {@link finalizeRegistrationRequest}; single use. */
  state: RegistrationClientState;
} {
  checkPassword(password);
  const blindedMessage = blindWith(password, blind);
  return {
    request: { blindedMessage },
    state: { password: new Uint8Array(password), blind: new Uint8Array(blind) },
  };
}

/** Server: `CreateRegistrationResponse`. Uses `serverKeys.oprfSeed` and `serverKeys.publicKey`. */
export function createRegistrationResponse(params: {
  request: RegistrationRequest;
  serverKeys: Pick<ServerKeys, 'oprfSeed' | 'publicKey'>;
  credentialIdentifier: Uint8Array;
}): RegistrationResponse {
  const { request, serverKeys, credentialIdentifier } = params;
  checkServerKeys(serverKeys as ServerKeys, false);
  const oprfKey = deriveOprfKey(serverKeys.oprfSeed, credentialIdentifier);
  const evaluatedMessage = blindEvaluate(oprfKey, request.blindedMessage);
  oprfKey.fill(0);
  return { evaluatedMessage, serverPublicKey: new Uint8Array(serverKeys.publicKey) };
}

/** Parameters of {@link finalizeRegistrationRequest}. */
export interface FinalizeRegistrationParams extends OpaqueIdentities {
  /** From {@link createRegistrationRequest}. */
  state: RegistrationClientState;
  /** The server's answer, from {@link createRegistrationResponse}. */
  response: RegistrationResponse;
  /** The key-stretching function; logins must use the same one. */
  ksf: Ksf;
}

/** Values computed while finalizing registration, exposed by the deterministic variant for test vectors. Secret. */
export interface RegistrationIntermediates {
  /** `randomized_password`: Extract of the OPRF output and its stretch (64 bytes). */
  randomizedPassword: Uint8Array;
  /** The envelope's MAC key (64 bytes). */
  authKey: Uint8Array;
  /** The record's masking key (64 bytes). */
  maskingKey: Uint8Array;
  /** The client's long-term AKE private key (32 bytes). */
  clientPrivateKey: Uint8Array;
}

/** Client: `FinalizeRegistrationRequest` with a random envelope nonce. */
export async function finalizeRegistrationRequest(params: FinalizeRegistrationParams): Promise<{
  /** The record to upload; the server stores it under the credential identifier. */
  record: RegistrationRecord;
  /** 64 bytes known only to a client with the password: the key to encrypt application data with. Secret. */
  exportKey: Uint8Array;
}> {
  const { record, exportKey, intermediates } = await finalizeRegistrationRequestDeterministic(
    params,
    random(Nn),
  );
  for (const v of Object.values(intermediates)) v.fill(0);
  return { record, exportKey };
}

/** Client: `FinalizeRegistrationRequest` with an explicit envelope nonce. Tests only. */
export async function finalizeRegistrationRequestDeterministic(
  params: FinalizeRegistrationParams,
  envelopeNonce: Uint8Array,
): Promise<{
  /** The record to upload; the server stores it under the credential identifier. */
  record: RegistrationRecord;
  /** 64 bytes known only to a client with the password. Secret. */
  exportKey: Uint8Array;
  /** Secret values for test vectors; zero them when done. */
  intermediates: RegistrationIntermediates;
}> {
  const { state, response, ksf } = params;
  checkBytes(envelopeNonce, 'envelope_nonce', Nn);
  checkElement(response.serverPublicKey, 'server_public_key');
  const { randomizedPassword } = await randomizePassword(
    state.password,
    state.blind,
    response.evaluatedMessage,
    ksf,
  );
  // Store (RFC 9807 section 4.1.2)
  const maskingKey = kdfExpand(randomizedPassword, utf8('MaskingKey'), Nh);
  const { authKey, exportKey, keyPair } = envelopeKeys(randomizedPassword, envelopeNonce);
  const creds = cleartextCredentials(response.serverPublicKey, keyPair.publicKey, params);
  const envelope: Envelope = {
    nonce: new Uint8Array(envelopeNonce),
    authTag: envelopeTag(authKey, envelopeNonce, creds),
  };
  return {
    record: { clientPublicKey: keyPair.publicKey, maskingKey: new Uint8Array(maskingKey), envelope },
    exportKey,
    intermediates: { randomizedPassword, authKey, maskingKey, clientPrivateKey: keyPair.privateKey },
  };
}

// ---------------------------------------------------------------------------------------------
// Login: 3DH key schedule (RFC 9807 section 6.4.2)

function expandLabel(secret: Uint8Array, label: string, context: Uint8Array, length: number): Uint8Array {
  const fullLabel = utf8(`OPAQUE-${label}`);
  const customLabel = concat(
    u16(length),
    Uint8Array.of(fullLabel.length),
    fullLabel,
    Uint8Array.of(context.length),
    context,
  );
  return kdfExpand(secret, customLabel, length);
}

function preamble(
  context: Uint8Array,
  creds: CleartextCredentials,
  ke1Bytes: Uint8Array,
  credentialResponseBytes: Uint8Array,
  serverNonce: Uint8Array,
  serverPublicKeyshare: Uint8Array,
): Uint8Array {
  return concat(
    utf8('OPAQUEv1-'),
    u16(context.length),
    context,
    u16(creds.clientIdentity.length),
    creds.clientIdentity,
    ke1Bytes,
    u16(creds.serverIdentity.length),
    creds.serverIdentity,
    credentialResponseBytes,
    serverNonce,
    serverPublicKeyshare,
  );
}

interface DerivedKeys {
  handshakeSecret: Uint8Array;
  km2: Uint8Array;
  km3: Uint8Array;
  sessionKey: Uint8Array;
}

function deriveKeys(ikm: Uint8Array, preambleBytes: Uint8Array): DerivedKeys {
  const prk = kdfExtract(EMPTY, ikm);
  const transcriptHash = hash(preambleBytes);
  const handshakeSecret = expandLabel(prk, 'HandshakeSecret', transcriptHash, Nx);
  const sessionKey = expandLabel(prk, 'SessionKey', transcriptHash, Nx);
  const km2 = expandLabel(handshakeSecret, 'ServerMAC', EMPTY, Nx);
  const km3 = expandLabel(handshakeSecret, 'ClientMAC', EMPTY, Nx);
  prk.fill(0);
  return { handshakeSecret, km2, km3, sessionKey };
}

// ---------------------------------------------------------------------------------------------
// Login: client

/** Randomness of {@link generateKE1Deterministic}. */
export interface KE1Randomness {
  /** OPRF blind: canonical nonzero scalar, 32 bytes. */
  blind: Uint8Array;
  /** Nn bytes. */
  clientNonce: Uint8Array;
  /** Nseed bytes, for the ephemeral 3DH key pair. */
  clientKeyshareSeed: Uint8Array;
}

/** Client: `GenerateKE1(password)` with fresh randomness. */
export function generateKE1(password: Uint8Array): {
  /** The message to send to the server. */
  ke1: KE1;
  /** Keep for {@link generateKE3}; single use. */
  state: ClientLoginState;
} {
  return generateKE1Deterministic(password, {
    blind: randomScalar(),
    clientNonce: random(Nn),
    clientKeyshareSeed: random(Nseed),
  });
}

/** Client: `GenerateKE1` with explicit randomness. Tests only. */
export function generateKE1Deterministic(
  password: Uint8Array,
  randomness: KE1Randomness,
): {
  /** The message to send to the server. */
  ke1: KE1;
  /** Keep for {@link generateKE3}; single use. */
  state: ClientLoginState;
} {
  checkPassword(password);
  const { blind, clientNonce, clientKeyshareSeed } = randomness;
  checkBytes(clientNonce, 'client_nonce', Nn);
  checkBytes(clientKeyshareSeed, 'client_keyshare_seed', Nseed);
  // CreateCredentialRequest
  const blindedMessage = blindWith(password, blind);
  // AuthClientStart
  const { privateKey: clientSecret, publicKey: clientPublicKeyshare } =
    deriveDiffieHellmanKeyPair(clientKeyshareSeed);
  const ke1: KE1 = {
    credentialRequest: { blindedMessage },
    authRequest: { clientNonce: new Uint8Array(clientNonce), clientPublicKeyshare },
  };
  const ke1Copy: KE1 = {
    credentialRequest: { blindedMessage: new Uint8Array(blindedMessage) },
    authRequest: {
      clientNonce: new Uint8Array(clientNonce),
      clientPublicKeyshare: new Uint8Array(clientPublicKeyshare),
    },
  };
  return {
    ke1,
    state: { password: new Uint8Array(password), blind: new Uint8Array(blind), clientSecret, ke1: ke1Copy },
  };
}

/** Parameters of {@link generateKE3}. */
export interface GenerateKE3Params extends OpaqueLoginOptions {
  /** From {@link generateKE1}. */
  state: ClientLoginState;
  /** The server's answer. */
  ke2: KE2;
  /** The key-stretching function used at registration. */
  ksf: Ksf;
}

/**
 * Client: `GenerateKE3`. Recovers the credentials (RecoverCredentials), authenticates the
 * server and returns KE3, the session key and the export key.
 *
 * @throws E2EEError `OPAQUE_ERRORS.ENVELOPE_RECOVERY` (wrong password or modified credential
 * response), `OPAQUE_ERRORS.SERVER_AUTHENTICATION` (bad server MAC), `OPAQUE_ERRORS.MALFORMED`
 * (malformed input).
 */
export async function generateKE3(params: GenerateKE3Params): Promise<{
  /** The message to send to the server. */
  ke3: KE3;
  /** The key both sides now share (64 bytes). Secret. */
  sessionKey: Uint8Array;
  /** The same export key as at registration (64 bytes). Secret. */
  exportKey: Uint8Array;
}> {
  const { state, ke2, ksf } = params;
  const context = checkContext(params.context);
  const ke1Bytes = serializeKE1(state.ke1);
  const credentialResponseBytes = serializeCredentialResponse(ke2.credentialResponse);
  const { serverNonce, serverPublicKeyshare, serverMac } = ke2.authResponse;
  checkBytes(serverNonce, 'server_nonce', Nn);
  checkElement(serverPublicKeyshare, 'server_public_keyshare');
  checkBytes(serverMac, 'server_mac', Nm);

  // RecoverCredentials
  const { evaluatedMessage, maskingNonce, maskedResponse } = ke2.credentialResponse;
  const { randomizedPassword } = await randomizePassword(state.password, state.blind, evaluatedMessage, ksf);
  const maskingKey = kdfExpand(randomizedPassword, utf8('MaskingKey'), Nh);
  const pad = kdfExpand(maskingKey, concat(maskingNonce, utf8('CredentialResponsePad')), Npk + Nn + Nm);
  const unmasked = xor(pad, maskedResponse);
  const serverPublicKey = unmasked.slice(0, Npk);
  const envelope: Envelope = { nonce: unmasked.slice(Npk, Npk + Nn), authTag: unmasked.slice(Npk + Nn) };

  // Recover (RFC 9807 section 4.1.3)
  const { authKey, exportKey, keyPair } = envelopeKeys(randomizedPassword, envelope.nonce);
  const creds = cleartextCredentials(serverPublicKey, keyPair.publicKey, params);
  const expectedTag = envelopeTag(authKey, envelope.nonce, creds);
  const envelopeOk = constantTimeEqual(envelope.authTag, expectedTag);
  for (const v of [randomizedPassword, maskingKey, pad, authKey]) v.fill(0);
  if (!envelopeOk) {
    exportKey.fill(0);
    keyPair.privateKey.fill(0);
    throw new E2EEError(
      OPAQUE_ERRORS.ENVELOPE_RECOVERY,
      'OPAQUE: envelope recovery failed (wrong password?)',
    );
  }

  // AuthClientFinalize; server_public_key came out of the authenticated envelope, check it anyway.
  const dh1 = diffieHellman(state.clientSecret, serverPublicKeyshare, 'server_public_keyshare');
  const dh2 = diffieHellman(state.clientSecret, serverPublicKey, 'server_public_key');
  const dh3 = diffieHellman(keyPair.privateKey, serverPublicKeyshare, 'server_public_keyshare');
  const ikm = concat(dh1, dh2, dh3);
  const transcript = preamble(
    context,
    creds,
    ke1Bytes,
    credentialResponseBytes,
    serverNonce,
    serverPublicKeyshare,
  );
  const keys = deriveKeys(ikm, transcript);
  const expectedServerMac = mac(keys.km2, hash(transcript));
  const serverOk = constantTimeEqual(serverMac, expectedServerMac);
  for (const v of [dh1, dh2, dh3, ikm, keyPair.privateKey, keys.handshakeSecret, keys.km2]) v.fill(0);
  if (!serverOk) {
    for (const v of [exportKey, keys.km3, keys.sessionKey]) v.fill(0);
    throw new E2EEError(OPAQUE_ERRORS.SERVER_AUTHENTICATION, 'OPAQUE: server authentication failed');
  }
  const clientMac = mac(keys.km3, hash(concat(transcript, expectedServerMac)));
  keys.km3.fill(0);
  return { ke3: { clientMac }, sessionKey: keys.sessionKey, exportKey };
}

// ---------------------------------------------------------------------------------------------
// Login: server

/** Parameters of {@link generateKE2}. */
export interface GenerateKE2Params extends OpaqueLoginOptions {
  /** The server's long-term keys. */
  serverKeys: ServerKeys;
  /** The client's stored record. */
  record: RegistrationRecord;
  /** The identifier the record was registered under (it selects the OPRF key). */
  credentialIdentifier: Uint8Array;
  /** The client's first message. */
  ke1: KE1;
}

/** Parameters of {@link generateFakeKE2}. */
export interface GenerateFakeKE2Params extends OpaqueLoginOptions {
  /** The server's long-term keys. */
  serverKeys: ServerKeys;
  /** The server's fake record, the same for every unknown identifier. */
  fakeRecord: FakeRecord;
  /** The (unknown) credential identifier the client asked for. */
  credentialIdentifier: Uint8Array;
  /** The client's first message. */
  ke1: KE1;
}

/** Randomness of {@link generateKE2Deterministic} and {@link generateFakeKE2Deterministic}. */
export interface KE2Randomness {
  /** Nn bytes. */
  maskingNonce: Uint8Array;
  /** Nn bytes. */
  serverNonce: Uint8Array;
  /** Nseed bytes, for the ephemeral 3DH key pair. */
  serverKeyshareSeed: Uint8Array;
}

/** Values computed while making KE2, exposed by the deterministic variants for test vectors. Secret. */
export interface KE2Intermediates {
  /** The credential's OPRF private key (32 bytes). */
  oprfKey: Uint8Array;
  /** The 3DH handshake secret (64 bytes). */
  handshakeSecret: Uint8Array;
  /** `Km2`, the key of the server MAC (64 bytes). */
  serverMacKey: Uint8Array;
  /** `Km3`, the key of the client MAC (64 bytes). */
  clientMacKey: Uint8Array;
}

function freshKE2Randomness(): KE2Randomness {
  return { maskingNonce: random(Nn), serverNonce: random(Nn), serverKeyshareSeed: random(Nseed) };
}

/** Server: `GenerateKE2` for a registered credential. */
export function generateKE2(params: GenerateKE2Params): {
  /** The message to send to the client. */
  ke2: KE2;
  /** Keep for {@link serverFinish}; single use. */
  state: ServerLoginState;
} {
  const { ke2, state, intermediates } = generateKE2Deterministic(params, freshKE2Randomness());
  for (const v of Object.values(intermediates)) v.fill(0);
  return { ke2, state };
}

/** Server: `GenerateKE2` with explicit randomness. Tests only. */
export function generateKE2Deterministic(
  params: GenerateKE2Params,
  randomness: KE2Randomness,
): {
  /** The message to send to the client. */
  ke2: KE2;
  /** Keep for {@link serverFinish}; single use. */
  state: ServerLoginState;
  /** Secret values for test vectors; zero them when done. */
  intermediates: KE2Intermediates;
} {
  return ke2Core(params, params.record, false, randomness);
}

/**
 * Server: the KE2 for a credential identifier that has no record (RFC 9807 section 6.3.2.2,
 * client enumeration): `CreateCredentialResponse` run on the fake record, whose envelope is all
 * zeros. The same computation as {@link generateKE2}, and the same length on the wire; the
 * returned state makes {@link serverFinish} fail whatever KE3 arrives.
 */
export function generateFakeKE2(params: GenerateFakeKE2Params): {
  /** The message to send to the client, indistinguishable from a real KE2. */
  ke2: KE2;
  /** Pass to {@link serverFinish}, which will fail. */
  state: ServerLoginState;
} {
  const { ke2, state, intermediates } = generateFakeKE2Deterministic(params, freshKE2Randomness());
  for (const v of Object.values(intermediates)) v.fill(0);
  return { ke2, state };
}

/** Server: {@link generateFakeKE2} with explicit randomness. Tests only. */
export function generateFakeKE2Deterministic(
  params: GenerateFakeKE2Params,
  randomness: KE2Randomness,
): {
  /** The message to send to the client, indistinguishable from a real KE2. */
  ke2: KE2;
  /** Pass to {@link serverFinish}, which will fail. */
  state: ServerLoginState;
  /** Secret values for test vectors; zero them when done. */
  intermediates: KE2Intermediates;
} {
  const { fakeRecord } = params;
  const record: RegistrationRecord = {
    clientPublicKey: fakeRecord.clientPublicKey,
    maskingKey: fakeRecord.maskingKey,
    envelope: { nonce: new Uint8Array(Nn), authTag: new Uint8Array(Nm) },
  };
  return ke2Core(params, record, true, randomness);
}

/** A fresh fake record: a random ristretto255 public key and a random Nh-byte masking key. */
export function createFakeRecord(): FakeRecord {
  const seed = random(Nseed);
  const { privateKey, publicKey } = deriveDiffieHellmanKeyPair(seed);
  seed.fill(0);
  privateKey.fill(0);
  return { clientPublicKey: publicKey, maskingKey: random(Nh) };
}

function ke2Core(
  params: OpaqueLoginOptions & { serverKeys: ServerKeys; credentialIdentifier: Uint8Array; ke1: KE1 },
  record: RegistrationRecord,
  fake: boolean,
  randomness: KE2Randomness,
): { ke2: KE2; state: ServerLoginState; intermediates: KE2Intermediates } {
  const { serverKeys, credentialIdentifier, ke1 } = params;
  const { maskingNonce, serverNonce, serverKeyshareSeed } = randomness;
  checkServerKeys(serverKeys, true);
  const context = checkContext(params.context);
  checkBytes(maskingNonce, 'masking_nonce', Nn);
  checkBytes(serverNonce, 'server_nonce', Nn);
  checkBytes(serverKeyshareSeed, 'server_keyshare_seed', Nseed);
  checkElement(record.clientPublicKey, 'client_public_key');
  checkBytes(record.maskingKey, 'masking_key', Nh);
  const envelopeBytes = serializeEnvelope(record.envelope);
  const ke1Bytes = serializeKE1(ke1);
  checkElement(ke1.authRequest.clientPublicKeyshare, 'client_public_keyshare');

  // CreateCredentialResponse
  const oprfKey = deriveOprfKey(serverKeys.oprfSeed, credentialIdentifier);
  const evaluatedMessage = blindEvaluate(oprfKey, ke1.credentialRequest.blindedMessage);
  const pad = kdfExpand(
    record.maskingKey,
    concat(maskingNonce, utf8('CredentialResponsePad')),
    Npk + Nn + Nm,
  );
  const maskedResponse = xor(pad, concat(serverKeys.publicKey, envelopeBytes));
  const credentialResponse: CredentialResponse = {
    evaluatedMessage,
    maskingNonce: new Uint8Array(maskingNonce),
    maskedResponse,
  };

  // AuthServerRespond
  const creds = cleartextCredentials(serverKeys.publicKey, record.clientPublicKey, params);
  const { privateKey: serverSecret, publicKey: serverPublicKeyshare } =
    deriveDiffieHellmanKeyPair(serverKeyshareSeed);
  const transcript = preamble(
    context,
    creds,
    ke1Bytes,
    serializeCredentialResponse(credentialResponse),
    serverNonce,
    serverPublicKeyshare,
  );
  const clientKeyshare = ke1.authRequest.clientPublicKeyshare;
  const dh1 = diffieHellman(serverSecret, clientKeyshare, 'client_public_keyshare');
  const dh2 = diffieHellman(serverKeys.privateKey, clientKeyshare, 'client_public_keyshare');
  const dh3 = diffieHellman(serverSecret, record.clientPublicKey, 'client_public_key');
  const ikm = concat(dh1, dh2, dh3);
  const keys = deriveKeys(ikm, transcript);
  const serverMac = mac(keys.km2, hash(transcript));
  const expectedClientMac = mac(keys.km3, hash(concat(transcript, serverMac)));
  for (const v of [pad, serverSecret, dh1, dh2, dh3, ikm]) v.fill(0);

  return {
    ke2: {
      credentialResponse,
      authResponse: { serverNonce: new Uint8Array(serverNonce), serverPublicKeyshare, serverMac },
    },
    state: { expectedClientMac, sessionKey: keys.sessionKey, fake },
    intermediates: {
      oprfKey,
      handshakeSecret: keys.handshakeSecret,
      serverMacKey: keys.km2,
      clientMacKey: keys.km3,
    },
  };
}

/**
 * Server: `ServerFinish(ke3)`: checks the client's MAC and returns the session key.
 *
 * @throws E2EEError `OPAQUE_ERRORS.CLIENT_AUTHENTICATION` if the MAC is wrong or the login ran
 * against a fake record; `OPAQUE_ERRORS.MALFORMED` if KE3 is malformed.
 */
export function serverFinish(state: ServerLoginState, ke3: KE3): Uint8Array {
  checkBytes(ke3.clientMac, 'client_mac', Nm);
  checkBytes(state.expectedClientMac, 'expected_client_mac', Nm);
  const ok = constantTimeEqual(ke3.clientMac, state.expectedClientMac);
  if (!ok || state.fake !== false) {
    throw new E2EEError(OPAQUE_ERRORS.CLIENT_AUTHENTICATION, 'OPAQUE: client authentication failed');
  }
  return new Uint8Array(state.sessionKey);
}
