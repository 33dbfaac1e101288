// The browser harness: suites are plain lists of named checks with their own tiny assertions, so
// that the same suite runs as vitest tests in the page (page.browser.test.ts), inside a Web
// Worker (worker.ts → worker.browser.test.ts), and with WebCrypto hidden (fallback.browser.test.ts).
// No vitest and no Node APIs here: only what a page and a dedicated worker both have.
import { E2EEError, type ErrorCode } from '../../src/errors.js';

/** Data the Node side reads from disk and hands to the page (see vitest.browser.config.ts). */
export interface SharedData {
  /** The Wycheproof Cobblestone-256 file as JSON (vendored in vectors/third-party/wycheproof). */
  wycheproof: WycheproofFile;
}

export interface WycheproofVector {
  tcId: number;
  comment: string;
  flags: string[];
  key: string;
  ctx: string;
  /** zlib-compressed ciphertext, hex. */
  ct: string;
  result: 'valid' | 'invalid';
  msgLength?: number;
  msgSha512?: string;
}

export interface WycheproofFile {
  algorithm: string;
  testGroups: { tests: WycheproofVector[] }[];
}

/** One named check; throws to fail. */
export interface Check {
  name: string;
  run: () => Promise<void> | void;
  /** Milliseconds; the page default is vitest's testTimeout. */
  timeout?: number;
}

/** A named group of checks built from the shared data. */
export interface Suite {
  name: string;
  /** Only in the page (not in workers), e.g. checks that need `document`. */
  pageOnly?: boolean;
  checks(data: SharedData): Check[];
}

/** What a worker posts back for every check it ran. */
export interface CheckResult {
  suite: string;
  name: string;
  ok: boolean;
  error?: string;
  ms: number;
}

export class AssertionError extends Error {
  override name = 'AssertionError';
}

export function assert(cond: unknown, message: string): asserts cond {
  if (!cond) throw new AssertionError(message);
}

export function assertEqual<T>(actual: T, expected: T, what: string): void {
  if (!Object.is(actual, expected))
    throw new AssertionError(`${what}: expected ${String(expected)}, got ${String(actual)}`);
}

export function assertBytesEqual(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (actual.length !== expected.length)
    throw new AssertionError(`${what}: expected ${expected.length} bytes, got ${actual.length}`);
  for (let i = 0; i < actual.length; i++)
    if (actual[i] !== expected[i]) throw new AssertionError(`${what}: bytes differ at offset ${i}`);
}

/** Awaits `p` (or calls it), which must fail with an E2EEError whose code is one of `codes`. */
export async function assertRejects(
  p: Promise<unknown> | (() => unknown),
  codes: ErrorCode[],
  what: string,
): Promise<E2EEError> {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  if (err === undefined)
    throw new AssertionError(`${what}: expected ${codes.join(' or ')}, but it succeeded`);
  if (!(err instanceof E2EEError))
    throw new AssertionError(`${what}: expected an E2EEError, got ${String(err)}`, { cause: err });
  if (!codes.includes(err.code))
    throw new AssertionError(`${what}: expected ${codes.join(' or ')}, got ${err.code}: ${err.message}`);
  return err;
}

export const hexToBytes = (hex: string): Uint8Array => {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
};

export const bytesToHex = (b: Uint8Array): string =>
  Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** Deterministic pseudo-random bytes (xorshift32), cheap for MiB-sized test inputs. */
export function pseudoRandomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

/** Splits `data` into pieces of pseudo-random sizes (tiny, chunk-sized and large) for a seed. */
export function seededSplits(data: Uint8Array, seed: number): Uint8Array[] {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
  const out: Uint8Array[] = [];
  for (let off = 0; off < data.length; ) {
    const kind = next() % 4;
    const max = kind === 0 ? 17 : kind === 1 ? 16400 : kind === 2 ? 70000 : 3;
    const n = 1 + (next() % max);
    out.push(data.slice(off, off + n));
    off += n;
  }
  return out;
}

export function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Pushes `pieces` through `stream` and collects what comes out. Never throws: returns the output
 * and the error the stream ended with, if any.
 */
export async function pipeCollect(
  stream: TransformStream<Uint8Array, Uint8Array>,
  pieces: Uint8Array[],
): Promise<{ result: Uint8Array; released: Uint8Array[]; error: unknown }> {
  const writer = stream.writable.getWriter();
  const writing = (async () => {
    for (const p of pieces) await writer.write(p);
    await writer.close();
  })().catch(() => {});
  const reader = stream.readable.getReader();
  const released: Uint8Array[] = [];
  let error: unknown;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      released.push(value);
    }
  } catch (e) {
    error = e;
  }
  await writing;
  return { result: concatBytes(released), released, error };
}

/** A random-access source over bytes in memory. */
export const sourceOf = (bytes: Uint8Array) => ({
  size: bytes.length,
  read: async (offset: number, length: number) => bytes.slice(offset, offset + length),
});

/** zlib inflate with the platform's DecompressionStream (pages, workers, Node ≥ 18). */
export async function inflateZlib(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(new DecompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Runs every check of `suites` in order, never throwing; for workers. */
export async function runAll(suites: Suite[], data: SharedData): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const suite of suites) {
    for (const check of suite.checks(data)) {
      const t0 = performance.now();
      try {
        await check.run();
        results.push({ suite: suite.name, name: check.name, ok: true, ms: performance.now() - t0 });
      } catch (e) {
        const error = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e);
        results.push({ suite: suite.name, name: check.name, ok: false, error, ms: performance.now() - t0 });
      }
    }
  }
  return results;
}
