/**
 * `e2ee-backup backup create | list | restore`: keeping one current backup per machine in a folder
 * or an S3 bucket (`--store s3://bucket/prefix`, src/cli/store-url.ts).
 *
 * - `create` writes a new backup with the next generation number, runs a restore drill on it
 *   (every chunk authenticates, the plaintext's SHA-256 matches), and only then removes the
 *   backups it supersedes: this machine's older ones (its backup set, opened by the same key).
 *   Everything else in the folder stays, and is reported. An unencrypted copy is removed only when
 *   named (`--remove-source`, `--replaces FILE`), after the drill.
 * - `list` shows what the folder holds (names and sizes; generations as the names claim them,
 *   unauthenticated; with a credential, what each backup holds or why it does not open).
 * - `restore` opens the newest backup the credentials open and refuses one older than the newest
 *   generation seen (a rolled-back backup, exit 3) unless `--allow-rollback`.
 *
 * The state file (src/cli/state.ts) remembers, per store, this machine's set, the generations it
 * has seen and the Argon2id parameters it wrote, so that rollback protection needs no numbers from
 * the user, whichever credential opens the backups.
 *
 * @module
 */

import type { BackupInput } from '../../container/backup.js';
import { E2EEError } from '../../errors.js';
import {
  type BackupEntry,
  type CreateBackupOptions,
  type CreatedBackup,
  createBackup,
  type KeptEntry,
  listBackups,
  restoreLatest,
} from '../../lifecycle/lifecycle.js';
import { type Argon2idParams, DEFAULT_KDF_MAXIMA, DEFAULT_KDF_PARAMS } from '../../primitives/kdf.js';
import { isStdio } from '../args.js';
import type { Context } from '../context.js';
import {
  announceSlots,
  type CredentialFlags,
  type KdfFlags,
  kdfParams,
  type NewBackupFlags,
  obtainPassword,
  readKeyFile,
  refuseWeakPassword,
  wantsPassword,
} from '../credentials.js';
import { CliError, EXIT, usageError } from '../exit-codes.js';
import { formatBytes } from '../format.js';
import { type Output, openInput, openOutput, provisionalNote, pump } from '../io.js';
import { collectWhileCompressing } from '../memory.js';
import { checkCopies, removeCopies } from '../remove-copies.js';
import { defaultStatePath, larger, largerKdf, newSetName, openState, type StoreState } from '../state.js';
import { keyForStore } from '../store-key.js';
import { openBackupStore, type StoreFlags, stateStoreId } from '../store-url.js';

/** Flags of `backup create`. */
export interface BackupCreateFlags extends NewBackupFlags, KdfFlags, FolderWriteFlags {
  meta?: Record<string, string>;
  /** The state file (default: in the XDG config folder). */
  state?: string;
  /** Remove SOURCE once the backup has verified. */
  removeSource?: boolean;
  /** Unencrypted copies to remove once the backup has verified. */
  replaces?: string[];
  json?: boolean;
}

/** Flags of `backup list`. */
export interface BackupListFlags extends CredentialFlags, StoreFlags {
  /** Largest Argon2id memory (KiB) a password slot may ask for. */
  maxKdfMemory?: number;
  /** The state file (default: in the XDG config folder). */
  state?: string;
  json?: boolean;
}

/** Flags of `backup restore`. */
export interface BackupRestoreFlags extends CredentialFlags, StoreFlags {
  output: string;
  /** The newest generation this device (or the vault) has seen. */
  newestSeen?: number;
  /** Restore an older generation than `newestSeen` anyway. */
  allowRollback?: boolean;
  /** Restore only this backup set. */
  set?: string;
  /** Largest Argon2id memory (KiB) a password slot may ask for. */
  maxKdfMemory?: number;
  /** The state file (default: in the XDG config folder). */
  state?: string;
}

/**
 * The bounds on a password slot's Argon2id parameters when opening the folder's backups: with
 * `--max-kdf-memory`, that memory and (as `decrypt`) the decoder's bounds on the rest; else the
 * largest this machine has written there (the state file), and at least the defaults — so that
 * a backup made here with `--kdf-memory 128MiB` opens without a flag, and planted slots cost no
 * more than this machine's own.
 */
function openKdfMaxima(maxKdfMemory: number | undefined, entry: StoreState): Argon2idParams {
  if (maxKdfMemory !== undefined) return { ...DEFAULT_KDF_MAXIMA, m: maxKdfMemory };
  return largerKdf(entry.kdf, DEFAULT_KDF_PARAMS);
}

