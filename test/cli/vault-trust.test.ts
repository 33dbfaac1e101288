// The CLI's rules for which vault it talks to, and how long it waits for one, without a server.
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultStatePath } from '../../src/cli/state.js';
import { retryAfterSeconds } from '../../src/cli/vault-retry.js';
import { parseTlsPin, pinnedFetch, spkiPin, TlsPinMismatch } from '../../src/cli/vault-tls.js';
import {
  checkChannel,
  isLoopback,
  knownServersPath,
  parseFingerprint,
  rememberedKey,
  rememberKey,
  vaultId,
} from '../../src/cli/vault-trust.js';
import { serverKeyFingerprint } from '../../src/vault/protocol.js';
import { tempDir } from './helpers.js';

let t: { dir: string }; // removed when this file ends (tempDir)
beforeAll(() => {
  t = tempDir();
});
const FP = 'aa'.repeat(32).match(/.{8}/g)!.join('-');

describe('the channel', () => {
  it('loopback is localhost, 127.0.0.0/8 and [::1] only', () => {
    for (const u of ['http://localhost:8787', 'http://127.0.0.1', 'http://127.1.2.3:1', 'http://[::1]:8787'])
      expect(isLoopback(new URL(u)), u).toBe(true);
    for (const u of [
      'http://0.0.0.0:1',
      'http://10.0.0.1',
      'http://vault.example',
      'http://127.0.0.1.example.com',
      'http://localhost.example.com',
      'http://[::ffff:7f00:1]',
    ])
      expect(isLoopback(new URL(u)), u).toBe(false);
  });

  const recover = { command: 'vault recover', sends: undefined } as const;
  const register = { command: 'vault register', sends: 'registration' } as const;
  const remove = { command: 'vault delete', sends: 'device credential' } as const;

  it('plain http only to loopback, unless --insecure-http (with a warning); https anywhere', () => {
    expect(checkChannel('https://vault.example', recover)).toBeUndefined();
    expect(checkChannel('http://127.0.0.1:8787', recover)).toBeUndefined();
    expect(() => checkChannel('http://vault.example', recover)).toThrow(
      /refusing plain http:\/\/ to vault\.example/,
    );
    expect(checkChannel('http://vault.example', { ...recover, insecureHttp: true })).toMatch(
      /--insecure-http.*without TLS/,
    );
  });

  it('a registration or a device credential never goes over plain http off loopback, --insecure-http or not', () => {
    for (const use of [register, remove]) {
      expect(checkChannel('https://vault.example', use)).toBeUndefined();
      expect(checkChannel('http://127.0.0.1:8787', use)).toBeUndefined();
      for (const insecureHttp of [false, true])
        expect(() => checkChannel('http://vault.example', { ...use, insecureHttp })).toThrow(
          new RegExp(`refusing ${use.command} over plain http://.*even with --insecure-http or --server-key`),
        );
    }
  });

  it('nor over https with certificate checks off, unless the TLS key is pinned', () => {
    const env = { NODE_TLS_REJECT_UNAUTHORIZED: '0' };
    expect(checkChannel('https://vault.example', { ...recover, env })).toBeUndefined();
    expect(() => checkChannel('https://vault.example', { ...register, env })).toThrow(
      /refusing vault register with NODE_TLS_REJECT_UNAUTHORIZED=0/,
    );
    expect(checkChannel('https://vault.example', { ...register, env, tlsPinned: true })).toBeUndefined();
    expect(() => checkChannel('http://127.0.0.1:1', { ...recover, tlsPinned: true })).toThrow(
      /--tls-pin pins a TLS key, and http:\/\/ has none/,
    );
  });
});

