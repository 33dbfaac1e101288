// Text from a vault server (or a file name) printed on a terminal: one function makes it inert.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeError } from '../../src/cli/exit-codes.js';
import { terminalSafe } from '../../src/cli/terminal-text.js';
import { VaultError } from '../../src/vault/client.js';

// Anything a terminal could act on: C0 and C1 controls, DEL, format and separator characters.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const ACTIVE = /[\u0000-\u001f\u007f-\u009f\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

describe('terminalSafe', () => {
  it('writes escape sequences, fake lines and bidirectional overrides as visible text', () => {
    expect(terminalSafe('\x1b[2J\x1b[1;31mred')).toBe('\\x1b[2J\\x1b[1;31mred');
    expect(terminalSafe('wrong password.\ne2ee-backup: done. Nothing to do.')).toBe(
      'wrong password.\\ne2ee-backup: done. Nothing to do.',
    );
    expect(terminalSafe('over\rwrite')).toBe('over\\rwrite');
    expect(terminalSafe('\u009b2J')).toBe('\\x9b2J'); // CSI as one C1 character
    expect(terminalSafe('\x07bell\x00nul\x7f')).toBe('\\x07bell\\x00nul\\x7f');
    expect(terminalSafe('abc\u202edcba')).toBe('abc\\u{202e}dcba');
    expect(terminalSafe('a\u2028b\u2029c')).toBe('a\\u{2028}b\\u{2029}c');
    expect(terminalSafe('lone \ud800')).toBe('lone \\u{d800}');
    expect(terminalSafe('caf\u00e9 👍 李 tab\there')).toBe('caf\u00e9 👍 李 tab\\there');
  });

  it('keeps one line one line, whatever the input, and bounds its length', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
        const out = terminalSafe(text);
        expect(ACTIVE.test(out)).toBe(false);
      }),
    );
    expect(terminalSafe('x'.repeat(1000))).toBe(`${'x'.repeat(500)}…`);
    expect(terminalSafe('x'.repeat(20), 5)).toBe('xxxxx…');
  });

  it('is what the CLI prints for a vault error', () => {
    const err = new VaultError(
      'VAULT_PROTOCOL',
      'bad\x1b]0;owned\x07 request\n\x1b[2Ke2ee-backup: Registered. Your key is safe.',
    );
    const { message } = describeError(err);
    expect(ACTIVE.test(message)).toBe(false);
    expect(message).toBe(
      'e2ee-backup: bad\\x1b]0;owned\\x07 request\\n\\x1b[2Ke2ee-backup: Registered. Your key is safe. Update e2ee-backup and the vault server to matching versions.',
    );
  });
});
