/**
 * Talking to the person at the terminal. Prompts go through `/dev/tty`, not stdin/stdout, so that
 * `e2ee-backup encrypt --password < data > data.e2ee` can still ask for a password while the
 * standard streams carry the data (as ssh, gpg and age do).
 *
 * @module
 */

import { openSync } from 'node:fs';
import tty from 'node:tty';
import { CliError, EXIT, usageError } from './exit-codes.js';

/** An open terminal: the controlling terminal of the process. */
export interface Terminal {
  /** Asks a question; what is typed is echoed. */
  ask(prompt: string): Promise<string>;
  /** Asks for a secret; nothing at all is echoed, not even asterisks (they would leak the length). */
  askHidden(prompt: string): Promise<string>;
  /** Writes a line to the terminal. */
  say(text: string): void;
  close(): void;
}

/**
 * Opens the controlling terminal, or fails with a usage error that names the alternatives.
 *
 * @param alternatives - the sentence telling the user what to do without a terminal.
 */
export function openTerminal(alternatives: string): Terminal {
  let input: tty.ReadStream;
  let output: tty.WriteStream;
  try {
    input = new tty.ReadStream(openSync('/dev/tty', 'r'));
    output = new tty.WriteStream(openSync('/dev/tty', 'w'));
  } catch {
    throw usageError('there is no terminal to ask on', alternatives);
  }
  const prompt = async (text: string, silent: boolean) => {
    // Loaded on first use: most runs never prompt.
    const { read } = await import('read');
    try {
      // `read` mutes its output stream while the user types when `silent` is set; `replace: ''`
      // keeps it from printing a mask character per keystroke.
      const answer = await read({ prompt: text, silent, replace: '', input, output });
      if (silent) output.write('\n');
      return answer;
    } catch (e) {
      // readline reports Ctrl-C in raw mode as 'canceled' instead of a signal.
      if (e instanceof Error && e.message === 'canceled') {
        output.write('\n');
        throw new CliError(EXIT.INTERRUPTED, 'interrupted', 'Nothing was written');
      }
      throw e;
    }
  };
  return {
    ask: (text) => prompt(text, false),
    askHidden: (text) => prompt(text, true),
    say: (text) => output.write(`${text}\n`),
    close() {
      input.destroy();
      output.destroy();
    },
  };
}

/** True when a person is likely watching: stdin, stdout and stderr are all terminals. */
export function interactive(): boolean {
  return process.stdin.isTTY === true && process.stdout.isTTY === true && process.stderr.isTTY === true;
}
