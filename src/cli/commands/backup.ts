/**
 * `e2ee-backup backup create | list | restore`: keeping exactly one current backup in a folder.
 *
 * - `create` writes a new backup with the next generation number, runs a restore drill on it
 *   (every chunk authenticates, the plaintext's SHA-256 matches), and only then deletes the older
 *   backups — so the folder always holds at least one complete backup.
 * - `list` shows what the folder holds (names and sizes; generations as the names claim them,
 *   unauthenticated until opened).
 * - `restore` opens the newest backup the credentials open and refuses one older than
 *   `--newest-seen` (a rolled-back backup, exit 3) unless `--allow-rollback`.
 *
 * @module
 */

import { createBackup, listBackups, restoreLatest } from '../../lifecycle.js';
import { isStdio } from '../args.js';
import type { Context } from '../context.js';
import {
  type CredentialFlags,
  type KdfFlags,
  kdfParams,
  obtainPassword,
  readKeyFile,
  wantsPassword,
} from '../credentials.js';
import { usageError } from '../exit-codes.js';
import { formatBytes } from '../format.js';
import { type Output, openInput, openOutput, pump } from '../io.js';
import { collectWhileCompressing } from '../memory.js';
import { openBackupStore, type StoreFlags } from '../store-url.js';

/** Flags of `backup create`. */
export interface BackupCreateFlags extends CredentialFlags, KdfFlags, StoreFlags {
  meta?: Record<string, string>;
  /** The newest generation this device has seen: the new backup gets a larger one. */
  newestSeen?: number;
  json?: boolean;
}

/** Flags of `backup list`. */
export interface BackupListFlags extends StoreFlags {
  json?: boolean;
}

/** Flags of `backup restore`. */
export interface BackupRestoreFlags extends CredentialFlags, StoreFlags {
  output: string;
  /** The newest generation this device (or the vault) has seen. */
  newestSeen?: number;
  /** Restore an older generation than `newestSeen` anyway. */
  allowRollback?: boolean;
}

function requireCredential(flags: CredentialFlags, verb: string): void {
  if (flags.keyFile === undefined && !wantsPassword(flags))
    throw usageError(
      `no credential to ${verb} with`,
      'Give --key-file FILE, --password, --password-file FILE, or set E2EE_BACKUP_PASSWORD',
    );
}

/** Runs `backup create SOURCE --store DIR`. */
export async function backupCreate(
  source: string | undefined,
  flags: BackupCreateFlags,
  ctx: Context,
): Promise<void> {
  if (isStdio(source) && process.stdin.isTTY)
    throw usageError(
      'no input: standard input is the terminal',
      'Name a file to back up, or pipe the data in',
    );
  requireCredential(flags, 'encrypt');
  const password = wantsPassword(flags);
  // Backups are always compressed.
  const input = await openInput(source, collectWhileCompressing());
  try {
    const key = flags.keyFile !== undefined ? await readKeyFile(flags.keyFile, ctx.warn) : undefined;
    const kdf = password ? kdfParams(flags, ctx.warn) : undefined;
    const pw = password ? await obtainPassword(flags, { confirm: true }) : undefined;
    const created = await createBackup(await openBackupStore(flags, ctx), input.chunks, {
      key,
      password: pw,
      kdf: kdf?.kdf,
      allowWeakKdf: kdf?.allowWeakKdf,
      metadata: flags.meta ?? {},
      newestSeen: flags.newestSeen,
      signal: ctx.signal,
    });
    if (flags.json)
      process.stdout.write(
        `${JSON.stringify({ name: created.name, generation: created.generation, bytes: input.bytesRead, removed: created.removed })}\n`,
      );
    else
      process.stdout.write(
        `${created.name}: generation ${created.generation}, ${formatBytes(input.bytesRead)} backed up and verified` +
          `${created.removed.length > 0 ? `; removed ${created.removed.join(', ')}` : ''}\n`,
      );
  } finally {
    await input.close();
  }
}

/** Runs `backup list --store DIR`. */
export async function backupList(flags: BackupListFlags, ctx: Context): Promise<void> {
  const entries = await listBackups(await openBackupStore(flags, ctx));
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(entries)}\n`);
    return;
  }
  for (const e of entries)
    process.stdout.write(
      `${e.name}  ${formatBytes(e.size)}  ${e.encrypted ? `generation ${e.generation ?? '?'}` : 'NOT ENCRYPTED'}\n`,
    );
}

/** Runs `backup restore --store DIR -o OUT`. */
export async function backupRestore(flags: BackupRestoreFlags, ctx: Context): Promise<void> {
  if (flags.output === '-' && process.stdout.isTTY)
    throw usageError('refusing to print a decrypted backup on the terminal', 'Give -o FILE');
  if (flags.allowRollback && flags.newestSeen === undefined)
    throw usageError('--allow-rollback only applies with --newest-seen', 'Add --newest-seen N, or drop it');
  requireCredential(flags, 'open the backups');
  const key = flags.keyFile !== undefined ? await readKeyFile(flags.keyFile, ctx.warn) : undefined;
  const password = key === undefined ? await obtainPassword(flags, { confirm: false }) : undefined;
  const restored = await restoreLatest(
    await openBackupStore(flags, ctx),
    { key, password },
    { newestSeen: flags.newestSeen, allowRollback: flags.allowRollback },
  );
  const { generation } = restored.metadata;
  if (flags.newestSeen !== undefined && generation < flags.newestSeen)
    ctx.warn(
      `e2ee-backup: warning: --allow-rollback: restoring generation ${generation}, older than generation ${flags.newestSeen} already seen`,
    );
  let output: Output | undefined;
  try {
    output = await openOutput(flags.output);
    const written = await pump(restored.stream, output);
    await output.commit();
    ctx.info(
      `Restored ${formatBytes(written)} from ${restored.name} (generation ${generation}, made ${restored.metadata.created})${output.isStdout ? '' : `: ${output.name}`}. Remember --newest-seen ${generation}.`,
    );
  } catch (e) {
    await restored.stream.cancel().catch(() => {});
    await output?.abort();
    throw e;
  }
}
