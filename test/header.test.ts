// The header and slot parser (src/container/header.ts) on its own, against SPEC.md §3 written out
// here with node:crypto: the bytes buildHeader writes, every check parseHeader makes in the order
// §3.3 gives (with the sizes and values its messages name), and unlockFileKey's choice of error
// when credentials fail (§3.5). The container vectors reach the same code through whole backups;
// this file is also the fast suite its mutation run uses (docs/mutation-testing.md).
import { createDecipheriv, createHash, createHmac, hkdfSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  buildHeader,
  type Header,
  headerLength,
  MAGIC,
  parseHeader,
  passwordKek,
  unlockFileKey,
} from '../src/container/header.js';
import { E2EEError } from '../src/errors.js';

const u16 = (n: number) => [n >> 8, n & 0xff];
const u32 = (n: number) => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();
const fill = (n: number, v: number) => new Array<number>(n).fill(v);

/** A header as SPEC.md §3 lays it out: fixed part, the given slot bytes, checksum. */
function assemble(slots: number[], { count = 1, flags = 0, version = 1, extra = 0 } = {}): Uint8Array {
  const size = 13 + slots.length + 16 + extra;
  const body = Uint8Array.from([...MAGIC, version, flags, ...u16(size), count, ...slots]);
  return Uint8Array.from([...body, ...sha256(body).subarray(0, 16)]);
}
const keySlot = (len = 80, type = 0x01) => [type, ...u16(len), ...fill(len, 0x11)];
const passwordSlot = (m = 64, t = 1, p = 1) => [
  0x02,
  ...u16(92),
  ...u32(m),
  ...u32(t),
  ...u32(p),
  ...fill(80, 0x22),
];

/** The error `f` throws or rejects with. */
async function failure(f: () => unknown): Promise<E2EEError> {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(E2EEError);
    return e as E2EEError;
  }
  throw new Error('no error');
}
const refusal = (bytes: Uint8Array) => failure(() => parseHeader(bytes));

const fileKey = new Uint8Array(32).map((_, i) => i + 100);
const backupKey = new Uint8Array(32).fill(7);
const WEAK = { m: 64, t: 1, p: 1 };
const passwordSpec = (password: string) =>
  ({ type: 'password', password, kdf: WEAK, kdfOptions: { allowWeak: true } }) as const;

describe('buildHeader writes SPEC.md §3', () => {
  it('a backup-key slot: layout, checksum, and a wrap that opens with HKDF and AES-GCM from the text', async () => {
    const h = await buildHeader([{ type: 'backup-key', backupKey }], fileKey, 0x03);
    expect(h.length).toBe(112);
    expect([...h.subarray(0, 13)]).toEqual([...MAGIC, 1, 0x03, ...u16(112), 1]);
    expect([...h.subarray(13, 16)]).toEqual([0x01, 0, 80]);
    expect(Buffer.from(h.subarray(96)).equals(sha256(h.subarray(0, 96)).subarray(0, 16))).toBe(true);
    const salt = h.subarray(16, 48);
    const kek = Buffer.from(hkdfSync('sha512', backupKey, salt, 'e2ee-backup v1 backup-key slot', 32));
    const gcm = createDecipheriv('aes-256-gcm', kek, Buffer.alloc(12));
    gcm.setAAD(h.subarray(13, 48));
    gcm.setAuthTag(h.subarray(80, 96));
    expect(Buffer.concat([gcm.update(h.subarray(48, 80)), gcm.final()]).equals(fileKey)).toBe(true);
  });

  it("a password slot's KEK is HKDF-Expand-SHA-512 of the Argon2id output (one HMAC block)", () => {
    const argon2Output = new Uint8Array(32).map((_, i) => 255 - i);
    const info = Buffer.from('e2ee-backup v1 password slot');
    const t1 = createHmac('sha512', argon2Output)
      .update(Buffer.concat([info, Buffer.of(1)]))
      .digest();
    expect(Buffer.from(passwordKek(argon2Output)).equals(t1.subarray(0, 32))).toBe(true);
  });

  it('two slots, a password slot with its parameters; each opens to the file key', async () => {
    const h = await buildHeader([{ type: 'backup-key', backupKey }, passwordSpec('pw')], fileKey, 0);
    expect(h.length).toBe(13 + 83 + 95 + 16);
    expect([...h.subarray(10, 13)]).toEqual([...u16(h.length), 2]);
    expect([...h.subarray(96, 111)]).toEqual([0x02, 0, 92, ...u32(64), ...u32(1), ...u32(1)]);
    const parsed = parseHeader(h);
    expect(await unlockFileKey(parsed, { key: backupKey })).toEqual(fileKey);
    expect(await unlockFileKey(parsed, { password: 'pw' })).toEqual(fileKey);
  });

  it('refuses no slot, more than 8, and two of one type', async () => {
    const key = { type: 'backup-key', backupKey } as const;
    for (const slots of [[], fill(9, 0).map(() => key)])
      expect(await failure(() => buildHeader(slots, fileKey, 0)), `${slots.length}`).toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(/needs 1 to 8 key slots/),
      });
    // Eight slots are allowed by count; with two slot types, eight repeat a type.
    expect(
      await failure(() =>
        buildHeader(
          fill(8, 0).map(() => key),
          fileKey,
          0,
        ),
      ),
    ).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/at most one key slot of each type/),
    });
    expect(await failure(() => buildHeader([key, key], fileKey, 0))).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/at most one key slot of each type/),
    });
  });
});

