/**
 * Text from elsewhere (a vault server's error message, a file name) made safe to print on a
 * terminal: it cannot move the cursor, recolour or clear the screen, hide what follows, or start a
 * line of its own that looks like the tool's.
 *
 * @module
 */

// Controls (C0, DEL, C1: ESC starts every escape sequence, CSI U+009B is one by itself), format
// characters (bidirectional overrides and isolates, zero-width ones), line and paragraph
// separators, and lone surrogates.
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/gu;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` with every control, format or separator character written as a visible escape (`\x1b`,
 * `\n`, `\u{202e}`), and cut to `maxChars` code points (with `…`), so that one line stays one line.
 */
export function terminalSafe(text: string, maxChars = 500): string {
  const chars = [...text];
  const cut = chars.length > maxChars ? `${chars.slice(0, maxChars).join('')}…` : text;
  return cut.replace(UNPRINTABLE, (c) => {
    const named = NAMED[c];
    if (named) return named;
    const cp = c.codePointAt(0)!;
    return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u{${cp.toString(16)}}`;
  });
}
