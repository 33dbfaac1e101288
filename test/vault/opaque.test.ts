import { readFileSync } from 'node:fs';
import { sha512 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { E2EEError } from '../../src/errors.js';
import { constantTimeEqual } from '../../src/internal/bytes.js';
import {
  createFakeRecord,
  createRegistrationRequest,
  createRegistrationRequestDeterministic,
  createRegistrationResponse,
  deriveDiffieHellmanKeyPair,
  deriveOprfKey,
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
  finalizeRegistrationRequest,
  finalizeRegistrationRequestDeterministic,
  generateFakeKE2,
  generateFakeKE2Deterministic,
  generateKE1,
  generateKE1Deterministic,
  generateKE2,
  generateKE2Deterministic,
  generateKE3,
  generateServerKeys,
  identityKsf,
  type Ksf,
  OPAQUE_ERRORS,
  OPAQUE_MESSAGE_LENGTHS,
  OPAQUE_SIZES,
  type OpaqueLoginOptions,
  publicKeyFromPrivateKey,
  type RegistrationRecord,
  type ServerKeys,
  serializeAuthRequest,
  serializeAuthResponse,
  serializeCredentialRequest,
  serializeCredentialResponse,
  serializeEnvelope,
  serializeKE1,
  serializeKE2,
  serializeKE3,
  serializeRegistrationRecord,
  serializeRegistrationRequest,
  serializeRegistrationResponse,
  serverFinish,
  serverKeysFromSeed,
} from '../../src/vault/opaque/opaque.js';
import { thirdPartyFile } from '../shared-data.js';

// ---------------------------------------------------------------------------------------------
// Test vectors (draft-irtf-cfrg-opaque, the text of RFC 9807 Appendix C), vendored in
// vectors/third-party/opaque ($OPAQUE_VECTORS_DIR reads another copy), parsed at test time.

interface Vector {
  title: string;
  kind: 'Real' | 'Fake';
  /** Section name ("Configuration", "Input Values", ...) -> key -> value. */
  sections: Record<string, Record<string, string>>;
}

const vectorsPath = thirdPartyFile('OPAQUE_VECTORS_DIR', 'opaque', 'opaque-3dh-test-vectors.txt');

function parseVectors(text: string): Vector[] {
  const vectors: Vector[] = [];
  let current: Vector | undefined;
  let section: Record<string, string> | undefined;
  let lastKey: string | undefined;
  let inBlock = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimEnd();
    const h3 = /^### OPAQUE-3DH (Real|Fake) Test Vector \d+/.exec(line);
    if (h3) {
      current = { title: line.slice(4), kind: h3[1] as 'Real' | 'Fake', sections: {} };
      vectors.push(current);
      section = undefined;
      continue;
    }
    const h4 = /^#### (.+)$/.exec(line);
    if (h4 && current) {
      section = {};
      current.sections[h4[1]!] = section;
      lastKey = undefined;
      continue;
    }
    if (line.startsWith('~~~')) {
      inBlock = !inBlock;
      lastKey = undefined;
      continue;
    }
    if (!inBlock || !section || line === '') continue;
    const kv = /^([A-Za-z0-9_]+): ?(.*)$/.exec(line);
    if (kv) {
      lastKey = kv[1]!;
      section[lastKey] = kv[2]!;
    } else if (lastKey !== undefined) {
      // Long hex values are wrapped over several lines.
      section[lastKey] += line.trim();
    } else {
      throw new Error(`unparsable vector line: ${line}`);
    }
  }
  return vectors;
}

const vectors: Vector[] = parseVectors(readFileSync(vectorsPath, 'utf8'));

function isOurConfiguration(v: Vector): boolean {
  const c = v.sections['Configuration'] ?? {};
  return c['OPRF'] === 'ristretto255-SHA512' && c['Group'] === 'ristretto255';
}

const h = (s: string | undefined): Uint8Array => {
  if (s === undefined) throw new Error('missing vector value');
  return hexToBytes(s);
};
const hex = (b: Uint8Array): string => bytesToHex(b);

