// SPEC.md §3.5's password rule (non-empty, valid Unicode, only code points Unicode 14.0.0
// assigns) and §7's order: the caller's arguments are refused before anything of the file is read.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { decryptBackupBytes, encryptBackupBytes } from '../src/container/backup.js';
import { E2EEError } from '../src/errors.js';
import { assignedInUnicode14, checkPassword } from '../src/key/password.js';
import { UNICODE_ASSIGNED_VERSION } from '../src/key/unicode-assigned.js';
import { deriveKeyFromPassword } from '../src/primitives/kdf.js';

const ROOT = resolve(import.meta.dirname, '..');
const PYTHON = '/usr/bin/python3';
const FAST = { kdf: { m: 64, t: 1, p: 1 }, allowWeakKdf: true } as const;

async function code(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
    return 'ok';
  } catch (e) {
    if (e instanceof E2EEError) return e.code;
    throw e;
  }
}

function python14(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import unicodedata; print(unicodedata.unidata_version)'], {
    encoding: 'utf8',
  });
  return r.status === 0 && r.stdout.trim() === '14.0.0' ? undefined : `${PYTHON} with Unicode 14.0.0 data`;
}
const missing = python14();

describe('the Unicode 14.0.0 table (src/key/unicode-assigned.ts)', () => {
  // CI runs Debian 12's python3 (3.11, Unicode 14.0.0): there it must run, elsewhere it may skip.
  it.skipIf(missing !== undefined && process.env.CI !== 'true')(
    'is exactly what scripts/unicode/assigned.py generates from Python 3.11’s unicodedata',
    () => {
      expect(missing).toBeUndefined();
      const dir = mkdtempSync(join(tmpdir(), 'e2ee-unicode-'));
      try {
        const out = join(dir, 'unicode-assigned.ts');
        const r = spawnSync(PYTHON, [join(ROOT, 'scripts/unicode/assigned.py'), '--out', out], {
          encoding: 'utf8',
        });
        expect(r.status, r.stderr).toBe(0);
        expect(readFileSync(out, 'utf8')).toBe(
          readFileSync(join(ROOT, 'src/key/unicode-assigned.ts'), 'utf8'),
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  it('assigns nothing this platform’s newer Unicode leaves unassigned (assignments are never withdrawn)', () => {
    expect(UNICODE_ASSIGNED_VERSION).toBe('14.0.0');
    const unassignedHere = /\p{Cn}/u;
    let assigned = 0;
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      if (!assignedInUnicode14(cp)) continue;
      assigned++;
      if (cp >= 0xd800 && cp <= 0xdfff) continue; // surrogates: Cs, not testable as a string
      if (unassignedHere.test(String.fromCodePoint(cp))) throw new Error(`U+${cp.toString(16)} is Cn here`);
    }
    // Unicode 14.0.0: 144,697 characters + 2,048 surrogates + 137,468 private use + 65 controls.
    expect(assigned).toBe(144697 + 2048 + 137468 + 65);
  });

  it('knows the characters Unicode 14.0 added, and not those of 15.0', () => {
    expect(assignedInUnicode14(0x41)).toBe(true);
    expect(assignedInUnicode14(0x1fae0)).toBe(true); // MELTING FACE, 14.0
    expect(assignedInUnicode14(0x1dfa)).toBe(true); // COMBINING DOT BELOW LEFT, 14.0
    expect(assignedInUnicode14(0xe000)).toBe(true); // private use
    expect(assignedInUnicode14(0x1fae8)).toBe(false); // SHAKING FACE, 15.0
    expect(assignedInUnicode14(0x10efd)).toBe(false); // ARABIC SMALL LOW WORD SAKTA, 15.0 (ccc 220)
    expect(assignedInUnicode14(0x0378)).toBe(false); // never assigned
    expect(assignedInUnicode14(0xfffe)).toBe(false); // a noncharacter
    expect(assignedInUnicode14(0x10ffff)).toBe(false);
  });
});

describe('checkPassword', () => {
  it('refuses empty, lone surrogates and code points Unicode 14.0 does not assign', async () => {
    for (const bad of ['', 'ab\ud800', '\udc00x', 'shaking \u{1fae8}', 'x\u0378', 'nonchar\uffff'])
      expect(await code(() => checkPassword(bad)), JSON.stringify(bad)).toBe('INVALID_ARGUMENT');
    for (const good of ['a', 'melting \u{1fae0}', 'a\u1dfa\u0301', '\u{e000}private', 'tab\there'])
      expect(await code(() => checkPassword(good)), JSON.stringify(good)).toBe('ok');
    expect(() => checkPassword('x\u{1fae8}')).toThrow(
      /U\+1FAE8 \(character 2\), which Unicode 14\.0\.0 does not assign/,
    );
  });

  it('deriveKeyFromPassword refuses a bad password before it looks at the parameters', async () => {
    const salt = new Uint8Array(16);
    expect(
      await code(deriveKeyFromPassword('\u{1fae8}', salt, { m: 0, t: 0, p: 0 }, { purpose: 'open' })),
    ).toBe('INVALID_ARGUMENT');
    expect(await code(deriveKeyFromPassword('', salt, { m: 2 ** 40, t: 1, p: 1 }, { purpose: 'open' }))).toBe(
      'INVALID_ARGUMENT',
    );
  });
});

describe('argument errors come before anything of the file (SPEC.md §7)', () => {
  const key = new Uint8Array(32).fill(7);
  const fiveBytes = new Uint8Array([0x89, 0x45, 0x32, 0x45, 0x45]);

  it('encryptBackup refuses a password with an unassigned code point', async () => {
    expect(await code(encryptBackupBytes(new Uint8Array(10), { password: 'pw \u{1fae8}', ...FAST }))).toBe(
      'INVALID_ARGUMENT',
    );
  });

  it('decryptBackup: a bad password, no credential, a bad key or bad maxima on a 5-byte file', async () => {
    expect(await code(decryptBackupBytes(fiveBytes, { password: '' }))).toBe('INVALID_ARGUMENT');
    expect(await code(decryptBackupBytes(fiveBytes, { password: 'a\ud800' }))).toBe('INVALID_ARGUMENT');
    expect(await code(decryptBackupBytes(fiveBytes, { password: '\u{1fae8}' }))).toBe('INVALID_ARGUMENT');
    expect(await code(decryptBackupBytes(fiveBytes, {}))).toBe('INVALID_ARGUMENT');
    expect(await code(decryptBackupBytes(fiveBytes, { key: new Uint8Array(31) }))).toBe('INVALID_KEY_SIZE');
    expect(await code(decryptBackupBytes(fiveBytes, { key, kdfMaxima: { m: Number.NaN } }))).toBe(
      'INVALID_ARGUMENT',
    );
    expect(await code(decryptBackupBytes(fiveBytes, { key }))).toBe('TRUNCATED');
  });

  it('a password is a string: bytes are refused, not used unnormalised (review of #16)', async () => {
    // The bytes of the NFC spelling used to open it as they were; those of the NFD spelling (the
    // same password to every other implementation, which normalises) said WRONG_PASSWORD.
    const password = 'caf\u00e9 au lait!';
    const ct = await encryptBackupBytes(new TextEncoder().encode('secret'), { password, ...FAST });
    expect(await code(decryptBackupBytes(ct, { password: 'cafe\u0301 au lait!', kdfMaxima: {} }))).toBe('ok');
    for (const bytes of [
      new TextEncoder().encode(password),
      new TextEncoder().encode('cafe\u0301 au lait!'),
      new Uint8Array([0xff]),
    ]) {
      const options = { password: bytes as unknown as string, kdfMaxima: {} };
      expect(await code(decryptBackupBytes(ct, options))).toBe('INVALID_ARGUMENT');
      expect(await code(decryptBackupBytes(fiveBytes, options))).toBe('INVALID_ARGUMENT');
      expect(await code(encryptBackupBytes(new Uint8Array(1), { ...options, ...FAST }))).toBe(
        'INVALID_ARGUMENT',
      );
    }
  });

  it('decryptBackup: the right backup key with an empty password is refused, not opened', async () => {
    const ct = await encryptBackupBytes(new TextEncoder().encode('hello'), { key });
    expect(await code(decryptBackupBytes(ct, { key }))).toBe('ok');
    expect(await code(decryptBackupBytes(ct, { key, password: '' }))).toBe('INVALID_ARGUMENT');
    expect(await code(decryptBackupBytes(ct, { key, password: 'x\u0378' }))).toBe('INVALID_ARGUMENT');
  });
});

describe('an engine whose NFC predates Unicode 14.0 (Hermes 0.12)', () => {
  /** The password module and the vault's password encoder, loaded where normalize() is old. */
  async function onOldEngine() {
    const real = String.prototype.normalize;
    // As Hermes 0.12 does: U+1DFA is unknown to it, so a string holding it is left alone.
    vi.spyOn(String.prototype, 'normalize').mockImplementation(function (this: string, form?: string) {
      return this.includes('\u1dfa') ? String(this) : real.call(this, form);
    });
    vi.resetModules();
    const password = await import('../src/key/password.js');
    const protocol = await import('../src/vault/protocol.js');
    return { password, protocol };
  }

  it('refuses (CRYPTO_PROVIDER) only passwords holding a character it may normalise wrongly', async () => {
    try {
      const { password, protocol } = await onOldEngine();
      expect(password.nfcPredatesUnicode14()).toBe(true);
      for (const pw of ['a\u1dfa\u0301', '\u00e1\u1dfa', 'x\u1ac1y'])
        for (const f of [() => password.checkPassword(pw), () => protocol.passwordBytes(pw)])
          expect(await code(f), JSON.stringify(pw)).toBe('CRYPTO_PROVIDER');
      // Unicode 3.2's combining marks and compositions, and new characters that compose with
      // nothing (an emoji of 14.0), normalise alike everywhere.
      for (const pw of ['caf\u00e9', 'cafe\u0301', '\u1e9b\u0323', '\u{1fae0} melt', '\uac00\u11a8'])
        for (const f of [() => password.checkPassword(pw), () => protocol.passwordBytes(pw)])
          expect(await code(f), JSON.stringify(pw)).toBe('ok');
    } finally {
      vi.restoreAllMocks();
      vi.resetModules();
    }
  });

  it('takes every password here, whose NFC knows Unicode 14.0', async () => {
    const { nfcPredatesUnicode14 } = await import('../src/key/password.js');
    expect(nfcPredatesUnicode14()).toBe(false);
    expect(await code(() => checkPassword('a\u1dfa\u0301'))).toBe('ok');
  });

  it.skipIf(missing !== undefined && process.env.CI !== 'true')(
    'has exactly the table scripts/unicode/nfc-new.py generates from Python 3.11’s unicodedata',
    () => {
      expect(missing).toBeUndefined();
      const dir = mkdtempSync(join(tmpdir(), 'e2ee-unicode-'));
      try {
        const out = join(dir, 'unicode-nfc-new.ts');
        const r = spawnSync(PYTHON, [join(ROOT, 'scripts/unicode/nfc-new.py'), '--out', out], {
          encoding: 'utf8',
        });
        expect(r.status, r.stderr).toBe(0);
        expect(readFileSync(out, 'utf8')).toBe(
          readFileSync(join(ROOT, 'src/key/unicode-nfc-new.ts'), 'utf8'),
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
