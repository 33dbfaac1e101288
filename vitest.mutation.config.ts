import { defineConfig } from 'vitest/config';

// The test files that exercise the cryptographic core in-process, fast: what Stryker runs for each
// mutant (npm run test:mutation, stryker.config.json). No PostgreSQL, S3, CLI or browser suites:
// they reach the same code through slower layers and would multiply a run's time, not its kills.
export default defineConfig({
  test: {
    include: [
      'test/chunked.test.ts',
      'test/webcrypto-streams.test.ts',
      'test/wycheproof.test.ts',
      'test/third-party.test.ts',
      'test/backup.test.ts',
      'test/backup-streams.test.ts',
      'test/metadata.test.ts',
      'test/vectors.test.ts',
      'test/key.test.ts',
      'test/kdf.test.ts',
      'test/password.test.ts',
      'test/lifecycle.test.ts',
      'test/lifecycle-model.test.ts',
      'test/vault/opaque.test.ts',
      'test/vault/protocol.test.ts',
      'test/vault/server.test.ts',
      'test/vault/hardening.test.ts',
      'test/mutation/**/*.test.ts',
    ],
    // The vector generator's check runs dist/ in a child process: it never sees a mutant.
    env: { E2EE_MUTATION: '1' },
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
