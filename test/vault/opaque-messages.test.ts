/**
 * OPAQUE's wire messages (src/vault/opaque/messages.ts) field by field, against the layouts of
 * RFC 9807 §4 and §6 written out here by hand (the struct sizes of ristretto255-SHA512: Nn = Nseed =
 * Npk = Noe = 32, Nh = Nm = 64): every length refused with its message, every group element
 * checked (canonical, not the identity), every field at its offset.
 */
import { ristretto255 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { E2EEError } from '../../src/errors.js';
import {
  checkBytes,
  checkElement,
  checkIdentity,
  deserializeAuthRequest,
  deserializeAuthResponse,
  deserializeCredentialRequest,
  deserializeCredentialResponse,
  deserializeEnvelope,
  deserializeKE1,
  deserializeKE2,
  deserializeKE3,
  deserializeRegistrationRecord,
  deserializeRegistrationRequest,
  deserializeRegistrationResponse,
  malformed,
  serializeAuthRequest,
  serializeAuthResponse,
  serializeCleartextCredentials,
  serializeCredentialRequest,
  serializeCredentialResponse,
  serializeEnvelope,
  serializeKE1,
  serializeKE2,
  serializeKE3,
  serializeRegistrationRecord,
  serializeRegistrationRequest,
  serializeRegistrationResponse,
  u16,
} from '../../src/vault/opaque/messages.js';

/** A valid, non-identity ristretto255 element: k·G for a small k, so that it is distinct per k. */
const element = (k: number): Uint8Array => ristretto255.Point.BASE.multiply(BigInt(k)).toBytes();
/** `n` bytes of `b`. */
const fill = (n: number, b: number): Uint8Array => new Uint8Array(n).fill(b);
const cat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
/** Not a canonical encoding: every byte 0xff is above the field prime. */
const NON_CANONICAL = fill(32, 0xff);
const IDENTITY = new Uint8Array(32);

function thrown(fn: () => unknown): E2EEError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(E2EEError);
    return err as E2EEError;
  }
  throw new Error('expected an E2EEError');
}
const refusal = (fn: () => unknown) => {
  const err = thrown(fn);
  return [err.code, err.message];
};

/**
 * Each message: its name in errors, its length, its parts in order (the fields a test may put an
 * element or filler in), and which parts are group elements (with the name each is checked as).
 */
interface Layout {
  name: string;
  parse: (b: Uint8Array) => unknown;
  parts: { size: number; element?: string }[];
}
const LAYOUTS: Layout[] = [
  {
    name: 'RegistrationRequest',
    parse: deserializeRegistrationRequest,
    parts: [{ size: 32, element: 'blinded_message' }],
  },
  {
    name: 'RegistrationResponse',
    parse: deserializeRegistrationResponse,
    parts: [
      { size: 32, element: 'evaluated_message' },
      { size: 32, element: 'server_public_key' },
    ],
  },
  { name: 'Envelope', parse: deserializeEnvelope, parts: [{ size: 32 }, { size: 64 }] },
  {
    name: 'RegistrationRecord',
    parse: deserializeRegistrationRecord,
    parts: [{ size: 32, element: 'client_public_key' }, { size: 64 }, { size: 32 }, { size: 64 }],
  },
  {
    name: 'CredentialRequest',
    parse: deserializeCredentialRequest,
    parts: [{ size: 32, element: 'blinded_message' }],
  },
  {
    name: 'CredentialResponse',
    parse: deserializeCredentialResponse,
    parts: [{ size: 32, element: 'evaluated_message' }, { size: 32 }, { size: 128 }],
  },
  {
    name: 'AuthRequest',
    parse: deserializeAuthRequest,
    parts: [{ size: 32 }, { size: 32, element: 'client_public_keyshare' }],
  },
  {
    name: 'AuthResponse',
    parse: deserializeAuthResponse,
    parts: [{ size: 32 }, { size: 32, element: 'server_public_keyshare' }, { size: 64 }],
  },
  {
    name: 'KE1',
    parse: deserializeKE1,
    parts: [
      { size: 32, element: 'blinded_message' },
      { size: 32 },
      { size: 32, element: 'client_public_keyshare' },
    ],
  },
  {
    name: 'KE2',
    parse: deserializeKE2,
    parts: [
      { size: 32, element: 'evaluated_message' },
      { size: 32 },
      { size: 128 },
      { size: 32 },
      { size: 32, element: 'server_public_keyshare' },
      { size: 64 },
    ],
  },
  { name: 'KE3', parse: deserializeKE3, parts: [{ size: 64 }] },
];

