// Checks that packages/cli/package.json declares exactly the npm packages the CLI bundle
// (packages/cli/dist/*.js) imports, with the version ranges the root package.json gives the packages
// both name, and the same version: the bundle embeds the library's source, so the two packages move together.
// Run by `npm run build:cli` (so a package that would not run cannot be packed) and by the tests.
import { readdirSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
export const CLI_PACKAGE = join(root, 'packages', 'cli');

/** The npm packages that the ESM files in `dir` import (static, dynamic and re-exports). */
export function bundleImports(dir) {
  const found = new Set();
  const spec = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)["']([^"'\s]+)["']/g;
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.js')) continue;
    for (const [, s] of readFileSync(join(dir, f), 'utf8').matchAll(spec)) {
      if (s.startsWith('.') || s.startsWith('/') || isBuiltin(s)) continue;
      found.add(
        s
          .split('/')
          .slice(0, s.startsWith('@') ? 2 : 1)
          .join('/'),
      );
    }
  }
  return [...found].sort();
}

/** What is wrong with `cli` (packages/cli/package.json) given `imports` and `rootPkg`; [] when nothing. */
export function cliPackageProblems(cli, rootPkg, imports) {
  const problems = [];
  const deps = cli.dependencies ?? {};
  const peers = cli.peerDependencies ?? {};
  const declared = new Set([...Object.keys(deps), ...Object.keys(peers)]);
  for (const name of imports)
    if (!declared.has(name)) problems.push(`the bundle imports ${name}, which packages/cli does not declare`);
  for (const name of declared)
    if (!imports.includes(name))
      problems.push(`packages/cli declares ${name}, which the bundle never imports`);
  for (const name of Object.keys(peers))
    if (cli.peerDependenciesMeta?.[name]?.optional !== true)
      problems.push(`packages/cli's peer ${name} is not optional`);
  const rootRanges = { ...rootPkg.devDependencies, ...rootPkg.peerDependencies, ...rootPkg.dependencies };
  for (const [name, range] of Object.entries({ ...deps, ...peers }))
    if (name in rootRanges && rootRanges[name] !== range)
      problems.push(`packages/cli wants ${name}@${range}, the root ${name}@${rootRanges[name]}`);
  if (cli.version !== rootPkg.version)
    problems.push(`packages/cli is version ${cli.version}, the library ${rootPkg.version}`);
  if ('e2ee-backup' in deps || 'e2ee-backup' in peers)
    problems.push('packages/cli must embed the library, not depend on the e2ee-backup package');
  return problems;
}

export function checkCliPackage() {
  const read = (p) => JSON.parse(readFileSync(p, 'utf8'));
  return cliPackageProblems(
    read(join(CLI_PACKAGE, 'package.json')),
    read(join(root, 'package.json')),
    bundleImports(join(CLI_PACKAGE, 'dist')),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const problems = checkCliPackage();
  for (const p of problems) console.error(`check-cli-package: ${p}`);
  if (problems.length) process.exit(1);
}
