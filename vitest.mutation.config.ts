import { defineConfig } from 'vitest/config';

// The test files that exercise the cryptographic core in-process, fast: what Stryker runs for each
// mutant (npm run test:mutation, stryker.config.json). No PostgreSQL, S3, CLI or browser suites:
// they reach the same code through slower layers and would multiply a run's time, not its kills.
// E2EE_MUTATION_TESTS (comma-separated files) narrows a run to one module's own suites, e.g. the
// engine's: a mutant is run against every test that covers it, and a backup-level property test
// covers every line of the engine (docs/mutation-testing.md).
const only = process.env.E2EE_MUTATION_TESTS?.split(',').filter(Boolean);

export default defineConfig({
  test: {
    include: only ?? [
      'test/chunked.test.ts',
      'test/chunked-wipes.test.ts',
      'test/message.test.ts',
      'test/webcrypto-streams.test.ts',
      'test/wycheproof.test.ts',
      'test/third-party.test.ts',
      'test/backup.test.ts',
      'test/backup-streams.test.ts',
      'test/metadata.test.ts',
      'test/header.test.ts',
      'test/hashes.test.ts',
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
      // The CLI's command-line parser, in-process: it decides which file a command writes.
      'test/cli/command-line.test.ts',
    ],
    // The vector generator's check runs dist/ in a child process: it never sees a mutant.
    env: { E2EE_MUTATION: '1' },
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
