// Installs the packed tarball into a fresh temporary project and uses it the way consumers do:
//   - CommonJS require() and ESM import under Node;
//   - without the optional peer @aws-sdk/client-s3: everything but e2ee-backup/s3 works, and that
//     entry's error names the missing package;
//   - TypeScript typechecking of a consumer under moduleResolution node16 (CommonJS and ESM files,
//     Node types only, no DOM) and bundler (DOM), with the shipped .d.ts checked too
//     (skipLibCheck off), using the repo's own TypeScript;
//   - an esbuild browser bundle of a consumer, run in headless Chromium (playwright), round trip;
//   - the Node examples (examples/node/*.mjs) under Bun and Deno, installed from npm into a
//     temporary folder outside the project; where they cannot be installed or run, this says they
//     are untested and does not fail.
// Run after `npm run build`; .ci/run and scripts/ci-cross-platform.sh call it.
// A runtime that installs and runs but fails an example fails the check.
// Options: --no-browser, --no-runtimes (skip those parts, e.g. on a machine without Chromium).
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.mjs';

const root = resolve(import.meta.dirname, '..');
const args = new Set(process.argv.slice(2));
const work = mkdtempSync(join(tmpdir(), 'e2ee-consumers-'));
const run = (cmd, argv, cwd, options = {}) =>
  execFileSync(cmd, argv, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...options });
const summary = [];
const ok = (what) => {
  summary.push(`ok        ${what}`);
  console.log(`${what}: ok`);
};
const untested = (what, why) => {
  summary.push(`UNTESTED  ${what} (${why})`);
  console.log(`${what}: UNTESTED — ${why}`);
};

