/**
 * How the CLI's own process keeps its memory in check: V8 and malloc tuning that the library
 * never does, since it runs in other people's processes. All of it is off with
 * E2EE_BACKUP_V8_DEFAULTS=1.
 * The figures behind each setting are in docs/performance.md ("Peak RSS per Node version",
 * "Freeing dead buffers on the main thread").
 *
 * @module
 */

import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Set to 1, the CLI leaves V8's heap sizing and collection alone. */
export const V8_DEFAULTS_ENV = 'E2EE_BACKUP_V8_DEFAULTS';

/**
 * The V8 major versions the tuning below was measured on: Node 20 (11), 22 (12) and 24 (13).
 * Another V8 sizes and collects its heap its own way, and may not know these flags (an unknown
 * one prints an error on every run), so it gets V8's defaults until it is measured.
 */
export const MEASURED_V8_MAJORS: readonly number[] = [11, 12, 13];

/** Where the CLI tunes V8: a measured V8, without E2EE_BACKUP_V8_DEFAULTS=1. */
export function tunesV8(v8Version: string | undefined, env: Record<string, string | undefined>): boolean {
  return MEASURED_V8_MAJORS.includes(majorOf(v8Version)) && env[V8_DEFAULTS_ENV] !== '1';
}

const majorOf = (v8Version: string | undefined) => Number(v8Version?.split('.')[0]);

// V8 doubles its young generation whenever a scavenge finds it busy, up to 32 MiB; streaming a
// backup keeps it busy with short-lived objects, so it grew to the maximum and stayed resident.
// Kept at its initial size it costs no measurable time, and V8 reads the flag when it grows the
// space, so setting it now takes effect. V8 13 grows it by other rules too: there this flag alone
// left it at 32 MiB, and with EXTERNAL_SCAVENGE below it stayed between 4 and 14 MiB.
const KEEP_SMALL = '--semi-space-growth-factor=1';
// Dead ArrayBuffers (node:crypto's sealed and opened chunks, node:zlib's output) are freed at a
// young-generation collection, and with little else allocated the only one due is the "external
// memory pressure" one, after 2 × V8's default maximum semi-space of them (V8's
// Heap::AllocateExternalBackingStore). V8 12 and 13 compute that maximum from this flag each time
// (2 MiB per unit without pointer compression), so setting it now takes effect: V8 13's default
// (32) let 128 MiB of them pile up, V8 12's (8) 32 MiB; 2 collects every 8 MiB, which took
// Node 24 from 135 to about 80 MiB on a decrypt. 1 was worse (buffers still in use are promoted
// and wait for a full collection), and so was 4 on a compressed backup's decrypt. V8 11 has no
// such flag (its threshold is 32 MiB).
const EXTERNAL_SCAVENGE = '--scavenger-max-new-space-capacity-mb=2';

// Setting a V8 flag changes V8's flag hash, and Node then rejects the code cache built into its
// binary for the built-in modules loaded afterwards: it compiles them from source, about three
// times the CPU time (Node 20, 22 and 24: node:crypto 2 ms → 6 ms, Web streams 1.5 → 4.4). So the
// built-ins the commands stream with are loaded before the flags are set: about 10 ms less CPU
// for a command's start-up (docs/performance.md, "CLI start-up").
const STREAMING_BUILTINS = ['node:crypto', 'node:fs/promises', 'node:tty', 'node:zlib', 'node:perf_hooks'];

function loadStreamingBuiltins(): void {
  // Where there is no process.getBuiltinModule, they are only compiled later, as before.
  for (const id of STREAMING_BUILTINS) process.getBuiltinModule?.(id);
  // Globals whose modules load on first use: Web streams, `performance`, Web Crypto's random bytes.
  const used = [
    globalThis.ReadableStream,
    globalThis.WritableStream,
    globalThis.performance,
    globalThis.crypto,
  ];
  void used;
}

/**
 * Whether the user started `node` with an option whose name matches `pattern`: the CLI never
 * overrides one. Only names are matched, not values: `--import ./array-buffer-sweeping.mjs` is not
 * a sweeping option.
 */
function userSet(pattern: RegExp): boolean {
  const args = [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)];
  return args.some((a) => a.startsWith('-') && pattern.test(a.split('=')[0]!));
}

