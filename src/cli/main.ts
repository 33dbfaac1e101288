#!/usr/bin/env node
/**
 * The `e2ee-backup` command: parsing its command line (./command-table.ts), signal handling and
 * the one place where failures become exit statuses and messages (see ./exit-codes.ts).
 *
 * @module
 */

import { version } from '../../package.json';
import { runPendingCleanupsSync } from './cleanups.js';
import { CommandLineError, type CommandSpec, type Parsed, parseCommandLine } from './command-line.js';
import { commandTable } from './command-table.js';
import { PASSWORD_ENV } from './env.js';
import { describeError, EXIT, withNote } from './exit-codes.js';
import { formatHelp } from './help.js';
import { keepMallocHeapTop, setV8Flags } from './memory.js';

/**
 * The value someone gave `--password` (`--password VALUE`, `-p VALUE`, `--password=VALUE`), if
 * any. `--password` takes none: it asks on the terminal.
 */
export function passwordArgument(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return undefined;
    if (a.startsWith('--password=')) return a.slice('--password='.length);
    const next = argv[i + 1];
    if ((a === '--password' || a === '-p') && next !== undefined && !next.startsWith('-')) return next;
  }
  return undefined;
}

const PASSWORD_NOT_AN_ARGUMENT =
  'passwords never come from arguments: other users can read them in the process list, and they stay in the shell history';
const PASSWORD_SOURCES = `Type the password when asked, or use --password-file FILE or ${PASSWORD_ENV}`;

/** Prints the error the tool's way and returns the exit status. */
function report(err: unknown): number {
  // `decrypt -p hunter2` takes hunter2 for the input file: when that is what cannot be found, say
  // why it was taken for one.
  const given = passwordArgument(process.argv.slice(2));
  if (given !== undefined && (err as { code?: unknown; path?: unknown } | null)?.path === given)
    withNote(
      err,
      `${given} followed --password, which takes no value, and ${PASSWORD_NOT_AN_ARGUMENT}. ${PASSWORD_SOURCES}`,
    );
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
    await run(commandTable(controller.signal), argv.slice(2));
  } catch (err) {
    process.exitCode = report(err);
  }
}

/** Runs what `args` asks for; usage errors are printed here and set exit status 1. */
async function run(table: CommandSpec, args: readonly string[]): Promise<void> {
  let parsed: Parsed;
  try {
    parsed = parseCommandLine(table, args);
  } catch (err) {
    if (!(err instanceof CommandLineError)) throw err;
    process.stderr.write(usageMessage(err, args));
    process.exitCode = EXIT.USAGE;
    return;
  }
  if (parsed.kind === 'version') process.stdout.write(`${version}\n`);
  else if (parsed.kind === 'help') {
    // Asked for, help goes to standard output; a group named without a command gets it as an error.
    const out = parsed.asked ? process.stdout : process.stderr;
    out.write(formatHelp(parsed.path, (out.isTTY && out.columns) || 80));
    if (!parsed.asked) process.exitCode = EXIT.USAGE;
  } else await parsed.path.at(-1)!.run!(parsed.args, parsed.flags);
}

/** A usage error in the tool's `e2ee-backup: <problem>. <fix>.` form. */
function usageMessage(err: CommandLineError, args: readonly string[]): string {
  // `--password hunter2` is "too many arguments" (or an unknown option where there is no
  // --password): say why instead.
  if (
    passwordArgument(args) !== undefined &&
    /too many arguments|unknown option '--password|'-p, --password'/.test(err.message)
  )
    return `e2ee-backup: --password takes no value, and ${PASSWORD_NOT_AN_ARGUMENT}. ${PASSWORD_SOURCES}.\n`;
  const help = `e2ee-backup ${err.command}${err.command ? ' ' : ''}--help`;
  return `e2ee-backup: ${err.message.replace(/\.$/, '')}. Run '${help}' for usage.\n`;
}

setV8Flags();
keepMallocHeapTop();

// Not process.exit(): it could cut off output still queued for a pipe.
await main(process.argv);
