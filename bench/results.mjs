// bench/results.json holds one key per benchmark; each run replaces its own key and keeps the rest.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const file = new URL('./results.json', import.meta.url);

/** Stores `value` under `key` in bench/results.json, beside the other benchmarks' keys. */
export function saveResults(key, value) {
  const previous = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  writeFileSync(file, `${JSON.stringify({ ...previous, [key]: value }, null, 2)}\n`);
}
