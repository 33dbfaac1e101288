import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');

/**
 * A third-party vector file vendored under vectors/third-party/ (see its README for source, commit,
 * licence and sha256), or the same file from a folder named by an environment variable, to try
 * another copy. The vendored copy is always there, so a fresh clone runs every vector test; a
 * missing file is an error, never a skip.
 */
export function thirdPartyFile(envVar: string, folder: 'wycheproof' | 'opaque', name: string): string {
  const dir = process.env[envVar] ?? join(root, 'vectors', 'third-party', folder);
  const path = join(dir, name);
  if (!existsSync(path))
    throw new Error(`${path} is missing (vendored under vectors/third-party/; ${envVar} overrides)`);
  return path;
}
