/**
 * What each OPAQUE function (src/vault/opaque/opaque.ts) refuses, and says when it does: every
 * input length, scalar and element check with its code and message, the bounds of passwords,
 * contexts and identities at their exact limits, the authentication failures' texts, and the
 * KSF buffers wiped once used. opaque.test.ts checks the protocol (RFC 9807 vectors, tampering);
 * this file checks that each refusal is the one it claims to be.
 */
import { ristretto255 } from '@noble/curves/ed25519.js';
import { hexToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { E2EEError } from '../../src/errors.js';
import {
  createRegistrationRequestDeterministic,
  createRegistrationResponse,
  deriveDiffieHellmanKeyPair,
  deriveOprfKey,
  finalizeRegistrationRequestDeterministic,
  generateFakeKE2Deterministic,
  generateKE1Deterministic,
  generateKE2Deterministic,
  generateKE3,
  identityKsf,
  type Ksf,
  publicKeyFromPrivateKey,
  type ServerKeys,
  serverFinish,
  serverKeysFromSeed,
} from '../../src/vault/opaque/opaque.js';

const enc = (s: string) => new TextEncoder().encode(s);
const fill = (n: number, b: number) => new Uint8Array(n).fill(b);
/** The group order n, little-endian: the smallest non-canonical scalar. */
const ORDER = hexToBytes('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010');
const ONE = Uint8Array.of(1, ...new Uint8Array(31));
const IDENTITY = new Uint8Array(32);
const element = (k: number) => ristretto255.Point.BASE.multiply(BigInt(k)).toBytes();

async function refusal(fn: () => unknown): Promise<[string, string]> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(E2EEError);
    return [(err as E2EEError).code, (err as E2EEError).message];
  }
  throw new Error('expected an E2EEError');
}
const malformed = (message: string): [string, string] => ['VAULT_PROTOCOL', `OPAQUE: ${message}`];

const serverKeys = (): ServerKeys => serverKeysFromSeed(fill(64, 7), fill(32, 8));
const credentialIdentifier = enc('alice credential');
const ke1Randomness = () => ({ blind: ONE, clientNonce: fill(32, 1), clientKeyshareSeed: fill(32, 2) });
const ke2Randomness = () => ({
  maskingNonce: fill(32, 3),
  serverNonce: fill(32, 4),
  serverKeyshareSeed: fill(32, 5),
});

/** A registration of `password` (deterministic), its record and export key. */
async function register(password: string, ksf: Ksf = identityKsf) {
  const keys = serverKeys();
  const { request, state } = createRegistrationRequestDeterministic(enc(password), ONE);
  const response = createRegistrationResponse({ request, serverKeys: keys, credentialIdentifier });
  return { keys, ...(await finalizeRegistrationRequestDeterministic({ state, response, ksf }, fill(32, 9))) };
}

/** A login of `password` against a record of `registered`, up to KE2. */
async function loginToKE2(registered: string, password: string) {
  const { keys, record, exportKey } = await register(registered);
  const client = generateKE1Deterministic(enc(password), ke1Randomness());
  const server = generateKE2Deterministic(
    { serverKeys: keys, record, credentialIdentifier, ke1: client.ke1 },
    ke2Randomness(),
  );
  return { keys, record, exportKey, client, server };
}

