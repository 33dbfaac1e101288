/**
 * The plaintext of a crypt15 file: a zlib stream (RFC 1950) of the database, or, in multi-file
 * backups, a ZIP archive kept as it is. Inflating is bounded: never more than `limit` bytes out,
 * and a streamed inflate holds at most one 64 KiB output buffer ahead of its reader.
 *
 * Rules (docs/whatsapp-crypt15.md §4): the zlib stream must end (its Adler-32 checked) exactly at
 * the end of the plaintext; a truncated stream, a bad checksum or bytes after its end are
 * `MALFORMED_PAYLOAD`, more than `limit` bytes `OUTPUT_LIMIT`.
 *
 * Internal module.
 */

import { E2EEError } from '../errors.js';

/** What the plaintext is, from its first bytes: `undefined` when it is neither. */
export type WhatsAppPayload = 'zlib' | 'zip';

/** Recognises a zlib header (deflate, window ≤ 32 KiB, check bits right, no preset dictionary) or a ZIP local file header. */
export function payloadKind(head: Uint8Array): WhatsAppPayload | undefined {
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04)
    return 'zip';
  if (head.length < 2) return undefined;
  const cmf = head[0]!;
  const flg = head[1]!;
  if ((cmf & 0x0f) === 8 && cmf >> 4 <= 7 && (cmf * 256 + flg) % 31 === 0 && (flg & 0x20) === 0)
    return 'zlib';
  return undefined;
}

function malformed(problem: string, cause?: unknown): E2EEError {
  return new E2EEError(
    'MALFORMED_PAYLOAD',
    `the backup's zlib stream ${problem}`,
    cause ? { cause } : undefined,
  );
}

function overLimit(limit: number): E2EEError {
  return new E2EEError('OUTPUT_LIMIT', `the database would be larger than the ${limit}-byte limit`);
}

// Minimal structural views of node:zlib and node:stream, so that no `node:` import reaches browser bundles.
interface NodeInflate extends AsyncIterable<Uint8Array> {
  readonly bytesWritten: number;
  destroy(error?: Error): void;
}
interface NodeZlib {
  createInflate(options: { chunkSize: number }): NodeInflate;
  inflateSync(
    data: Uint8Array,
    options: { maxOutputLength: number; info: true },
  ): { buffer: Uint8Array; engine: { bytesWritten: number } };
}
interface NodeReadable {
  pipe(destination: NodeInflate): void;
  on(event: 'error', listener: (e: Error) => void): void;
  destroy(): void;
}
interface NodeStream {
  Readable: { from(source: AsyncIterable<Uint8Array>, options: { objectMode: false }): NodeReadable };
}

function builtin<T>(id: string): T | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return proc?.getBuiltinModule?.(id) as T | undefined;
}

/** node:zlib's streaming inflate is there (Node, Bun, Deno). */
export function hasNodeZlib(): boolean {
  return builtin<NodeZlib>('node:zlib') !== undefined && builtin<NodeStream>('node:stream') !== undefined;
}

const OUTPUT_CHUNK = 64 * 1024;

/**
 * Inflates the zlib stream that `pieces` carries, on node:zlib, one output buffer at a time as
 * the reader asks (node:zlib's back-pressure: a compressed piece is not expanded further until
 * its output is read).
 *
 * On any failure of its own (bad stream, limit, trailing bytes) it first reads `pieces` to the
 * end, so that an error raised there (a failed authentication tag) is the one thrown: a wrong key
 * also makes an invalid zlib stream, and must be reported as such.
 */