describe('headerLength and parseHeader check in the order of SPEC.md §3.3', () => {
  it('fewer than 13 bytes: TRUNCATED, naming the size', async () => {
    const h = assemble(keySlot());
    expect(await failure(() => headerLength(h.subarray(0, 12)))).toMatchObject({
      code: 'TRUNCATED',
      message: expect.stringMatching(/is 12 bytes, too short for a header/),
    });
    expect(headerLength(h.subarray(0, 13))).toBe(112);
  });

  it('magic, then version', async () => {
    const bad = assemble(keySlot());
    bad[7] = 0x0d;
    expect(await refusal(bad)).toMatchObject({
      code: 'MALFORMED_HEADER',
      message: expect.stringMatching(
        /^backup header: the file does not start with the e2ee-backup magic bytes/,
      ),
    });
    for (const version of [0, 2])
      expect(await refusal(assemble(keySlot(), { version }))).toMatchObject({
        code: 'UNSUPPORTED_VERSION',
        message: expect.stringMatching(
          new RegExp(`format version ${version}; this library reads version 1 only`),
        ),
      });
  });

  it('header length within 112..4096', async () => {
    const at = (size: number) => {
      const h = assemble(keySlot()).slice(0, 13);
      h.set(u16(size), 10);
      return h;
    };
    for (const size of [0, 111, 4097, 65535])
      expect(await failure(() => headerLength(at(size))), `${size}`).toMatchObject({
        code: 'MALFORMED_HEADER',
        message: expect.stringMatching(new RegExp(`header length ${size} is outside 112\\.\\.4096`)),
      });
    for (const size of [112, 4096]) expect(headerLength(at(size))).toBe(size);
  });

  it('the whole header must be there: TRUNCATED one byte short; the payload after it is not read', async () => {
    const h = assemble(keySlot());
    expect(await refusal(h.subarray(0, 111))).toMatchObject({
      code: 'TRUNCATED',
      message: expect.stringMatching(/ends inside its 112-byte header/),
    });
    const parsed = parseHeader(Uint8Array.from([...h, 1, 2, 3]));
    expect(Buffer.from(parsed.bytes).equals(h)).toBe(true);
    expect(parsed).toMatchObject({ version: 1, flags: 0 });
  });

  it('checksum, then flags, then slot count', async () => {
    const corrupt = assemble(keySlot());
    corrupt[20]! ^= 1;
    expect(await refusal(corrupt)).toMatchObject({
      code: 'MALFORMED_HEADER',
      message: expect.stringMatching(/checksum does not match/),
    });
    for (const [flags, bits] of [
      [0x04, '0x04'],
      [0x80, '0x80'],
      [0x87, '0x84'],
    ] as const)
      expect(await refusal(assemble(keySlot(), { flags })), bits).toMatchObject({
        code: 'UNKNOWN_FLAG',
        message: expect.stringMatching(new RegExp(`unknown flag bits ${bits}:`)),
      });
    expect(parseHeader(assemble(keySlot(), { flags: 0x03 })).flags).toBe(0x03);
    for (const count of [0, 9])
      expect(await refusal(assemble(keySlot(), { count })), `${count}`).toMatchObject({
        code: 'MALFORMED_HEADER',
        message: expect.stringMatching(new RegExp(`slot count ${count} is outside 1\\.\\.8`)),
      });
    // 8 is a count the field allows: the slots it promises are then missing.
    expect(await refusal(assemble(keySlot(), { count: 8 }))).toMatchObject({
      message: expect.stringMatching(/slot 2 is cut off/),
    });
  });

  it("each slot's prefix, then its body, must fit before the checksum", async () => {
    // Slot 2's 3-byte prefix cut after 2 bytes; then a whole prefix (of an empty password slot).
    expect(await refusal(assemble([...keySlot(), 0x02, 0], { count: 2 }))).toMatchObject({
      code: 'MALFORMED_HEADER',
      message: expect.stringMatching(/slot 2 is cut off/),
    });
    expect(await refusal(assemble([...keySlot(), 0x02, 0, 0], { count: 2 }))).toMatchObject({
      code: 'MALFORMED_HEADER',
      message: expect.stringMatching(/password slot body is 0 bytes, not 92/),
    });
    const overrun = assemble(keySlot());
    overrun.set(u16(81), 14);
    expect(await refusal(assemble([...overrun.subarray(13, 96)]))).toMatchObject({
      code: 'MALFORMED_HEADER',
      message: expect.stringMatching(/slot 1 \(81 bytes\) runs past the header/),
    });
  });

  it('an unknown slot type, then a known type of another length', async () => {
    for (const [type, hex] of [
      [0x00, '0x00'],
      [0x03, '0x03'],
      [0x0a, '0x0a'],
      [0xff, '0xff'],
    ] as const)
      expect(await refusal(assemble(keySlot(80, type))), hex).toMatchObject({
        code: 'UNKNOWN_SLOT_TYPE',
        message: expect.stringMatching(new RegExp(`slot 1 has unknown type ${hex}:`)),
      });
    expect(await refusal(assemble(keySlot(81)))).toMatchObject({
      code: 'MALFORMED_HEADER',
      message: expect.stringMatching(/backup-key slot body is 81 bytes, not 80/),
    });
    expect(await refusal(assemble([0x02, ...u16(91), ...fill(91, 0)]))).toMatchObject({
      code: 'MALFORMED_HEADER',
      message: expect.stringMatching(/password slot body is 91 bytes, not 92/),
    });
  });

  it('the last slot ends at the checksum; no two slots share a type', async () => {
    expect(await refusal(assemble([...keySlot(), 0]))).toMatchObject({
      code: 'MALFORMED_HEADER',
      message: expect.stringMatching(/1 bytes follow the last slot/),
    });
    expect(await refusal(assemble([...keySlot(), ...keySlot()], { count: 2 }))).toMatchObject({
      code: 'MALFORMED_HEADER',
      message: expect.stringMatching(/two key slots have the same type/),
    });
  });

  it("reads each slot's fields where §3.2 puts them, u32 parameters unsigned", () => {
    const slots = [...passwordSlot(0xfedcba98, 0x01020304, 0x80000001), ...keySlot()];
    const h = assemble(slots, { count: 2, flags: 0x01 });
    h.set(
      Array.from({ length: 80 }, (_, i) => i),
      13 + 15,
    ); // the password slot's salt ‖ wrapped key
    h.set(
      Array.from({ length: 80 }, (_, i) => 200 - i),
      13 + 95 + 3,
    ); // the backup-key slot's
    const parsed = parseHeader(assemble([...h.subarray(13, 13 + slots.length)], { count: 2, flags: 0x01 }));
    const [pw, key] = parsed.slots;
    expect(pw).toEqual({
      type: 'password',
      kdf: { m: 0xfedcba98, t: 0x01020304, p: 0x80000001 },
      salt: h.slice(28, 60),
      wrappedKey: h.slice(60, 108),
      aad: h.slice(13, 60),
    });
    expect(key).toEqual({
      type: 'backup-key',
      salt: h.slice(111, 143),
      wrappedKey: h.slice(143, 191),
      aad: h.slice(108, 143),
    });
    expect(parsed).toMatchObject({ version: 1, flags: 0x01 });
  });
});