/** A valid message of `layout`: element k+1 in element parts, byte 0x10+k elsewhere. */
function valid(layout: Layout): Uint8Array[] {
  return layout.parts.map((p, k) => (p.element ? element(k + 1) : fill(p.size, 0x10 + k)));
}
const size = (layout: Layout) => layout.parts.reduce((s, p) => s + p.size, 0);

describe('OPAQUE message parsers', () => {
  it('have the sizes of RFC 9807 for ristretto255-SHA512', () => {
    expect(Object.fromEntries(LAYOUTS.map((l) => [l.name, size(l)]))).toEqual({
      RegistrationRequest: 32,
      RegistrationResponse: 64,
      Envelope: 96,
      RegistrationRecord: 192,
      CredentialRequest: 32,
      CredentialResponse: 192,
      AuthRequest: 64,
      AuthResponse: 128,
      KE1: 96,
      KE2: 320,
      KE3: 64,
    });
  });

  for (const layout of LAYOUTS) {
    describe(layout.name, () => {
      it('refuses a non-Uint8Array and every other length, naming both lengths', () => {
        const n = size(layout);
        expect(refusal(() => layout.parse([...new Uint8Array(n)] as unknown as Uint8Array))).toEqual([
          'VAULT_PROTOCOL',
          `OPAQUE: ${layout.name} must be a Uint8Array`,
        ]);
        for (const m of [0, n - 1, n + 1]) {
          expect(
            refusal(() => layout.parse(cat(...valid(layout), new Uint8Array(1)).subarray(0, m))),
          ).toEqual(['VAULT_PROTOCOL', `OPAQUE: ${layout.name} must be ${n} bytes, got ${m}`]);
        }
      });

      it('reads every field at its offset, as a copy', () => {
        const parts = valid(layout);
        const bytes = cat(...parts);
        const parsed = layout.parse(bytes);
        // Flatten the parsed structure in declaration order: the fields, in wire order.
        const flat: Uint8Array[] = [];
        const walk = (v: unknown) => {
          if (v instanceof Uint8Array) flat.push(v);
          else for (const x of Object.values(v as object)) walk(x);
        };
        walk(parsed);
        expect(cat(...flat)).toEqual(bytes);
        // Sizes as well as content: each parsed field is one part or a run of whole parts.
        expect(flat.map((f) => f.length).reduce((s, x) => s + x, 0)).toBe(size(layout));
        bytes.fill(0);
        expect(cat(...flat)).toEqual(cat(...parts));
      });

      for (const [k, part] of layout.parts.entries()) {
        if (!part.element) continue;
        it(`checks ${part.element} (part ${k}): canonical, not the identity`, () => {
          const parts = valid(layout);
          parts[k] = IDENTITY;
          expect(refusal(() => layout.parse(cat(...parts)))).toEqual([
            'VAULT_PROTOCOL',
            `OPAQUE: ${part.element} is the identity element`,
          ]);
          parts[k] = NON_CANONICAL;
          const err = thrown(() => layout.parse(cat(...parts)));
          expect([err.code, err.message]).toEqual([
            'VAULT_PROTOCOL',
            `OPAQUE: ${part.element} is not a canonical ristretto255 element`,
          ]);
          expect(err.cause).toBeInstanceOf(Error);
        });
      }
    });
  }

  it('a RegistrationRecord: the public key, the masking key, then the envelope', () => {
    const pk = element(7);
    const parsed = deserializeRegistrationRecord(cat(pk, fill(64, 1), fill(32, 2), fill(64, 3)));
    expect(parsed).toEqual({
      clientPublicKey: pk,
      maskingKey: fill(64, 1),
      envelope: { nonce: fill(32, 2), authTag: fill(64, 3) },
    });
  });

  it('a KE2: the credential response, then the auth response', () => {
    const parsed = deserializeKE2(
      cat(element(1), fill(32, 1), fill(128, 2), fill(32, 3), element(2), fill(64, 4)),
    );
    expect(parsed).toEqual({
      credentialResponse: {
        evaluatedMessage: element(1),
        maskingNonce: fill(32, 1),
        maskedResponse: fill(128, 2),
      },
      authResponse: { serverNonce: fill(32, 3), serverPublicKeyshare: element(2), serverMac: fill(64, 4) },
    });
  });

  it('a KE1: the credential request, then the auth request', () => {
    expect(deserializeKE1(cat(element(1), fill(32, 9), element(2)))).toEqual({
      credentialRequest: { blindedMessage: element(1) },
      authRequest: { clientNonce: fill(32, 9), clientPublicKeyshare: element(2) },
    });
  });
});

