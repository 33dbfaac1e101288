// kdf_test.json: the two key-encryption-key derivations of SPEC.md §3.5, stage by stage.
// Password slots: UTF-8(NFC(password)) → Argon2id → HKDF-Expand-SHA-512 → KEK.
// Backup-key slots: HKDF-SHA-512(backup key, salt) → KEK.
import { checkNotes, numberTests } from './common.mjs';
import { argon2, backupKeyKek, hex, passwordKek, utf8 } from './craft.mjs';
import { seeded } from './determinism.mjs';

export const KDF_NOTES = {
  Ascii: {
    bugType: 'BASIC',
    description: 'An ASCII password.',
    links: ['SPEC.md §3.5'],
  },
  NfcNfdPair: {
    bugType: 'FUNCTIONALITY',
    description:
      'The same password spelled in NFC and in NFD (and with singletons such as U+212B ANGSTROM SIGN): Argon2id must see the same UTF-8(NFC) bytes, so the outputs are equal.',
    links: ['SPEC.md §3.5'],
  },
  NotNfkc: {
    bugType: 'FUNCTIONALITY',
    description:
      'Compatibility characters (ligatures, full-width forms) are not changed by NFC: NFKC would be a different, wrong password.',
    links: ['SPEC.md §3.5'],
  },
  Unicode: {
    bugType: 'FUNCTIONALITY',
    description: 'Non-ASCII passwords: astral characters, right-to-left text, white space kept as typed.',
    links: ['SPEC.md §3.5'],
  },
  Parameters: {
    bugType: 'FUNCTIONALITY',
    description: 'Argon2id over a range of small m, t, p (p from 1 to 4, m down to 8 · p) and salts.',
    links: ['SPEC.md §1', 'SPEC.md §3.4'],
  },
  ParamsOutOfBounds: {
    bugType: 'RESOURCE_EXHAUSTION',
    description:
      "Parameters outside Argon2's rules or the default maxima: KDF_PARAMS, decided before Argon2id runs.",
    links: ['SPEC.md §3.4'],
  },
  CallerMaxima: {
    bugType: 'RESOURCE_EXHAUSTION',
    description:
      'Caller-supplied maxima (partial: unnamed bounds keep their defaults): below the parameters they refuse; raised, they admit parameters above the defaults.',
    links: ['SPEC.md §3.4'],
  },
  BackupKeyKek: {
    bugType: 'BASIC',
    description: 'HKDF-SHA-512 of a backup key with a slot salt.',
    links: ['SPEC.md §3.5'],
  },
  PasswordUnicode: {
    bugType: 'EDGE_CASE',
    description:
      'NFC with Unicode 14.0.0 data: U+1DFA COMBINING DOT BELOW LEFT (added in 14.0, combining class 218) does not block "a" and U+0301 from composing, so "a U+1DFA U+0301" and "a U+0301 U+1DFA" both become "U+00E1 U+1DFA" (older data leaves the first alone); U+1FAE0 (14.0) is a valid character.',
    links: ['SPEC.md §3.5'],
  },
  InvalidPassword: {
    bugType: 'MISSING_STEP',
    description:
      'Passwords SPEC.md §3.5 refuses, with INVALID_ARGUMENT before the parameters are looked at (even out-of-bounds ones) and before Argon2id runs: empty, a lone surrogate, a code point Unicode 14.0.0 does not assign (U+1FAE8 and the combining U+10EFD of 15.0, U+0378, the noncharacter U+FFFF).',
    links: ['SPEC.md §3.5', 'SPEC.md §7'],
  },
};

async function passwordCase(comment, flags, password, salt, kdf, kdfMaxima) {
  const stretched = await argon2(password, salt, kdf);
  return {
    tcId: 0,
    comment,
    flags,
    password,
    passwordUtf8: hex(utf8(password.normalize('NFC'))),
    salt: hex(salt),
    ...kdf,
    ...(kdfMaxima ? { kdfMaxima } : {}),
    result: 'valid',
    argon2id: hex(stretched),
    kek: hex(passwordKek(stretched)),
  };
}

function outOfBounds(comment, flags, salt, kdf, kdfMaxima) {
  return {
    tcId: 0,
    comment,
    flags,
    password: 'password',
    passwordUtf8: hex(utf8('password')),
    salt: hex(salt),
    ...kdf,
    ...(kdfMaxima ? { kdfMaxima } : {}),
    result: 'invalid',
    error: 'KDF_PARAMS',
  };
}

