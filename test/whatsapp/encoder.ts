// An independent crypt15 writer for the tests, written from the layout in the issue and
// docs/whatsapp-crypt15.md on node:crypto and node:zlib — not the library's reader run backwards
// (nothing from src/whatsapp is imported). Every field can be set, left out or broken, so that the
// reader meets what WhatsApp writes and what it must refuse.
import { createCipheriv, createHash, hkdfSync } from 'node:crypto';
import { deflateSync } from 'node:zlib';

/** Protobuf varint (the wire format's base-128, least significant group first). */
export function varint(n: number | bigint): Buffer {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v ? b | 0x80 : b);
  } while (v);
  return Buffer.from(out);
}

/** A varint field. */
export function vfield(num: number, value: number | bigint): Buffer {
  return Buffer.concat([varint(num * 8), varint(value)]);
}

/** A length-delimited field. */
export function bfield(num: number, value: Uint8Array | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
  return Buffer.concat([varint(num * 8 + 2), varint(bytes.length), bytes]);
}

export interface Expiry {
  /** A string is written as UTF-8; bytes as they are (to write what is not UTF-8). */
  appVersion?: string | Uint8Array;
  jidSuffix?: string;
  backupVersion?: number;
  features?: number[];
}

/** `BackupExpiry`: 1 app_version, 3 jidSuffix, 4 backup_version, 5..37/39 feature bools. */
export function expiry(e: Expiry): Buffer {
  const parts: Buffer[] = [];
  if (e.appVersion !== undefined) parts.push(bfield(1, e.appVersion));
  if (e.jidSuffix !== undefined) parts.push(bfield(3, e.jidSuffix));
  if (e.backupVersion !== undefined) parts.push(vfield(4, e.backupVersion));
  for (const f of e.features ?? []) parts.push(vfield(f, 1));
  return Buffer.concat(parts);
}

/** `BackupPrefix`: 1 key_type, 3 C15_IV { 1: IV }, 4 BackupExpiry. */
export function backupPrefix(iv: Uint8Array, e: Expiry | undefined, keyType = 1): Buffer {
  return Buffer.concat([vfield(1, keyType), bfield(3, bfield(1, iv)), ...(e ? [bfield(4, expiry(e))] : [])]);
}

/** The AES key: HKDF-SHA-256(root, empty salt, "backup encryption", 32). */
export function aesKeyOf(root: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), 'backup encryption', 32));
}

/** `encrypted_backup.key`: Java serialisation of a byte[32]. */
export function keyFile(root: Uint8Array): Buffer {
  return Buffer.concat([
    Buffer.from('aced0005757200025b42acf317f8060854e00200007870', 'hex'),
    Buffer.from([0, 0, 0, 32]),
    root,
  ]);
}

export interface Crypt15Options {
  root: Uint8Array;
  iv?: Uint8Array;
  /** The plaintext after GCM; default: zlib (level 1, as the real sample's `78 01`) of `data`. */
  plaintext?: Uint8Array;
  data?: Uint8Array;
  /** Write the 0x01 feature-table byte (default true). */
  featureTable?: boolean;
  /** Append MD5 of everything before it (default true: single-file backups). */
  md5?: boolean;
  expiry?: Expiry;
  /** Replace the protobuf prefix altogether. */
  prefix?: Uint8Array;
  keyType?: number;
}

/** A crypt15 file: L, [0x01], BackupPrefix, AES-256-GCM(16-byte IV) ciphertext, tag, [MD5]. */
export function crypt15(o: Crypt15Options): Buffer {
  const iv = o.iv ?? Buffer.alloc(16, 0x5a);
  const plaintext = o.plaintext ?? deflateSync(o.data ?? Buffer.alloc(0), { level: 1 });
  const proto =
    o.prefix ??
    backupPrefix(
      iv,
      o.expiry ?? { appVersion: '2.24.1.1', jidSuffix: '42', backupVersion: 1, features: [5, 6, 39] },
      o.keyType,
    );
  if (proto.length > 255) throw new Error('prefix too long for one length byte');
  const head = Buffer.concat([
    Buffer.from([proto.length]),
    o.featureTable === false ? Buffer.alloc(0) : Buffer.from([1]),
    proto,
  ]);
  const c = createCipheriv('aes-256-gcm', aesKeyOf(o.root), iv);
  const body = Buffer.concat([head, c.update(plaintext), c.final(), c.getAuthTag()]);
  return o.md5 === false ? body : Buffer.concat([body, createHash('md5').update(body).digest()]);
}

/** A minimal ZIP archive (one stored entry), as multi-file backups carry. */
export function zipOf(name: string, content: Uint8Array): Buffer {
  const n = Buffer.from(name);
  const crc = crc32(content);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(10, 4);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(content.length, 18);
  local.writeUInt32LE(content.length, 22);
  local.writeUInt16LE(n.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(10, 6);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(content.length, 20);
  central.writeUInt32LE(content.length, 24);
  central.writeUInt16LE(n.length, 28);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(46 + n.length, 12);
  end.writeUInt32LE(30 + n.length + content.length, 16);
  return Buffer.concat([local, n, content, central, n, end]);
}

function crc32(data: Uint8Array): number {
  let c = ~0;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

/** `parts` as the async iterable a streamed input may be. */
export async function* iterate(parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* parts;
}
