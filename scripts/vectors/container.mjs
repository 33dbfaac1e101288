// container_v1_test.json: one function per family of vectors. Valid backups come from the library's
// own encoder (flag LibraryOutput) and from the independent writer in craft.mjs; every invalid one
// is crafted so that it breaks exactly one rule of SPEC.md and nothing else, so that its error is
// the one SPEC.md defines.
import { checkNotes, containerCase, mixed, noise, numberTests, text } from './common.mjs';
import {
  CHUNK,
  cobblestone,
  concat,
  deflated,
  END,
  edit,
  FLAG_COMPRESSED,
  FLAG_PADDED,
  fixedHuffmanRun,
  header,
  keySlot,
  metaRecord,
  padded,
  padme,
  passwordSlot,
  rawDeflate,
  reseal,
  stored,
  u8,
  u16,
  u32,
  utf8,
} from './craft.mjs';
import { seeded } from './determinism.mjs';

const CREATED = new Date('2026-11-26T12:00:00.000Z');
const META = { created: '2026-11-26T12:00:00.000Z', generation: 1, app: {} };
const KDF = { m: 64, t: 1, p: 1 };
const PASSWORD = 'correct horse battery staple';
const MiB = 1 << 20;
const BOTH = FLAG_COMPRESSED | FLAG_PADDED;

// ---------------------------------------------------------------------------------------------
// notes: one per flag (Wycheproof style), with the rule of SPEC.md each pins

export const NOTES = {
  LibraryOutput: {
    bugType: 'FUNCTIONALITY',
    description:
      "Written by the library's own encoder (encryptBackupBytes) with a seeded random source; a decoder must open it.",
    links: ['SPEC.md §2–§5'],
  },
  OptionMatrix: {
    bugType: 'BASIC',
    description:
      'Every slot set (backup key, password, both) with compression on and off and padding on and off.',
    links: ['SPEC.md §3.1', 'SPEC.md §3.2', 'SPEC.md §5'],
  },
  BodySize: {
    bugType: 'EDGE_CASE',
    description: 'Bodies of 0, 1 and 2 bytes and around multiples of 16 384 bytes.',
    links: ['SPEC.md §5.2'],
  },
  ChunkBoundary: {
    bugType: 'EDGE_CASE',
    description:
      'The framed plaintext is one byte short of, exactly at, or one byte past a multiple of 16 384: the final chunk is full-but-one, empty, or one byte.',
    links: ['SPEC.md §4'],
  },
  BlockBoundary: {
    bugType: 'EDGE_CASE',
    description:
      'Bodies around multiples of 1 048 576 bytes: one block, one full block, a full block and one byte.',
    links: ['SPEC.md §5.2'],
  },
  LargeBackup: {
    bugType: 'FUNCTIONALITY',
    description:
      'A body of several MiB in seven blocks: deflate blocks with incompressible runs inside, and a stored tail block. (The body compresses, which keeps the file small; a counter crossing a nonce byte needs 4 MiB of ciphertext, and is covered by the C2SP Cobblestone vectors.)',
    links: ['SPEC.md §4', 'SPEC.md §5.2'],
  },
  DeflateLevels: {
    bugType: 'FUNCTIONALITY',
    description:
      'Deflate blocks from the fastest and the strongest compression levels: any valid raw deflate must be accepted.',
    links: ['SPEC.md §5.2'],
  },
  MetadataVariants: {
    bugType: 'FUNCTIONALITY',
    description:
      'Valid metadata records: members in any order, whitespace, escapes, unicode, nested application fields (also reusing the member names at other depths), timestamps with 0–9 fraction digits and on calendar edges, generation 0 and 2^53 − 1, nesting 64 deep, 65 536 bytes of JSON.',
    links: ['SPEC.md §5.1'],
  },
  BlockMix: {
    bugType: 'FUNCTIONALITY',
    description:
      'Stored and deflate blocks mixed, of any sizes from 1 to 1 048 576 bytes: the 1 MiB cut is a writer rule only, and a COMPRESSED backup may hold stored blocks only.',
    links: ['SPEC.md §5.2'],
  },
  PaddingEdge: {
    bugType: 'EDGE_CASE',
    description:
      'Padmé padding of zero bytes (the framed length is already a Padmé length) and of thousands of bytes.',
    links: ['SPEC.md §5.4'],
  },
  SlotOrder: {
    bugType: 'FUNCTIONALITY',
    description: 'Slots may come in any order: a password slot before the backup-key slot.',
    links: ['SPEC.md §3.2'],
  },
  PasswordNormalization: {
    bugType: 'FUNCTIONALITY',
    description:
      'Passwords are NFC-normalised before UTF-8 encoding: a password given in NFD opens a slot made with NFC and vice versa; NFKC-only equivalents do not.',
    links: ['SPEC.md §3.5'],
  },
  KdfParamsValid: {
    bugType: 'EDGE_CASE',
    description:
      'Argon2id parameters at the default maxima (t = 16, p = 16), with p > 1, and above the defaults when the caller raises kdfMaxima: all must open.',
    links: ['SPEC.md §3.4'],
  },
  UnusedSlotParams: {
    bugType: 'FUNCTIONALITY',
    description:
      "A password slot's Argon2id parameters are checked before Argon2id runs, that is when the password slot is used: opening with the backup key ignores them, even out of bounds.",
    links: ['SPEC.md §3.2', 'SPEC.md §3.4'],
  },
  BothCredentials: {
    bugType: 'FUNCTIONALITY',
    description:
      "A backup key and a password given together: either opening is enough; when neither opens, WRONG_KEY if the backup has a backup-key slot, else the password slot's error; when the backup-key slot opens, its file key is the one (a commitment that then fails is HEADER_AUTH, the password slot is not tried).",
    links: ['SPEC.md §3.5'],
  },
  CredentialPrecedence: {
    bugType: 'FUNCTIONALITY',
    description:
      "A backup key and a password given together: the backup-key slot is tried first, whatever the slot order; if neither opens, WRONG_KEY when the backup has a backup-key slot (even when the password slot's Argon2id parameters are out of bounds), else the password slot's error (KDF_PARAMS, before Argon2id runs). A backup key that opens its slot never lets the password slot's parameters be checked.",
    links: ['SPEC.md §3.4', 'SPEC.md §3.5'],
  },
  ShortFile: {
    bugType: 'EDGE_CASE',
    description:
      'A file of fewer than 13 bytes (the fixed part) is TRUNCATED whatever its bytes are: with or without a correct magic prefix, with a wrong version byte present. From 13 bytes on, the magic is checked (MALFORMED_HEADER).',
    links: ['SPEC.md §3.3', 'SPEC.md §7'],
  },
  BadMagic: {
    bugType: 'BASIC',
    description: 'The first 8 bytes are not the magic: not a backup.',
    links: ['SPEC.md §3.1'],
  },
  UnknownVersion: {
    bugType: 'BASIC',
    description: 'A version byte other than 1, checked before the header length and the checksum.',
    links: ['SPEC.md §3.1', 'SPEC.md §3.3'],
  },
  UnknownFlag: {
    bugType: 'MISSING_STEP',
    description: 'A flag bit other than COMPRESSED and PADDED is set (checksum recomputed).',
    links: ['SPEC.md §3.1'],
  },
  HeaderLength: {
    bugType: 'MODIFIED_PARAMETER',
    description:
      'The header length is outside 112..4096, or does not match the slots (the checksum is then read from the wrong place, or the slots do not end where the checksum starts).',
    links: ['SPEC.md §3.1', 'SPEC.md §3.2'],
  },
  SlotCount: {
    bugType: 'MODIFIED_PARAMETER',
    description: 'The slot count is 0, above 8, or not the number of slots present (checksum recomputed).',
    links: ['SPEC.md §3.1', 'SPEC.md §3.2'],
  },
  UnknownSlotType: {
    bugType: 'MISSING_STEP',
    description:
      'A slot of a type other than 1 and 2, anywhere in the header, even beside a slot that would open (checksum recomputed, payload bound to this header).',
    links: ['SPEC.md §3.2'],
  },
  SlotLength: {
    bugType: 'MODIFIED_PARAMETER',
    description:
      'A known slot type with a body length other than its own (80 or 92), or a slot running past the header.',
    links: ['SPEC.md §3.2'],
  },
  SlotOverrun: {
    bugType: 'EDGE_CASE',
    description:
      "A slot whose 3-byte prefix or whose body runs past H − 16: MALFORMED_HEADER, checked before the slot's type, so an unknown type that does not fit is MALFORMED_HEADER, not UNKNOWN_SLOT_TYPE (checksum recomputed, payload bound to this header).",
    links: ['SPEC.md §3.2', 'SPEC.md §3.3'],
  },
  DuplicateSlotType: {
    bugType: 'MISSING_STEP',
    description:
      'Two slots of the same type, each of which would open (checksum recomputed, payload bound to this header).',
    links: ['SPEC.md §3.2'],
  },
  BadChecksum: {
    bugType: 'MISSING_STEP',
    description:
      'Accidental corruption: a header byte or the checksum changed without recomputing the checksum; reported before any key is tried.',
    links: ['SPEC.md §3.3', 'SPEC.md §8'],
  },
  CheckOrder: {
    bugType: 'EDGE_CASE',
    description:
      'Two header faults at once: the error is the one of the check SPEC.md §3.3 orders first (fixed part present, magic, version, header length, read H bytes, checksum, flags, slot count; each slot in order: prefix fits, body fits, type, length; exact fit, duplicate types; the header before any key).',
    links: ['SPEC.md §3.3'],
  },
  Truncation: {
    bugType: 'AUTH_BYPASS',
    description:
      'The file is cut at a structural boundary or inside a structure: magic, fixed part, a slot, the checksum, the payload salt or commitment, a chunk, a tag, the final chunk. Inside the header: TRUNCATED; a payload of impossible length: TRUNCATED; a cut leaving a final chunk of at least 16 bytes: CHUNK_AUTH.',
    links: ['SPEC.md §3.3', 'SPEC.md §4'],
  },
  KdfParamsOutOfBounds: {
    bugType: 'RESOURCE_EXHAUSTION',
    description:
      "A password slot's Argon2id parameters break Argon2's own rules or the default maxima; opening with the password must fail before Argon2id runs or allocates (some would need terabytes).",
    links: ['SPEC.md §3.2', 'SPEC.md §3.4'],
  },
  KdfMaxima: {
    bugType: 'RESOURCE_EXHAUSTION',
    description:
      "The caller's kdfMaxima (partial: unnamed bounds keep their defaults) are lower than the slot's parameters.",
    links: ['SPEC.md §3.4'],
  },
  NoMatchingSlot: {
    bugType: 'BASIC',
    description: 'The backup has no slot of the kind the credential opens.',
    links: ['SPEC.md §3.5'],
  },
  WrongKey: {
    bugType: 'BASIC',
    description: 'A backup key other than the one the backup was made with.',
    links: ['SPEC.md §3.5'],
  },
  WrongPassword: {
    bugType: 'BASIC',
    description:
      'A password other than the one the backup was made with (case, a trailing space, an NFKC-only equivalent).',
    links: ['SPEC.md §3.5'],
  },
  SlotBeforePayload: {
    bugType: 'FUNCTIONALITY',
    description:
      'A wrong or unusable credential on a backup whose payload is also damaged (cut, modified, extended): the slot is unwrapped before anything of the payload is examined, so the credential error is reported.',
    links: ['SPEC.md §3.5', 'SPEC.md §4'],
  },
  ModifiedSlot: {
    bugType: 'MALLEABILITY',
    description:
      "A field of the slot being opened was changed (salt, Argon2id parameter, wrapped key; checksum recomputed): the slot's own AAD or KEK no longer matches, so the unwrap fails.",
    links: ['SPEC.md §3.5'],
  },
  ModifiedHeader: {
    bugType: 'AUTH_BYPASS',
    description:
      'The slot being opened is intact but another part of the header was changed (a known flag, the other slot, a slot added, removed or moved; checksum recomputed): the payload commitment must fail with HEADER_AUTH.',
    links: ['SPEC.md §4', 'SPEC.md §8'],
  },
  SlotFromAnotherBackup: {
    bugType: 'AUTH_BYPASS',
    description:
      "A key slot copied from another backup made with the same credential unwraps the other backup's file key, whose commitment does not match: HEADER_AUTH. With another credential: WRONG_KEY.",
    links: ['SPEC.md §3.5', 'SPEC.md §8'],
  },
  HeaderFromAnotherBackup: {
    bugType: 'AUTH_BYPASS',
    description: "Another backup's whole header in front of this payload (same backup key).",
    links: ['SPEC.md §4', 'SPEC.md §8'],
  },
  ModifiedCommitment: {
    bugType: 'AUTH_BYPASS',
    description: "The payload's Cobblestone salt or commitment was changed: after a slot opens, HEADER_AUTH.",
    links: ['SPEC.md §4'],
  },
  ModifiedChunk: {
    bugType: 'AUTH_BYPASS',
    description: 'A bit of a chunk body or tag was flipped.',
    links: ['SPEC.md §4'],
  },
  ChunkReordering: {
    bugType: 'AUTH_BYPASS',
    description:
      'Chunks swapped, duplicated, inserted or dropped: the per-chunk nonce makes the first misplaced chunk fail.',
    links: ['SPEC.md §4'],
  },
  TrailingData: {
    bugType: 'AUTH_BYPASS',
    description:
      'Bytes after the final chunk, at most 256 of them inside the record that holds it (§4): TRAILING_DATA. Where the extra bytes make a full 16 400-byte record out of a 16 399-byte final chunk, the chunk is checked before the length: TRAILING_DATA, not TRUNCATED.',
    links: ['SPEC.md §2', 'SPEC.md §4'],
  },
  TrailingDataWindow: {
    bugType: 'AUTH_BYPASS',
    description:
      'failure(i, R) of SPEC.md §4: a failing record of n bytes is TRAILING_DATA when its first L bytes, for some L from min(n − 1, 16 399) down to max(16, that − 255), decrypt as the chunk; otherwise CHUNK_AUTH. So 257 bytes after a short final chunk (even an empty one) are CHUNK_AUTH, while more than 256 appended bytes of which at most 256 fall inside the 16 400-byte record holding the final chunk are TRAILING_DATA.',
    links: ['SPEC.md §4'],
  },
  MalformedMetadata: {
    bugType: 'MODIFIED_PARAMETER',
    description:
      'The metadata record breaks a rule: length over 65 536 or past the plaintext, invalid UTF-8, a byte-order mark, not JSON, duplicate member names, not an object, a member missing, extra or of the wrong type, a bad or impossible timestamp, a bad generation, nesting deeper than 64, an escaped lone surrogate.',
    links: ['SPEC.md §5.1'],
  },
  ByteOrderMark: {
    bugType: 'MODIFIED_PARAMETER',
    description:
      'A UTF-8 byte-order mark before (or after) the metadata JSON is MALFORMED_PAYLOAD: U+FEFF is not JSON white space. Inside a string it is an ordinary character.',
    links: ['SPEC.md §5.1'],
  },
  DuplicateMembers: {
    bugType: 'MODIFIED_PARAMETER',
    description:
      'Member names must be unique in every object at every depth (compared after unescaping): a duplicate at the top level, inside app, or deep inside an array in app is MALFORMED_PAYLOAD. The same name in different objects is valid.',
    links: ['SPEC.md §5.1'],
  },
  CalendarDate: {
    bugType: 'EDGE_CASE',
    description:
      '"created" must name a real UTC instant from 1970 on: 30 February, 29 February of a non-leap year (2026, 1900), 31 April, day or month 00, 24:00:00, a leap second :60 and years before 1970 are MALFORMED_PAYLOAD; 29 February of a leap year (2028, 2000), 1970-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z are valid.',
    links: ['SPEC.md §5.1'],
  },
  GenerationValue: {
    bugType: 'EDGE_CASE',
    description:
      '"generation" is an integer written without sign, fraction or exponent, 0 to 2^53 − 1: 0 and 9007199254740991 are valid; 1.0, 1e3, 1E+3, 10e-1, 0.0, -0, 1e-400, 1.0000000000000001 and 9.007199254740991e15 are MALFORMED_PAYLOAD even where their value (or nearest double) is an integer in range, as are -1.0, 0.5e0 and 9.007199254740992e15. The same spellings inside app are any JSON number.',
    links: ['SPEC.md §5.1'],
  },
  BackupSet: {
    bugType: 'EDGE_CASE',
    description:
      'The optional "set" member names the backup set: a string of 1 to 64 characters, each A-Z, a-z, 0-9, ".", "_" or "-". Present and valid, it is part of the metadata; empty, longer, with any other character (a space, "/", a non-ASCII letter), not a string, or spelled with another case ("Set", an extra member) is MALFORMED_PAYLOAD.',
    links: ['SPEC.md §5.1'],
  },
  MalformedBlock: {
    bugType: 'MODIFIED_PARAMETER',
    description:
      'A body block breaks a rule: unknown kind byte, a length out of range, a block past the plaintext, deflate data that is invalid, expands to another length, does not end, or has bytes after its end.',
    links: ['SPEC.md §5.2'],
  },
  DeflateWithoutFlag: {
    bugType: 'MISSING_STEP',
    description:
      "A deflate block in a backup whose COMPRESSED flag is clear: MALFORMED_PAYLOAD, decided at the block's kind byte, so before its lengths and the output limit (a deflate block over maxOutputBytes without the flag is MALFORMED_PAYLOAD, with the flag OUTPUT_LIMIT).",
    links: ['SPEC.md §5.2'],
  },
  MissingEndMarker: {
    bugType: 'AUTH_BYPASS',
    description: 'The plaintext ends before the end marker (after the metadata, after a block, or empty).',
    links: ['SPEC.md §5.3'],
  },
  BadPadding: {
    bugType: 'MALLEABILITY',
    description:
      'Padding that is not all zero, one byte short or long of Padmé, missing, or present in an unpadded backup.',
    links: ['SPEC.md §5.4'],
  },
  OutputLimit: {
    bugType: 'RESOURCE_EXHAUSTION',
    description:
      'A maxOutputBytes limit: a body of exactly the limit opens; one byte more fails with OUTPUT_LIMIT before the block is expanded.',
    links: ['SPEC.md §5.2', 'SPEC.md §6'],
  },
  OutputLimitOrder: {
    bugType: 'RESOURCE_EXHAUSTION',
    description:
      "A block's kind byte is checked first, then its lengths, then the limit, then its data: OUTPUT_LIMIT is decided from a block's declared length after the block's range checks and before its data is read or inflated, so a block over the limit whose data is cut short or is not valid deflate is OUTPUT_LIMIT; a block whose lengths are out of range, or a deflate block without COMPRESSED, is MALFORMED_PAYLOAD even over the limit.",
    links: ['SPEC.md §5.2', 'SPEC.md §6'],
  },
  DecompressionBomb: {
    bugType: 'RESOURCE_EXHAUSTION',
    description:
      "Highly compressed blocks that expand far beyond the caller's limit (OUTPUT_LIMIT), or a deflate block that expands beyond its declared rlen (MALFORMED_PAYLOAD; the decoder must stop at rlen).",
    links: ['SPEC.md §5.2'],
  },
  NestingDepth: {
    bugType: 'RESOURCE_EXHAUSTION',
    description:
      'The metadata JSON nests arrays and objects at most 64 deep, the record itself counting as 1 (so app is 2): 64 is valid, 65 and 30 000 are MALFORMED_PAYLOAD (a recursive parser must not be reached with more). Brackets inside strings do not count.',
    links: ['SPEC.md §5.1'],
  },
  LoneSurrogate: {
    bugType: 'EDGE_CASE',
    description:
      'Strings in the metadata JSON, member names included, are sequences of Unicode scalar values: an escaped lone surrogate ("\\ud800", "\\udc00", a high surrogate escape followed by another, or by no low one) is MALFORMED_PAYLOAD; an escaped surrogate pair, a raw astral character and an escaped backslash before "ud800" are valid.',
    links: ['SPEC.md §5.1'],
  },
  ArgumentErrors: {
    bugType: 'MISSING_STEP',
    description:
      "The caller's arguments are checked before anything of the file is read: an empty password, one with a lone surrogate or a code point Unicode 14.0.0 does not assign (INVALID_ARGUMENT), a backup key that is not 32 bytes (INVALID_KEY_SIZE), no credential (INVALID_ARGUMENT) — on a 5-byte file, and on a valid backup beside a backup key that opens it.",
    links: ['SPEC.md §3.5', 'SPEC.md §7'],
  },
  PasswordUnicode: {
    bugType: 'EDGE_CASE',
    description:
      'Passwords hold only code points Unicode 14.0.0 assigns, and are NFC-normalised with its data: U+1DFA (added in 14.0, combining class 218) lets "a" and U+0301 compose across it, so "a U+1DFA U+0301" opens a slot made with "U+00E1 U+1DFA"; U+1FAE0 (14.0) is valid; U+1FAE8 and U+10EFD (15.0), U+0378 and the noncharacter U+FFFF are INVALID_ARGUMENT.',
    links: ['SPEC.md §3.5'],
  },
  SlotOpens: {
    bugType: 'AUTH_BYPASS',
    description:
      "A slot opens when its tag verifies; its file key is then the one, and no other slot is tried: a crafted header whose backup-key slot wraps another file key than its password slot, with the payload sealed under the password slot's, is HEADER_AUTH with the backup key, alone or with the password, and valid with the password alone.",
    links: ['SPEC.md §3.5', 'SPEC.md §4'],
  },
  CompressedFlag: {
    bugType: 'FUNCTIONALITY',
    description:
      'A writer sets COMPRESSED when it was asked to compress, before it knows whether a block will shrink: a COMPRESSED backup of incompressible data holds stored blocks only, and one with an empty body no block at all; both are valid.',
    links: ['SPEC.md §3.1', 'SPEC.md §5.2'],
  },
};

