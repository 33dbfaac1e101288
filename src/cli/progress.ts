/**
 * A progress line on stderr — bytes, MB/s and, when the total is known, a bar and the time left —
 * drawn by `cli-progress` only when stderr is a terminal and `--quiet` is off. Redirected or piped,
 * stderr carries errors and warnings only, so logs stay clean.
 *
 * @module
 */

import { formatBytes, formatDuration, formatRate } from './format.js';

/** What the commands call; a no-op when there is nothing to draw on. */
export interface Progress {
  /** The number of bytes done so far (cheap: the bar redraws at most 10 times a second). */
  update(bytesDone: number): void;
  /** Draws the final state and ends the line. */
  stop(): void;
}

const NONE: Progress = { update() {}, stop() {} };
const BAR_WIDTH = 24;

/** True when progress would be drawn: stderr is a terminal and the user did not ask for quiet. */
export function progressVisible(quiet: boolean | undefined): boolean {
  return !quiet && process.stderr.isTTY === true;
}

/**
 * Starts a progress line. `cli-progress` is loaded only when a bar will be drawn: scripts and
 * pipes do not pay for it (in start-up time and a few MiB of memory).
 *
 * @param label - what is being done (`encrypting`).
 * @param total - the expected number of bytes (an input file's size), or `undefined` for a pipe.
 */
export async function startProgress(
  label: string,
  total: number | undefined,
  quiet: boolean | undefined,
): Promise<Progress> {
  if (!progressVisible(quiet)) return NONE;
  const { default: cliProgress } = await import('cli-progress');
  const started = performance.now();
  const known = total !== undefined && total > 0;
  const bar = new cliProgress.SingleBar({
    stream: process.stderr,
    fps: 10,
    hideCursor: true,
    clearOnComplete: false,
    linewrap: false,
    format: (_options, params) => {
      const seconds = (performance.now() - started) / 1000;
      const done = params.value;
      const rate = formatRate(done, seconds);
      if (!known) return `${label} ${formatBytes(done)}  ${rate}`;
      const fraction = Math.min(1, done / params.total);
      const filled = Math.round(fraction * BAR_WIDTH);
      const speed = seconds > 0 ? done / seconds : 0;
      // Reading runs a little ahead of the work: at 100 % the last blocks are still in flight.
      const eta =
        fraction >= 1
          ? 'finishing'
          : speed > 0
            ? `ETA ${formatDuration((params.total - done) / speed)}`
            : 'ETA ?';
      return `${label} [${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ${formatBytes(done)} / ${formatBytes(params.total)}  ${rate}  ${eta}`;
    },
  });
  bar.start(known ? total : 1, 0);
  let stopped = false;
  return {
    update(bytesDone) {
      if (!stopped) bar.update(bytesDone);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