// The dead buffers a scavenge finds (node:crypto's chunks, see HEAP_TOP below) are freed on a
// helper thread by default. Freed during the scavenge, on the main thread, encrypting or
// decrypting 1 GiB of random bytes with compression off took 61-232 ms less CPU time on Node 20,
// 22 and 24, and 35-105 ms less wall time (12-35 ms less CPU at 256 MiB); compressed data, whose
// time goes to deflate and inflate, and peak RSS did not change beyond the runs' spread. Why the
// helper thread costs more was not looked into. Figures: docs/performance.md, "Freeing dead
// buffers on the main thread".
const SWEEP_ON_MAIN_THREAD = '--no-concurrent-array-buffer-sweeping';

/**
 * Sets the CLI's V8 flags, each unless the user set one of its kind: dead ArrayBuffers freed
 * during the scavenge that finds them (see SWEEP_ON_MAIN_THREAD); the young generation kept at
 * its initial size and, on V8 12 and 13, collected after fewer dead ArrayBuffers (none of these
 * where the user set a semi-space or new-space option). Only on a measured V8 (see
 * {@link MEASURED_V8_MAJORS}). Loads the built-in modules the commands stream with first (see
 * STREAMING_BUILTINS).
 */
export function setV8Flags(): void {
  const v8 = process.versions.v8;
  if (!tunesV8(v8, process.env)) return;
  try {
    loadStreamingBuiltins();
    if (!userSet(/array.buffer.sweeping/)) setFlagsFromString(SWEEP_ON_MAIN_THREAD);
    if (userSet(/semi.space|new.space/)) return;
    setFlagsFromString(KEEP_SMALL);
    if (majorOf(v8) >= 12) setFlagsFromString(EXTERNAL_SCAVENGE);
  } catch {
    // A runtime that emulates node:v8 without it (Bun throws; Deno ignores it).
  }
}

// glibc's malloc gives the free memory at the top of its heap back to the system as soon as more
// than its trim threshold (128 KiB at first) is free there, and the next allocations take it
// back, a page fault per 4 KiB. node:crypto returns every sealed or opened chunk in a new 16 KiB
// buffer, and the scavenges that free them make the heap shrink and regrow all along. On V8 13 it
// was worst: 40-150 minor faults per MiB encrypting or decrypting 1 GiB where the bare node:crypto
// loop takes 13 (2 750 brk calls for one decrypt), and up to twice its time; on V8 11 a 1 GiB
// decrypt took 18-19 faults per MiB where the bare loop takes 12. glibc raises that threshold to
// twice the size of a block it had mapped on its own when the block is freed (mallopt(3),
// M_MMAP_THRESHOLD), so one 8 MiB buffer, dropped at once, lets the heap keep up to 16 MiB at its
// top: about 10 faults per MiB, for up to 5 MiB more peak RSS. Blocks under 8 MiB then come from
// the heap rather than from mmap, which the figures include. A user's own MALLOC_ settings turn
// the adjustment off, so theirs win. Other allocators only see one short-lived buffer. Figures:
// docs/performance.md, "Page faults on Node 24" and "glibc's heap on Node 20 and 22".
const HEAP_TOP = 8 * 2 ** 20;

/**
 * Has glibc's malloc keep the top of its heap instead of trimming it after every scavenge (see
 * HEAP_TOP). Only where the CLI tunes V8 ({@link tunesV8}).
 */
export function keepMallocHeapTop(): void {
  if (!tunesV8(process.versions.v8, process.env)) return;
  // Freed at the next scavenge, which is when glibc raises its thresholds.
  void new ArrayBuffer(HEAP_TOP);
}

