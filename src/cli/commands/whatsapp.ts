/**
 * `e2ee-backup whatsapp decrypt | inspect | import`: WhatsApp's crypt15 backups, opened with their
 * 64-digit key (docs/whatsapp-crypt15.md).
 *
 * - `decrypt FILE --key-file K -o OUT`: the database, written as `decrypt -o` writes: a file
 *   atomically once the whole file has authenticated; standard output, a FIFO or a device as it
 *   comes, provisional until exit 0.
 * - `inspect FILE`: the unauthenticated prefix; the phone digits only with `--phone-digits`.
 * - `import FILE --key-file K (-o OUT.e2ee | --store DIR)`: re-encrypted into an e2ee-backup
 *   container under the same key, without the plaintext touching the disk; into a folder as
 *   `backup create` does (state file, backup set, only superseded backups removed).
 *
 * K is WhatsApp's `encrypted_backup.key` (59 bytes) or a text file holding the 64-digit code; a code
 * with one typo is corrected and reported, as for e2ee-backup's own backups.
 *
 * @module
 */

import { encryptBackup } from '../../container/backup.js';
import { E2EEError } from '../../errors.js';
import { decryptWhatsAppBackup } from '../../whatsapp/decrypt.js';
import { inspectWhatsAppBackup, type WhatsAppBackupInfo } from '../../whatsapp/index.js';
import { parseWhatsAppKey } from '../../whatsapp/key.js';
import { MAX_PREFIX_SIZE, parsePrefix } from '../../whatsapp/prefix.js';
import { SCREEN_BYTES, screenTypedCode } from '../../whatsapp/recover.js';
import { isStdio } from '../args.js';
import type { Context } from '../context.js';
import { inKeyFile, readKeyFileContent } from '../credentials.js';
import { CliError, ERROR_EXITS, usageError, withNote } from '../exit-codes.js';
import { formatBytes, formatDuration, formatRate } from '../format.js';
import { type Input, type Output, openInput, openOutput, PrefixReader, pump } from '../io.js';
import { reportCorrection } from '../open-backup.js';
import { startProgress } from '../progress.js';
import { defaultStatePath } from '../state.js';
import { terminalSafe } from '../terminal-text.js';
import { createInFolder, describeKept, type FolderWriteFlags, keptJson } from './backup.js';

/** Flags of `whatsapp decrypt`. */
export interface WhatsAppDecryptFlags {
  keyFile: string;
  output?: string;
  maxOutput?: number;
  quiet?: boolean;
}

/** Flags of `whatsapp inspect`. */
export interface WhatsAppInspectFlags {
  json?: boolean;
  phoneDigits?: boolean;
}

/** Flags of `whatsapp import`. */
export interface WhatsAppImportFlags extends Partial<FolderWriteFlags> {
  keyFile: string;
  output?: string;
  /** The state file of `--store` (default: in the XDG config folder). */
  state?: string;
  maxOutput?: number;
  json?: boolean;
  quiet?: boolean;
}

/** WhatsApp-specific advice for the library's errors (the row in ERROR_EXITS speaks of e2ee-backup's own files). */
const FIXES: Partial<Record<string, string>> = {
  WRONG_KEY: "Check that the key file holds this WhatsApp account's 64-digit backup key",
  CHUNK_AUTH:
    'Copy the backup from the phone again; if it is a multi-file backup (these have no MD5 checksum), check the key too',
  UNSUPPORTED_VERSION:
    'Give the .crypt15 file of an end-to-end encrypted backup (crypt12 and crypt14 files need the 158-byte key file and another tool)',
  TRUNCATED: 'The file is incomplete: copy it from the phone again',
  MALFORMED_HEADER: 'Check that this is a WhatsApp .crypt15 file, and that it is intact',
};

function explain(e: unknown): unknown {
  if (!(e instanceof E2EEError)) return e;
  const fix = FIXES[e.code];
  return fix ? new CliError(ERROR_EXITS[e.code].exit, e.message, fix, { cause: e }) : e;
}

/** The start of a crypt15 file: its prefix and the ciphertext bytes the typo screen looks at. */
async function readHead(
  reader: PrefixReader,
): Promise<{ head: Uint8Array; info: WhatsAppBackupInfo; iv: Uint8Array }> {
  const head = await reader.read(MAX_PREFIX_SIZE + SCREEN_BYTES);
  const { info, iv } = parsePrefix(head);
  return { head, info, iv };
}

