// What the built CLI loads before it does its work: each command's code is imported when that
// command runs (docs/performance.md, "CLI start-up"). A static import that pulls the vault, S3 or
// the password checker into `encrypt -k`, or the key and crypto code into `--version`, costs
// every run its start-up time; this catches it from the modules the CLI actually loads, recorded
// by an ES module loader hook (fixtures/record-modules.mjs), never from a timing.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, CLI, cleanEnv, run, tempDir } from './helpers.js';

const RECORDER = join(import.meta.dirname, 'fixtures', 'record-modules.mjs');

let dir: string;
let cleanup: () => void;
let keyFile: string;

beforeAll(async () => {
  await buildCli();
  ({ dir, cleanup } = tempDir());
  keyFile = join(dir, 'backup.key');
  expect(run(['keygen', '--out', keyFile, '-q']).status).toBe(0);
  writeFileSync(join(dir, 'in.bin'), Buffer.alloc(1024, 7));
}, 180_000);
afterAll(() => cleanup?.());

interface Loaded {
  /** npm packages, by name. */
  packages: Set<string>;
  /** Their files, as `package/path`. */
  packageFiles: Set<string>;
  /** The source files bundled into the chunks loaded, as tsup names them (`src/cli/main.ts`). */
  sources: Set<string>;
  /** The CLI's own files loaded (in packages/cli/dist/), by name. */
  files: string[];
}

/** Runs the built CLI with ARGS and answers what it loaded. */
function loadedBy(args: string[], log: string): Loaded {
  const r = spawnSync(process.execPath, ['--import', RECORDER, CLI, ...args], {
    env: cleanEnv({ E2EE_TEST_MODULE_LOG: log }),
    cwd: dir,
    timeout: 60_000,
  });
  expect(r.status, r.stderr.toString()).toBe(0);
  const packages = new Set<string>();
  const packageFiles = new Set<string>();
  const sources = new Set<string>();
  const files: string[] = [];
  for (const url of readFileSync(log, 'utf8').split('\n')) {
    if (!url.startsWith('file:')) continue; // node: built-ins
    const path = fileURLToPath(url);
    const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(path);
    if (pkg) {
      packages.add(pkg[1]!);
      packageFiles.add(`${pkg[1]}/${pkg[2]}`);
    }
    // tsup (esbuild) heads each bundled source file with a `// src/…` comment.
    else {
      if (dirname(path) === dirname(CLI)) files.push(basename(path));
      for (const [, src] of readFileSync(path, 'utf8').matchAll(/^\/\/ (src\/\S+\.ts)$/gm)) sources.add(src!);
    }
  }
  // The recording itself works: the entry point and its bundled main.ts were seen.
  expect(sources).toContain('src/cli/main.ts');
  return { packages, packageFiles, sources, files };
}

// Nothing `encrypt -k` or `decrypt -k` needs: the vault (OPAQUE, Hono, its stores), S3, backup
// folders and their state, setup's password checker, the other commands, Argon2id.
const NOT_FOR_A_KEY_FILE = [
  /^src\/vault\//,
  /^src\/s3\//,
  /^src\/lifecycle\//,
  /^src\/whatsapp\/(?!key\.ts$)/,
  // argon2id.ts only re-exports hash-wasm and has no mark left after the build's re-chunking
  // (tsup.cli.config.ts): `packages` being empty is what catches it.
  /^src\/primitives\/argon2id/,
  /^src\/cli\/(setup|state|store|store-key|store-url|remove-copies|config-dir|vault-\w+)\.ts$/,
];

describe('what the CLI loads', () => {
  // SHA-256 and HKDF come from node:crypto in the CLI's build (src/internal/hashes-node.ts), and
  // key codes' hex from src/internal/bytes.ts: encrypt and decrypt load no npm package.
  it('encrypt with a key file: no package, only its own code path', () => {
    const loaded = loadedBy(
      ['encrypt', 'in.bin', '-o', 'out.e2ee', '-k', keyFile, '--compression', 'none', '-q'],
      join(dir, 'encrypt.log'),
    );
    expect([...loaded.packages]).toEqual([]);
    expect(loaded.sources).toContain('src/cli/commands/encrypt.ts');
    const commands = [...loaded.sources].filter((s) => s.startsWith('src/cli/commands/'));
    expect(commands).toEqual(['src/cli/commands/encrypt.ts']);
    expect([...loaded.sources].filter((s) => NOT_FOR_A_KEY_FILE.some((re) => re.test(s)))).toEqual([]);
    // A file that begins with imports of Node's modules: its mark survived the re-chunking.
    expect(loaded.sources).toContain('src/node/file-output.ts');
    // cli.js (main.ts), the chunk of main.ts's imports, encrypt's and the one it shares with
    // decrypt (tsup.cli.config.ts).
    expect(loaded.files).toHaveLength(4);
  });

  it('decrypt with a key file: likewise', () => {
    expect(run(['encrypt', 'in.bin', '-o', 'dec.e2ee', '-k', keyFile, '-q'], { cwd: dir }).status).toBe(0);
    const loaded = loadedBy(
      ['decrypt', 'dec.e2ee', '-o', 'dec.out', '-k', keyFile, '-q'],
      join(dir, 'decrypt.log'),
    );
    expect([...loaded.packages]).toEqual([]);
    const commands = [...loaded.sources].filter((s) => s.startsWith('src/cli/commands/'));
    expect(commands).toEqual(['src/cli/commands/decrypt.ts']);
    expect([...loaded.sources].filter((s) => NOT_FOR_A_KEY_FILE.some((re) => re.test(s)))).toEqual([]);
    expect(loaded.files).toHaveLength(4);
  });

  it('--version: the command table, no package, no key, crypto or file-writing code', () => {
    const loaded = loadedBy(['--version'], join(dir, 'version.log'));
    expect([...loaded.packages]).toEqual([]);
    const heavy = [...loaded.sources].filter((s) =>
      /^src\/(key|primitives|cobblestone|whatsapp|node|vault|s3|lifecycle)\/|^src\/cli\/(commands\/|credentials|io|vault-)/.test(
        s,
      ),
    );
    expect(heavy).toEqual([]);
    expect(loaded.files).toHaveLength(2); // cli.js and the chunk of main.ts's imports
  });
});
