import { chmodSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { type GetModuleInfo, rollup } from 'rollup';
import { defineConfig } from 'tsup';

const HASHES = resolve('src/internal/hashes.ts');
const OUT = 'packages/cli/dist';

// esbuild splits code into one chunk per set of commands that import it, and knows nothing of what
// is already loaded when a command's import() runs: `encrypt -k` loaded 18 of the CLI's files, and
// Node 20's loader reads each through the thread pool, about 0.6 ms of CPU per file (0.25 on Node
// 22 and 24). So rollup re-chunks esbuild's output (rewriting the imports and exports between
// chunks and renaming clashing names; the code is otherwise esbuild's): main.ts's imports go into
// one chunk, and what encrypt or decrypt imports into a chunk for each, or one they share, so each
// of them loads four files.
// A module that another command shares with them goes into those chunks too: that command then
// loads and runs the whole chunk (keygen: 4 files instead of 14, with 54 % more code). Figures:
// docs/performance.md, "Fewer files at start-up".
const GROUPED = ['encrypt', 'decrypt'];
const TEMP = '.tmp/cli-dist-grouped';

// esbuild heads each bundled source file with this comment, in one of its files (sometimes twice
// there: above the file's imports, which it writes apart from its code, and above its code).
// test/cli/loaded-modules.test.ts reads the comments to know which source files a command loaded.
const SOURCE_MARK = /^\/\/ src\/\S+\.ts$/gm;
const marks = (dir: string) =>
  new Set(readdirSync(dir).flatMap((f) => readFileSync(join(dir, f), 'utf8').match(SOURCE_MARK) ?? []));

async function groupChunks(): Promise<void> {
  try {
    await regroup();
  } catch (error) {
    // Without this, a build that failed here would leave esbuild's chunks and a new cli.js, which
    // scripts/ensure-built.mjs would take as up to date.
    rmSync(OUT, { recursive: true, force: true });
    throw error;
  }
}

async function regroup(): Promise<void> {
  const files = readdirSync(OUT);
  const commandFile = (name: string) => {
    const mark = new RegExp(`^// src/cli/commands/${name}\\.ts$`, 'm');
    const file = files.find((f) => mark.test(readFileSync(join(OUT, f), 'utf8')));
    if (!file) throw new Error(`tsup.cli.config.ts: no chunk holds src/cli/commands/${name}.ts`);
    return resolve(OUT, file);
  };
  const entry = resolve(OUT, 'cli.js');
  const commands = GROUPED.map(commandFile);
  const before = marks(OUT);
  const codeless = new Set<string>();
  const bundle = await rollup({
    input: entry,
    // Node's modules and npm packages stay imports, as tsup left them.
    external: (id) => !id.startsWith('.') && !isAbsolute(id),
    // esbuild has already dropped dead code; rollup's own tree shaking would also drop reads it
    // deems pure, such as the globals src/cli/memory.ts touches to load their modules early.
    treeshake: false,
    plugins: [
      {
        // esbuild puts a file's imports of Node's modules and packages just under its mark, and
        // rollup drops a comment with the import it precedes: move the mark below them. A first
        // copy above imports alone lands above the next file's imports and is still dropped, so
        // the check below asks only that each file keep one.
        name: 'keep-source-marks',
        transform: (code) => code.replace(/^(\/\/ src\/\S+\.ts)\n((?:import\b[^;]*;\n)+)/gm, '$2$1\n'),
        // A file of imports and re-exports only (src/primitives/argon2id.ts) leaves no code for its
        // mark to head, and loses it.
        moduleParsed: (info) => {
          const reexports = info.ast?.body.every(
            (node) =>
              ['ImportDeclaration', 'ExportAllDeclaration'].includes(node.type) ||
              (node.type === 'ExportNamedDeclaration' && !node.declaration),
          );
          for (const mark of reexports ? (info.code?.match(SOURCE_MARK) ?? []) : []) codeless.add(mark);
        },
      },
    ],
    onwarn: (warning) => {
      throw new Error(
        `tsup.cli.config.ts: rollup ${warning.code} in ${warning.id ?? '?'}: ${warning.message}`,
      );
    },
  });
  try {
    const closures = new Map<string, Set<string>>();
    const closure = (root: string, info: GetModuleInfo) => {
      let set = closures.get(root);
      if (set) return set;
      set = new Set();
      const todo = [root];
      for (let id = todo.pop(); id !== undefined; id = todo.pop())
        if (!set.has(id)) {
          set.add(id);
          todo.push(...(info(id)?.importedIds ?? []).filter((d) => !info(d)?.isExternal));
        }
      closures.set(root, set);
      return set;
    };
    rmSync(TEMP, { recursive: true, force: true });
    await bundle.write({
      dir: TEMP,
      format: 'es',
      // esbuild's names already end in a hash (of esbuild's output): unique, which is all a
      // CLI's chunk names need.
      chunkFileNames: (chunk) => (/-[0-9A-Z]{8}$/.test(chunk.name) ? '[name].js' : '[name]-[hash].js'),
      manualChunks: (id, { getModuleInfo }) => {
        // main.ts (cli.js) stays on its own: its top-level await waits for the command's import(),
        // which would wait for main.ts's chunk to finish evaluating if main.ts were in it.
        if (id === entry) return undefined;
        if (closure(entry, getModuleInfo).has(id)) return 'main';
        const users = GROUPED.filter((_, i) => closure(commands[i]!, getModuleInfo).has(id));
        return users.length === 0 ? undefined : users.length === 1 ? users[0] : GROUPED.join('-');
      },
    });
  } finally {
    await bundle.close();
  }
  const after = marks(TEMP);
  const lost = [...before].filter((m) => !after.has(m) && !codeless.has(m));
  if (lost.length > 0) throw new Error(`tsup.cli.config.ts: re-chunking lost ${lost.join(', ')}`);
  rmSync(OUT, { recursive: true });
  renameSync(TEMP, OUT);
  chmodSync(join(OUT, 'cli.js'), 0o755);
}

// The command-line tool, published as the second package, e2ee-backup-cli (packages/cli/). It is an
// application bundle: src/cli/ and the library source it imports are inlined, so it embeds the
// library at the same version instead of depending on the e2ee-backup package; every npm package
// stays an import, declared in packages/cli/package.json (scripts/check-cli-package.mjs checks that).
export default defineConfig({
  entry: { cli: 'src/cli/main.ts' },
  outDir: OUT,
  clean: true,
  format: ['esm'],
  sourcemap: false,
  target: 'node20',
  platform: 'node',
  // Every bare import (npm packages, Node's modules) stays external; relative imports are bundled.
  skipNodeModulesBundle: true,
  // Each command is a lazy import(): a chunk of its own, loaded only when that command runs.
  splitting: true,
  onSuccess: groupChunks,
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
