/**
 * The one table that turns every failure into an exit status and a message of the form
 * `e2ee-backup: <problem>. <fix>`. Library errors are matched on their stable `code`, system
 * errors on their `errno` name, and the CLI's own failures are {@link CliError}s.
 *
 * @module
 */

import { E2EEError, type ErrorCode } from '../errors.js';
import { terminalSafe } from './terminal-text.js';

/** The documented exit statuses. */
export const EXIT = {
  /** Success. */
  OK: 0,
  /** Usage: bad flags or arguments, missing credentials, refusing to write to a terminal. */
  USAGE: 1,
  /** Wrong key or password, or a key code that cannot be read. */
  CREDENTIALS: 2,
  /** The input is corrupted, tampered with, truncated, or not a backup this version reads. */
  CORRUPT: 3,
  /** Reading or writing a file or a standard stream failed. */
  IO: 4,
  /** Interrupted by SIGINT or SIGTERM (128 + 2, the shell's convention). */
  INTERRUPTED: 130,
} as const;

/** One of {@link EXIT}'s values. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

interface Outcome {
  exit: ExitCode;
  /** What the user can do about it: the second sentence of the message. */
  fix: string;
}

const CHECK_SOURCE =
  'The file was damaged or modified after it was written: restore it from another copy, and do not trust any partial output';

/**
 * Every library error code with its exit status and advice. Typed as a total record so that a
 * code added to `ERROR_CODES` fails the type check until it is given a row here.
 */
export const ERROR_EXITS: Readonly<Record<ErrorCode, Outcome>> = {
  // 2: the credential is wrong (or unreadable) — asking the user again may help.
  WRONG_KEY: {
    exit: EXIT.CREDENTIALS,
    fix: 'Make sure it is the key of this backup; if the backup has a password slot, try --password',
  },
  WRONG_PASSWORD: {
    exit: EXIT.CREDENTIALS,
    fix: 'Check the password (it is case-sensitive), or open the backup with its 64-digit code (--key-file)',
  },
  NO_MATCHING_SLOT: {
    exit: EXIT.CREDENTIALS,
    fix: "Run 'e2ee-backup inspect FILE' to see which credentials this backup accepts",
  },
  KEY_FORMAT: {
    exit: EXIT.CREDENTIALS,
    fix: "A key file holds the 64 hex digits (0-9, a-f) of a backup key (spaces, dashes and line breaks are allowed), or is WhatsApp's 59-byte encrypted_backup.key",
  },
  // 3: the input is not what was written, or not something this version can read.
  CHUNK_AUTH: { exit: EXIT.CORRUPT, fix: CHECK_SOURCE },
  TRUNCATED: { exit: EXIT.CORRUPT, fix: 'The file is incomplete: copy or download it again' },
  TRAILING_DATA: {
    exit: EXIT.CORRUPT,
    fix: 'Something appended bytes to the file (a transfer in text mode, a concatenation): copy it again',
  },
  HEADER_AUTH: { exit: EXIT.CORRUPT, fix: CHECK_SOURCE },
  COMMITMENT_MISMATCH: { exit: EXIT.CORRUPT, fix: CHECK_SOURCE },
  MALFORMED_HEADER: {
    exit: EXIT.CORRUPT,
    fix: 'Check that this is the encrypted backup file, and that it is intact',
  },
  MALFORMED_PAYLOAD: { exit: EXIT.CORRUPT, fix: CHECK_SOURCE },
  BAD_PADDING: { exit: EXIT.CORRUPT, fix: CHECK_SOURCE },
  UNSUPPORTED_VERSION: { exit: EXIT.CORRUPT, fix: 'Install a newer e2ee-backup to read it' },
  UNKNOWN_FLAG: { exit: EXIT.CORRUPT, fix: 'Install a newer e2ee-backup to read it' },
  UNKNOWN_SLOT_TYPE: { exit: EXIT.CORRUPT, fix: 'Install a newer e2ee-backup to read it' },
  OUTPUT_LIMIT: { exit: EXIT.CORRUPT, fix: 'If you expect a backup this large, raise --max-output' },
  // Read from a file, Argon2id parameters beyond the maxima are the file's fault. Weak
  // parameters given on the command line are turned into usage errors before they get here.
  KDF_PARAMS: {
    exit: EXIT.CORRUPT,
    fix: 'The header asks for more Argon2id work than allowed; if you trust this file, raise --max-kdf-memory',
  },
  NEWEST_UNREADABLE: {
    exit: EXIT.CORRUPT,
    fix: "If it is this machine's backup, damaged, it is kept: give --newest-seen N (the newest generation made here); if it is another key's backup, or this is the first backup from this machine into that folder, add --allow-unreadable-newest",
  },
  ROLLBACK: {
    exit: EXIT.CORRUPT,
    fix: 'Find the newest copy; restore this one only if you know why it is older (--allow-rollback)',
  },
  MESSAGE_TOO_LARGE: { exit: EXIT.USAGE, fix: 'Split the input: one backup holds at most 4 PiB' },
  // 1: the call itself was wrong.
  INVALID_ARGUMENT: { exit: EXIT.USAGE, fix: "Run 'e2ee-backup help' for the accepted values" },
  INVALID_KEY_SIZE: { exit: EXIT.USAGE, fix: 'A backup key is 32 bytes, written as 64 hex digits' },
  CRYPTO_PROVIDER: {
    exit: EXIT.USAGE,
    fix: 'This runtime lacks a crypto primitive the library needs: run the CLI on Node 20.19 or later',
  },
  // 130: the user asked us to stop.
  ABORTED: { exit: EXIT.INTERRUPTED, fix: 'Nothing was written' },
  // 4: the file system or a stream failed.
  IO: { exit: EXIT.IO, fix: 'Check the path, the permissions and the free space' },
  // The vault (`e2ee-backup vault …`). A wrong vault password is WRONG_PASSWORD above (2; the
  // message says how many attempts are left). VAULT_LOCKED is 2 as well: it is the credential
  // that failed — for good — and the way out is another credential, the 64-digit code.
  SERVER_AUTH: { exit: EXIT.CORRUPT, fix: 'Check that you are talking to your own vault server' },
  VAULT_LOCKED: {
    exit: EXIT.CREDENTIALS,
    fix: 'Only the 64-digit code opens the backup now (--key-file); register it again with a new password',
  },
  VAULT_NOT_FOUND: {
    exit: EXIT.CREDENTIALS,
    fix: 'Check the account, or open the backup with its 64-digit code',
  },
  VAULT_PROTOCOL: { exit: EXIT.CORRUPT, fix: 'Update e2ee-backup and the vault server to matching versions' },
  // 4: temporary, like a network error: the same command may work later.
  VAULT_UNAVAILABLE: { exit: EXIT.IO, fix: 'Check the --url, the network and the server, then try again' },
  RATE_LIMITED: { exit: EXIT.IO, fix: 'Wait a while, then try again' },
  UNAUTHORIZED: {
    exit: EXIT.CREDENTIALS,
    fix: 'Give the key file of the backup key this account protects (--key-file)',
  },
};

