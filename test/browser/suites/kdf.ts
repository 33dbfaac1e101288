// Argon2id on this platform: hash-wasm (WebAssembly) through deriveKeyFromPassword, checked
// against @noble/hashes, which reproduces the RFC 9106 §5.3 vector here too.
import { argon2id as nobleArgon2id } from '@noble/hashes/argon2.js';
import { argon2id as wasmArgon2id } from 'hash-wasm';
import { DEFAULT_KDF_PARAMS, deriveKeyFromPassword } from '../../../src/primitives/kdf.js';
import { assert, assertEqual, assertRejects, bytesToHex, pseudoRandomBytes, type Suite } from '../harness.js';

const RFC = {
  password: new Uint8Array(32).fill(0x01),
  salt: new Uint8Array(16).fill(0x02),
  secret: new Uint8Array(8).fill(0x03),
  ad: new Uint8Array(12).fill(0x04),
  tag: '0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659',
};

export const kdfSuite: Suite = {
  name: 'Argon2id',
  checks: () => [
    {
      name: 'noble reproduces the RFC 9106 §5.3 Argon2id vector',
      run: () => {
        const tag = nobleArgon2id(RFC.password, RFC.salt, {
          m: 32,
          t: 3,
          p: 4,
          key: RFC.secret,
          personalization: RFC.ad,
          dkLen: 32,
        });
        assertEqual(bytesToHex(tag), RFC.tag, 'RFC 9106 tag');
      },
    },
    {
      name: 'hash-wasm (WebAssembly) with the RFC inputs minus associated data equals noble',
      run: async () => {
        const wasm = await wasmArgon2id({
          password: RFC.password,
          salt: RFC.salt,
          secret: RFC.secret,
          parallelism: 4,
          iterations: 3,
          memorySize: 32,
          hashLength: 32,
          outputType: 'binary',
        });
        const noble = nobleArgon2id(RFC.password, RFC.salt, {
          m: 32,
          t: 3,
          p: 4,
          key: RFC.secret,
          dkLen: 32,
        });
        assertEqual(bytesToHex(wasm), bytesToHex(noble), 'hash-wasm vs noble');
      },
    },
    {
      name: 'deriveKeyFromPassword equals noble on small parameters (NFC-normalised strings, bytes)',
      run: async () => {
        const cases = [
          { pw: 'e\u0301t\u00e9', bytes: new TextEncoder().encode('\u00e9t\u00e9'), m: 64, t: 1, p: 1 },
          { pw: 'correct horse', bytes: new TextEncoder().encode('correct horse'), m: 256, t: 2, p: 4 },
          { pw: pseudoRandomBytes(40, 9), bytes: pseudoRandomBytes(40, 9), m: 100, t: 3, p: 2 },
        ];
        for (const [i, { pw, bytes, m, t, p }] of cases.entries()) {
          const salt = pseudoRandomBytes(16, i + 1);
          const ours = await deriveKeyFromPassword(pw, salt, { m, t, p }, { allowWeak: true });
          const noble = nobleArgon2id(bytes, salt, { m, t, p, dkLen: 32 });
          assertEqual(bytesToHex(ours), bytesToHex(noble), `case ${i}`);
        }
      },
    },
    {
      name: 'the default parameters (64 MiB, t = 3, p = 4) run here',
      timeout: 60_000,
      run: async () => {
        const key = await deriveKeyFromPassword('correct horse battery staple', new Uint8Array(16).fill(1));
        assertEqual(key.length, 32, 'key length');
        assertEqual(DEFAULT_KDF_PARAMS.m, 65536, 'default memory');
      },
    },
    {
      name: 'attacker-chosen parameters are refused before anything is allocated',
      run: async () => {
        const err = await assertRejects(
          deriveKeyFromPassword(
            'pw',
            new Uint8Array(16),
            { m: 4 * 1048576, t: 1, p: 1 },
            { purpose: 'open' },
          ),
          ['KDF_PARAMS'],
          'm = 4 GiB',
        );
        assert(err.message.includes('exceeds the maximum'), err.message);
        await assertRejects(
          deriveKeyFromPassword('pw', new Uint8Array(16), { m: 64, t: 1, p: 1 }),
          ['KDF_PARAMS'],
          'weak parameters when creating',
        );
      },
    },
  ],
};
