/** openapi/vault.yaml stays in step with the server: same routes, same codes, same sizes. */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';
import { OPAQUE_MESSAGE_LENGTHS } from '../../src/vault/opaque/opaque.js';
import { VAULT_HTTP_STATUS } from '../../src/vault/server/service.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
// biome-ignore lint/suspicious/noExplicitAny: walking a parsed YAML document
type Doc = any;

describe('openapi/vault.yaml', async () => {
  // `yaml` comes with the dev toolchain (vite); parsed here only.
  const { parse } = await import('yaml');
  const doc: Doc = parse(readFileSync(resolve(root, 'openapi/vault.yaml'), 'utf8'));

  it('is OpenAPI 3.1 with exactly the server routes', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/v1/delete',
        '/v1/device-salt',
        '/v1/health',
        '/v1/info',
        '/v1/login/abort',
        '/v1/login/finish',
        '/v1/login/start',
        '/v1/register/finish',
        '/v1/register/start',
      ].sort(),
    );
    const gets = ['/v1/info', '/v1/health'];
    for (const [path, item] of Object.entries<Doc>(doc.paths)) {
      expect(Object.keys(item), path).toEqual([gets.includes(path) ? 'get' : 'post']);
    }
  });

  it('lists every error code the server answers with, and only real codes', () => {
    const listed: string[] = doc.components.schemas.Error.properties.error.properties.code.enum;
    expect([...listed].sort()).toEqual(Object.keys(VAULT_HTTP_STATUS).sort());
    for (const code of listed) expect(Object.hasOwn(ERROR_CODES, code), code).toBe(true);
  });

  it('binary field patterns match the message sizes', () => {
    const s = doc.components.schemas;
    const chars = (bytes: number) => Math.ceil((bytes * 4) / 3);
    const len = (name: string) => Number(/\{(\d+)\}/.exec(s[name].pattern)![1]);
    expect(len('B96')).toBe(chars(OPAQUE_MESSAGE_LENGTHS.ke1));
    expect(len('B320')).toBe(chars(OPAQUE_MESSAGE_LENGTHS.ke2));
    expect(len('B64')).toBe(chars(OPAQUE_MESSAGE_LENGTHS.ke3));
    expect(len('B192')).toBe(chars(OPAQUE_MESSAGE_LENGTHS.registrationRecord));
    expect(len('B32')).toBe(chars(OPAQUE_MESSAGE_LENGTHS.registrationRequest));
    expect(len('B60')).toBe(chars(60));
    expect(len('SessionId')).toBe(chars(16));
  });
});
