// SPEC.md §5.1's rules on the metadata JSON that JSON.parse does not check — nesting depth, lone
// surrogate escapes, how `generation` is written — on reading (MALFORMED_PAYLOAD) and writing
// (INVALID_ARGUMENT). vectors/ pins the reading side byte for byte; these add the writer and the
// cases too large for a vector.
import { describe, expect, it } from 'vitest';
import { decryptBackupBytes, encryptBackupBytes } from '../src/container/backup.js';
import { MAX_METADATA_DEPTH, metadataJsonProblem } from '../src/container/framing.js';
import { E2EEError } from '../src/errors.js';
import { concat } from '../src/internal/bytes.js';
import { craft, END, metaRecord, stored } from './craft.js';

const key = new Uint8Array(32).fill(9);
const slots = [{ type: 'backup-key' as const, backupKey: key }];
const CREATED = '"created":"2026-11-26T12:00:00Z"';

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof E2EEError) return e.code;
    throw e;
  }
}

/** Opens a crafted backup whose metadata JSON is `json`. */
const open = async (json: string) =>
  code(
    decryptBackupBytes(await craft(slots, 0, concat(metaRecord(json), stored(Uint8Array.of(1)), END)), {
      key,
    }),
  );

/** `app` holding arrays nested so that the whole record is `depth` deep. */
const nested = (depth: number) =>
  `{${CREATED},"generation":1,"app":{"a":${'['.repeat(depth - 2)}${']'.repeat(depth - 2)}}}`;

/** The same as a value, for the writer. */
function nestedValue(depth: number): { a: unknown } {
  let v: unknown = [];
  for (let i = 3; i < depth; i++) v = [v];
  return { a: v };
}

describe('nesting depth', () => {
  it('is counted as SPEC.md §5.1 says: the record is 1, app 2', () => {
    expect(MAX_METADATA_DEPTH).toBe(64);
    expect(metadataJsonProblem(nested(64))).toBeUndefined();
    expect(metadataJsonProblem(nested(65))).toMatch(/more than 64 deep/);
    expect(metadataJsonProblem('{"app":{},"x":[{"y":[[]]}]}')).toBeUndefined();
  });

  it('a reader refuses metadata nested 65 or 5,000 deep with MALFORMED_PAYLOAD (it used to overflow the stack)', async () => {
    expect(await open(nested(64))).toBe('ok');
    expect(await open(nested(65))).toBe('MALFORMED_PAYLOAD');
    expect(await open(nested(5000))).toBe('MALFORMED_PAYLOAD');
  });

  it('a writer refuses app fields nested past the limit, or cyclic, with INVALID_ARGUMENT (not a RangeError)', async () => {
    const write = (app: object) =>
      code(encryptBackupBytes(Uint8Array.of(1), { key, metadata: app as never }));
    expect(await write(nestedValue(64))).toBe('ok');
    expect(await write(nestedValue(65))).toBe('INVALID_ARGUMENT');
    expect(await write(nestedValue(4500))).toBe('INVALID_ARGUMENT');
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(await write(cycle)).toBe('INVALID_ARGUMENT');
  });
});

describe('lone surrogates', () => {
  it('a reader refuses an escaped lone surrogate in any string, names included', async () => {
    const app = (fields: string) => `{${CREATED},"generation":1,"app":{${fields}}}`;
    expect(await open(app('"s":"\\ud800"'))).toBe('MALFORMED_PAYLOAD');
    expect(await open(app('"s":"x\\udc00y"'))).toBe('MALFORMED_PAYLOAD');
    expect(await open(app('"s":"\\ud83d\\ud83d"'))).toBe('MALFORMED_PAYLOAD');
    expect(await open(app('"\\udfff":1'))).toBe('MALFORMED_PAYLOAD');
    expect(await open(app('"deep":[{"s":["\\ud800"]}]'))).toBe('MALFORMED_PAYLOAD');
    expect(await open(app('"pair":"\\ud83d\\ude00","raw":"😀","escaped backslash":"\\\\ud800"'))).toBe('ok');
  });

  it('a writer refuses a lone surrogate in app, which JSON.stringify would escape', async () => {
    const write = (app: object) =>
      code(encryptBackupBytes(Uint8Array.of(1), { key, metadata: app as never }));
    expect(await write({ s: 'a\ud800' })).toBe('INVALID_ARGUMENT');
    expect(await write({ ['\udc00']: 1 })).toBe('INVALID_ARGUMENT');
    expect(await write({ s: '😀' })).toBe('ok');
  });
});

describe('generation', () => {
  it('must be written as a whole number: no sign, fraction or exponent', async () => {
    const meta = (g: string) => `{${CREATED},"generation":${g},"app":{}}`;
    for (const g of ['0', '1', '9007199254740991', '42']) expect(await open(meta(g)), g).toBe('ok');
    for (const g of [
      '1.0',
      '1e3',
      '1E+3',
      '10e-1',
      '0.0',
      '-0',
      '1e-400',
      '1.0000000000000001',
      '9007199254740992',
      '-1',
    ])
      expect(await open(meta(g)), g).toBe('MALFORMED_PAYLOAD');
    // Only the top-level member: the same spellings inside app are any JSON.
    expect(await open(`{${CREATED},"generation":1,"app":{"generation":1.0,"n":[1e3]}}`)).toBe('ok');
  });

  it('a writer refuses a generation that is not a safe whole number with INVALID_ARGUMENT', async () => {
    for (const generation of [1.5, -1, 2 ** 53, Number.NaN])
      expect(await code(encryptBackupBytes(Uint8Array.of(1), { key, generation })), String(generation)).toBe(
        'INVALID_ARGUMENT',
      );
  });
});
