// The vault's randomness goes through the crypto provider (issue #20): an app that registers
// react-native-quick-crypto's CSPRNG must get every OPAQUE blind, nonce, seed and salt from it,
// not from a `crypto.getRandomValues` that the provider was registered to replace.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { resetCryptoProvider, setCryptoProvider } from '../../src/internal/provider.js';
import {
  createRegistrationResponse,
  deserializeKE1,
  deserializeKE3,
  deserializeRegistrationRecord,
  deserializeRegistrationRequest,
  generateKE2,
  generateServerKeys,
  serializeKE2,
  serializeRegistrationResponse,
  serverFinish,
} from '../../src/vault/opaque/opaque.js';
import {
  finishLogin,
  finishRegistration,
  opaqueOptions,
  openSealedBackupKey,
  startLogin,
  startRegistration,
} from '../../src/vault/protocol.js';
import { xorshift } from '../util.js';
import { CHEAP_KSF } from './helpers.js';

afterEach(() => {
  resetCryptoProvider();
  vi.restoreAllMocks();
});

/** A recording, seeded CSPRNG stand-in for the provider. */
function recordingRandom(seed: number) {
  const next = xorshift(seed);
  return vi.fn((bytes: Uint8Array) => {
    for (let i = 0; i < bytes.length; i++) bytes[i] = next() & 255;
    return bytes;
  });
}

/** One registration and one login through the client steps and the server functions. */
async function registerAndLogIn() {
  const serverKeys = generateServerKeys();
  const credentialIdentifier = new Uint8Array(32).fill(7);
  const backupKey = new Uint8Array(32).fill(9);
  const reg = startRegistration('pw');
  const upload = await finishRegistration({
    state: reg.state,
    account: 'alice',
    registrationResponse: serializeRegistrationResponse(
      createRegistrationResponse({
        request: deserializeRegistrationRequest(reg.registrationRequest),
        serverKeys,
        credentialIdentifier,
      }),
    ),
    backupKey,
    ksf: CHEAP_KSF,
    kdfOptions: { allowWeak: true },
  });
  const login = startLogin('pw');
  const server = generateKE2({
    serverKeys,
    record: deserializeRegistrationRecord(upload.registrationRecord),
    credentialIdentifier,
    ke1: deserializeKE1(login.ke1),
    ...opaqueOptions('alice'),
  });
  const done = await finishLogin({
    state: login.state,
    account: 'alice',
    ke2: serializeKE2(server.ke2),
    ksf: CHEAP_KSF,
  });
  serverFinish(server.state, deserializeKE3(done.ke3));
  expect(await openSealedBackupKey(done.exportKey, upload.sealedKey)).toEqual(backupKey);
  return {
    request: reg.registrationRequest,
    sealedKey: upload.sealedKey,
    salt: upload.deviceSalt,
    ke1: login.ke1,
  };
}

describe('vault randomness', () => {
  // Every blind, nonce, seed and salt is the provider's: the same provider stream gives the same
  // messages, whatever the platform's CSPRNG answers. (@noble/curves still draws the blinding of
  // its constant-time scalar multiplication from crypto.getRandomValues; that changes no output.)
  it('comes from the provider’s getRandomValues in registration and login', async () => {
    const provided = recordingRandom(1);
    setCryptoProvider({ getRandomValues: provided });
    provided.mockClear(); // setCryptoProvider tries it once
    const first = await registerAndLogIn();
    expect(provided).toHaveBeenCalled();
    resetCryptoProvider();
    setCryptoProvider({ getRandomValues: recordingRandom(1) });
    expect(await registerAndLogIn()).toEqual(first);
  });
});
