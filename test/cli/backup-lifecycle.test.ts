// `backup create | restore | list` and issue #16: what is removed (only this machine's superseded
// backups, and unencrypted copies only when named), the state file that carries rollback
// protection between runs, a damaged newest backup, two machines sharing a folder, typo recovery.
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBackupKey, parseBackupKey } from '../../src/key/backup-key.js';
import { buildCli, type RunOptions, run as runCli, sampleData, tempDir, testConfigHome } from './helpers.js';

// These tests follow one machine through several runs: its state file must persist between them.
const run = (args: string[], options: RunOptions = {}) =>
  runCli(args, { ...options, env: { XDG_CONFIG_HOME: testConfigHome(), ...options.env } });

let dir: string;
let cleanup: () => void;

beforeAll(async () => {
  await buildCli();
  ({ dir, cleanup } = tempDir());
}, 180_000);
afterAll(() => cleanup?.());

const p = (...parts: string[]) => join(dir, ...parts);
const json = (r: { stdout: Buffer }) => JSON.parse(r.stdout.toString());

function keygen(path: string): void {
  expect(run(['keygen', '--out', path, '-q']).status).toBe(0);
}

describe('backup create removes nothing it does not own', () => {
  it('in a folder with a diary, a photo and the key file, all three stay (issue #16)', () => {
    const folder = p('home');
    mkdirSync(folder);
    writeFileSync(join(folder, 'diary.txt'), 'dear diary');
    writeFileSync(join(folder, 'photo.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0]));
    keygen(join(folder, 'k.key'));
    const key = readFileSync(join(folder, 'k.key'));
    const a = run(['backup', 'create', 'diary.txt', '--store', '.', '--key-file', 'k.key'], { cwd: folder });
    expect(a.status).toBe(0);
    expect(a.stdout.toString()).not.toMatch(/removed/);
    expect(a.stdout.toString()).toMatch(/; kept 3 \(not a backup: 3\)\n$/);
    const b = run(['backup', 'create', 'diary.txt', '--store', '.', '--key-file', 'k.key', '--json'], {
      cwd: folder,
    });
    expect(b.status).toBe(0);
    const made = json(b);
    expect(made.removed).toHaveLength(1);
    expect(made.kept.map((k: { reason: string }) => k.reason)).toEqual([
      'not-a-backup',
      'not-a-backup',
      'not-a-backup',
    ]);
    expect(readdirSync(folder).sort()).toEqual(['diary.txt', 'k.key', made.name, 'photo.jpg'].sort());
    expect(readFileSync(join(folder, 'k.key')).equals(key)).toBe(true);
    expect(readFileSync(join(folder, 'diary.txt'), 'utf8')).toBe('dear diary');
  });

  it('two machines sharing a folder and a key keep each their own newest backup', () => {
    const store = p('shared');
    const key = p('shared.key');
    keygen(key);
    writeFileSync(p('phone.bin'), 'phone data');
    writeFileSync(p('laptop.bin'), 'laptop data');
    const on = (machine: string, file: string) =>
      json(
        run([
          'backup',
          'create',
          p(file),
          '--store',
          store,
          '-k',
          key,
          '--state',
          p(`${machine}.json`),
          '--json',
        ]),
      );
    const phone1 = on('phone', 'phone.bin');
    const laptop1 = on('laptop', 'laptop.bin');
    const phone2 = on('phone', 'phone.bin');
    expect(phone1.set).not.toBe(laptop1.set);
    expect([phone1.generation, laptop1.generation, phone2.generation]).toEqual([0, 1, 2]);
    expect(phone2.removed).toEqual([phone1.name]);
    expect(readdirSync(store).sort()).toEqual([laptop1.name, phone2.name].sort());
    const listed = run(['backup', 'list', '--store', store, '-k', key]);
    expect(listed.status).toBe(0);
    expect(listed.stdout.toString()).toContain(`generation 1 of set ${laptop1.set}`);
    const r = run(['backup', 'restore', '--store', store, '-k', key, '--set', laptop1.set, '-o', p('l.out')]);
    expect(r.status).toBe(0);
    expect(readFileSync(p('l.out'), 'utf8')).toBe('laptop data');
  });
});

describe('the state file carries rollback protection', () => {
  it('is written after each create and restore, and refuses a rolled-back folder without --newest-seen', () => {
    const store = p('rolling');
    const key = p('rolling.key');
    keygen(key);
    writeFileSync(p('v.bin'), 'version 0');
    const first = json(run(['backup', 'create', p('v.bin'), '--store', store, '-k', key, '--json']));
    copyFileSync(join(store, first.name), p('generation-0.e2ee'));
    writeFileSync(p('v.bin'), 'version 1');
    const second = json(run(['backup', 'create', p('v.bin'), '--store', store, '-k', key, '--json']));
    expect(second.generation).toBe(1);
    const state = JSON.parse(readFileSync(join(testConfigHome(), 'e2ee-backup', 'state.json'), 'utf8'));
    expect(state.stores).toContainEqual({ store, newest: 1, used: 1, set: second.set });
    expect(JSON.stringify(state)).not.toContain(readFileSync(key, 'utf8').replace(/\s/g, '').slice(0, 16));
    // The folder is rolled back to generation 0: refused, with nothing written.
    copyFileSync(p('generation-0.e2ee'), join(store, first.name));
    rmSync(join(store, second.name));
    const refused = run(['backup', 'restore', '--store', store, '-k', key, '-o', p('rolled.out')]);
    expect(refused.status).toBe(3);
    expect(refused.stderr).toMatch(/generation 0, older than generation 1 already seen/);
    expect(existsSync(p('rolled.out'))).toBe(false);
    const allowed = run([
      'backup',
      'restore',
      '--store',
      store,
      '-k',
      key,
      '-o',
      p('rolled.out'),
      '--allow-rollback',
    ]);
    expect(allowed.status).toBe(0);
    expect(readFileSync(p('rolled.out'), 'utf8')).toBe('version 0');
  });

  it('a damaged newest backup stops a create without state (exit 3), and is kept with state', () => {
    const store = p('damaged');
    const key = p('damaged.key');
    keygen(key);
    writeFileSync(p('d.bin'), sampleData(50_000));
    const state = p('damaged-state.json');
    const create = (...extra: string[]) =>
      run(['backup', 'create', p('d.bin'), '--store', store, '-k', key, '--json', ...extra]);
    expect(create('--state', state).status).toBe(0);
    const newest = json(create('--state', state));
    const bytes = readFileSync(join(store, newest.name));
    bytes[300]! ^= 1; // in the first chunk, which opening the metadata reads
    writeFileSync(join(store, newest.name), bytes);
    const stateless = create('--state', p('nowhere.json'));
    expect(stateless.status).toBe(3);
    expect(stateless.stderr).toContain(newest.name);
    expect(stateless.stderr).toMatch(/--newest-seen N .*--allow-unreadable-newest/);
    expect(stateless.stderr).not.toMatch(/newestSeen|allowUnreadableNewest/); // the library's words
    const next = create('--state', state);
    expect(next.status).toBe(0);
    expect(json(next)).toMatchObject({
      generation: 2,
      kept: [{ name: newest.name, reason: 'unreadable', code: 'CHUNK_AUTH' }],
    });
    expect(next.stderr).toMatch(
      new RegExp(`warning: kept ${newest.name}: it cannot be opened \\(CHUNK_AUTH\\)`),
    );
  });

  it('is kept per folder, whatever the credential: a key added later, a restore by password (review of #16)', () => {
    const store = p('mixed');
    const key = p('mixed.key');
    keygen(key);
    writeFileSync(p('pw.txt'), 'correct horse battery staple\n');
    const state = p('mixed-state.json');
    const pw = ['--password-file', p('pw.txt'), '--insecure-fast-kdf', '--state', state];
    const create = (data: string, ...extra: string[]) => {
      writeFileSync(p('m.bin'), data);
      const r = run(['backup', 'create', p('m.bin'), '--store', store, ...pw, '--json', ...extra]);
      expect(r.status, r.stderr).toBe(0);
      return json(r);
    };
    for (const v of ['old 0', 'old 1', 'old 2']) create(v);
    const withKey = create('new, with a key', '-k', key);
    expect(withKey.generation).toBe(3);
    const restored = run([
      'backup',
      'restore',
      '--store',
      store,
      ...pw.slice(0, 2),
      '--state',
      state,
      '-o',
      p('m.out'),
    ]);
    expect(restored.status, restored.stderr).toBe(0);
    expect(readFileSync(p('m.out'), 'utf8')).toBe('new, with a key');
  });

  it('protects a restore by password of what was made with a key and the password (review of #16)', () => {
    const store = p('both');
    const key = p('both.key');
    keygen(key);
    writeFileSync(p('pw3.txt'), 'correct horse battery staple\n');
    const state = p('both-state.json');
    const pw = ['--password-file', p('pw3.txt')];
    const create = (data: string) => {
      writeFileSync(p('b.bin'), data);
      const r = run([
        'backup',
        'create',
        p('b.bin'),
        '--store',
        store,
        '-k',
        key,
        ...pw,
        '--insecure-fast-kdf',
        '--state',
        state,
        '--json',
      ]);
      expect(r.status, r.stderr).toBe(0);
      return json(r);
    };
    const first = create('first');
    copyFileSync(join(store, first.name), p('both-0.e2ee'));
    const second = create('second');
    // The folder rolled back to generation 0; restored with the password alone.
    rmSync(join(store, second.name));
    copyFileSync(p('both-0.e2ee'), join(store, first.name));
    const rolled = run(['backup', 'restore', '--store', store, ...pw, '--state', state, '-o', p('b.out')]);
    expect(rolled.status).toBe(3);
    expect(rolled.stderr).toMatch(/generation 0, older than generation 1 already seen/);
    expect(existsSync(p('b.out'))).toBe(false);
  });

  it('a backup made with more Argon2id memory than the default restores; elsewhere --max-kdf-memory opens it', () => {
    const store = p('kdf');
    writeFileSync(p('pw2.txt'), 'correct horse battery staple\n');
    writeFileSync(p('k.bin'), 'memory-hard');
    const state = p('kdf-state.json');
    const pw = ['--password-file', p('pw2.txt')];
    const made = run([
      'backup',
      'create',
      p('k.bin'),
      '--store',
      store,
      ...pw,
      '--state',
      state,
      '--kdf-memory',
      '65MiB',
      '--kdf-iterations',
      '1',
    ]);
    expect(made.status, made.stderr).toBe(0);
    const here = run(['backup', 'restore', '--store', store, ...pw, '--state', state, '-o', p('k.out')]);
    expect(here.status, here.stderr).toBe(0);
    expect(readFileSync(p('k.out'), 'utf8')).toBe('memory-hard');
    // Another machine (no state): refused without running Argon2id, naming an option restore has.
    const elsewhere = [
      'backup',
      'restore',
      '--store',
      store,
      ...pw,
      '--state',
      p('kdf-other.json'),
      '-o',
      p('k2.out'),
    ];
    const refused = run(elsewhere);
    expect(refused.status).toBe(3);
    expect(refused.stderr).toMatch(
      /exceeds the maximum 65536 KiB \(64 MiB\) \(skipped without running Argon2id\)\. .*raise --max-kdf-memory\.\n$/,
    );
    expect(refused.stderr).not.toMatch(/kdfMaxima|maxima\.m/);
    const listed = run(['backup', 'list', '--store', store, ...pw, '--state', p('kdf-other.json')]);
    expect(listed.stdout.toString()).toMatch(/not tried: .*\(--max-kdf-memory\)/);
    const trusted = run([...elsewhere, '--max-kdf-memory', '65MiB']);
    expect(trusted.status, trusted.stderr).toBe(0);
    expect(readFileSync(p('k2.out'), 'utf8')).toBe('memory-hard');
    const listedTrusted = run(['backup', 'list', '--store', store, ...pw, '--max-kdf-memory', '65MiB']);
    expect(listedTrusted.stdout.toString()).toMatch(/generation 0 of set/);
  });

  it('a create holds a lock while it reserves its generation; a stale lock is broken', () => {
    const store = p('locked');
    const key = p('locked.key');
    keygen(key);
    writeFileSync(p('l.bin'), 'locked');
    const state = p('locked-state.json');
    const create = () =>
      run(['backup', 'create', p('l.bin'), '--store', store, '-k', key, '--state', state, '--json']);
    const lock = `${state}.lock`;
    // Held by a live process on this host (this test's own): refused at once, exit 4, nothing written.
    writeFileSync(
      lock,
      JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }),
    );
    const busy = create();
    expect(busy.status).toBe(4);
    expect(busy.stderr).toContain(
      `another e2ee-backup (PID ${process.pid} on ${hostname()}) is using the state file ${state}`,
    );
    expect(busy.stderr).toMatch(/remove that lock file\.\n$/);
    expect(existsSync(store)).toBe(false);
    expect(readFileSync(lock, 'utf8')).toContain(String(process.pid));
    // Held by another host, recently: refused too; over an hour old: broken.
    writeFileSync(lock, JSON.stringify({ pid: 1, host: 'elsewhere.example', since: 'x' }));
    expect(create().status).toBe(4);
    const old = new Date(Date.now() - 2 * 3600_000);
    utimesSync(lock, old, old);
    expect(create().status).toBe(0);
    // Held by a process of this host that is gone: broken.
    const gone = spawnSync('node', ['-e', 'process.stdout.write(String(process.pid))']);
    writeFileSync(lock, JSON.stringify({ pid: Number(gone.stdout), host: hostname(), since: 'x' }));
    const after = create();
    expect(after.status, after.stderr).toBe(0);
    expect(json(after).generation).toBe(1);
    expect(existsSync(lock)).toBe(false);
    expect(readdirSync(p()).filter((n) => n.startsWith('locked-state.json.'))).toEqual([]);
  });

  it('reads a state file written per folder and credential, taking the larger numbers', () => {
    const store = p('legacy');
    const key = p('legacy.key');
    keygen(key);
    writeFileSync(p('lg.bin'), 'legacy');
    const state = p('legacy-state.json');
    writeFileSync(
      state,
      JSON.stringify({
        version: 1,
        stores: [
          { store, credential: 'key:0123456789abcdef', set: 'laptop-1', newest: 5, used: 5 },
          { store, credential: 'password', set: 'laptop-2', newest: 7, used: 8 },
        ],
      }),
    );
    const r = run(['backup', 'create', p('lg.bin'), '--store', store, '-k', key, '--state', state, '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(json(r)).toMatchObject({ generation: 9, set: 'laptop-1' });
    expect(JSON.parse(readFileSync(state, 'utf8')).stores).toEqual([
      { store, set: 'laptop-1', newest: 9, used: 9 },
    ]);
  });

  it("a first create into a folder with another key's newer-named backup asks to be told (review of #16)", () => {
    const store = p('foreign');
    mkdirSync(store);
    const mine = p('foreign-mine.key');
    const theirs = p('foreign-theirs.key');
    keygen(mine);
    keygen(theirs);
    writeFileSync(p('f.bin'), 'mine');
    const create = (key: string, state: string, ...extra: string[]) =>
      run([
        'backup',
        'create',
        p('f.bin'),
        '--store',
        store,
        '-k',
        key,
        '--state',
        p(state),
        '--json',
        ...extra,
      ]);
    const other = create(theirs, 'foreign-theirs.json');
    expect(other.status, other.stderr).toBe(0);
    const first = create(mine, 'foreign-mine.json');
    expect(first.status).toBe(3);
    expect(first.stderr).toMatch(
      new RegExp(
        `${json(other).name} \\(another key's, or damaged: WRONG_KEY\\) may be newer than every backup that opens`,
      ),
    );
    expect(first.stderr).toMatch(
      /if it is another key's backup, or this is the first backup .*--allow-unreadable-newest\.\n$/,
    );
    expect(readdirSync(store)).toEqual([json(other).name]);
    const told = create(mine, 'foreign-mine.json', '--allow-unreadable-newest');
    expect(told.status, told.stderr).toBe(0);
    expect(json(told)).toMatchObject({
      generation: 0,
      kept: [{ name: json(other).name, reason: 'another-key' }],
    });
    // From then on the state file knows the generation: no flag needed.
    expect(create(mine, 'foreign-mine.json').status).toBe(0);
  });

  it('a damaged state file is refused rather than ignored', () => {
    writeFileSync(p('bad-state.json'), '{"version": 1, "stores": [');
    writeFileSync(p('s.bin'), 'x');
    const key = p('s.key');
    keygen(key);
    const r = run([
      'backup',
      'create',
      p('s.bin'),
      '--store',
      p('s-store'),
      '-k',
      key,
      '--state',
      p('bad-state.json'),
    ]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/the state file .*bad-state\.json is damaged/);
    expect(existsSync(p('s-store'))).toBe(false);
  });
});

describe('unencrypted copies go only when named, after the drill', () => {
  it('--remove-source and --replaces remove them; an encrypted backup or the key file is refused', () => {
    const store = p('copies');
    const key = p('copies.key');
    keygen(key);
    writeFileSync(p('chats.db'), 'the chats');
    writeFileSync(p('chats-old.db'), 'the old chats');
    const refusedKey = run([
      'backup',
      'create',
      p('chats.db'),
      '--store',
      store,
      '-k',
      key,
      '--replaces',
      key,
    ]);
    expect(refusedKey.status).toBe(1);
    expect(refusedKey.stderr).toMatch(/is a file this command uses/);
    expect(run(['encrypt', p('chats.db'), '-o', p('other.e2ee'), '-k', key]).status).toBe(0);
    const refusedBackup = run([
      'backup',
      'create',
      p('chats.db'),
      '--store',
      store,
      '-k',
      key,
      '--replaces',
      p('other.e2ee'),
    ]);
    expect(refusedBackup.status).toBe(1);
    expect(refusedBackup.stderr).toMatch(/is an encrypted backup, not an unencrypted copy/);
    expect(existsSync(store)).toBe(false); // refused before anything was written
    const r = run([
      'backup',
      'create',
      p('chats.db'),
      '--store',
      store,
      '-k',
      key,
      '--remove-source',
      '--replaces',
      p('chats-old.db'),
      '--json',
    ]);
    expect(r.status).toBe(0);
    expect(json(r).removedFiles).toEqual([p('chats.db'), p('chats-old.db')]);
    expect(existsSync(p('chats.db'))).toBe(false);
    expect(existsSync(p('chats-old.db'))).toBe(false);
    const back = run(['backup', 'restore', '--store', store, '-k', key, '-o', p('chats.back')]);
    expect(back.status).toBe(0);
    expect(readFileSync(p('chats.back'), 'utf8')).toBe('the chats');
  });
});

describe('backup restore recovers a mistyped key', () => {
  it('finds the one wrong digit, says which, and restores', () => {
    const store = p('typo');
    const key = p('typo.key');
    keygen(key);
    writeFileSync(p('t.bin'), 'typo data');
    expect(run(['backup', 'create', p('t.bin'), '--store', store, '-k', key]).status).toBe(0);
    const code = formatBackupKey(parseBackupKey(readFileSync(key, 'utf8')));
    const wrong = code.slice(0, 6) + (code[6] === '0' ? '1' : '0') + code.slice(7);
    writeFileSync(p('typo-wrong.key'), `${wrong}\n`, { mode: 0o600 });
    const r = run(['backup', 'restore', '--store', store, '-k', p('typo-wrong.key'), '-o', p('t.out')]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/has a typo \(substitution\): digit 6 \(in group 2\)/);
    expect(readFileSync(p('t.out'), 'utf8')).toBe('typo data');
  });
});
