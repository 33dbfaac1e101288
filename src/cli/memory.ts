/**
 * How the CLI's own process keeps its peak memory low: V8 tuning that the library never does,
 * since it runs in other people's processes. All of it is off with E2EE_BACKUP_V8_DEFAULTS=1.
 *
 * @module
 */

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Set to 1, the CLI leaves V8's heap sizing and collection alone. */
export const V8_DEFAULTS_ENV = 'E2EE_BACKUP_V8_DEFAULTS';

const defaults = () => process.env[V8_DEFAULTS_ENV] === '1';
const v8Major = () => Number(process.versions.v8?.split('.')[0]);

// V8 doubles its young generation whenever a scavenge finds it busy, up to 32 MiB on Node 20;
// streaming a backup keeps it busy with short-lived objects, so it grew to the maximum and stayed
// resident. Kept at its initial size, it cost no measurable time and 14 MiB less peak RSS on a
// 1 GiB encrypt (README, Benchmarks). V8 reads this flag when it grows the space, so setting it
// now takes effect. Only on the V8 it was measured on (Node 20's 11.x): a later V8 sizes the
// space differently, and one without the flag would print an error on every run. Never over
// the user's own semi-space options.
/** Keeps V8's young generation at its initial size (Node 20 only). */
export function keepYoungGenerationSmall(): void {
  const own = [...process.execArgv, process.env['NODE_OPTIONS'] ?? ''].some((a) => a.includes('semi-space'));
  if (v8Major() !== 11 || own || defaults()) return;
  try {
    setFlagsFromString('--semi-space-growth-factor=1');
  } catch {
    // A runtime that emulates node:v8 without it (Bun throws; Deno ignores it).
  }
}

// Compressing leaves about a megabyte of dead buffers per megabyte read (node:zlib's output,
// node:crypto's sealed chunks). V8 frees them at a young-generation collection, and with little
// else allocated, the only one due is its "external memory pressure" one, at 2 × its 16 MiB
// maximum semi-space (V8's Heap::AllocateExternalBackingStore): about 32 MiB waiting at the
// peak, which put a compressed encrypt at 103 MiB. A scavenge sooner does not help (buffers
// still in flight are promoted and wait for a full collection instead); a full one every 12 MiB
// read did: 86-88 MiB for about 7 % more time (README, Benchmarks). Only on the V8 where that
// was measured (Node 20's 11.x).
const COLLECT_EVERY = 12 * 2 ** 20;
// Blocks that do not compress are stored without deflating (src/compressibility.ts): then the
// only dead buffers are node:crypto's, as with compression off, where V8's own collections hold
// the peak at about 81 MiB, and a full collection every 12 MiB only cost time (256 MiB of random
// bytes: 0.97 s of user time against 0.59 s; docs/performance.md). So collect only when the
// buffers held, live and dead, pass this: 12 MiB after a collection they held 19 MiB on random
// bytes (all blocks stored) and 24-26 MiB on the chat-like corpus (all deflated).
const COLLECT_ABOVE = 22 * 2 ** 20;

/**
 * For a compressed encrypt: a callback for the bytes read so far that runs a full garbage
 * collection every 12 MiB while buffers pile up. Node 20 only; does nothing where `gc` cannot be had in a new context
 * (Bun, Deno), and with E2EE_BACKUP_V8_DEFAULTS=1.
 */
export function collectWhileCompressing(): (bytesRead: number) => void {
  let gc: (() => void) | undefined;
  if (v8Major() === 11 && !defaults())
    try {
      // Exposes `gc` to contexts made from now on, as `node --expose-gc` would.
      setFlagsFromString('--expose-gc');
      const fn: unknown = runInNewContext('gc');
      if (typeof fn === 'function') gc = fn as () => void;
    } catch {
      // No such flag or no `gc` in a new context: collect nothing.
    }
  let next = COLLECT_EVERY;
  return (bytesRead) => {
    if (!gc || bytesRead < next) return;
    next = bytesRead + COLLECT_EVERY;
    if (process.memoryUsage().arrayBuffers > COLLECT_ABOVE) gc();
  };
}
