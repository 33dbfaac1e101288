// The vector files of vectors/ and what the library makes of each test: shared by
// vectors.test.ts (the library and the Python decoder against every vector) and hashes.test.ts
// (the same vectors on the CLI's node:crypto hashes).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';
import { expect } from 'vitest';
import { type DecryptBackupOptions, decryptBackupBytes } from '../src/container/backup.js';
import { backupKeyKek, passwordKek } from '../src/container/header.js';
import { E2EEError } from '../src/errors.js';
import { isKeyFormatError, parseBackupKey } from '../src/key/backup-key.js';
import { deriveKeyFromPassword } from '../src/primitives/kdf.js';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const vectorsDir = join(root, 'vectors');
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export interface TestFile<T> {
  algorithm: string;
  numberOfTests: number;
  notes: Record<string, { bugType: string; description: string; links: string[] }>;
  testGroups: { type: string; tests: T[] }[];
}
export interface Common {
  tcId: number;
  comment: string;
  flags: string[];
  result: 'valid' | 'invalid';
  error?: string;
}
export interface ContainerTest extends Common {
  key?: string;
  password?: string;
  kdfMaxima?: { m?: number; t?: number; p?: number };
  maxOutputBytes?: number;
  ct: string;
  ctCompressed?: true;
  msgLength?: number;
  msgSha512?: string;
  metadata?: Json;
}
export interface KeyCodeTest extends Common {
  code: string;
  key?: string;
  reason?: 'character' | 'digitCount' | 'length';
  position?: number;
  digits?: number;
}
export interface KdfTest extends Common {
  password?: string;
  passwordUtf8?: string;
  backupKey?: string;
  salt: string;
  m?: number;
  t?: number;
  p?: number;
  kdfMaxima?: { m?: number; t?: number; p?: number };
  argon2id?: string;
  kek?: string;
}

export const FILES = {
  container: 'container_v1_test.json',
  keyCodes: 'backup_key_code_test.json',
  kdf: 'kdf_test.json',
} as const;

export const load = <T>(name: string): TestFile<T> =>
  JSON.parse(readFileSync(join(vectorsDir, name), 'utf8'));
export const container = load<ContainerTest>(FILES.container);
export const keyCodes = load<KeyCodeTest>(FILES.keyCodes);
export const kdf = load<KdfTest>(FILES.kdf);
export const all = <T>(f: TestFile<T>) => f.testGroups.flatMap((g) => g.tests);

export const fromHex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));
export const toHex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
export const sha512 = (b: Uint8Array) => createHash('sha512').update(b).digest('hex');
export const ctOf = (t: ContainerTest) =>
  t.ctCompressed ? new Uint8Array(inflateSync(fromHex(t.ct))) : fromHex(t.ct);

/** What a decoder reports for one test: the result and the fields the vector expects. */
export type Outcome = Record<string, Json | undefined>;

/** The expected outcome of a test: its result and expected-output fields, nothing else. */
export function expected(t: object, fields: readonly string[]): Outcome {
  const out: Outcome = {};
  for (const f of ['result', ...fields]) {
    const v = (t as Record<string, Json | undefined>)[f];
    if (v !== undefined) out[f] = v;
  }
  return out;
}
export const CONTAINER_FIELDS = ['error', 'msgLength', 'msgSha512', 'metadata'] as const;
export const KEY_CODE_FIELDS = ['key', 'error', 'reason', 'position', 'digits'] as const;
export const KDF_FIELDS = ['argon2id', 'kek', 'error'] as const;

export async function libraryContainer(t: ContainerTest): Promise<Outcome> {
  const options: DecryptBackupOptions = {};
  if (t.key !== undefined) options.key = fromHex(t.key);
  if (t.password !== undefined) options.password = t.password;
  if (t.kdfMaxima) options.kdfMaxima = t.kdfMaxima;
  // A vector without maxOutputBytes means SPEC.md's default, 2^40 (decryptBackupBytes's own is lower).
  options.maxOutputBytes = t.maxOutputBytes ?? 2 ** 40;
  try {
    const { metadata, data } = await decryptBackupBytes(ctOf(t), options);
    return {
      result: 'valid',
      msgLength: data.length,
      msgSha512: sha512(data),
      metadata: JSON.parse(JSON.stringify(metadata)),
    };
  } catch (e) {
    if (!(e instanceof E2EEError)) throw e;
    return { result: 'invalid', error: e.code };
  }
}

export function libraryKeyCode(t: KeyCodeTest): Outcome {
  try {
    return { result: 'valid', key: toHex(parseBackupKey(t.code)) };
  } catch (e) {
    if (!isKeyFormatError(e)) throw e;
    if (e.position !== undefined)
      return { result: 'invalid', error: e.code, reason: 'character', position: e.position };
    if (e.digits !== undefined)
      return { result: 'invalid', error: e.code, reason: 'digitCount', digits: e.digits };
    return { result: 'invalid', error: e.code, reason: 'length' };
  }
}

export async function libraryKdf(t: KdfTest): Promise<Outcome> {
  if (t.backupKey !== undefined)
    return { result: 'valid', kek: toHex(backupKeyKek(fromHex(t.backupKey), fromHex(t.salt))) };
  if (t.passwordUtf8 !== undefined)
    expect(toHex(new TextEncoder().encode(t.password!.normalize('NFC'))), `tcId ${t.tcId}`).toBe(
      t.passwordUtf8,
    );
  try {
    const stretched = await deriveKeyFromPassword(
      t.password!,
      fromHex(t.salt),
      { m: t.m!, t: t.t!, p: t.p! },
      { purpose: 'open', ...(t.kdfMaxima ? { maxima: t.kdfMaxima } : {}) },
    );
    return { result: 'valid', argon2id: toHex(stretched), kek: toHex(passwordKek(stretched)) };
  } catch (e) {
    if (!(e instanceof E2EEError)) throw e;
    return { result: 'invalid', error: e.code };
  }
}
