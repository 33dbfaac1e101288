// `e2ee-backup keygen`, non-interactive (the type-back check on a terminal is in pty.test.ts).
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBackupKey } from '../../src/key/backup-key.js';
import { buildCli, run, tempDir, tempLeftovers } from './helpers.js';

const CODE = /^[0-9a-f]{4}( [0-9a-f]{4}){15}$/;
let dir: string;
let cleanup: () => void;

beforeAll(async () => {
  await buildCli();
  ({ dir, cleanup } = tempDir());
}, 180_000);
afterAll(() => cleanup?.());

describe('keygen', () => {
  it('prints a code in 16 groups of 4 on stdout and the warning on stderr', () => {
    const r = run(['keygen']);
    expect(r.status).toBe(0);
    const code = r.stdout.toString().trim();
    expect(code).toMatch(CODE);
    expect(parseBackupKey(code)).toHaveLength(32);
    expect(r.stderr).toMatch(/lost for good/);
    expect(r.stderr).not.toMatch(/type the code back/i); // not a terminal: no type-back
  });

  it('prints a different code every time', () => {
    expect(run(['keygen', '-q']).stdout.toString()).not.toBe(run(['keygen', '-q']).stdout.toString());
  });

  it('--quiet drops the warning, not the code', () => {
    const r = run(['keygen', '--quiet']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.toString().trim()).toMatch(CODE);
  });

  it('--out writes the code with mode 0600', () => {
    const out = join(dir, 'k1.key');
    const r = run(['keygen', '--out', out]);
    expect(r.status).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const saved = readFileSync(out, 'utf8');
    expect(saved).toBe(r.stdout.toString());
    expect(saved.trim()).toMatch(CODE);
    expect(tempLeftovers(dir)).toEqual([]);
  });

  it('--out refuses to overwrite an existing file (exit 1) and leaves it alone', () => {
    const out = join(dir, 'k2.key');
    writeFileSync(out, 'precious');
    const r = run(['keygen', '--out', out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^e2ee-backup: .*k2\.key already exists.*--force/);
    expect(r.stdout.toString()).toBe(''); // no code is shown that would not be saved
    expect(readFileSync(out, 'utf8')).toBe('precious');
  });

  it('--force replaces it, still mode 0600', () => {
    const out = join(dir, 'k3.key');
    writeFileSync(out, 'old', { mode: 0o644 });
    const r = run(['keygen', '--out', out, '--force']);
    expect(r.status).toBe(0);
    expect(readFileSync(out, 'utf8').trim()).toMatch(CODE);
    expect(statSync(out).mode & 0o777).toBe(0o600);
  });

  it('--json prints { code, savedTo }', () => {
    const out = join(dir, 'k4.key');
    const r = run(['keygen', '--json', '--out', out]);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout.toString());
    expect(Object.keys(j).sort()).toEqual(['code', 'savedTo']);
    expect(j.code).toMatch(CODE);
    expect(j.savedTo).toBe(out);
    expect(readFileSync(out, 'utf8').trim()).toBe(j.code);
    expect(JSON.parse(run(['keygen', '--json']).stdout.toString()).savedTo).toBeNull();
  });

  it('--out into a missing folder is an I/O error (exit 4)', () => {
    const r = run(['keygen', '--out', join(dir, 'no', 'such', 'k.key')]);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/^e2ee-backup: cannot write .*no such file or directory\. Check the path\.\n$/);
  });
});