function requireCredential(flags: CredentialFlags, verb: string): void {
  if (flags.keyFile === undefined && !wantsPassword(flags))
    throw usageError(
      `no credential to ${verb} with`,
      'Give --key-file FILE, --password, --password-file FILE, or set E2EE_BACKUP_PASSWORD',
    );
}

/** Kept entries in words: the ones that need a look one per line, the rest counted. */
export function describeKept(kept: readonly KeptEntry[], ctx: Context): string {
  const why: Record<string, (k: KeptEntry) => string> = {
    unreadable: (k) =>
      `it cannot be opened (${(k.error as { code?: string } | undefined)?.code ?? 'not a backup'})`,
    'kdf-limit': () => 'its password slot asks for more Argon2id work than this backup uses; not tried',
    'remove-failed': (k) =>
      `it is superseded but could not be removed (${(k.error as Error | undefined)?.message})`,
    newer: (k) => `it is generation ${k.generation}, not older than the new one`,
  };
  const counts = new Map<string, number>();
  for (const k of kept) {
    const explain = why[k.reason];
    if (explain) ctx.warn(`e2ee-backup: warning: kept ${k.name}: ${explain(k)}`);
    counts.set(k.reason, (counts.get(k.reason) ?? 0) + 1);
  }
  if (kept.length === 0) return '';
  const words: Record<string, string> = {
    'not-a-backup': 'not a backup',
    'another-key': 'another key',
    'another-set': 'another set',
    unreadable: 'unreadable',
    'kdf-limit': 'not tried',
    newer: 'newer',
    'remove-failed': 'not removed',
  };
  return `; kept ${kept.length} (${[...counts].map(([r, n]) => `${words[r]}: ${n}`).join(', ')})`;
}

/** A kept entry in `--json` output. */
export const keptJson = (k: KeptEntry) => ({
  name: k.name,
  reason: k.reason,
  ...(k.generation !== undefined ? { generation: k.generation } : {}),
  ...(k.set !== undefined ? { set: k.set } : {}),
  ...(k.error !== undefined ? { code: (k.error as { code?: string }).code ?? null } : {}),
});

/** The flags of `backup create` and `whatsapp import --store` that say where and as what a backup goes. */
export interface FolderWriteFlags extends StoreFlags {
  /** The newest generation this device has seen: the new backup gets a larger one. */
  newestSeen?: number;
  /** This machine's backup set (default: the one in the state file, else a new one). */
  set?: string;
  /** Write even when an unreadable entry may be newer and no generation is known. */
  allowUnreadableNewest?: boolean;
}

/**
 * `createBackup` into the store (a folder, or `s3://`) as this machine's backup set, with the state file at
 * `statePath`: the set and the generations seen come from it, the new generation is recorded in
 * it before anything is written, and the backup once made. Only what the new backup proves
 * superseded is removed (SPEC.md §5.1).
 */