// ---------------------------------------------------------------------------------------------
// helpers

/** The framed plaintext of SPEC.md §5: metadata record, blocks, end marker, optional padding. */
function frame({ meta = META, blocks = [], end = true, pad = false } = {}) {
  const framed = concat(metaRecord(meta), ...blocks, end ? END : new Uint8Array(0));
  return pad ? padded(framed) : framed;
}

/**
 * A backup from the independent writer: slots in the order given, each wrapping a fresh file key,
 * the payload bound to the header. `rebound(h)` seals the same plaintext under another header
 * (consistent); `withHeader(h)` puts another header in front of this payload (an edit).
 */
async function craftBackup(
  rnd,
  { slots = ['key'], flags = 0, plaintext, key, password = PASSWORD, kdf = KDF },
) {
  const fileKey = rnd(32);
  const backupKey = key ?? rnd(32);
  const slotBytes = [];
  for (const s of slots) {
    const salt = rnd(32);
    slotBytes.push(
      s === 'key'
        ? keySlot({ backupKey, salt, fileKey })
        : await passwordSlot({ password, kdf, salt, fileKey }),
    );
  }
  const h = header({ flags, slots: slotBytes });
  const payloadSalt = rnd(24);
  const payload = cobblestone(fileKey, payloadSalt, h, plaintext);
  return {
    key: backupKey,
    password,
    fileKey,
    slots: slotBytes,
    header: h,
    payload,
    ct: concat(h, payload.bytes()),
    rebound: (h2) => concat(h2, cobblestone(fileKey, payloadSalt, h2, plaintext).bytes()),
    withHeader: (h2) => concat(h2, payload.bytes()),
  };
}

/** A backup written by the library itself (its randomness is the seeded DRBG). */
async function libraryBackup(lib, body, options) {
  // Level 6 named here, not left to the library's default, so that the vectors do not change
  // when the default does (any level is valid: DeflateLevels).
  const ct = await lib.encryptBackupBytes(body, { createdAt: CREATED, level: 6, ...options });
  const metadata = {
    created: (options.createdAt ?? CREATED).toISOString(),
    generation: options.generation ?? 0,
    app: options.metadata ?? {},
    ...(options.set !== undefined ? { set: options.set } : {}),
  };
  return { ct, metadata };
}

/** Mostly zeros with a random byte every 4 KiB: expands about 1000-fold. */
function sparse(rnd, n) {
  const out = new Uint8Array(n);
  const r = rnd(Math.ceil(n / 4096));
  for (let i = 0; i < r.length; i++) out[i * 4096] = r[i];
  return out;
}

const slotLabel = (slots) => (slots.length === 2 ? 'both slots' : `${slots[0]} slot`);

function group(description, tests) {
  return { type: 'BackupDecryption', description, tests };
}

// ---------------------------------------------------------------------------------------------
// valid: the library's encoder

async function optionMatrix(lib) {
  const tests = [];
  for (const slots of [['key'], ['password'], ['key', 'password']])
    for (const compression of ['deflate', 'none'])
      for (const padding of ['padme', 'none']) {
        const label = `${slotLabel(slots)}, compression ${compression}, padding ${padding}`;
        await seeded(`option matrix: ${label}`, async (rnd) => {
          const key = rnd(32);
          const body = mixed(rnd, 20000, 5000);
          const cred = { key: slots.includes('key') ? key : undefined };
          if (slots.includes('password')) cred.password = PASSWORD;
          const { ct, metadata } = await libraryBackup(lib, body, {
            ...cred,
            kdf: KDF,
            allowWeakKdf: true,
            compression,
            padding,
            generation: 5,
            metadata: { device: 'phone' },
          });
          for (const open of slots)
            tests.push(
              containerCase({
                comment: `${label}; opened with the ${open === 'key' ? 'backup key' : 'password'}`,
                flags: ['LibraryOutput', 'OptionMatrix'],
                cred: open === 'key' ? { key } : { password: PASSWORD },
                ct,
                body,
                metadata,
              }),
            );
        });
      }
  return group('The library encoder: every slot set, compression and padding option.', tests);
}

async function bodySizes(lib) {
  const tests = [];
  const cases = [
    ...[0, 1, 2, 16383, 16384, 16385, 32767, 32768, 32769].map((n) => [n, 'none', 'none']),
    ...[0, 1, 16384, 65536].map((n) => [n, 'deflate', 'padme']),
  ];
  for (const [n, compression, padding] of cases) {
    const comment = `body of ${n} bytes, compression ${compression}, padding ${padding}`;
    await seeded(`body size: ${comment}`, async (rnd) => {
      const key = rnd(32);
      const body = text(rnd, n);
      const { ct, metadata } = await libraryBackup(lib, body, { key, compression, padding, generation: n });
      tests.push(
        containerCase({ comment, flags: ['LibraryOutput', 'BodySize'], cred: { key }, ct, body, metadata }),
      );
    });
  }
  return group('Body sizes around the chunk size.', tests);
}

async function chunkBoundaries(lib) {
  const tests = [];
  for (const target of [16383, 16384, 16385, 32767, 32768, 32769, 49152]) {
    const comment = `framed plaintext of ${target} bytes (final chunk of ${target % CHUNK} bytes)`;
    await seeded(`chunk boundary: ${target}`, async (rnd) => {
      const key = rnd(32);
      const options = { key, compression: 'none', padding: 'none', generation: target };
      const metaLength = utf8(
        JSON.stringify({ created: CREATED.toISOString(), generation: target, app: {} }),
      ).length;
      const body = noise(rnd, target - (4 + metaLength + 5 + 1));
      const { ct, metadata } = await libraryBackup(lib, body, options);
      const full = Math.floor(target / CHUNK);
      if (ct.length !== 112 + 56 + full * (CHUNK + 16) + (target % CHUNK) + 16)
        throw new Error(`chunk boundary ${target}: unexpected length ${ct.length}`);
      tests.push(
        containerCase({
          comment,
          flags: ['LibraryOutput', 'ChunkBoundary'],
          cred: { key },
          ct,
          body,
          metadata,
        }),
      );
    });
  }
  return group('Framed plaintext lengths around multiples of the 16 384-byte chunk.', tests);
}

async function blockBoundaries(lib) {
  const tests = [];
  const cases = [
    // Stored blocks cost their size in ciphertext (2 MiB of hex): one vector, a full block and 1 byte.
    [MiB + 1, 'none', 'padme', noise],
    [MiB - 1, 'deflate', 'none', sparse],
    [MiB, 'deflate', 'none', sparse],
    [MiB - 1, 'deflate', 'padme', sparse],
    [MiB, 'deflate', 'padme', sparse],
    [MiB + 1, 'deflate', 'padme', sparse],
    [2 * MiB, 'deflate', 'none', sparse],
    [2 * MiB + 1, 'deflate', 'none', sparse],
  ];
  for (const [n, compression, padding, fill] of cases) {
    const comment = `body of ${n} bytes (${fill === noise ? 'incompressible, stored' : 'compressible'}), compression ${compression}, padding ${padding}`;
    await seeded(`block boundary: ${comment}`, async (rnd) => {
      const key = rnd(32);
      const body = fill(rnd, n);
      const { ct, metadata } = await libraryBackup(lib, body, { key, compression, padding });
      tests.push(
        containerCase({
          comment,
          flags: ['LibraryOutput', 'BlockBoundary'],
          cred: { key },
          ct,
          body,
          metadata,
        }),
      );
    });
  }
  return group('Bodies around multiples of the 1 048 576-byte block.', tests);
}

async function largeBackup(lib) {
  const tests = [];
  await seeded('large backup', async (rnd) => {
    const key = rnd(32);
    // Six deflate blocks (some with incompressible runs inside), then a stored tail block: the
    // ciphertext stays small because the body compresses (ciphertext itself never does).
    const body = concat(
      sparse(rnd, MiB),
      concat(noise(rnd, 100000), sparse(rnd, MiB - 100000)),
      concat(text(rnd, 150000), sparse(rnd, MiB - 150000)),
      sparse(rnd, MiB),
      concat(sparse(rnd, MiB - 30000), noise(rnd, 30000)),
      sparse(rnd, MiB),
      noise(rnd, 40000),
    );
    const { ct, metadata } = await libraryBackup(lib, body, {
      key,
      password: PASSWORD,
      kdf: KDF,
      allowWeakKdf: true,
      generation: 123456789,
      metadata: { device: 'laptop', note: 'several MiB' },
    });
    tests.push(
      containerCase({
        comment: `${body.length}-byte body of stored and deflate blocks (${Math.floor((ct.length - 207 - 56) / (CHUNK + 16)) + 1} chunks)`,
        flags: ['LibraryOutput', 'LargeBackup', 'BlockMix'],
        cred: { key },
        ct,
        body,
        metadata,
      }),
    );
  });
  return group('A backup of several MiB.', tests);
}

async function deflateLevels(lib) {
  const tests = [];
  for (const level of [1, 9]) {
    await seeded(`deflate level ${level}`, async (rnd) => {
      const key = rnd(32);
      const body = text(rnd, 60000);
      const { ct, metadata } = await libraryBackup(lib, body, { key, level, padding: 'none' });
      tests.push(
        containerCase({
          comment: `deflate level ${level}`,
          flags: ['LibraryOutput', 'DeflateLevels'],
          cred: { key },
          ct,
          body,
          metadata,
        }),
      );
    });
  }
  return group('Deflate levels.', tests);
}

async function libraryMetadata(lib) {
  const tests = [];
  const cases = [
    ['empty application fields', {}, 0, CREATED],
    [
      'nested application fields',
      { a: { b: { c: [1, 2, { d: null }], e: [] } }, flags: [true, false], empty: {} },
      7,
      CREATED,
    ],
    [
      'unicode application fields',
      { name: 'Zoë 🎉 日本語', ключ: 'значение', 'e\u0301': 'NFD key stays NFD', '': 'empty key' },
      8,
      CREATED,
    ],
    ['numbers', { negative: -7, fraction: 3.25, max: 9007199254740991, tiny: 1e-7 }, 9, CREATED],
    ['escapes', { s: 'quote " backslash \\ newline \n tab \t nul \u0000 del \u007f' }, 10, CREATED],
    ['largest generation 2^53 − 1', { device: 'phone' }, 2 ** 53 - 1, CREATED],
    ['created at the epoch', {}, 1, new Date(0)],
    ['created at the last millisecond of 2099', {}, 2, new Date('2099-12-31T23:59:59.999Z')],
  ];
  for (const [comment, app, generation, createdAt] of cases) {
    await seeded(`library metadata: ${comment}`, async (rnd) => {
      const key = rnd(32);
      const body = text(rnd, 100);
      const { ct, metadata } = await libraryBackup(lib, body, { key, metadata: app, generation, createdAt });
      tests.push(
        containerCase({
          comment,
          flags: ['LibraryOutput', 'MetadataVariants'],
          cred: { key },
          ct,
          body,
          metadata,
        }),
      );
    });
  }
  return group('Metadata written by the library.', tests);
}

