/**
 * `e2ee-backup encrypt [IN] [-o OUT]`: a file or standard input into a backup with a backup-key
 * slot, a password slot, or both.
 *
 * @module
 */

import { encryptBackup } from '../../container/backup.js';
import { isStdio } from '../args.js';
import type { Context } from '../context.js';
import {
  announceSlots,
  type KdfFlags,
  kdfParams,
  type NewBackupFlags,
  obtainPassword,
  readKeyFile,
  refuseWeakPassword,
  wantsPassword,
} from '../credentials.js';
import { usageError } from '../exit-codes.js';
import { formatBytes, formatDuration, formatRate } from '../format.js';
import { type Output, openInput, openOutput, pump } from '../io.js';
import { collectWhileCompressing } from '../memory.js';
import { startProgress } from '../progress.js';

/** Flags of `encrypt`. */
export interface EncryptFlags extends NewBackupFlags, KdfFlags {
  output?: string;
  compression?: 'deflate' | 'none';
  level?: number;
  /** `--no-padding` sets this to false. */
  padding?: boolean;
  meta?: Record<string, string>;
  generation?: number;
}

/** Runs `encrypt`. */
export async function encrypt(
  inputPath: string | undefined,
  flags: EncryptFlags,
  ctx: Context,
): Promise<void> {
  // Everything that can be refused is refused before a byte is read or a prompt is shown.
  if (isStdio(flags.output) && process.stdout.isTTY)
    throw usageError(
      'refusing to write an encrypted backup to the terminal',
      'Redirect the output (> FILE), pipe it, or give -o FILE',
    );
  if (isStdio(inputPath) && process.stdin.isTTY)
    throw usageError(
      'no input: standard input is the terminal',
      'Name a file to encrypt, or pipe the data in',
    );
  const password = wantsPassword(flags);
  if (flags.keyFile === undefined && !password)
    throw usageError(
      'no credential to encrypt with',
      'Give --key-file FILE (from e2ee-backup keygen), --password, --password-file FILE, or set E2EE_BACKUP_PASSWORD',
    );
  const kdfFlagGiven =
    flags.kdfMemory !== undefined ||
    flags.kdfIterations !== undefined ||
    flags.kdfParallelism !== undefined ||
    flags.allowWeakKdf === true ||
    flags.insecureFastKdf === true;
  if (kdfFlagGiven && !password)
    throw usageError('the --kdf-* flags only apply to a password slot', 'Add --password, or drop them');
  if (flags.allowWeakPassword && !password)
    throw usageError('--allow-weak-password only applies to a password slot', 'Add --password, or drop it');
  if (flags.level !== undefined && flags.compression === 'none')
    throw usageError('--level only applies to compression', 'Drop --level, or use --compression deflate');
  announceSlots(flags, ctx.quiet);

  const progress = { update: (_: number) => {} };
  const collect = flags.compression === 'none' ? undefined : collectWhileCompressing();
  const input = await openInput(inputPath, (n) => {
    collect?.(n);
    progress.update(n);
  });
  let output: Output | undefined;
  try {
    const key = flags.keyFile !== undefined ? await readKeyFile(flags.keyFile, ctx.warn) : undefined;
    const kdf = password ? kdfParams(flags, ctx.warn) : undefined;
    output = await openOutput(flags.output);
    const pw = password ? await obtainPassword(flags, { confirm: true }) : undefined;
    if (pw !== undefined) await refuseWeakPassword(pw, flags);

    const started = performance.now();
    const bar = await startProgress('encrypting', input.size, ctx.quiet);
    progress.update = (n) => bar.update(n);
    let written: number;
    try {
      const stream = encryptBackup(input.byteStream?.() ?? input.chunks, {
        key,
        password: pw,
        kdf: kdf?.kdf,
        allowWeakKdf: kdf?.allowWeakKdf,
        compression: flags.compression ?? 'deflate',
        level: flags.level,
        padding: flags.padding === false ? 'none' : 'padme',
        metadata: flags.meta ?? {},
        generation: flags.generation,
        signal: ctx.signal,
      });
      written = await pump(stream, output);
      await output.commit();
    } finally {
      bar.stop();
    }
    const seconds = (performance.now() - started) / 1000;
    ctx.info(
      `Encrypted ${formatBytes(input.bytesRead)} into ${formatBytes(written)} in ${formatDuration(seconds)} (${formatRate(input.bytesRead, seconds)})${output.isStdout ? '' : `: ${output.name}`}.`,
    );
  } catch (e) {
    await output?.abort();
    throw e;
  } finally {
    await input.close();
  }
}
