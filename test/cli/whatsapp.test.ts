// `e2ee-backup whatsapp decrypt | inspect | import` through the built CLI, on crypt15 files from the
// independent writer in test/whatsapp/encoder.ts, and on wa-crypt-tools' real file (vendored in
// vectors/third-party/wa-crypt-tools; WHATSAPP_SAMPLES reads another copy).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { thirdPartyFile } from '../shared-data.js';
import { crypt15, keyFile, zipOf } from '../whatsapp/encoder.js';
import {
  buildCli,
  CLI,
  cleanEnv,
  plain,
  run,
  runOnPty,
  sampleData,
  tempDir,
  tempLeftovers,
} from './helpers.js';

// util-linux's script(1) gives the CLI a terminal; without it the terminal-only test is skipped.
const hasScript = spawnSync('script', ['--version']).status === 0;

/** Runs the CLI to completion without blocking the event loop (a FIFO reader runs meanwhile). */
function runAsync(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [CLI, ...args], { env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

let dir: string;
let cleanup: () => void;
const root = new Uint8Array(32).map((_, i) => (i * 91 + 5) & 0xff);
const code = Buffer.from(root).toString('hex');
const db = Buffer.concat([Buffer.from('SQLite format 3\0'), sampleData(2_000_000)]);
const p = (name: string) => join(dir, name);

function secret(name: string, content: string | Uint8Array): string {
  writeFileSync(p(name), content, { mode: 0o600 });
  chmodSync(p(name), 0o600);
  return p(name);
}

beforeAll(async () => {
  await buildCli();
  ({ dir, cleanup } = tempDir());
  writeFileSync(
    p('msgstore.db.crypt15'),
    crypt15({ root, data: db, expiry: { appVersion: '2.25.1.7', jidSuffix: '99', features: [5, 39] } }),
  );
  secret('encrypted_backup.key', keyFile(root));
  secret('code.txt', `${code.toUpperCase().replace(/(.{4})(?!$)/g, '$1 ')}\n`);
}, 180_000);
afterAll(() => cleanup?.());

describe('whatsapp decrypt', () => {
  it('opens with the key file and with the code, to the exact database, atomically', () => {
    for (const k of ['encrypted_backup.key', 'code.txt']) {
      const r = run(['whatsapp', 'decrypt', p('msgstore.db.crypt15'), '-k', p(k), '-o', p(`out-${k}.db`)]);
      expect(r.status, r.stderr).toBe(0);
      expect(readFileSync(p(`out-${k}.db`)).equals(db)).toBe(true);
    }
    // Piped in and out.
    const r = run(['whatsapp', 'decrypt', '-k', p('code.txt')], {
      input: readFileSync(p('msgstore.db.crypt15')),
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.equals(db)).toBe(true);
    expect(r.stderr).toMatch(/provisional/);
    expect(tempLeftovers(dir)).toEqual([]);
  });

  it('corrects one typo in the code, says where, and still opens it', () => {
    const typo = `${code.slice(0, 20)}${code[21]}${code[20]}${code.slice(22)}`;
    const k = secret('typo.txt', typo);
    const r = run(['whatsapp', 'decrypt', p('msgstore.db.crypt15'), '-k', k, '-o', p('typo.db')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('has a typo (transposition): digits 21 and 22 (in group 6) are swapped.');
    // No digit of the key goes to a stderr that is not a terminal (it may be a log).
    expect(r.stderr).not.toMatch(/'[0-9a-f]{1,4}'/);
    expect(r.stderr).not.toContain(code.slice(20, 24));
    expect(readFileSync(p('typo.db')).equals(db)).toBe(true);
  });

  it.skipIf(!hasScript)(
    'shows the corrected group on a terminal, and not with -q (util-linux script)',
    async () => {
      const typo = `${code.slice(0, 20)}${code[21]}${code[20]}${code.slice(22)}`;
      const k = secret('typo-pty.txt', typo);
      const cmd = (out: string, q: string) =>
        `node ${CLI} whatsapp decrypt ${p('msgstore.db.crypt15')} -k ${k} -o ${p(out)}${q}`;
      const loud = plain((await runOnPty(cmd('pty.db', ''), [])).output);
      expect(loud).toContain('digits 21 and 22 (in group 6) are swapped.');
      expect(loud).toContain(`group 6 is '${code.slice(20, 24)}', not '${typo.slice(20, 24)}'`);
      const quiet = plain((await runOnPty(cmd('pty-q.db', ' -q'), [])).output);
      expect(quiet).toContain('digits 21 and 22 (in group 6) are swapped.');
      expect(quiet).not.toContain(code.slice(20, 24));
      expect(readFileSync(p('pty-q.db')).equals(db)).toBe(true);
    },
  );

  it('a FIFO is written in place with the provisional note; a symlink is followed', async () => {
    const fifo = p('out.fifo');
    execFileSync('mkfifo', [fifo]);
    const fifoRun = async (file: string) => {
      const reader = spawn('cat', [fifo]);
      const got: Buffer[] = [];
      reader.stdout.on('data', (d) => got.push(d));
      const readerDone = new Promise((r) => reader.on('close', r));
      const r = await runAsync(['whatsapp', 'decrypt', p(file), '-k', p('code.txt'), '-o', fifo]);
      const stillFifo = lstatSync(fifo).isFIFO();
      if (!stillFifo) reader.kill(); // replaced: the reader would wait for ever
      await readerDone;
      expect(stillFifo).toBe(true);
      return { ...r, got: Buffer.concat(got) };
    };
    const ok = await fifoRun('msgstore.db.crypt15');
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/note: .*what goes to .*out\.fifo before that is provisional/);
    expect(ok.got.equals(db)).toBe(true);
    // Damaged near its end: most of the database has gone to the FIFO when the tag fails.
    const file = readFileSync(p('msgstore.db.crypt15'));
    const late = Buffer.from(file);
    late[late.length - 40]! ^= 1;
    writeFileSync(p('late-flip.crypt15'), late);
    const bad = await fifoRun('late-flip.crypt15');
    expect(bad.status).toBe(3);
    expect(bad.stderr).toMatch(/already written to .*out\.fifo are not authenticated: discard them/);
    // A symlink: its target is replaced atomically, the link stays.
    writeFileSync(p('target.db'), 'old');
    symlinkSync('target.db', p('link.db'));
    const l = run(['whatsapp', 'decrypt', p('msgstore.db.crypt15'), '-k', p('code.txt'), '-o', p('link.db')]);
    expect(l.status, l.stderr).toBe(0);
    expect(lstatSync(p('link.db')).isSymbolicLink()).toBe(true);
    expect(readFileSync(p('target.db')).equals(db)).toBe(true);
    expect(tempLeftovers(dir)).toEqual([]);
  });

  it('a wrong key exits 2, a flipped byte or a cut file exits 3, a missing file 4; never any output', () => {
    const file = readFileSync(p('msgstore.db.crypt15'));
    writeFileSync(p('flipped.crypt15'), Buffer.from(file).fill(file[5000]! ^ 4, 5000, 5001));
    writeFileSync(p('cut.crypt15'), file.subarray(0, file.length - 100));
    const wrong = secret('wrong.txt', 'ab'.repeat(32));
    const twoTypos = secret(
      'two-typos.txt',
      `${code.slice(0, 10)}${code[10] === '0' ? '1' : '0'}${code.slice(11, 40)}${code[40] === '0' ? '1' : '0'}${code.slice(41)}`,
    );
    const cases: [string, string, number, RegExp][] = [
      ['msgstore.db.crypt15', wrong, 2, /MD5 checksum matches/],
      ['msgstore.db.crypt15', twoTypos, 2, /does not open/],
      ['flipped.crypt15', p('code.txt'), 3, /damaged/],
      ['flipped.crypt15', p('encrypted_backup.key'), 3, /damaged/],
      ['cut.crypt15', p('encrypted_backup.key'), 3, /damaged/],
      ['missing.crypt15', p('encrypted_backup.key'), 4, /cannot read/],
      ['msgstore.db.crypt15', p('missing.key'), 4, /cannot read the key file/],
    ];
    for (const [file, k, status, message] of cases) {
      const out = p(`never-${file}.db`);
      const r = run(['whatsapp', 'decrypt', p(file), '-k', k, '-o', out]);
      expect(r.status, `${file} with ${k}: ${r.stderr}`).toBe(status);
      expect(r.stderr).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
    expect(tempLeftovers(dir)).toEqual([]);
  });

  it('names the files it does not read, exit 3', () => {
    writeFileSync(p('plain.db'), db.subarray(0, 5000));
    writeFileSync(p('crypt12'), Buffer.concat([Buffer.from([0, 1, 1]), Buffer.alloc(100)]));
    for (const [file, message] of [
      ['plain.db', /SQLite database/],
      ['crypt12', /crypt12/],
    ] as const) {
      const r = run(['whatsapp', 'decrypt', p(file), '-k', p('code.txt'), '-o', p('x.db')]);
      expect(r.status).toBe(3);
      expect(r.stderr).toMatch(message);
    }
  });

  it('a multi-file backup (ZIP, no MD5) comes out as its ZIP archive', () => {
    const zip = zipOf('sticker.webp', sampleData(10_000));
    writeFileSync(p('stickers.crypt15'), crypt15({ root, plaintext: zip, md5: false, featureTable: false }));
    const r = run([
      'whatsapp',
      'decrypt',
      p('stickers.crypt15'),
      '-k',
      p('code.txt'),
      '-o',
      p('stickers.zip'),
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(p('stickers.zip')).equals(zip)).toBe(true);
  });
});

describe('whatsapp inspect', () => {
  it('shows the prefix without the key, the phone digits only when asked', () => {
    const r = run(['whatsapp', 'inspect', p('msgstore.db.crypt15')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.toString()).toMatch(/WhatsApp version: +2\.25\.1\.7/);
    expect(r.stdout.toString()).toMatch(/unauthenticated/);
    expect(r.stdout.toString()).not.toMatch(/99/);
    const j = run(['whatsapp', 'inspect', '--json', '--phone-digits', p('msgstore.db.crypt15')]);
    expect(JSON.parse(j.stdout.toString())).toMatchObject({
      appVersion: '2.25.1.7',
      phoneDigits: '99',
      features: [5, 39],
    });
  });
});

describe('whatsapp import', () => {
  it('re-encrypts into a container that decrypt opens to the same database, with the header as metadata', () => {
    const r = run([
      'whatsapp',
      'import',
      p('msgstore.db.crypt15'),
      '-k',
      p('encrypted_backup.key'),
      '-o',
      p('imported.e2ee'),
    ]);
    expect(r.status, r.stderr).toBe(0);
    const d = run(['decrypt', p('imported.e2ee'), '--key-file', p('code.txt'), '-o', p('imported.db')]);
    expect(d.status, d.stderr).toBe(0);
    expect(readFileSync(p('imported.db')).equals(db)).toBe(true);
    const v = run(['verify', p('imported.e2ee'), '--key-file', p('code.txt'), '--json']);
    expect(JSON.parse(v.stdout.toString()).metadata.app).toEqual({
      whatsapp: {
        format: 'crypt15',
        appVersion: '2.25.1.7',
        backupVersion: null,
        features: [5, 39],
        featureTable: true,
        payload: 'zlib',
      },
    });
    const i = run(['inspect', p('imported.e2ee'), '--json']);
    expect(JSON.parse(i.stdout.toString())).toMatchObject({ compressed: true, padded: true });
    expect(readFileSync(p('imported.e2ee')).includes(Buffer.from('SQLite'))).toBe(false);
  });

  it('into a folder of backups, as backup create: a state file, its own set, foreign files kept', () => {
    const store = p('store');
    mkdirSync(store);
    // A file that is not ours, in the folder: the WhatsApp backup itself, copied there.
    writeFileSync(join(store, 'msgstore.db.crypt15'), readFileSync(p('msgstore.db.crypt15')));
    const state = p('wa-state.json');
    const importOnce = () =>
      run([
        'whatsapp',
        'import',
        join(store, 'msgstore.db.crypt15'),
        '-k',
        p('code.txt'),
        '--store',
        store,
        '--state',
        state,
        '--json',
      ]);
    const first = importOnce();
    expect(first.status, first.stderr).toBe(0);
    const one = JSON.parse(first.stdout.toString());
    expect(one).toMatchObject({
      generation: 0,
      removed: [],
      kept: [{ name: 'msgstore.db.crypt15', reason: 'not-a-backup' }],
    });
    const remembered = JSON.parse(readFileSync(state, 'utf8')).stores;
    expect(remembered).toEqual([expect.objectContaining({ store, set: one.set, newest: 0, used: 0 })]);
    // Again: the state file's set, the next generation; only the superseded import goes.
    const second = importOnce();
    expect(second.status, second.stderr).toBe(0);
    const two = JSON.parse(second.stdout.toString());
    expect(two).toMatchObject({ generation: 1, set: one.set, removed: [one.name] });
    expect(readdirSync(store).sort()).toEqual([two.name, 'msgstore.db.crypt15'].sort());
    expect(
      readFileSync(join(store, 'msgstore.db.crypt15')).equals(readFileSync(p('msgstore.db.crypt15'))),
    ).toBe(true);
    const d = run([
      'backup',
      'restore',
      '--store',
      store,
      '--key-file',
      p('code.txt'),
      '-o',
      p('restored.db'),
      '--state',
      state,
    ]);
    expect(d.status, d.stderr).toBe(0);
    expect(readFileSync(p('restored.db')).equals(db)).toBe(true);
    // The folder flags need --store.
    const noStore = run([
      'whatsapp',
      'import',
      p('msgstore.db.crypt15'),
      '-k',
      p('code.txt'),
      '-o',
      p('x.e2ee'),
      '--set',
      'a',
    ]);
    expect(noStore.status).toBe(1);
    expect(noStore.stderr).toMatch(/--set only applies with --store/);
  });

  it('a damaged or wrong-key WhatsApp file leaves nothing behind: exit 3 / 2', () => {
    const file = readFileSync(p('msgstore.db.crypt15'));
    const bad = Buffer.from(file);
    bad[bad.length - 40]! ^= 1; // in the ciphertext's last bytes: found only at the end
    writeFileSync(p('bad.crypt15'), bad);
    const r = run(['whatsapp', 'import', p('bad.crypt15'), '-k', p('code.txt'), '-o', p('bad.e2ee')]);
    expect(r.status, r.stderr).toBe(3);
    expect(existsSync(p('bad.e2ee'))).toBe(false);
    const store = p('store-bad');
    mkdirSync(store);
    const s = run(['whatsapp', 'import', p('bad.crypt15'), '-k', p('code.txt'), '--store', store]);
    expect(s.status, s.stderr).toBe(3);
    expect(readdirSync(store)).toEqual([]);
    const w = run([
      'whatsapp',
      'import',
      p('msgstore.db.crypt15'),
      '-k',
      secret('w.txt', 'cd'.repeat(32)),
      '-o',
      p('w.e2ee'),
    ]);
    expect(w.status).toBe(2);
    expect(existsSync(p('w.e2ee'))).toBe(false);
    expect(tempLeftovers(dir)).toEqual([]);
  });

  it('needs exactly one of -o and --store', () => {
    expect(run(['whatsapp', 'import', p('msgstore.db.crypt15'), '-k', p('code.txt')]).status).toBe(1);
    expect(
      run([
        'whatsapp',
        'import',
        p('msgstore.db.crypt15'),
        '-k',
        p('code.txt'),
        '-o',
        p('a'),
        '--store',
        p('b'),
      ]).status,
    ).toBe(1);
  });
});

describe("WhatsApp's key file as any --key-file", () => {
  it('encrypt, decrypt, verify, backup create and restore take encrypted_backup.key as the code', () => {
    const k = p('encrypted_backup.key');
    writeFileSync(p('plain.txt'), 'key file round trip');
    expect(run(['encrypt', p('plain.txt'), '-o', p('kf.e2ee'), '-k', k]).status).toBe(0);
    for (const opener of [k, p('code.txt')]) {
      const d = run(['decrypt', p('kf.e2ee'), '-k', opener, '-o', p('kf.out')]);
      expect(d.status, d.stderr).toBe(0);
      expect(readFileSync(p('kf.out'), 'utf8')).toBe('key file round trip');
    }
    expect(run(['verify', p('kf.e2ee'), '-k', k]).status).toBe(0);
    const store = p('kf-store');
    const c = run(['backup', 'create', p('plain.txt'), '--store', store, '-k', k]);
    expect(c.status, c.stderr).toBe(0);
    const r = run(['backup', 'restore', '--store', store, '-k', k, '-o', p('kf2.out')]);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(p('kf2.out'), 'utf8')).toBe('key file round trip');
  });

  it("refuses other Java-serialised files (crypt14's 158-byte key file) as KEY_FORMAT, exit 2", () => {
    // The same serialised byte[] header, with 131 bytes of key material.
    const head = Buffer.from(keyFile(root).subarray(0, 27));
    head.writeUInt32BE(131, 23);
    const k = secret('crypt14.key', Buffer.concat([head, Buffer.alloc(131, 7)]));
    writeFileSync(p('c14.txt'), 'data');
    expect(run(['encrypt', p('c14.txt'), '-o', p('c14.e2ee'), '-k', p('code.txt')]).status).toBe(0);
    for (const args of [
      ['decrypt', p('c14.e2ee'), '-k', k, '-o', p('never.out')],
      ['whatsapp', 'decrypt', p('msgstore.db.crypt15'), '-k', k, '-o', p('never.out')],
    ]) {
      const r = run(args);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/crypt14\.key: .*crypt12\/crypt14/);
      expect(existsSync(p('never.out'))).toBe(false);
    }
  });
});

describe("the prefix's strings (unauthenticated, from the file)", () => {
  it('any UTF-8 app version goes into the metadata as it is, and to the terminal inert', async () => {
    const appVersion = '2.25\u001b[31mRED\u009b2J\u202e\u0000\u{1f600}';
    writeFileSync(
      p('odd.crypt15'),
      crypt15({ root, data: db.subarray(0, 5000), expiry: { appVersion, jidSuffix: '\u001b]0;x\u0007' } }),
    );
    const i = run(['whatsapp', 'import', p('odd.crypt15'), '-k', p('code.txt'), '-o', p('odd.e2ee')]);
    expect(i.status, i.stderr).toBe(0);
    const v = run(['verify', p('odd.e2ee'), '-k', p('code.txt'), '--json']);
    expect(v.status, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout.toString()).metadata.app.whatsapp.appVersion).toBe(appVersion);
    const shown = run(['whatsapp', 'inspect', '--phone-digits', p('odd.crypt15')]);
    expect(shown.status, shown.stderr).toBe(0);
    const out = shown.stdout.toString();
    expect(out).toContain('2.25\\x1b[31mRED\\x9b2J\\u{202e}\\x00\u{1f600}');
    expect(out).toContain('\\x1b]0;x\\x07');
    // No control or format character but the line breaks.
    expect(out.replace(/\n/g, '')).not.toMatch(/[\p{Cc}\p{Cf}]/u);
    if (!hasScript) return; // the summary goes only to a terminal
    const d = await runOnPty(
      `node ${CLI} whatsapp decrypt ${p('odd.crypt15')} -k ${p('code.txt')} -o ${p('odd.db')}`,
      [],
    );
    expect(d.status, d.output).toBe(0);
    expect(plain(d.output)).toContain('WhatsApp 2.25\\x1b[31mRED\\x9b2J');
    expect(d.output).not.toContain('\u001b[31mRED');
  });

  it('an app version that is not UTF-8 (a CESU-8 lone surrogate, a stray byte) is MALFORMED_HEADER: nothing written', () => {
    for (const [name, bytes] of [
      ['surrogate', [0x32, 0x2e, 0xed, 0xa0, 0x80]],
      ['stray', [0x32, 0x2e, 0xff]],
    ] as const) {
      writeFileSync(
        p(`${name}.crypt15`),
        crypt15({ root, data: db.subarray(0, 5000), expiry: { appVersion: Uint8Array.from(bytes) } }),
      );
      for (const args of [
        ['whatsapp', 'import', p(`${name}.crypt15`), '-k', p('code.txt'), '-o', p(`${name}.e2ee`)],
        ['whatsapp', 'import', p(`${name}.crypt15`), '-k', p('code.txt'), '--store', p(`${name}-store`)],
        ['whatsapp', 'inspect', p(`${name}.crypt15`)],
      ]) {
        const r = run(args);
        expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(3);
        expect(r.stderr).toMatch(/BackupExpiry: a string field is not UTF-8/);
      }
      expect(existsSync(p(`${name}.e2ee`))).toBe(false);
      expect(existsSync(p(`${name}-store`))).toBe(false);
    }
  });
});

describe("the real file (wa-crypt-tools' tests/res/)", () => {
  it('decrypts and imports it to the exact database', () => {
    const real = (f: string) => thirdPartyFile('WHATSAPP_SAMPLES', 'wa-crypt-tools', f);
    const k = secret('real.key', readFileSync(real('encrypted_backup.key')));
    const r = run(['whatsapp', 'decrypt', real('msgstore.db.crypt15'), '-k', k, '-o', p('real.db')]);
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(p('real.db')).equals(readFileSync(real('msgstore.db')))).toBe(true);
    const c = secret(
      'real-code.txt',
      readFileSync(real('encrypted_backup.key')).subarray(27).toString('hex'),
    );
    expect(
      run(['whatsapp', 'import', real('msgstore.db.crypt15'), '-k', k, '-o', p('real.e2ee')]).status,
    ).toBe(0);
    expect(run(['decrypt', p('real.e2ee'), '--key-file', c, '-o', p('real2.db')]).status).toBe(0);
    expect(readFileSync(p('real2.db')).equals(readFileSync(real('msgstore.db')))).toBe(true);
  });
});
