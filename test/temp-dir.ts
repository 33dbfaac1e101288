/**
 * Temporary folders for tests, removed when their test file ends at the latest. A Vitest worker
 * never runs `process.on('exit')` handlers, so a hook does it: called at the top level of this
 * module, `afterAll` is a hook of the importing test file (each file loads its own copy of this
 * module) and, registered before the file's own hooks, runs after them, once they have stopped
 * the servers working in these folders. A file's hooks run only if one of its tests does (a `-t`
 * filter or a skip can leave none): make folders in a test or a hook, never while collecting.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const made = new Set<string>();
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
  made.clear();
});

/** A fresh folder named `prefix…`, removed by the returned function, or else when the file ends. */
export function tempDirNamed(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.add(dir);
  return {
    dir,
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
      made.delete(dir);
    },
  };
}