// Compressing leaves about 1.3 MiB of dead buffers per MiB read (node:zlib's output, node:crypto's
// sealed chunks). On V8 12 and 13, which scavenge after every 8 MiB of them (EXTERNAL_SCAVENGE),
// most outlive two scavenges while their block is in flight, so they are promoted and wait for a
// full collection, which V8 starts only after 64 MiB of them. So the CLI looks every 2 MiB and
// runs one while the process holds more than 22 MiB of buffers, live and dead (about 10 MiB are
// live); a look every 12 MiB left Node 24 at 102-105 MiB on the chat-like corpus. Blocks that do
// not compress are stored without deflating (src/compressibility.ts): then the only dead buffers
// are node:crypto's, which scavenges free, and random bytes stay under 22 MiB.
// V8 11 scavenges only after 32 MiB of dead buffers, so they are seldom promoted, but a look finds
// random bytes above 22 MiB too: about 9 full collections per GiB encrypted, where a scavenge
// would have done. There the CLI asks for a scavenge, and for a full collection only if the
// buffers are still above 22 MiB (not seen since: it is a safety net). V8 11 would free a
// scavenge's dead buffers on another thread, often after `gc` has returned and the CLI has looked
// again; the CLI's flags have it free them during the scavenge (SWEEP_ON_MAIN_THREAD). The CLI then
// asked Node 20 for no full collection on random bytes or on the chat-like corpus, and a
// compressing encrypt takes 0.1 s less CPU per 256 MiB of random bytes and 0.3 s less for the
// corpus. Figures: docs/performance.md, "Node 20's collections while compressing".
const COLLECT_ABOVE = 22 * 2 ** 20;
const LOOK_EVERY = 2 * 2 ** 20;
const arrayBuffers = () => process.memoryUsage().arrayBuffers;

/**
 * For a compressed encrypt: a callback for the bytes read so far that runs a garbage collection
 * while dead buffers pile up (on V8 11 a scavenge first, and a full collection if that was not
 * enough). Only on a measured V8 (see {@link MEASURED_V8_MAJORS}); does nothing where `gc`
 * cannot be had in a new context (Bun, Deno), and with E2EE_BACKUP_V8_DEFAULTS=1.
 */
export function collectWhileCompressing(): (bytesRead: number) => void {
  return collector(11, arrayBuffers, COLLECT_ABOVE);
}

// A decrypt inflates a compressed backup's blocks into new buffers, dead once written, and on
// Node 24 they piled up like a compressed encrypt's: 106 MiB on 1 GiB of the chat-like corpus.
// Only on V8 12 and 13, where random bytes stay under COLLECT_ABOVE and nothing is collected for
// them; Node 20's decrypt stayed under 100 MiB without it.
// It reads V8's external memory, not process.memoryUsage().arrayBuffers: that call also reads
// the RSS from /proc, 23-43 µs inside a 1 GiB decrypt (77-124 µs while inflating), 12-27 ms of
// CPU per GiB on Node 22 and 24, against 3-11 µs and 1.4-2.4 ms for getHeapStatistics().
// External memory is the buffers plus Node's own 2.1 (Node 22) or 2.4 MiB (Node 24), hence
// 2 MiB over COLLECT_ABOVE; it lags up to a scavenge's worth behind (V8 lowers it once it has
// swept the freed buffers). It also counts a password's Argon2id memory (the header's m KiB of
// WebAssembly, 64 MiB by default, dead once the key is derived), which the first look now frees.
// Figures: docs/performance.md, "The decrypt's memory check".
const DECRYPT_COLLECT_ABOVE = COLLECT_ABOVE + 2 * 2 ** 20;
const externalMemory = () => getHeapStatistics().external_memory;

/** For a decrypt: as {@link collectWhileCompressing}, on V8 12 and 13 only. */
export function collectWhileDecrypting(): (bytesRead: number) => void {
  return collector(12, externalMemory, DECRYPT_COLLECT_ABOVE);
}

type Gc = (options?: { type: 'minor' }) => void;

function collector(fromMajor: number, held: () => number, above: number): (bytesRead: number) => void {
  let gc: Gc | undefined;
  const v8 = process.versions.v8;
  const major = majorOf(v8);
  const scavengeFirst = major === 11;
  if (tunesV8(v8, process.env) && major >= fromMajor)
    try {
      // Exposes `gc` to contexts made from now on, as `node --expose-gc` would.
      setFlagsFromString('--expose-gc');
      const fn: unknown = runInNewContext('gc');
      if (typeof fn === 'function') gc = fn as Gc;
    } catch {
      // No such flag or no `gc` in a new context: collect nothing.
    }
  let next = LOOK_EVERY;
  return (bytesRead) => {
    if (!gc || bytesRead < next) return;
    next = bytesRead + LOOK_EVERY;
    if (held() <= above) return;
    if (scavengeFirst) {
      gc({ type: 'minor' });
      if (held() <= above) return;
    }
    // Without options: on V8 11, gc({ type: 'major' }) runs a scavenge, not a full collection.
    gc();
  };
}
