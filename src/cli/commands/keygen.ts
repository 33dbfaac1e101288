/**
 * `e2ee-backup keygen`: a new backup key, shown as its 64-digit code, with the warning that a lost
 * code means a lost backup and — when a person is at the terminal — a type-back check before the
 * code counts as saved (the user proves they wrote it down, as WhatsApp asks).
 *
 * @module
 */

import { E2EEError } from '../../errors.js';
import { formatBackupKey, generateBackupKey, parseBackupKey } from '../../key/backup-key.js';
import type { Context } from '../context.js';
import { CliError, EXIT } from '../exit-codes.js';
import { openKeyFile } from '../io.js';
import { interactive, openTerminal } from '../tty.js';

/** Flags of `keygen`. */
export interface KeygenFlags {
  /** Also write the code to this file, mode 0600. */
  out?: string;
  /** Replace an existing `out`. */
  force?: boolean;
  /** Print `{ "code": …, "savedTo": … }` instead of text. */
  json?: boolean;
  /** `--no-confirm` sets this to false: skip the type-back check. */
  confirm?: boolean;
}

/** How many times the user may type the code back. */
export const TYPE_BACK_ATTEMPTS = 3;

/** The warning shown with every new code. */
export const KEY_WARNING = [
  'Write this code down or store it in a password manager, away from this device.',
  'It opens every backup made with it: anyone who has it can read them, and if you lose it',
  '(and no password slot or vault can open the backup), the backup is lost for good.',
  'Nobody can recover it for you.',
].join('\n');

/** Runs `keygen`. */
export async function keygen(flags: KeygenFlags, ctx: Context): Promise<void> {
  const out = flags.out !== undefined ? await openKeyFile(flags.out, flags.force) : undefined;
  const key = generateBackupKey();
  const code = formatBackupKey(key);
  try {
    if (!flags.json) {
      process.stdout.write(`${code}\n`);
      ctx.warn(`\n${KEY_WARNING}\n`);
      if (interactive() && flags.confirm !== false) await confirmTypedBack(code, key);
    }
    if (out) {
      await out.write(new TextEncoder().encode(`${code}\n`));
      await out.commit();
    }
  } catch (e) {
    await out?.abort();
    throw e;
  }
  if (out && !flags.json) ctx.info(`Saved to ${flags.out} (mode 0600, readable by you only).`);
  if (flags.json) process.stdout.write(`${JSON.stringify({ code, savedTo: flags.out ?? null })}\n`);
}

/**
 * Asks the user to type the code back, tolerating case, spaces and dashes, and says which groups
 * differ so that the written copy can be fixed. Fails after {@link TYPE_BACK_ATTEMPTS} misses.
 */
async function confirmTypedBack(code: string, key: Uint8Array): Promise<void> {
  const term = openTerminal('Run keygen with --no-confirm');
  try {
    term.say('To check that you saved it, type the code back (spaces and dashes are optional).');
    for (let attempt = 1; attempt <= TYPE_BACK_ATTEMPTS; attempt++) {
      const verdict = judge(await term.ask(`Code (${attempt}/${TYPE_BACK_ATTEMPTS}):`), code, key);
      if (verdict === undefined) {
        term.say('Confirmed: the code matches. It counts as saved.');
        return;
      }
      term.say(verdict);
    }
  } finally {
    term.close();
  }
  throw new CliError(
    EXIT.CREDENTIALS,
    `the code typed back did not match ${TYPE_BACK_ATTEMPTS} times, so it does not count as saved`,
    'Run e2ee-backup keygen again and copy the new code carefully; no key file was written',
  );
}

/** `undefined` when `typed` is the code; otherwise what is wrong with it, for the user. */
function judge(typed: string, code: string, key: Uint8Array): string | undefined {
  try {
    const got = parseBackupKey(typed);
    if (got.every((b, i) => b === key[i])) return undefined;
  } catch (e) {
    if (e instanceof E2EEError && e.code === 'KEY_FORMAT')
      return `That is not the code: ${e.message.replace(/^backup key code: /, '')}.`;
    throw e;
  }
  const want = code.split(' ');
  const have =
    typed
      .toLowerCase()
      .replace(/[\s-]/g, '')
      .match(/.{1,4}/g) ?? [];
  const differ = want.flatMap((g, i) => (have[i] === g ? [] : [i + 1]));
  return `That is not the code: group${differ.length === 1 ? '' : 's'} ${differ.join(', ')} differ${differ.length === 1 ? 's' : ''}. Check your copy.`;
}