describe('scalars, passwords, contexts and identities', () => {
  it('a scalar must be canonical, nonzero, 32 bytes (blind, private key)', async () => {
    const pw = enc('pw');
    expect(await refusal(() => createRegistrationRequestDeterministic(pw, new Uint8Array(32)))).toEqual(
      malformed('blind is zero'),
    );
    expect(await refusal(() => createRegistrationRequestDeterministic(pw, ORDER))).toEqual(
      malformed('blind is not a canonical ristretto255 scalar'),
    );
    expect(await refusal(() => createRegistrationRequestDeterministic(pw, new Uint8Array(31)))).toEqual(
      malformed('blind must be 32 bytes, got 31'),
    );
    expect(await refusal(() => publicKeyFromPrivateKey(ORDER))).toEqual(
      malformed('private key is not a canonical ristretto255 scalar'),
    );
    expect(await refusal(() => publicKeyFromPrivateKey(new Uint8Array(32)))).toEqual(
      malformed('private key is zero'),
    );
    // The largest canonical scalar, n − 1, is accepted.
    const nMinus1 = ORDER.slice();
    nMinus1[0]! -= 1;
    expect(publicKeyFromPrivateKey(nMinus1)).toEqual(ristretto255.Point.BASE.negate().toBytes());
    expect(publicKeyFromPrivateKey(ONE)).toEqual(element(1));
  });

  it('a password is a Uint8Array of at most 65535 bytes', async () => {
    expect(
      createRegistrationRequestDeterministic(fill(0xffff, 0x61), ONE).request.blindedMessage,
    ).toHaveLength(32);
    expect(
      generateKE1Deterministic(fill(0xffff, 0x61), ke1Randomness()).ke1.authRequest.clientNonce,
    ).toHaveLength(32);
    for (const fn of [
      (p: Uint8Array) => createRegistrationRequestDeterministic(p, ONE),
      (p: Uint8Array) => generateKE1Deterministic(p, ke1Randomness()),
    ]) {
      expect(await refusal(() => fn(new Uint8Array(0x10000)))).toEqual(
        malformed('password must be at most 65535 bytes'),
      );
      expect(await refusal(() => fn('pw' as unknown as Uint8Array))).toEqual(
        malformed('password must be a Uint8Array'),
      );
    }
  });

  it('a context is a Uint8Array of at most 65535 bytes, on both sides', async () => {
    const { keys, record, client } = await loginToKE2('pw', 'pw');
    const ke2 = (context: unknown) =>
      generateKE2Deterministic(
        { serverKeys: keys, record, credentialIdentifier, ke1: client.ke1, context: context as Uint8Array },
        ke2Randomness(),
      );
    const big = new Uint8Array(0xffff);
    const server = ke2(big);
    const { ke3 } = await generateKE3({
      state: client.state,
      ke2: server.ke2,
      ksf: identityKsf,
      context: big,
    });
    expect(serverFinish(server.state, ke3)).toHaveLength(64);
    expect(await refusal(() => ke2(new Uint8Array(0x10000)))).toEqual(
      malformed('context must be at most 65535 bytes'),
    );
    expect(await refusal(() => ke2('ctx'))).toEqual(malformed('context must be a Uint8Array'));
    expect(
      await refusal(() =>
        generateKE3({
          state: client.state,
          ke2: server.ke2,
          ksf: identityKsf,
          context: new Uint8Array(0x10000),
        }),
      ),
    ).toEqual(malformed('context must be at most 65535 bytes'));
  });

  it('an identity is 1 to 65535 bytes; absent, the public keys stand in', async () => {
    const { keys, record, client } = await loginToKE2('pw', 'pw');
    const ke2 = (ids: { clientIdentity?: Uint8Array; serverIdentity?: Uint8Array }) =>
      generateKE2Deterministic(
        { serverKeys: keys, record, credentialIdentifier, ke1: client.ke1, ...ids },
        ke2Randomness(),
      );
    expect(await refusal(() => ke2({ serverIdentity: new Uint8Array(0) }))).toEqual(
      malformed('server_identity must be 1 to 65535 bytes, got 0'),
    );
    expect(await refusal(() => ke2({ clientIdentity: new Uint8Array(0x10000) }))).toEqual(
      malformed('client_identity must be 1 to 65535 bytes, got 65536'),
    );
    // The default identities are the public keys: naming them explicitly gives the same KE2.
    const implicit = ke2({});
    const explicit = ke2({ serverIdentity: keys.publicKey, clientIdentity: record.clientPublicKey });
    expect(explicit.state.expectedClientMac).toEqual(implicit.state.expectedClientMac);
    expect(ke2({ serverIdentity: enc('s') }).state.expectedClientMac).not.toEqual(
      implicit.state.expectedClientMac,
    );
    expect(ke2({ clientIdentity: enc('c') }).state.expectedClientMac).not.toEqual(
      implicit.state.expectedClientMac,
    );
  });
});

