// Builds dist/ when it is missing or older than any file in src/, so that `npm run demo` and the
// benchmarks work on a fresh clone with one command.
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

export function ensureBuilt() {
  const src = newest(join(root, 'src'));
  const fresh = ['index.js', 'index.cjs', 'cli.js'].every((f) => {
    const p = join(root, 'dist', f);
    return existsSync(p) && statSync(p).mtimeMs >= src;
  });
  if (fresh) return;
  process.stderr.write('building dist/ …\n');
  execSync('npx tsup --silent', { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
}

if (import.meta.url === `file://${process.argv[1]}`) ensureBuilt();
