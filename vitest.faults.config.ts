import { defineConfig } from 'vitest/config';

// `npm run test:vault-faults`: the vault's load and fault runs (kill -9, PostgreSQL stopped and
// crashed, connections terminated, a full disk). Minutes long and heavy, so not part of `npm test`;
// one file at a time, since each loads the machine.
export default defineConfig({
  test: {
    include: ['test/vault-faults/**/*.faults.ts'],
    testTimeout: 900_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