async function libraryPasswords(lib) {
  const tests = [];
  const cases = [
    ['p = 2', { m: 64, t: 1, p: 2 }, PASSWORD, [PASSWORD], ['KdfParamsValid']],
    ['p = 3, t = 2', { m: 96, t: 2, p: 3 }, PASSWORD, [PASSWORD], ['KdfParamsValid']],
    ['p = 4, m = 256', { m: 256, t: 1, p: 4 }, PASSWORD, [PASSWORD], ['KdfParamsValid']],
    [
      'password made in NFC, given in NFC and in NFD',
      KDF,
      'pässwörd café',
      ['pässwörd café', 'pa\u0308sswo\u0308rd cafe\u0301'],
      ['PasswordNormalization'],
    ],
    [
      'password made in NFD, given in NFD and in NFC',
      KDF,
      '\u1100\u1161\u11a8 A\u030a',
      ['\u1100\u1161\u11a8 A\u030a', '\uac01 \u00c5'],
      ['PasswordNormalization'],
    ],
    [
      'astral characters, quotes and a backslash',
      KDF,
      '🔑 ключ 鍵 "quoted" \\ ',
      ['🔑 ключ 鍵 "quoted" \\ '],
      ['PasswordNormalization'],
    ],
  ];
  for (const [comment, kdf, made, given, flags] of cases) {
    await seeded(`library password: ${comment}`, async (rnd) => {
      const body = text(rnd, 500);
      const { ct, metadata } = await libraryBackup(lib, body, { password: made, kdf, allowWeakKdf: true });
      for (const password of given)
        tests.push(
          containerCase({
            comment: `${comment}: password ${JSON.stringify(password)}`,
            flags: ['LibraryOutput', ...flags],
            cred: { password },
            ct,
            body,
            metadata,
          }),
        );
    });
  }
  return group('Password slots written by the library.', tests);
}

// ---------------------------------------------------------------------------------------------
// valid: the independent writer

async function craftedMetadata() {
  const tests = [];
  const raw = [
    [
      'members in another order, with whitespace',
      ' \n{ "app" : { "a" : [ 1 , 2 ] } ,\t"generation" : 3 ,\r\n "created" : "2026-11-26T12:00:00Z" }\n ',
      { app: { a: [1, 2] }, generation: 3, created: '2026-11-26T12:00:00Z' },
    ],
    [
      'timestamp without fraction',
      '{"created":"2026-11-26T12:00:00Z","generation":0,"app":{}}',
      { created: '2026-11-26T12:00:00Z', generation: 0, app: {} },
    ],
    [
      'timestamp with 1 fraction digit',
      '{"created":"2026-11-26T12:00:00.5Z","generation":0,"app":{}}',
      { created: '2026-11-26T12:00:00.5Z', generation: 0, app: {} },
    ],
    [
      'timestamp with 9 fraction digits',
      '{"created":"2026-11-26T12:00:00.123456789Z","generation":0,"app":{}}',
      { created: '2026-11-26T12:00:00.123456789Z', generation: 0, app: {} },
    ],
    [
      'JSON escapes in strings',
      '{"created":"2026-11-26T12:00:00Z","generation":1,"app":{"\\u00e9":"caf\\u00e9 \\ud83d\\ude00 \\"\\/\\b\\f\\n\\r\\t"}}',
      { created: '2026-11-26T12:00:00Z', generation: 1, app: { é: 'café 😀 "/\b\f\n\r\t' } },
    ],
    [
      'generation 2^53 − 1',
      '{"created":"2026-11-26T12:00:00Z","generation":9007199254740991,"app":{}}',
      { created: '2026-11-26T12:00:00Z', generation: 9007199254740991, app: {} },
    ],
  ];
  for (const [comment, json, metadata] of raw) {
    await seeded(`crafted metadata: ${comment}`, async (rnd) => {
      const body = text(rnd, 64);
      const b = await craftBackup(rnd, { plaintext: frame({ meta: json, blocks: [stored(body)] }) });
      tests.push(
        containerCase({
          comment,
          flags: ['MetadataVariants'],
          cred: { key: b.key },
          ct: b.ct,
          body,
          metadata,
        }),
      );
    });
  }
  await seeded('crafted metadata: 65536 bytes', async (rnd) => {
    const base = JSON.stringify({ created: META.created, generation: 1, app: { fill: '' } });
    const metadata = { created: META.created, generation: 1, app: { fill: 'x'.repeat(65536 - base.length) } };
    if (utf8(JSON.stringify(metadata)).length !== 65536) throw new Error('metadata size');
    const body = text(rnd, 10);
    const b = await craftBackup(rnd, { plaintext: frame({ meta: metadata, blocks: [stored(body)] }) });
    tests.push(
      containerCase({
        comment: 'metadata of exactly 65536 bytes',
        flags: ['MetadataVariants'],
        cred: { key: b.key },
        ct: b.ct,
        body,
        metadata,
      }),
    );
  });
  return group('Metadata records the library does not write but every decoder must read.', tests);
}

async function blockMix() {
  const tests = [];
  await seeded('block mix: all sizes', async (rnd) => {
    const parts = [
      noise(rnd, 1),
      text(rnd, 5000),
      noise(rnd, 16385),
      sparse(rnd, MiB),
      noise(rnd, 7),
      text(rnd, 3),
    ];
    const blocks = [
      stored(parts[0]),
      deflated(parts[1]),
      stored(parts[2]),
      deflated(parts[3], { packed: rawDeflate(parts[3], { level: 9 }) }),
      stored(parts[4]),
      stored(parts[5]),
    ];
    const body = concat(...parts);
    const b = await craftBackup(rnd, { flags: BOTH, plaintext: frame({ blocks, pad: true }) });
    tests.push(
      containerCase({
        comment: 'blocks: stored 1, deflate 5000, stored 16385, deflate 1048576, stored 7, stored 3',
        flags: ['BlockMix'],
        cred: { key: b.key },
        ct: b.ct,
        body,
        metadata: META,
      }),
    );
  });
  await seeded('block mix: stored only in a compressed backup', async (rnd) => {
    const parts = [text(rnd, 100), text(rnd, 200), text(rnd, 300)];
    const b = await craftBackup(rnd, {
      flags: FLAG_COMPRESSED,
      plaintext: frame({ blocks: parts.map(stored) }),
    });
    tests.push(
      containerCase({
        comment: 'COMPRESSED flag set, three stored blocks of 100, 200, 300 bytes',
        flags: ['BlockMix'],
        cred: { key: b.key },
        ct: b.ct,
        body: concat(...parts),
        metadata: META,
      }),
    );
  });
  await seeded('block mix: deflate blocks of every encoder level', async (rnd) => {
    const parts = [utf8('a'.repeat(775)), ...[1, 4, 9].map(() => text(rnd, 3000))];
    const blocks = [
      // Hand-made: one fixed-Huffman block, a literal and three <258, 1> matches.
      deflated(parts[0], { packed: fixedHuffmanRun(0x61, 3) }),
      ...[1, 4, 9].map((level, i) => deflated(parts[i + 1], { packed: rawDeflate(parts[i + 1], { level }) })),
    ];
    const body = concat(...parts);
    const b = await craftBackup(rnd, { flags: FLAG_COMPRESSED, plaintext: frame({ blocks }) });
    tests.push(
      containerCase({
        comment: 'a hand-made fixed-Huffman deflate block, then deflate blocks of levels 1, 4 and 9',
        flags: ['BlockMix', 'DeflateLevels'],
        cred: { key: b.key },
        ct: b.ct,
        body,
        metadata: META,
      }),
    );
  });
  return group('Blocks of any size and kind.', tests);
}

async function paddingEdges() {
  const tests = [];
  await seeded('padding: zero bytes', async (rnd) => {
    // U = 4 + metadata + 5 + body + 1 = 1024, a Padmé length: PADDED with no padding at all.
    const metaLength = JSON.stringify(META).length;
    const body = text(rnd, 1024 - (4 + metaLength + 5 + 1));
    const plaintext = frame({ blocks: [stored(body)] });
    if (plaintext.length !== 1024 || padme(1024) !== 1024) throw new Error('padding edge');
    const b = await craftBackup(rnd, { flags: FLAG_PADDED, plaintext });
    tests.push(
      containerCase({
        comment: 'PADDED, framed length 1024 is a Padmé length: no padding bytes',
        flags: ['PaddingEdge'],
        cred: { key: b.key },
        ct: b.ct,
        body,
        metadata: META,
      }),
    );
  });
  await seeded('padding: thousands of bytes', async (rnd) => {
    const metaLength = JSON.stringify(META).length;
    const body = noise(rnd, 65537 - (4 + metaLength + 5 + 1));
    const plaintext = frame({ blocks: [stored(body)], pad: true });
    if (plaintext.length !== padme(65537) || padme(65537) - 65537 !== 2047) throw new Error('padding edge');
    const b = await craftBackup(rnd, { flags: FLAG_PADDED, plaintext });
    tests.push(
      containerCase({
        comment: 'PADDED, framed length 65537: 2047 bytes of padding',
        flags: ['PaddingEdge'],
        cred: { key: b.key },
        ct: b.ct,
        body,
        metadata: META,
      }),
    );
  });
  return group('Padding edges.', tests);
}

async function slotOrder() {
  const tests = [];
  await seeded('slot order', async (rnd) => {
    const body = text(rnd, 300);
    const b = await craftBackup(rnd, {
      slots: ['password', 'key'],
      plaintext: frame({ blocks: [stored(body)] }),
    });
    for (const cred of [{ key: b.key }, { password: PASSWORD }])
      tests.push(
        containerCase({
          comment: `password slot first, backup-key slot second; opened with the ${cred.key ? 'backup key' : 'password'}`,
          flags: ['SlotOrder'],
          cred,
          ct: b.ct,
          body,
          metadata: META,
        }),
      );
  });
  return group('Slot order.', tests);
}

async function kdfEdges() {
  const tests = [];
  const cases = [
    ['t = 16, the default maximum', { m: 8, t: 16, p: 1 }, undefined],
    ['p = 16, the default maximum', { m: 128, t: 1, p: 16 }, undefined],
    ['m = 8 · p, the smallest memory Argon2 allows', { m: 16, t: 1, p: 2 }, undefined],
    ['m = 128 at a caller maximum of exactly 128', { m: 128, t: 1, p: 1 }, { m: 128 }],
    ['t = 17 with the caller maximum raised to 17', { m: 8, t: 17, p: 1 }, { t: 17 }],
    ['p = 17 with the caller maximum raised to 17', { m: 136, t: 1, p: 17 }, { p: 17 }],
  ];
  for (const [comment, kdf, kdfMaxima] of cases) {
    await seeded(`kdf edge: ${comment}`, async (rnd) => {
      const body = text(rnd, 100);
      const b = await craftBackup(rnd, {
        slots: ['password'],
        kdf,
        plaintext: frame({ blocks: [stored(body)] }),
      });
      tests.push(
        containerCase({
          comment,
          flags: ['KdfParamsValid'],
          cred: { password: PASSWORD },
          kdfMaxima,
          ct: b.ct,
          body,
          metadata: META,
        }),
      );
    });
  }
  await seeded('kdf edge: unused slot', async (rnd) => {
    const body = text(rnd, 100);
    const b = await craftBackup(rnd, { plaintext: frame({ blocks: [stored(body)] }) });
    for (const [what, kdf] of [
      ['m = 2^32 − 1 KiB', { m: 0xffffffff, t: 1, p: 1 }],
      ['t = 0 and p = 0', { m: 64, t: 0, p: 0 }],
    ]) {
      const pw = await passwordSlot({ kdf, salt: rnd(32), wrapped: rnd(48) });
      const ct = b.rebound(header({ flags: 0, slots: [b.slots[0], pw] }));
      tests.push(
        containerCase({
          comment: `password slot with ${what}, opened with the backup key`,
          flags: ['UnusedSlotParams'],
          cred: { key: b.key },
          ct,
          body,
          metadata: META,
        }),
      );
    }
  });
  return group('Argon2id parameters that must be accepted.', tests);
}

// ---------------------------------------------------------------------------------------------
// invalid: the header

/**
 * The base for header edits: a backup-key slot (offset 13, salt 16, wrapped key 48) and a
 * password slot (offset 96; m 99, t 103, p 107, salt 111, wrapped key 143), checksum at 191,
 * H = 207; compressed and padded.
 */
async function headerBase(rnd) {
  const body = text(rnd, 2000);
  return {
    body,
    ...(await craftBackup(rnd, {
      slots: ['key', 'password'],
      flags: BOTH,
      plaintext: frame({ blocks: [deflated(body)], pad: true }),
    })),
  };
}

async function fixedFields() {
  const tests = [];
  await seeded('fixed fields', async (rnd) => {
    const b = await headerBase(rnd);
    const h = b.header;
    const key = { key: b.key };
    const add = (comment, flags, ct, error, cred = key) =>
      tests.push(containerCase({ comment, flags, cred, ct, error }));
    const at = (i, v) => edit(h, (x) => (x[i] = v));
    add('magic byte 0 is 0x00', ['BadMagic'], b.withHeader(at(0, 0)), 'MALFORMED_HEADER');
    add(
      'magic "E2EEBK" in lower case',
      ['BadMagic'],
      b.withHeader(edit(h, (x) => x.set(utf8('e2eebk'), 1))),
      'MALFORMED_HEADER',
    );
    add(
      'magic ends CR instead of LF (text-mode transfer)',
      ['BadMagic'],
      b.withHeader(at(7, 0x0d)),
      'MALFORMED_HEADER',
    );
    add(
      'a gzip file',
      ['BadMagic'],
      concat(Uint8Array.of(0x1f, 0x8b, 8, 0), b.ct.subarray(4, 400)),
      'MALFORMED_HEADER',
    );
    for (const v of [0, 2, 0xff])
      add(`version ${v}`, ['UnknownVersion'], b.withHeader(reseal(at(8, v))), 'UNSUPPORTED_VERSION');
    add(
      'version 2, checksum not recomputed',
      ['UnknownVersion', 'CheckOrder'],
      b.withHeader(at(8, 2)),
      'UNSUPPORTED_VERSION',
    );
    for (const v of [0x04, 0x08, 0x80, 0xff])
      add(
        `flags 0x${v.toString(16).padStart(2, '0')}`,
        ['UnknownFlag'],
        b.withHeader(reseal(at(9, v))),
        'UNKNOWN_FLAG',
      );
    for (const [what, v] of [
      ['0', 0],
      ['111 (below the smallest header)', 111],
      ['4097 (above the largest header)', 4097],
      ['65535', 65535],
    ])
      add(
        `header length ${what}`,
        ['HeaderLength'],
        b.withHeader(edit(h, (x) => x.set(u16(v), 10))),
        'MALFORMED_HEADER',
      );
    for (const d of [-1, 1, 16])
      add(
        `header length H ${d > 0 ? '+' : '−'} ${Math.abs(d)}: the checksum is read from the wrong place`,
        ['HeaderLength'],
        b.withHeader(edit(h, (x) => x.set(u16(207 + d), 10))),
        'MALFORMED_HEADER',
      );
    add(
      'header length 112, the smallest, on a two-slot header',
      ['HeaderLength'],
      b.withHeader(edit(h, (x) => x.set(u16(112), 10))),
      'MALFORMED_HEADER',
    );
    for (const [what, v] of [
      ['0', 0],
      ['9', 9],
      ['255', 255],
      ['3, with two slots present', 3],
      ['1, with two slots present', 1],
    ])
      add(`slot count ${what}`, ['SlotCount'], b.withHeader(reseal(at(12, v))), 'MALFORMED_HEADER');
    add(
      'checksum byte 0 flipped',
      ['BadChecksum'],
      b.withHeader(edit(h, (x) => (x[191] ^= 1))),
      'MALFORMED_HEADER',
    );
    add(
      'checksum byte 15 flipped',
      ['BadChecksum'],
      b.withHeader(edit(h, (x) => (x[206] ^= 0x80))),
      'MALFORMED_HEADER',
    );
    add(
      'backup-key slot salt flipped, checksum not recomputed',
      ['BadChecksum'],
      b.withHeader(edit(h, (x) => (x[20] ^= 1))),
      'MALFORMED_HEADER',
    );
    add(
      'password slot m changed, checksum not recomputed; opened with the password',
      ['BadChecksum'],
      b.withHeader(edit(h, (x) => (x[102] ^= 1))),
      'MALFORMED_HEADER',
      { password: PASSWORD },
    );
    add(
      'checksum flipped, opened with a wrong key: corruption is reported, not the key',
      ['BadChecksum', 'CheckOrder'],
      b.withHeader(edit(h, (x) => (x[200] ^= 1))),
      'MALFORMED_HEADER',
      { key: new Uint8Array(32) },
    );
    // Check order (SPEC.md §3.3).
    add(
      'bad magic and version 2',
      ['CheckOrder', 'BadMagic'],
      b.withHeader(edit(at(0, 0), (x) => (x[8] = 2))),
      'MALFORMED_HEADER',
    );
    add(
      'version 2 and header length 0',
      ['CheckOrder', 'UnknownVersion'],
      b.withHeader(edit(at(8, 2), (x) => x.set(u16(0), 10))),
      'UNSUPPORTED_VERSION',
    );
    add(
      'unknown flag 0x04, checksum not recomputed',
      ['CheckOrder', 'BadChecksum'],
      b.withHeader(at(9, 0x07)),
      'MALFORMED_HEADER',
    );
    add(
      'unknown flag 0x04 and slot count 0',
      ['CheckOrder', 'UnknownFlag'],
      b.withHeader(reseal(edit(at(9, 0x07), (x) => (x[12] = 0)))),
      'UNKNOWN_FLAG',
    );
    add(
      'unknown flag 0x10 and an unknown slot type',
      ['CheckOrder', 'UnknownFlag'],
      b.withHeader(reseal(edit(at(9, 0x13), (x) => (x[96] = 0x07)))),
      'UNKNOWN_FLAG',
    );
    add(
      'slot count 0 and an unknown slot type',
      ['CheckOrder', 'SlotCount'],
      b.withHeader(reseal(edit(at(12, 0), (x) => (x[13] = 0x07)))),
      'MALFORMED_HEADER',
    );
  });
  await seeded('fixed fields: short files', async (rnd) => {
    const body = text(rnd, 20);
    const b = await craftBackup(rnd, { plaintext: frame({ blocks: [stored(body)] }) });
    const key = { key: b.key };
    tests.push(
      containerCase({
        comment: `header length 4096 (the largest) in a ${b.ct.length}-byte file: the file ends inside the header`,
        flags: ['HeaderLength', 'Truncation'],
        cred: key,
        ct: edit(b.ct, (x) => x.set(u16(4096), 10)),
        error: 'TRUNCATED',
      }),
      containerCase({
        comment: `header length 4097 in a ${b.ct.length}-byte file: the length is checked before the file is read`,
        flags: ['HeaderLength', 'CheckOrder'],
        cred: key,
        ct: edit(b.ct, (x) => x.set(u16(4097), 10)),
        error: 'MALFORMED_HEADER',
      }),
      containerCase({
        comment: 'version 2 in a 13-byte file (the fixed part alone)',
        flags: ['UnknownVersion', 'CheckOrder'],
        cred: key,
        ct: edit(b.ct.subarray(0, 13), (x) => (x[8] = 2)),
        error: 'UNSUPPORTED_VERSION',
      }),
    );
  });
  return group('The fixed part of the header, the checksum, and the order of the checks.', tests);
}

