/**
 * Opening a backup for `decrypt` and `verify`: read the header, work out which credential to use
 * (asking for a password only if the backup has a password slot), repair a mistyped 64-digit code
 * when a single-digit fix opens the backup, then hand the rest to `decryptBackup`.
 *
 * @module
 */

import { type BackupMetadata, decryptBackup, recoverBackupKey } from '../container/backup.js';
import { HEADER_FIXED_SIZE, type Header, headerLength, parseHeader } from '../container/header.js';
import { E2EEError } from '../errors.js';
import { formatBackupKey } from '../key/backup-key.js';
import type { Context } from './context.js';
import {
  type CredentialFlags,
  inKeyFile,
  obtainPassword,
  readKeyFileText,
  wantsPassword,
} from './credentials.js';
import { usageError, withFix } from './exit-codes.js';
import { type Input, PrefixReader, piecesOf, prefixedByteStream } from './io.js';

/** Flags of `decrypt` and `verify` beyond the credentials. */
export interface OpenFlags extends CredentialFlags {
  /** Largest Argon2id memory (KiB) a password slot may ask for. */
  maxKdfMemory?: number;
  /** Largest plaintext (bytes) to produce. */
  maxOutput?: number;
}

/** An opened backup. */
export interface OpenedBackup {
  /** The parsed header (authenticated once the body has been read to its end). */
  header: Header;
  /** The authenticated metadata record. */
  metadata: BackupMetadata;
  /** The body; treat it as provisional until it closes without error. */
  stream: ReadableStream<Uint8Array>;
  /** Which credential opened it. */
  openedWith: 'backup key' | 'password';
}

/** Fails early, before reading, when no credential was given at all. */
export function requireCredentials(flags: CredentialFlags): void {
  if (flags.keyFile === undefined && !wantsPassword(flags))
    throw usageError(
      'no credential to open the backup with',
      'Give --key-file FILE, --password, --password-file FILE, or set E2EE_BACKUP_PASSWORD',
    );
}

/** Reads the header from the start of `reader`. */
async function readHeader(reader: PrefixReader): Promise<Header> {
  const fixed = await reader.read(HEADER_FIXED_SIZE);
  const size = headerLength(fixed); // TRUNCATED, MALFORMED_HEADER (magic), UNSUPPORTED_VERSION …
  const rest = await reader.read(size - HEADER_FIXED_SIZE);
  const bytes = new Uint8Array(fixed.length + rest.length);
  bytes.set(fixed);
  bytes.set(rest, fixed.length);
  return parseHeader(bytes);
}

