/**
 * `e2ee-backup whatsapp decrypt | inspect | import`: WhatsApp's crypt15 backups, opened with their
 * 64-digit key (docs/whatsapp-crypt15.md).
 *
 * - `decrypt FILE --key-file K -o OUT`: the database, written atomically once the whole file has
 *   authenticated (to standard output: provisional until exit 0, as `decrypt`).
 * - `inspect FILE`: the unauthenticated prefix; the phone digits only with `--phone-digits`.
 * - `import FILE --key-file K (-o OUT.e2ee | --store DIR)`: re-encrypted into an e2ee-backup
 *   container under the same key, without the plaintext touching the disk.
 *
 * K is WhatsApp's `encrypted_backup.key` (59 bytes) or a text file holding the 64-digit code; a code
 * with one typo is corrected, as for e2ee-backup's own backups.
 *
 * @module
 */

import { open } from 'node:fs/promises';
import { encryptBackup } from '../../backup.js';
import { E2EEError } from '../../errors.js';
import { formatBackupKey } from '../../key.js';
import { createBackup, listBackups } from '../../lifecycle.js';
import { decryptWhatsAppBackup } from '../../whatsapp/decrypt.js';
import { inspectWhatsAppBackup, type WhatsAppBackupInfo } from '../../whatsapp/index.js';
import { isJavaSerialised, parseWhatsAppKey } from '../../whatsapp/key.js';
import { MAX_PREFIX_SIZE, parsePrefix } from '../../whatsapp/prefix.js';
import { SCREEN_BYTES, screenTypedCode } from '../../whatsapp/recover.js';
import { isStdio } from '../args.js';
import type { Context } from '../context.js';
import { inKeyFile, warnIfShared } from '../credentials.js';
import { CliError, ERROR_EXITS, usageError, withContext, withNote } from '../exit-codes.js';
import { formatBytes, formatDuration, formatRate } from '../format.js';
import { type Input, type Output, openInput, openOutput, PrefixReader, pump } from '../io.js';
import { startProgress } from '../progress.js';
import { openFolderStore } from '../store.js';

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
export interface WhatsAppImportFlags {
  keyFile: string;
  output?: string;
  store?: string;
  maxOutput?: number;
  json?: boolean;
  quiet?: boolean;
}

// The key file is 59 bytes, a code file a few lines: anything bigger is the wrong file.
const MAX_KEY_FILE_BYTES = 4096;

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

async function readKeyFileBytes(path: string, ctx: Context): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    const handle = await open(path, 'r');
    try {
      const buf = new Uint8Array(MAX_KEY_FILE_BYTES + 1);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      bytes = buf.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (e) {
    throw withContext(e, `cannot read the key file ${path}`);
  }
  if (bytes.length > MAX_KEY_FILE_BYTES)
    throw usageError(
      `${path} is larger than ${MAX_KEY_FILE_BYTES} bytes, too large for a key file`,
      'Give encrypted_backup.key or a text file holding the 64-digit code',
    );
  await warnIfShared(path, ctx.warn);
  return bytes;
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
 * the start of the backup decrypt to a plausible payload (reported on stderr, even with --quiet).
 * When nothing is plausible, the code as typed goes on to the real decryption, whose tag check
 * gives the verdict (wrong key, or a damaged file).
 */
async function resolveKey(
  keyFile: string,
  head: Uint8Array,
  info: WhatsAppBackupInfo,
  iv: Uint8Array,
  ctx: Context,
) {
  const bytes = await readKeyFileBytes(keyFile, ctx);
  try {
    if (isJavaSerialised(bytes) || bytes.length === 32) return parseWhatsAppKey(bytes);
    const typed = new TextDecoder().decode(bytes);
    const found = screenTypedCode(typed, iv, head.subarray(info.prefixSize));
    if (found?.correction) {
      const groups = formatBackupKey(found.key).split(' ');
      const g = Math.ceil(found.correction.position / 4);
      process.stderr.write(
        `e2ee-backup: the code in ${keyFile} has a typo (${found.correction.kind} at digit ${found.correction.position}): group ${g} is '${groups[g - 1]}'.\n` +
          `e2ee-backup: opening the backup with the corrected code. Fix ${keyFile} and every other copy of the code.\n`,
      );
    }
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
    if (output.isStdout)
      ctx.warn(
        'e2ee-backup: note: a WhatsApp backup is authenticated only at its very end: what goes to standard output before that is provisional; if e2ee-backup does not exit 0, discard it.',
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
      `Decrypted ${formatBytes(written)} (${opened.payload === 'zip' ? 'a ZIP archive' : 'a database'}, WhatsApp ${opened.info.appVersion ?? 'version unknown'}, ${opened.layout === 'md5' ? 'MD5 checksum verified' : 'no MD5 checksum'}) in ${formatDuration(seconds)} (${formatRate(written, seconds)})${output.isStdout ? '' : `: ${output.name}`}.`,
    );
  } catch (e) {
    await output?.abort();
    const err = explain(e);
    if (output?.isStdout && output.bytesWritten > 0)
      throw withNote(
        err,
        `The ${formatBytes(output.bytesWritten)} already written to standard output are not authenticated: discard them`,
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
    `  WhatsApp version:  ${info.appVersion ?? '(not given)'}`,
    `  backup version:    ${info.backupVersion ?? '(not given)'}`,
    `  feature table:     ${info.featureTable ? 'yes (0x01 flag byte)' : 'no'}`,
    `  feature flags:     ${info.features.length > 0 ? info.features.join(', ') : 'none'}`,
    `  prefix:            ${info.prefixSize} bytes`,
    `  phone digits:      ${flags.phoneDigits ? (info.phoneDigits ?? '(not given)') : 'hidden (--phone-digits shows them)'}`,
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
  if (flags.store !== undefined) {
    // createBackup deletes every other entry of the folder once the new backup verifies: it must
    // hold nothing that is not ours (the WhatsApp file itself, say).
    const foreign = (await listBackups(openFolderStore(flags.store))).filter((e) => !e.encrypted);
    if (foreign.length > 0)
      throw usageError(
        `${flags.store} holds files that are not e2ee-backup backups (${foreign
          .slice(0, 3)
          .map((e) => e.name)
          .join(', ')}${foreign.length > 3 ? ', …' : ''}), which the import would delete`,
        'Choose an empty folder, or one that holds only e2ee-backup backups',
      );
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
      if (flags.store !== undefined) {
        const created = await createBackup(openFolderStore(flags.store), opened.stream, {
          key: root,
          metadata,
          signal: ctx.signal,
        });
        if (flags.json)
          process.stdout.write(
            `${JSON.stringify({ name: created.name, generation: created.generation, removed: created.removed })}\n`,
          );
        else
          process.stdout.write(
            `${created.name}: generation ${created.generation}, imported and verified${created.removed.length > 0 ? `; removed ${created.removed.join(', ')}` : ''}\n`,
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