async function slotLayout() {
  const tests = [];
  await seeded('slot layout', async (rnd) => {
    const body = text(rnd, 100);
    const plaintext = frame({ blocks: [stored(body)] });
    const b = await craftBackup(rnd, { plaintext });
    const key = { key: b.key };
    const ks = b.slots[0];
    const other = keySlot({ backupKey: b.key, salt: rnd(32), fileKey: b.fileKey });
    const pw = await passwordSlot({ password: PASSWORD, kdf: KDF, salt: rnd(32), fileKey: b.fileKey });
    const pw2 = await passwordSlot({ password: PASSWORD, kdf: KDF, salt: rnd(32), fileKey: b.fileKey });
    const add = (comment, flags, ct, error, cred = key) =>
      tests.push(containerCase({ comment, flags, cred, ct, error }));
    // Every header below is bound to its payload: a decoder that skipped the rule would open it.
    const bound = (opts) => b.rebound(header({ flags: 0, ...opts }));
    const unknown = (type, n = 80) => concat(u8(type), u16(n), rnd(n));
    for (const type of [0x00, 0x03, 0x80, 0xff])
      add(
        `unknown slot type 0x${type.toString(16).padStart(2, '0')} after the backup-key slot`,
        ['UnknownSlotType'],
        bound({ slots: [ks, unknown(type)] }),
        'UNKNOWN_SLOT_TYPE',
      );
    add(
      'unknown slot type 0x03 before the backup-key slot',
      ['UnknownSlotType'],
      bound({ slots: [unknown(3, 12), ks] }),
      'UNKNOWN_SLOT_TYPE',
    );
    add(
      'unknown slot type 0x03 of length 0 after the password slot, opened with the password',
      ['UnknownSlotType'],
      bound({ slots: [pw, unknown(3, 0)] }),
      'UNKNOWN_SLOT_TYPE',
      { password: PASSWORD },
    );
    add(
      'two backup-key slots, both wrapping the file key',
      ['DuplicateSlotType'],
      bound({ slots: [ks, other] }),
      'MALFORMED_HEADER',
    );
    add(
      'two password slots, both wrapping the file key; opened with the password',
      ['DuplicateSlotType'],
      bound({ slots: [pw, pw2] }),
      'MALFORMED_HEADER',
      { password: PASSWORD },
    );
    add(
      'backup-key, password, backup-key slots',
      ['DuplicateSlotType'],
      bound({ slots: [ks, pw, other] }),
      'MALFORMED_HEADER',
    );
    add(
      'a backup-key slot of length 81 (one extra byte)',
      ['SlotLength'],
      bound({ slots: [concat(u8(1), u16(81), ks.subarray(3), u8(0))] }),
      'MALFORMED_HEADER',
    );
    add(
      'a password slot, then a backup-key slot of length 79 (wrapped key one byte short)',
      ['SlotLength'],
      bound({ slots: [pw, concat(u8(1), u16(79), ks.subarray(3, 82))] }),
      'MALFORMED_HEADER',
    );
    add(
      'a password slot of length 80',
      ['SlotLength'],
      bound({ slots: [ks, concat(u8(2), u16(80), pw.subarray(3, 83))] }),
      'MALFORMED_HEADER',
    );
    add(
      'the password slot labelled as a backup-key slot (type 1, length 92)',
      ['SlotLength'],
      bound({ slots: [concat(u8(1), pw.subarray(1))] }),
      'MALFORMED_HEADER',
    );
    add(
      'slot length 0xffff runs past the header',
      ['SlotLength'],
      bound({ slots: [concat(u8(1), u16(0xffff), ks.subarray(3))] }),
      'MALFORMED_HEADER',
    );
    add(
      'one byte between the last slot and the checksum',
      ['HeaderLength'],
      bound({ slots: [ks], extra: u8(0) }),
      'MALFORMED_HEADER',
    );
    add(
      '3 bytes after the last slot: a cut-off slot header',
      ['HeaderLength'],
      bound({ slots: [ks], extra: concat(u8(2), u16(92)) }),
      'MALFORMED_HEADER',
    );
    add('slot count 2 with one slot', ['SlotCount'], bound({ slots: [ks], count: 2 }), 'MALFORMED_HEADER');
    // Check order within the slots: the first bad slot decides.
    add(
      'an unknown slot type, then a backup-key slot of length 81',
      ['CheckOrder', 'UnknownSlotType'],
      bound({ slots: [unknown(3, 4), concat(u8(1), u16(81), ks.subarray(3), u8(0))] }),
      'UNKNOWN_SLOT_TYPE',
    );
    add(
      'a backup-key slot of length 81, then an unknown slot type',
      ['CheckOrder', 'SlotLength'],
      bound({ slots: [concat(u8(1), u16(81), ks.subarray(3), u8(0)), unknown(3, 4)] }),
      'MALFORMED_HEADER',
    );
    add(
      'two backup-key slots, then an unknown slot type',
      ['CheckOrder', 'UnknownSlotType'],
      bound({ slots: [ks, other, unknown(3, 4)] }),
      'UNKNOWN_SLOT_TYPE',
    );
  });
  return group('Key slot layout: types, lengths, duplicates.', tests);
}

async function kdfBounds() {
  const tests = [];
  await seeded('kdf bounds', async (rnd) => {
    const body = text(rnd, 100);
    const plaintext = frame({ blocks: [stored(body)] });
    const b = await craftBackup(rnd, { slots: ['password'], plaintext });
    const add = async (comment, flags, kdf, kdfMaxima, computable = false) => {
      // The wrap is real where Argon2id is cheap, so that only the bound can fail the vector.
      const pw = await passwordSlot({
        password: PASSWORD,
        kdf,
        salt: rnd(32),
        fileKey: b.fileKey,
        wrapped: computable ? undefined : rnd(48),
      });
      tests.push(
        containerCase({
          comment,
          flags,
          cred: { password: PASSWORD },
          kdfMaxima,
          ct: b.rebound(header({ flags: 0, slots: [pw] })),
          error: 'KDF_PARAMS',
        }),
      );
    };
    const out = ['KdfParamsOutOfBounds'];
    await add('m = 1048577 KiB, one above the default maximum', out, { m: 1048577, t: 1, p: 1 });
    await add('m = 2^32 − 1 KiB (4 TiB)', out, { m: 0xffffffff, t: 1, p: 1 });
    await add('t = 17, one above the default maximum', out, { m: 8, t: 17, p: 1 }, undefined, true);
    await add('t = 2^32 − 1', out, { m: 8, t: 0xffffffff, p: 1 });
    await add('p = 17, one above the default maximum', out, { m: 136, t: 1, p: 17 }, undefined, true);
    await add('m = 0', out, { m: 0, t: 1, p: 1 });
    await add('t = 0', out, { m: 64, t: 0, p: 1 });
    await add('p = 0', out, { m: 64, t: 1, p: 0 });
    await add('m = 15 < 8 · p with p = 2', out, { m: 15, t: 1, p: 2 });
    await add('m = 7 < 8 with p = 1', out, { m: 7, t: 1, p: 1 });
    await add(
      "p = 2^24, above Argon2's limit, with every caller maximum raised to 2^32 − 1",
      out,
      { m: 2 ** 27, t: 1, p: 2 ** 24 },
      { m: 0xffffffff, t: 0xffffffff, p: 0xffffffff },
    );
    await add(
      'm = 15 < 8 · p with every caller maximum raised to 2^32 − 1',
      out,
      { m: 15, t: 1, p: 2 },
      { m: 0xffffffff, t: 0xffffffff, p: 0xffffffff },
    );
    await add(
      'm = 128 above a caller maximum of 127',
      ['KdfMaxima'],
      { m: 128, t: 1, p: 1 },
      { m: 127 },
      true,
    );
    await add('t = 2 above a caller maximum of 1', ['KdfMaxima'], { m: 8, t: 2, p: 1 }, { t: 1 }, true);
    await add('p = 2 above a caller maximum of 1', ['KdfMaxima'], { m: 16, t: 1, p: 2 }, { p: 1 }, true);
    await add(
      't = 17 with only the caller maximum of m raised: t keeps its default bound',
      ['KdfMaxima'],
      { m: 8, t: 17, p: 1 },
      { m: 2097152 },
      true,
    );
  });
  return group('Argon2id parameters a decoder must refuse before running Argon2id.', tests);
}

// ---------------------------------------------------------------------------------------------
// invalid: credentials and authentication

async function credentials() {
  const tests = [];
  await seeded('credentials', async (rnd) => {
    const body = text(rnd, 1000);
    const plaintext = frame({ blocks: [stored(body)] });
    const both = await craftBackup(rnd, { slots: ['key', 'password'], plaintext });
    const keyOnly = await craftBackup(rnd, { slots: ['key'], plaintext });
    const pwOnly = await craftBackup(rnd, { slots: ['password'], plaintext });
    const wrongKey = edit(both.key, (x) => (x[31] ^= 1));
    const add = (comment, flags, b, cred, error) =>
      tests.push(
        containerCase({ comment, flags, cred, ct: b.ct, error, ...(error ? {} : { body, metadata: META }) }),
      );
    add('backup key with its last bit flipped', ['WrongKey'], both, { key: wrongKey }, 'WRONG_KEY');
    add('all-zero backup key', ['WrongKey'], both, { key: new Uint8Array(32) }, 'WRONG_KEY');
    add(
      'password in upper case',
      ['WrongPassword'],
      both,
      { password: PASSWORD.toUpperCase() },
      'WRONG_PASSWORD',
    );
    add(
      'password with a trailing space',
      ['WrongPassword'],
      both,
      { password: `${PASSWORD} ` },
      'WRONG_PASSWORD',
    );
    add(
      'backup key given, backup has only a password slot',
      ['NoMatchingSlot'],
      pwOnly,
      { key: both.key },
      'NO_MATCHING_SLOT',
    );
    add(
      'password given, backup has only a backup-key slot',
      ['NoMatchingSlot'],
      keyOnly,
      { password: PASSWORD },
      'NO_MATCHING_SLOT',
    );
    add('wrong backup key and right password', ['BothCredentials'], both, {
      key: wrongKey,
      password: PASSWORD,
    });
    add('right backup key and wrong password', ['BothCredentials'], both, {
      key: both.key,
      password: 'wrong',
    });
    add(
      'wrong backup key and wrong password: the backup-key failure is reported',
      ['BothCredentials', 'WrongKey'],
      both,
      { key: wrongKey, password: 'wrong' },
      'WRONG_KEY',
    );
    add(
      'wrong backup key and a password, backup has only a backup-key slot',
      ['BothCredentials', 'WrongKey'],
      keyOnly,
      { key: wrongKey, password: PASSWORD },
      'WRONG_KEY',
    );
    add(
      'a backup key and a wrong password, backup has only a password slot: the slot that was tried is reported',
      ['BothCredentials', 'WrongPassword'],
      pwOnly,
      { key: both.key, password: 'wrong' },
      'WRONG_PASSWORD',
    );
    add('right backup key and a password, backup has only a backup-key slot', ['BothCredentials'], keyOnly, {
      key: keyOnly.key,
      password: PASSWORD,
    });
    // NFC, not NFKC: the ligature "ﬁ" and the full-width "Ａ" are other passwords.
    const pwLigature = await craftBackup(rnd, { slots: ['password'], plaintext, password: 'ﬁle Ａ' });
    add(
      'password made with "ﬁ" (U+FB01) and "Ａ" (U+FF21), given as "fi" and "A"',
      ['WrongPassword', 'PasswordNormalization'],
      pwLigature,
      { password: 'file A' },
      'WRONG_PASSWORD',
    );
    add('the same password given as made', ['PasswordNormalization'], pwLigature, { password: 'ﬁle Ａ' });
    const pwAngstrom = await craftBackup(rnd, { slots: ['password'], plaintext, password: '\u212b' });
    add(
      'password made as U+212B ANGSTROM SIGN, given as U+00C5 (its NFC form)',
      ['PasswordNormalization'],
      pwAngstrom,
      { password: '\u00c5' },
    );
    add('password made as U+212B ANGSTROM SIGN, given as A + U+030A', ['PasswordNormalization'], pwAngstrom, {
      password: 'A\u030a',
    });
  });
  return group('Credentials: wrong, missing, or both at once.', tests);
}

