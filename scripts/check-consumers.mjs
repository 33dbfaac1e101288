// Installs the packed tarball into fresh temporary projects and uses it the way consumers do:
// CommonJS require() and ESM import. Run after `npm run build`; .ci/run calls it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'e2ee-consumers-'));
const run = (cmd, args, cwd) =>
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });

try {
  const tarball = join(
    work,
    run('npm', ['pack', '--silent', '--pack-destination', work], root).trim().split('\n').pop(),
  );
  const app = join(work, 'app');
  run('mkdir', ['-p', app], work);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, version: '0.0.0' }),
  );
  run('npm', ['install', '--silent', '--no-audit', '--no-fund', tarball], app);

  const body = (lib) => `
    const key = ${lib}.generateBackupKey();
    const code = ${lib}.formatBackupKey(key);
    if (!/^([0-9a-f]{4} ){15}[0-9a-f]{4}$/.test(code)) throw new Error('bad code ' + code);
    const pt = new TextEncoder().encode('consumer check');
    const ct = await chunked.encryptChunked(${lib}.parseBackupKey(code), pt, { context: 'c' });
    const back = await chunked.decryptChunked(key, ct, { context: 'c' });
    if (new TextDecoder().decode(back) !== 'consumer check') throw new Error('round trip failed');
    try { await chunked.decryptChunked(new Uint8Array(32), ct, { context: 'c' }); throw new Error('wrong key accepted'); }
    catch (e) { if (!(e instanceof ${lib}.E2EEError) || e.code !== 'COMMITMENT_MISMATCH') throw e; }
  `;
  writeFileSync(
    join(app, 'cjs.cjs'),
    `const lib = require('e2ee-backup'); const chunked = require('e2ee-backup/chunked');
     (async () => { ${body('lib')} console.log('CommonJS require: ok'); })().catch((e) => { console.error(e); process.exit(1); });`,
  );
  writeFileSync(
    join(app, 'esm.mjs'),
    `import * as lib from 'e2ee-backup'; import * as chunked from 'e2ee-backup/chunked';
     ${body('lib')} console.log('ESM import: ok');`,
  );
  process.stdout.write(run('node', ['cjs.cjs'], app));
  process.stdout.write(run('node', ['esm.mjs'], app));
} finally {
  rmSync(work, { recursive: true, force: true });
}
