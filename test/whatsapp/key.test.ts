import { hkdfSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseWhatsAppKey } from '../../src/whatsapp/index.js';
import { crypt15CipherKey } from '../../src/whatsapp/key.js';
import { keyFile } from './encoder.js';

const root = new Uint8Array(32).map((_, i) => 255 - i);
const hex = Buffer.from(root).toString('hex');

describe('parseWhatsAppKey', () => {
  it('reads the code in our tolerant spellings, the key file, a text file and the raw key', () => {
    for (const input of [
      hex,
      hex.toUpperCase(),
      hex.replace(/(.{4})(?!$)/g, '$1 '),
      ` ${hex.replace(/(.{8})(?!$)/g, '$1-')}\r\n`,
      new TextEncoder().encode(hex.replace(/(.{32})/, '$1\n')),
      keyFile(root),
      root,
    ])
      expect(Buffer.from(parseWhatsAppKey(input)).toString('hex')).toBe(hex);
  });

  it('returns a copy', () => {
    const file = keyFile(root);
    const key = parseWhatsAppKey(file);
    key.fill(0);
    expect(file.subarray(27).equals(Buffer.from(root))).toBe(true);
    const raw = Uint8Array.from(root);
    parseWhatsAppKey(raw).fill(0);
    expect(raw).toEqual(root);
  });

  it('the key file is the Java serialisation of a byte[32] (checked against its published layout)', () => {
    // aced 0005: stream magic and version; 75: TC_ARRAY; 72: TC_CLASSDESC; 0002 "[B";
    // serialVersionUID acf317f8060854e0; 02: SC_SERIALIZABLE; 0000 fields; 78: TC_ENDBLOCKDATA;
    // 70: TC_NULL (no superclass); 00000020: 32 elements.
    expect(keyFile(root).subarray(0, 27).toString('hex')).toBe(
      'aced0005757200025b42acf317f8060854e002000078700000' + '0020',
    );
  });

  it('names what it refuses', () => {
    const crypt14Key = Buffer.concat([
      keyFile(root).subarray(0, 23),
      Buffer.from([0, 0, 0, 131]),
      Buffer.alloc(131),
    ]);
    expect(() => parseWhatsAppKey(crypt14Key)).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_VERSION' }),
    );
    const cases: [unknown, string, RegExp][] = [
      [hex.slice(1), 'KEY_FORMAT', /63 digits/],
      [`${hex}0`, 'KEY_FORMAT', /65 digits/],
      [hex.replace('f', 'o'), 'KEY_FORMAT', /'o' is not a hex digit/],
      [keyFile(root).subarray(0, 58), 'KEY_FORMAT', /Java-serialised/],
      [Buffer.concat([keyFile(root), Buffer.from([0])]), 'KEY_FORMAT', /Java-serialised/],
      [Buffer.concat([Buffer.from('aced0005', 'hex'), Buffer.alloc(55)]), 'KEY_FORMAT', /Java-serialised/],
      [new Uint8Array(31), 'KEY_FORMAT', /none of them/],
      [Uint8Array.of(0xff, 0xfe, 0x30), 'KEY_FORMAT', /none of them/],
      [42, 'INVALID_ARGUMENT', /string or a Uint8Array/],
    ];
    for (const [input, code, message] of cases) {
      expect(() => parseWhatsAppKey(input as string)).toThrow(expect.objectContaining({ code }));
      expect(() => parseWhatsAppKey(input as string)).toThrow(message);
    }
  });
});

it('the AES key is HKDF-SHA-256(root, empty salt, "backup encryption", 32), as node:crypto computes it', () => {
  const want = Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), 'backup encryption', 32));
  expect(Buffer.from(crypt15CipherKey(root)).equals(want)).toBe(true);
  // An empty salt is HMAC's key padded with zeros: the same as wa-crypt-tools' 32 zero bytes.
  expect(Buffer.from(hkdfSync('sha256', root, Buffer.alloc(32), 'backup encryption', 32)).equals(want)).toBe(
    true,
  );
});