/** Opens the backup that `input` carries. */
export async function openBackup(input: Input, flags: OpenFlags, ctx: Context): Promise<OpenedBackup> {
  requireCredentials(flags);
  // A file is read as a byte stream: the header through a default reader, then the payload
  // straight into the library's reused buffer (see prefixedByteStream).
  const file = input.byteStream?.();
  const pieces = file ? piecesOf(file) : undefined;
  const reader = new PrefixReader(pieces?.chunks ?? input.chunks);
  const header = await readHeader(reader);
  const hasKeySlot = header.slots.some((s) => s.type === 'backup-key');
  const hasPasswordSlot = header.slots.some((s) => s.type === 'password');
  const passwordGiven = wantsPassword(flags);

  let key: Uint8Array | undefined;
  let keyFailure: unknown;
  if (flags.keyFile !== undefined) {
    const typed = await readKeyFileText(flags.keyFile, ctx.warn);
    if (!hasKeySlot) {
      keyFailure = new E2EEError(
        'NO_MATCHING_SLOT',
        'this backup has no backup-key slot: it opens with a password',
      );
    } else {
      try {
        // Tries the code as typed first (one unwrap); only a failure pays for the ~1,000 candidates.
        const found = await recoverBackupKey(header.bytes, typed);
        if (found.correction)
          reportCorrection(
            flags.keyFile,
            typed,
            found.key,
            found.correction,
            !ctx.quiet && process.stderr.isTTY === true,
          );
        key = found.key;
      } catch (e) {
        keyFailure = inKeyFile(e, flags.keyFile);
        if (!(e instanceof E2EEError) || e.code !== 'WRONG_KEY') throw keyFailure;
      }
    }
    if (keyFailure && !passwordGiven) throw keyFailure;
    if (keyFailure && hasPasswordSlot)
      ctx.warn(
        `e2ee-backup: the code in ${flags.keyFile} does not open this backup${hasKeySlot ? ', even with one digit fixed' : ''}; trying the password.`,
      );
  }

  // SPEC.md §3.5: when neither credential opens the backup, the error is WRONG_KEY if the backup
  // has a backup-key slot (and a key was given), else the password slot's, else NO_MATCHING_SLOT.
  const keyWrong = keyFailure instanceof E2EEError && keyFailure.code === 'WRONG_KEY';
  let password: string | undefined;
  if (key === undefined) {
    if (!hasPasswordSlot)
      throw keyWrong
        ? keyFailure
        : new E2EEError(
            'NO_MATCHING_SLOT',
            'this backup has no password slot: it opens with its 64-digit code (--key-file)',
          );
    password = await obtainPassword(flags, { confirm: false });
  }

  pieces?.release();
  const backup = file
    ? prefixedByteStream([header.bytes, ...reader.takeQueued()], file)
    : reader.rest(header.bytes);
  const { metadata, stream } = await decryptBackup(backup, {
    key,
    password,
    kdfMaxima: flags.maxKdfMemory !== undefined ? { m: flags.maxKdfMemory } : undefined,
    maxOutputBytes: flags.maxOutput,
    signal: ctx.signal,
  }).catch((e: unknown) => {
    if (keyWrong && e instanceof E2EEError && (e.code === 'WRONG_PASSWORD' || e.code === 'KDF_PARAMS'))
      throw withFix(
        new E2EEError(
          'WRONG_KEY',
          `neither the code in ${flags.keyFile} (even with one digit fixed) nor the password opens this backup`,
          { cause: e },
        ),
        'Make sure the key file and the password are those of this backup',
      );
    // The table's advice offers the 64-digit code, which a password-only backup does not take.
    if (!hasKeySlot && e instanceof E2EEError && e.code === 'WRONG_PASSWORD')
      withFix(
        e,
        'Check the password (it is case-sensitive): this backup has no backup-key slot, so only its password opens it',
      );
    throw e;
  });
  return { header, metadata, stream, openedWith: key ? 'backup key' : 'password' };
}

type Correction = NonNullable<Awaited<ReturnType<typeof recoverBackupKey>>['correction']>;

/**
 * Tells the user which digit of their saved code is wrong: its position and the kind of typo,
 * always, even with `--quiet` (the saved copy needs fixing before it is needed again; neither
 * says anything about the key). The digits themselves (the group as it should read, and as
 * typed) only with `showDigits`: to a person at a terminal, never into a log that captures
 * stderr, where they would be most of a backup key.
 */
export function reportCorrection(
  keyFile: string,
  typed: string,
  key: Uint8Array,
  c: Correction,
  showDigits: boolean,
): void {
  const digits = typed.toLowerCase().replace(/[\s-]/g, '');
  const groups = formatBackupKey(key).split(' ');
  const group = (position: number) => Math.ceil(position / 4);
  const typedGroup = (g: number) => digits.slice((g - 1) * 4, g * 4);
  const show = (g: number, asTyped = true) =>
    `group ${g} is '${groups[g - 1]}'${asTyped && typedGroup(g) ? `, not '${typedGroup(g)}'` : ''}`;
  const p = c.position;
  const g = group(p);
  let where: string;
  let fix: string;
  switch (c.kind) {
    case 'substitution':
      where = `digit ${p} (in group ${g}) is wrong`;
      fix = `digit ${p} was typed as '${digits[p - 1]}' but is '${groups[g - 1]![(p - 1) % 4]}': ${show(g)}`;
      break;
    case 'transposition': {
      const spans = g !== group(p + 1);
      where = `digits ${p} and ${p + 1} (in group ${g}${spans ? ` and ${g + 1}` : ''}) are swapped`;
      fix = `${show(g)}${spans ? `, and ${show(g + 1)}` : ''}`;
      break;
    }
    case 'missing':
      where = `a digit is missing at position ${p} (in group ${g}), so every later group shifts by one digit`;
      fix = show(g, false);
      break;
    case 'extra':
      where = `digit ${p} (in group ${g}) is one too many, so every later group shifts by one digit`;
      fix = `digit ${p} ('${digits[p - 1]}') goes: ${show(g, false)}`;
      break;
  }
  process.stderr.write(
    `e2ee-backup: the code in ${keyFile} has a typo (${c.kind}): ${where}.\n` +
      (showDigits ? `e2ee-backup: ${fix}.\n` : '') +
      `e2ee-backup: opening the backup with the corrected code. Fix ${keyFile} and every other copy of the code.\n`,
  );
}
