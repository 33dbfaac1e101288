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
  const marker = join(root, 'dist', 'index.js');
  if (existsSync(marker) && statSync(marker).mtimeMs >= newest(join(root, 'src'))) return;
  process.stderr.write('building dist/ …\n');
  execSync('npx tsup --silent', { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
}

if (import.meta.url === `file://${process.argv[1]}`) ensureBuilt();