describe('server keys and server inputs', () => {
  it('serverKeys: an object, a 64-byte OPRF seed, a valid public key, and a private key for KE2', async () => {
    const keys = serverKeys();
    const { request } = createRegistrationRequestDeterministic(enc('pw'), ONE);
    const respond = (k: unknown) =>
      createRegistrationResponse({ request, serverKeys: k as ServerKeys, credentialIdentifier });
    // Registration needs no private key.
    expect(respond({ oprfSeed: keys.oprfSeed, publicKey: keys.publicKey }).serverPublicKey).toEqual(
      keys.publicKey,
    );
    expect(await refusal(() => respond(null))).toEqual(malformed('serverKeys must be an object'));
    expect(await refusal(() => respond('keys'))).toEqual(malformed('serverKeys must be an object'));
    expect(await refusal(() => respond({ ...keys, oprfSeed: new Uint8Array(63) }))).toEqual(
      malformed('oprf_seed must be 64 bytes, got 63'),
    );
    expect(await refusal(() => respond({ ...keys, publicKey: IDENTITY }))).toEqual(
      malformed('server_public_key is the identity element'),
    );

    const { record, client } = await loginToKE2('pw', 'pw');
    const ke2 = (k: ServerKeys) =>
      generateKE2Deterministic(
        { serverKeys: k, record, credentialIdentifier, ke1: client.ke1 },
        ke2Randomness(),
      );
    expect(await refusal(() => ke2({ ...keys, privateKey: new Uint8Array(32) }))).toEqual(
      malformed('server_private_key is zero'),
    );
  });

  it('the OPRF seed and the AKE seed have their sizes; a credential identifier is bytes', async () => {
    expect(await refusal(() => serverKeysFromSeed(new Uint8Array(63), new Uint8Array(32)))).toEqual(
      malformed('oprf_seed must be 64 bytes, got 63'),
    );
    expect(await refusal(() => serverKeysFromSeed(new Uint8Array(64), new Uint8Array(31)))).toEqual(
      malformed('AKE seed must be 32 bytes, got 31'),
    );
    expect(await refusal(() => deriveOprfKey(new Uint8Array(65), credentialIdentifier))).toEqual(
      malformed('oprf_seed must be 64 bytes, got 65'),
    );
    expect(await refusal(() => deriveOprfKey(new Uint8Array(64), 'id' as unknown as Uint8Array))).toEqual(
      malformed('credential_identifier must be a Uint8Array'),
    );
  });

  it('KE2: each random input and record field has its size; the client keyshare is an element', async () => {
    const { keys, record, client } = await loginToKE2('pw', 'pw');
    const ke2 = (over: Partial<ReturnType<typeof ke2Randomness>>, rec = record, ke1 = client.ke1) =>
      generateKE2Deterministic(
        { serverKeys: keys, record: rec, credentialIdentifier, ke1 },
        { ...ke2Randomness(), ...over },
      );
    expect(await refusal(() => ke2({ maskingNonce: new Uint8Array(31) }))).toEqual(
      malformed('masking_nonce must be 32 bytes, got 31'),
    );
    expect(await refusal(() => ke2({ serverNonce: new Uint8Array(33) }))).toEqual(
      malformed('server_nonce must be 32 bytes, got 33'),
    );
    expect(await refusal(() => ke2({ serverKeyshareSeed: new Uint8Array(31) }))).toEqual(
      malformed('server_keyshare_seed must be 32 bytes, got 31'),
    );
    expect(await refusal(() => ke2({}, { ...record, maskingKey: new Uint8Array(63) }))).toEqual(
      malformed('masking_key must be 64 bytes, got 63'),
    );
    expect(await refusal(() => ke2({}, { ...record, clientPublicKey: IDENTITY }))).toEqual(
      malformed('client_public_key is the identity element'),
    );
    const badKe1 = {
      ...client.ke1,
      authRequest: { ...client.ke1.authRequest, clientPublicKeyshare: IDENTITY },
    };
    expect(await refusal(() => ke2({}, record, badKe1))).toEqual(
      malformed('client_public_keyshare is the identity element'),
    );
    const badBlinded = { ...client.ke1, credentialRequest: { blindedMessage: IDENTITY } };
    expect(await refusal(() => ke2({}, record, badBlinded))).toEqual(
      malformed('blinded_message is the identity element'),
    );
    // The fake record's fields are checked the same way.
    expect(
      await refusal(() =>
        generateFakeKE2Deterministic(
          {
            serverKeys: keys,
            fakeRecord: { clientPublicKey: element(3), maskingKey: new Uint8Array(65) },
            credentialIdentifier,
            ke1: client.ke1,
          },
          ke2Randomness(),
        ),
      ),
    ).toEqual(malformed('masking_key must be 64 bytes, got 65'));
  });
});

