/**
 * Parsers for option values, shaped for the command table's `parse`: each returns the parsed value
 * or throws `InvalidArgumentError`, which the parser turns into a usage error (exit 1)
 * naming the option.
 *
 * @module
 */

import { BACKUP_SET_NAME } from '../container/framing.js';
import { InvalidArgumentError } from './command-line.js';

/** An integer option within `[min, max]`. */
export function integerIn(min: number, max: number): (text: string) => number {
  return (text) => {
    if (!/^\d+$/.test(text.trim()))
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    const n = Number(text.trim());
    if (!Number.isSafeInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 2 ** 10,
  kib: 2 ** 10,
  m: 2 ** 20,
  mib: 2 ** 20,
  g: 2 ** 30,
  gib: 2 ** 30,
  t: 2 ** 40,
  tib: 2 ** 40,
};

/**
 * A size such as `65536`, `64MiB`, `64m` or `1GiB`. Suffixes are binary (K = 1024); a bare
 * number counts `bareUnit` bytes (1 for byte sizes, 1024 for Argon2id memory, which is in KiB).
 * Returns the size in bytes.
 */
export function parseSize(text: string, bareUnit: number): number {
  const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined)
    throw new InvalidArgumentError(
      'expected a size such as 65536, 64MiB or 1GiB (K, M, G, T are powers of 1024)',
    );
  const n = Number(m[1]) * (m[2] === '' ? bareUnit : unit);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('the size is out of range');
  return n;
}

/** Argon2id memory: a size whose bare number is KiB (as Argon2's `m`); returns KiB. */
export function kdfMemoryKib(text: string): number {
  const bytes = parseSize(text, 1024);
  if (bytes % 1024 !== 0) throw new InvalidArgumentError('Argon2id memory is a whole number of KiB');
  return bytes / 1024;
}

/** A size in bytes; a bare number is bytes. */
export function byteSize(text: string): number {
  return parseSize(text, 1);
}

/**
 * Collects repeated `--meta key=value` options into an object. Values are kept as strings:
 * guessing types (`007`, `true`) would change what the user wrote.
 */
export function collectMeta(text: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('expected key=value, for example --meta device=pixel-8');
  const key = text.slice(0, eq);
  if (Object.hasOwn(previous, key)) throw new InvalidArgumentError(`the key '${key}' is given twice`);
  return { ...previous, [key]: text.slice(eq + 1) };
}

/** A backup set's name (SPEC.md §5.1). */
export function setName(text: string): string {
  if (BACKUP_SET_NAME.test(text)) return text;
  throw new InvalidArgumentError('expected 1 to 64 characters of A-Z, a-z, 0-9, ".", "_", "-"');
}

/** `--compression none|deflate`. */
export function compressionMode(text: string): 'none' | 'deflate' {
  if (text === 'none' || text === 'deflate') return text;
  throw new InvalidArgumentError("expected 'deflate' or 'none'");
}

/** True for the conventional spelling of standard input or output: an absent path or `-`. */
export function isStdio(path: string | undefined): boolean {
  return path === undefined || path === '-';
}

/**
 * A vault server's address: an `http:` or `https:` URL (the API lives under its `/v1/`).
 * Returns the text as given.
 */
export function vaultUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgumentError('expected a URL such as https://vault.example or http://127.0.0.1:8787');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidArgumentError('expected an http: or https: URL');
  return text;
}