async function slotAuthentication() {
  const tests = [];
  await seeded('slot authentication', async (rnd) => {
    const b = await headerBase(rnd);
    const h = b.header;
    const key = { key: b.key };
    const password = { password: PASSWORD };
    const add = (comment, flags, ct, error, cred = key) =>
      tests.push(containerCase({ comment, flags, cred, ct, error }));
    const flip = (i, bit = 1) => b.withHeader(reseal(edit(h, (x) => (x[i] ^= bit))));
    // The slot being opened: its own tag fails.
    add('backup-key slot salt flipped', ['ModifiedSlot'], flip(16), 'WRONG_KEY');
    add('backup-key slot wrapped key flipped', ['ModifiedSlot'], flip(50), 'WRONG_KEY');
    add('backup-key slot tag flipped', ['ModifiedSlot'], flip(95, 0x80), 'WRONG_KEY');
    add('password slot salt flipped', ['ModifiedSlot'], flip(111), 'WRONG_PASSWORD', password);
    add('password slot m = 64 → 72', ['ModifiedSlot'], flip(102, 8), 'WRONG_PASSWORD', password);
    add('password slot t = 1 → 2', ['ModifiedSlot'], flip(106, 3), 'WRONG_PASSWORD', password);
    add('password slot p = 1 → 2', ['ModifiedSlot'], flip(110, 3), 'WRONG_PASSWORD', password);
    add('password slot wrapped key flipped', ['ModifiedSlot'], flip(160), 'WRONG_PASSWORD', password);
    add(
      'the two slots swap wrapped keys',
      ['ModifiedSlot'],
      b.withHeader(
        reseal(
          edit(h, (x) => {
            x.set(h.subarray(143, 191), 48);
            x.set(h.subarray(48, 96), 143);
          }),
        ),
      ),
      'WRONG_KEY',
    );
    // The slot being opened is intact: the commitment catches the rest of the header.
    add('COMPRESSED flag cleared', ['ModifiedHeader'], flip(9, FLAG_COMPRESSED), 'HEADER_AUTH');
    add(
      'PADDED flag cleared, opened with the password',
      ['ModifiedHeader'],
      flip(9, FLAG_PADDED),
      'HEADER_AUTH',
      password,
    );
    add('both flags cleared', ['ModifiedHeader'], flip(9, BOTH), 'HEADER_AUTH');
    add(
      'password slot salt flipped, opened with the backup key',
      ['ModifiedHeader'],
      flip(111),
      'HEADER_AUTH',
    );
    add(
      'password slot m = 64 → 72, opened with the backup key',
      ['ModifiedHeader'],
      flip(102, 8),
      'HEADER_AUTH',
    );
    add(
      'password slot wrapped key flipped, opened with the backup key',
      ['ModifiedHeader'],
      flip(150),
      'HEADER_AUTH',
    );
    add(
      'backup-key slot salt flipped, opened with the password',
      ['ModifiedHeader'],
      flip(20),
      'HEADER_AUTH',
      password,
    );
    add(
      'password slot removed, opened with the backup key',
      ['ModifiedHeader'],
      b.withHeader(header({ flags: BOTH, slots: [b.slots[0]] })),
      'HEADER_AUTH',
    );
    add(
      'slots in the other order, opened with the backup key',
      ['ModifiedHeader'],
      b.withHeader(header({ flags: BOTH, slots: [b.slots[1], b.slots[0]] })),
      'HEADER_AUTH',
    );
    // From other backups made with the same credentials.
    const other = await craftBackup(rnd, {
      slots: ['key', 'password'],
      key: b.key,
      flags: BOTH,
      plaintext: frame({ blocks: [stored(text(rnd, 50))], pad: true }),
    });
    const stranger = await craftBackup(rnd, {
      slots: ['key'],
      flags: BOTH,
      plaintext: frame({ blocks: [stored(text(rnd, 50))], pad: true }),
    });
    add(
      'backup-key slot from another backup made with the same key',
      ['SlotFromAnotherBackup'],
      b.withHeader(header({ flags: BOTH, slots: [other.slots[0], b.slots[1]] })),
      'HEADER_AUTH',
    );
    add(
      'password slot from another backup made with the same password',
      ['SlotFromAnotherBackup'],
      b.withHeader(header({ flags: BOTH, slots: [b.slots[0], other.slots[1]] })),
      'HEADER_AUTH',
      password,
    );
    add(
      'backup-key slot from a backup made with another key, opened with this key',
      ['SlotFromAnotherBackup', 'WrongKey'],
      b.withHeader(header({ flags: BOTH, slots: [stranger.slots[0], b.slots[1]] })),
      'WRONG_KEY',
    );
    add(
      'backup-key slot from a backup made with another key, opened with that key',
      ['SlotFromAnotherBackup'],
      b.withHeader(header({ flags: BOTH, slots: [stranger.slots[0], b.slots[1]] })),
      'HEADER_AUTH',
      { key: stranger.key },
    );
    add(
      "a key-only backup given another backup's password slot, opened with the backup key",
      ['SlotFromAnotherBackup', 'ModifiedHeader'],
      stranger.withHeader(header({ flags: BOTH, slots: [stranger.slots[0], other.slots[1]] })),
      'HEADER_AUTH',
      { key: stranger.key },
    );
    add(
      'the whole header of another backup made with the same key',
      ['HeaderFromAnotherBackup'],
      b.withHeader(other.header),
      'HEADER_AUTH',
    );
    add(
      'the whole header of another backup, opened with the password',
      ['HeaderFromAnotherBackup'],
      b.withHeader(other.header),
      'HEADER_AUTH',
      password,
    );
    // The payload's salt and commitment.
    const payloadAt = (i) => edit(b.ct, (x) => (x[207 + i] ^= 1));
    add('payload salt byte 0 flipped', ['ModifiedCommitment'], payloadAt(0), 'HEADER_AUTH');
    add('payload salt byte 23 flipped', ['ModifiedCommitment'], payloadAt(23), 'HEADER_AUTH');
    add('commitment byte 0 flipped', ['ModifiedCommitment'], payloadAt(24), 'HEADER_AUTH');
    add(
      'commitment byte 31 flipped, opened with the password',
      ['ModifiedCommitment'],
      payloadAt(55),
      'HEADER_AUTH',
      password,
    );
  });
  return group('Slot and header authentication.', tests);
}

// ---------------------------------------------------------------------------------------------
// invalid: the payload

/** A three-chunk base: framed plaintext of 2 · 16384 + 1000 bytes, one stored block. */
async function payloadBase(rnd, target = 2 * CHUNK + 1000) {
  const metaLength = JSON.stringify(META).length;
  const body = noise(rnd, target - (4 + metaLength + 5 + 1));
  const b = await craftBackup(rnd, {
    slots: ['key', 'password'],
    plaintext: frame({ blocks: [stored(body)] }),
  });
  if (b.header.length !== 207 || b.payload.records.length !== Math.floor(target / CHUNK) + 1)
    throw new Error('base');
  return b;
}

async function truncation() {
  const tests = [];
  await seeded('truncation', async (rnd) => {
    const b = await payloadBase(rnd);
    const P = 207; // the payload starts here
    const F = P + 56 + 2 * (CHUNK + 16); // the final chunk (1000 + 16 bytes) starts here
    const cuts = [
      [0, 'an empty file', 'TRUNCATED'],
      [4, 'inside the magic', 'TRUNCATED'],
      [8, 'after the magic', 'TRUNCATED'],
      [9, 'after the version', 'TRUNCATED'],
      [11, 'inside the header length', 'TRUNCATED'],
      [13, 'after the fixed part', 'TRUNCATED'],
      [50, 'inside the backup-key slot', 'TRUNCATED'],
      [96, 'after the backup-key slot', 'TRUNCATED'],
      [150, 'inside the password slot', 'TRUNCATED'],
      [191, 'before the checksum', 'TRUNCATED'],
      [199, 'inside the checksum', 'TRUNCATED'],
      [P, 'after the header: no payload', 'TRUNCATED'],
      [P + 10, 'inside the payload salt', 'TRUNCATED'],
      [P + 24, 'after the payload salt', 'TRUNCATED'],
      [P + 40, 'inside the commitment', 'TRUNCATED'],
      [P + 56, 'after the commitment: no chunk', 'TRUNCATED'],
      [P + 56 + 15, '15 bytes into chunk 0', 'TRUNCATED'],
      [P + 56 + 16, '16 bytes into chunk 0', 'CHUNK_AUTH'],
      [P + 56 + 5000, 'inside chunk 0', 'CHUNK_AUTH'],
      [P + 56 + CHUNK, 'chunk 0 without its tag', 'CHUNK_AUTH'],
      [P + 56 + CHUNK + 8, 'inside the tag of chunk 0', 'CHUNK_AUTH'],
      [P + 56 + CHUNK + 15, 'chunk 0 missing the last byte of its tag', 'CHUNK_AUTH'],
      [P + 56 + CHUNK + 16, 'after chunk 0', 'TRUNCATED'],
      [P + 56 + CHUNK + 16 + 5, '5 bytes into chunk 1', 'TRUNCATED'],
      [P + 56 + CHUNK + 16 + 9000, 'inside chunk 1', 'CHUNK_AUTH'],
      [F, 'after chunk 1: the short final chunk is missing', 'TRUNCATED'],
      [F + 15, '15 bytes of the final chunk', 'TRUNCATED'],
      [F + 16, '16 bytes of the final chunk', 'CHUNK_AUTH'],
      [F + 500, 'inside the final chunk', 'CHUNK_AUTH'],
      [F + 1000, 'the final chunk without its tag', 'CHUNK_AUTH'],
      [F + 1015, 'the last byte of the final tag', 'CHUNK_AUTH'],
    ];
    if (b.ct.length !== F + 1016) throw new Error('truncation base');
    for (const [at, where, error] of cuts)
      tests.push(
        containerCase({
          comment: `cut at byte ${at}, ${where}`,
          flags: ['Truncation'],
          cred: at < 191 ? { key: b.key } : { password: PASSWORD },
          ct: b.ct.subarray(0, at),
          error,
        }),
      );
  });
  await seeded('truncation: empty final chunk', async (rnd) => {
    const b = await payloadBase(rnd, 2 * CHUNK);
    tests.push(
      containerCase({
        comment: 'framed plaintext of 2 · 16384 bytes with its empty final chunk (16-byte tag) cut off',
        flags: ['Truncation', 'ChunkBoundary'],
        cred: { key: b.key },
        ct: b.ct.subarray(0, b.ct.length - 16),
        error: 'TRUNCATED',
      }),
      containerCase({
        comment: 'framed plaintext of 2 · 16384 bytes with the last byte of its empty final chunk cut off',
        flags: ['Truncation', 'ChunkBoundary'],
        cred: { key: b.key },
        ct: b.ct.subarray(0, b.ct.length - 1),
        error: 'TRUNCATED',
      }),
    );
  });
  return group('Files cut at and inside every structure.', tests);
}

async function chunkIntegrity() {
  const tests = [];
  await seeded('chunk integrity', async (rnd) => {
    const b = await payloadBase(rnd);
    const { salt, commitment, records } = b.payload;
    const [c0, c1, last] = records;
    const key = { key: b.key };
    const add = (comment, flags, ct, error, cred = key) =>
      tests.push(containerCase({ comment, flags, cred, ct, error }));
    const payload = (...chunks) => concat(b.header, salt, commitment, ...chunks);
    const at = (i, bit = 1) => edit(b.ct, (x) => (x[207 + 56 + i] ^= bit));
    add('chunk 0, first byte flipped', ['ModifiedChunk'], at(0), 'CHUNK_AUTH');
    add('chunk 0, tag flipped', ['ModifiedChunk'], at(CHUNK + 3), 'CHUNK_AUTH');
    add('chunk 1, body flipped', ['ModifiedChunk'], at(CHUNK + 16 + 100, 0x40), 'CHUNK_AUTH', {
      password: PASSWORD,
    });
    add('final chunk, body flipped', ['ModifiedChunk'], at(2 * (CHUNK + 16) + 999), 'CHUNK_AUTH');
    add(
      'final chunk, last tag byte flipped',
      ['ModifiedChunk'],
      at(2 * (CHUNK + 16) + 1015, 0x80),
      'CHUNK_AUTH',
    );
    add('chunks 0 and 1 swapped', ['ChunkReordering'], payload(c1, c0, last), 'CHUNK_AUTH');
    add('chunk 0 in place of chunk 1', ['ChunkReordering'], payload(c0, c0, last), 'CHUNK_AUTH');
    add('chunk 0 repeated: 0, 0, 1, final', ['ChunkReordering'], payload(c0, c0, c1, last), 'CHUNK_AUTH');
    add('chunk 1 dropped', ['ChunkReordering'], payload(c0, last), 'CHUNK_AUTH');
    add('chunk 0 dropped', ['ChunkReordering'], payload(c1, last), 'CHUNK_AUTH');
  });
  return group('Modified and reordered chunks.', tests);
}

async function trailingData() {
  const tests = [];
  await seeded('trailing data', async (rnd) => {
    const b = await payloadBase(rnd, 1000); // one chunk: the final one, 1000 + 16 bytes
    for (const n of [1, 16, 255, 256])
      tests.push(
        containerCase({
          comment: `${n} byte${n > 1 ? 's' : ''} after a 1016-byte final chunk`,
          flags: ['TrailingData'],
          cred: { key: b.key },
          ct: concat(b.ct, rnd(n)),
          error: 'TRAILING_DATA',
        }),
      );
    tests.push(
      containerCase({
        comment: 'a zero byte after the final chunk',
        flags: ['TrailingData'],
        cred: { password: PASSWORD },
        ct: concat(b.ct, u8(0)),
        error: 'TRAILING_DATA',
      }),
      containerCase({
        comment: 'a newline after the final chunk',
        flags: ['TrailingData'],
        cred: { key: b.key },
        ct: concat(b.ct, u8(0x0a)),
        error: 'TRAILING_DATA',
      }),
    );
    const e = await payloadBase(rnd, 2 * CHUNK);
    tests.push(
      containerCase({
        comment: '1 byte after an empty final chunk',
        flags: ['TrailingData', 'ChunkBoundary'],
        cred: { key: e.key },
        ct: concat(e.ct, rnd(1)),
        error: 'TRAILING_DATA',
      }),
      containerCase({
        comment: 'the empty final chunk repeated',
        flags: ['TrailingData', 'ChunkBoundary'],
        cred: { key: e.key },
        ct: concat(e.ct, e.payload.records.at(-1)),
        error: 'TRAILING_DATA',
      }),
    );
    const f = await payloadBase(rnd, 2 * CHUNK - 1);
    for (const n of [1, 2])
      tests.push(
        containerCase({
          comment: `${n} byte${n > 1 ? 's' : ''} after a final chunk of 16383 bytes (16399 with its tag): the extended chunk is a full record, checked before the length`,
          flags: ['TrailingData', 'ChunkBoundary'],
          cred: { key: f.key },
          ct: concat(f.ct, rnd(n)),
          error: 'TRAILING_DATA',
        }),
      );
  });
  return group('Bytes after the final chunk.', tests);
}

// ---------------------------------------------------------------------------------------------
// invalid: the plaintext framing

async function malformedMetadata() {
  const tests = [];
  const c = '"created":"2026-11-26T12:00:00Z"';
  const g = '"generation":1';
  const a = '"app":{}';
  const json = (...members) => `{${members.join(',')}}`;
  const bytes = (...parts) =>
    concat(...parts.map((p) => (typeof p === 'string' ? utf8(p) : Uint8Array.from(p))));
  const cases = [
    [
      'length 65537, over the limit',
      metaRecord(json(c, g, `"app":{"x":"${'x'.repeat(65537 - json(c, g, '"app":{"x":""}').length)}"}`)),
    ],
    ['length 2^32 − 1', concat(u32(0xffffffff), utf8(json(c, g, a)))],
    ['length past the end of the plaintext', concat(u32(1000), utf8(json(c, g, a)))],
    ['length 0', concat(u32(0))],
    ['the plaintext ends inside the length', Uint8Array.of(0, 0), { whole: true }],
    [
      'invalid UTF-8 byte 0xff',
      metaRecord(bytes('{"created":"2026-11-26T12:00:00Z","generation":1,"app":{"a":"', [0xff], '"}}')),
    ],
    [
      'overlong UTF-8 encoding of "/"',
      metaRecord(bytes('{"created":"2026-11-26T12:00:00Z","generation":1,"app":{"a":"', [0xc0, 0xaf], '"}}')),
    ],
    [
      'UTF-8-encoded surrogate (CESU-8)',
      metaRecord(
        bytes('{"created":"2026-11-26T12:00:00Z","generation":1,"app":{"a":"', [0xed, 0xa0, 0x80], '"}}'),
      ),
    ],
    [
      'UTF-8 sequence cut short',
      metaRecord(bytes('{"created":"2026-11-26T12:00:00Z","generation":1,"app":{"a":"', [0xe2, 0x82], '"}}')),
    ],
    ['not JSON: cut short', metaRecord('{"created":"2026-11-26T12:00:00Z",')],
    ['not JSON: trailing comma', metaRecord(`{${c},${g},${a},}`)],
    ['not JSON: single quotes', metaRecord(`{'created':'2026-11-26T12:00:00Z',${g},${a}}`)],
    ['not JSON: NaN', metaRecord(json(c, '"generation":NaN', a))],
    ['not JSON: a second value after the object', metaRecord(`${json(c, g, a)} {}`)],
    ['not JSON: raw control character in a string', metaRecord(json(c, g, '"app":{"a":"\u0001"}'))],
    ['an array', metaRecord(`[${json(c, g, a)}]`)],
    ['a string', metaRecord('"2026-11-26T12:00:00Z"')],
    ['null', metaRecord('null')],
    ['a number', metaRecord('1')],
    ['missing "created"', metaRecord(json(g, a))],
    ['missing "generation"', metaRecord(json(c, a))],
    ['missing "app"', metaRecord(json(c, g))],
    ['an empty object', metaRecord('{}')],
    ['an extra member "user"', metaRecord(json(c, g, a, '"user":"alice"'))],
    ['an extra member "__proto__"', metaRecord(json(c, g, a, '"__proto__":{}'))],
    ['"Created" in another case', metaRecord(json('"Created":"2026-11-26T12:00:00Z"', g, a))],
    ['"created" is a number', metaRecord(json('"created":1764158400', g, a))],
    ['"created" is a date only', metaRecord(json('"created":"2026-11-26"', g, a))],
    ['"created" without "Z"', metaRecord(json('"created":"2026-11-26T12:00:00"', g, a))],
    ['"created" with "+00:00"', metaRecord(json('"created":"2026-11-26T12:00:00+00:00"', g, a))],
    ['"created" with a lower-case "t"', metaRecord(json('"created":"2026-11-26t12:00:00Z"', g, a))],
    ['"created" with a lower-case "z"', metaRecord(json('"created":"2026-11-26T12:00:00z"', g, a))],
    ['"created" with a space for "T"', metaRecord(json('"created":"2026-11-26 12:00:00Z"', g, a))],
    [
      '"created" with 10 fraction digits',
      metaRecord(json('"created":"2026-11-26T12:00:00.1234567890Z"', g, a)),
    ],
    [
      '"created" with a dot and no fraction digits',
      metaRecord(json('"created":"2026-11-26T12:00:00.Z"', g, a)),
    ],
    ['"created" with a six-digit year', metaRecord(json('"created":"+002026-11-26T12:00:00Z"', g, a))],
    ['"created" in month 13', metaRecord(json('"created":"2026-13-26T12:00:00Z"', g, a))],
    ['"created" on day 32', metaRecord(json('"created":"2026-11-32T12:00:00Z"', g, a))],
    ['"created" at hour 25', metaRecord(json('"created":"2026-11-26T25:00:00Z"', g, a))],
    ['"created" at minute 60', metaRecord(json('"created":"2026-11-26T12:60:00Z"', g, a))],
    ['"generation" is -1', metaRecord(json(c, '"generation":-1', a))],
    ['"generation" is 1.5', metaRecord(json(c, '"generation":1.5', a))],
    ['"generation" is 2^53', metaRecord(json(c, '"generation":9007199254740992', a))],
    ['"generation" is 1e400', metaRecord(json(c, '"generation":1e400', a))],
    ['"generation" is a string', metaRecord(json(c, '"generation":"1"', a))],
    ['"generation" is null', metaRecord(json(c, '"generation":null', a))],
    ['"generation" is true', metaRecord(json(c, '"generation":true', a))],
    ['"app" is an array', metaRecord(json(c, g, '"app":[]'))],
    ['"app" is null', metaRecord(json(c, g, '"app":null'))],
    ['"app" is a string', metaRecord(json(c, g, '"app":"{}"'))],
  ];
  for (const [comment, record, { whole } = {}] of cases) {
    await seeded(`malformed metadata: ${comment}`, async (rnd) => {
      // The metadata record, then a block and the end marker (or the record alone).
      const plaintext = whole ? record : concat(record, stored(text(rnd, 10)), END);
      const b = await craftBackup(rnd, { plaintext });
      tests.push(
        containerCase({
          comment: `metadata: ${comment}`,
          flags: ['MalformedMetadata'],
          cred: { key: b.key },
          ct: b.ct,
          error: 'MALFORMED_PAYLOAD',
        }),
      );
    });
  }
  return group('Metadata records that break SPEC.md §5.1.', tests);
}

