/**
 * What every command gets from `main`: the abort signal fired by SIGINT/SIGTERM, and the two
 * ways to talk on stderr.
 *
 * @module
 */

/** The environment of a command. */
export interface Context {
  /** Fires on SIGINT or SIGTERM; the commands pass it to the library and clean up. */
  readonly signal: AbortSignal;
  /** `--quiet`: no progress, no summaries, no warnings (errors are still printed). */
  readonly quiet: boolean;
  /** Warnings and notices: stderr, unless `--quiet`. */
  warn(message: string): void;
  /** Summaries for a person: stderr when it is a terminal, unless `--quiet`. */
  info(message: string): void;
}

/** A {@link Context} over the process's stderr. */
export function createContext(signal: AbortSignal, quiet: boolean | undefined): Context {
  const q = quiet === true;
  return {
    signal,
    quiet: q,
    warn(message) {
      if (!q) process.stderr.write(`${message}\n`);
    },
    info(message) {
      if (!q && process.stderr.isTTY) process.stderr.write(`${message}\n`);
    },
  };
}
