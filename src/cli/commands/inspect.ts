/**
 * `e2ee-backup inspect FILE`: what anyone can read from a backup without a key — format version,
 * flags, key slots and their Argon2id parameters, sizes — labelled as unauthenticated, because
 * anyone who can write the file can change all of it (a change is caught when it is opened).
 *
 * @module
 */

import { chunkedPlaintextSize } from '../../cobblestone/chunked.js';
import { type BackupInfo, inspectBackup } from '../../container/backup.js';
import { HEADER_FIXED_SIZE, headerLength } from '../../container/header.js';
import type { Context } from '../context.js';
import { formatBytes, formatCount, formatKib, plural } from '../format.js';
import { openInput, PrefixReader } from '../io.js';
import { chunkCount } from './verify.js';

/** Flags of `inspect`. */
export interface InspectFlags {
  json?: boolean;
}

/** What `inspect --json` prints. */
export interface InspectReport extends BackupInfo {
  file: string;
  /** The size of the file (or of what came through the pipe). */
  fileBytes: number;
  /** The encrypted payload after the header. */
  payloadBytes: number;
  chunks: number;
  /** False when no complete backup has this length (cut short, or extended). */
  lengthPlausible: boolean;
}

/** Runs `inspect`. */
export async function inspect(inputPath: string, flags: InspectFlags, _ctx: Context): Promise<void> {
  const input = await openInput(inputPath);
  let info: BackupInfo;
  try {
    const reader = new PrefixReader(input.chunks);
    const fixed = await reader.read(HEADER_FIXED_SIZE);
    const rest = await reader.read(headerLength(fixed) - HEADER_FIXED_SIZE);
    const bytes = new Uint8Array(fixed.length + rest.length);
    bytes.set(fixed);
    bytes.set(rest, fixed.length);
    info = inspectBackup(bytes);
    // From a pipe the size is unknown until the end: read on (cheap, nothing is decrypted), which
    // also spares the writer an EPIPE.
    if (input.size === undefined) for await (const _ of reader.rest());
  } finally {
    await input.close();
  }
  const size = input.size ?? input.bytesRead;
  const payload = size - info.headerSize;
  let plausible: boolean;
  try {
    chunkedPlaintextSize(payload);
    plausible = true;
  } catch {
    plausible = false;
  }
  const report: InspectReport = {
    ...info,
    file: input.name,
    fileBytes: size,
    payloadBytes: payload,
    chunks: chunkCount(payload),
    lengthPlausible: plausible,
  };
  process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : describe(report));
}

function describe(r: InspectReport): string {
  const lines = [
    `${r.file}: e2ee-backup encrypted backup, format version ${r.version}`,
    '  UNAUTHENTICATED: read without a key; anyone who can write the file can change any of this.',
    `  header:       ${formatCount(r.headerSize)} bytes, ${plural(r.slots.length, 'key slot')}`,
  ];
  r.slots.forEach((s, i) => {
    lines.push(
      s.type === 'backup-key'
        ? `  key slot ${i + 1}:   backup key (opens with the 64-digit code)`
        : `  key slot ${i + 1}:   password (Argon2id, memory ${formatKib(s.kdf.m)}, ${plural(s.kdf.t, 'pass', 'passes')}, ${plural(s.kdf.p, 'lane')})`,
    );
  });
  lines.push(
    `  compression:  ${r.compressed ? 'raw deflate (blocks that do not shrink are stored)' : 'none'}`,
    `  padding:      ${r.padded ? 'Padmé (the size reveals little about the content)' : 'none (the size reveals the content size)'}`,
  );
  lines.push(
    `  size:         ${formatBytes(r.fileBytes)} (${formatCount(r.fileBytes)} bytes)`,
    `  payload:      ${formatCount(r.payloadBytes)} bytes in ${plural(r.chunks, 'chunk')} of 16 KiB`,
  );
  if (!r.lengthPlausible)
    lines.push('  WARNING:      no complete backup has this length: the file was cut short or extended.');
  lines.push(
    "  To check the contents and that they authenticate, run 'e2ee-backup verify' with the key or password.",
    '',
  );
  return lines.join('\n');
}