async function malformedBlocks() {
  const tests = [];
  await seeded('malformed blocks', async (rnd) => {
    const data = text(rnd, 3000);
    const packed = rawDeflate(data);
    const meta = metaRecord(META);
    const fixed = rawDeflate(utf8('abc'.repeat(100)));
    const add = async (
      comment,
      blocks,
      { flags = FLAG_COMPRESSED, vflags = ['MalformedBlock'], end = true } = {},
    ) => {
      const b = await craftBackup(rnd, {
        flags,
        plaintext: concat(meta, ...blocks, end ? END : new Uint8Array(0)),
      });
      tests.push(
        containerCase({ comment, flags: vflags, cred: { key: b.key }, ct: b.ct, error: 'MALFORMED_PAYLOAD' }),
      );
    };
    const head = (kind, ...fields) => concat(u8(kind), ...fields.map(u32));
    for (const kind of [0x03, 0x80, 0xff])
      await add(`block kind 0x${kind.toString(16)}`, [head(kind, 1), u8(0x41)]);
    await add('stored block of length 0', [head(1, 0)]);
    await add('stored block of length 1048577', [head(1, MiB + 1), new Uint8Array(16)], { flags: 0 });
    await add('stored block longer than the rest of the plaintext', [head(1, 500), data.subarray(0, 100)], {
      end: false,
    });
    await add('the plaintext ends inside a block header', [u8(1), u16(0)], { end: false });
    await add('deflate block with rlen 0', [head(2, packed.length, 0), packed]);
    await add('deflate block with rlen 1048577', [head(2, packed.length, MiB + 1), packed]);
    await add('deflate block with clen 0', [head(2, 0, data.length)]);
    await add('deflate block with clen = rlen', [
      deflated(data, {
        packed: concat(packed, new Uint8Array(data.length - packed.length)),
        clen: data.length,
      }),
    ]);
    await add('deflate block with clen > rlen', [
      head(2, 20, 10),
      rawDeflate(new Uint8Array(10)),
      new Uint8Array(20 - rawDeflate(new Uint8Array(10)).length),
    ]);
    await add('deflate data with the reserved block type 11', [
      head(2, 4, 100),
      Uint8Array.of(0x07, 0, 0, 0),
    ]);
    await add('deflate data of random bytes', [head(2, 64, 1000), rnd(64)]);
    await add('deflate expands to one byte less than rlen', [deflated(data, { rlen: data.length + 1 })]);
    await add('deflate expands to one byte more than rlen', [deflated(data, { rlen: data.length - 1 })]);
    await add('two bytes after the end of the deflate stream', [
      deflated(data, { packed: concat(packed, Uint8Array.of(0, 0)) }),
    ]);
    await add('two deflate streams in one block', [
      deflated(concat(data, utf8('abc'.repeat(100))), { packed: concat(packed, fixed) }),
    ]);
    await add('deflate stream cut before its end (no final block)', [
      deflated(data, { packed: packed.subarray(0, packed.length - 4) }),
    ]);
    // A complete fixed-Huffman block that expands to exactly rlen bytes, but is not marked final.
    await add('deflate stream without a final block (BFINAL never set), expanding to exactly rlen', [
      deflated(utf8('a'.repeat(775)), { packed: fixedHuffmanRun(0x61, 3, { final: false }) }),
    ]);
    const dict = utf8('the dictionary of a preset-dictionary stream '.repeat(4));
    const fromDict = rawDeflate(dict, { level: 9, dictionary: dict });
    await add('deflate stream referring to a preset dictionary (distance too far back)', [
      deflated(dict, { packed: fromDict }),
    ]);
    await add('deflate block in a backup without the COMPRESSED flag', [deflated(data)], {
      flags: 0,
      vflags: ['DeflateWithoutFlag'],
    });
    await add('deflate block after a stored block, COMPRESSED flag clear', [stored(data), deflated(data)], {
      flags: 0,
      vflags: ['DeflateWithoutFlag'],
    });
  });
  return group('Body blocks that break SPEC.md §5.2.', tests);
}

async function endAndPadding() {
  const tests = [];
  await seeded('end marker and padding', async (rnd) => {
    const body = text(rnd, 2000);
    const framed = frame({ blocks: [stored(body)] });
    const U = framed.length;
    const P = padme(U);
    if (P - U < 3) throw new Error('padding base');
    const add = async (comment, flags, plaintext, vflags, error) => {
      const b = await craftBackup(rnd, { flags, plaintext });
      tests.push(containerCase({ comment, flags: vflags, cred: { key: b.key }, ct: b.ct, error }));
    };
    const M = ['MissingEndMarker'];
    await add('no end marker after the last block', 0, framed.subarray(0, U - 1), M, 'MALFORMED_PAYLOAD');
    await add('no end marker and no block after the metadata', 0, metaRecord(META), M, 'MALFORMED_PAYLOAD');
    await add('an empty plaintext', 0, new Uint8Array(0), M, 'MALFORMED_PAYLOAD');
    await add(
      'PADDED flag, the plaintext ends after the last block (no end marker, no padding)',
      FLAG_PADDED,
      framed.subarray(0, U - 1),
      M,
      'MALFORMED_PAYLOAD',
    );
    const B = ['BadPadding'];
    await add('unpadded, one zero byte after the end marker', 0, concat(framed, u8(0)), B, 'BAD_PADDING');
    await add('unpadded, byte 0x01 after the end marker', 0, concat(framed, u8(1)), B, 'BAD_PADDING');
    await add('unpadded, Padmé padding present', 0, padded(framed), B, 'BAD_PADDING');
    await add('padded, padding missing', FLAG_PADDED, framed, B, 'BAD_PADDING');
    await add('padded, one byte short', FLAG_PADDED, padded(framed).subarray(0, P - 1), B, 'BAD_PADDING');
    await add('padded, one byte too many', FLAG_PADDED, concat(padded(framed), u8(0)), B, 'BAD_PADDING');
    await add(
      'padded, 16384 bytes too many',
      FLAG_PADDED,
      concat(padded(framed), new Uint8Array(CHUNK)),
      B,
      'BAD_PADDING',
    );
    await add(
      'padded, first padding byte 0x01',
      FLAG_PADDED,
      edit(padded(framed), (x) => (x[U] = 1)),
      B,
      'BAD_PADDING',
    );
    await add(
      'padded, last padding byte 0x80',
      FLAG_PADDED,
      edit(padded(framed), (x) => (x[P - 1] = 0x80)),
      B,
      'BAD_PADDING',
    );
    await add(
      'padded, a middle padding byte 0xff',
      FLAG_PADDED,
      edit(padded(framed), (x) => (x[U + 1] = 0xff)),
      B,
      'BAD_PADDING',
    );
    // Framed length 1024 is already a Padmé length: any padding at all is too long.
    const metaLength = JSON.stringify(META).length;
    const exact = frame({ blocks: [stored(text(rnd, 1024 - (4 + metaLength + 5 + 1)))] });
    await add(
      'padded, framed length 1024 (a Padmé length) followed by one zero byte',
      FLAG_PADDED,
      concat(exact, u8(0)),
      B,
      'BAD_PADDING',
    );
  });
  return group('The end marker and Padmé padding.', tests);
}

async function outputLimit() {
  const tests = [];
  await seeded('output limit', async (rnd) => {
    const body = text(rnd, 100000);
    const b = await craftBackup(rnd, {
      flags: BOTH,
      plaintext: frame({ blocks: [deflated(body)], pad: true }),
    });
    const empty = await craftBackup(rnd, { flags: BOTH, plaintext: frame({ pad: true }) });
    const one = await craftBackup(rnd, { plaintext: frame({ blocks: [stored(u8(0x41))] }) });
    const add = (comment, flags, c, maxOutputBytes, error, valid) =>
      tests.push(
        containerCase({
          comment,
          flags,
          cred: { key: c.key },
          ct: c.ct,
          maxOutputBytes,
          error,
          ...(valid ?? {}),
        }),
      );
    add('100000-byte body, maxOutputBytes 100000', ['OutputLimit'], b, 100000, undefined, {
      body,
      metadata: META,
    });
    add('100000-byte body, maxOutputBytes 99999', ['OutputLimit'], b, 99999, 'OUTPUT_LIMIT');
    add('empty body, maxOutputBytes 0', ['OutputLimit'], empty, 0, undefined, {
      body: new Uint8Array(0),
      metadata: META,
    });
    add('1-byte body, maxOutputBytes 0', ['OutputLimit'], one, 0, 'OUTPUT_LIMIT');
    // 16 MiB of zeros in 16 deflate blocks of about 1 KiB each.
    const zeros = new Uint8Array(MiB);
    const bomb = await craftBackup(rnd, {
      flags: FLAG_COMPRESSED,
      plaintext: frame({
        blocks: Array.from({ length: 16 }, () =>
          deflated(zeros, { packed: rawDeflate(zeros, { level: 9 }) }),
        ),
      }),
    });
    add(
      '16 MiB of zeros in 16 deflate blocks, maxOutputBytes 1048576',
      ['DecompressionBomb', 'OutputLimit'],
      bomb,
      MiB,
      'OUTPUT_LIMIT',
    );
    add(
      '16 MiB of zeros in 16 deflate blocks, maxOutputBytes 16777215',
      ['DecompressionBomb', 'OutputLimit'],
      bomb,
      16 * MiB - 1,
      'OUTPUT_LIMIT',
    );
    // A deflate block that declares 4096 bytes and holds a 1 MiB stream.
    const packedZeros = rawDeflate(zeros, { level: 9 });
    if (packedZeros.length >= 4096) throw new Error('bomb');
    const liar = await craftBackup(rnd, {
      flags: FLAG_COMPRESSED,
      plaintext: frame({ blocks: [deflated(zeros, { packed: packedZeros, rlen: 4096 })] }),
    });
    tests.push(
      containerCase({
        comment: 'a deflate block declaring rlen 4096 whose stream expands to 1048576 bytes',
        flags: ['DecompressionBomb'],
        cred: { key: liar.key },
        ct: liar.ct,
        error: 'MALFORMED_PAYLOAD',
      }),
    );
  });
  return group("The caller's output limit and decompression bombs.", tests);
}

// ---------------------------------------------------------------------------------------------
// rules settled by the SPEC.md revision that answered the vector kit's findings

/** SPEC.md §3.3 step 1: fewer than 13 bytes is TRUNCATED, whatever they are. */
async function shortFiles() {
  const tests = [];
  await seeded('short files', async (rnd) => {
    const b = await craftBackup(rnd, { plaintext: frame({ blocks: [stored(text(rnd, 20))] }) });
    const bytes = (...parts) =>
      concat(...parts.map((p) => (typeof p === 'string' ? utf8(p) : Uint8Array.from(p))));
    const add = (comment, ct, error = 'TRUNCATED', flags = ['ShortFile']) =>
      tests.push(
        containerCase({
          comment: `${ct.length}-byte file: ${comment}`,
          flags,
          cred: { key: b.key },
          ct,
          error,
        }),
      );
    add('the first byte of the magic', b.ct.subarray(0, 1));
    add('a zero byte', bytes([0]));
    add('a zip signature (not the magic)', bytes('PK', [3, 4]));
    add('"\\x89E2EEBX" (differs from the magic in its 7th byte)', bytes([0x89], 'E2EEBX'));
    add('eight zero bytes', new Uint8Array(8));
    add(
      'the magic ending in CR instead of LF',
      edit(b.ct.subarray(0, 8), (x) => (x[7] = 0x0d)),
    );
    add(
      'the magic and version 2',
      edit(b.ct.subarray(0, 9), (x) => (x[8] = 2)),
    );
    add(
      'the magic, version 1 and an unknown flag 0x80',
      edit(b.ct.subarray(0, 10), (x) => (x[9] = 0x80)),
    );
    add(
      'the magic, version 2 and header length 0',
      edit(b.ct.subarray(0, 12), (x) => {
        x[8] = 2;
        x.set(u16(0), 10);
      }),
    );
    add('the first 12 bytes of a valid backup', b.ct.subarray(0, 12));
    add('the first 12 bytes of a gzip file', bytes([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0x4b, 0x4c]));
    add('"hello world\\n"', bytes('hello world\n'));
    add(
      'a gzip file of 13 bytes: long enough for the magic to be checked',
      bytes([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0x4b, 0x4c, 0x4a]),
      'MALFORMED_HEADER',
      ['ShortFile', 'BadMagic'],
    );
  });
  return group('Files shorter than the fixed part of the header.', tests);
}

/** SPEC.md §3.3 step 5: prefix fits, body fits, then type, then length. */
async function slotOverrun() {
  const tests = [];
  await seeded('slot overrun', async (rnd) => {
    const body = text(rnd, 100);
    const b = await craftBackup(rnd, { plaintext: frame({ blocks: [stored(body)] }) });
    const ks = b.slots[0];
    const add = (comment, flags, opts) =>
      tests.push(
        containerCase({
          comment,
          flags,
          cred: { key: b.key },
          ct: b.rebound(header({ flags: 0, ...opts })),
          error: 'MALFORMED_HEADER',
        }),
      );
    const declared = (type, length, present) => concat(u8(type), u16(length), rnd(present));
    add(
      'the backup-key slot, then a slot of unknown type 0x03 declaring 100 bytes with 4 present',
      ['SlotOverrun', 'CheckOrder'],
      { slots: [ks, declared(3, 100, 4)] },
    );
    add(
      'the backup-key slot, then a slot of unknown type 0x80 running one byte past H − 16',
      ['SlotOverrun', 'CheckOrder'],
      { slots: [ks, declared(0x80, 81, 80)] },
    );
    add(
      'a slot of unknown type 0xff declaring 65535 bytes, before the backup-key slot',
      ['SlotOverrun', 'CheckOrder'],
      { slots: [declared(0xff, 0xffff, 0), ks] },
    );
    add(
      'the backup-key slot, then one byte 0x03 before the checksum (slot count 2): the prefix is cut',
      ['SlotOverrun', 'CheckOrder'],
      { slots: [ks], extra: u8(3), count: 2 },
    );
    add(
      'the backup-key slot, then two bytes 03 00 before the checksum (slot count 2): the prefix is cut',
      ['SlotOverrun', 'CheckOrder'],
      { slots: [ks], extra: Uint8Array.of(3, 0), count: 2 },
    );
    add(
      'the backup-key slot, then two bytes 01 00 before the checksum (slot count 2): the prefix is cut',
      ['SlotOverrun'],
      { slots: [ks], extra: Uint8Array.of(1, 0), count: 2 },
    );
  });
  return group('Slots that run past the end of the header, whatever their type.', tests);
}

