// Shared pieces of the vector families: test-case records, bodies, and the JSON file writer.
import { zlibSync } from 'fflate';
import { hex, sha512 } from './craft.mjs';

/** `ct` longer than this is stored zlib-compressed (then hex), marked `ctCompressed: true`. */
export const COMPRESS_ABOVE = 2048;

/** The `ct` fields of a test: plain hex, or zlib (RFC 1950) then hex for long ciphertexts. */
export function ctFields(ct) {
  if (ct.length <= COMPRESS_ABOVE) return { ct: hex(ct) };
  // fflate, not node:zlib: the same bytes on every platform and Node version.
  return { ct: hex(zlibSync(ct, { level: 9 })), ctCompressed: true };
}

/**
 * A container test case. `cred` holds `key` (bytes) and/or `password`; a valid case has `body`
 * and `metadata`, an invalid one `error`.
 */
export function containerCase({
  comment,
  flags,
  cred,
  ct,
  kdfMaxima,
  maxOutputBytes,
  error,
  body,
  metadata,
}) {
  if (!flags?.length) throw new Error(`no flags: ${comment}`);
  const t = { tcId: 0, comment, flags };
  if (cred.key) t.key = hex(cred.key);
  if (cred.password !== undefined) t.password = cred.password;
  if (kdfMaxima) t.kdfMaxima = kdfMaxima;
  if (maxOutputBytes !== undefined) t.maxOutputBytes = maxOutputBytes;
  Object.assign(t, ctFields(ct));
  if (error) {
    if (body || metadata) throw new Error(`invalid case with a body: ${comment}`);
    t.result = 'invalid';
    t.error = error;
  } else {
    if (!body || !metadata) throw new Error(`valid case without body or metadata: ${comment}`);
    t.result = 'valid';
    t.msgLength = body.length;
    t.msgSha512 = hex(sha512(body));
    t.metadata = metadata;
  }
  return t;
}

const WORDS = (
  'the quick brown fox jumps over lazy dog backup chat message photo sent received ' +
  'hello world meeting tomorrow noon lunch coffee yes no maybe thanks see you later'
).split(' ');

/** Compressible text-like bytes (words drawn by the DRBG). */
export function text(rnd, n) {
  const out = new Uint8Array(n);
  const picks = rnd(Math.ceil(n / 2) + 1);
  let o = 0;
  for (let i = 0; o < n; i++) {
    const w = `${WORDS[picks[i % picks.length] % WORDS.length]}${picks[(i + 1) % picks.length] % 7 === 0 ? '.\n' : ' '}`;
    for (let k = 0; k < w.length && o < n; k++) out[o++] = w.charCodeAt(k);
  }
  return out;
}

/** Incompressible bytes. */
export const noise = (rnd, n) => rnd(n);

/** Compressible and incompressible runs of `run` bytes, alternating. */
export function mixed(rnd, n, run = 16384) {
  const out = new Uint8Array(n);
  for (let o = 0, i = 0; o < n; o += run, i++) {
    const k = Math.min(run, n - o);
    out.set(i % 2 === 0 ? text(rnd, k) : noise(rnd, k), o);
  }
  return out;
}

/**
 * JSON with two-space indentation and every non-ASCII character escaped, so that no editor or
 * transfer can re-encode or re-normalise the strings (NFC and NFD spellings must survive).
 */
export function toJson(value) {
  return `${JSON.stringify(value, null, 2).replace(
    /[\u007f-\uffff]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )}\n`;
}

/** Numbers the tests of all groups 1, 2, … and fills `numberOfTests`. */
export function numberTests(file) {
  let id = 0;
  for (const g of file.testGroups) for (const t of g.tests) t.tcId = ++id;
  file.numberOfTests = id;
  return file;
}

/** Every flag used must have a note, and every note must be used. */
export function checkNotes(file) {
  const used = new Set(file.testGroups.flatMap((g) => g.tests.flatMap((t) => t.flags)));
  for (const f of used) if (!file.notes[f]) throw new Error(`flag ${f} has no note`);
  for (const f of Object.keys(file.notes)) if (!used.has(f)) throw new Error(`note ${f} is not used`);
  return file;
}