/**
 * Advice that depends on what the vault said beyond the code (a `VaultError`'s
 * `remainingAttempts` or `retryAfterSeconds`); `undefined` when the table's row says it all.
 */
function vaultFix(err: E2EEError): string | undefined {
  const extra = err as { remainingAttempts?: unknown; retryAfterSeconds?: unknown };
  if (err.code === 'WRONG_PASSWORD' && typeof extra.remainingAttempts === 'number')
    return extra.remainingAttempts > 0
      ? 'Check the password (it is case-sensitive) and the account: when no attempts are left, the vault destroys the key for good'
      : ERROR_EXITS.VAULT_LOCKED.fix;
  if (err.code === 'RATE_LIMITED' && typeof extra.retryAfterSeconds === 'number')
    return `Wait ${Math.ceil(extra.retryAfterSeconds)} s, then try again`;
  return undefined;
}

/** System error names (Node's `err.code`), all exit 4, with advice. */
const SYSTEM_FIXES: Readonly<Record<string, string>> = {
  ENOENT: 'Check the path',
  EACCES: 'Check the permissions of the file and of its folder',
  EPERM: 'Check the permissions of the file and of its folder',
  EISDIR: 'Name a file, not a folder',
  ENOTDIR: 'A part of the path is not a folder: check the path',
  ENOSPC: 'Free some space and try again',
  EDQUOT: 'Free some space (you are over quota) and try again',
  EROFS: 'The file system is read-only: write somewhere else',
  EPIPE: 'The program reading the output stopped early; the output is incomplete',
  EEXIST: 'Remove the file first, or choose another name',
  EMFILE: 'Too many open files: close some programs and try again',
  EIO: 'The disk or device reported an error: check it',
  EFBIG: 'The file system does not accept files this large',
};

/**
 * A failure of the command-line tool itself (bad usage, a refused operation…), with its exit
 * status and advice. Library errors stay {@link E2EEError}s and are looked up in
 * {@link ERROR_EXITS}.
 */