/** SPEC.md §3.5: both credentials, the backup-key slot first; §3.4: bounds only when tried. */
async function credentialPrecedence() {
  const tests = [];
  await seeded('credential precedence', async (rnd) => {
    const body = text(rnd, 500);
    const plaintext = frame({ blocks: [stored(body)] });
    const b = await craftBackup(rnd, { slots: ['key', 'password'], plaintext });
    const pwOnly = await craftBackup(rnd, { slots: ['password'], plaintext });
    const wrongKey = edit(b.key, (x) => (x[0] ^= 0x80));
    const F = ['CredentialPrecedence', 'BothCredentials'];
    const add = (comment, flags, ct, cred, error, kdfMaxima) =>
      tests.push(
        containerCase({
          comment,
          flags,
          cred,
          kdfMaxima,
          ct,
          error,
          ...(error ? {} : { body, metadata: META }),
        }),
      );
    // Password slots whose parameters are out of bounds; the wrap cannot be computed.
    const huge = await passwordSlot({ kdf: { m: 0xffffffff, t: 1, p: 1 }, salt: rnd(32), wrapped: rnd(48) });
    const zero = await passwordSlot({ kdf: { m: 64, t: 0, p: 1 }, salt: rnd(32), wrapped: rnd(48) });
    const keyAnd = (pw, first = false) =>
      b.rebound(header({ flags: 0, slots: first ? [pw, b.slots[0]] : [b.slots[0], pw] }));
    const both = { key: wrongKey, password: PASSWORD };
    add(
      'wrong backup key and a password; the password slot has m = 2^32 − 1: WRONG_KEY',
      [...F, 'WrongKey'],
      keyAnd(huge),
      both,
      'WRONG_KEY',
    );
    add(
      'wrong backup key and a password; the password slot has t = 0: WRONG_KEY',
      [...F, 'WrongKey'],
      keyAnd(zero),
      both,
      'WRONG_KEY',
    );
    add(
      'wrong backup key and a password; the password slot (m = 2^32 − 1) comes first in the header: WRONG_KEY',
      [...F, 'WrongKey'],
      keyAnd(huge, true),
      both,
      'WRONG_KEY',
    );
    add(
      'wrong backup key and the right password, refused by the caller maximum m = 32: WRONG_KEY',
      [...F, 'WrongKey'],
      b.ct,
      both,
      'WRONG_KEY',
      { m: 32 },
    );
    add(
      'the right backup key and a password; the password slot has m = 2^32 − 1: the password slot is never checked',
      [...F, 'UnusedSlotParams'],
      keyAnd(huge),
      { key: b.key, password: PASSWORD },
    );
    add(
      'the right backup key and a password; the password slot (t = 0) comes first in the header',
      [...F, 'UnusedSlotParams'],
      keyAnd(zero, true),
      { key: b.key, password: PASSWORD },
    );
    const pwOnlyWith = (pw) => pwOnly.rebound(header({ flags: 0, slots: [pw] }));
    add(
      'a backup key and a password, backup has only a password slot with m = 2^32 − 1: KDF_PARAMS',
      [...F, 'KdfParamsOutOfBounds'],
      pwOnlyWith(huge),
      { key: b.key, password: PASSWORD },
      'KDF_PARAMS',
    );
    add(
      'a backup key and a password, backup has only a password slot with t = 0: KDF_PARAMS',
      [...F, 'KdfParamsOutOfBounds'],
      pwOnlyWith(zero),
      { key: b.key, password: PASSWORD },
      'KDF_PARAMS',
    );
    add(
      'a backup key and the right password, backup has only a password slot, refused by the caller maximum m = 32: KDF_PARAMS',
      [...F, 'KdfMaxima'],
      pwOnly.ct,
      { key: b.key, password: PASSWORD },
      'KDF_PARAMS',
      { m: 32 },
    );
  });
  return group('Both credentials at once: which slot is tried and which error is reported.', tests);
}

/** SPEC.md §3.5: the slot is unwrapped before anything of the payload is examined. */
async function slotBeforePayload() {
  const tests = [];
  await seeded('slot before payload', async (rnd) => {
    const b = await payloadBase(rnd);
    const keyOnly = await craftBackup(rnd, { plaintext: frame({ blocks: [stored(text(rnd, 50))] }) });
    const wrongKey = { key: edit(b.key, (x) => (x[5] ^= 4)) };
    const wrongPassword = { password: `${PASSWORD}!` };
    const P = 207;
    const add = (comment, flags, ct, cred, error) =>
      tests.push(containerCase({ comment, flags: ['SlotBeforePayload', ...flags], cred, ct, error }));
    add('wrong backup key, no payload at all', ['WrongKey'], b.ct.subarray(0, P), wrongKey, 'WRONG_KEY');
    add('wrong backup key, a 20-byte payload', ['WrongKey'], b.ct.subarray(0, P + 20), wrongKey, 'WRONG_KEY');
    add(
      'wrong backup key, commitment flipped',
      ['WrongKey'],
      edit(b.ct, (x) => (x[P + 30] ^= 1)),
      wrongKey,
      'WRONG_KEY',
    );
    add(
      'wrong backup key, chunk 0 flipped',
      ['WrongKey'],
      edit(b.ct, (x) => (x[P + 56 + 10] ^= 1)),
      wrongKey,
      'WRONG_KEY',
    );
    add(
      'wrong backup key, 100 bytes after the final chunk',
      ['WrongKey'],
      concat(b.ct, rnd(100)),
      wrongKey,
      'WRONG_KEY',
    );
    add(
      'wrong password, the payload cut inside chunk 1',
      ['WrongPassword'],
      b.ct.subarray(0, P + 56 + CHUNK + 16 + 5),
      wrongPassword,
      'WRONG_PASSWORD',
    );
    add(
      'a password on a backup with only a backup-key slot, payload cut after its salt',
      ['NoMatchingSlot'],
      keyOnly.ct.subarray(0, keyOnly.header.length + 24),
      { password: PASSWORD },
      'NO_MATCHING_SLOT',
    );
  });
  return group('The credential is checked before the payload.', tests);
}

/** SPEC.md §4 failure(i, R): the 256-byte probe window inside the failing record. */
async function trailingDataWindow() {
  const tests = [];
  const cases = [
    // [framed plaintext length, appended bytes, expected, what]
    [1000, 257, 'CHUNK_AUTH', 'a 1016-byte final chunk'],
    [1000, CHUNK + 16, 'CHUNK_AUTH', 'a 1016-byte final chunk'],
    [CHUNK, 256, 'TRAILING_DATA', 'an empty final chunk (16 bytes)'],
    [CHUNK, 257, 'CHUNK_AUTH', 'an empty final chunk (16 bytes)'],
    [16128, 256, 'TRAILING_DATA', 'a 16144-byte final chunk (the record is then 16 400 bytes)'],
    [16127, 257, 'CHUNK_AUTH', 'a 16143-byte final chunk (the record is then 16 400 bytes)'],
    [16184, 300, 'TRAILING_DATA', 'a 16200-byte final chunk (200 of them in its 16 400-byte record)'],
    [16084, 300, 'CHUNK_AUTH', 'a 16100-byte final chunk (all 300 in its 16 400-byte record)'],
    [
      CHUNK - 1,
      CHUNK + 17,
      'TRAILING_DATA',
      'a 16399-byte final chunk (1 of them in its record, then a full record)',
    ],
  ];
  for (const [target, n, error, what] of cases) {
    await seeded(`trailing data window: ${target} + ${n}`, async (rnd) => {
      const b = await payloadBase(rnd, target);
      const last = b.payload.records.at(-1).length;
      if (last !== (target % CHUNK) + 16) throw new Error('trailing data window base');
      tests.push(
        containerCase({
          comment: `${n} bytes after ${what}`,
          flags: error === 'TRAILING_DATA' ? ['TrailingDataWindow', 'TrailingData'] : ['TrailingDataWindow'],
          cred: { key: b.key },
          ct: concat(b.ct, rnd(n)),
          error,
        }),
      );
    });
  }
  return group('Appended bytes: the probe window of failure(i, R).', tests);
}

/** SPEC.md §5.1: RFC 8259 JSON without a BOM, unique names, real instants, integer values. */
async function metadataRules() {
  const tests = [];
  const c = '"created":"2026-11-26T12:00:00Z"';
  const g = '"generation":1';
  const a = '"app":{}';
  const json = (...members) => `{${members.join(',')}}`;
  const BOM = Uint8Array.of(0xef, 0xbb, 0xbf);
  const invalid = [
    ['ByteOrderMark', 'a UTF-8 byte-order mark before the JSON', concat(BOM, utf8(json(c, g, a)))],
    ['ByteOrderMark', 'a byte-order mark after a leading space', concat(utf8(' '), BOM, utf8(json(c, g, a)))],
    ['ByteOrderMark', 'a byte-order mark after the JSON', concat(utf8(json(c, g, a)), BOM)],
    ['DuplicateMembers', '"generation" twice, 1 and 2', json(c, g, a, '"generation":2')],
    ['DuplicateMembers', '"created" twice with the same value', json(c, g, a, c)],
    ['DuplicateMembers', '"app" twice', json(c, g, a, '"app":{"x":1}')],
    [
      'DuplicateMembers',
      '"generation" and "gener\\u0061tion": the same name once unescaped',
      json(c, g, a, '"gener\\u0061tion":1'),
    ],
    [
      'DuplicateMembers',
      'a duplicate member inside app',
      json(c, g, '"app":{"device":"phone","device":"laptop"}'),
    ],
    [
      'DuplicateMembers',
      'a duplicate member in an object nested in an array inside app',
      json(c, g, '"app":{"list":[{"ok":1},{"k":{"x":1,"y":2,"x":1}}]}'),
    ],
    ['CalendarDate', '30 February', json('"created":"2026-02-30T12:00:00Z"', g, a)],
    ['CalendarDate', '29 February 2026, not a leap year', json('"created":"2026-02-29T12:00:00Z"', g, a)],
    ['CalendarDate', '29 February 1900, not a leap year', json('"created":"1900-02-29T12:00:00Z"', g, a)],
    ['CalendarDate', '31 April', json('"created":"2026-04-31T12:00:00Z"', g, a)],
    ['CalendarDate', 'month 00', json('"created":"2026-00-10T12:00:00Z"', g, a)],
    ['CalendarDate', 'day 00', json('"created":"2026-11-00T12:00:00Z"', g, a)],
    ['CalendarDate', '24:00:00 (the end of the day)', json('"created":"2026-11-26T24:00:00Z"', g, a)],
    ['CalendarDate', 'second 60 (a leap second)', json('"created":"2016-12-31T23:59:60Z"', g, a)],
    ['CalendarDate', '1969-12-31T23:59:59Z, before 1970', json('"created":"1969-12-31T23:59:59Z"', g, a)],
    [
      'CalendarDate',
      '1969-12-31T23:59:59.999999999Z, before 1970',
      json('"created":"1969-12-31T23:59:59.999999999Z"', g, a),
    ],
    ['CalendarDate', 'year 0000', json('"created":"0000-01-01T00:00:00Z"', g, a)],
    ['GenerationValue', '"generation" is -1.0', json(c, '"generation":-1.0', a)],
    ['GenerationValue', '"generation" is 0.5e0', json(c, '"generation":0.5e0', a)],
    [
      'GenerationValue',
      '"generation" is 9.007199254740992e15 (2^53)',
      json(c, '"generation":9.007199254740992e15', a),
    ],
    ...[
      '1.0',
      '1e3',
      '1E+3',
      '10e-1',
      '0.0',
      '-0',
      '1e-400',
      '1.0000000000000001',
      '9.007199254740991e15',
    ].map((spelling) => [
      'GenerationValue',
      `"generation" written as ${spelling}, not as a whole number`,
      json(c, `"generation":${spelling}`, a),
    ]),
  ];
  for (const [flag, comment, meta] of invalid) {
    await seeded(`metadata rules: ${comment}`, async (rnd) => {
      const record = metaRecord(meta);
      const b = await craftBackup(rnd, { plaintext: concat(record, stored(text(rnd, 10)), END) });
      tests.push(
        containerCase({
          comment: `metadata: ${comment}`,
          flags: [flag, 'MalformedMetadata'],
          cred: { key: b.key },
          ct: b.ct,
          error: 'MALFORMED_PAYLOAD',
        }),
      );
    });
  }
  const valid = [
    [
      'DuplicateMembers',
      'the names created, generation and app again inside app, at different depths',
      '{"created":"2026-11-26T12:00:00Z","generation":1,"app":{"created":"x","generation":[{"generation":2}],"app":{"app":{}}}}',
      {
        created: '2026-11-26T12:00:00Z',
        generation: 1,
        app: { created: 'x', generation: [{ generation: 2 }], app: { app: {} } },
      },
    ],
    [
      'ByteOrderMark',
      'U+FEFF inside a string of app, raw and escaped',
      '{"created":"2026-11-26T12:00:00Z","generation":1,"app":{"raw":"\ufeffx","escaped":"\\ufeffx"}}',
      { created: '2026-11-26T12:00:00Z', generation: 1, app: { raw: '\ufeffx', escaped: '\ufeffx' } },
    ],
    ...[
      ['29 February 2028, a leap year', '2028-02-29T12:00:00Z'],
      ['29 February 2000, a leap year (divisible by 400)', '2000-02-29T00:00:00Z'],
      ['1970-01-01T00:00:00Z, the first instant allowed', '1970-01-01T00:00:00Z'],
      ['31 December 9999, 23:59:59.999999999', '9999-12-31T23:59:59.999999999Z'],
      ['23:59:59 on 31 December', '2026-12-31T23:59:59Z'],
    ].map(([comment, created]) => [
      'CalendarDate',
      comment,
      json(`"created":"${created}"`, g, a),
      { created, generation: 1, app: {} },
    ]),
    ...[
      ['0', 0],
      ['9007199254740991', 9007199254740991],
    ].map(([spelling, generation]) => [
      'GenerationValue',
      `"generation" written as ${spelling}`,
      json(c, `"generation":${spelling}`, a),
      { created: '2026-11-26T12:00:00Z', generation, app: {} },
    ]),
    [
      'GenerationValue',
      'the spellings 1.0, 1e3 and -0 inside app, where any JSON number is valid',
      json(c, g, '"app":{"generation":1.0,"n":[1e3,-0]}'),
      { created: '2026-11-26T12:00:00Z', generation: 1, app: { generation: 1, n: [1000, 0] } },
    ],
  ];
  for (const [flag, comment, meta, metadata] of valid) {
    await seeded(`metadata rules: ${comment}`, async (rnd) => {
      const body = text(rnd, 40);
      const b = await craftBackup(rnd, { plaintext: frame({ meta, blocks: [stored(body)] }) });
      tests.push(
        containerCase({
          comment: `metadata: ${comment}`,
          flags: [flag, 'MetadataVariants'],
          cred: { key: b.key },
          ct: b.ct,
          body,
          metadata,
        }),
      );
    });
  }
  return group('Metadata rules of SPEC.md §5.1: the JSON dialect, real instants, integer values.', tests);
}

/** SPEC.md §5.2: OUTPUT_LIMIT from the declared length, after the range checks, before the data. */
async function outputLimitOrder() {
  const tests = [];
  await seeded('output limit order', async (rnd) => {
    const data = text(rnd, 3000);
    const packed = rawDeflate(data);
    const head = (kind, ...fields) => concat(u8(kind), ...fields.map(u32));
    const add = async (comment, blocks, { flags = FLAG_COMPRESSED, end = true, limit, error }) => {
      const b = await craftBackup(rnd, {
        flags,
        plaintext: concat(metaRecord(META), ...blocks, end ? END : new Uint8Array(0)),
      });
      tests.push(
        containerCase({
          comment,
          flags: ['OutputLimitOrder', error === 'OUTPUT_LIMIT' ? 'OutputLimit' : 'MalformedBlock'],
          cred: { key: b.key },
          ct: b.ct,
          maxOutputBytes: limit,
          error,
        }),
      );
    };
    await add(
      'stored block of length 500 with 100 bytes present, maxOutputBytes 499',
      [head(1, 500), data.subarray(0, 100)],
      {
        end: false,
        limit: 499,
        error: 'OUTPUT_LIMIT',
      },
    );
    await add(
      'deflate block of rlen 1000 with random data, maxOutputBytes 999',
      [head(2, 64, 1000), rnd(64)],
      {
        limit: 999,
        error: 'OUTPUT_LIMIT',
      },
    );
    await add(
      'a valid stored block of 100 bytes, then a deflate block of rlen 3000 cut before its end, maxOutputBytes 3099',
      [stored(data.subarray(0, 100)), deflated(data, { packed: packed.subarray(0, packed.length - 4) })],
      { limit: 3099, error: 'OUTPUT_LIMIT' },
    );
    await add('stored block of length 1048577, maxOutputBytes 1000', [head(1, MiB + 1), new Uint8Array(16)], {
      flags: 0,
      limit: 1000,
      error: 'MALFORMED_PAYLOAD',
    });
    await add(
      'deflate block with clen > rlen = 2000, maxOutputBytes 1000',
      [head(2, 2001, 2000), rnd(2001)],
      {
        limit: 1000,
        error: 'MALFORMED_PAYLOAD',
      },
    );
    await add(
      'deflate block with rlen 2^32 − 1, maxOutputBytes 1000',
      [head(2, packed.length, 0xffffffff), packed],
      {
        limit: 1000,
        error: 'MALFORMED_PAYLOAD',
      },
    );
  });
  return group("The output limit against the block's other rules.", tests);
}

