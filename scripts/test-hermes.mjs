// npm run test:hermes — the library on Hermes, React Native's engine (issue #20).
// 1. Builds dist/ (the `react-native` build among it) when stale.
// 2. Bundles test/hermes/entry.mjs as Metro would: the package imported by its name with the
//    `react-native` export condition (esbuild, IIFE, es2019), then Babel's preset-env down to ES5,
//    which hermes-engine-cli 0.12's VM needs (../shared/notes/toolchain.md).
// 3. Runs it on that VM; every check must print `ok` and the run end with `HERMES OK`.
// 4. Compiles the same bundle to bytecode with the current `hermesc` from npm's hermes-compiler,
//    as a release build of an app does.
// HERMES_FULL_KDF=1 also times Argon2id at the default 64 MiB (minutes on Hermes).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { transformAsync } from '@babel/core';
import { build } from 'esbuild';
import { ensureBuilt } from './ensure-built.mjs';

const root = resolve(import.meta.dirname, '..');
const require = createRequire(import.meta.url);
const hermes = join(root, 'node_modules', 'hermes-engine-cli', `${process.platform}64-bin`, 'hermes');
const hermesc = (() => {
  const dir = join(root, 'node_modules', 'hermes-compiler', 'hermesc');
  const os = { linux: 'linux64-bin', darwin: 'osx-bin', win32: 'win64-bin' }[process.platform];
  return join(dir, os, process.platform === 'win32' ? 'hermesc.exe' : 'hermesc');
})();
for (const [name, path] of [
  ['hermes-engine-cli', hermes],
  ['hermes-compiler', hermesc],
])
  if (!existsSync(path)) {
    console.error(`${path} is missing: npm ci installs ${name} (a devDependency)`);
    process.exit(1);
  }

ensureBuilt();
const work = mkdtempSync(join(tmpdir(), 'e2ee-hermes-'));
try {
  // The package as an app sees it: node_modules/e2ee-backup, resolved through its exports map.
  mkdirSync(join(work, 'node_modules'));
  symlinkSync(root, join(work, 'node_modules', 'e2ee-backup'), 'dir');
  const bundled = await build({
    entryPoints: [join(root, 'test', 'hermes', 'entry.mjs')],
    bundle: true,
    write: false,
    format: 'iife',
    target: 'es2019',
    platform: 'neutral',
    conditions: ['react-native', 'import'],
    mainFields: ['react-native', 'browser', 'module', 'main'],
    nodePaths: [join(work, 'node_modules')],
    logLevel: 'error',
  });
  const modern = bundled.outputFiles[0].text;
  // The react-native build replaces hash-wasm (WebAssembly) with @noble/hashes' Argon2id.
  if (modern.includes('hash-wasm')) throw new Error('the react-native bundle holds hash-wasm');
  const es5 = await transformAsync(modern, {
    babelrc: false,
    configFile: false,
    compact: false,
    presets: [
      [
        require.resolve('@babel/preset-env'),
        {
          targets: { ie: 11 },
          // Hermes 0.12 has ** and typeof symbol; Babel's versions of them break BigInt and cost time.
          exclude: ['transform-exponentiation-operator', 'transform-typeof-symbol'],
        },
      ],
    ],
  });
  // Before the bundle: a record of every read of the Web stream and WebAssembly globals, which
  // the entry checks is empty once the library is imported (the globals stay undefined).
  const watch = ['ReadableStream', 'WritableStream', 'TransformStream', 'WebAssembly'];
  const prelude =
    (process.env.HERMES_FULL_KDF ? 'var HERMES_FULL_KDF = true;\n' : '') +
    `var WEB_GLOBALS_READ = [];\n${JSON.stringify(watch)}.forEach(function (name) {\n` +
    '  Object.defineProperty(globalThis, name, { configurable: true, get: function () { WEB_GLOBALS_READ.push(name); return undefined; } });\n' +
    '});\n';
  const files = { modern: join(work, 'bundle.es2019.js'), es5: join(work, 'bundle.es5.js') };
  writeFileSync(files.modern, modern);
  writeFileSync(files.es5, prelude + es5.code);
  console.log(
    `bundle: ${(modern.length / 1024).toFixed(0)} KiB (es2019), ${(es5.code.length / 1024).toFixed(0)} KiB (ES5)`,
  );

  const run = spawnSync(hermes, ['-w', files.es5], { encoding: 'utf8', timeout: 30 * 60_000 });
  process.stdout.write(run.stdout);
  process.stderr.write(run.stderr);
  const lines = run.stdout.trim().split('\n');
  // Failures below throw, as above: process.exit() would skip the `finally` that removes `work`.
  if (run.status !== 0 || lines.at(-1) !== 'HERMES OK' || lines.some((l) => l.startsWith('FAIL'))) {
    throw new Error(`hermes VM: exit ${run.status}, last line ${JSON.stringify(lines.at(-1))}`);
  }

  // The bundle the VM ran. (hermesc refuses the es2019 one: it has no async generators, which
  // Metro's Babel preset transforms away, as Babel did here.)
  const c = spawnSync(hermesc, ['-emit-binary', '-O', '-w', '-out', `${files.es5}.hbc`, files.es5], {
    encoding: 'utf8',
  });
  if (c.status !== 0) throw new Error(`hermesc failed:\n${c.stderr}`);
  console.log('hermesc compiled the same bundle to bytecode');
  console.log('test:hermes passed');
} finally {
  rmSync(work, { recursive: true, force: true });
}
