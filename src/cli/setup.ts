/**
 * `e2ee-backup setup`: the library's setup flow ({@link createSetupFlow}) on a terminal. Choose a
 * 64-digit code or a password kept by a vault; for a code, read it, acknowledge each warning with
 * Enter, then type it back from your copy; for a password, type it twice (hidden), see the
 * strength estimator's advice when it is weak, and register it with the vault. Only at the
 * flow's `done` is the backup key saved (`--out`, mode 0600, atomically).
 *
 * Without a terminal — standard input is not one — the same flow runs for scripts, and stays as
 * strict: the code is printed on standard output and must come back on standard input (one line
 * per attempt). A script proves it kept the code by writing it back; no flag skips that check.
 * Warnings go to standard error and need no Enter; passwords come from `--password-file` or
 * `E2EE_BACKUP_PASSWORD`, never from an argument.
 *
 * @module
 */

import { createInterface } from 'node:readline';
import { E2EEError } from '../errors.js';
import { formatBackupKey } from '../key/backup-key.js';
import { createSetupFlow, type SetupMethod, type SetupState } from '../lifecycle/setup-flow.js';
import { type OpenedVault, prepareVault, type VaultFlags } from './commands/vault.js';
import type { Context } from './context.js';
import { obtainPassword, PASSWORD_ENV } from './credentials.js';
import { CliError, EXIT, usageError } from './exit-codes.js';
import { openKeyFile } from './io.js';
import { terminalSafe } from './terminal-text.js';
import { openTerminal, type Terminal } from './tty.js';

/** Flags of `setup`. */
export interface SetupFlags {
  /** `code` or `password`; asked on a terminal when absent, required without one. */
  method?: SetupMethod;
  /** Save the code of the backup key to this file (mode 0600); required for the code path. */
  out?: string;
  /** Replace an existing `out`. */
  force?: boolean;
  /** Type back this many groups of 4, chosen at random, instead of all 16. */
  confirmGroups?: number;
  /** The vault server (password path). */
  url?: string;
  /** The vault account (password path). */
  account?: string;
  /** Read the password from the first line of this file. */
  passwordFile?: string;
  /** INSECURE, for tests and demos: register with Argon2id m=1 MiB, t=1, p=1. */
  insecureFastKdf?: boolean;
  /** The fingerprint the vault's key must have (password path); see `vault register`. */
  serverKey?: string;
  /** SHA-256 of the vault's TLS public key (password path); see `vault register`. */
  tlsPin?: string;
  /** Accepted for the shared option, but refused: setup registers, which needs TLS or loopback. */
  insecureHttp?: boolean;
  /** No summary; without a terminal, no warnings on stderr either. */
  quiet?: boolean;
}

/** Wrong entries of the code before it is shown again (the flow's default, named for the prompt). */
export const SETUP_CODE_ATTEMPTS = 3;

type State<S extends SetupState['step']> = Extract<SetupState, { step: S }>;

/**
 * What the driver needs from the other end: a person at the terminal, or a script on the standard
 * streams. Each method shows one screen of the flow and returns what was answered.
 */
interface Screen {
  chooseMethod(): Promise<SetupMethod>;
  /** Shows the code; `again` after too many wrong entries. Returns once it is acknowledged. */
  showCode(code: string, again: boolean): Promise<void>;
  /** Shows a warning; returns once it is acknowledged. */
  warn(s: State<'warn'>): Promise<void>;
  /** The code (or the groups asked for), as typed back. */
  typeBack(s: State<'confirm-code'>): Promise<string>;
  newPassword(s: State<'enter-password'>): Promise<string>;
  repeatPassword(): Promise<string>;
  /** Whether to try the vault again after `error`. */
  offerRetry(error: string): Promise<boolean>;
  /** A line for the person: progress and the summary. */
  say(text: string): void;
  close(): void;
}

const interrupted = () => new CliError(EXIT.INTERRUPTED, 'interrupted', 'Nothing was written');

/** `p`, or a rejection as soon as Ctrl-C fires: a pending read must not delay the clean-up. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(interrupted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(interrupted());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** `Character 1 'z' is not…`: the flow's and the parser's messages, as the user's next line. */
function refusal(error: string): string {
  return error.replace(/^backup key code: /, '');
}

function groupList(groups: readonly number[]): string {
  return groups.length === 1
    ? `group ${groups[0]}`
    : `groups ${groups.slice(0, -1).join(', ')} and ${groups[groups.length - 1]}`;
}

/**
 * When only some groups are asked for, the whole code typed back proves at least as much: keep
 * the groups asked for, so that a script can always answer with the line it was given.
 */