/**
 * The root key from K: a key file as it is; a code as typed, or with the one-digit fix that makes
 * the start of the backup decrypt to a plausible payload (reported on stderr as `decrypt` does:
 * where the typo is even with --quiet, the digits only on a terminal and not with --quiet).
 * When nothing is plausible, the code as typed goes on to the real decryption, whose tag check
 * gives the verdict (wrong key, or a damaged file).
 */
async function resolveKey(
  keyFile: string,
  head: Uint8Array,
  info: WhatsAppBackupInfo,
  iv: Uint8Array,
  ctx: Context,
): Promise<Uint8Array> {
  const content = await readKeyFileContent(keyFile, ctx.warn);
  if ('key' in content) return content.key;
  const typed = content.text;
  try {
    const found = screenTypedCode(typed, iv, head.subarray(info.prefixSize));
    if (found?.correction)
      reportCorrection(
        keyFile,
        typed,
        found.key,
        found.correction,
        !ctx.quiet && process.stderr.isTTY === true,
      );
    if (found) return found.key;
    // Not plausible as typed nor with one fix: the real decryption says why (or this is KEY_FORMAT).
    return parseWhatsAppKey(typed);
  } catch (e) {
    throw inKeyFile(e, keyFile);
  }
}

/** Opens FILE (or standard input) and decrypts it with the key in K. */
async function openWhatsApp(input: Input, flags: { keyFile: string; maxOutput?: number }, ctx: Context) {
  const reader = new PrefixReader(input.chunks);
  const { head, info, iv } = await readHead(reader);
  const root = await resolveKey(flags.keyFile, head, info, iv, ctx);
  const opened = await decryptWhatsAppBackup(reader.rest(head), root, {
    maxOutputBytes: flags.maxOutput,
    signal: ctx.signal,
  });
  return { opened, root };
}

/**
 * A string from the prefix, made inert for the terminal: anyone can write any UTF-8 there,
 * escape sequences included.
 */
function shown(text: string | undefined): string | undefined {
  return text === undefined ? undefined : terminalSafe(text, 100);
}

function refuseTerminalInput(inputPath: string | undefined): void {
  if (isStdio(inputPath) && process.stdin.isTTY)
    throw usageError('no input: standard input is the terminal', 'Name the .crypt15 file, or pipe it in');
}

/** Runs `whatsapp decrypt`. */
export async function whatsappDecrypt(
  inputPath: string | undefined,
  flags: WhatsAppDecryptFlags,
  ctx: Context,
): Promise<void> {
  if (flags.output === undefined && process.stdout.isTTY)
    throw usageError(
      'refusing to print a decrypted database on the terminal',
      'Give -o FILE, redirect the output (> FILE), or use -o - to print it anyway',
    );
  refuseTerminalInput(inputPath);
  const progress = { update: (_: number) => {} };
  const input = await openInput(inputPath, (n) => progress.update(n));
  let output: Output | undefined;
  try {
    const { opened, root } = await openWhatsApp(input, flags, ctx);
    root.fill(0);
    output = await openOutput(flags.output);
    if (output.inPlace)
      ctx.warn(
        `e2ee-backup: note: a WhatsApp backup is authenticated only at its very end: what goes to ${output.name} before that is provisional; if e2ee-backup does not exit 0, discard it.`,
      );
    const started = performance.now();
    const bar = await startProgress('decrypting', input.size, ctx.quiet);
    progress.update = (n) => bar.update(n);
    let written: number;
    try {
      written = await pump(opened.stream, output);
      await output.commit();
    } finally {
      bar.stop();
    }
    const seconds = (performance.now() - started) / 1000;
    ctx.info(
      `Decrypted ${formatBytes(written)} (${opened.payload === 'zip' ? 'a ZIP archive' : 'a database'}, WhatsApp ${shown(opened.info.appVersion) ?? 'version unknown'}, ${opened.layout === 'md5' ? 'MD5 checksum verified' : 'no MD5 checksum'}) in ${formatDuration(seconds)} (${formatRate(written, seconds)})${output.isStdout ? '' : `: ${output.name}`}.`,
    );
  } catch (e) {
    await output?.abort();
    const err = explain(e);
    if (output?.inPlace && output.bytesWritten > 0)
      throw withNote(
        err,
        `The ${formatBytes(output.bytesWritten)} already written to ${output.name} are not authenticated: discard them`,
      );
    throw err;
  } finally {
    await input.close();
  }
}

