// The vendored third-party vectors are the upstream files, unchanged: their sha256 is the one
// recorded in vectors/third-party/README.md (and here, so that a change to either shows).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const dir = resolve(import.meta.dirname, '..', 'vectors', 'third-party');
const PINNED: Record<string, string> = {
  'wycheproof/c2sp_chunked_encryption_aes_256_gcm_test.json':
    '0f8e35568d59649fb55fb0e5602dc678dc8910d6822beef4945aee0b5994ef05',
  'wycheproof/c2sp_chunked_encryption_schema.json':
    'c88fe1bc6ebfc43c5dd0a1b778689375a50a35f5e3c29050c3e39f89e077aea8',
  'opaque/opaque-3dh-test-vectors.txt': '96122c10fb20fca45fc490ebd4647fe9bc1d5c484923f89fe627f0f3991224e0',
};

describe('vendored third-party vectors', () => {
  const readme = readFileSync(join(dir, 'README.md'), 'utf8');
  for (const [file, sha256] of Object.entries(PINNED)) {
    it(`${file} is the upstream file (sha256 ${sha256.slice(0, 12)}…)`, () => {
      expect(
        createHash('sha256')
          .update(readFileSync(join(dir, file)))
          .digest('hex'),
      ).toBe(sha256);
      expect(readme).toContain(`\`${file}\``);
      expect(readme).toContain(`\`${sha256}\``);
    });
  }
});
