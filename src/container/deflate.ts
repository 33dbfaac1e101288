/**
 * Raw deflate (RFC 1951) for body blocks, from the platform where it has one (node:zlib,
 * CompressionStream) and from fflate where it does not. Encoders may emit different bytes; every
 * decoder accepts any valid raw deflate stream, so backups move freely between platforms.
 *
 * @module
 */

import { E2EEError } from '../errors.js';
import { readAll, toStream } from '../internal/streams.js';

interface Zlib {
  deflateRaw(
    buf: Uint8Array,
    opts: { level: number; chunkSize: number },
    cb: (err: Error | null, out: Uint8Array) => void,
  ): void;
  inflateRawSync(
    buf: Uint8Array,
    opts: { maxOutputLength: number; info: true },
  ): { buffer: Uint8Array; engine: { bytesWritten: number } };
}

function nodeZlib(): Zlib | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return proc?.getBuiltinModule?.('node:zlib') as Zlib | undefined;
}

// node:zlib's output buffer size. Its default, 16 KiB, makes a 1 MiB block's output a few dozen
// buffers that are then joined into one more: with 256 KiB, usually one or two. Measured on the
// CLI's compressed encrypt (README, Benchmarks): 22 % less time, no more memory. The compressed
// bytes do not depend on it (checked at levels 1-9, the only ones the format's writer uses).
const DEFLATE_OUTPUT_CHUNK = 256 * 1024;

/** Compresses one block. Asynchronous: on Node it runs on libuv's thread pool. */
export async function deflateRaw(data: Uint8Array, level: number): Promise<Uint8Array> {
  const z = nodeZlib();
  if (z) {
    return new Promise((resolve, reject) =>
      z.deflateRaw(data, { level, chunkSize: DEFLATE_OUTPUT_CHUNK }, (err, out) =>
        err ? reject(err) : resolve(new Uint8Array(out.buffer, out.byteOffset, out.byteLength)),
      ),
    );
  }
  if (typeof CompressionStream === 'function') {
    // The platform's encoder has a fixed level; the format does not care which level made a block.
    return readAll(
      toStream(data).pipeThrough(
        new CompressionStream('deflate-raw') as unknown as TransformStream<Uint8Array, Uint8Array>,
      ),
      Number.POSITIVE_INFINITY,
    );
  }
  const { deflateSync } = await import('fflate');
  return deflateSync(data, { level: level as 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 });
}

function bad(message: string, cause?: unknown): E2EEError {
  return new E2EEError('MALFORMED_PAYLOAD', `compressed block: ${message}`, cause ? { cause } : undefined);
}

/**
 * Decompresses one block that must expand to exactly `expected` bytes and end exactly at the
 * end of `data`. Never produces more than `expected` bytes, whatever the input claims.
 */
export async function inflateRaw(data: Uint8Array, expected: number): Promise<Uint8Array> {
  const z = nodeZlib();
  if (z) {
    let res: ReturnType<Zlib['inflateRawSync']>;
    try {
      res = z.inflateRawSync(data, { maxOutputLength: expected, info: true });
    } catch (e) {
      throw bad(`not valid raw deflate, or it expands past its declared ${expected} bytes`, e);
    }
    if (res.buffer.length !== expected)
      throw bad(`expands to ${res.buffer.length} bytes, not the declared ${expected}`);
    if (res.engine.bytesWritten !== data.length)
      throw bad(`${data.length - res.engine.bytesWritten} bytes follow the end of the deflate stream`);
    return new Uint8Array(res.buffer.buffer, res.buffer.byteOffset, res.buffer.byteLength);
  }
  if (typeof DecompressionStream === 'function') {
    let out: Uint8Array;
    try {
      // DecompressionStream rejects trailing bytes after the end of the deflate stream itself.
      out = await readAll(
        toStream(data).pipeThrough(
          new DecompressionStream('deflate-raw') as unknown as TransformStream<Uint8Array, Uint8Array>,
        ),
        expected,
      );
    } catch (e) {
      throw bad(`not valid raw deflate, or it expands past its declared ${expected} bytes`, e);
    }
    if (out.length !== expected) throw bad(`expands to ${out.length} bytes, not the declared ${expected}`);
    return out;
  }
  return inflateWithFflate(data, expected);
}

async function inflateWithFflate(data: Uint8Array, expected: number): Promise<Uint8Array> {
  const { Inflate } = await import('fflate');
  const out = new Uint8Array(expected);
  let got = 0;
  let ended = false;
  let overflow = false;
  const inf = new Inflate((chunk, final) => {
    if (got + chunk.length > expected) overflow = true;
    else out.set(chunk, got);
    got += chunk.length;
    if (final) ended = true;
  });
  try {
    // Fed in small pieces so that an overflowing block is caught after at most one piece.
    for (let o = 0; o < data.length && !overflow; o += 16384)
      inf.push(data.subarray(o, o + 16384), o + 16384 >= data.length);
  } catch (e) {
    throw bad('not valid raw deflate', e);
  }
  if (overflow || got !== expected) throw bad(`does not expand to the declared ${expected} bytes`);
  if (!ended) throw bad('the deflate stream does not end within the block');
  return out;
}