try {
  const tarball = join(
    work,
    run('npm', ['pack', '--silent', '--pack-destination', work], root).trim().split('\n').pop(),
  );
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, version: '0.0.0' }),
  );
  run('npm', ['install', '--silent', '--no-audit', '--no-fund', tarball], app);

  // ── Node: CommonJS require() and ESM import ─────────────────────────────────────────────────
  const body = (lib) => `
    const key = ${lib}.generateBackupKey();
    const code = ${lib}.formatBackupKey(key);
    if (!/^([0-9a-f]{4} ){15}[0-9a-f]{4}$/.test(code)) throw new Error('bad code ' + code);
    const pt = new TextEncoder().encode('consumer check');
    const ct = await chunked.encryptChunked(${lib}.parseBackupKey(code), pt, { context: 'c' });
    const back = await chunked.decryptChunked(key, ct, { context: 'c' });
    if (new TextDecoder().decode(back) !== 'consumer check') throw new Error('round trip failed');
    if (wa.parseWhatsAppKey(code).length !== 32) throw new Error('e2ee-backup/whatsapp: key not read');
    try { await chunked.decryptChunked(new Uint8Array(32), ct, { context: 'c' }); throw new Error('wrong key accepted'); }
    catch (e) { if (!(e instanceof ${lib}.E2EEError) || e.code !== 'COMMITMENT_MISMATCH') throw e; }
    // The public API draws every salt itself; only the testing entry takes one.
    try { await chunked.encryptChunked(key, pt, { salt: new Uint8Array(24) }); throw new Error('salt accepted'); }
    catch (e) { if (!(e instanceof ${lib}.E2EEError) || e.code !== 'INVALID_ARGUMENT') throw e; }
    const fixed = await testing.encryptChunked(key, pt, { salt: new Uint8Array(24), backend: 'noble' });
    const again = await testing.encryptChunked(key, pt, { salt: new Uint8Array(24) });
    if (fixed.join() !== again.join()) throw new Error('the testing entry did not take the salt');
  `;
  writeFileSync(
    join(app, 'cjs.cjs'),
    `const lib = require('e2ee-backup'); const chunked = require('e2ee-backup/chunked'); const testing = require('e2ee-backup/testing'); const wa = require('e2ee-backup/whatsapp');
     (async () => { ${body('lib')} console.log('CommonJS require: ok'); })().catch((e) => { console.error(e); process.exit(1); });`,
  );
  writeFileSync(
    join(app, 'esm.mjs'),
    `import * as lib from 'e2ee-backup'; import * as chunked from 'e2ee-backup/chunked'; import * as testing from 'e2ee-backup/testing'; import * as wa from 'e2ee-backup/whatsapp';
     ${body('lib')} console.log('ESM import: ok');`,
  );
  process.stdout.write(run('node', ['cjs.cjs'], app));
  summary.push('ok        CommonJS require');
  process.stdout.write(run('node', ['esm.mjs'], app));
  summary.push('ok        ESM import');

  // ── e2ee-backup/s3's AWS SDK is an optional peer dependency: nothing else may need it ──────
  writeFileSync(
    join(app, 'no-sdk.mjs'),
    `import { createBackup, createMemoryStore, restoreLatest } from 'e2ee-backup/lifecycle';
     import { createRequire } from 'node:module';
     createRequire(import.meta.url)('e2ee-backup/lifecycle');
     const store = createMemoryStore();
     const key = new Uint8Array(32).fill(1);
     await createBackup(store, new TextEncoder().encode('no sdk'), { key, set: 'consumer' });
     const { stream } = await restoreLatest(store, { key });
     if (new TextDecoder().decode(await new Response(stream).arrayBuffer()) !== 'no sdk') throw new Error('round trip');
     let loaded = false;
     try { await import('e2ee-backup/s3'); loaded = true; }
     catch (e) { if (!String(e.message).includes('@aws-sdk/client-s3')) throw e; }
     if (loaded) throw new Error('e2ee-backup/s3 loaded although @aws-sdk/client-s3 is not installed');
     console.log('without @aws-sdk/client-s3: the lifecycle works (import and require), e2ee-backup/s3 names the missing package: ok');`,
  );
  process.stdout.write(run('node', ['no-sdk.mjs'], app));
  summary.push('ok        without the optional AWS SDK');

  // ── TypeScript: node16 (CommonJS .ts and ESM .mts, Node types, no DOM) and bundler (DOM) ────
  const consumerTs = `
    import {
      type Argon2idParams, type ChunkedReader, type ErrorCode, type KeyFormatError, type RandomAccessSource,
      DEFAULT_KDF_PARAMS, E2EEError, ERROR_CODES, backupKeyTypoCandidates, createDecryptStream,
      createEncryptStream, decryptChunked, deriveKeyFromPassword, encryptChunked, formatBackupKey,
      generateBackupKey, isE2EEError, isKeyFormatError, openChunked, parseBackupKey,
    } from 'e2ee-backup';
    import { CHUNK_SIZE } from 'e2ee-backup/chunked';
    import { E2EEError as ErrorsE2EEError } from 'e2ee-backup/errors';
    import { validateKdfParams } from 'e2ee-backup/kdf';
    import { parseBackupKey as parseFromKey } from 'e2ee-backup/key';
    import { decryptChunked as decryptOn, type TestChunkedOptions } from 'e2ee-backup/testing';
    import { type WhatsAppBackupInfo, decryptWhatsAppBackup, inspectWhatsAppBackup, parseWhatsAppKey } from 'e2ee-backup/whatsapp';

    export async function consumer(): Promise<string> {
      const key: Uint8Array = generateBackupKey();
      const code: string = formatBackupKey(key);
      const again: Uint8Array = parseFromKey(code);
      const params: Argon2idParams = { ...DEFAULT_KDF_PARAMS, t: 4 };
      validateKdfParams(params);
      const kek: Uint8Array = await deriveKeyFromPassword('pw', new Uint8Array(16), { m: 64, t: 1, p: 1 }, { allowWeak: true });
      const ct: Uint8Array = await encryptChunked(again, new Uint8Array(CHUNK_SIZE), { context: 'x' });
      const testOptions: TestChunkedOptions = { context: 'x', backend: 'noble' };
      const pt: Uint8Array = await decryptOn(kek.length === 32 ? key : kek, ct, testOptions);
      const source: RandomAccessSource = { size: ct.length, read: async (o, n) => ct.subarray(o, o + n) };
      const reader: ChunkedReader = await openChunked(key, source, { context: 'x' });
      const size: number = reader.plaintextSize;
      const enc: TransformStream<Uint8Array, Uint8Array> = createEncryptStream(key);
      const dec: TransformStream<Uint8Array, Uint8Array> = createDecryptStream(key);
      for (const { key: k, correction } of backupKeyTypoCandidates(code)) { const n: number = k.length + correction.position; void n; break; }
      try {
        parseBackupKey('nope');
      } catch (err) {
        if (isKeyFormatError(err)) { const e: KeyFormatError = err; const p: number | undefined = e.position; void p; }
        if (isE2EEError(err)) { const c: ErrorCode = err.code; const meaning: string = ERROR_CODES[c]; void meaning; }
        if (err instanceof E2EEError && err instanceof ErrorsE2EEError) { const m: string = err.message; void m; }
      }
      // @ts-expect-error a backup key code is a string
      parseBackupKey(42);
      // @ts-expect-error not an error code
      const bad: ErrorCode = 'NOT_A_CODE';
      // @ts-expect-error not a backend
      await decryptOn(key, ct, { backend: 'openssl' });
      // @ts-expect-error the public API takes no salt
      await encryptChunked(key, ct, { salt: new Uint8Array(24) });
      const pt2: Uint8Array = await decryptChunked(key, ct, { context: 'x' });
      const waInfo: WhatsAppBackupInfo = inspectWhatsAppBackup(ct);
      const wa = await decryptWhatsAppBackup(ct, parseWhatsAppKey(code), { maxOutputBytes: 1 });
      const waOut: ReadableStream<Uint8Array> = wa.stream;
      const waPayload: 'zlib' | 'zip' = wa.payload;
      void [pt, pt2, size, enc, dec, bad, waInfo, waOut, waPayload];
      return code;
    }
  `;
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const typeRoots = [join(root, 'node_modules', '@types')];
  writeFileSync(join(app, 'consumer.ts'), consumerTs);
  writeFileSync(join(app, 'consumer.mts'), consumerTs);
  const tsconfigs = {
    'node16 (CommonJS .ts + ESM .mts, Node types, no DOM)': {
      compilerOptions: {
        module: 'node16',
        moduleResolution: 'node16',
        target: 'es2022',
        lib: ['es2022'],
        types: ['node'],
        typeRoots,
        strict: true,
        noEmit: true,
        skipLibCheck: false,
      },
      files: ['consumer.ts', 'consumer.mts'],
    },
    'bundler (ESM, DOM, no Node types)': {
      compilerOptions: {
        module: 'esnext',
        moduleResolution: 'bundler',
        target: 'es2022',
        lib: ['es2022', 'dom'],
        types: [],
        strict: true,
        noEmit: true,
        skipLibCheck: false,
      },
      files: ['consumer.mts'],
    },
  };
  for (const [name, config] of Object.entries(tsconfigs)) {
    const file = `tsconfig.${name.split(' ')[0]}.json`;
    writeFileSync(join(app, file), JSON.stringify(config, null, 2));
    const r = spawnSync(process.execPath, [tsc, '-p', file], { cwd: app, encoding: 'utf8' });
    if (r.status !== 0) {
      console.error(r.stdout, r.stderr);
      throw new Error(`TypeScript consumer, moduleResolution ${name}: tsc failed`);
    }
    ok(`TypeScript typecheck, moduleResolution ${name}`);
  }

  // ── esbuild browser bundle, run in headless Chromium ───────────────────────────────────────
  if (args.has('--no-browser')) untested('esbuild browser bundle in Chromium', '--no-browser');
  else if (!existsSync(CHROMIUM)) untested('esbuild browser bundle in Chromium', `${CHROMIUM} is missing`);
  else await browserBundle(app);

  // ── Bun and Deno ───────────────────────────────────────────────────────────────────────────
  for (const f of ['file-to-file.mjs', 'streams.mjs', 'lifecycle.mjs'])
    copyFileSync(join(root, 'examples', 'node', f), join(app, f));
  if (args.has('--no-runtimes')) untested('Bun and Deno', '--no-runtimes');
  else otherRuntimes(app);
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(`\nconsumer checks:\n  ${summary.join('\n  ')}`);

