/**
 * `--tls-pin`: HTTPS to a vault whose TLS key is pinned. The pin is SHA-256 of the certificate's
 * SubjectPublicKeyInfo (the public key, as `openssl pkey -pubin -outform der` writes it), the same
 * value curl's `--pinnedpubkey sha256//…` and HPKP pin. The TLS handshake proves that the server
 * holds that key's private key, so a matching pin authenticates the server by itself: it replaces
 * the certificate-authority check (a self-signed certificate works, its names and dates are not
 * looked at), and nothing at all is sent over a connection whose key does not match.
 *
 * Unlike the vault's OPAQUE key (`--server-key`), which an impostor can copy into its answers, a
 * TLS key cannot be shown without its private key: this is the pin that protects a registration
 * and a device credential (THREAT-MODEL.md).
 *
 * @module
 */

import { createHash, X509Certificate } from 'node:crypto';
import { request } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { usageError } from './exit-codes.js';

/** Largest answer read from a vault (its real answers are under 1 KiB). */
const MAX_ANSWER_BYTES = 1 << 20;

/** A TLS server whose key is not the pinned one; nothing was sent to it. */
export class TlsPinMismatch extends Error {
  /** The pin of the key the server showed (undefined if it showed no certificate). */
  readonly actual: string | undefined;
  constructor(actual: string | undefined, pinned: string) {
    super(`the vault's TLS key is ${actual ?? 'missing'}, not the pinned ${pinned}`);
    this.name = 'TlsPinMismatch';
    this.actual = actual;
  }
}

/** SHA-256 of a certificate's SubjectPublicKeyInfo (DER), as 8 groups of 8 hex digits. */
export function spkiPin(certificateDer: Uint8Array): string {
  const spki = new X509Certificate(certificateDer).publicKey.export({ type: 'spki', format: 'der' });
  return grouped(createHash('sha256').update(spki).digest('hex'));
}

/**
 * A TLS pin as given by a person: 64 hex digits in any case, with hyphens, colons or spaces
 * between (as `openssl dgst -sha256` prints them, or as this tool does), or curl's
 * `sha256//BASE64`. Returns the canonical form: 8 groups of 8 lower-case hex digits.
 */
export function parseTlsPin(text: string, source: string): string {
  const curl = /^sha256\/\/([A-Za-z0-9+/]{43}=)$/.exec(text.trim());
  const hex = curl
    ? Buffer.from(curl[1]!, 'base64').toString('hex')
    : text
        .slice(text.lastIndexOf('=') + 1) // openssl dgst's "SHA2-256(stdin)= " prefix
        .replace(/[-:\s]/g, '')
        .toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex))
    throw usageError(
      `${source} is not a TLS key pin`,
      "Give SHA-256 of the certificate's public key: openssl x509 -in cert.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 (or curl's sha256//BASE64)",
    );
  return grouped(hex);
}

function grouped(hex: string): string {
  return hex.match(/.{8}/g)!.join('-');
}

/**
 * Opens a TLS connection to `url`'s host and hands it over only once the server has shown the
 * pinned key; otherwise ends it, having written nothing. Certificate-authority checks are off on
 * purpose: the pin is the check.
 */
function connectPinned(
  url: URL,
  pin: string,
  signal: AbortSignal | undefined,
  done: (err: Error | null, socket?: Socket) => void,
): void {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const socket: TLSSocket = connect({
    host,
    port: Number(url.port || 443),
    ...(isIP(host) ? {} : { servername: host }),
    rejectUnauthorized: false,
    ALPNProtocols: ['http/1.1'],
  });
  const fail = (err: Error) => {
    cleanup();
    socket.destroy();
    done(err);
  };
  const onError = (err: Error) => fail(err);
  const onAbort = () => fail(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
  const cleanup = () => {
    socket.off('error', onError);
    signal?.removeEventListener('abort', onAbort);
  };
  socket.once('error', onError);
  signal?.addEventListener('abort', onAbort, { once: true });
  socket.once('secureConnect', () => {
    const raw = socket.getPeerCertificate(false)?.raw;
    const actual = raw && raw.length > 0 ? spkiPin(raw) : undefined;
    if (actual !== pin) return fail(new TlsPinMismatch(actual, pin));
    cleanup();
    done(null, socket);
  });
}

/**
 * A `fetch` for `createVaultClient` that speaks HTTP/1.1 over TLS to servers holding the pinned
 * key only (a new connection per request, each checked). Enough of `fetch` for the vault client:
 * string bodies, plain-object or `Headers` headers, an abort signal; `https:` URLs only.
 */
export function pinnedFetch(pin: string): typeof fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.protocol !== 'https:')
      throw new TypeError(`--tls-pin needs an https:// URL, not ${url.protocol}`);
    if (init.body != null && typeof init.body !== 'string') throw new TypeError('only string bodies');
    const signal = init.signal ?? undefined;
    signal?.throwIfAborted();
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => {
      headers[name] = value;
    });
    headers['host'] = url.host;
    if (typeof init.body === 'string') headers['content-length'] = String(Buffer.byteLength(init.body));
    return new Promise<Response>((resolve, reject) => {
      const req = request(
        {
          method: init.method ?? 'GET',
          path: `${url.pathname}${url.search}`,
          headers,
          ...(signal ? { signal } : {}),
          createConnection: ((_options: unknown, oncreate: (err: Error | null, socket?: Socket) => void) => {
            connectPinned(url, pin, signal, oncreate);
            return undefined;
          }) as never,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_ANSWER_BYTES) res.destroy(new Error('the vault answered more than 1 MiB'));
            else chunks.push(chunk);
          });
          res.on('error', reject);
          res.on('end', () => {
            const answer = new Headers();
            for (const [name, value] of Object.entries(res.headers)) {
              if (typeof value === 'string') answer.set(name, value);
              else if (Array.isArray(value)) for (const v of value) answer.append(name, v);
            }
            const status = res.statusCode ?? 502;
            const empty = status === 204 || status === 205 || status === 304;
            try {
              resolve(
                new Response(empty ? null : Buffer.concat(chunks), {
                  status,
                  statusText: res.statusMessage ?? '',
                  headers: answer,
                }),
              );
            } catch (err) {
              reject(err); // a status fetch would not hand over either
            }
          });
        },
      );
      req.on('error', reject);
      req.end(init.body ?? undefined);
    });
  }) as typeof fetch;
}
