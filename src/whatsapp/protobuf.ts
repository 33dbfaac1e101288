/**
 * The protobuf wire format (protobuf.dev/programming-guides/encoding), as much of it as a crypt15
 * prefix needs: a message is a sequence of fields, each a varint tag (field number << 3 | wire
 * type) and a value. Wire types: 0 varint, 1 eight bytes, 2 length-delimited, 5 four bytes; the
 * deprecated groups (3, 4) are refused.
 *
 * Internal module.
 */

import { E2EEError } from '../errors.js';

/** One field as it appears on the wire. */
export type WireField =
  | { number: number; wireType: 0; value: bigint }
  | { number: number; wireType: 1 | 5; value: Uint8Array }
  | { number: number; wireType: 2; value: Uint8Array };

function malformed(what: string, problem: string): E2EEError {
  return new E2EEError('MALFORMED_HEADER', `WhatsApp backup prefix, ${what}: ${problem}`);
}

/**
 * Every field of the message `buf`, in order. `what` names the message in errors.
 *
 * @throws E2EEError `MALFORMED_HEADER` for a varint longer than 10 bytes or past 64 bits, field
 *   number 0 or above 2^29 − 1, wire types 3, 4, 6, 7, or a value running past the end.
 */
export function* wireFields(buf: Uint8Array, what: string): Generator<WireField> {
  let pos = 0;
  const varint = (): bigint => {
    let value = 0n;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw malformed(what, 'a varint runs past the end');
      const b = buf[pos++]!;
      // The tenth byte holds bit 63 only.
      if (i === 9 && b > 1) throw malformed(what, 'a varint does not fit in 64 bits');
      value |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) return value;
    }
    throw malformed(what, 'a varint is longer than 10 bytes');
  };
  const take = (n: bigint | number): Uint8Array => {
    if (BigInt(n) > BigInt(buf.length - pos)) throw malformed(what, 'a field runs past the end');
    const out = buf.subarray(pos, pos + Number(n));
    pos += Number(n);
    return out;
  };
  while (pos < buf.length) {
    const tag = varint();
    const number = tag >> 3n;
    const wireType = Number(tag & 7n);
    if (number === 0n || number > 0x1fffffffn)
      throw malformed(what, `field number ${number} is out of range`);
    const n = Number(number);
    switch (wireType) {
      case 0:
        yield { number: n, wireType, value: varint() };
        break;
      case 1:
        yield { number: n, wireType, value: take(8) };
        break;
      case 2:
        yield { number: n, wireType, value: take(varint()) };
        break;
      case 5:
        yield { number: n, wireType, value: take(4) };
        break;
      default:
        throw malformed(what, `field ${n} has wire type ${wireType}, which protobuf messages here never use`);
    }
  }
}

/** The value of a known field, refusing a wire type its declared type cannot have. */
export function expectVarint(f: WireField, what: string): bigint {
  if (f.wireType !== 0)
    throw malformed(what, `field ${f.number} should be a varint, has wire type ${f.wireType}`);
  return f.value;
}

/** See {@link expectVarint}: for `bytes`, `string` and message fields. */
export function expectBytes(f: WireField, what: string): Uint8Array {
  if (f.wireType !== 2)
    throw malformed(what, `field ${f.number} should be length-delimited, has wire type ${f.wireType}`);
  return f.value;
}

/** An `int32` or enum value: protobuf keeps the low 32 bits, as a signed number. */
export function int32(v: bigint): number {
  return Number(BigInt.asIntN(32, v));
}

/** A `string` field: UTF-8, refused when it is not. */
export function utf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw malformed(what, 'a string field is not UTF-8');
  }
}