async function browserBundle(app) {
  const { build } = await import('esbuild');
  const { chromium } = await import('playwright');
  writeFileSync(
    join(app, 'browser.mjs'),
    `import { createDecryptStream, createEncryptStream, deriveKeyFromPassword, formatBackupKey,
       generateBackupKey, isE2EEError, parseBackupKey } from 'e2ee-backup';
     async function main() {
       const key = parseBackupKey(formatBackupKey(generateBackupKey()));
       const data = crypto.getRandomValues(new Uint8Array(60000));
       const read = (s) => new Response(s).arrayBuffer().then((b) => new Uint8Array(b));
       const ct = await read(new Blob([data]).stream().pipeThrough(createEncryptStream(key, { context: 'b' })));
       const pt = await read(new Blob([ct]).stream().pipeThrough(createDecryptStream(key, { context: 'b' })));
       if (pt.length !== data.length || pt.some((b, i) => b !== data[i])) throw new Error('round trip differs');
       let refused = false;
       try { await read(new Blob([ct]).stream().pipeThrough(createDecryptStream(generateBackupKey(), { context: 'b' }))); }
       catch { refused = true; }
       if (!refused) throw new Error('wrong key accepted');
       const kek = await deriveKeyFromPassword('pw', new Uint8Array(16), { m: 64, t: 1, p: 1 }, { allowWeak: true });
       if (kek.length !== 32) throw new Error('argon2id');
       return 'ok ' + ct.length;
     }
     main().then((r) => { window.__result = r; }, (e) => { window.__result = 'error: ' + (isE2EEError(e) ? e.code : '') + ' ' + e; });`,
  );
  const result = await build({
    absWorkingDir: app,
    entryPoints: ['browser.mjs'],
    outfile: 'bundle.js',
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser', // a node: import anywhere in the package would fail the build here
    target: 'es2022',
    metafile: true,
    logLevel: 'error',
  });
  const bytes = Object.values(result.metafile.outputs)[0].bytes;
  writeFileSync(join(app, 'index.html'), '<!doctype html><script type="module" src="bundle.js"></script>');
  const server = createServer((req, res) => {
    const file = req.url === '/' ? 'index.html' : req.url === '/bundle.js' ? 'bundle.js' : undefined;
    if (!file) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': file.endsWith('.js') ? 'text/javascript' : 'text/html' });
    res.end(readFileSync(join(app, file)));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`http://127.0.0.1:${server.address().port}/`);
    await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 30_000 });
    const out = await page.evaluate(() => window.__result);
    if (!String(out).startsWith('ok ')) throw new Error(`browser bundle: ${out} ${errors.join('; ')}`);
    ok(`esbuild browser bundle (${(bytes / 1024).toFixed(1)} KiB minified) round trip in Chromium`);
  } finally {
    await browser.close();
    server.close();
  }
}