async function passwordGroup() {
  const tests = [];
  await seeded('kdf: passwords', async (rnd) => {
    const K = { m: 64, t: 1, p: 1 };
    const salt = rnd(32);
    const add = async (...args) => tests.push(await passwordCase(...args));
    await add('ASCII password', ['Ascii'], 'correct horse battery staple', salt, K);
    await add('one character', ['Ascii'], 'x', salt, K);
    await add('1000 characters', ['Ascii'], 'abcdefghij'.repeat(100), salt, K);
    await add('"é" in NFC (U+00E9)', ['NfcNfdPair'], 'caf\u00e9', salt, K);
    await add('"é" in NFD (e U+0301)', ['NfcNfdPair'], 'cafe\u0301', salt, K);
    await add('Hangul syllable (NFC)', ['NfcNfdPair'], '\uac01', salt, K);
    await add('Hangul jamo (NFD)', ['NfcNfdPair'], '\u1100\u1161\u11a8', salt, K);
    await add('U+212B ANGSTROM SIGN (NFC: U+00C5)', ['NfcNfdPair'], '\u212b', salt, K);
    await add('U+00C5', ['NfcNfdPair'], '\u00c5', salt, K);
    await add('A U+030A', ['NfcNfdPair'], 'A\u030a', salt, K);
    await add('ligature "ﬁ" (U+FB01), kept by NFC', ['NotNfkc'], '\ufb01', salt, K);
    await add('"fi", what NFKC would make of it', ['NotNfkc'], 'fi', salt, K);
    await add('full-width "Ａ" (U+FF21), kept by NFC', ['NotNfkc'], '\uff21', salt, K);
    await add('astral characters', ['Unicode'], '🔑🗝️ 鍵', salt, K);
    await add('right-to-left text', ['Unicode'], 'كلمة السر', salt, K);
    await add('leading and trailing spaces are kept', ['Unicode'], '  spaced out  ', salt, K);
    await add('m = 8, t = 1, p = 1: the smallest parameters', ['Parameters'], 'password', salt, {
      m: 8,
      t: 1,
      p: 1,
    });
    await add('m = 256, t = 2, p = 1', ['Parameters'], 'password', salt, { m: 256, t: 2, p: 1 });
    await add('m = 16, t = 1, p = 2 (m = 8 · p)', ['Parameters'], 'password', salt, { m: 16, t: 1, p: 2 });
    await add('m = 96, t = 3, p = 3', ['Parameters'], 'password', salt, { m: 96, t: 3, p: 3 });
    await add('m = 128, t = 1, p = 4', ['Parameters'], 'password', salt, { m: 128, t: 1, p: 4 });
    await add('all-zero salt', ['Parameters'], 'password', new Uint8Array(32), K);
    await add('all-0xff salt', ['Parameters'], 'password', new Uint8Array(32).fill(0xff), K);
    await add('another random salt', ['Parameters'], 'password', rnd(32), K);
    await add(
      't = 17, allowed by a caller maximum of 17',
      ['CallerMaxima'],
      'password',
      salt,
      { m: 8, t: 17, p: 1 },
      { t: 17 },
    );
    await add(
      'p = 17, allowed by a caller maximum of 17',
      ['CallerMaxima'],
      'password',
      salt,
      { m: 136, t: 1, p: 17 },
      { p: 17 },
    );
    const bad = (comment, kdf, kdfMaxima, flags = ['ParamsOutOfBounds']) =>
      tests.push(outOfBounds(comment, flags, salt, kdf, kdfMaxima));
    bad('m = 0', { m: 0, t: 1, p: 1 });
    bad('t = 0', { m: 64, t: 0, p: 1 });
    bad('p = 0', { m: 64, t: 1, p: 0 });
    bad('m = 15 < 8 · p with p = 2', { m: 15, t: 1, p: 2 });
    bad('m = 1048577 KiB, above the default maximum', { m: 1048577, t: 1, p: 1 });
    bad('m = 2^32 − 1 KiB', { m: 0xffffffff, t: 1, p: 1 });
    bad('t = 17, above the default maximum', { m: 8, t: 17, p: 1 });
    bad('p = 17, above the default maximum', { m: 136, t: 1, p: 17 });
    bad(
      "p = 2^24, above Argon2's limit, maxima raised to 2^32 − 1",
      { m: 2 ** 27, t: 1, p: 2 ** 24 },
      {
        m: 0xffffffff,
        t: 0xffffffff,
        p: 0xffffffff,
      },
    );
    bad('m = 65 above a caller maximum of 64', { m: 65, t: 1, p: 1 }, { m: 64 }, ['CallerMaxima']);
    bad('t = 2 above a caller maximum of 1', { m: 64, t: 2, p: 1 }, { t: 1 }, ['CallerMaxima']);
    bad('t = 17 with only the maximum of p raised', { m: 64, t: 17, p: 1 }, { p: 64 }, ['CallerMaxima']);
  });
  return { type: 'PasswordKek', tests };
}

