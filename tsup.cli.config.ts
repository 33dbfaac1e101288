import { resolve } from 'node:path';
import { defineConfig } from 'tsup';

const HASHES = resolve('src/internal/hashes.ts');

// The command-line tool, published as the second package, e2ee-backup-cli (packages/cli/). It is an
// application bundle: src/cli/ and the library source it imports are inlined, so it embeds the
// library at the same version instead of depending on the e2ee-backup package; every npm package
// stays an import, declared in packages/cli/package.json (scripts/check-cli-package.mjs checks that).
export default defineConfig({
  entry: { cli: 'src/cli/main.ts' },
  outDir: 'packages/cli/dist',
  clean: true,
  format: ['esm'],
  sourcemap: false,
  target: 'node20',
  platform: 'node',
  // Every bare import (npm packages, Node's modules) stays external; relative imports are bundled.
  skipNodeModulesBundle: true,
  // Each command is a lazy import(): a chunk of its own, loaded only when that command runs.
  splitting: true,
  esbuildPlugins: [
    {
      // SHA-256 and HKDF on node:crypto, which the CLI loads anyway, in place of @noble/hashes:
      // that saves `encrypt` and `decrypt` loading and warming it up (src/internal/hashes.ts).
      name: 'hashes-on-node-crypto',
      setup(build) {
        let swapped = 0;
        build.onResolve({ filter: /\/hashes(\.js)?$/ }, (args) => {
          if (resolve(args.resolveDir, args.path.replace(/(\.js)?$/, '.ts')) !== HASHES) return undefined;
          swapped++;
          return { path: resolve('src/internal/hashes-node.ts') };
        });
        // An import spelled another way would leave the CLI on noble without a word: fail instead.
        build.onEnd(() => {
          if (swapped === 0)
            throw new Error('tsup.cli.config.ts: no import of src/internal/hashes.ts was swapped');
        });
      },
    },
  ],
});
