// Runs once, first thing in index.js: hands e2ee-backup react-native-quick-crypto's native
// AES-256-GCM, Argon2id (react-native-quick-crypto ≥ 1.0.11) and CSPRNG. Without it the library
// still works on Hermes, in pure JavaScript: fine for keys and small backups, slow for the rest
// (docs/react-native.md has the measured speeds).

import { setCryptoProvider } from 'e2ee-backup';
import QuickCrypto from 'react-native-quick-crypto';

setCryptoProvider({
  aesGcm: QuickCrypto,
  getRandomValues: (bytes) => QuickCrypto.getRandomValues(bytes),
  argon2id: (password, salt, { m, t, p, len }) =>
    new Promise((resolve, reject) =>
      QuickCrypto.argon2(
        'argon2id',
        { message: password, nonce: salt, memory: m, passes: t, parallelism: p, tagLength: len },
        (err, out) => (err ? reject(err) : resolve(new Uint8Array(out))),
      ),
    ),
});
