#!/usr/bin/env node
/**
 * The `e2ee-backup` command: argument parsing (commander), signal handling and the one place
 * where failures become exit statuses and messages (see ./exit-codes.ts).
 *
 * @module
 */

import { Command, CommanderError, Option } from 'commander';
import { version } from '../../package.json';
import { byteSize, collectMeta, compressionMode, integerIn, kdfMemoryKib } from './args.js';
import { decrypt } from './commands/decrypt.js';
import { encrypt } from './commands/encrypt.js';
import { inspect } from './commands/inspect.js';
import { keygen } from './commands/keygen.js';
import { verify } from './commands/verify.js';
import { createContext } from './context.js';
import { PASSWORD_ENV } from './credentials.js';
import { describeError, EXIT } from './exit-codes.js';
import { runPendingCleanupsSync } from './io.js';

const HELP_FOOTER = `
Exit status:
  0  success
  1  usage: bad flags or arguments, no credential, refusing to write to a terminal
  2  wrong key or password, a key file that is not a 64-digit code, a code not confirmed
  3  corrupted, tampered, truncated or unsupported input
  4  I/O error (missing file, permissions, full disk, closed pipe)
  130  interrupted (Ctrl-C)

Environment:
  ${PASSWORD_ENV}  the password, for scripts (instead of --password's prompt)
  E2EE_BACKUP_DEBUG=1   print stack traces with errors

Examples:
  e2ee-backup keygen --out backup.key
  e2ee-backup encrypt chats.db -o chats.e2ee --key-file backup.key --password
  tar c chats/ | e2ee-backup encrypt --key-file backup.key > chats.tar.e2ee
  e2ee-backup decrypt chats.e2ee -o chats.db --key-file backup.key
  e2ee-backup verify chats.e2ee --password`;

/** Usage errors from commander, reworded into the tool's `e2ee-backup: <problem>. <fix>.` form. */
function configure(cmd: Command, name: string): Command {
  return cmd.exitOverride().configureOutput({
    outputError: (str, write) => {
      const problem = str
        .replace(/^error: /, '')
        .trim()
        .replace(/\.$/, '');
      write(`e2ee-backup: ${problem}. Run 'e2ee-backup ${name}${name ? ' ' : ''}--help' for usage.\n`);
    },
  });
}

function credentialOptions(cmd: Command, verb: string): Command {
  return cmd
    .option('-k, --key-file <file>', `${verb} with the 64-digit backup key code in FILE (from keygen)`)
    .addOption(
      new Option('-p, --password', `${verb} with a password, asked on the terminal (or ${PASSWORD_ENV})`),
    )
    .addOption(
      new Option('--password-file <file>', 'read the password from the first line of FILE').conflicts(
        'password',
      ),
    );
}

function openOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--max-kdf-memory <size>',
        'refuse password slots asking Argon2id for more memory (default 1GiB; bare number = KiB)',
      ).argParser(kdfMemoryKib),
    )
    .addOption(
      new Option('--max-output <size>', 'stop if the plaintext grows past SIZE (default 1TiB)').argParser(
        byteSize,
      ),
    );
}