/** Runs `whatsapp inspect`. */
export async function whatsappInspect(
  inputPath: string,
  flags: WhatsAppInspectFlags,
  _ctx: Context,
): Promise<void> {
  const input = await openInput(inputPath);
  let info: WhatsAppBackupInfo;
  try {
    const reader = new PrefixReader(input.chunks);
    info = inspectWhatsAppBackup(await reader.read(MAX_PREFIX_SIZE), { phoneDigits: flags.phoneDigits });
    // From a pipe, read on so that the writer does not get EPIPE.
    if (input.size === undefined) for await (const _ of reader.rest());
  } catch (e) {
    throw explain(e);
  } finally {
    await input.close();
  }
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ file: input.name, ...info })}\n`);
    return;
  }
  const lines = [
    `${input.name}: WhatsApp ${info.format} backup, end-to-end encrypted (key type ${info.keyType})`,
    '  unauthenticated: WhatsApp does not protect these fields; anyone can change them',
    `  WhatsApp version:  ${shown(info.appVersion) ?? '(not given)'}`,
    `  backup version:    ${info.backupVersion ?? '(not given)'}`,
    `  feature table:     ${info.featureTable ? 'yes (0x01 flag byte)' : 'no'}`,
    `  feature flags:     ${info.features.length > 0 ? info.features.join(', ') : 'none'}`,
    `  prefix:            ${info.prefixSize} bytes`,
    `  phone digits:      ${flags.phoneDigits ? (shown(info.phoneDigits) ?? '(not given)') : 'hidden (--phone-digits shows them)'}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** Runs `whatsapp import`. */
export async function whatsappImport(
  inputPath: string | undefined,
  flags: WhatsAppImportFlags,
  ctx: Context,
): Promise<void> {
  if ((flags.output === undefined) === (flags.store === undefined))
    throw usageError('give either -o OUT.e2ee or --store DIR', "Run 'e2ee-backup whatsapp import --help'");
  if (isStdio(flags.output) && flags.output !== undefined && process.stdout.isTTY)
    throw usageError(
      'refusing to write an encrypted backup to the terminal',
      'Give -o FILE, or redirect the output',
    );
  refuseTerminalInput(inputPath);
  const store = flags.store;
  if (store === undefined) {
    const folderOnly = [
      ['--set', flags.set],
      ['--state', flags.state],
      ['--newest-seen', flags.newestSeen],
      ['--allow-unreadable-newest', flags.allowUnreadableNewest],
    ].filter(([, v]) => v !== undefined);
    if (folderOnly.length > 0)
      throw usageError(`${folderOnly[0]![0]} only applies with --store`, 'Add --store DIR, or drop it');
  }
  const progress = { update: (_: number) => {} };
  const input = await openInput(inputPath, (n) => progress.update(n));
  let output: Output | undefined;
  try {
    const { opened, root } = await openWhatsApp(input, flags, ctx);
    const { info } = opened;
    const metadata = {
      whatsapp: {
        format: info.format,
        appVersion: info.appVersion ?? null,
        backupVersion: info.backupVersion ?? null,
        features: [...info.features],
        featureTable: info.featureTable,
        payload: opened.payload,
      },
    };
    const bar = await startProgress('importing', input.size, ctx.quiet);
    progress.update = (n) => bar.update(n);
    const started = performance.now();
    try {
      if (store !== undefined) {
        const created = await createInFolder(
          opened.stream,
          { key: root, metadata },
          { ...flags, store },
          flags.state ?? defaultStatePath(),
          ctx,
        );
        const keptWords = describeKept(created.kept, ctx); // warns about the ones that need a look
        if (flags.json)
          process.stdout.write(
            `${JSON.stringify({
              name: created.name,
              generation: created.generation,
              set: created.set,
              removed: created.removed,
              kept: created.kept.map(keptJson),
            })}\n`,
          );
        else
          process.stdout.write(
            `${created.name}: generation ${created.generation} of set ${created.set}, imported and verified` +
              `${created.removed.length > 0 ? `; removed ${created.removed.join(', ')}` : ''}${keptWords}\n`,
          );
        return;
      }
      output = await openOutput(flags.output);
      const written = await pump(
        encryptBackup(opened.stream, { key: root, metadata, signal: ctx.signal }),
        output,
      );
      await output.commit();
      const seconds = (performance.now() - started) / 1000;
      ctx.info(
        `Imported ${formatBytes(input.bytesRead)} of WhatsApp backup into ${formatBytes(written)} in ${formatDuration(seconds)} (${formatRate(input.bytesRead, seconds)})${output.isStdout ? '' : `: ${output.name}`}. It opens with the same 64-digit code.`,
      );
    } finally {
      bar.stop();
      root.fill(0);
    }
  } catch (e) {
    await output?.abort();
    throw explain(e);
  } finally {
    await input.close();
  }
}
