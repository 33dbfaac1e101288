/** Small byte helpers shared by the layers. Internal: not part of the public API. */

const encoder = new TextEncoder();

/** UTF-8 bytes of a string, or the bytes themselves. */
export function toBytes(data: string | Uint8Array): Uint8Array {
  return typeof data === 'string' ? encoder.encode(data) : data;
}

/** Concatenation into one new array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Equality in time that depends only on the lengths, for secrets and MACs. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Random bytes from the platform CSPRNG (WebCrypto's getRandomValues, in 64 KiB calls). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) globalThis.crypto.getRandomValues(out.subarray(off, off + 65536));
  return out;
}

type BufferCtor = { allocUnsafeSlow(n: number): Uint8Array };
const NodeBuffer = (globalThis as { Buffer?: BufferCtor }).Buffer;

/**
 * A new array whose every byte the caller will overwrite. Where Node's Buffer exists it skips the
 * zero-fill (measurable at hundreds of MB/s); the result is a plain Uint8Array over memory of its
 * own, never a view into a shared pool.
 */
export function allocForOverwrite(n: number): Uint8Array {
  if (NodeBuffer && n >= 4096) {
    const b = NodeBuffer.allocUnsafeSlow(n);
    return new Uint8Array(b.buffer, b.byteOffset, n);
  }
  return new Uint8Array(n);
}