export class CliError extends Error {
  /** The exit status. */
  readonly exitCode: ExitCode;
  /** The second sentence of the message: what to do about it. */
  readonly fix: string;

  constructor(exitCode: ExitCode, problem: string, fix: string, options?: { cause?: unknown }) {
    super(problem, options);
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.fix = fix;
  }
}

/** A {@link CliError} with exit status 1. */
export function usageError(problem: string, fix: string): CliError {
  return new CliError(EXIT.USAGE, problem, fix);
}

/** A system error such as Node's `ENOENT`: has a string `code` beginning with `E`. */
function systemCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? code : undefined;
}

const CONTEXT = Symbol('e2ee-backup.cli.context');

/**
 * Notes what was being done when a system error happened (`cannot read the key file k.txt`), so
 * that the message names the file; other errors pass through untouched. Returns `err`.
 */
export function withContext(err: unknown, context: string): unknown {
  if (systemCode(err) && typeof err === 'object' && err !== null && !(CONTEXT in err))
    Object.defineProperty(err, CONTEXT, { value: context });
  return err;
}

const NOTE = Symbol('e2ee-backup.cli.note');

/**
 * Adds a sentence to the message of `err` (for example that output already written to a pipe
 * must be discarded). Returns `err`.
 */
export function withNote(err: unknown, note: string): unknown {
  if (typeof err === 'object' && err !== null && !(NOTE in err))
    Object.defineProperty(err, NOTE, { value: note });
  return err;
}

const FIX = Symbol('e2ee-backup.cli.fix');

/**
 * Replaces the advice of `err`'s row in {@link ERROR_EXITS} with advice that fits what the
 * command knows (for example that a backup has no backup-key slot, so `--key-file` cannot help).
 * Returns `err`.
 */
export function withFix(err: unknown, fix: string): unknown {
  if (typeof err === 'object' && err !== null && !(FIX in err))
    Object.defineProperty(err, FIX, { value: fix });
  return err;
}

/** Ends a sentence: trims it and drops a final period so that one can be added. */
function sentence(text: string): string {
  const t = text.trim().replace(/\.+$/, '');
  return t.length > 0 ? t : 'unknown error';
}

/** What {@link describeError} decides for an error. */
export interface ErrorReport {
  exitCode: ExitCode;
  /** `e2ee-backup: <problem>. <fix>.`, one line, no stack. */
  message: string;
  /** The library's stable code or the system error name, when there is one. */
  code: string | undefined;
}

/**
 * The exit status and message for any thrown value. Unknown errors (bugs) exit 1 with the
 * message and a request to report them; the stack is printed only with `E2EE_BACKUP_DEBUG=1`.
 *
 * @param context - what was being done, prefixed to system errors (e.g. `cannot read backup.e2ee`).
 */
export function describeError(err: unknown, context?: string): ErrorReport {
  let exitCode: ExitCode;
  let problem: string;
  let fix: string;
  let code: string | undefined;
  if (err instanceof CliError) {
    ({ exitCode, fix } = err);
    problem = err.message;
  } else if (err instanceof E2EEError) {
    code = err.code;
    const row = ERROR_EXITS[err.code] ?? {
      exit: EXIT.USAGE,
      fix: 'Report this to the e2ee-backup maintainers',
    };
    exitCode = row.exit;
    fix = (err as { [FIX]?: string })[FIX] ?? vaultFix(err) ?? row.fix;
    problem = err.message;
  } else if (systemCode(err)) {
    code = systemCode(err)!;
    exitCode = EXIT.IO;
    fix = SYSTEM_FIXES[code] ?? 'Check the path, the permissions and the free space';
    const m = err instanceof Error ? err.message : String(err);
    // Node's messages read "ENOENT: no such file or directory, open 'x'": keep the middle part.
    const plain = m.replace(/^E[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
    const where = context ?? (err as { [CONTEXT]?: string })[CONTEXT];
    problem = where ? `${where}: ${plain}` : plain;
  } else {
    exitCode = EXIT.USAGE;
    problem = `unexpected error: ${err instanceof Error ? err.message : String(err)}`;
    fix = 'This is a bug: please report it, with the output of E2EE_BACKUP_DEBUG=1';
  }
  const note = typeof err === 'object' && err !== null ? (err as { [NOTE]?: string })[NOTE] : undefined;
  return {
    exitCode,
    code,
    // The problem may quote a vault server or a file name: neither may write to the terminal.
    message: `e2ee-backup: ${terminalSafe(sentence(problem))}. ${sentence(fix)}.${note ? ` ${sentence(note)}.` : ''}`,
  };
}