function checkConfiguration(v: Vector): OpaqueLoginOptions {
  const c = v.sections['Configuration']!;
  expect(c['Hash']).toBe('SHA512');
  expect(c['KDF']).toBe('HKDF-SHA512');
  expect(c['MAC']).toBe('HMAC-SHA512');
  expect(c['KSF']).toBe('Identity');
  for (const k of ['Nh', 'Npk', 'Nsk', 'Nm', 'Nx', 'Nok'] as const) {
    expect(Number(c[k]), k).toBe(OPAQUE_SIZES[k]);
  }
  const inputs = v.sections['Input Values']!;
  const opts: OpaqueLoginOptions = { context: h(c['Context']) };
  if (inputs['client_identity'] !== undefined) opts.clientIdentity = h(inputs['client_identity']);
  if (inputs['server_identity'] !== undefined) opts.serverIdentity = h(inputs['server_identity']);
  return opts;
}

/** Asserts every value of the named sections against `computed`: nothing listed goes unchecked. */
function assertAll(v: Vector, sectionNames: string[], computed: Record<string, Uint8Array>): number {
  let n = 0;
  for (const name of sectionNames) {
    const section = v.sections[name];
    expect(section, `${v.title}: section ${name}`).toBeDefined();
    for (const [key, value] of Object.entries(section!)) {
      expect(computed[key], `${v.title}: no computed value for ${key}`).toBeDefined();
      expect(hex(computed[key]!), `${v.title}: ${key}`).toBe(value);
      n++;
    }
  }
  return n;
}

