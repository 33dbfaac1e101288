// `npm run demo`: the whole flow through the built `e2ee-backup` command on a generated ~50 MB chat
// backup — setup with a 64-digit code (typed back by the script) and, with a key vault on
// loopback, setup with a vault password (a weak one refused first); a backup with a key slot and a
// password slot, what anyone can see of it, restores with either credential, a wrong password
// refused, a mistyped code repaired; then rotation with the vault-protected key (two backups, only
// the newest remains, restore on "a new device" that recovers the key from the vault, a
// rolled-back backup refused) and the vault's lockout after 10 wrong passwords — then a summary of
// sizes and speeds.
//
// Each step is a function in STEPS below, sharing one `state`; later features (the key vault,
// key rotation) add their steps there.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ensureBuilt } from './ensure-built.mjs';

const SAMPLE_BYTES = 50_000_000;
const PASSWORD = 'correct horse battery staple';

// ---------------------------------------------------------------------------------------------
// Helpers

const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;
const rate = (bytes, seconds) => `${(bytes / 1e6 / seconds).toFixed(0)} MB/s`;
const indent = (text, by = '   ') =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => by + l)
    .join('\n');

function sha256(path) {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Runs the CLI in the demo folder, echoing the command line as a user would type it. */
function cli(state, args, { env = {}, show = true } = {}) {
  const shownEnv = Object.keys(env).length
    ? `${Object.keys(env)
        .map((k) => `${k}=…`)
        .join(' ')} `
    : '';
  if (show) console.log(`   $ ${shownEnv}e2ee-backup ${args.join(' ')}`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: state.dir,
    // The CLI's config (vault server keys, the backup state file) goes to the demo's folder, not ~/.config.
    env: {
      ...process.env,
      E2EE_BACKUP_PASSWORD: undefined,
      XDG_CONFIG_HOME: join(state.dir, 'config'),
      ...env,
    },
    maxBuffer: 1 << 30,
  });
  const seconds = (performance.now() - t0) / 1000;
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString(), seconds };
}

/**
 * Runs the CLI as a script drives `setup`: `answer(code)` gives the lines to write back on stdin
 * each time a code appears on stdout.
 */
