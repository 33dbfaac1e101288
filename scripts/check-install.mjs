// The lean install, proved the way an app and a user install the two packages (issue 18):
//   - the library's packed tarball, installed alone in an empty project, brings exactly
//     e2ee-backup, @noble/ciphers, @noble/curves, @noble/hashes, hash-wasm and fflate, at most
//     8,000,000 bytes of node_modules (apparent size, as `du -sb` counts), and no installed package
//     has an install script; every entry that needs no optional peer imports and requires; the
//     entries that do (vault/server: hono; s3: the AWS SDK; the default password check: zxcvbn-ts)
//     fail naming what to install; with hono and @hono/node-server added, a vault server starts;
//   - the CLI's packed tarball (e2ee-backup-cli, which embeds the library) installed alone: its
//     `e2ee-backup` bin prints the version and does a key-only round trip, and `npx` with the
//     tarball (as `npx e2ee-backup-cli` from the registry) runs it; no install scripts either.
// Both tarballs come from `npm pack`, whose prepack builds them. Needs the npm registry (or cache).
// .ci/run calls it with the package checks; it prints the figures.
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const LIBRARY_PACKAGES = [
  '@noble/ciphers',
  '@noble/curves',
  '@noble/hashes',
  'e2ee-backup',
  'fflate',
  'hash-wasm',
];
const MAX_BYTES = 8_000_000;
const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall'];

