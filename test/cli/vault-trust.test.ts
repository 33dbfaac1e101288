// The CLI's rules for which vault it talks to, and how long it waits for one, without a server.
import { mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { retryAfterSeconds } from '../../src/cli/vault-retry.js';
import {
  checkChannel,
  isLoopback,
  parseFingerprint,
  rememberedKey,
  rememberKey,
  vaultId,
} from '../../src/cli/vault-trust.js';
import { serverKeyFingerprint } from '../../src/vault/protocol.js';
import { tempDir } from './helpers.js';

const t = tempDir();
afterAll(() => t.cleanup());
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

  it('plain http only to loopback, unless --insecure-http (with a warning); https anywhere', () => {
    expect(checkChannel('https://vault.example', false)).toBeUndefined();
    expect(checkChannel('http://127.0.0.1:8787', false)).toBeUndefined();
    expect(() => checkChannel('http://vault.example', false)).toThrow(
      /refusing plain http:\/\/ to vault\.example/,
    );
    expect(checkChannel('http://vault.example', true)).toMatch(/--insecure-http.*without TLS/);
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