function askedGroups(typed: string, groups: readonly number[]): string {
  const digits = typed.replace(/[\s-]/g, '').toLowerCase();
  if (groups.length === 16 || !/^[0-9a-f]{64}$/.test(digits)) return typed;
  return groups.map((g) => digits.slice((g - 1) * 4, g * 4)).join(' ');
}

/** Quotes a path for the command lines the summary suggests. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

// Shown on the alternate screen so that it is gone when the user types it back from their copy.
const ALT_SCREEN_ON = '\x1b[?1049h\x1b[H';
const ALT_SCREEN_OFF = '\x1b[?1049l';

/** The person at the terminal: everything on `/dev/tty`, Enter to acknowledge. */
function terminalScreen(term: Terminal, signal: AbortSignal): Screen {
  const ask = (prompt: string) => untilAborted(term.ask(prompt), signal);
  const askHidden = (prompt: string) => untilAborted(term.askHidden(prompt), signal);
  const altScreen = process.env['TERM'] !== undefined && process.env['TERM'] !== 'dumb';
  let onAltScreen = false;
  const leaveAltScreen = () => {
    if (onAltScreen) term.say(ALT_SCREEN_OFF);
    onAltScreen = false;
  };
  let askedPassword = false;
  return {
    async chooseMethod() {
      term.say('How do you want to protect your backup key?');
      term.say('  code      a 64-digit code you write down or keep in a password manager');
      term.say('  password  a password you can remember; a vault (--url, --account) keeps the key behind it');
      for (;;) {
        const answer = (await ask('Method [code/password]: ')).trim().toLowerCase();
        if (answer === 'code' || answer === 'c') return 'code';
        if (answer === 'password' || answer === 'p') return 'password';
        term.say("Type 'code' or 'password'.");
      }
    },
    async showCode(code, again) {
      if (altScreen && !onAltScreen) {
        term.say(ALT_SCREEN_ON);
        onAltScreen = true;
      }
      if (again)
        term.say(
          `The code typed back did not match ${SETUP_CODE_ATTEMPTS} times. Here it is again: check your copy against it.\n`,
        );
      term.say('Your backup key code:\n');
      term.say(`    ${code}\n`);
      term.say(
        'Write it down or store it in a password manager. It leaves the screen before you type it back.',
      );
      await ask('Press Enter once you have saved it: ');
    },
    async warn(s) {
      term.say(`\nWarning ${s.index} of ${s.of}: ${s.warning}`);
      await ask('Press Enter to confirm you have read it: ');
    },
    async typeBack(s) {
      if (s.attempts === 0 && s.error === undefined) {
        leaveAltScreen();
        term.say(
          s.groups.length === 16
            ? 'To check that you saved it, type the code back from your copy (spaces and dashes are optional).'
            : `To check that you saved it, type ${groupList(s.groups)} of the code from your copy.`,
        );
      }
      if (s.error !== undefined) term.say(`Not confirmed: ${refusal(s.error)}.`);
      return ask(`Code (${s.attempts + 1}/${SETUP_CODE_ATTEMPTS}): `);
    },
    async newPassword(s) {
      if (s.error !== undefined) {
        term.say(`Refused: ${s.error}.`);
        for (const line of s.feedback ?? []) term.say(`  - ${line}`);
      } else if (!askedPassword)
        term.say(
          'Choose the password for the vault: at least 10 characters, hard to guess (nothing is shown as you type).',
        );
      askedPassword = true;
      return askHidden('New password: ');
    },
    repeatPassword: () => askHidden('Repeat the password: '),
    async offerRetry(error) {
      term.say(`The vault did not take it: ${terminalSafe(error)}.`);
      const answer = (await ask('Try again? [Y/n]: ')).trim().toLowerCase();
      return answer === '' || answer === 'y' || answer === 'yes';
    },
    say: (text) => term.say(text),
    close() {
      leaveAltScreen();
      term.close();
    },
  };
}

/**
 * A script on the standard streams: the code on stdout, typed back on stdin, one attempt per
 * line; everything for a person on stderr.
 */
