// bench/results.json holds one key per benchmark; each run replaces its own key and keeps the rest.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const file = new URL('./results.json', import.meta.url);
const biome = fileURLToPath(new URL('../node_modules/@biomejs/biome/bin/biome', import.meta.url));

/** Stores `value` under `key` in bench/results.json, beside the other benchmarks' keys. */
export function saveResults(key, value) {
  const previous = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  writeFileSync(file, `${JSON.stringify({ ...previous, [key]: value }, null, 2)}\n`);
  // Laid out as biome formats it (short arrays on one line), so that a commit of it passes lint.
  const r = spawnSync(process.execPath, [biome, 'format', '--write', fileURLToPath(file)], {
    encoding: 'utf8',
  });
  if (r.status !== 0) console.warn(`bench/results.json written, but not formatted: ${r.stderr || r.error}`);
}
