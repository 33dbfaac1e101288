// `e2ee-backup backup create | list | restore` over a folder: rotation keeps only the newest,
// restore picks it, and a rolled-back backup is refused unless --allow-rollback.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildCli,
  type RunOptions,
  run as runCli,
  sampleData,
  tempDir,
  tempLeftovers,
  testConfigHome,
} from './helpers.js';

// One machine across runs: its state file (set, generations) must persist between them.
const run = (args: string[], options: RunOptions = {}) =>
  runCli(args, { ...options, env: { XDG_CONFIG_HOME: testConfigHome(), ...options.env } });

let dir: string;
let cleanup: () => void;
let keyFile: string;
const FAST = '--insecure-fast-kdf';
const PW = { E2EE_BACKUP_PASSWORD: 'correct horse battery staple' };

beforeAll(async () => {
  await buildCli();
  ({ dir, cleanup } = tempDir());
  keyFile = join(dir, 'backup.key');
  expect(run(['keygen', '--out', keyFile, '-q']).status).toBe(0);
}, 180_000);
afterAll(() => cleanup?.());

const p = (name: string) => join(dir, name);

interface Listed {
  name: string;
  size: number;
  encrypted: boolean;
  generation?: number;
}
const list = (store: string): Listed[] => {
  const r = run(['backup', 'list', '--store', store, '--json']);
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout.toString());
};

describe('backup create and restore', () => {
  const store = () => p('store');
  const v1 = sampleData(300_000);
  const v2 = sampleData(700_000);
  let first: string;

  it('creates generation 0, then 1, and only the newest remains', () => {
    writeFileSync(p('v1.bin'), v1);
    writeFileSync(p('v2.bin'), v2);
    const a = run(['backup', 'create', p('v1.bin'), '--store', store(), '-k', keyFile, '--json']);
    expect(a.status).toBe(0);
    const ja = JSON.parse(a.stdout.toString());
    expect(ja).toMatchObject({ generation: 0, bytes: 300_000, removed: [] });
    first = ja.name;
    copyFileSync(join(store(), first), p('generation-0.e2ee')); // for the rollback test
    const b = run(['backup', 'create', p('v2.bin'), '--store', store(), '-k', keyFile]);
    expect(b.status).toBe(0);
    expect(b.stdout.toString()).toMatch(
      new RegExp(
        `^backup-0000000000000001-[0-9a-f]{12}\\.e2ee: generation 1 of set ${ja.set}, .* verified; removed ${first}\\n$`,
      ),
    );
    const entries = list(store());
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ encrypted: true, generation: 1 });
    expect(readdirSync(store())).toEqual([entries[0]!.name]);
    expect(tempLeftovers(store())).toEqual([]);
  });

  it('the plain list names each backup with its size and generation', () => {
    const r = run(['backup', 'list', '--store', store()]);
    expect(r.status).toBe(0);
    expect(r.stdout.toString()).toMatch(
      /^backup-0000000000000001-[0-9a-f]{12}\.e2ee {2}\d+ kB {2}generation 1\n$/,
    );
  });

  it('restores the newest backup', () => {
    const r = run([
      'backup',
      'restore',
      '--store',
      store(),
      '-o',
      p('restored.bin'),
      '-k',
      keyFile,
      '--newest-seen',
      '1',
    ]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(readFileSync(p('restored.bin')).equals(v2)).toBe(true);
  });

  it('refuses a rolled-back backup (exit 3) and writes nothing; --allow-rollback restores it with a warning', () => {
    // Someone puts generation 0 back in place of generation 1: a folder holding only the old one.
    const rolled = p('rolled');
    mkdirSync(rolled);
    copyFileSync(p('generation-0.e2ee'), join(rolled, first));
    const refused = run([
      'backup',
      'restore',
      '--store',
      rolled,
      '-o',
      p('rb.bin'),
      '-k',
      keyFile,
      '--newest-seen',
      '1',
    ]);
    expect(refused.status).toBe(3);
    expect(refused.stderr).toMatch(
      /^e2ee-backup: the newest backup here is generation 0, older than generation 1.*\. Find the newest copy; .*\(--allow-rollback\)\.\n$/,
    );
    // The library's option is not the CLI's flag.
    expect(refused.stderr).not.toMatch(/allowRollback/);
    expect(existsSync(p('rb.bin'))).toBe(false);
    const allowed = run([
      'backup',
      'restore',
      '--store',
      rolled,
      '-o',
      p('rb.bin'),
      '-k',
      keyFile,
      '--newest-seen',
      '1',
      '--allow-rollback',
    ]);
    expect(allowed.status).toBe(0);
    expect(allowed.stderr).toMatch(
      /warning: --allow-rollback: restoring generation 0, older than generation 1/,
    );
    expect(readFileSync(p('rb.bin')).equals(v1)).toBe(true);
  });

  it('--newest-seen on create continues the numbering of this device', () => {
    const s = p('seen');
    const r = run([
      'backup',
      'create',
      p('v1.bin'),
      '--store',
      s,
      '-k',
      keyFile,
      '--newest-seen',
      '41',
      '--json',
    ]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout.toString()).generation).toBe(42);
  });
});