function scriptScreen(ctx: Context): Screen {
  const note = (text: string) => process.stderr.write(`${text}\n`);
  // Opened on the first read only: the password path never touches standard input.
  let lines: AsyncIterator<string> | undefined;
  let rl: ReturnType<typeof createInterface> | undefined;
  const noTerminal = () =>
    usageError(
      'there is no terminal to ask for the password on',
      `Give it with --password-file FILE or the ${PASSWORD_ENV} environment variable`,
    );
  return {
    async chooseMethod() {
      throw usageError(
        'without a terminal, setup needs --method',
        'Add --method code or --method password (see e2ee-backup setup --help)',
      );
    },
    async showCode(code, again) {
      if (again)
        note(
          `e2ee-backup: the code typed back did not match ${SETUP_CODE_ATTEMPTS} times; it is on standard output again: check your copy.`,
        );
      else
        ctx.warn(
          'Your backup key code is on standard output. To confirm that you saved it, write it back on standard input (one line).',
        );
      process.stdout.write(`${code}\n`);
    },
    async warn(s) {
      ctx.warn(`Warning ${s.index} of ${s.of}: ${s.warning}`);
    },
    async typeBack(s) {
      if (s.error !== undefined)
        note(`e2ee-backup: not confirmed (${s.attempts}/${SETUP_CODE_ATTEMPTS}): ${refusal(s.error)}.`);
      else if (s.attempts === 0 && s.groups.length < 16)
        ctx.warn(`Type back ${groupList(s.groups)} of the code (or the whole code).`);
      if (!lines) {
        rl = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
        lines = rl[Symbol.asyncIterator]();
      }
      const next = await untilAborted(lines.next(), ctx.signal);
      if (next.done)
        throw new CliError(
          EXIT.CREDENTIALS,
          'standard input ended before the code was typed back, so it does not count as saved',
          'Write the code from standard output back to standard input, one line; no key file was written',
        );
      return next.value;
    },
    async newPassword() {
      throw noTerminal();
    },
    async repeatPassword() {
      throw noTerminal();
    },
    async offerRetry() {
      return false;
    },
    say: (text) => ctx.warn(text),
    close() {
      rl?.close();
      // Stop reading, so that the process can exit while the writer still holds the pipe open.
      if (rl) process.stdin.destroy();
    },
  };
}

/** Checks the flags that can be checked before anything is shown. */
function checkFlags(flags: SetupFlags, onTerminal: boolean): void {
  if ((flags.url === undefined) !== (flags.account === undefined))
    throw usageError(
      flags.url === undefined ? '--account needs --url' : '--url needs --account',
      'Give the vault server and the account together',
    );
  if (flags.method === 'code' && flags.url !== undefined)
    throw usageError(
      '--url and --account are for --method password',
      'Drop them, or choose --method password',
    );
  if (flags.method === undefined && !onTerminal)
    throw usageError(
      'without a terminal, setup needs --method',
      'Add --method code or --method password (see e2ee-backup setup --help)',
    );
}

/** Checks that the chosen method can be carried out with these flags. */
function checkMethod(method: SetupMethod, flags: SetupFlags): void {
  // The backup commands read the key from a file: a code kept only on paper would have to be
  // typed into one before the first backup.
  if (method === 'code' && flags.out === undefined)
    throw usageError(
      'the code path needs --out FILE, where the backup commands will read the key',
      'Add --out backup.key (it is written with mode 0600)',
    );
  if (method === 'password' && flags.url === undefined)
    throw usageError(
      'the password path needs a vault to keep the key behind the password',
      'Add --url URL --account NAME (start one with e2ee-backup vault serve)',
    );
}

/** Vault errors worth another try on the spot; the others need a different command. */
function retryable(e: unknown): boolean {
  return e instanceof E2EEError && (e.code === 'VAULT_UNAVAILABLE' || e.code === 'RATE_LIMITED');
}

/** Runs `setup`. */
export async function setup(flags: SetupFlags, ctx: Context): Promise<void> {
  const onTerminal = process.stdin.isTTY === true;
  checkFlags(flags, onTerminal);
  if (flags.method !== undefined) checkMethod(flags.method, flags);
  // Ctrl-C removes the temporary file.
  const out = flags.out !== undefined ? await openKeyFile(flags.out, flags.force) : undefined;
  let screen: Screen | undefined;
  try {
    screen = onTerminal
      ? terminalScreen(
          openTerminal(
            'Run setup with standard input redirected, as a script (see e2ee-backup setup --help)',
          ),
          ctx.signal,
        )
      : scriptScreen(ctx);
    const { method, backupKey } = await drive(flags, ctx, screen);
    try {
      if (out) {
        await out.write(new TextEncoder().encode(`${formatBackupKey(backupKey)}\n`));
        await out.commit();
      }
    } finally {
      backupKey.fill(0);
    }
    if (!flags.quiet) for (const line of summary(method, flags)) screen.say(line);
  } catch (e) {
    await out?.abort();
    throw e;
  } finally {
    screen?.close();
  }
}

