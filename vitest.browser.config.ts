// `npm run test:browser`: the conformance and round-trip suites of test/browser/ in headless
// Chromium (Debian's /usr/bin/chromium; scripts/install-chromium.sh installs it), in the page and
// in a Web Worker, plus the Node-side checks that drive a browser or hide the native backends.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { playwright } from '@vitest/browser-playwright';
import { defineConfig } from 'vitest/config';
import type { SharedData } from './test/browser/harness.js';
import { thirdPartyFile } from './test/shared-data.js';
import './test/browser/provided.js';
import { CHROMIUM, CHROMIUM_ARGS } from './scripts/chromium.mjs';

export { CHROMIUM_ARGS };

// Read on the Node side and passed in (vendored in vectors/third-party; a missing file throws here).
const wycheproofPath = thirdPartyFile(
  'WYCHEPROOF_DIR',
  'wycheproof',
  'c2sp_chunked_encryption_aes_256_gcm_test.json',
);
const shared: SharedData = { wycheproof: JSON.parse(readFileSync(wycheproofPath, 'utf8')) };
// The project's own vectors (every .json under vectors/ but third-party/), by path relative to vectors/.
const vectorsDir = resolve(import.meta.dirname, 'vectors');
const projectVectors: Record<string, unknown> = Object.fromEntries(
  (existsSync(vectorsDir) ? readdirSync(vectorsDir, { recursive: true, encoding: 'utf8' }) : [])
    .filter((f) => f.endsWith('.json') && !f.startsWith('third-party'))
    .sort()
    .map((f) => [f, JSON.parse(readFileSync(join(vectorsDir, f), 'utf8'))]),
);
const provide = { shared, projectVectors };

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'chromium',
          include: ['test/browser/**/*.browser.test.ts'],
          provide,
          browser: {
            enabled: true,
            headless: true,
            provider: playwright({ launchOptions: { executablePath: CHROMIUM, args: CHROMIUM_ARGS } }),
            instances: [{ browser: 'chromium' }],
            screenshotFailures: false,
          },
        },
      },
      {
        // Node side: the no-native-AES fallback, and Playwright driving the example page.
        extends: true,
        test: {
          name: 'node',
          environment: 'node',
          include: ['test/browser/**/*.node.test.ts'],
          provide,
        },
      },
    ],
  },
});