describe('OPAQUE message serialisers', () => {
  const e = (k: number) => element(k);
  /** Each serialiser, a valid input, its expected bytes, and its fields by name (path, size). */
  const cases: {
    name: string;
    write: (m: never) => Uint8Array;
    msg: () => Record<string, unknown>;
    bytes: () => Uint8Array;
    fields: [string[], string, number][];
  }[] = [
    {
      name: 'RegistrationRequest',
      write: serializeRegistrationRequest,
      msg: () => ({ blindedMessage: e(1) }),
      bytes: () => e(1),
      fields: [[['blindedMessage'], 'blinded_message', 32]],
    },
    {
      name: 'RegistrationResponse',
      write: serializeRegistrationResponse,
      msg: () => ({ evaluatedMessage: e(1), serverPublicKey: e(2) }),
      bytes: () => cat(e(1), e(2)),
      fields: [
        [['evaluatedMessage'], 'evaluated_message', 32],
        [['serverPublicKey'], 'server_public_key', 32],
      ],
    },
    {
      name: 'Envelope',
      write: serializeEnvelope,
      msg: () => ({ nonce: fill(32, 1), authTag: fill(64, 2) }),
      bytes: () => cat(fill(32, 1), fill(64, 2)),
      fields: [
        [['nonce'], 'envelope_nonce', 32],
        [['authTag'], 'auth_tag', 64],
      ],
    },
    {
      name: 'RegistrationRecord',
      write: serializeRegistrationRecord,
      msg: () => ({
        clientPublicKey: e(1),
        maskingKey: fill(64, 1),
        envelope: { nonce: fill(32, 2), authTag: fill(64, 3) },
      }),
      bytes: () => cat(e(1), fill(64, 1), fill(32, 2), fill(64, 3)),
      fields: [
        [['clientPublicKey'], 'client_public_key', 32],
        [['maskingKey'], 'masking_key', 64],
        [['envelope', 'nonce'], 'envelope_nonce', 32],
        [['envelope', 'authTag'], 'auth_tag', 64],
      ],
    },
    {
      name: 'CredentialRequest',
      write: serializeCredentialRequest,
      msg: () => ({ blindedMessage: e(3) }),
      bytes: () => e(3),
      fields: [[['blindedMessage'], 'blinded_message', 32]],
    },
    {
      name: 'CredentialResponse',
      write: serializeCredentialResponse,
      msg: () => ({ evaluatedMessage: e(1), maskingNonce: fill(32, 1), maskedResponse: fill(128, 2) }),
      bytes: () => cat(e(1), fill(32, 1), fill(128, 2)),
      fields: [
        [['evaluatedMessage'], 'evaluated_message', 32],
        [['maskingNonce'], 'masking_nonce', 32],
        [['maskedResponse'], 'masked_response', 128],
      ],
    },
    {
      name: 'AuthRequest',
      write: serializeAuthRequest,
      msg: () => ({ clientNonce: fill(32, 1), clientPublicKeyshare: e(2) }),
      bytes: () => cat(fill(32, 1), e(2)),
      fields: [
        [['clientNonce'], 'client_nonce', 32],
        [['clientPublicKeyshare'], 'client_public_keyshare', 32],
      ],
    },
    {
      name: 'AuthResponse',
      write: serializeAuthResponse,
      msg: () => ({ serverNonce: fill(32, 1), serverPublicKeyshare: e(2), serverMac: fill(64, 3) }),
      bytes: () => cat(fill(32, 1), e(2), fill(64, 3)),
      fields: [
        [['serverNonce'], 'server_nonce', 32],
        [['serverPublicKeyshare'], 'server_public_keyshare', 32],
        [['serverMac'], 'server_mac', 64],
      ],
    },
    {
      name: 'KE1',
      write: serializeKE1,
      msg: () => ({
        credentialRequest: { blindedMessage: e(1) },
        authRequest: { clientNonce: fill(32, 1), clientPublicKeyshare: e(2) },
      }),
      bytes: () => cat(e(1), fill(32, 1), e(2)),
      fields: [
        [['credentialRequest', 'blindedMessage'], 'blinded_message', 32],
        [['authRequest', 'clientNonce'], 'client_nonce', 32],
      ],
    },
    {
      name: 'KE2',
      write: serializeKE2,
      msg: () => ({
        credentialResponse: {
          evaluatedMessage: e(1),
          maskingNonce: fill(32, 1),
          maskedResponse: fill(128, 2),
        },
        authResponse: { serverNonce: fill(32, 3), serverPublicKeyshare: e(2), serverMac: fill(64, 4) },
      }),
      bytes: () => cat(e(1), fill(32, 1), fill(128, 2), fill(32, 3), e(2), fill(64, 4)),
      fields: [
        [['credentialResponse', 'maskedResponse'], 'masked_response', 128],
        [['authResponse', 'serverMac'], 'server_mac', 64],
      ],
    },
    {
      name: 'KE3',
      write: serializeKE3,
      msg: () => ({ clientMac: fill(64, 5) }),
      bytes: () => fill(64, 5),
      fields: [[['clientMac'], 'client_mac', 64]],
    },
  ];

  const set = (m: Record<string, unknown>, path: string[], value: unknown) => {
    let o = m;
    for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
    o[path.at(-1)!] = value;
  };

  for (const c of cases) {
    it(`${c.name}: the fields in wire order, each length checked by name`, () => {
      expect(c.write(c.msg() as never)).toEqual(c.bytes());
      for (const [path, name, n] of c.fields) {
        for (const m of [n - 1, n + 1]) {
          const msg = c.msg();
          set(msg, path, new Uint8Array(m));
          expect(refusal(() => c.write(msg as never))).toEqual([
            'VAULT_PROTOCOL',
            `OPAQUE: ${name} must be ${n} bytes, got ${m}`,
          ]);
        }
        const msg = c.msg();
        set(msg, path, 'not bytes');
        expect(refusal(() => c.write(msg as never))).toEqual([
          'VAULT_PROTOCOL',
          `OPAQUE: ${name} must be a Uint8Array`,
        ]);
      }
    });
  }
});