/** Runs the flow to `done`, one screen per state. */
async function drive(flags: SetupFlags, ctx: Context, screen: Screen): Promise<State<'done'>> {
  const step = <T>(p: Promise<T>) => untilAborted(p, ctx.signal);
  let registerError: unknown;
  let connect: (() => Promise<OpenedVault>) | undefined;
  let vault: OpenedVault | undefined;
  const flow = createSetupFlow({
    confirmGroups: flags.confirmGroups ?? 'all',
    maxCodeAttempts: SETUP_CODE_ATTEMPTS,
    // Only reached on the password path, once checkMethod has seen --url and --account.
    registerPassword: async (password, backupKey) => {
      try {
        // The server is asked for its key here, so that a vault that cannot be reached is
        // offered another try like any failed registration.
        vault ??= await connect!();
        await vault.vault.register({ account: flags.account!, password, backupKey });
      } catch (e) {
        registerError = e;
        throw e;
      }
    },
  });
  // From --password-file or the environment: one answer, so a refusal ends the command.
  let given: string | undefined;
  let codeShown = false;
  for (;;) {
    const s = flow.state;
    switch (s.step) {
      case 'choose': {
        const method = flags.method ?? (await screen.chooseMethod());
        checkMethod(method, flags);
        if (method === 'password') {
          // Checked before the password is asked for: the channel and the --server-key and --tls-pin spellings.
          connect = prepareVault(flags as VaultFlags, ctx, {
            command: 'setup',
            registering: true,
            sends: 'registration',
          });
          if (flags.passwordFile !== undefined || process.env[PASSWORD_ENV])
            given = await obtainPassword(flags, { confirm: false });
        }
        await flow.choose(method);
        break;
      }
      case 'show-code':
        await screen.showCode(s.code, codeShown);
        codeShown = true;
        await flow.acknowledge();
        break;
      case 'warn': {
        await screen.warn(s);
        // The last password warning registers with the vault: Argon2id and two round trips.
        if (s.method === 'password' && s.index === s.of)
          screen.say(`Registering with the vault at ${flags.url}…`);
        await step(flow.acknowledge());
        break;
      }
      case 'confirm-code':
        await step(flow.enterCode(askedGroups(await screen.typeBack(s), s.groups)));
        break;
      case 'enter-password':
        if (given === undefined) await step(flow.enterPassword(await screen.newPassword(s)));
        else if (s.error === undefined) await step(flow.enterPassword(given));
        else
          throw usageError(
            `the password was refused: ${s.error}${s.feedback?.length ? ` (${s.feedback.join(' ')})` : ''}`,
            'Choose a longer one that is harder to guess, such as four or five random words',
          );
        break;
      case 'confirm-password':
        await step(flow.confirmPassword(given ?? (await screen.repeatPassword())));
        break;
      case 'register-failed': {
        const e = registerError;
        if (e instanceof E2EEError && e.code === 'UNAUTHORIZED')
          throw new CliError(
            EXIT.CREDENTIALS,
            `the vault already holds another backup key for '${flags.account}'`,
            "Choose another --account, or get that key back with 'e2ee-backup vault recover'",
            { cause: e },
          );
        if (!retryable(e) || !(await screen.offerRetry(s.error))) throw e;
        screen.say(`Registering with the vault at ${flags.url}…`);
        await step(flow.retry());
        break;
      }
      case 'done':
        if (s.method === 'code') screen.say('Confirmed: the code matches.');
        else await vault!.registered();
        return s;
    }
  }
}

/** What is now enabled, and the next command to run. */
function summary(method: SetupMethod, flags: SetupFlags): string[] {
  const out = flags.out === undefined ? undefined : shellWord(flags.out);
  const lines = ['Setup complete: encrypted backup is enabled.'];
  if (method === 'code')
    lines.push(
      `The backup key is your 64-digit code; a copy is in ${out} (mode 0600, readable by you only).`,
    );
  else
    lines.push(
      `The vault at ${flags.url} keeps the backup key of '${flags.account}' behind your password; 10 wrong passwords in a row destroy it.`,
      out === undefined
        ? 'No key file was written: the key lives only in the vault.'
        : `A copy of the key is in ${out} (mode 0600, readable by you only).`,
    );
  const keyFile = out ?? 'backup.key';
  if (out === undefined)
    lines.push(
      'Next, fetch the key on this or another device, then back up:',
      `  e2ee-backup vault recover --url ${shellWord(flags.url!)} --account ${shellWord(flags.account!)} -o ${keyFile}`,
    );
  else lines.push('Next, back up:');
  lines.push(`  e2ee-backup backup create FILE --store DIR --key-file ${keyFile}`);
  return lines;
}
