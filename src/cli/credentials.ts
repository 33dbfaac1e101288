/**
 * Where keys and passwords come from. A key comes from a key file (`--key-file`); a password from
 * `--password-file`, the `E2EE_BACKUP_PASSWORD` variable, or a hidden prompt (`--password`) — never
 * from an argument value, which other users can read in the process list and which lands in
 * shell history.
 *
 * @module
 */

import { open } from 'node:fs/promises';
import { E2EEError } from '../errors.js';
import { toHex } from '../internal/bytes.js';
import { parseBackupKey } from '../key/backup-key.js';
import { type Argon2idParams, DEFAULT_KDF_PARAMS, validateKdfParams } from '../primitives/kdf.js';
import { isJavaSerialised, parseWhatsAppKey } from '../whatsapp/key.js';
import { NEW_PASSWORD_ENV, PASSWORD_ENV } from './env.js';
import { usageError, withContext } from './exit-codes.js';
import { openTerminal } from './tty.js';

export { NEW_PASSWORD_ENV, PASSWORD_ENV };

/** Argon2id parameters of `--insecure-fast-kdf`: 1 MiB, one pass, one lane. For tests only. */
export const INSECURE_FAST_KDF: Readonly<Argon2idParams> = Object.freeze({ m: 1024, t: 1, p: 1 });

// A key file holds one code, at most a few lines; anything bigger is the wrong file.
const MAX_KEY_FILE_BYTES = 4096;
const MAX_PASSWORD_FILE_BYTES = 65536;

/** The credential flags shared by `encrypt`, `decrypt` and `verify`. */
export interface CredentialFlags {
  keyFile?: string;
  password?: boolean;
  passwordFile?: string;
}

async function readSmallBytes(path: string, limit: number, what: string): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.alloc(limit + 1);
    const { bytesRead } = await handle.read(buf, 0, limit + 1, 0);
    if (bytesRead > limit)
      throw usageError(
        `${path} is larger than ${limit} bytes, too large for ${what}`,
        `Check that ${path} is the right file`,
      );
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function readSmallFile(path: string, limit: number, what: string, strictUtf8 = false): Promise<string> {
  const bytes = await readSmallBytes(path, limit, what);
  if (!strictUtf8) return bytes.toString('utf8');
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    // Decoded loosely, a byte that is not UTF-8 would become U+FFFD: another password.
    throw usageError(`${path} is not UTF-8 text`, `Save ${path} as UTF-8`);
  }
}

/**
 * The password in a password file: the text up to the first LF (U+000A), without it, and
 * without one CR (U+000D) just before it. So `echo`'s newline and a Windows editor's CRLF are
 * not part of the password, and nothing after the first line ever is.
 */
