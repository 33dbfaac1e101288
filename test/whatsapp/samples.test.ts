// wa-crypt-tools' real test files: a crypt15 backup made by WhatsApp, its encrypted_backup.key, the
// database it holds, and crypt14/crypt12 backups with their key file. Vendored unmodified in
// vectors/third-party/wa-crypt-tools (GPL-3.0, kept as separate files, not in the npm package), so
// they run on a fresh clone; a missing file fails. WHATSAPP_SAMPLES=DIR reads another copy of
// github.com/ElDavoo/wa-crypt-tools' tests/res/ instead.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decryptWith } from '../../src/whatsapp/decrypt.js';
import {
  decryptWhatsAppBackup,
  decryptWhatsAppBackupBytes,
  inspectWhatsAppBackup,
  parseWhatsAppKey,
} from '../../src/whatsapp/index.js';
import { thirdPartyFile } from '../shared-data.js';
import { seededSplits } from '../util.js';
import { iterate } from './encoder.js';

const file = (name: string) =>
  new Uint8Array(readFileSync(thirdPartyFile('WHATSAPP_SAMPLES', 'wa-crypt-tools', name)));
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe("real WhatsApp files (wa-crypt-tools' tests/res/)", () => {
  it('opens msgstore.db.crypt15 with encrypted_backup.key to the exact database, on every backend', async () => {
    const crypt15 = file('msgstore.db.crypt15');
    const db = file('msgstore.db');
    const key = file('encrypted_backup.key');
    const opened = await decryptWhatsAppBackupBytes(crypt15, key);
    expect(opened.payload).toBe('zlib');
    expect(opened.layout).toBe('md5');
    expect(sha(opened.data)).toBe(sha(db));
    for (const backend of ['webcrypto', 'noble'] as const) {
      const { stream } = await decryptWith(backend, crypt15, key, {});
      expect(sha(new Uint8Array(await new Response(stream).arrayBuffer()))).toBe(sha(db));
    }
    const { stream } = await decryptWhatsAppBackup(iterate(seededSplits(crypt15, 7)), key);
    expect(sha(new Uint8Array(await new Response(stream).arrayBuffer()))).toBe(sha(db));
  });

  it('opens it with the 64-digit code, spelt as WhatsApp shows it', async () => {
    const root = parseWhatsAppKey(file('encrypted_backup.key'));
    const code = Buffer.from(root)
      .toString('hex')
      .toUpperCase()
      .replace(/(.{4})(?!$)/g, '$1 ');
    const opened = await decryptWhatsAppBackupBytes(file('msgstore.db.crypt15'), code);
    expect(sha(opened.data)).toBe(sha(file('msgstore.db')));
  });

  it('reads the prefix', () => {
    const info = inspectWhatsAppBackup(file('msgstore.db.crypt15'), { phoneDigits: true });
    expect(info).toMatchObject({
      format: 'crypt15',
      keyType: 1,
      featureTable: true,
      appVersion: '2.22.5.13',
      phoneDigits: '67',
    });
    expect(inspectWhatsAppBackup(file('msgstore.db.crypt15')).phoneDigits).toBeUndefined();
  });

  it('names crypt14, crypt12 and the crypt14 key file', () => {
    for (const [name, format] of [
      ['msgstore.db.crypt14', /crypt14 backup/],
      ['msgstore-noexpiry.db.crypt14', /crypt14 backup/],
      ['msgstore.db.crypt12', /crypt12 \(or older\) backup/],
    ] as const)
      expect(() => inspectWhatsAppBackup(file(name)), name).toThrow(
        expect.objectContaining({ code: 'UNSUPPORTED_VERSION', message: expect.stringMatching(format) }),
      );
    expect(() => parseWhatsAppKey(file('key'))).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_VERSION' }),
    );
  });
});