// Built inside the tests, not while they are collected: a mutant that throws here must fail them.
let built: Promise<Record<'both' | 'keyOnly' | 'passwordOnly', Header>> | undefined;
const headers = () => {
  built ??= (async () => ({
    both: parseHeader(await buildHeader([{ type: 'backup-key', backupKey }, passwordSpec('pw')], fileKey, 0)),
    keyOnly: parseHeader(await buildHeader([{ type: 'backup-key', backupKey }], fileKey, 0)),
    passwordOnly: parseHeader(await buildHeader([passwordSpec('pw')], fileKey, 0)),
  }))();
  return built;
};

describe('unlockFileKey (SPEC.md §3.5)', () => {
  const wrongKey = new Uint8Array(32).fill(8);
  const unlock = (h: Header, credentials: Parameters<typeof unlockFileKey>[1], options = {}) =>
    failure(() => unlockFileKey(h, credentials, options));

  it('opens with either credential; the backup key first', async () => {
    const { both, passwordOnly } = await headers();
    expect(await unlockFileKey(both, { key: backupKey, password: 'not it' })).toEqual(fileKey);
    expect(await unlockFileKey(both, { key: wrongKey, password: 'pw' })).toEqual(fileKey);
    expect(await unlockFileKey(passwordOnly, { key: backupKey, password: 'pw' })).toEqual(fileKey);
  });

  it('names the credential that failed, WRONG_KEY first, NO_MATCHING_SLOT last', async () => {
    const { both, keyOnly, passwordOnly } = await headers();
    expect(await unlock(both, { key: wrongKey })).toMatchObject({
      code: 'WRONG_KEY',
      message: expect.stringMatching(/check the 64-digit code/),
    });
    expect(await unlock(both, { password: 'nope' })).toMatchObject({
      code: 'WRONG_PASSWORD',
      message: expect.stringMatching(/password does not open this backup/),
    });
    expect(await unlock(both, { key: wrongKey, password: 'nope' })).toMatchObject({ code: 'WRONG_KEY' });
    expect(await unlock(passwordOnly, { key: backupKey })).toMatchObject({
      code: 'NO_MATCHING_SLOT',
      message: expect.stringMatching(/no backup-key slot: it opens with a password/),
    });
    expect(await unlock(keyOnly, { password: 'pw' })).toMatchObject({
      code: 'NO_MATCHING_SLOT',
      message: expect.stringMatching(/no password slot: it opens with its backup key/),
    });
    expect(await unlock(passwordOnly, { key: backupKey, password: 'nope' })).toMatchObject({
      code: 'WRONG_PASSWORD',
    });
    expect(await unlock(keyOnly, { key: wrongKey, password: 'pw' })).toMatchObject({ code: 'WRONG_KEY' });
    expect(await unlock(both, {})).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/give a backup key, a password, or both/),
    });
    expect(await unlock(both, { key: new Uint8Array(31) })).toMatchObject({
      code: 'INVALID_KEY_SIZE',
      message: expect.stringMatching(/32 bytes, got 31/),
    });
  });

  it('bounds a password slot by the maxima before Argon2id, KDF_PARAMS after WRONG_KEY', async () => {
    const { both } = await headers();
    expect(await unlock(both, { password: 'pw' }, { kdfMaxima: { m: 63 } })).toMatchObject({
      code: 'KDF_PARAMS',
    });
    expect(await unlockFileKey(both, { password: 'pw' }, { kdfMaxima: { t: 1 } })).toEqual(fileKey);
    // 2 GiB: Argon2id would fail to allocate it; the default maxima refuse it first.
    const huge = parseHeader(assemble([...passwordSlot(2 ** 21, 1, 1)]));
    expect(await unlock(huge, { password: 'pw' })).toMatchObject({ code: 'KDF_PARAMS' });
    expect(await unlock(huge, { key: backupKey, password: 'pw' })).toMatchObject({ code: 'KDF_PARAMS' });
    expect(
      await unlock(parseHeader(assemble([...keySlot(), ...passwordSlot(2 ** 21, 1, 1)], { count: 2 })), {
        key: wrongKey,
        password: 'pw',
      }),
    ).toMatchObject({ code: 'WRONG_KEY' });
  });

  it('a password it cannot use is refused as such, not taken for a wrong one', async () => {
    const { both } = await headers();
    expect(await unlock(both, { key: wrongKey, password: '' })).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