describe('OPAQUE-3DH test vectors (RFC 9807)', () => {
  it('parses the vector file and finds ristretto255 real and fake vectors', () => {
    expect(vectors.length).toBeGreaterThan(0);
    expect(vectors.filter((v) => v.kind === 'Real' && isOurConfiguration(v)).length).toBeGreaterThan(0);
    expect(vectors.filter((v) => v.kind === 'Fake' && isOurConfiguration(v)).length).toBeGreaterThan(0);
  });

  for (const v of vectors) {
    const c = v.sections['Configuration'] ?? {};
    if (!isOurConfiguration(v)) {
      // Only ristretto255-SHA512 with the ristretto255 3DH group is implemented; the curve25519
      // (X25519 AKE) and P-256 configurations are out of scope for this library.
      it.skip(`${v.title} (${c['OPRF']} / ${c['Group']}: configuration not implemented)`, () => {});
      continue;
    }

    if (v.kind === 'Real') {
      it(`${v.title}`, async () => {
        const opts = checkConfiguration(v);
        const i = v.sections['Input Values']!;
        const serverKeys: ServerKeys = {
          oprfSeed: h(i['oprf_seed']),
          privateKey: h(i['server_private_key']),
          publicKey: h(i['server_public_key']),
        };
        expect(hex(publicKeyFromPrivateKey(serverKeys.privateKey))).toBe(i['server_public_key']);
        const password = h(i['password']);
        const credentialIdentifier = h(i['credential_identifier']);
        const ids = { clientIdentity: opts.clientIdentity, serverIdentity: opts.serverIdentity };

        // Registration, every message through its serialised form.
        const reg = createRegistrationRequestDeterministic(password, h(i['blind_registration']));
        const requestBytes = serializeRegistrationRequest(reg.request);
        const response = createRegistrationResponse({
          request: deserializeRegistrationRequest(requestBytes),
          serverKeys,
          credentialIdentifier,
        });
        const responseBytes = serializeRegistrationResponse(response);
        const fin = await finalizeRegistrationRequestDeterministic(
          {
            state: reg.state,
            response: deserializeRegistrationResponse(responseBytes),
            ksf: identityKsf,
            ...ids,
          },
          h(i['envelope_nonce']),
        );
        const recordBytes = serializeRegistrationRecord(fin.record);

        // Login.
        const login = generateKE1Deterministic(password, {
          blind: h(i['blind_login']),
          clientNonce: h(i['client_nonce']),
          clientKeyshareSeed: h(i['client_keyshare_seed']),
        });
        const ke1Bytes = serializeKE1(login.ke1);
        const server = generateKE2Deterministic(
          {
            serverKeys,
            record: deserializeRegistrationRecord(recordBytes),
            credentialIdentifier,
            ke1: deserializeKE1(ke1Bytes),
            ...opts,
          },
          {
            maskingNonce: h(i['masking_nonce']),
            serverNonce: h(i['server_nonce']),
            serverKeyshareSeed: h(i['server_keyshare_seed']),
          },
        );
        const ke2Bytes = serializeKE2(server.ke2);
        const client = await generateKE3({
          state: login.state,
          ke2: deserializeKE2(ke2Bytes),
          ksf: identityKsf,
          ...opts,
        });
        const ke3Bytes = serializeKE3(client.ke3);
        const serverSessionKey = serverFinish(server.state, deserializeKE3(ke3Bytes));

        // Both sides agree, and the export key is the same at registration and at login.
        expect(hex(client.exportKey)).toBe(hex(fin.exportKey));
        expect(hex(serverSessionKey)).toBe(hex(client.sessionKey));
        expect(hex(deriveOprfKey(serverKeys.oprfSeed, credentialIdentifier))).toBe(
          hex(server.intermediates.oprfKey),
        );
        expect(hex(fin.record.maskingKey)).toBe(hex(fin.intermediates.maskingKey));

        const checked = assertAll(v, ['Intermediate Values', 'Output Values'], {
          client_public_key: fin.record.clientPublicKey,
          auth_key: fin.intermediates.authKey,
          randomized_password: fin.intermediates.randomizedPassword,
          envelope: serializeEnvelope(fin.record.envelope),
          handshake_secret: server.intermediates.handshakeSecret,
          server_mac_key: server.intermediates.serverMacKey,
          client_mac_key: server.intermediates.clientMacKey,
          oprf_key: server.intermediates.oprfKey,
          registration_request: requestBytes,
          registration_response: responseBytes,
          registration_upload: recordBytes,
          KE1: ke1Bytes,
          KE2: ke2Bytes,
          KE3: ke3Bytes,
          export_key: client.exportKey,
          session_key: serverSessionKey,
        });
        expect(checked).toBe(16);
      });
    } else {
      it(`${v.title} (fake record, unknown credential)`, () => {
        const opts = checkConfiguration(v);
        const i = v.sections['Input Values']!;
        const serverKeys: ServerKeys = {
          oprfSeed: h(i['oprf_seed']),
          privateKey: h(i['server_private_key']),
          publicKey: h(i['server_public_key']),
        };
        expect(hex(publicKeyFromPrivateKey(serverKeys.privateKey))).toBe(i['server_public_key']);
        expect(hex(publicKeyFromPrivateKey(h(i['client_private_key'])))).toBe(i['client_public_key']);
        const ke1 = deserializeKE1(h(i['KE1']));
        expect(hex(serializeKE1(ke1))).toBe(i['KE1']);
        // The KE1 of the vector was made with client_keyshare_seed.
        expect(hex(ke1.authRequest.clientPublicKeyshare)).toBe(
          hex(deriveDiffieHellmanKeyPair(h(i['client_keyshare_seed'])).publicKey),
        );

        const fake = generateFakeKE2Deterministic(
          {
            serverKeys,
            fakeRecord: { clientPublicKey: h(i['client_public_key']), maskingKey: h(i['masking_key']) },
            credentialIdentifier: h(i['credential_identifier']),
            ke1,
            ...opts,
          },
          {
            maskingNonce: h(i['masking_nonce']),
            serverNonce: h(i['server_nonce']),
            serverKeyshareSeed: h(i['server_keyshare_seed']),
          },
        );
        const ke2Bytes = serializeKE2(fake.ke2);
        expect(ke2Bytes.length).toBe(OPAQUE_MESSAGE_LENGTHS.ke2);
        expect(assertAll(v, ['Output Values'], { KE2: ke2Bytes })).toBe(1);
        // A fake login can never finish, not even with the MAC the server expects.
        expect(() => serverFinish(fake.state, { clientMac: fake.state.expectedClientMac })).toThrow(
          E2EEError,
        );
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Protocol properties

const enc = (s: string) => new TextEncoder().encode(s);

async function expectCode(p: Promise<unknown> | (() => unknown), code: string | string[]): Promise<void> {
  const codes = Array.isArray(code) ? code : [code];
  let error: unknown;
  try {
    if (typeof p === 'function') p();
    else await p;
  } catch (err) {
    error = err;
  }
  expect(error, 'expected an error').toBeInstanceOf(E2EEError);
  expect(codes).toContain((error as E2EEError).code);
}

async function register(
  password: Uint8Array,
  serverKeys: ServerKeys,
  credentialIdentifier: Uint8Array,
  opts: OpaqueLoginOptions = {},
  ksf: Ksf = identityKsf,
): Promise<{ record: RegistrationRecord; exportKey: Uint8Array }> {
  const { request, state } = createRegistrationRequest(password);
  const response = createRegistrationResponse({ request, serverKeys, credentialIdentifier });
  return finalizeRegistrationRequest({
    state,
    response,
    ksf,
    clientIdentity: opts.clientIdentity,
    serverIdentity: opts.serverIdentity,
  });
}

const serverKeys = generateServerKeys();
const credId = enc('user-42');

describe('OPAQUE round trip', () => {
  it('registers and logs in with random inputs; export_key is the same at registration and login', async () => {
    const optBytes = (max: number) =>
      fc.option(fc.uint8Array({ minLength: 1, maxLength: max }), { nil: undefined });
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        fc.uint8Array({ minLength: 0, maxLength: 32 }),
        optBytes(40),
        optBytes(40),
        fc.option(fc.uint8Array({ minLength: 0, maxLength: 40 }), { nil: undefined }),
        async (password, credentialIdentifier, clientIdentity, serverIdentity, context) => {
          const opts = { clientIdentity, serverIdentity, context };
          const keys = generateServerKeys();
          const reg = await register(password, keys, credentialIdentifier, opts);
          const record = deserializeRegistrationRecord(serializeRegistrationRecord(reg.record));
          const login = generateKE1(password);
          const server = generateKE2({
            serverKeys: keys,
            record,
            credentialIdentifier,
            ke1: deserializeKE1(serializeKE1(login.ke1)),
            ...opts,
          });
          const client = await generateKE3({
            state: login.state,
            ke2: deserializeKE2(serializeKE2(server.ke2)),
            ksf: identityKsf,
            ...opts,
          });
          const sessionKey = serverFinish(server.state, deserializeKE3(serializeKE3(client.ke3)));
          expect(hex(sessionKey)).toBe(hex(client.sessionKey));
          expect(sessionKey.length).toBe(OPAQUE_SIZES.Nx);
          expect(hex(client.exportKey)).toBe(hex(reg.exportKey));
          expect(client.exportKey.length).toBe(OPAQUE_SIZES.Nh);
        },
      ),
      { numRuns: 6 },
    );
  });

  it('works with an asynchronous, non-trivial KSF and fails with a different one', async () => {
    const ksf: Ksf = async (x) => sha512(x);
    const password = enc('correct horse');
    const reg = await register(password, serverKeys, credId, {}, ksf);
    const login = generateKE1(password);
    const server = generateKE2({
      serverKeys,
      record: reg.record,
      credentialIdentifier: credId,
      ke1: login.ke1,
    });
    const client = await generateKE3({ state: login.state, ke2: server.ke2, ksf });
    expect(hex(serverFinish(server.state, client.ke3))).toBe(hex(client.sessionKey));
    expect(hex(client.exportKey)).toBe(hex(reg.exportKey));

    const login2 = generateKE1(password);
    const server2 = generateKE2({
      serverKeys,
      record: reg.record,
      credentialIdentifier: credId,
      ke1: login2.ke1,
    });
    await expectCode(
      generateKE3({ state: login2.state, ke2: server2.ke2, ksf: identityKsf }),
      OPAQUE_ERRORS.ENVELOPE_RECOVERY,
    );
  });

  it('uses fresh randomness on every run', () => {
    const a = generateKE1(enc('pw'));
    const b = generateKE1(enc('pw'));
    expect(hex(serializeKE1(a.ke1))).not.toBe(hex(serializeKE1(b.ke1)));
    expect(hex(createRegistrationRequest(enc('pw')).request.blindedMessage)).not.toBe(
      hex(createRegistrationRequest(enc('pw')).request.blindedMessage),
    );
  });
});

describe('OPAQUE failures', () => {
  let record: RegistrationRecord;
  const password = enc('correct horse battery staple');

  async function setup(): Promise<RegistrationRecord> {
    record ??= (await register(password, serverKeys, credId)).record;
    return record;
  }

  it('a wrong password fails envelope recovery at the client, and no guessed KE3 is accepted', async () => {
    const rec = await setup();
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 40 }), async (guess) => {
        fc.pre(hex(guess) !== hex(password));
        const login = generateKE1(guess);
        const server = generateKE2({ serverKeys, record: rec, credentialIdentifier: credId, ke1: login.ke1 });
        await expectCode(
          generateKE3({ state: login.state, ke2: server.ke2, ksf: identityKsf }),
          OPAQUE_ERRORS.ENVELOPE_RECOVERY,
        );
        await expectCode(
          () => serverFinish(server.state, { clientMac: new Uint8Array(64) }),
          OPAQUE_ERRORS.CLIENT_AUTHENTICATION,
        );
        await expectCode(
          () => serverFinish(server.state, { clientMac: sha512(guess) }),
          OPAQUE_ERRORS.CLIENT_AUTHENTICATION,
        );
      }),
      { numRuns: 4 },
    );
  });

  it('rejects any tampered KE2 at the client', async () => {
    const rec = await setup();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: OPAQUE_MESSAGE_LENGTHS.ke2 - 1 }),
        fc.integer({ min: 0, max: 7 }),
        async (pos, bit) => {
          const login = generateKE1(password);
          const server = generateKE2({
            serverKeys,
            record: rec,
            credentialIdentifier: credId,
            ke1: login.ke1,
          });
          const bytes = serializeKE2(server.ke2);
          bytes[pos]! ^= 1 << bit;
          // A flipped element may no longer decode (MALFORMED); otherwise authentication fails.
          await expectCode(
            (async () => generateKE3({ state: login.state, ke2: deserializeKE2(bytes), ksf: identityKsf }))(),
            [OPAQUE_ERRORS.ENVELOPE_RECOVERY, OPAQUE_ERRORS.SERVER_AUTHENTICATION, OPAQUE_ERRORS.MALFORMED],
          );
        },
      ),
      { numRuns: 12 },
    );
  });

  it('rejects a KE2 with a modified masked response (envelope) or server nonce/MAC (server auth)', async () => {
    const rec = await setup();
    const L = OPAQUE_MESSAGE_LENGTHS;
    // No group elements at these offsets, so every change deserialises and fails authentication.
    const cases: [number, string][] = [
      [32, OPAQUE_ERRORS.ENVELOPE_RECOVERY], // masking_nonce
      [70, OPAQUE_ERRORS.ENVELOPE_RECOVERY], // masked_response
      [100, OPAQUE_ERRORS.ENVELOPE_RECOVERY],
      [191, OPAQUE_ERRORS.ENVELOPE_RECOVERY],
      [L.credentialResponse, OPAQUE_ERRORS.SERVER_AUTHENTICATION], // server_nonce
      [L.credentialResponse + 64, OPAQUE_ERRORS.SERVER_AUTHENTICATION], // server_mac
      [L.ke2 - 1, OPAQUE_ERRORS.SERVER_AUTHENTICATION],
    ];
    for (const [pos, code] of cases) {
      const login = generateKE1(password);
      const server = generateKE2({ serverKeys, record: rec, credentialIdentifier: credId, ke1: login.ke1 });
      const bytes = serializeKE2(server.ke2);
      bytes[pos]! ^= 0x80;
      await expectCode(
        generateKE3({ state: login.state, ke2: deserializeKE2(bytes), ksf: identityKsf }),
        code,
      );
    }
  });

  it('rejects any tampered KE3 at the server', async () => {
    const rec = await setup();
    const login = generateKE1(password);
    const server = generateKE2({ serverKeys, record: rec, credentialIdentifier: credId, ke1: login.ke1 });
    const client = await generateKE3({ state: login.state, ke2: server.ke2, ksf: identityKsf });
    const good = serializeKE3(client.ke3);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: good.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (pos, x) => {
          const bad = good.slice();
          bad[pos]! ^= x;
          expect(() => serverFinish(server.state, deserializeKE3(bad))).toThrow(
            expect.objectContaining({ code: OPAQUE_ERRORS.CLIENT_AUTHENTICATION }),
          );
        },
      ),
      { numRuns: 50 },
    );
    expect(hex(serverFinish(server.state, deserializeKE3(good)))).toBe(hex(client.sessionKey));
  });

  it('a modified KE1 (client nonce) makes the client reject KE2', async () => {
    const rec = await setup();
    const login = generateKE1(password);
    const ke1Bytes = serializeKE1(login.ke1);
    ke1Bytes[40]! ^= 1; // inside client_nonce
    const server = generateKE2({
      serverKeys,
      record: rec,
      credentialIdentifier: credId,
      ke1: deserializeKE1(ke1Bytes),
    });
    await expectCode(
      generateKE3({ state: login.state, ke2: server.ke2, ksf: identityKsf }),
      OPAQUE_ERRORS.SERVER_AUTHENTICATION,
    );
  });

  it('a KE2 for another credential identifier (other OPRF key) fails envelope recovery', async () => {
    const rec = await setup();
    const login = generateKE1(password);
    const server = generateKE2({
      serverKeys,
      record: rec,
      credentialIdentifier: enc('other'),
      ke1: login.ke1,
    });
    await expectCode(
      generateKE3({ state: login.state, ke2: server.ke2, ksf: identityKsf }),
      OPAQUE_ERRORS.ENVELOPE_RECOVERY,
    );
  });

  it('identity and context mismatches fail', async () => {
    const ids = { clientIdentity: enc('alice'), serverIdentity: enc('vault.example') };
    const reg = await register(password, serverKeys, credId, ids);
    const run = async (server: OpaqueLoginOptions, client: OpaqueLoginOptions) => {
      const login = generateKE1(password);
      const s = generateKE2({
        serverKeys,
        record: reg.record,
        credentialIdentifier: credId,
        ke1: login.ke1,
        ...server,
      });
      const c = await generateKE3({ state: login.state, ke2: s.ke2, ksf: identityKsf, ...client });
      return hex(serverFinish(s.state, c.ke3)) === hex(c.sessionKey);
    };
    const ctx = enc('e2ee-backup vault v1');
    expect(await run({ ...ids, context: ctx }, { ...ids, context: ctx })).toBe(true);
    // The client's identities differ from registration: the envelope does not open.
    await expectCode(run(ids, { ...ids, clientIdentity: enc('mallory') }), OPAQUE_ERRORS.ENVELOPE_RECOVERY);
    await expectCode(run(ids, { clientIdentity: ids.clientIdentity }), OPAQUE_ERRORS.ENVELOPE_RECOVERY);
    // The server uses other identities or another context: the server MAC does not verify.
    await expectCode(
      run({ ...ids, serverIdentity: enc('evil.example') }, ids),
      OPAQUE_ERRORS.SERVER_AUTHENTICATION,
    );
    await expectCode(run({ ...ids, clientIdentity: enc('bob') }, ids), OPAQUE_ERRORS.SERVER_AUTHENTICATION);
    await expectCode(run({ ...ids, context: ctx }, ids), OPAQUE_ERRORS.SERVER_AUTHENTICATION);
    await expectCode(run(ids, { ...ids, context: enc('other') }), OPAQUE_ERRORS.SERVER_AUTHENTICATION);
    // Empty identities are not allowed (identity<1..2^16-1>).
    await expectCode(run(ids, { ...ids, clientIdentity: new Uint8Array(0) }), OPAQUE_ERRORS.MALFORMED);
  });

  it('a fake-record KE2 looks like a real one on the wire and never completes', async () => {
    const rec = await setup();
    const fakeRecord = createFakeRecord();
    expect(fakeRecord.maskingKey.length).toBe(OPAQUE_SIZES.Nh);
    const login = generateKE1(password);
    const real = generateKE2({ serverKeys, record: rec, credentialIdentifier: credId, ke1: login.ke1 });
    const fake = generateFakeKE2({
      serverKeys,
      fakeRecord,
      credentialIdentifier: enc('nobody'),
      ke1: login.ke1,
    });
    const realBytes = serializeKE2(real.ke2);
    const fakeBytes = serializeKE2(fake.ke2);
    expect(fakeBytes.length).toBe(realBytes.length);
    expect(fakeBytes.length).toBe(OPAQUE_MESSAGE_LENGTHS.ke2);
    // Parses like a real KE2, and the client simply sees a wrong password.
    const parsed = deserializeKE2(fakeBytes);
    await expectCode(
      generateKE3({ state: login.state, ke2: parsed, ksf: identityKsf }),
      OPAQUE_ERRORS.ENVELOPE_RECOVERY,
    );
    await expectCode(
      () => serverFinish(fake.state, { clientMac: fake.state.expectedClientMac }),
      OPAQUE_ERRORS.CLIENT_AUTHENTICATION,
    );
  });
});