const work = mkdtempSync(join(tmpdir(), 'e2ee-install-'));
const run = (cmd, argv, cwd) =>
  execFileSync(cmd, argv, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? 'ok    ' : 'FAILED'}  ${what}`);
  if (!ok) failures.push(what);
};

/** Every installed package (at any depth): its name, folder and package.json. */
function installed(nodeModules) {
  const found = [];
  for (const e of readdirSync(nodeModules, { withFileTypes: true })) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const dirs = e.name.startsWith('@')
      ? readdirSync(join(nodeModules, e.name)).map((n) => join(nodeModules, e.name, n))
      : [join(nodeModules, e.name)];
    for (const dir of dirs) {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      found.push({ name: pkg.name, dir, pkg });
      const nested = join(dir, 'node_modules');
      if (lstatSync(nested, { throwIfNoEntry: false })?.isDirectory()) found.push(...installed(nested));
    }
  }
  return found;
}

/** Apparent size in bytes, as `du -sb`: every file, link and folder, each inode once. */
function apparentSize(path, seen = new Set()) {
  const st = lstatSync(path);
  if (seen.has(st.ino)) return 0;
  seen.add(st.ino);
  let n = st.size;
  if (st.isDirectory()) for (const e of readdirSync(path)) n += apparentSize(join(path, e), seen);
  return n;
}

/** Packages that would run a script when installed (npm runs `node-gyp rebuild` for a binding.gyp). */
function withInstallScripts(packages) {
  return packages
    .filter(
      ({ dir, pkg }) =>
        INSTALL_SCRIPTS.some((s) => pkg.scripts?.[s]) ||
        lstatSync(join(dir, 'binding.gyp'), { throwIfNoEntry: false }) !== undefined,
    )
    .map(({ name }) => name);
}

/** A new empty project with `tarball` installed the way an app would. */
function installInto(name, tarball) {
  const app = join(work, name);
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name, private: true, version: '0.0.0' }));
  run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts=false', tarball], app);
  const packages = installed(join(app, 'node_modules'));
  const bytes = apparentSize(join(app, 'node_modules'));
  return { app, packages, bytes };
}

const figures = [];
const figure = (line) => {
  console.log(line);
  figures.push(line);
};
try {
  const pack = (dir) =>
    join(work, run('npm', ['pack', '--silent', '--pack-destination', work], dir).trim().split('\n').pop());
  const libTarball = pack(root);
  const cliTarball = pack(join(root, 'packages', 'cli'));

  // ── The library, as an app installs it ───────────────────────────────────────────────────────
  const lib = installInto('app', libTarball);
  const names = lib.packages.map((p) => p.name).sort();
  figure(`library (e2ee-backup): ${names.length} packages, ${lib.bytes} bytes`);
  check(
    names.join() === LIBRARY_PACKAGES.join(),
    `the library installs exactly ${LIBRARY_PACKAGES.join(', ')} (got ${names.join(', ')})`,
  );
  check(lib.bytes <= MAX_BYTES, `node_modules is ${lib.bytes} bytes, at most ${MAX_BYTES}`);
  const libScripts = withInstallScripts(lib.packages);
  check(libScripts.length === 0, `no install scripts (${libScripts.join(', ') || 'none'})`);

  // Every entry, ESM and CommonJS; the optional peers' entries fail naming the package.
  const entries = Object.keys(rootPkg.exports)
    .filter((e) => e !== './package.json')
    .map((e) => `e2ee-backup${e.slice(1)}`);
  const needs = { 'e2ee-backup/vault/server': 'hono', 'e2ee-backup/s3': '@aws-sdk/client-s3' };
  writeFileSync(
    join(lib.app, 'entries.mjs'),
    `import { createRequire } from 'node:module';
     const require = createRequire(import.meta.url);
     const needs = ${JSON.stringify(needs)};
     for (const entry of ${JSON.stringify(entries)}) {
       for (const [how, load] of [['import', () => import(entry)], ['require', async () => require(entry)]]) {
         let error;
         try { await load(); } catch (e) { error = e; }
         const missing = needs[entry];
         if (missing && !(error && String(error.message).includes(missing)))
           throw new Error(how + ' ' + entry + ': expected an error naming ' + missing + ', got ' + error);
         if (!missing && error) throw error;
       }
     }
     const { passwordWeakness, createBackup, createMemoryStore, restoreLatest } = await import('e2ee-backup/lifecycle');
     const err = await passwordWeakness('Vq8#tL2!mZr9@wXk').then(() => undefined, (e) => e);
     if (err?.code !== 'VAULT_UNAVAILABLE' || !err.message.includes('@zxcvbn-ts/core'))
       throw new Error('passwordWeakness without zxcvbn-ts: ' + err);
     const store = createMemoryStore();
     const key = new Uint8Array(32).fill(7);
     await createBackup(store, new TextEncoder().encode('lean'), { key, set: 'install' });
     const { stream } = await restoreLatest(store, { key });
     if (new TextDecoder().decode(await new Response(stream).arrayBuffer()) !== 'lean') throw new Error('round trip');`,
  );
  run('node', ['entries.mjs'], lib.app);
  check(true, `${entries.length} entries import and require; vault/server names hono, s3 the AWS SDK`);
  check(
    true,
    'the default password check names the zxcvbn-ts packages (VAULT_UNAVAILABLE); a backup round trip',
  );

  // The vault server once its optional peers are installed beside the library.
  const peers = ['hono', '@hono/node-server'].map((p) => `${p}@${rootPkg.peerDependencies[p]}`);
  run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts=false', ...peers], lib.app);
  writeFileSync(
    join(lib.app, 'server.mjs'),
    `import { createMemoryVaultStore, startVaultServer } from 'e2ee-backup/vault/server';
     const vault = await startVaultServer({ store: createMemoryVaultStore(), keyFile: 'vault-keys.json', onNotice() {} });
     const res = await fetch(vault.url + '/nowhere');
     await vault.close();
     if (res.status !== 404) throw new Error('vault server answered ' + res.status);`,
  );
  run('node', ['server.mjs'], lib.app);
  check(true, `with ${peers.join(' and ')} installed, e2ee-backup/vault/server starts and answers`);

  // ── The command line, as a user installs it ──────────────────────────────────────────────────
  const cli = installInto('cli', cliTarball);
  figure(`CLI (e2ee-backup-cli): ${cli.packages.length} packages, ${cli.bytes} bytes`);
  check(
    !cli.packages.some((p) => p.name === 'e2ee-backup'),
    'the CLI embeds the library: no e2ee-backup package installed beside it',
  );
  const cliScripts = withInstallScripts(cli.packages);
  check(cliScripts.length === 0, `the CLI: no install scripts (${cliScripts.join(', ') || 'none'})`);
  const version = run('npx', ['--no-install', 'e2ee-backup', '--version'], cli.app).trim();
  check(version === rootPkg.version, `npx e2ee-backup --version prints ${version}`);
  const inCli = (...argv) => run('npx', ['--no-install', 'e2ee-backup', ...argv], cli.app);
  writeFileSync(join(cli.app, 'plain.txt'), 'a key-only round trip through the installed bin\n'.repeat(1000));
  inCli('keygen', '--json', '--out', 'backup.key', '-q');
  inCli('encrypt', 'plain.txt', '-o', 'plain.e2ee', '--key-file', 'backup.key', '-q');
  inCli('decrypt', 'plain.e2ee', '-o', 'back.txt', '--key-file', 'backup.key', '-q');
  check(
    readFileSync(join(cli.app, 'back.txt')).equals(readFileSync(join(cli.app, 'plain.txt'))),
    'keygen, encrypt, decrypt from the installed bin: the same bytes back',
  );
  // A package whose one bin is named otherwise: `npx <package>` runs that bin, as `npx e2ee-backup-cli`
  // will from the registry (an absolute path alone would be taken for a command, hence file:).
  const empty = join(work, 'npx');
  mkdirSync(empty);
  const viaNpx = run('npx', ['--yes', `file:${cliTarball}`, '--version'], empty).trim();
  check(viaNpx === rootPkg.version, `npx <the CLI's tarball> --version prints ${viaNpx}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(`\ninstall figures:\n  ${figures.join('\n  ')}`);
if (failures.length) {
  console.error(`\ncheck-install: ${failures.length} check(s) failed`);
  process.exit(1);
}
