// The library on Hermes, React Native's engine, with only what an app provides: a CSPRNG at
// crypto.getRandomValues (react-native-get-random-values; here app-env.mjs stands in) and no
// provider, so every primitive is the pure-JS fallback. Bundled by scripts/test-hermes.mjs as
// Metro would (the `react-native` export condition, then Babel to ES5) and run on
// hermes-engine-cli's VM; it prints one line per check and `HERMES OK` at the end.
import { sha512 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import {
  decryptBackupBytes,
  decryptBackupIterable,
  decryptChunked,
  deriveKeyFromPassword,
  E2EEError,
  encryptBackupBytes,
  encryptBackupIterable,
  formatBackupKey,
  generateBackupKey,
  parseBackupKey,
} from 'e2ee-backup';
import { unzlibSync } from 'fflate';
import keyCodes from '../../vectors/backup_key_code_test.json';
import kdfVectors from '../../vectors/kdf_test.json';
import wycheproof from '../../vectors/third-party/wycheproof/c2sp_chunked_encryption_aes_256_gcm_test.json';
import { installRandom } from './app-env.mjs';

const out = globalThis.print;
const now = () => Date.now();
let failures = 0;
const check = (ok, what) => {
  if (!ok) failures++;
  out(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
};
const code = async (p) => {
  try {
    await p;
    return 'no error';
  } catch (e) {
    return e instanceof E2EEError ? e.code : `not an E2EEError: ${e}`;
  }
};
const tests = (file) => file.testGroups.flatMap((g) => g.tests);
const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const time = async (what, f) => {
  const t = now();
  const r = await f();
  out(`time ${what}: ${now() - t} ms`);
  return r;
};

// Pieces of `data`, as an app reading a file in parts would give them.
async function* piecesOf(data, size) {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}
const gather = async (iterable) => {
  const parts = [];
  let n = 0;
  for await (const p of iterable) {
    parts.push(p);
    n += p.length;
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
/** The body of a backup opened as an iterable, and whether its loop ran to its end. */
const openIterable = async (input, options) => {
  let completed = false;
  try {
    const { body } = await decryptBackupIterable(input, options);
    const data = await gather(body);
    completed = true;
    return { data, completed };
  } catch (e) {
    return { error: e instanceof E2EEError ? e.code : `not an E2EEError: ${e}`, completed };
  }
};

async function main() {
  // scripts/test-hermes.mjs's prelude counts every read of these globals, from before the bundle
  // ran: importing the library must read none of them.
  const touched = globalThis.WEB_GLOBALS_READ ? globalThis.WEB_GLOBALS_READ.slice() : undefined;
  installRandom();
  check(
    typeof ReadableStream === 'undefined' && typeof WebAssembly === 'undefined',
    'no Web streams, no WebAssembly',
  );
  check(
    touched !== undefined && touched.length === 0,
    `importing the library reads no Web stream or WebAssembly global (read: ${touched})`,
  );

  await time('key codes (all vectors)', () => {
    let bad = 0;
    for (const t of tests(keyCodes)) {
      let got;
      try {
        got = { result: 'valid', key: bytesToHex(parseBackupKey(t.code)) };
      } catch (e) {
        got = { result: 'invalid', error: e.code };
      }
      if (
        got.result !== t.result ||
        (t.key !== undefined && got.key !== t.key) ||
        (t.error && got.error !== t.error)
      )
        bad++;
    }
    check(bad === 0, `${tests(keyCodes).length} key-code vectors (${bad} wrong)`);
    const key = generateBackupKey();
    check(equal(parseBackupKey(formatBackupKey(key)), key), 'a fresh key survives its 64-digit code');
  });

  const key = generateBackupKey();
  const data = new Uint8Array(20000).map((_, i) => (i * 7) & 0xff);
  const enc = await time('20 kB backup, key only: encrypt', () => encryptBackupBytes(data, { key }));
  const dec = await time('20 kB backup, key only: decrypt', () => decryptBackupBytes(enc, { key }));
  check(equal(dec.data, data), '20 kB key-only backup round trip');

  const tampered = enc.slice();
  tampered[tampered.length - 20] ^= 1;
  check(
    (await code(decryptBackupBytes(tampered, { key }))) === 'CHUNK_AUTH',
    'a modified chunk is refused (CHUNK_AUTH)',
  );
  check(
    (await code(decryptBackupBytes(enc, { key: generateBackupKey() }))) === 'WRONG_KEY',
    'another key is refused',
  );

  // The async-iterable API: a backup streamed in pieces, without ReadableStream.
  const streamed = await time('20 kB backup, key only, async iterables: encrypt', () =>
    gather(encryptBackupIterable(piecesOf(data, 3000), { key })),
  );
  const opened = await time('20 kB backup, key only, async iterables: decrypt', () =>
    openIterable(piecesOf(streamed, 5000), { key }),
  );
  check(opened.completed && equal(opened.data, data), '20 kB key-only round trip through async iterables');
  check(
    equal((await decryptBackupBytes(streamed, { key })).data, data) &&
      equal((await openIterable(enc, { key })).data ?? [], data),
    'the byte and iterable APIs open each other’s backups',
  );
  const cut = streamed.slice();
  cut[cut.length - 1] ^= 0x40; // the final chunk's tag
  const refused = await openIterable(piecesOf(cut, 5000), { key });
  check(
    refused.error === 'CHUNK_AUTH' && !refused.completed,
    `a modified final chunk fails the iterable before it completes (${refused.error})`,
  );
  const short = await openIterable(piecesOf(streamed.subarray(0, streamed.length - 17), 5000), { key });
  check(
    ['CHUNK_AUTH', 'TRUNCATED'].includes(short.error) && !short.completed,
    `a backup cut inside its final chunk fails the iterable before it completes (${short.error})`,
  );

  const kdf = { m: 64, t: 3, p: 1 };
  const pwEnc = await time('20 kB backup, password, Argon2id m = 64 KiB t = 3: encrypt', () =>
    encryptBackupBytes(data, { password: 'correct horse', kdf, allowWeakKdf: true }),
  );
  const pwDec = await time('20 kB backup, password, Argon2id m = 64 KiB t = 3: decrypt', () =>
    decryptBackupBytes(pwEnc, { password: 'correct horse' }),
  );
  check(equal(pwDec.data, data), 'password backup round trip');
  check(
    (await code(decryptBackupBytes(pwEnc, { password: 'correct horse ' }))) === 'WRONG_PASSWORD',
    'a wrong password is refused',
  );
  const pwStreamed = await time(
    '20 kB backup, password, Argon2id m = 64 KiB t = 3, async iterables: encrypt',
    () =>
      gather(
        encryptBackupIterable(piecesOf(data, 7000), { password: 'correct horse', kdf, allowWeakKdf: true }),
      ),
  );
  const pwOpened = await time(
    '20 kB backup, password, Argon2id m = 64 KiB t = 3, async iterables: decrypt',
    () => openIterable(piecesOf(pwStreamed, 4096), { password: 'correct horse' }),
  );
  check(pwOpened.completed && equal(pwOpened.data, data), 'password round trip through async iterables');

  await time('Wycheproof Cobblestone-256 (35 vectors, @noble/ciphers)', async () => {
    let bad = 0;
    for (const v of tests(wycheproof)) {
      const r = await decryptChunked(hexToBytes(v.key), unzlibSync(hexToBytes(v.ct)), {
        context: hexToBytes(v.ctx),
      }).then(
        (pt) => ({ valid: true, pt }),
        (e) => ({ valid: false, e }),
      );
      const ok =
        v.result === 'valid'
          ? r.valid && r.pt.length === v.msgLength && bytesToHex(sha512(r.pt)) === v.msgSha512
          : !r.valid && r.e instanceof E2EEError;
      if (!ok) {
        bad++;
        out(`  Wycheproof #${v.tcId} ${v.comment}: ${r.valid ? 'opened' : r.e}`);
      }
    }
    check(bad === 0, `${tests(wycheproof).length} Wycheproof Cobblestone-256 vectors (${bad} wrong)`);
  });

  // Hermes 0.12's String.prototype.normalize predates Unicode 14 (it does not compose across
  // U+1DFA): there the passwords that need it must be refused (CRYPTO_PROVIDER), not derived from.
  const unicode14 = 'a\u1dfa\u0301'.normalize('NFC') === '\u00e1\u1dfa';
  check(true, `String.prototype.normalize knows Unicode 14: ${unicode14}`);
  await time('KDF vectors (Argon2id by @noble/hashes)', async () => {
    let bad = 0;
    let n = 0;
    let refused = 0;
    for (const t of tests(kdfVectors)) {
      if (t.password === undefined) continue;
      if (!unicode14 && t.password.includes('\u1dfa')) {
        const got = await code(
          deriveKeyFromPassword(
            t.password,
            hexToBytes(t.salt),
            { m: t.m, t: t.t, p: t.p },
            { purpose: 'open' },
          ),
        );
        if (got === 'CRYPTO_PROVIDER') refused++;
        else {
          bad++;
          out(`  KDF tcId ${t.tcId} (${t.comment}): ${got}, not refused on this engine`);
        }
        continue;
      }
      n++;
      let got;
      try {
        const k = await deriveKeyFromPassword(
          t.password,
          hexToBytes(t.salt),
          { m: t.m, t: t.t, p: t.p },
          { purpose: 'open', ...(t.kdfMaxima ? { maxima: t.kdfMaxima } : {}) },
        );
        got = { result: 'valid', argon2id: bytesToHex(k) };
      } catch (e) {
        got = { result: 'invalid', error: e.code };
      }
      if (
        got.result !== t.result ||
        (t.argon2id && got.argon2id !== t.argon2id) ||
        (t.error && got.error !== t.error)
      ) {
        bad++;
        out(`  KDF tcId ${t.tcId}: ${JSON.stringify(got)}`);
      }
    }
    check(
      bad === 0 && (unicode14 || refused === 3),
      `${n} password KDF vectors derived, ${refused} refused as this engine's NFC predates Unicode 14 (${bad} wrong)`,
    );
    if (!unicode14)
      check(
        (await code(encryptBackupBytes(data, { password: 'a\u1dfa\u0301', kdf, allowWeakKdf: true }))) ===
          'CRYPTO_PROVIDER',
        'a backup password this engine would normalise wrongly is refused (CRYPTO_PROVIDER)',
      );
  });

  const mib = new Uint8Array(1 << 20).map((_, i) => (i * 131) & 0xff);
  const big = await time('1 MiB backup, key only, no compression: encrypt', () =>
    encryptBackupBytes(mib, { key, compression: 'none' }),
  );
  await time('1 MiB backup, key only, no compression: decrypt', () => decryptBackupBytes(big, { key }));
  const bigStreamed = await time('1 MiB backup, key only, no compression, async iterables: encrypt', () =>
    gather(encryptBackupIterable(piecesOf(mib, 65536), { key, compression: 'none' })),
  );
  const bigOpened = await time('1 MiB backup, key only, no compression, async iterables: decrypt', () =>
    openIterable(piecesOf(bigStreamed, 65536), { key }),
  );
  check(bigOpened.completed && equal(bigOpened.data, mib), '1 MiB round trip through async iterables');

  if (globalThis.HERMES_FULL_KDF) {
    await time('Argon2id at the default m = 64 MiB, t = 3, p = 4', () =>
      deriveKeyFromPassword('correct horse', new Uint8Array(16)),
    );
  }
  out(failures === 0 ? 'HERMES OK' : `HERMES FAILED: ${failures}`);
}

main().then(
  () => {},
  (e) => out(`HERMES FAILED: ${e?.stack ?? e}`),
);