/** Builds the command tree; actions receive the abort signal fired by SIGINT/SIGTERM. */
export function buildProgram(signal: AbortSignal): Command {
  const program = configure(new Command('e2ee-backup'), '')
    .description('End-to-end encrypted backups, opened with a 64-digit backup key code and/or a password.')
    .version(version, '-V, --version')
    .addHelpText('after', HELP_FOOTER)
    .showSuggestionAfterError(true);

  configure(program.command('keygen'), 'keygen')
    .description('generate a backup key and print its 64-digit code (asks you to type it back on a terminal)')
    .option('-o, --out <file>', 'also save the code to FILE, readable by you only (mode 0600)')
    .option('-f, --force', 'replace an existing --out file')
    .option('--json', 'print {"code": ..., "savedTo": ...} (no type-back check)')
    .option('--no-confirm', 'skip the type-back check on a terminal')
    .option('-q, --quiet', 'no warning text')
    .action(async (flags) => keygen(flags, createContext(signal, flags.quiet)));

  credentialOptions(
    configure(program.command('encrypt'), 'encrypt')
      .description('encrypt IN (default: standard input) into a backup at OUT (default: standard output)')
      .argument('[in]', "file to encrypt, or '-' for standard input")
      .option(
        '-o, --output <out>',
        "where to write the backup ('-' for standard output); replaced only when complete",
      ),
    'encrypt',
  )
    .addOption(
      new Option('--compression <mode>', 'deflate: compress blocks that shrink; none: store them')
        .choices(['deflate', 'none'])
        .argParser(compressionMode)
        .default('deflate'),
    )
    .addOption(
      new Option('--level <n>', 'deflate level 1 (fast) to 9 (small); default 6').argParser(integerIn(1, 9)),
    )
    .option('--no-padding', 'do not pad with Padmé (the size then reveals the content size)')
    .option(
      '--meta <key=value>',
      'store an application field in the encrypted metadata (repeatable)',
      collectMeta,
    )
    .addOption(
      new Option('--generation <n>', 'rollback protection: a number that grows with each backup').argParser(
        integerIn(0, Number.MAX_SAFE_INTEGER),
      ),
    )
    .addOption(
      new Option(
        '--kdf-memory <size>',
        'Argon2id memory for the password slot (default 64MiB; bare number = KiB)',
      ).argParser(kdfMemoryKib),
    )
    .addOption(
      new Option('--kdf-iterations <n>', 'Argon2id passes (default 3)').argParser(integerIn(1, 2 ** 32 - 1)),
    )
    .addOption(
      new Option('--kdf-parallelism <n>', 'Argon2id lanes (default 4)').argParser(integerIn(1, 2 ** 24 - 1)),
    )
    .option(
      '--allow-weak-kdf',
      'accept --kdf-* values below the OWASP minimum (slow devices that know the risk)',
    )
    .option('--insecure-fast-kdf', 'INSECURE, for tests: Argon2id m=1MiB, t=1, p=1')
    .option('-q, --quiet', 'no progress, summary or warnings')
    .action(async (input, flags) => encrypt(input, flags, createContext(signal, flags.quiet)));

  openOptions(
    credentialOptions(
      configure(program.command('decrypt'), 'decrypt')
        .description('decrypt a backup IN (default: standard input) into OUT (default: standard output)')
        .argument('[in]', "backup to decrypt, or '-' for standard input")
        .option(
          '-o, --output <out>',
          "where to write the plaintext ('-' for standard output); appears only once it all authenticates",
        ),
      'decrypt',
    ),
  )
    .option('-q, --quiet', 'no progress, summary or warnings')
    .action(async (input, flags) => decrypt(input, flags, createContext(signal, flags.quiet)));

  configure(program.command('inspect'), 'inspect')
    .description("show a backup's header without a key (unauthenticated: anyone can change it)")
    .argument('<file>', "backup file, or '-' for standard input")
    .option('--json', 'print JSON')
    .action(async (file, flags) => inspect(file, flags, createContext(signal, true)));

  openOptions(
    credentialOptions(
      configure(program.command('verify'), 'verify')
        .description('restore drill: decrypt everything to nowhere and report metadata, sizes and speed')
        .argument('<file>', "backup file, or '-' for standard input"),
      'open the backup',
    ),
  )
    .option('--json', 'print JSON (also on failure)')
    .option('-q, --quiet', 'no progress or warnings')
    .action(async (file, flags) => verify(file, flags, createContext(signal, flags.quiet)));

  return program;
}

/** Prints the error the tool's way and returns the exit status. */
function report(err: unknown): number {
  const { exitCode, message } = describeError(err);
  process.stderr.write(`${message}\n`);
  if (process.env['E2EE_BACKUP_DEBUG'] === '1') {
    for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause)
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  }
  return exitCode;
}

async function main(argv: string[]): Promise<void> {
  const controller = new AbortController();
  let interrupted = false;
  const onSignal = (name: NodeJS.Signals) => {
    const bail = () => {
      runPendingCleanupsSync();
      if (process.stderr.isTTY) process.stderr.write('\x1b[?25h'); // the progress bar hides the cursor
      process.stderr.write('\ne2ee-backup: interrupted. Nothing was written.\n');
      process.exit(EXIT.INTERRUPTED);
    };
    if (interrupted) bail();
    interrupted = true;
    controller.abort(new Error(`received ${name}`));
    // The command unwinds through its own clean-up; if it is stuck (say, on a read from a
    // terminal), clean up here.
    setTimeout(bail, 2000).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    await buildProgram(controller.signal).parseAsync(argv);
  } catch (err) {
    // commander has already printed its usage errors; help and --version exit 0.
    if (err instanceof CommanderError) process.exitCode = err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    else process.exitCode = report(err);
  }
}

// Not process.exit(): it could cut off output still queued for a pipe.
await main(process.argv);
