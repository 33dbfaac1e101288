/**
 * A mistyped 64-digit code: which key one typo away (`backupKeyTypoCandidates`) decrypts the start
 * of the backup to a plausible payload. crypt15 has one GCM tag at the end of the file, so a
 * candidate cannot be authenticated cheaply; it is screened on the first 512 plaintext bytes
 * (unauthenticated, never output) — a zlib header that inflates without error, or a ZIP header —
 * and the tag at the end of the real decryption then decides. On node:crypto only (the CLI).
 *
 * Internal module.
 */

import { type BackupKeyCandidate, backupKeyTypoCandidates, parseBackupKey } from '../key/backup-key.js';
import { nodeCrypto, unverifiedHead } from './cipher.js';
import { crypt15CipherKey } from './key.js';
import { payloadKind } from './zlib.js';

/** Ciphertext bytes looked at per candidate. */
export const SCREEN_BYTES = 512;

interface Zlib {
  inflateSync(data: Uint8Array, options: { finishFlush: number }): Uint8Array;
  constants: { Z_SYNC_FLUSH: number };
}

/**
 * Whether `root` decrypts `ciphertext` (the first bytes after the prefix) to what a crypt15
 * payload starts with. About one wrong key in a few thousand passes the header check alone; the
 * inflate of 512 bytes rejects nearly all of those.
 */
export function plausibleKey(root: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): boolean {
  const key = crypt15CipherKey(root);
  const head = unverifiedHead(nodeCrypto()!, key, iv, ciphertext.subarray(0, SCREEN_BYTES));
  key.fill(0);
  const kind = payloadKind(head);
  if (kind !== 'zlib') return kind === 'zip';
  const proc = globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } };
  const zlib = proc.process?.getBuiltinModule?.('node:zlib') as Zlib;
  try {
    // A partial stream: sync-flush decodes what is there without asking for its end.
    zlib.inflateSync(head, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    return true;
  } catch {
    return false;
  }
}

/**
 * The key a typed code stands for: the code itself if it is plausible, else the first plausible
 * key one typo away, with the typo; `undefined` when none is.
 *
 * @throws E2EEError `KEY_FORMAT` when the text is not 63–65 hex digits with separators.
 */
export function screenTypedCode(
  typed: string,
  iv: Uint8Array,
  ciphertext: Uint8Array,
): { key: Uint8Array; correction: BackupKeyCandidate['correction'] | null } | undefined {
  let exact: Uint8Array | undefined;
  try {
    exact = parseBackupKey(typed);
  } catch {
    // Not 64 clean digits: only the candidates can help.
  }
  if (exact && plausibleKey(exact, iv, ciphertext)) return { key: exact, correction: null };
  for (const candidate of backupKeyTypoCandidates(typed))
    if (plausibleKey(candidate.key, iv, ciphertext)) return candidate;
  return undefined;
}
