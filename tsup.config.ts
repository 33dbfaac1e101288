import { defineConfig } from 'tsup';

// One entry per layer so that `e2ee-backup/chunked` and friends load only what they need.
export const entry = {
  index: 'src/index.ts',
  errors: 'src/errors.ts',
  key: 'src/key/backup-key.ts',
  kdf: 'src/primitives/kdf.ts',
  chunked: 'src/cobblestone/chunked.ts',
  node: 'src/node/files.ts',
  lifecycle: 'src/lifecycle/lifecycle.ts',
  vault: 'src/vault/index.ts',
  'vault/server': 'src/vault/server/index.ts',
  whatsapp: 'src/whatsapp/index.ts',
  s3: 'src/s3/index.ts',
  // Test hooks (a chosen salt, backend, OPAQUE randomness): not for production.
  testing: 'src/testing.ts',
};

// Optional peers, loaded only by the entries that need them (the vault server and its stores, the
// default password-strength check, the S3 entry); never bundled. The command-line tool is built
// by tsup.cli.config.ts into packages/cli/.
const external = ['better-sqlite3', 'pg', 'hono', '@hono/node-server', /^@zxcvbn-ts\//, /^@aws-sdk\//];

export default defineConfig([
  {
    entry,
    format: ['esm'],
    // @internal declarations stay out of the published types (see etc/api/).
    dts: { compilerOptions: { stripInternal: true } },
    sourcemap: false,
    target: 'es2022',
    platform: 'neutral',
    splitting: true,
    treeshake: true,
    external,
  },
  {
    // noble is ESM-only: bundle it into the CJS build so `require()` works even where
    // require(esm) is unavailable (see ../shared/notes/toolchain.md).
    entry,
    format: ['cjs'],
    dts: { compilerOptions: { stripInternal: true } },
    sourcemap: false,
    target: 'es2022',
    platform: 'neutral',
    noExternal: [/^@noble\//],
    external,
    splitting: true,
    treeshake: true,
  },
  {
    // React Native (package.json's `react-native` condition): the same API in one file per entry,
    // with @noble/hashes' Argon2id in place of hash-wasm's WebAssembly, which Hermes lacks, so
    // that an app's bundle holds no WebAssembly (types: the ESM build's). See docs/react-native.md.
    entry: { 'react-native/index': 'src/index.ts', 'react-native/kdf': 'src/primitives/kdf.ts' },
    format: ['esm'],
    sourcemap: false,
    target: 'es2022',
    platform: 'neutral',
    splitting: false,
    treeshake: true,
    external,
    esbuildPlugins: [
      {
        name: 'argon2-without-webassembly',
        setup(build) {
          build.onResolve({ filter: /^\.\/argon2id\.js$/ }, (args) => ({
            path: `${args.resolveDir}/argon2id-noble.ts`,
          }));
        },
      },
    ],
  },
]);