function otherRuntimes(app) {
  // Outside the project: a fixed temporary folder, reused by later runs.
  const prefix = join(tmpdir(), 'e2ee-backup-runtimes');
  const bin = (name) => join(prefix, 'node_modules', '.bin', name);
  if (!existsSync(bin('bun')) || !existsSync(bin('deno'))) {
    const r = spawnSync(
      'npm',
      ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--silent', 'bun', 'deno'],
      {
        encoding: 'utf8',
        timeout: 300_000,
      },
    );
    if (r.status !== 0)
      console.log(`npm install bun deno failed: ${(r.stderr || r.error || '').toString().trim()}`);
  }
  const runtimes = {
    Bun: (file) => [bin('bun'), [file]],
    Deno: (file) => [bin('deno'), ['run', '--allow-read', '--allow-write', '--allow-env', file]],
  };
  for (const [name, command] of Object.entries(runtimes)) {
    const [exe] = command('');
    if (!existsSync(exe)) {
      untested(name, 'it could not be installed from npm here');
      continue;
    }
    const version = spawnSync(exe, ['--version'], { encoding: 'utf8', timeout: 30_000 });
    if (version.status !== 0) {
      untested(
        name,
        `its binary does not run here: ${(version.stderr || version.error || '').toString().trim()}`,
      );
      continue;
    }
    const v = version.stdout
      .split('\n')[0]
      .trim()
      .replace(/ \(.*$/, '');
    for (const example of ['file-to-file.mjs', 'streams.mjs', 'lifecycle.mjs']) {
      const [cmd, argv] = command(example);
      const r = spawnSync(cmd, argv, {
        cwd: app,
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...process.env, NO_COLOR: '1' },
      });
      const good =
        r.status === 0 &&
        (example === 'streams.mjs'
          ? r.stdout.includes('decrypted SHA-256 matches') && r.stdout.includes('bytes ok')
          : example === 'lifecycle.mjs'
            ? (r.stdout.match(/: matches$/gm) ?? []).length === 3
            : r.stdout.includes('identical') && r.stdout.includes('WRONG_KEY'));
      if (good) ok(`${name} (${v}): examples/node/${example}`);
      else {
        // It installs and runs here, so a failure is a real incompatibility: fail the check.
        console.log(r.stdout, r.stderr);
        summary.push(`FAILED    ${name} (${v}): examples/node/${example} (exit ${r.status})`);
        process.exitCode = 1;
      }
    }
  }
}