export async function createInFolder(
  source: BackupInput,
  options: Pick<CreateBackupOptions, 'password' | 'allowWeakKdf' | 'metadata'> & {
    key?: Uint8Array;
    kdf?: Argon2idParams;
  },
  flags: FolderWriteFlags,
  statePath: string,
  ctx: Context,
): Promise<CreatedBackup> {
  // Locked from reading the state until the generation is recorded: two creates at once must
  // not both take the next one.
  const state = await openState(statePath, stateStoreId(flags), { lock: true });
  const set = flags.set ?? state.entry.set ?? newSetName();
  const newestSeen = larger(flags.newestSeen, larger(state.entry.newest, state.entry.used));
  const written = options.kdf ? { kdf: largerKdf(undefined, options.kdf) } : {};
  const created = await createBackup(await openBackupStore(flags, ctx), source, {
    ...options,
    // This machine's older backups open with what it wrote them with, even if that was more.
    kdfMaxima: options.kdf ? largerKdf(state.entry.kdf, options.kdf) : undefined,
    set,
    newestSeen,
    allowUnreadableNewest: flags.allowUnreadableNewest,
    // Recorded before anything is uploaded: no generation is ever written twice.
    onGeneration: async (g) => {
      await state.update((e) => {
        e.set = set;
        e.used = larger(e.used, g);
        if (written.kdf) e.kdf = largerKdf(e.kdf, written.kdf);
      });
      await state.release();
    },
    signal: ctx.signal,
  })
    .catch((e: unknown) => {
      throw cliNewestUnreadable(e);
    })
    .finally(() => state.release());
  await state.update((e) => {
    e.set = set;
    e.newest = larger(e.newest, created.generation);
    e.used = larger(e.used, created.generation);
    if (written.kdf) e.kdf = largerKdf(e.kdf, written.kdf);
  });
  return created;
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
  if (flags.removeSource && isStdio(source))
    throw usageError(
      '--remove-source needs a SOURCE file',
      'Name the file to back up, or drop --remove-source',
    );
  const statePath = flags.state ?? defaultStatePath();
  const copies = await checkCopies(
    [
      ...(flags.removeSource ? [{ path: source!, role: 'source' as const }] : []),
      ...(flags.replaces ?? []).map((path) => ({ path, role: 'replaced' as const })),
    ],
    [flags.keyFile, flags.passwordFile, statePath],
  );
  const password = wantsPassword(flags);
  if (flags.allowWeakPassword && !password)
    throw usageError('--allow-weak-password only applies to a password slot', 'Add --password, or drop it');
  announceSlots(flags, ctx.quiet);
  // Backups are always compressed.
  const input = await openInput(source, collectWhileCompressing());
  try {
    const key = flags.keyFile !== undefined ? await readKeyFile(flags.keyFile, ctx.warn) : undefined;
    const kdf = password ? kdfParams(flags, ctx.warn) : undefined;
    const pw = password ? await obtainPassword(flags, { confirm: true }) : undefined;
    if (pw !== undefined) await refuseWeakPassword(pw, flags);
    const created = await createInFolder(
      input.chunks,
      { key, password: pw, kdf: kdf?.kdf, allowWeakKdf: kdf?.allowWeakKdf, metadata: flags.meta ?? {} },
      flags,
      statePath,
      ctx,
    );
    // The source goes only if it still holds exactly what the backup holds (its SHA-256).
    const files = await removeCopies(copies, created.sha256);
    const keptWords = describeKept(created.kept, ctx); // warns about the ones that need a look
    if (flags.json)
      process.stdout.write(
        `${JSON.stringify({
          name: created.name,
          generation: created.generation,
          set: created.set,
          bytes: input.bytesRead,
          removed: created.removed,
          kept: created.kept.map(keptJson),
          removedFiles: files.removed,
        })}\n`,
      );
    else
      process.stdout.write(
        `${created.name}: generation ${created.generation} of set ${created.set}, ${formatBytes(input.bytesRead)} backed up and verified` +
          `${created.removed.length > 0 ? `; removed ${created.removed.join(', ')}` : ''}` +
          `${keptWords}` +
          `${files.removed.length > 0 ? `; removed ${files.removed.join(', ')} (unencrypted)` : ''}\n`,
      );
    if (files.kept.length > 0)
      throw new CliError(
        EXIT.IO,
        `the backup is made, but ${files.kept.map((k) => `${k.path} was not removed: ${k.why}`).join('; ')}`,
        'Check it, then remove it yourself or run the backup again',
      );
  } finally {
    await input.close();
  }
}

/** An entry of `backup list` in words. */
function describeEntry(e: BackupEntry): string {
  if (e.metadata)
    return `generation ${e.metadata.generation}${e.metadata.set !== undefined ? ` of set ${e.metadata.set}` : ''}, made ${e.metadata.created}`;
  if (e.reason === 'another-key') return 'another key or password';
  if (e.reason === 'kdf-limit')
    return 'not tried: its password slot asks for more Argon2id work than allowed (--max-kdf-memory)';
  if (e.reason === 'unreadable')
    return `cannot be opened (${(e.error as { code?: string } | undefined)?.code ?? 'unreadable'})`;
  return e.encrypted ? `generation ${e.generation ?? '?'}` : 'NOT ENCRYPTED';
}

/** Runs `backup list --store DIR`. */
export async function backupList(flags: BackupListFlags, ctx: Context): Promise<void> {
  const store = await openBackupStore(flags, ctx);
  const withCredential = flags.keyFile !== undefined || wantsPassword(flags);
  const key = flags.keyFile !== undefined ? await readKeyFile(flags.keyFile, ctx.warn) : undefined;
  const password =
    withCredential && key === undefined ? await obtainPassword(flags, { confirm: false }) : undefined;
  const state = await openState(flags.state ?? defaultStatePath(), stateStoreId(flags));
  const entries = await listBackups(store, withCredential ? { key, password } : undefined, {
    kdfMaxima: openKdfMaxima(flags.maxKdfMemory, state.entry),
  });
  if (flags.json) {
    const plain = entries.map(({ error, ...e }) => ({
      ...e,
      ...(error !== undefined ? { code: (error as { code?: string }).code ?? null } : {}),
    }));
    process.stdout.write(`${JSON.stringify(plain)}\n`);
    return;
  }
  for (const e of entries) process.stdout.write(`${e.name}  ${formatBytes(e.size)}  ${describeEntry(e)}\n`);
}