describe('backup with a password', () => {
  it('creates from standard input and restores with E2EE_BACKUP_PASSWORD', () => {
    const data = sampleData(100_000);
    const s = p('pw-store');
    const c = run(['backup', 'create', '-', '--store', s, FAST], { input: data, env: PW });
    expect(c.status).toBe(0);
    expect(c.stderr).toMatch(/insecure-fast-kdf/);
    const r = run(['backup', 'restore', '--store', s, '-o', p('pw.bin')], { env: PW });
    expect(r.status).toBe(0);
    expect(readFileSync(p('pw.bin')).equals(data)).toBe(true);
    const wrong = run(['backup', 'restore', '--store', s, '-o', p('pw2.bin')], {
      env: { E2EE_BACKUP_PASSWORD: 'nope' },
    });
    expect(wrong.status).toBe(2);
    expect(existsSync(p('pw2.bin'))).toBe(false);
  });
});

describe('backup create and its password slot', () => {
  it('says it writes a password slot from E2EE_BACKUP_PASSWORD, even with -q, and refuses a weak password', () => {
    const data = sampleData(10_000);
    const s = p('slot-store');
    const c = run(['backup', 'create', '-', '--store', s, '-k', keyFile, FAST, '-q'], {
      input: data,
      env: PW,
    });
    expect(c.status, c.stderr).toBe(0);
    expect(c.stderr).toContain(
      `e2ee-backup: the backup gets a backup-key slot (the code in ${keyFile}) and a password slot (the password from the E2EE_BACKUP_PASSWORD environment variable); either opens it.`,
    );
    for (const weak of ['hunter2', 'abc']) {
      const w = run(['backup', 'create', '-', '--store', p('weak-store'), '-k', keyFile, FAST], {
        input: data,
        env: { E2EE_BACKUP_PASSWORD: weak },
      });
      expect(w.status, weak).toBe(1);
      expect(w.stderr).toMatch(/is too weak for a password slot: .*--allow-weak-password/);
      expect(existsSync(p('weak-store')) ? readdirSync(p('weak-store')) : []).toEqual([]);
    }
    const allowed = run(
      ['backup', 'create', '-', '--store', p('weak-store'), FAST, '--allow-weak-password', '--json'],
      { input: data, env: { E2EE_BACKUP_PASSWORD: 'hunter2' } },
    );
    expect(allowed.status, allowed.stderr).toBe(0);
  });
});

describe('backup usage errors', () => {
  it('no credential is exit 1; a missing --store is exit 1; an empty folder is exit 4', () => {
    writeFileSync(p('x.bin'), 'x');
    const none = run(['backup', 'create', p('x.bin'), '--store', p('s')]);
    expect(none.status).toBe(1);
    expect(none.stderr).toMatch(/^e2ee-backup: no credential to encrypt with\. Give --key-file FILE/);
    expect(run(['backup', 'list']).status).toBe(1);
    const empty = run(['backup', 'restore', '--store', p('nothing-here'), '-o', p('n.bin'), '-k', keyFile]);
    expect(empty.status).toBe(4);
    expect(empty.stderr).toMatch(/no encrypted backup/);
    const allow = run([
      'backup',
      'restore',
      '--store',
      p('s'),
      '-o',
      p('n.bin'),
      '-k',
      keyFile,
      '--allow-rollback',
    ]);
    expect(allow.status).toBe(1);
    expect(allow.stderr).toMatch(/--allow-rollback only applies with --newest-seen/);
  });
});