describe('client inputs', () => {
  it('KE1: the client nonce and keyshare seed have their sizes', async () => {
    expect(
      await refusal(() =>
        generateKE1Deterministic(enc('pw'), { ...ke1Randomness(), clientNonce: new Uint8Array(31) }),
      ),
    ).toEqual(malformed('client_nonce must be 32 bytes, got 31'));
    expect(
      await refusal(() =>
        generateKE1Deterministic(enc('pw'), { ...ke1Randomness(), clientKeyshareSeed: new Uint8Array(33) }),
      ),
    ).toEqual(malformed('client_keyshare_seed must be 32 bytes, got 33'));
  });

  it('registration: the envelope nonce has 32 bytes, the server key is an element, the KSF a function', async () => {
    const keys = serverKeys();
    const { request, state } = createRegistrationRequestDeterministic(enc('pw'), ONE);
    const response = createRegistrationResponse({ request, serverKeys: keys, credentialIdentifier });
    expect(
      await refusal(() =>
        finalizeRegistrationRequestDeterministic({ state, response, ksf: identityKsf }, new Uint8Array(31)),
      ),
    ).toEqual(malformed('envelope_nonce must be 32 bytes, got 31'));
    expect(
      await refusal(() =>
        finalizeRegistrationRequestDeterministic(
          { state, response: { ...response, serverPublicKey: IDENTITY }, ksf: identityKsf },
          fill(32, 9),
        ),
      ),
    ).toEqual(malformed('server_public_key is the identity element'));
    expect(
      await refusal(() =>
        finalizeRegistrationRequestDeterministic(
          { state, response: { ...response, evaluatedMessage: IDENTITY }, ksf: identityKsf },
          fill(32, 9),
        ),
      ),
    ).toEqual(malformed('evaluated_message is the identity element'));
    expect(
      await refusal(() =>
        finalizeRegistrationRequestDeterministic(
          { state, response, ksf: 'argon2id' as unknown as Ksf },
          fill(32, 9),
        ),
      ),
    ).toEqual(malformed('ksf must be a function'));
    expect(
      await refusal(() =>
        finalizeRegistrationRequestDeterministic(
          { state, response, ksf: () => 'out' as unknown as Uint8Array },
          fill(32, 9),
        ),
      ),
    ).toEqual(malformed('KSF output must be a Uint8Array'));
  });

  it("a KSF's own failure is what the caller sees, its input wiped all the same", async () => {
    const seen: Uint8Array[] = [];
    const failure = new Error('out of memory');
    const ksf: Ksf = async (input) => {
      seen.push(input);
      throw failure;
    };
    await expect(register('pw', ksf)).rejects.toBe(failure);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.every((x) => x === 0)).toBe(true);
  });

  it("a client state's blind and password are checked again when used (a state built by hand)", async () => {
    const keys = serverKeys();
    const { request, state } = createRegistrationRequestDeterministic(enc('pw'), ONE);
    const response = createRegistrationResponse({ request, serverKeys: keys, credentialIdentifier });
    const finalize = (st: typeof state) =>
      finalizeRegistrationRequestDeterministic({ state: st, response, ksf: identityKsf }, fill(32, 9));
    expect(await refusal(() => finalize({ ...state, blind: new Uint8Array(32) }))).toEqual(
      malformed('blind is zero'),
    );
    // Too long for RFC 9497's Finalize: noble's refusal, wrapped as MALFORMED with it as the cause.
    let err: unknown;
    await finalize({ ...state, password: new Uint8Array(0x10000) }).catch((e: unknown) => {
      err = e;
    });
    expect(err).toBeInstanceOf(E2EEError);
    expect((err as E2EEError).code).toBe('VAULT_PROTOCOL');
    expect((err as E2EEError).message).toMatch(/^OPAQUE: Finalize failed: .*65535/);
    expect((err as E2EEError).cause).toBeInstanceOf(Error);
    expect((err as E2EEError).message).toBe(
      `OPAQUE: Finalize failed: ${((err as E2EEError).cause as Error).message}`,
    );
  });

  it("KE3: the client's keyshare secret is checked as a private key (a state built by hand)", async () => {
    const { client, server } = await loginToKE2('pw', 'pw');
    const state = { ...client.state, clientSecret: new Uint8Array(32) };
    expect(await refusal(() => generateKE3({ state, ke2: server.ke2, ksf: identityKsf }))).toEqual(
      malformed('private key is zero'),
    );
  });

  it('deriveDiffieHellmanKeyPair takes a 32-byte seed', async () => {
    expect(deriveDiffieHellmanKeyPair(fill(32, 8)).publicKey).toEqual(serverKeys().publicKey);
    expect(await refusal(() => deriveDiffieHellmanKeyPair(new Uint8Array(31)))).toEqual(
      malformed('seed must be 32 bytes, got 31'),
    );
  });

  it("the KSF's input and output are wiped once used", async () => {
    const seen: Uint8Array[] = [];
    const ksf: Ksf = async (input) => {
      seen.push(input);
      const out = Uint8Array.from(input, (b) => b ^ 0x5a);
      seen.push(out);
      return out;
    };
    await register('pw', ksf);
    expect(seen).toHaveLength(2);
    for (const b of seen) {
      expect(b).toHaveLength(64);
      expect(b.every((x) => x === 0)).toBe(true);
    }
  });

  it('KE3: the server nonce, keyshare and MAC are checked before anything is derived', async () => {
    const { client, server } = await loginToKE2('pw', 'pw');
    const withAuth = (over: Record<string, Uint8Array>) => ({
      ...server.ke2,
      authResponse: { ...server.ke2.authResponse, ...over },
    });
    const ke3 = (ke2: typeof server.ke2) => generateKE3({ state: client.state, ke2, ksf: identityKsf });
    expect(await refusal(() => ke3(withAuth({ serverNonce: new Uint8Array(31) })))).toEqual(
      malformed('server_nonce must be 32 bytes, got 31'),
    );
    expect(await refusal(() => ke3(withAuth({ serverPublicKeyshare: IDENTITY })))).toEqual(
      malformed('server_public_keyshare is the identity element'),
    );
    expect(await refusal(() => ke3(withAuth({ serverMac: new Uint8Array(63) })))).toEqual(
      malformed('server_mac must be 64 bytes, got 63'),
    );
  });

  it('KE3: a wrong password is ENVELOPE_RECOVERY, a wrong server MAC is SERVER_AUTHENTICATION', async () => {
    const wrong = await loginToKE2('pw', 'other');
    expect(
      await refusal(() =>
        generateKE3({ state: wrong.client.state, ke2: wrong.server.ke2, ksf: identityKsf }),
      ),
    ).toEqual(['WRONG_PASSWORD', 'OPAQUE: envelope recovery failed (wrong password?)']);
    const { client, server } = await loginToKE2('pw', 'pw');
    const serverMac = server.ke2.authResponse.serverMac.slice();
    serverMac[63]! ^= 1;
    const ke2 = { ...server.ke2, authResponse: { ...server.ke2.authResponse, serverMac } };
    expect(await refusal(() => generateKE3({ state: client.state, ke2, ksf: identityKsf }))).toEqual([
      'SERVER_AUTH',
      'OPAQUE: server authentication failed',
    ]);
  });
});