/**
 * The library's `ROLLBACK` names its own option (`allowRollback`); the CLI's advice names the
 * flag (`--allow-rollback`), so the library's words are dropped from the message.
 */
function cliRollback(e: unknown): unknown {
  if (!(e instanceof E2EEError) || e.code !== 'ROLLBACK') return e;
  return new E2EEError('ROLLBACK', e.message.replace(/\s*\([^)]*allowRollback[^)]*\)/g, ''), { cause: e });
}

/** Likewise `KDF_PARAMS` from a skipped slot: the CLI's advice names `--max-kdf-memory`. */
function cliKdfLimit(e: unknown): unknown {
  if (!(e instanceof E2EEError) || e.code !== 'KDF_PARAMS') return e;
  const message = e.message
    .replace(/; raise maxima\.\w+ if you trust this input/, '')
    .replace(
      / \(skipped without running Argon2id: pass kdfMaxima[^)]*\)/,
      ' (skipped without running Argon2id)',
    );
  return new E2EEError('KDF_PARAMS', message, { cause: e });
}

/** Likewise `NEWEST_UNREADABLE`: the CLI's advice names its flags, not the library's options. */
function cliNewestUnreadable(e: unknown): unknown {
  if (!(e instanceof E2EEError) || e.code !== 'NEWEST_UNREADABLE') return e;
  const cut = e.message.indexOf('. Pass newestSeen');
  return cut < 0 ? e : new E2EEError('NEWEST_UNREADABLE', e.message.slice(0, cut), { cause: e });
}

/** Runs `backup restore --store DIR -o OUT`. */
export async function backupRestore(flags: BackupRestoreFlags, ctx: Context): Promise<void> {
  if (flags.output === '-' && process.stdout.isTTY)
    throw usageError('refusing to print a decrypted backup on the terminal', 'Give -o FILE');
  requireCredential(flags, 'open the backups');
  const store = await openBackupStore(flags, ctx);
  const statePath = flags.state ?? defaultStatePath();
  const key = flags.keyFile !== undefined ? await keyForStore(store, flags.keyFile, ctx) : undefined;
  const state = await openState(statePath, stateStoreId(flags));
  const newestSeen = larger(flags.newestSeen, state.entry.newest);
  if (flags.allowRollback && newestSeen === undefined)
    throw usageError(
      '--allow-rollback only applies with --newest-seen, or once the state file knows a generation',
      'Add --newest-seen N, or drop it',
    );
  const password = key === undefined ? await obtainPassword(flags, { confirm: false }) : undefined;
  const restored = await restoreLatest(
    store,
    { key, password },
    {
      newestSeen,
      allowRollback: flags.allowRollback,
      set: flags.set,
      kdfMaxima: openKdfMaxima(flags.maxKdfMemory, state.entry),
    },
  ).catch((e: unknown) => {
    throw cliKdfLimit(cliRollback(e));
  });
  const { generation } = restored.metadata;
  if (newestSeen !== undefined && generation < newestSeen)
    ctx.warn(
      `e2ee-backup: warning: --allow-rollback: restoring generation ${generation}, older than generation ${newestSeen} already seen`,
    );
  for (const s of restored.skipped)
    if (s.reason === 'unreadable' || s.reason === 'kdf-limit')
      ctx.warn(
        `e2ee-backup: warning: skipped ${s.name}: ${s.reason === 'kdf-limit' ? 'its password slot asks for more Argon2id work than allowed' : `it cannot be opened (${(s.error as { code?: string } | undefined)?.code ?? 'unreadable'})`}`,
      );
  let output: Output | undefined;
  try {
    output = await openOutput(flags.output);
    if (output.inPlace) ctx.warn(provisionalNote(output));
    const written = await pump(restored.stream, output);
    await output.commit();
    await state.update((e) => {
      e.newest = larger(e.newest, generation);
      e.used = larger(e.used, generation);
    });
    const set = restored.metadata.set;
    ctx.info(
      `Restored ${formatBytes(written)} from ${restored.name} (generation ${generation}${set !== undefined ? ` of set ${set}` : ''}, made ${restored.metadata.created})${output.isStdout ? '' : `: ${output.name}`}.` +
        (set !== undefined && set !== state.entry.set
          ? ` To continue that set from this machine: backup create --set ${set}.`
          : ''),
    );
  } catch (e) {
    await restored.stream.cancel().catch(() => {});
    await output?.abort();
    throw e;
  }
}
