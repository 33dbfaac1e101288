import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Finds a file of the read-only shared material (../shared beside the repo, or a folder named by
 * an environment variable). Absent: `undefined`, which a test turns into a skip with the reason —
 * except under CI=true, where missing conformance data must fail the run rather than pass it.
 */
export function sharedFile(envVar: string, defaultDir: string, name: string): string | undefined {
  const dir = process.env[envVar] ?? resolve(root, '..', 'shared', defaultDir);
  const path = join(dir, name);
  if (existsSync(path)) return path;
  if (process.env.CI === 'true') throw new Error(`${path} is missing (set ${envVar}); CI needs it`);
  console.warn(`skipping: ${path} is absent; set ${envVar} to the folder that holds ${name}`);
  return undefined;
}