describe('OPAQUE message encodings', () => {
  const L = OPAQUE_MESSAGE_LENGTHS;
  const element = (): Uint8Array =>
    deriveDiffieHellmanKeyPair(crypto.getRandomValues(new Uint8Array(32))).publicKey;
  const IDENTITY = new Uint8Array(32);
  const NOT_CANONICAL = new Uint8Array(32).fill(0xff); // field element >= p
  const NEGATIVE = Uint8Array.of(1, ...new Uint8Array(31)); // odd s: "negative", rejected by RFC 9496 Decode
  // A value whose ristretto255 decoding fails on the square-root check.
  const NOT_ON_GROUP = Uint8Array.of(2, ...new Uint8Array(31));
  const BAD_ELEMENTS = [IDENTITY, NOT_CANONICAL, NEGATIVE, NOT_ON_GROUP];

  // [name, length, deserialize, serialize, offsets of group elements]
  const codecs: [string, number, (b: Uint8Array) => unknown, (m: never) => Uint8Array, number[]][] = [
    [
      'RegistrationRequest',
      L.registrationRequest,
      deserializeRegistrationRequest,
      serializeRegistrationRequest,
      [0],
    ],
    [
      'RegistrationResponse',
      L.registrationResponse,
      deserializeRegistrationResponse,
      serializeRegistrationResponse,
      [0, 32],
    ],
    [
      'RegistrationRecord',
      L.registrationRecord,
      deserializeRegistrationRecord,
      serializeRegistrationRecord,
      [0],
    ],
    ['Envelope', L.envelope, deserializeEnvelope, serializeEnvelope, []],
    ['CredentialRequest', L.credentialRequest, deserializeCredentialRequest, serializeCredentialRequest, [0]],
    [
      'CredentialResponse',
      L.credentialResponse,
      deserializeCredentialResponse,
      serializeCredentialResponse,
      [0],
    ],
    ['AuthRequest', L.authRequest, deserializeAuthRequest, serializeAuthRequest, [32]],
    ['AuthResponse', L.authResponse, deserializeAuthResponse, serializeAuthResponse, [32]],
    ['KE1', L.ke1, deserializeKE1, serializeKE1, [0, 64]],
    ['KE2', L.ke2, deserializeKE2, serializeKE2, [0, 192 + 32]],
    ['KE3', L.ke3, deserializeKE3, serializeKE3, []],
  ];

  function valid(length: number, elementOffsets: number[]): Uint8Array {
    const bytes = crypto.getRandomValues(new Uint8Array(length));
    for (const off of elementOffsets) bytes.set(element(), off);
    return bytes;
  }

  it('the RFC sizes', () => {
    expect(L).toEqual({
      registrationRequest: 32,
      registrationResponse: 64,
      envelope: 96,
      registrationRecord: 192,
      credentialRequest: 32,
      credentialResponse: 192,
      authRequest: 64,
      authResponse: 128,
      ke1: 96,
      ke2: 320,
      ke3: 64,
    });
  });

  for (const [name, length, deserialize, serialize, offsets] of codecs) {
    it(`${name}: round trip, wrong lengths and invalid elements`, async () => {
      const bytes = valid(length, offsets);
      expect(hex(serialize(deserialize(bytes) as never))).toBe(hex(bytes));
      for (const n of [0, length - 1, length + 1, 2 * length]) {
        const wrong = new Uint8Array(n);
        wrong.set(bytes.subarray(0, Math.min(n, length)));
        await expectCode(() => deserialize(wrong), OPAQUE_ERRORS.MALFORMED);
      }
      await expectCode(() => deserialize('not bytes' as unknown as Uint8Array), OPAQUE_ERRORS.MALFORMED);
      for (const off of offsets) {
        for (const bad of BAD_ELEMENTS) {
          const corrupted = bytes.slice();
          corrupted.set(bad, off);
          await expectCode(() => deserialize(corrupted), OPAQUE_ERRORS.MALFORMED);
        }
      }
    });
  }

  it('serialisers reject fields of the wrong length', async () => {
    await expectCode(() => serializeKE3({ clientMac: new Uint8Array(63) }), OPAQUE_ERRORS.MALFORMED);
    await expectCode(
      () => serializeEnvelope({ nonce: new Uint8Array(31), authTag: new Uint8Array(64) }),
      OPAQUE_ERRORS.MALFORMED,
    );
    await expectCode(
      () => serializeRegistrationRequest({ blindedMessage: new Uint8Array(33) }),
      OPAQUE_ERRORS.MALFORMED,
    );
  });

  it('protocol functions reject invalid elements, scalars and seeds', async () => {
    const rec = (await register(enc('pw'), serverKeys, credId)).record;
    for (const bad of BAD_ELEMENTS) {
      await expectCode(
        () =>
          createRegistrationResponse({
            request: { blindedMessage: bad },
            serverKeys,
            credentialIdentifier: credId,
          }),
        OPAQUE_ERRORS.MALFORMED,
      );
      const login = generateKE1(enc('pw'));
      const ke1 = { ...login.ke1, authRequest: { ...login.ke1.authRequest, clientPublicKeyshare: bad } };
      await expectCode(
        () => generateKE2({ serverKeys, record: rec, credentialIdentifier: credId, ke1 }),
        OPAQUE_ERRORS.MALFORMED,
      );
      await expectCode(
        () =>
          generateFakeKE2({
            serverKeys,
            fakeRecord: { clientPublicKey: bad, maskingKey: new Uint8Array(64) },
            credentialIdentifier: credId,
            ke1: login.ke1,
          }),
        OPAQUE_ERRORS.MALFORMED,
      );
    }
    const order = hexToBytes('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010'); // n, LE
    for (const blind of [new Uint8Array(32), order, new Uint8Array(31)]) {
      await expectCode(
        () => createRegistrationRequestDeterministic(enc('pw'), blind),
        OPAQUE_ERRORS.MALFORMED,
      );
    }
    await expectCode(() => publicKeyFromPrivateKey(order), OPAQUE_ERRORS.MALFORMED);
    await expectCode(
      () => serverKeysFromSeed(new Uint8Array(63), new Uint8Array(32)),
      OPAQUE_ERRORS.MALFORMED,
    );
    await expectCode(
      () => serverKeysFromSeed(new Uint8Array(64), new Uint8Array(31)),
      OPAQUE_ERRORS.MALFORMED,
    );
    await expectCode(() => generateKE1(new Uint8Array(65536)), OPAQUE_ERRORS.MALFORMED);
  });
});