async function backupKeyGroup() {
  const tests = [];
  await seeded('kdf: backup keys', async (rnd) => {
    const cases = [
      ['all-zero key and salt', new Uint8Array(32), new Uint8Array(32)],
      ['all-ones key, all-zero salt', new Uint8Array(32).fill(0xff), new Uint8Array(32)],
      ['random key and salt', rnd(32), rnd(32)],
      ['another random key and salt', rnd(32), rnd(32)],
    ];
    for (const [comment, key, salt] of cases)
      tests.push({
        tcId: 0,
        comment,
        flags: ['BackupKeyKek'],
        backupKey: hex(key),
        salt: hex(salt),
        result: 'valid',
        kek: hex(backupKeyKek(key, salt)),
      });
  });
  return { type: 'BackupKeyKek', tests };
}

/** Passwords and Unicode 14.0.0 (SPEC.md §3.5), after the older groups so that their tcIds stay. */
async function unicodeGroup() {
  const tests = [];
  await seeded('kdf: unicode 14', async (rnd) => {
    const K = { m: 64, t: 1, p: 1 };
    const salt = rnd(32);
    const add = async (...args) => tests.push(await passwordCase(...args));
    await add('"a U+1DFA U+0301": NFC composes across U+1DFA', ['PasswordUnicode'], 'a\u1dfa\u0301', salt, K);
    await add('"a U+0301 U+1DFA": NFC reorders and composes', ['PasswordUnicode'], 'a\u0301\u1dfa', salt, K);
    await add('"U+00E1 U+1DFA": already NFC', ['PasswordUnicode'], '\u00e1\u1dfa', salt, K);
    await add('U+1FAE0 MELTING FACE, added in 14.0', ['PasswordUnicode'], 'melting \u{1fae0}', salt, K);
    for (const [comment, password, kdf] of [
      ['an empty password', '', K],
      ['a lone surrogate U+D800', 'ab\ud800', K],
      ['a lone surrogate U+DC00 first', '\udc00ab', K],
      ['U+1FAE8 SHAKING FACE, added in 15.0', 'shaking \u{1fae8}', K],
      ['U+10EFD, a combining mark added in 15.0', 'x\u{10efd}', K],
      ['U+0378, never assigned', 'x\u0378', K],
      ['the noncharacter U+FFFF', 'x\uffff', K],
      ['U+1FAE8 with m = 0: the password is refused first', 'shaking \u{1fae8}', { m: 0, t: 1, p: 1 }],
      ['an empty password with t = 2^32 − 1', '', { m: 64, t: 0xffffffff, p: 1 }],
    ])
      tests.push({
        tcId: 0,
        comment,
        flags: ['InvalidPassword'],
        password,
        salt: hex(salt),
        ...kdf,
        result: 'invalid',
        error: 'INVALID_ARGUMENT',
      });
  });
  return { type: 'PasswordKek', tests };
}

/** The whole kdf_test.json document. */
export async function kdfFile() {
  return checkNotes(
    numberTests({
      algorithm: 'e2ee-backup key-slot KEK derivation',
      schema: 'schema.json',
      generator: 'scripts/vectors/generate.mjs',
      numberOfTests: 0,
      header: [
        'The key-encryption keys of SPEC.md §3.5, with the intermediate Argon2id output.',
        'PasswordKek: argon2id = Argon2id(UTF-8(NFC(password)) (= passwordUtf8), salt, m, t, p, 32);',
        'kek = HKDF-Expand-SHA-512(argon2id, "e2ee-backup v1 password slot", 32). Invalid tests: the',
        'parameters break SPEC.md §3.4 (with kdfMaxima where given): KDF_PARAMS, without running Argon2id;',
        'or SPEC.md §3.5 refuses the password: INVALID_ARGUMENT, before the parameters are looked at.',
        'BackupKeyKek: kek = HKDF-SHA-512(backupKey, salt, "e2ee-backup v1 backup-key slot", 32).',
      ],
      notes: KDF_NOTES,
      testGroups: [await passwordGroup(), await backupKeyGroup(), await unicodeGroup()],
    }),
  );
}
