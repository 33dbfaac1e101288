// Typo recovery for crypt15: candidate keys screened on the first plaintext bytes.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { plausibleKey, screenTypedCode } from '../../src/whatsapp/recover.js';
import { xorshift } from '../util.js';
import { crypt15, zipOf } from './encoder.js';

const root = Uint8Array.from(randomBytes(32));
const code = Buffer.from(root).toString('hex');
const iv = Buffer.alloc(16, 3);
const db = Buffer.concat([Buffer.from('SQLite format 3\0'), randomBytes(3000), Buffer.alloc(5000, 97)]);
const ciphertextOf = (file: Uint8Array) => file.subarray(2 + file[0]!);
const file = crypt15({ root, iv, data: db });

describe('screenTypedCode', () => {
  it('takes the code as typed when it decrypts to a zlib stream or a ZIP archive', () => {
    expect(screenTypedCode(code, iv, ciphertextOf(file))).toEqual({ key: root, correction: null });
    const zip = crypt15({ root, iv, plaintext: zipOf('a', randomBytes(100)), md5: false });
    expect(screenTypedCode(code, iv, ciphertextOf(zip))?.correction).toBeNull();
  });

  it('finds the one-typo fix of each kind', () => {
    const other = (d: string) => (d === '0' ? '1' : '0');
    const at = 37;
    const typos = {
      substitution: code.slice(0, at) + other(code[at]!) + code.slice(at + 1),
      missing: code.slice(0, at) + code.slice(at + 1),
      extra: `${code.slice(0, at)}${other(code[at]!)}${code.slice(at)}`,
    };
    for (const [kind, typed] of Object.entries(typos)) {
      const found = screenTypedCode(typed, iv, ciphertextOf(file));
      expect(found?.correction?.kind, kind).toBe(kind);
      expect(Buffer.from(found!.key).equals(Buffer.from(root))).toBe(true);
    }
  });

  it('none for two typos or a wrong code; KEY_FORMAT for a code that is not 63-65 digits', () => {
    const twice = `${code.slice(0, 5)}${code[5] === 'a' ? 'b' : 'a'}${code.slice(6, 50)}${code[50] === 'a' ? 'b' : 'a'}${code.slice(51)}`;
    expect(screenTypedCode(twice, iv, ciphertextOf(file))).toBeUndefined();
    expect(screenTypedCode('00'.repeat(32), iv, ciphertextOf(file))).toBeUndefined();
    expect(() => screenTypedCode(code.slice(2), iv, ciphertextOf(file))).toThrow(
      expect.objectContaining({ code: 'KEY_FORMAT' }),
    );
  });

  it('screens out wrong keys: none of 20,000 (seeded) passes', () => {
    const next = xorshift(21);
    let passed = 0;
    for (let i = 0; i < 20000; i++) {
      const key = new Uint8Array(new Uint32Array(8).map(() => next()).buffer);
      if (plausibleKey(key, iv, ciphertextOf(file))) passed++;
    }
    expect(passed).toBe(0);
  });
});
