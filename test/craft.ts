// Builds backups byte by byte, for tests that need inputs the encoder would never write
// (bad framing, odd flags, foreign slots). Uses the library's header and chunked layers, and
// node:zlib for deflate, so that every other byte is under the test's control.
import { createHash } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { encryptChunked } from '../src/cobblestone/chunked.js';
import {
  buildHeader,
  CHECKSUM_SIZE,
  type NewBackupKeySlot,
  type NewPasswordSlot,
} from '../src/container/header.js';
import { concat } from '../src/internal/bytes.js';

export const u32 = (n: number) => Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);

export function metaRecord(json: string | object): Uint8Array {
  const bytes = new TextEncoder().encode(typeof json === 'string' ? json : JSON.stringify(json));
  return concat(u32(bytes.length), bytes);
}

export const META = { created: '2026-11-26T00:00:00.000Z', generation: 1, app: {} };
export const stored = (data: Uint8Array) => concat(Uint8Array.of(1), u32(data.length), data);
export function deflated(data: Uint8Array, packed = new Uint8Array(deflateRawSync(data))): Uint8Array {
  return concat(Uint8Array.of(2), u32(packed.length), u32(data.length), packed);
}
export const END = Uint8Array.of(0);

/** Recomputes a header's checksum after a test has edited it (as an attacker could). */
export function reseal(header: Uint8Array): Uint8Array {
  const h = header.slice();
  const body = h.subarray(0, h.length - CHECKSUM_SIZE);
  h.set(createHash('sha256').update(body).digest().subarray(0, CHECKSUM_SIZE), h.length - CHECKSUM_SIZE);
  return h;
}

/** A backup whose header and plaintext framing are given verbatim. */
export async function craft(
  slots: (NewBackupKeySlot | NewPasswordSlot)[],
  flags: number,
  plaintext: Uint8Array,
  fileKey = new Uint8Array(32).fill(0x42),
  editHeader?: (h: Uint8Array) => Uint8Array,
): Promise<Uint8Array> {
  let header = await buildHeader(slots, fileKey, flags);
  if (editHeader) header = editHeader(header);
  return concat(header, await encryptChunked(fileKey, plaintext, { context: header }));
}