export async function* inflateStream(
  pieces: AsyncIterator<Uint8Array>,
  limit: number,
): AsyncGenerator<Uint8Array> {
  const zlib = builtin<NodeZlib>('node:zlib')!;
  const { Readable } = builtin<NodeStream>('node:stream')!;
  let fed = 0;
  let inputDone = false;
  // The error `pieces` threw, kept: a read still pending inside the Readable when it is destroyed
  // would otherwise swallow it.
  let verdict: { error: unknown } | undefined;
  const next = async () => {
    try {
      return await pieces.next();
    } catch (error) {
      verdict = { error };
      throw error;
    }
  };
  // Pulls from `pieces` by hand (not for-await), so that destroying the Readable does not end
  // `pieces`: it is still drained for its verdict below.
  async function* feed(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const r = await next();
      if (r.done) {
        inputDone = true;
        return;
      }
      fed += r.value.length;
      yield r.value;
    }
  }
  const source = Readable.from(feed(), { objectMode: false });
  const z = zlib.createInflate({ chunkSize: OUTPUT_CHUNK });
  source.on('error', (e) => z.destroy(e));
  source.pipe(z);
  let out = 0;
  let failure: E2EEError | undefined;
  try {
    for await (const chunk of z) {
      out += chunk.length;
      if (out > limit) {
        failure = overLimit(limit);
        break;
      }
      yield chunk;
    }
    // node:zlib ignores what follows the end of the stream; what it consumed says whether any did.
    if (!failure && z.bytesWritten !== fed) failure = malformed(`ends ${fed - z.bytesWritten} bytes early`);
  } catch (e) {
    if (verdict) throw verdict.error;
    failure = malformed(`is not valid (${(e as Error).message})`, e);
  } finally {
    source.destroy();
    z.destroy();
  }
  if (!failure) return;
  try {
    if (!inputDone) while (!(await next()).done);
  } catch {
    // kept in `verdict`
  }
  throw verdict ? verdict.error : failure;
}

/** {@link inflateStream} over a whole, already authenticated buffer: the pieces of the output. */
export async function inflateAll(data: Uint8Array, limit: number): Promise<Uint8Array[]> {
  const zlib = builtin<NodeZlib>('node:zlib');
  if (zlib) {
    let res: ReturnType<NodeZlib['inflateSync']>;
    try {
      res = zlib.inflateSync(data, {
        maxOutputLength: Math.max(1, Math.min(limit + 1, 2 ** 32)),
        info: true,
      });
    } catch (e) {
      if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw overLimit(limit);
      throw malformed(`is not valid (${(e as Error).message})`, e);
    }
    if (res.buffer.length > limit) throw overLimit(limit);
    if (res.engine.bytesWritten !== data.length)
      throw malformed(`ends ${data.length - res.engine.bytesWritten} bytes early`);
    return [new Uint8Array(res.buffer.buffer, res.buffer.byteOffset, res.buffer.byteLength)];
  }
  return inflateWithFflate(data, limit);
}

/**
 * Where node:zlib is missing: fflate's raw inflate between the 2-byte header and the 4-byte
 * Adler-32, which is then checked here. fflate does not say where the deflate stream ended, so
 * bytes after it are caught by the checksum: they sit where the Adler-32 is read.
 */
export async function inflateWithFflate(data: Uint8Array, limit: number): Promise<Uint8Array[]> {
  if (payloadKind(data) !== 'zlib') throw malformed('has no valid zlib header');
  if (data.length < 2 + 4) throw malformed('is too short');
  const { Inflate } = await import('fflate');
  const parts: Uint8Array[] = [];
  let out = 0;
  let ended = false;
  let over = false;
  const inflater = new Inflate((chunk, final) => {
    out += chunk.length;
    if (out > limit) over = true;
    else parts.push(chunk);
    if (final) ended = true;
  });
  const body = data.subarray(2, data.length - 4);
  const PIECE = 16 * 1024; // bounds what one push can expand to
  try {
    for (let o = 0; o < body.length && !over; o += PIECE)
      inflater.push(body.subarray(o, o + PIECE), o + PIECE >= body.length);
    if (body.length === 0) inflater.push(body, true);
  } catch (e) {
    throw malformed(`is not valid (${(e as Error).message})`, e);
  }
  if (over) throw overLimit(limit);
  if (!ended) throw malformed('does not end');
  const want = new DataView(data.buffer, data.byteOffset + data.length - 4, 4).getUint32(0);
  if (adler32(parts) !== want) throw malformed('fails its Adler-32 check, or is followed by other bytes');
  return parts;
}

/** Adler-32 (RFC 1950 §8.2), in runs of 5552 bytes between reductions as zlib does. */
function adler32(parts: Uint8Array[]): number {
  let a = 1;
  let b = 0;
  for (const p of parts) {
    for (let i = 0; i < p.length; ) {
      const end = Math.min(p.length, i + 5552);
      for (; i < end; i++) {
        a += p[i]!;
        b += a;
      }
      a %= 65521;
      b %= 65521;
    }
  }
  return ((b << 16) | a) >>> 0;
}
