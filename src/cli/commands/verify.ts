/**
 * `e2ee-backup verify FILE`: a restore drill. Decrypts everything to nowhere, so that every chunk,
 * the end marker and the padding are checked, and reports the metadata, sizes and speed. The
 * one way to know a backup (and the credential) will work on the day it is needed.
 *
 * @module
 */

import { HEADER_SIZE, RECORD_SIZE } from '../../cobblestone/chunked.js';
import type { Context } from '../context.js';
import { describeError } from '../exit-codes.js';
import { formatBytes, formatCount, formatDuration, formatRate, mbPerSecond, plural } from '../format.js';
import { drain, openInput } from '../io.js';
import { type OpenFlags, openBackup } from '../open-backup.js';
import { startProgress } from '../progress.js';

/** Flags of `verify`. */
export interface VerifyFlags extends OpenFlags {
  json?: boolean;
}

/** The number of Cobblestone chunks in a payload of `payloadBytes` (salt and commitment included). */
export function chunkCount(payloadBytes: number): number {
  return Math.floor(Math.max(0, payloadBytes - HEADER_SIZE) / RECORD_SIZE) + 1;
}

/** Runs `verify`. */
export async function verify(inputPath: string, flags: VerifyFlags, ctx: Context): Promise<void> {
  const progress = { update: (_: number) => {} };
  const input = await openInput(inputPath, (n) => progress.update(n));
  try {
    const started = performance.now();
    const opened = await openBackup(input, flags, ctx);
    const bar = await startProgress('verifying', input.size, ctx.quiet);
    progress.update = (n) => bar.update(n);
    let plaintext: number;
    try {
      plaintext = await drain(opened.stream);
    } finally {
      bar.stop();
    }
    const seconds = (performance.now() - started) / 1000;
    const encrypted = input.bytesRead;
    const chunks = chunkCount(encrypted - opened.header.bytes.length);
    const { metadata } = opened;
    if (flags.json) {
      process.stdout.write(
        `${JSON.stringify({
          ok: true,
          file: input.name,
          metadata,
          openedWith: opened.openedWith,
          encryptedBytes: encrypted,
          plaintextBytes: plaintext,
          chunks,
          seconds: Number(seconds.toFixed(3)),
          /** Plaintext MB (10^6 bytes) per second, Argon2id included. */
          mbPerSecond: Number(mbPerSecond(plaintext, seconds).toFixed(1)),
        })}\n`,
      );
      return;
    }
    const app = Object.keys(metadata.app).length > 0 ? JSON.stringify(metadata.app) : '(none)';
    process.stdout.write(
      [
        `${input.name}: OK, the backup is intact and the ${opened.openedWith} opens it`,
        `  created:     ${metadata.created}`,
        `  generation:  ${metadata.generation}`,
        `  app fields:  ${app}`,
        `  encrypted:   ${formatBytes(encrypted)} (${formatCount(encrypted)} bytes)`,
        `  plaintext:   ${formatBytes(plaintext)} (${formatCount(plaintext)} bytes)`,
        `  time:        ${formatDuration(seconds)} (${formatRate(plaintext, seconds)} of plaintext)`,
        `  ${chunks === 1 ? 'its single chunk authenticates' : `all ${plural(chunks, 'chunk')} authenticate`}; the header, end marker and padding check out`,
        '',
      ].join('\n'),
    );
  } catch (e) {
    // Scripts reading --json get a verdict on stdout either way; the message still goes to stderr.
    if (flags.json) {
      const { exitCode, code, message } = describeError(e);
      process.stdout.write(
        `${JSON.stringify({ ok: false, file: input.name, code: code ?? null, exitCode, message })}\n`,
      );
    }
    throw e;
  } finally {
    await input.close();
  }
}