describe('OPAQUE helpers', () => {
  it('serverKeysFromSeed is deterministic and consistent', () => {
    const oprfSeed = crypto.getRandomValues(new Uint8Array(64));
    const akeSeed = crypto.getRandomValues(new Uint8Array(32));
    const a = serverKeysFromSeed(oprfSeed, akeSeed);
    const b = serverKeysFromSeed(oprfSeed, akeSeed);
    expect(hex(a.privateKey)).toBe(hex(b.privateKey));
    expect(hex(a.publicKey)).toBe(hex(publicKeyFromPrivateKey(a.privateKey)));
    expect(hex(a.oprfSeed)).toBe(hex(oprfSeed));
    expect(hex(deriveDiffieHellmanKeyPair(akeSeed).publicKey)).toBe(hex(a.publicKey));
    const g = generateServerKeys();
    expect(g.oprfSeed.length).toBe(64);
    expect(hex(publicKeyFromPrivateKey(g.privateKey))).toBe(hex(g.publicKey));
  });

  it('constantTimeEqual (shared helper used by OPAQUE for MACs and envelope tags)', () => {
    expect(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true);
    expect(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBe(false);
    expect(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1))).toBe(false);
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });

  it('identityKsf returns its input', async () => {
    const x = Uint8Array.of(1, 2, 3);
    expect(hex(await identityKsf(x))).toBe('010203');
  });
});
