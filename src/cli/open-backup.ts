/**
 * Opening a backup for `decrypt` and `verify`: read the header, work out which credential to use
 * (asking for a password only if the backup has a password slot), repair a mistyped 64-digit code
 * when a single-digit fix opens the backup, then hand the rest to `decryptBackup`.
 *
 * @module
 */

import { type BackupMetadata, decryptBackup, recoverBackupKey } from '../backup.js';
import { E2EEError } from '../errors.js';
import { HEADER_FIXED_SIZE, type Header, headerLength, parseHeader } from '../header.js';
import { formatBackupKey } from '../key.js';
import type { Context } from './context.js';
import {
  type CredentialFlags,
  inKeyFile,
  obtainPassword,
  readKeyFileText,
  wantsPassword,
} from './credentials.js';
import { usageError } from './exit-codes.js';
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
        if (found.correction) reportCorrection(flags.keyFile, typed, found.key, found.correction);
        key = found.key;
      } catch (e) {
        keyFailure = inKeyFile(e, flags.keyFile);
        if (!(e instanceof E2EEError) || e.code !== 'WRONG_KEY') throw keyFailure;
      }
    }
    if (keyFailure && !passwordGiven) throw keyFailure;
    if (keyFailure)
      ctx.warn(
        `e2ee-backup: the code in ${flags.keyFile} does not open this backup${hasKeySlot ? ', even with one digit fixed' : ''}; trying the password.`,
      );
  }

  let password: string | undefined;
  if (key === undefined) {
    if (!hasPasswordSlot)
      throw new E2EEError(
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
  });
  return { header, metadata, stream, openedWith: key ? 'backup key' : 'password' };
}

type Correction = NonNullable<Awaited<ReturnType<typeof recoverBackupKey>>['correction']>;

/**
 * Tells the user which digit of their saved code is wrong, with the group as it should read.
 * Always printed, even with `--quiet`: the saved copy needs fixing before it is needed again.
 */
export function reportCorrection(keyFile: string, typed: string, key: Uint8Array, c: Correction): void {
  const digits = typed.toLowerCase().replace(/[\s-]/g, '');
  const groups = formatBackupKey(key).split(' ');
  const group = (position: number) => Math.ceil(position / 4);
  const typedGroup = (g: number) => digits.slice((g - 1) * 4, g * 4);
  const show = (g: number) =>
    `group ${g} is '${groups[g - 1]}'${typedGroup(g) ? `, not '${typedGroup(g)}'` : ''}`;
  const p = c.position;
  let what: string;
  switch (c.kind) {
    case 'substitution':
      what = `digit ${p} (in group ${group(p)}) was typed as '${digits[p - 1]}' but is '${groups[group(p) - 1]![(p - 1) % 4]}': ${show(group(p))}`;
      break;
    case 'transposition': {
      const spans = group(p) !== group(p + 1);
      what = `digits ${p} and ${p + 1} are swapped: ${show(group(p))}${spans ? `, and ${show(group(p + 1))}` : ''}`;
      break;
    }
    case 'missing':
      what = `a digit is missing at position ${p}: ${show(group(p)).replace(/, not .*/, '')}, and every later group shifts by one digit`;
      break;
    case 'extra':
      what = `digit ${p} ('${digits[p - 1]}', in group ${group(p)}) is one too many: group ${group(p)} is '${groups[group(p) - 1]}', and every later group shifts by one digit`;
      break;
  }
  process.stderr.write(
    `e2ee-backup: the code in ${keyFile} has a typo (${c.kind}): ${what}.\n` +
      `e2ee-backup: opening the backup with the corrected code. Fix ${keyFile} and every other copy of the code.\n`,
  );
}