describe('a pinned TLS key', () => {
  // A self-signed P-256 certificate for 127.0.0.1 and localhost, valid for 100 years, made with
  // `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 36500
  // -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1,DNS:localhost`. Test only: its key is public.
  const fixtures = join(import.meta.dirname, 'fixtures');
  const cert = readFileSync(join(fixtures, 'loopback-tls.crt'));
  const key = readFileSync(join(fixtures, 'loopback-tls.key'));
  // openssl x509 -in loopback-tls.crt -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256
  const PIN = '6d311a758b15e121e3e1072d542e350048c689fb33ddce2568800c73ef9a411f';
  const pin = PIN.match(/.{8}/g)!.join('-');

  it('is SHA-256 of the certificate SPKI, as openssl computes it; any spelling parses', () => {
    expect(spkiPin(new X509Certificate(cert).raw)).toBe(pin);
    for (const spelling of [
      PIN,
      pin.toUpperCase(),
      `SHA2-256(stdin)= ${PIN}`,
      `sha256//${Buffer.from(PIN, 'hex').toString('base64')}`,
    ])
      expect(parseTlsPin(spelling, 'x')).toBe(pin);
    for (const bad of ['', PIN.slice(1), 'sha256//abc=', 'sha1//AAAA'])
      expect(() => parseTlsPin(bad, '--tls-pin')).toThrow(/--tls-pin is not a TLS key pin/);
  });

  it('talks to a self-signed server that holds the key, and sends nothing to one that does not', async () => {
    const requests: string[] = [];
    const server = createServer({ cert, key }, (req, res) => {
      let body = '';
      req.on('data', (d) => {
        body += d;
      });
      req.on('end', () => {
        requests.push(`${req.method} ${req.url} ${req.headers['x-extra']} ${body}`);
        res.writeHead(201, { 'content-type': 'application/json', 'retry-after': '3' });
        res.end('{"ok":true}');
      });
    });
    // Bytes of application data each connection received (after its handshake).
    const received: number[] = [];
    server.on('secureConnection', (socket) => {
      const i = received.push(0) - 1;
      socket.on('data', (d: Buffer) => {
        received[i]! += d.length;
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1/x?y=1`;
    try {
      const ok = await pinnedFetch(pin)(url, {
        method: 'POST',
        headers: { 'x-extra': 'h', 'content-type': 'application/json' },
        body: '{"a":1}',
      });
      expect(ok.status).toBe(201);
      expect(ok.headers.get('retry-after')).toBe('3');
      expect(await ok.json()).toEqual({ ok: true });
      expect(requests).toEqual(['POST /v1/x?y=1 h {"a":1}']);

      // Another key: refused once the handshake shows it, before a byte of the request is sent.
      const other = `${'0'.repeat(8)}${pin.slice(8)}`;
      await expect(pinnedFetch(other)(url, { method: 'POST', body: '{"secret":1}' })).rejects.toThrow(
        TlsPinMismatch,
      );
      // Without a pin, the self-signed certificate fails the certificate-authority check.
      await expect(fetch(url)).rejects.toThrow();
      expect(requests).toHaveLength(1);
      expect(received[0]).toBeGreaterThan(0);
      expect(received.slice(1)).toEqual(received.slice(1).map(() => 0));
      // A plain-http URL is not what a pin is for.
      await expect(pinnedFetch(pin)('http://127.0.0.1:1/')).rejects.toThrow(/needs an https:\/\/ URL/);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('fingerprints and remembered keys', () => {
  it('serverKeyFingerprint is SHA-256 of the key in 8 groups of 8; any spelling parses back', async () => {
    const { createHash } = await import('node:crypto');
    const key = crypto.getRandomValues(new Uint8Array(32));
    const fp = serverKeyFingerprint(key);
    expect(fp.replace(/-/g, '')).toBe(createHash('sha256').update(key).digest('hex'));
    expect(fp).toMatch(/^[0-9a-f]{8}(-[0-9a-f]{8}){7}$/);
    for (const spelling of [
      fp,
      fp.toUpperCase(),
      fp.replace(/-/g, ''),
      fp.replace(/-/g, ':'),
      fp.replace(/-/g, ' '),
    ])
      expect(parseFingerprint(spelling, 'x')).toBe(fp);
    for (const bad of ['', fp.slice(1), `${fp}0`, fp.replace(/^./, 'g'), '0123 4567'])
      expect(() => parseFingerprint(bad, '--server-key')).toThrow(
        /--server-key is not a vault key fingerprint/,
      );
  });

  it('vault ids: one per vault URL, whatever the spelling', () => {
    expect(vaultId('https://Vault.Example')).toBe('https://vault.example/');
    expect(vaultId('https://vault.example/?x#y')).toBe('https://vault.example/');
    expect(vaultId('https://vault.example/v')).toBe('https://vault.example/v/');
    expect(vaultId('http://127.0.0.1:8787')).not.toBe(vaultId('http://127.0.0.1:8788'));
  });

  it('remembers per vault, 0600 in a 0700 folder, atomically, and never over a non-file', async () => {
    const file = join(t.dir, 'config', 'e2ee-backup', 'vault-servers.json');
    expect(await rememberedKey('https://a.example', file)).toBeUndefined();
    await rememberKey('https://a.example', FP, file);
    await rememberKey('https://b.example/', FP.replace(/a/g, 'b'), file);
    expect(await rememberedKey('https://A.example/', file)).toBe(FP);
    expect(await rememberedKey('https://b.example', file)).toBe(FP.replace(/a/g, 'b'));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(t.dir, 'config', 'e2ee-backup')).mode & 0o777).toBe(0o700);
    expect(JSON.parse(readFileSync(file, 'utf8')).format).toBe('e2ee-backup known vault servers');

    const dirInstead = join(t.dir, 'dir', 'vault-servers.json');
    mkdirSync(dirInstead, { recursive: true });
    await expect(rememberKey('https://a.example', FP, dirInstead)).rejects.toThrow(/not a regular file/);
    const target = join(t.dir, 'elsewhere.json');
    writeFileSync(target, readFileSync(file));
    const link = join(t.dir, 'link', 'vault-servers.json');
    mkdirSync(join(t.dir, 'link'));
    symlinkSync(target, link);
    await expect(rememberKey('https://a.example', FP, link)).rejects.toThrow(/not a regular file/);

    const corrupt = join(t.dir, 'corrupt.json');
    writeFileSync(corrupt, '{"servers": 1}');
    await expect(rememberedKey('https://a.example', corrupt)).rejects.toThrow(
      /not a list of known vault servers/,
    );
    await expect(rememberKey('https://a.example', FP, corrupt)).rejects.toThrow(
      /not a list of known vault servers/,
    );
    expect(readFileSync(corrupt, 'utf8')).toBe('{"servers": 1}'); // left as it was
  });
});

describe('the config folder', () => {
  it('a relative XDG_CONFIG_HOME is ignored, by the vault servers file as by the state file', () => {
    const home = join(homedir(), '.config', 'e2ee-backup');
    for (const env of [{}, { XDG_CONFIG_HOME: '' }, { XDG_CONFIG_HOME: 'relative/conf' }]) {
      expect(knownServersPath(env)).toBe(join(home, 'vault-servers.json'));
      expect(defaultStatePath(env)).toBe(join(home, 'state.json'));
    }
    expect(knownServersPath({ XDG_CONFIG_HOME: '/etc/x' })).toBe('/etc/x/e2ee-backup/vault-servers.json');
    expect(defaultStatePath({ XDG_CONFIG_HOME: '/etc/x' })).toBe('/etc/x/e2ee-backup/state.json');
  });
});

describe('Retry-After', () => {
  it('delta-seconds or an HTTP date; anything else is not a wait', () => {
    const now = Date.parse('Thu, 03 Dec 2026 10:00:00 GMT');
    expect(retryAfterSeconds('0', now)).toBe(0);
    expect(retryAfterSeconds(' 12 ', now)).toBe(12);
    expect(retryAfterSeconds('Thu, 03 Dec 2026 10:00:30 GMT', now)).toBe(30);
    expect(retryAfterSeconds('Thu, 03 Dec 2026 09:00:00 GMT', now)).toBe(0);
    for (const bad of [null, '', '-1', '1.5', 'soon']) expect(retryAfterSeconds(bad, now)).toBeUndefined();
  });
});