describe('OPAQUE message helpers', () => {
  it('malformed: VAULT_PROTOCOL, prefixed, with a cause only when given one', () => {
    const plain = malformed('x');
    expect([plain.code, plain.message, 'cause' in plain]).toEqual(['VAULT_PROTOCOL', 'OPAQUE: x', false]);
    const inner = new Error('inner');
    expect(malformed('y', inner).cause).toBe(inner);
  });

  it('checkBytes: any length unless one is given', () => {
    for (const n of [0, 1, 33]) expect(checkBytes(new Uint8Array(n), 'v')).toHaveLength(n);
    expect(refusal(() => checkBytes(new Uint8Array(3), 'v', 4))).toEqual([
      'VAULT_PROTOCOL',
      'OPAQUE: v must be 4 bytes, got 3',
    ]);
    expect(refusal(() => checkBytes(null, 'v'))).toEqual([
      'VAULT_PROTOCOL',
      'OPAQUE: v must be a Uint8Array',
    ]);
  });

  it('checkElement: 32 bytes, canonical, not the identity', () => {
    expect(checkElement(element(5), 'e')).toEqual(element(5));
    expect(refusal(() => checkElement(new Uint8Array(31), 'e'))).toEqual([
      'VAULT_PROTOCOL',
      'OPAQUE: e must be 32 bytes, got 31',
    ]);
    expect(refusal(() => checkElement(IDENTITY, 'e'))).toEqual([
      'VAULT_PROTOCOL',
      'OPAQUE: e is the identity element',
    ]);
    expect(refusal(() => checkElement(NON_CANONICAL, 'e'))).toEqual([
      'VAULT_PROTOCOL',
      'OPAQUE: e is not a canonical ristretto255 element',
    ]);
  });

  it('u16: two bytes, big-endian', () => {
    expect([...u16(0)]).toEqual([0, 0]);
    expect([...u16(1)]).toEqual([0, 1]);
    expect([...u16(0x1234)]).toEqual([0x12, 0x34]);
    expect([...u16(0xff01)]).toEqual([0xff, 0x01]);
    expect([...u16(0xffff)]).toEqual([0xff, 0xff]);
  });

  it('checkIdentity: 1 to 65535 bytes', () => {
    expect(checkIdentity(new Uint8Array(1), 'id')).toHaveLength(1);
    expect(checkIdentity(new Uint8Array(0xffff), 'id')).toHaveLength(0xffff);
    for (const n of [0, 0x10000]) {
      expect(refusal(() => checkIdentity(new Uint8Array(n), 'id'))).toEqual([
        'VAULT_PROTOCOL',
        `OPAQUE: id must be 1 to 65535 bytes, got ${n}`,
      ]);
    }
    expect(refusal(() => checkIdentity('id', 'id'))).toEqual([
      'VAULT_PROTOCOL',
      'OPAQUE: id must be a Uint8Array',
    ]);
  });

  it('serializeCleartextCredentials: server key, then each identity after its u16 length (RFC 9807 §4)', () => {
    const pk = element(9);
    const server = Uint8Array.of(0x73, 0x76);
    const client = fill(300, 0x63);
    expect(
      serializeCleartextCredentials({ serverPublicKey: pk, serverIdentity: server, clientIdentity: client }),
    ).toEqual(cat(pk, Uint8Array.of(0, 2), server, Uint8Array.of(1, 44), client));
    expect(
      refusal(() =>
        serializeCleartextCredentials({
          serverPublicKey: pk,
          serverIdentity: new Uint8Array(0),
          clientIdentity: client,
        }),
      ),
    ).toEqual(['VAULT_PROTOCOL', 'OPAQUE: server_identity must be 1 to 65535 bytes, got 0']);
    expect(
      refusal(() =>
        serializeCleartextCredentials({
          serverPublicKey: pk,
          serverIdentity: server,
          clientIdentity: new Uint8Array(0),
        }),
      ),
    ).toEqual(['VAULT_PROTOCOL', 'OPAQUE: client_identity must be 1 to 65535 bytes, got 0']);
    expect(
      refusal(() =>
        serializeCleartextCredentials({
          serverPublicKey: pk.subarray(1),
          serverIdentity: server,
          clientIdentity: client,
        }),
      ),
    ).toEqual(['VAULT_PROTOCOL', 'OPAQUE: server_public_key must be 32 bytes, got 31']);
  });
});
