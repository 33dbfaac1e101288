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
  'wa-crypt-tools/msgstore.db.crypt15': 'af383a886da97080d0545dfa992f5064b69b80a31a6034a5accd5437a62ac155',
  'wa-crypt-tools/encrypted_backup.key': 'fe73dc805204eb74537597b24643f43c602bf3d5c8d86300288530ecc2a4219d',
  'wa-crypt-tools/msgstore.db': '1425b944a2e3885fc936a7bb82f6548c5cc09523a2f61f02aa836c4ed8bbd16e',
  'wa-crypt-tools/msgstore.db.crypt14': 'cfff40d9154c8eaf214ae4da00c426582f1d294d239877da7700ac8ff86b7628',
  'wa-crypt-tools/msgstore-noexpiry.db.crypt14':
    '9cea5af5a50ea6ca52cfef3386a8d0801c799e3f51e785769791309d92b72652',
  'wa-crypt-tools/msgstore.db.crypt12': '20dfd9c0f5893455566d74bdbec7c6900aebec2320c98e980744b2d794c933ce',
  'wa-crypt-tools/key': '08c0516c5e1b4940bfa418c317dcc6f8d44706df20b65578792c2f561efcf629',
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
