// Builds dist/ (the library) and packages/cli/dist/ (the command line) when missing or older than
// any file in src/, so that `npm run demo` and the benchmarks work on a fresh clone with one command.
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
/** The command-line tool's entry, as built from a clone (package e2ee-backup-cli). */
export const CLI = join(root, 'packages', 'cli', 'dist', 'cli.js');

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

const fresh = (files, src) => files.every((p) => existsSync(p) && statSync(p).mtimeMs >= src);

export function ensureBuilt() {
  const src = newest(join(root, 'src'));
  if (
    !fresh(
      ['index.js', 'index.cjs'].map((f) => join(root, 'dist', f)),
      src,
    )
  ) {
    process.stderr.write('building dist/ …\n');
    execSync('npx tsup --silent', { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  // The command line, packages/cli/dist/ (tsup.cli.config.ts): a bundle of src/, built on its own.
  if (!fresh([CLI], Math.max(src, statSync(join(root, 'tsup.cli.config.ts')).mtimeMs))) {
    process.stderr.write('building packages/cli/dist/ …\n');
    execSync('npm run --silent build:cli', { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) ensureBuilt();