/** SPEC.md §5.1: nesting depth and lone surrogates, which JSON.parse alone does not check. */
async function metadataStructure() {
  const tests = [];
  const head = '"created":"2026-11-26T12:00:00Z","generation":1';
  // app holds arrays nested so that the whole record is `depth` deep (the record 1, app 2).
  const deep = (depth) => `{${head},"app":{"a":${'['.repeat(depth - 2)}${']'.repeat(depth - 2)}}}`;
  const nestedValue = (depth) => {
    let v = [];
    for (let i = 3; i < depth; i++) v = [v];
    return v;
  };
  const invalid = [
    ['NestingDepth', 'nested 65 deep (app 64)', deep(65)],
    ['NestingDepth', 'nested 30 000 deep', deep(30000)],
    ['NestingDepth', 'objects nested 65 deep', `{${head},"app":${'{"o":'.repeat(63)}{}${'}'.repeat(63)}}`],
    ['LoneSurrogate', 'a string holding the escape \\ud800', `{${head},"app":{"s":"\\ud800"}}`],
    [
      'LoneSurrogate',
      'a string holding the escape \\udc00 between letters',
      `{${head},"app":{"s":"x\\udc00y"}}`,
    ],
    ['LoneSurrogate', 'two high surrogate escapes', `{${head},"app":{"s":"\\ud83d\\ud83d"}}`],
    ['LoneSurrogate', 'a high surrogate escape at the end of a string', `{${head},"app":{"s":"x\\ud83d"}}`],
    ['LoneSurrogate', 'a member name \\udfff', `{${head},"app":{"\\udfff":1}}`],
    ['LoneSurrogate', 'a lone surrogate deep in an array', `{${head},"app":{"l":[{"s":["\\ud800"]}]}}`],
  ];
  for (const [flag, comment, meta] of invalid) {
    await seeded(`metadata structure: ${comment}`, async (rnd) => {
      const b = await craftBackup(rnd, { plaintext: concat(metaRecord(meta), stored(text(rnd, 10)), END) });
      tests.push(
        containerCase({
          comment: `metadata: ${comment}`,
          flags: [flag, 'MalformedMetadata'],
          cred: { key: b.key },
          ct: b.ct,
          error: 'MALFORMED_PAYLOAD',
        }),
      );
    });
  }
  const app = (fields) => ({ created: '2026-11-26T12:00:00Z', generation: 1, app: fields });
  const valid = [
    ['NestingDepth', 'nested exactly 64 deep', deep(64), app({ a: nestedValue(64) })],
    [
      'NestingDepth',
      'brackets inside strings do not count',
      `{${head},"app":{"s":"${'['.repeat(100)}\\"{"}}`,
      app({ s: `${'['.repeat(100)}"{` }),
    ],
    [
      'LoneSurrogate',
      'an escaped surrogate pair, a raw astral character, an escaped backslash before ud800',
      `{${head},"app":{"pair":"\\ud83d\\ude00","raw":"\u{1f600}","\\\\ud800":"\\\\udc00"}}`,
      app({ pair: '\u{1f600}', raw: '\u{1f600}', '\\ud800': '\\udc00' }),
    ],
  ];
  for (const [flag, comment, meta, metadata] of valid) {
    await seeded(`metadata structure: ${comment}`, async (rnd) => {
      const body = text(rnd, 40);
      const b = await craftBackup(rnd, { plaintext: frame({ meta, blocks: [stored(body)] }) });
      tests.push(
        containerCase({
          comment: `metadata: ${comment}`,
          flags: [flag, 'MetadataVariants'],
          cred: { key: b.key },
          ct: b.ct,
          body,
          metadata,
        }),
      );
    });
  }
  return group('SPEC.md §5.1: nesting depth and lone surrogates in the metadata JSON.', tests);
}

/** SPEC.md §3.5 and §7: the caller's arguments first; passwords in Unicode 14.0.0. */
async function argumentsAndPasswords() {
  const tests = [];
  await seeded('arguments: backups', async (rnd) => {
    const body = text(rnd, 50);
    const plaintext = frame({ blocks: [stored(body)] });
    const both = await craftBackup(rnd, { slots: ['key', 'password'], plaintext });
    const short = both.ct.subarray(0, 5);
    const bad = (comment, cred, ct, error) =>
      tests.push(containerCase({ comment, flags: ['ArgumentErrors'], cred, ct, error }));
    bad('an empty password on a 5-byte file', { password: '' }, short, 'INVALID_ARGUMENT');
    bad(
      'a password with a lone surrogate on a 5-byte file',
      { password: 'ab\ud800' },
      short,
      'INVALID_ARGUMENT',
    );
    bad('a 31-byte backup key on a 5-byte file', { key: rnd(31) }, short, 'INVALID_KEY_SIZE');
    bad('a 33-byte backup key on a 5-byte file', { key: rnd(33) }, short, 'INVALID_KEY_SIZE');
    bad('no credential at all, on a 5-byte file', {}, short, 'INVALID_ARGUMENT');
    bad(
      'the backup key that opens the backup, with an empty password',
      { key: both.key, password: '' },
      both.ct,
      'INVALID_ARGUMENT',
    );
    bad(
      'the backup key that opens the backup, with a password holding U+0378 (unassigned)',
      { key: both.key, password: 'x\u0378' },
      both.ct,
      'INVALID_ARGUMENT',
    );
    tests.push(
      containerCase({
        comment: 'the same backup with its backup key alone: valid',
        flags: ['ArgumentErrors'],
        cred: { key: both.key },
        ct: both.ct,
        body,
        metadata: META,
      }),
    );
  });
  await seeded('arguments: unicode passwords', async (rnd) => {
    const body = text(rnd, 50);
    const plaintext = frame({ blocks: [stored(body)] });
    const made = async (password) => craftBackup(rnd, { slots: ['password'], password, plaintext });
    // NFC with Unicode 14.0 data: U+1DFA (ccc 218) does not block a + U+0301 (ccc 230).
    const nfc = await made('\u00e1\u1dfa');
    for (const [comment, password] of [
      ['made with U+00E1 U+1DFA, given as a U+1DFA U+0301 (NFC composes across U+1DFA)', 'a\u1dfa\u0301'],
      ['made with U+00E1 U+1DFA, given as a U+0301 U+1DFA', 'a\u0301\u1dfa'],
    ])
      tests.push(
        containerCase({
          comment,
          flags: ['PasswordUnicode'],
          cred: { password },
          ct: nfc.ct,
          body,
          metadata: META,
        }),
      );
    const melting = await made('melting \u{1fae0} face');
    tests.push(
      containerCase({
        comment: 'a password with U+1FAE0, added in Unicode 14.0',
        flags: ['PasswordUnicode'],
        cred: { password: 'melting \u{1fae0} face' },
        ct: melting.ct,
        body,
        metadata: META,
      }),
    );
    // The writer here (craft.mjs) does not refuse them; a conforming writer would.
    for (const [comment, password] of [
      ['U+1FAE8, added in Unicode 15.0', 'shaking \u{1fae8} face'],
      ['U+10EFD, a combining mark added in Unicode 15.0', 'x\u{10efd}'],
      ['U+0378, never assigned', 'x\u0378y'],
      ['the noncharacter U+FFFF', 'x\uffff'],
    ]) {
      const b = await made(password);
      tests.push(
        containerCase({
          comment: `a password slot made with a password holding ${comment}: refused before the file is read`,
          flags: ['PasswordUnicode', 'ArgumentErrors'],
          cred: { password },
          ct: b.ct,
          error: 'INVALID_ARGUMENT',
        }),
      );
    }
  });
  return group("The caller's arguments, checked before the file (SPEC.md §7); passwords (§3.5).", tests);
}

/** SPEC.md §3.5: a slot opens when its tag verifies, and then no other slot is tried. */
async function slotOpens() {
  const tests = [];
  await seeded('slot opens', async (rnd) => {
    const body = text(rnd, 80);
    const plaintext = frame({ blocks: [stored(body)] });
    const backupKey = rnd(32);
    const keyFileKey = rnd(32);
    const passwordFileKey = rnd(32);
    const h = header({
      flags: 0,
      slots: [
        keySlot({ backupKey, salt: rnd(32), fileKey: keyFileKey }),
        await passwordSlot({ password: PASSWORD, kdf: KDF, salt: rnd(32), fileKey: passwordFileKey }),
      ],
    });
    const ct = concat(h, cobblestone(passwordFileKey, rnd(24), h, plaintext).bytes());
    const comment = (what) =>
      `the backup-key slot wraps another file key than the password slot, whose key sealed the payload: ${what}`;
    tests.push(
      containerCase({
        comment: comment('the backup key and the password: HEADER_AUTH, the password slot is not tried'),
        flags: ['SlotOpens', 'BothCredentials'],
        cred: { key: backupKey, password: PASSWORD },
        ct,
        error: 'HEADER_AUTH',
      }),
      containerCase({
        comment: comment('the backup key alone: HEADER_AUTH'),
        flags: ['SlotOpens'],
        cred: { key: backupKey },
        ct,
        error: 'HEADER_AUTH',
      }),
      containerCase({
        comment: comment('the password alone: valid'),
        flags: ['SlotOpens'],
        cred: { password: PASSWORD },
        ct,
        body,
        metadata: META,
      }),
    );
  });
  return group('What "opens" means (SPEC.md §3.5).', tests);
}

/** SPEC.md §3.1, §5.2: when a writer sets COMPRESSED, and its order against the output limit. */
async function compressedFlag(lib) {
  const tests = [];
  await seeded('compressed flag: library', async (rnd) => {
    const key = rnd(32);
    const body = noise(rnd, 3000);
    const { ct, metadata } = await libraryBackup(lib, body, { key, compression: 'deflate' });
    if ((ct[9] & FLAG_COMPRESSED) === 0) throw new Error('the library did not set COMPRESSED');
    tests.push(
      containerCase({
        comment: 'compression asked for, incompressible body: COMPRESSED set, stored blocks only',
        flags: ['LibraryOutput', 'CompressedFlag'],
        cred: { key },
        ct,
        body,
        metadata,
      }),
    );
  });
  await seeded('compressed flag: crafted', async (rnd) => {
    const b = await craftBackup(rnd, { flags: FLAG_COMPRESSED, plaintext: frame({ blocks: [] }) });
    tests.push(
      containerCase({
        comment: 'COMPRESSED set, an empty body: no block at all',
        flags: ['CompressedFlag'],
        cred: { key: b.key },
        ct: b.ct,
        body: new Uint8Array(0),
        metadata: META,
      }),
    );
    const data = text(rnd, 3000);
    const block = deflated(data);
    for (const [comment, flags, limit, error] of [
      [
        'a deflate block of rlen 3000 without COMPRESSED, maxOutputBytes 1000: the kind byte first',
        0,
        1000,
        'MALFORMED_PAYLOAD',
      ],
      ['the same block with COMPRESSED, maxOutputBytes 2999', FLAG_COMPRESSED, 2999, 'OUTPUT_LIMIT'],
      ['the same block with COMPRESSED, maxOutputBytes 3000', FLAG_COMPRESSED, 3000, undefined],
    ]) {
      const c = await craftBackup(rnd, { flags, plaintext: frame({ blocks: [block] }) });
      tests.push(
        containerCase({
          comment,
          flags: ['OutputLimitOrder', flags ? 'OutputLimit' : 'DeflateWithoutFlag'],
          cred: { key: c.key },
          ct: c.ct,
          maxOutputBytes: limit,
          ...(error ? { error } : { body: data, metadata: META }),
        }),
      );
    }
  });
  return group('When COMPRESSED is set, and a deflate block without it against the output limit.', tests);
}

/** SPEC.md §5.1: the optional "set" member. */
async function backupSets(lib) {
  const tests = [];
  await seeded('backup set: library', async (rnd) => {
    const key = rnd(32);
    const body = text(rnd, 100);
    const { ct, metadata } = await libraryBackup(lib, body, { key, generation: 3, set: 'default' });
    tests.push(
      containerCase({
        comment: 'written by the library with set "default"',
        flags: ['LibraryOutput', 'BackupSet'],
        cred: { key },
        ct,
        body,
        metadata,
      }),
    );
  });
  const c = '"created":"2026-11-26T12:00:00Z"';
  const g = '"generation":1';
  const a = '"app":{}';
  const json = (...members) => `{${members.join(',')}}`;
  const longest = 'Az09._-'.repeat(10).slice(0, 64);
  const valid = [
    ['set of one character', json(c, g, a, '"set":"a"'), 'a'],
    ['set of 64 characters using every allowed kind', json(c, g, a, `"set":"${longest}"`), longest],
    ['set first, before the other members', json('"set":"phone-1.backup_A"', c, g, a), 'phone-1.backup_A'],
    ['set written with a JSON escape for "-"', json(c, g, a, '"set":"x\\u002dy"'), 'x-y'],
  ];
  for (const [comment, meta, set] of valid) {
    await seeded(`backup set: ${comment}`, async (rnd) => {
      const body = text(rnd, 40);
      const b = await craftBackup(rnd, { plaintext: frame({ meta, blocks: [stored(body)] }) });
      tests.push(
        containerCase({
          comment: `metadata: ${comment}`,
          flags: ['BackupSet', 'MetadataVariants'],
          cred: { key: b.key },
          ct: b.ct,
          body,
          metadata: { created: '2026-11-26T12:00:00Z', generation: 1, app: {}, set },
        }),
      );
    });
  }
  const invalid = [
    ['set is empty', json(c, g, a, '"set":""')],
    ['set of 65 characters', json(c, g, a, `"set":"${longest}x"`)],
    ['set with a space', json(c, g, a, '"set":"my phone"')],
    ['set with "/"', json(c, g, a, '"set":"a/b"')],
    ['set with a non-ASCII letter (\\u00e9)', json(c, g, a, '"set":"t\\u00e9l\\u00e9phone"')],
    ['set is a number', json(c, g, a, '"set":1')],
    ['set is null', json(c, g, a, '"set":null')],
    ['set is an array', json(c, g, a, '"set":["a"]')],
    ['"Set" instead of "set"', json(c, g, a, '"Set":"a"')],
    ['set and another extra member', json(c, g, a, '"set":"a"', '"device":"x"')],
    ['set given twice', json(c, g, a, '"set":"a"', '"set":"b"')],
  ];
  for (const [comment, meta] of invalid) {
    await seeded(`backup set: ${comment}`, async (rnd) => {
      const b = await craftBackup(rnd, { plaintext: concat(metaRecord(meta), stored(text(rnd, 10)), END) });
      tests.push(
        containerCase({
          comment: `metadata: ${comment}`,
          flags: ['BackupSet', 'MalformedMetadata'],
          cred: { key: b.key },
          ct: b.ct,
          error: 'MALFORMED_PAYLOAD',
        }),
      );
    });
  }
  return group('The optional "set" member of SPEC.md §5.1.', tests);
}

// ---------------------------------------------------------------------------------------------

const FAMILIES = [
  optionMatrix,
  bodySizes,
  chunkBoundaries,
  blockBoundaries,
  largeBackup,
  deflateLevels,
  libraryMetadata,
  libraryPasswords,
  craftedMetadata,
  blockMix,
  paddingEdges,
  slotOrder,
  kdfEdges,
  fixedFields,
  slotLayout,
  kdfBounds,
  credentials,
  slotAuthentication,
  truncation,
  chunkIntegrity,
  trailingData,
  malformedMetadata,
  malformedBlocks,
  endAndPadding,
  outputLimit,
  shortFiles,
  slotOverrun,
  credentialPrecedence,
  slotBeforePayload,
  trailingDataWindow,
  metadataRules,
  outputLimitOrder,
  metadataStructure,
  argumentsAndPasswords,
  slotOpens,
  compressedFlag,
  backupSets,
];

/** The whole container_v1_test.json document. */
export async function containerFile(lib) {
  const testGroups = [];
  for (const family of FAMILIES) testGroups.push(await family(lib));
  return checkNotes(
    numberTests({
      algorithm: 'e2ee-backup container v1',
      schema: 'schema.json',
      generator: 'scripts/vectors/generate.mjs',
      numberOfTests: 0,
      header: [
        'Test vectors for the e2ee-backup container format v1 (SPEC.md; Appendix A describes this file).',
        'Each test decrypts ct with the credentials given (key: the 32-byte backup key in hex; password:',
        'a string, NFC-normalised by the decoder) and, where present, kdfMaxima (partial Argon2id bounds',
        'that replace the defaults m 1048576, t 16, p 16 for the parameters named) and maxOutputBytes.',
        'ct is hex; with ctCompressed: true it is the hex of the zlib (RFC 1950) compression of the backup.',
        'valid: the body has msgLength bytes and SHA-512 msgSha512, the metadata record is metadata.',
        'invalid: decryption fails with the SPEC.md §7 code error.',
      ],
      notes: NOTES,
      testGroups,
    }),
  );
}