function cliScript(state, args, answer, { note } = {}) {
  console.log(`   $ e2ee-backup ${args.join(' ')}${note ? `   # ${note}` : ''}`);
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: state.dir,
    env: { ...process.env, E2EE_BACKUP_PASSWORD: undefined, XDG_CONFIG_HOME: join(state.dir, 'config') },
  });
  return new Promise((resolvePromise, reject) => {
    let stdout = '';
    let stderr = '';
    let seen = 0;
    child.stdin.on('error', () => {});
    child.stdout.on('data', (d) => {
      stdout += d;
      const lines = stdout.split('\n').slice(0, -1);
      for (; seen < lines.length; seen++) child.stdin.write(answer(lines[seen]));
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.once('error', reject);
    child.once('close', (status) => resolvePromise({ status, stdout, stderr }));
  });
}

/** A step that did not do what the demo shows: reported without a stack, after the clean-up. */
class DemoFailure extends Error {}

function expectStatus(r, want, what) {
  // Thrown, not process.exit: exiting here would skip the clean-up below and leave the vault
  // server running and the demo's folder behind.
  if (r.status !== want)
    throw new DemoFailure(`DEMO FAILED: ${what} exited ${r.status}, expected ${want}\n${r.stderr}`);
}

/**
 * A sample chat backup: JSON-lines messages in several languages, with random "media"
 * attachments (photos, voice notes) making up about 30 % of the bytes.
 */
function writeSampleBackup(path, bytes) {
  const people = ['Amara', 'Bernd', 'Chloé', 'Dmitri', 'Emi', 'Farid', 'Grace', 'Hiro'];
  const texts = [
    'See you at 8?',
    'Bonjour ! On se retrouve où ?',
    '¿Llegas tarde otra vez? 😅',
    'Привет! Как дела?',
    'こんにちは、今日は雨ですね。',
    'مرحبا، كيف حالك اليوم؟',
    'Ich bin gleich da, Stau auf der A9.',
    'नमस्ते! कल मिलते हैं।',
    '好的，明天见！',
    'On my way 🚲',
  ];
  const fd = openSync(path, 'w');
  const media = Buffer.allocUnsafe(256 * 1024);
  let written = 0;
  let id = 0;
  while (written < bytes) {
    const lines = [];
    let textBytes = 0;
    while (textBytes < 600_000) {
      const line = JSON.stringify({
        id: id,
        chat: `chat-${id % 23}`,
        from: people[id % people.length],
        ts: 1_700_000_000 + id * 41,
        text: texts[(id * 7) % texts.length],
        ...(id % 50 === 0 ? { attachment: `media/${id}.jpg` } : {}),
      });
      lines.push(line);
      textBytes += Buffer.byteLength(line) + 1;
      id++;
    }
    const text = Buffer.from(`${lines.join('\n')}\n`);
    const attachment = randomFillSync(media).subarray(0, Math.round((text.length * 3) / 7));
    for (const part of [text, attachment]) {
      const n = Math.min(part.length, bytes - written);
      writeSync(fd, part, 0, n);
      written += n;
    }
  }
  closeSync(fd);
  return id;
}

// ---------------------------------------------------------------------------------------------
// Steps

function sampleStep(state) {
  console.log('0. A sample chat backup');
  const t0 = performance.now();
  const messages = writeSampleBackup(state.plain, SAMPLE_BYTES);
  state.plainBytes = statSync(state.plain).size;
  state.plainHash = sha256(state.plain);
  console.log(
    `   ${mb(state.plainBytes)} (${messages.toLocaleString('en-US')} messages in 10 languages + ~30 % media), made in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
}

async function setupCodeStep(state) {
  console.log('1. Setup with a 64-digit code: shown, warned about twice, then typed back before it counts');
  console.log(
    '   (on a terminal, Enter after each warning; a script reads the code on stdout and writes it back on stdin)',
  );
  // The script first types group 7 wrong, as a hurried person would, then the code as saved.
  const r = await cliScript(
    state,
    ['setup', '--method', 'code', '--out', 'backup.key'],
    (code) => {
      const groups = code.split(' ');
      groups[6] = groups[6] === '0000' ? '1111' : '0000';
      return `${groups.join(' ')}\n${code}\n`;
    },
    { note: 'the script writes the code back on stdin' },
  );
  expectStatus(r, 0, 'setup --method code');
  state.code = r.stdout.trim();
  console.log(`\n     ${state.code}\n`);
  console.log(indent(r.stderr.trim(), '   │ '));
  console.log(
    `   → backup.key written only now, mode ${(statSync(join(state.dir, 'backup.key')).mode & 0o777).toString(8)}.\n`,
  );
}

function encryptStep(state) {
  console.log(
    '4. Encrypt with two key slots: the 64-digit code, and a password (Argon2id, m = 64 MiB, t = 3, p = 4)',
  );
  const r = cli(
    state,
    [
      'encrypt',
      'chat-backup.bin',
      '-o',
      'chat-backup.e2ee',
      '--key-file',
      'backup.key',
      '--meta',
      'app=demo-chat',
      '--meta',
      'device=pixel-8',
      '--generation',
      '1',
    ],
    { env: { E2EE_BACKUP_PASSWORD: PASSWORD } },
  );
  expectStatus(r, 0, 'encrypt');
  state.encBytes = statSync(state.enc).size;
  state.timings.encrypt = r.seconds;
  console.log(
    `   → ${mb(state.encBytes)} in ${r.seconds.toFixed(2)} s (${rate(state.plainBytes, r.seconds)}; deflate on, Padmé padding)\n`,
  );
}

function inspectStep(state) {
  console.log('5. What the cloud can see (no key needed)');
  const r = cli(state, ['inspect', 'chat-backup.e2ee']);
  expectStatus(r, 0, 'inspect');
  console.log(`${indent(r.stdout, '   │ ')}\n`);
}

function decryptWithKeyStep(state) {
  console.log('6. Restore with the 64-digit code');
  const r = cli(state, ['decrypt', 'chat-backup.e2ee', '-o', 'restored-key.bin', '--key-file', 'backup.key']);
  expectStatus(r, 0, 'decrypt with the key');
  state.timings.decryptKey = r.seconds;
  const same = sha256(join(state.dir, 'restored-key.bin')) === state.plainHash;
  if (!same) expectStatus({ status: 'a different SHA-256', stderr: '' }, 0, 'decrypt with the key');
  console.log(
    `   → ${r.seconds.toFixed(2)} s (${rate(state.plainBytes, r.seconds)}); SHA-256 matches the original: ${state.plainHash.slice(0, 16)}…\n`,
  );
}

function decryptWithPasswordStep(state) {
  console.log('7. Restore with the password instead');
  const r = cli(state, ['decrypt', 'chat-backup.e2ee', '-o', 'restored-password.bin'], {
    env: { E2EE_BACKUP_PASSWORD: PASSWORD },
  });
  expectStatus(r, 0, 'decrypt with the password');
  state.timings.decryptPassword = r.seconds;
  const same = sha256(join(state.dir, 'restored-password.bin')) === state.plainHash;
  if (!same) expectStatus({ status: 'a different SHA-256', stderr: '' }, 0, 'decrypt with the password');
  console.log(
    `   → ${r.seconds.toFixed(2)} s including Argon2id (${rate(state.plainBytes, r.seconds)}); SHA-256 matches\n`,
  );
}

function wrongPasswordStep(state) {
  console.log('8. A wrong password is refused');
  const r = cli(state, ['decrypt', 'chat-backup.e2ee', '-o', 'should-not-exist.bin'], {
    env: { E2EE_BACKUP_PASSWORD: 'correct horse battery stapler' },
  });
  expectStatus(r, 2, 'decrypt with a wrong password');
  let leftover = true;
  try {
    statSync(join(state.dir, 'should-not-exist.bin'));
  } catch {
    leftover = false;
  }
  console.log(
    `   exit status ${r.status}${leftover ? ' — BUT AN OUTPUT FILE WAS LEFT' : ', no output file'}`,
  );
  console.log(`${indent(r.stderr, '   │ ')}\n`);
}

function typoStep(state) {
  console.log('9. A mistyped code is repaired (one wrong digit in group 7)');
  const digits = state.code.replace(/ /g, '');
  const i = 26; // digit 27, in group 7
  const typo = digits.slice(0, i) + (digits[i] === '7' ? '1' : '7') + digits.slice(i + 1);
  const typed = typo.match(/.{4}/g).join(' ');
  const file = join(state.dir, 'typed.key');
  writeFileSync(file, `${typed}\n`, { mode: 0o600 });
  console.log(`   typed.key: ${typed}`);
  const r = cli(state, ['decrypt', 'chat-backup.e2ee', '-o', 'restored-typo.bin', '--key-file', 'typed.key']);
  expectStatus(r, 0, 'decrypt with a mistyped code');
  console.log(indent(r.stderr, '   │ '));
  const same = sha256(join(state.dir, 'restored-typo.bin')) === state.plainHash;
  console.log(`   → exit status 0; SHA-256 ${same ? 'matches' : 'DIFFERS'}\n`);
}

function verifyStep(state) {
  console.log('10. Restore drill: verify decrypts everything to nowhere');
  const r = cli(state, ['verify', 'chat-backup.e2ee', '--key-file', 'backup.key']);
  expectStatus(r, 0, 'verify');
  console.log(`${indent(r.stdout, '   │ ')}\n`);
}

const VAULT_ACCOUNT = 'amara@example.org';

/** Starts `e2ee-backup vault serve` in the background; resolves once it prints its URL. */
async function vaultServeStep(state) {
  console.log('2. A key vault on loopback, with the embedded SQLite store');
  const args = ['vault', 'serve', '--port', '0', '--no-rate-limit', '--insecure-fast-kdf', '-q'];
  console.log(`   $ e2ee-backup ${args.join(' ')} &`);
  console.log(
    '     (--no-rate-limit and --insecure-fast-kdf only so that the lockout below runs in seconds)',
  );
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: state.dir,
    env: { ...process.env, E2EE_BACKUP_PASSWORD: undefined, XDG_CONFIG_HOME: join(state.dir, 'config') },
  });
  state.vault = child;
  state.vaultUrl = await new Promise((resolvePromise, reject) => {
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^(http:\/\/\S+)\n/.exec(out);
      if (m) resolvePromise(m[1]);
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.once('exit', (code) => reject(new Error(`vault serve exited ${code}: ${err}`)));
  });
  const mode = (statSync(join(state.dir, 'vault-keys.json')).mode & 0o777).toString(8);
  console.log(
    `   → listening on ${state.vaultUrl}; store vault.sqlite, secrets vault-keys.json (mode ${mode})\n`,
  );
}

function setupPasswordStep(state) {
  console.log(
    "3. Setup with a vault password on Amara's phone: a new backup key, kept by the vault behind a password",
  );
  const args = [
    'setup',
    '--method',
    'password',
    '--url',
    state.vaultUrl,
    '--account',
    VAULT_ACCOUNT,
    '--out',
    'phone.key',
  ];
  const weak = cli(state, args, { env: { E2EE_BACKUP_PASSWORD: 'amara2024!' } });
  expectStatus(weak, 1, 'setup with a weak password');
  console.log(`   exit status ${weak.status}, nothing registered, no phone.key`);
  console.log(indent(weak.stderr, '   │ '));
  console.log('   A stronger one (real Argon2id, m = 64 MiB, t = 3, p = 4):');
  const r = cli(state, args, { env: { E2EE_BACKUP_PASSWORD: PASSWORD } });
  expectStatus(r, 0, 'setup --method password');
  console.log(indent(r.stderr, '   │ '));
  console.log(
    `   → ${r.seconds.toFixed(2)} s. The server holds an OPAQUE record and the sealed key; it never saw the password.\n`,
  );
}

function backupRotationStep(state) {
  console.log(
    '11. The phone backs up twice into a folder, with phone.key: each is verified before the older one goes',
  );
  const store = 'backups';
  const first = cli(state, [
    'backup',
    'create',
    'chat-backup.bin',
    '--store',
    store,
    '--key-file',
    'phone.key',
  ]);
  expectStatus(first, 0, 'backup create (1)');
  console.log(indent(first.stdout, '   │ '));
  const oldName = first.stdout.split(':')[0];
  copyFileSync(join(state.dir, store, oldName), join(state.dir, 'stale-copy.e2ee')); // for step 13
  state.staleName = oldName;
  appendFileSync(state.plain, '{"id":-1,"chat":"chat-0","from":"Amara","text":"One more message 🎉"}\n');
  state.plainHash = sha256(state.plain);
  console.log('   (a day later, one more message)');
  const second = cli(state, [
    'backup',
    'create',
    'chat-backup.bin',
    '--store',
    store,
    '--key-file',
    'phone.key',
  ]);
  expectStatus(second, 0, 'backup create (2)');
  console.log(indent(second.stdout, '   │ '));
  const list = cli(state, ['backup', 'list', '--store', store]);
  expectStatus(list, 0, 'backup list');
  console.log(indent(list.stdout, '   │ '));
  const count = list.stdout.trim().split('\n').length;
  console.log(`   → ${count === 1 ? 'only the newest remains' : `BUT ${count} BACKUPS REMAIN`}\n`);
}

function newDeviceStep(state) {
  console.log('12. A new device that knows only the password: recover the key, restore the newest backup');
  const r = cli(
    state,
    ['vault', 'recover', '--url', state.vaultUrl, '--account', VAULT_ACCOUNT, '-o', 'new-device.key'],
    { env: { E2EE_BACKUP_PASSWORD: PASSWORD } },
  );
  expectStatus(r, 0, 'vault recover');
  const same =
    readFileSync(join(state.dir, 'new-device.key'), 'utf8') ===
    readFileSync(join(state.dir, 'phone.key'), 'utf8');
  console.log(
    `   → the code in new-device.key (mode 0600) is ${same ? "the phone's, from setup" : 'A DIFFERENT ONE'}`,
  );
  const restore = cli(state, [
    'backup',
    'restore',
    '--store',
    'backups',
    '-o',
    'restored-new-device.bin',
    '--key-file',
    'new-device.key',
    '--newest-seen',
    '1',
  ]);
  expectStatus(restore, 0, 'backup restore');
  const ok = sha256(join(state.dir, 'restored-new-device.bin')) === state.plainHash;
  console.log(`   → generation 1 restored; SHA-256 ${ok ? 'matches the latest chats' : 'DIFFERS'}\n`);
}

function rollbackStep(state) {
  console.log('13. The cloud serves the older backup again (a rollback): refused');
  mkdirSync(join(state.dir, 'rolled-back'));
  copyFileSync(join(state.dir, 'stale-copy.e2ee'), join(state.dir, 'rolled-back', state.staleName));
  const r = cli(state, [
    'backup',
    'restore',
    '--store',
    'rolled-back',
    '-o',
    'should-not-exist-2.bin',
    '--key-file',
    'new-device.key',
    '--newest-seen',
    '1',
  ]);
  expectStatus(r, 3, 'backup restore of a rolled-back backup');
  const leftover = existsSync(join(state.dir, 'should-not-exist-2.bin'));
  console.log(
    `   exit status ${r.status}${leftover ? ' — BUT AN OUTPUT FILE WAS LEFT' : ', no output file'}`,
  );
  console.log(`${indent(r.stderr, '   │ ')}\n`);
}

function lockoutStep(state) {
  console.log("14. Lockout, on a second account: 10 wrong passwords destroy the vault's copy of the key");
  const url = state.vaultUrl;
  const account = 'mallory-target@example.org';
  expectStatus(cli(state, ['keygen', '--out', 'second.key', '-q'], { show: false }), 0, 'keygen (second)');
  const reg = cli(
    state,
    [
      'vault',
      'register',
      '--url',
      url,
      '--account',
      account,
      '--key-file',
      'second.key',
      '--insecure-fast-kdf',
      '-q',
    ],
    { env: { E2EE_BACKUP_PASSWORD: PASSWORD } },
  );
  expectStatus(reg, 0, 'vault register (second)');
  for (let i = 1; i <= 10; i++) {
    const r = cli(state, ['vault', 'recover', '--url', url, '--account', account], {
      env: { E2EE_BACKUP_PASSWORD: `guess-${i}` },
      show: i === 1,
    });
    expectStatus(r, 2, `wrong guess ${i}`);
    if (i === 1 || i >= 9)
      console.log(indent(r.stderr, `   │ ${String(i).padStart(2)}: `).replace(/^ {3}/gm, '   '));
    if (i === 1) console.log('   │     …');
  }
  console.log('   The right password now:');
  const r = cli(state, ['vault', 'recover', '--url', url, '--account', account], {
    env: { E2EE_BACKUP_PASSWORD: PASSWORD },
  });
  expectStatus(r, 2, 'recover after the lockout');
  console.log(`   exit status ${r.status}`);
  console.log(`${indent(r.stderr, '   │ ')}\n`);
}

async function vaultStopStep(state) {
  const child = state.vault;
  state.vault = undefined;
  const code = await new Promise((resolvePromise) => {
    child.once('exit', (c) => resolvePromise(c));
    child.kill('SIGTERM');
  });
  console.log(`15. The vault stops cleanly on SIGTERM: exit status ${code}\n`);
}

const STEPS = [
  sampleStep,
  setupCodeStep,
  vaultServeStep,
  setupPasswordStep,
  encryptStep,
  inspectStep,
  decryptWithKeyStep,
  decryptWithPasswordStep,
  wrongPasswordStep,
  typoStep,
  verifyStep,
  backupRotationStep,
  newDeviceStep,
  rollbackStep,
  lockoutStep,
  vaultStopStep,
];

function summary(state) {
  const overhead = (state.encBytes / state.plainBytes - 1) * 100;
  console.log('Summary');
  console.log(`   plain backup      ${mb(state.plainBytes)}`);
  console.log(
    `   encrypted         ${mb(state.encBytes)} (${overhead >= 0 ? '+' : ''}${overhead.toFixed(1)} %: deflate saves more than the header, tags and padding cost)`,
  );
  console.log(
    `   encrypt           ${rate(state.plainBytes, state.timings.encrypt)} (${state.timings.encrypt.toFixed(2)} s, whole command)`,
  );
  console.log(
    `   decrypt, key      ${rate(state.plainBytes, state.timings.decryptKey)} (${state.timings.decryptKey.toFixed(2)} s)`,
  );
  console.log(
    `   decrypt, password ${rate(state.plainBytes, state.timings.decryptPassword)} (${state.timings.decryptPassword.toFixed(2)} s, Argon2id included)`,
  );
  console.log(`   total demo time   ${((performance.now() - state.started) / 1000).toFixed(1)} s`);
}

// ---------------------------------------------------------------------------------------------

ensureBuilt();
if (!existsSync(CLI)) {
  console.error(`${CLI} is missing: run npm run build`);
  process.exit(1);
}
const dir = mkdtempSync(join(tmpdir(), 'e2ee-demo-'));
const state = {
  dir,
  plain: join(dir, 'chat-backup.bin'),
  enc: join(dir, 'chat-backup.e2ee'),
  timings: {},
  started: performance.now(),
};
console.log(`e2ee-backup demo, in ${dir}\n`);
try {
  for (const step of STEPS) await step(state);
  summary(state);
} catch (e) {
  if (!(e instanceof DemoFailure)) throw e;
  console.error(`\n${e.message}`);
  process.exitCode = 1;
} finally {
  state.vault?.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
