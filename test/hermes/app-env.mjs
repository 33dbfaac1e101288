// What a React Native app installs before it imports the library: a CSPRNG at
// crypto.getRandomValues (react-native-get-random-values does it natively). Hermes's command-line
// VM has no entropy source, so this TEST-ONLY stand-in is a ChaCha20 keystream from a fixed seed:
// predictable, never for real keys. (A function, not an import for its side effect: the
// package's `sideEffects: false` lets a bundler drop such an import.)
import { chacha20 } from '@noble/ciphers/chacha.js';

const seed = new Uint8Array(32).fill(0x5e);
let counter = 0;
const nonce = new Uint8Array(12);
export function installRandom() {
  globalThis.crypto = {
    getRandomValues(bytes) {
      if (bytes.length > 65536) throw new Error('getRandomValues: at most 65536 bytes');
      counter++;
      nonce[0] = counter & 0xff;
      nonce[1] = (counter >>> 8) & 0xff;
      nonce[2] = (counter >>> 16) & 0xff;
      nonce[3] = (counter >>> 24) & 0xff;
      bytes.set(chacha20(seed, nonce, new Uint8Array(bytes.length)));
      return bytes;
    },
  };
}