describe('serverFinish', () => {
  it('releases a copy of the session key for the right MAC of a real record only', async () => {
    const { client, server, exportKey } = await loginToKE2('pw', 'pw');
    const result = await generateKE3({ state: client.state, ke2: server.ke2, ksf: identityKsf });
    expect(result.exportKey).toEqual(exportKey);
    const sessionKey = serverFinish(server.state, result.ke3);
    expect(sessionKey).toEqual(result.sessionKey);
    sessionKey.fill(0);
    expect(server.state.sessionKey).toEqual(result.sessionKey);

    const failed: [string, string] = ['WRONG_PASSWORD', 'OPAQUE: client authentication failed'];
    const mac = result.ke3.clientMac.slice();
    mac[0]! ^= 1;
    expect(await refusal(() => serverFinish(server.state, { clientMac: mac }))).toEqual(failed);
    // Anything but `fake: false` is refused, even with the right MAC.
    for (const fake of [true, undefined, 0]) {
      expect(
        await refusal(() => serverFinish({ ...server.state, fake: fake as unknown as boolean }, result.ke3)),
      ).toEqual(failed);
    }
    expect(await refusal(() => serverFinish(server.state, { clientMac: new Uint8Array(63) }))).toEqual(
      malformed('client_mac must be 64 bytes, got 63'),
    );
    expect(
      await refusal(() =>
        serverFinish({ ...server.state, expectedClientMac: new Uint8Array(65) }, result.ke3),
      ),
    ).toEqual(malformed('expected_client_mac must be 64 bytes, got 65'));
  });
});
