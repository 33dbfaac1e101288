/**
 * Synchronous clean-ups (temporary files, lock files) that the signal handler of main.ts runs
 * when a command cannot unwind in time. Apart from ./io.ts so that main.ts can reach them
 * without loading the file writer and node:crypto before every command.
 *
 * @module
 */

/** Synchronous clean-ups run on SIGINT/SIGTERM when the command cannot unwind in time. */
export const pendingCleanups = new Set<() => void>();

/** Adds a clean-up to run on SIGINT/SIGTERM (see below); returns the function that removes it. */
export function cleanUpOnSignal(f: () => void): () => void {
  pendingCleanups.add(f);
  return () => pendingCleanups.delete(f);
}

/** Runs every pending clean-up (removes temporary files); for signal handlers. */
export function runPendingCleanupsSync(): void {
  for (const f of pendingCleanups) {
    try {
      f();
    } catch {
      // Best effort: the process is about to exit.
    }
  }
  pendingCleanups.clear();
}