export function firstLine(text: string): string {
  const lf = text.indexOf('\n');
  const line = lf < 0 ? text : text.slice(0, lf);
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/** Warnings go through this, so that `--quiet` can silence them. */
export type Warn = (message: string) => void;

/**
 * What a key file holds: the code as typed (`text`), or the key of WhatsApp's 59-byte
 * `encrypted_backup.key` (`key`), which is binary and has no typos to fix.
 */
export type KeyFileContent = { readonly text: string } | { readonly key: Uint8Array };

/**
 * Reads a key file: a text file holding the 64-digit code, or WhatsApp's `encrypted_backup.key`
 * (a Java-serialised `byte[32]`, docs/whatsapp-crypt15.md §1), the same 256-bit key. The two
 * cannot be confused: a serialisation stream starts with the bytes `ac ed`, and 0xac cannot
 * start UTF-8 text. Any other Java-serialised file (the 158-byte crypt12/crypt14 key file, say)
 * is `KEY_FORMAT`.
 */
export async function readKeyFileContent(path: string, warn: Warn): Promise<KeyFileContent> {
  const bytes = await readSmallBytes(path, MAX_KEY_FILE_BYTES, 'a key file').catch((e: unknown) => {
    throw withContext(e, `cannot read the key file ${path}`);
  });
  await warnIfShared(path, warn);
  if (!isJavaSerialised(bytes)) return { text: bytes.toString('utf8') };
  try {
    return { key: parseWhatsAppKey(bytes) };
  } catch (e) {
    // The crypt12/crypt14 key file is UNSUPPORTED_VERSION to the WhatsApp API; here it is a key
    // file that is not one, like any other.
    throw new E2EEError('KEY_FORMAT', `${path}: ${(e as Error).message}`, { cause: e });
  } finally {
    bytes.fill(0);
  }
}

/**
 * The text of a key file, as typed or saved by the user (for WhatsApp's key file, its key as 64
 * digits). Not parsed here: `decrypt` feeds it to typo recovery, which accepts one digit too
 * many or too few.
 */
export async function readKeyFileText(path: string, warn: Warn): Promise<string> {
  const content = await readKeyFileContent(path, warn);
  if ('text' in content) return content.text;
  const code = toHex(content.key);
  content.key.fill(0);
  return code;
}

/** Reads and strictly parses a key file; `KEY_FORMAT` errors name the file. */
export async function readKeyFile(path: string, warn: Warn): Promise<Uint8Array> {
  const content = await readKeyFileContent(path, warn);
  if ('key' in content) return content.key;
  try {
    return parseBackupKey(content.text);
  } catch (e) {
    throw inKeyFile(e, path);
  }
}

/** Prefixes a `KEY_FORMAT` error with the key file's name. */
export function inKeyFile(e: unknown, path: string): unknown {
  if (e instanceof E2EEError && e.code === 'KEY_FORMAT')
    return new E2EEError('KEY_FORMAT', `${path}: ${e.message}`, { cause: e });
  return e;
}

/** Warns when others can read the key file (as ssh does for private keys). */
export async function warnIfShared(path: string, warn: Warn): Promise<void> {
  try {
    const handle = await open(path, 'r');
    const { mode } = await handle.stat();
    await handle.close();
    // Like ssh with private keys: a key others can read is a key others may have copied.
    if ((mode & 0o077) !== 0)
      warn(
        `e2ee-backup: warning: ${path} can be read by other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); protect it with 'chmod 600 ${path}'`,
      );
  } catch {
    // The read that follows reports the real problem.
  }
}

/** True when the flags or the environment ask for a password. */
export function wantsPassword(flags: CredentialFlags, env: NodeJS.ProcessEnv = process.env): boolean {
  return flags.password === true || flags.passwordFile !== undefined || Boolean(env[PASSWORD_ENV]);
}

/** How {@link obtainPassword} asks. */
export interface PasswordSource {
  /** Ask twice on the terminal. */
  confirm: boolean;
  /** The prompt's words (default `Password`), e.g. `New password`. */
  label?: string;
  /** The environment variable to read (default {@link PASSWORD_ENV}). */
  envName?: string;
}

/**
 * The password, from (in this order) `--password-file`, `E2EE_BACKUP_PASSWORD`, or a hidden
 * prompt on the terminal — asked twice when `confirm` is set, so that a typo cannot lock the user
 * out of a new backup.
 */
export async function obtainPassword(
  flags: CredentialFlags,
  { confirm, label = 'Password', envName = PASSWORD_ENV }: PasswordSource,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  if (flags.passwordFile !== undefined) {
    const text = await readSmallFile(
      flags.passwordFile,
      MAX_PASSWORD_FILE_BYTES,
      'a password file',
      true,
    ).catch((e: unknown) => {
      throw withContext(e, `cannot read the password file ${flags.passwordFile}`);
    });
    const password = firstLine(text);
    if (password.length === 0)
      throw usageError(
        `the first line of the password file ${flags.passwordFile} is empty`,
        'Put the password on its first line',
      );
    return password;
  }
  const fromEnv = env[envName];
  if (fromEnv) return fromEnv;
  const term = openTerminal(
    envName === PASSWORD_ENV
      ? `Give the password with --password-file FILE or the ${PASSWORD_ENV} environment variable, or use --key-file`
      : `Give the ${label.toLowerCase()} with the ${envName} environment variable`,
  );
  try {
    const password = await term.askHidden(`${label}:`);
    if (password.length === 0)
      throw usageError(`the ${label.toLowerCase()} is empty`, 'Type a password, or use --key-file');
    if (confirm && (await term.askHidden(`Repeat the ${label.toLowerCase()}:`)) !== password)
      throw usageError('the two passwords differ', 'Run the command again and type the same password twice');
    return password;
  } finally {
    term.close();
  }
}

/** The credential flags of the commands that write a new backup (`encrypt`, `backup create`). */
export interface NewBackupFlags extends CredentialFlags {
  /** Accept a password that setup would refuse as too easy to guess. */
  allowWeakPassword?: boolean;
}

/** Where {@link obtainPassword} will take the password from, in words. */
export function passwordOrigin(flags: CredentialFlags, env: NodeJS.ProcessEnv = process.env): string {
  if (flags.passwordFile !== undefined) return `the first line of ${flags.passwordFile}`;
  if (env[PASSWORD_ENV]) return `the ${PASSWORD_ENV} environment variable`;
  return 'the terminal';
}

/**
 * Says on stderr which key slots a new backup gets, and where its password comes from: to a
 * person (stderr a terminal, no `--quiet`) always; otherwise only when the password comes from
 * `E2EE_BACKUP_PASSWORD`, and then even with `--quiet`. The flags are in the command line a
 * script's author wrote; a variable inherited from the environment is the one source of a
 * password slot that the command line does not show, so it never adds one silently.
 */
export function announceSlots(
  flags: CredentialFlags,
  quiet: boolean,
  env: NodeJS.ProcessEnv = process.env,
  toPerson: boolean = process.stderr.isTTY === true,
): void {
  const password = wantsPassword(flags, env);
  const fromEnv = password && flags.passwordFile === undefined && Boolean(env[PASSWORD_ENV]);
  if (!fromEnv && (quiet || !toPerson)) return;
  const slots = [
    ...(flags.keyFile !== undefined ? [`a backup-key slot (the code in ${flags.keyFile})`] : []),
    ...(password ? [`a password slot (the password from ${passwordOrigin(flags, env)})`] : []),
  ];
  process.stderr.write(
    `e2ee-backup: the backup gets ${slots.join(' and ')}${slots.length > 1 ? '; either opens it' : ''}.\n`,
  );
}

/**
 * Refuses a password for a new password slot that `setup` and `vault register` would refuse
 * (`passwordWeakness`: shorter than 10 characters or a zxcvbn score under 3), unless
 * `--allow-weak-password`. A password slot can be guessed offline by whoever holds the file.
 */
export async function refuseWeakPassword(
  password: string,
  flags: NewBackupFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  if (flags.allowWeakPassword) return;
  const { passwordWeakness } = await import('../lifecycle/setup-flow.js');
  const weak = await passwordWeakness(password);
  if (weak)
    throw usageError(
      `the password (from ${passwordOrigin(flags, env)}) is too weak for a password slot: ${weak.error}${weak.feedback?.length ? ` (${weak.feedback.join(' ')})` : ''}`,
      'Anyone who holds the backup file can guess its password offline: choose a longer passphrase, such as four or more unrelated words, or add --allow-weak-password',
    );
}

/** The `--kdf-*` flags of `encrypt`. */
export interface KdfFlags {
  kdfMemory?: number;
  kdfIterations?: number;
  kdfParallelism?: number;
  allowWeakKdf?: boolean;
  insecureFastKdf?: boolean;
}

/**
 * Argon2id parameters for a new password slot, checked now so that weak or impossible values
 * are a usage error (exit 1) rather than a `KDF_PARAMS` error, which means a bad file (exit 3).
 */
export function kdfParams(flags: KdfFlags, warn: Warn): { kdf: Argon2idParams; allowWeakKdf: boolean } {
  if (flags.insecureFastKdf) {
    if (
      flags.kdfMemory !== undefined ||
      flags.kdfIterations !== undefined ||
      flags.kdfParallelism !== undefined
    )
      throw usageError(
        '--insecure-fast-kdf sets the Argon2id parameters itself',
        'Drop either it or the --kdf-* flags',
      );
    warn(
      'e2ee-backup: warning: --insecure-fast-kdf: the password slot uses Argon2id m=1 MiB, t=1, p=1 and is easy to brute-force (tests only)',
    );
    return { kdf: { ...INSECURE_FAST_KDF }, allowWeakKdf: true };
  }
  const kdf = {
    m: flags.kdfMemory ?? DEFAULT_KDF_PARAMS.m,
    t: flags.kdfIterations ?? DEFAULT_KDF_PARAMS.t,
    p: flags.kdfParallelism ?? DEFAULT_KDF_PARAMS.p,
  };
  const allowWeakKdf = flags.allowWeakKdf === true;
  try {
    validateKdfParams(kdf, { purpose: 'create', allowWeak: allowWeakKdf });
  } catch (e) {
    if (e instanceof E2EEError && e.code === 'KDF_PARAMS')
      throw usageError(
        e.message,
        allowWeakKdf
          ? 'Choose parameters within the bounds'
          : 'Raise --kdf-memory or --kdf-iterations, or add --allow-weak-kdf if this device cannot afford them',
      );
    throw e;
  }
  return { kdf, allowWeakKdf };
}
