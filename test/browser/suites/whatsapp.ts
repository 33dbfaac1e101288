// WhatsApp crypt15 files where there is no node:crypto: the one-shot path on WebCrypto (or
// @noble/ciphers where crypto.subtle is hidden), with fflate inflating. The files are written here
// from the layout (docs/whatsapp-crypt15.md) with noble's AES-GCM and MD5 and fflate's zlib — not
// by the reader run backwards; test/whatsapp/ covers the format itself on Node.
import { gcm } from '@noble/ciphers/aes.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { md5 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { zlibSync } from 'fflate';
import { defaultBackend } from '../../../src/whatsapp/decrypt.js';
import {
  decryptWhatsAppBackup,
  decryptWhatsAppBackupBytes,
  inspectWhatsAppBackup,
} from '../../../src/whatsapp/index.js';
import { assert, assertBytesEqual, assertEqual, assertRejects, type Suite } from '../harness.js';

const root = Uint8Array.from({ length: 32 }, (_, i) => (i * 29 + 3) & 0xff);
const iv = Uint8Array.from({ length: 16 }, (_, i) => 200 - i);
const enc = new TextEncoder();

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** key_type 1, C15_IV { IV }, BackupExpiry { app_version "2.24.1.1", feature 5 } — each field by hand. */
function prefixProto(): Uint8Array {
  const version = enc.encode('2.24.1.1');
  const expiry = cat(Uint8Array.of(0x0a, version.length), version, Uint8Array.of(0x28, 0x01));
  return cat(
    Uint8Array.of(0x08, 0x01),
    Uint8Array.of(0x1a, 18, 0x0a, 16),
    iv,
    Uint8Array.of(0x22, expiry.length),
    expiry,
  );
}

function crypt15(plaintext: Uint8Array, { md5Trailer = true, flag = true } = {}): Uint8Array {
  const proto = prefixProto();
  const head = cat(Uint8Array.of(proto.length), flag ? Uint8Array.of(1) : new Uint8Array(0), proto);
  const key = hkdf(sha256, root, new Uint8Array(0), enc.encode('backup encryption'), 32);
  const body = cat(head, gcm(key, iv).encrypt(plaintext));
  return md5Trailer ? cat(body, md5(body)) : body;
}

function database(n: number): Uint8Array {
  const out = new Uint8Array(n);
  out.set(enc.encode('SQLite format 3\0'));
  for (let i = 16; i < n; i++) out[i] = (i * 7) % 13 === 0 ? (i * 2654435761) >>> 24 : 97 + (i % 7);
  return out;
}

async function readAll(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

export const whatsappSuite: Suite = {
  name: 'WhatsApp crypt15 (one-shot)',
  checks: () => [
    {
      name: 'no node:crypto here: the one-shot backend is chosen (WebCrypto, or noble without it)',
      run: () => assertEqual(defaultBackend(), globalThis.crypto.subtle ? 'webcrypto' : 'noble', 'backend'),
    },
    {
      name: "this engine's WebCrypto AES-GCM takes a 16-byte IV, and agrees with noble",
      run: async () => {
        if (!globalThis.crypto.subtle) return;
        const key = hkdf(sha256, root, new Uint8Array(0), enc.encode('backup encryption'), 32);
        const k = await crypto.subtle.importKey('raw', key as BufferSource, 'AES-GCM', false, ['encrypt']);
        const pt = database(1000);
        const ct = new Uint8Array(
          await crypto.subtle.encrypt({ name: 'AES-GCM', iv: iv as BufferSource }, k, pt as BufferSource),
        );
        assertBytesEqual(ct, gcm(key, iv).encrypt(pt), 'WebCrypto vs noble');
      },
    },
    {
      name: 'both prefix forms, with and without MD5: the exact database, bytes and stream',
      run: async () => {
        const db = database(300_000);
        for (const md5Trailer of [true, false])
          for (const flag of [true, false]) {
            const file = crypt15(zlibSync(db, { level: 1 }), { md5Trailer, flag });
            const opened = await decryptWhatsAppBackupBytes(file, root);
            assertBytesEqual(opened.data, db, `bytes, md5 ${md5Trailer}, flag ${flag}`);
            assertEqual(opened.layout, md5Trailer ? 'md5' : 'no-md5', 'layout');
            assertEqual(opened.info.featureTable, flag, 'featureTable');
            assertEqual(opened.info.appVersion, '2.24.1.1', 'appVersion');
            const { stream } = await decryptWhatsAppBackup(new Blob([file as BlobPart]).stream(), root);
            assertBytesEqual(await readAll(stream), db, 'stream');
          }
        assertEqual(inspectWhatsAppBackup(crypt15(new Uint8Array(2))).features.join(), '5', 'features');
      },
    },
    {
      name: 'a wrong key is WRONG_KEY, a flipped byte CHUNK_AUTH, with nothing released; a bomb stops at the limit',
      run: async () => {
        const file = crypt15(zlibSync(database(20_000)));
        await assertRejects(
          decryptWhatsAppBackupBytes(file, new Uint8Array(32)),
          ['WRONG_KEY'],
          'a wrong key',
        );
        for (const at of [file[0]! + 2, 100, file.length - 20, file.length - 1]) {
          const bad = file.slice();
          bad[at]! ^= 1;
          let released = 0;
          await assertRejects(
            (async () => {
              const { stream } = await decryptWhatsAppBackup(bad, root);
              const reader = stream.getReader();
              for (let r = await reader.read(); !r.done; r = await reader.read()) released += r.value.length;
            })(),
            ['CHUNK_AUTH'],
            `byte ${at} flipped`,
          );
          assertEqual(released, 0, `released before the tag, byte ${at}`);
        }
        const bomb = crypt15(zlibSync(new Uint8Array(32 << 20)));
        await assertRejects(
          decryptWhatsAppBackupBytes(bomb, root, { maxOutputBytes: 1 << 20 }),
          ['OUTPUT_LIMIT'],
          'a zlib bomb',
        );
        assert(bomb.length < 100_000, 'the bomb is small');
      },
    },
  ],
};
