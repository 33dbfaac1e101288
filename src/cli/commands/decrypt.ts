/**
 * `e2ee-backup decrypt [IN] [-o OUT]`: a backup back into its plaintext.
 *
 * To a file, the output appears only after the last chunk, the end marker and the padding have
 * been checked. To standard output, a device, a FIFO or a socket it is released chunk by chunk as
 * each authenticates — a pipe cannot be taken back — so a consumer must treat it as provisional
 * until e2ee-backup exits 0 (`set -o pipefail` in shell scripts). A warning says so unless
 * `--quiet`.
 *
 * @module
 */

import { isStdio } from '../args.js';
import type { Context } from '../context.js';
import { usageError, withNote } from '../exit-codes.js';
import { formatBytes, formatDuration, formatRate } from '../format.js';
import { type Output, openInput, openOutput, provisionalNote, pump } from '../io.js';
import { collectWhileDecrypting } from '../memory.js';
import { type OpenFlags, openBackup, requireCredentials } from '../open-backup.js';
import { startProgress } from '../progress.js';

/** Flags of `decrypt`. */
export interface DecryptFlags extends OpenFlags {
  output?: string;
}

/** Runs `decrypt`. */
export async function decrypt(
  inputPath: string | undefined,
  flags: DecryptFlags,
  ctx: Context,
): Promise<void> {
  // `-o -` is an explicit request for the terminal; no -o at all on a terminal is a mistake
  // that would fill the screen with a whole chat history.
  if (flags.output === undefined && process.stdout.isTTY)
    throw usageError(
      'refusing to print a decrypted backup on the terminal',
      'Give -o FILE, redirect the output (> FILE), or use -o - to print it anyway',
    );
  if (isStdio(inputPath) && process.stdin.isTTY)
    throw usageError('no input: standard input is the terminal', 'Name the backup file, or pipe it in');
  requireCredentials(flags);

  const progress = { update: (_: number) => {} };
  const collect = collectWhileDecrypting();
  const input = await openInput(inputPath, (n) => {
    collect(n);
    progress.update(n);
  });
  let output: Output | undefined;
  try {
    const opened = await openBackup(input, flags, ctx);
    output = await openOutput(flags.output);
    if (output.inPlace) ctx.warn(provisionalNote(output));
    const started = performance.now();
    const bar = await startProgress('decrypting', input.size, ctx.quiet);
    progress.update = (n) => bar.update(n);
    let written: number;
    try {
      written = await pump(opened.stream, output);
      await output.commit();
    } finally {
      bar.stop();
    }
    const seconds = (performance.now() - started) / 1000;
    ctx.info(
      `Decrypted ${formatBytes(written)} (backup of ${opened.metadata.created}, generation ${opened.metadata.generation}, opened with its ${opened.openedWith}) in ${formatDuration(seconds)} (${formatRate(written, seconds)})${output.isStdout ? '' : `: ${output.name}`}.`,
    );
  } catch (e) {
    await output?.abort();
    if (output?.inPlace && output.bytesWritten > 0)
      throw withNote(
        e,
        `The ${formatBytes(output.bytesWritten)} already written to ${output.name} are not authenticated: discard them`,
      );
    throw e;
  } finally {
    await input.close();
  }
}
