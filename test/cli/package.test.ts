// The two packages: the library (e2ee-backup) depends on the card's runtime packages only; the
// command line (e2ee-backup-cli, packages/cli) declares exactly the npm packages its bundle imports.
// scripts/check-install.mjs proves the same on real installs of the packed tarballs.
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  bundleImports,
  CLI_PACKAGE,
  checkCliPackage,
  cliPackageProblems,
} from '../../scripts/check-cli-package.mjs';
import { buildCli, CLI, ROOT } from './helpers.js';

type Deps = Record<string, string>;
interface Pkg {
  version: string;
  bin?: Deps;
  dependencies: Deps;
  peerDependencies: Deps;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
}
const read = (p: string): Pkg => JSON.parse(readFileSync(p, 'utf8'));
const rootPkg = read(join(ROOT, 'package.json'));
const cliPkg = read(join(CLI_PACKAGE, 'package.json'));

beforeAll(buildCli, 300_000);

describe('the library package', () => {
  it('depends only on @noble/*, hash-wasm and fflate, and has no bin', () => {
    expect(Object.keys(rootPkg.dependencies).sort()).toEqual([
      '@noble/ciphers',
      '@noble/curves',
      '@noble/hashes',
      'fflate',
      'hash-wasm',
    ]);
    expect(rootPkg.bin).toBeUndefined();
  });

  it('has hono, @hono/node-server and zxcvbn-ts as optional peers', () => {
    for (const name of [
      'hono',
      '@hono/node-server',
      '@zxcvbn-ts/core',
      '@zxcvbn-ts/language-common',
      '@zxcvbn-ts/language-en',
    ]) {
      expect(rootPkg.peerDependencies[name], name).toBeTypeOf('string');
      expect(rootPkg.peerDependenciesMeta[name], name).toEqual({ optional: true });
    }
  });
});

describe('the CLI package (packages/cli)', () => {
  it('its bin is the bundle the tests run', () => {
    expect(join(CLI_PACKAGE, cliPkg.bin!['e2ee-backup']!)).toBe(CLI);
    expect(relative(ROOT, CLI)).toBe(join('packages', 'cli', 'dist', 'cli.js'));
  });

  it('declares exactly the npm packages the bundle imports', () => {
    const imports = bundleImports(join(CLI_PACKAGE, 'dist'));
    // The command line's own packages are in the bundle's imports, and no library source is.
    expect(imports).toEqual(
      expect.arrayContaining(['cli-progress', 'hono', '@zxcvbn-ts/core', '@noble/hashes']),
    );
    expect(imports).not.toContain('e2ee-backup');
    expect(checkCliPackage()).toEqual([]);
  });

  it('the check catches a package missing, one too many, a range or version drift', () => {
    const imports = bundleImports(join(CLI_PACKAGE, 'dist'));
    const without = structuredClone(cliPkg);
    delete without.dependencies['cli-progress'];
    expect(cliPackageProblems(without, rootPkg, imports)).toEqual([
      'the bundle imports cli-progress, which packages/cli does not declare',
    ]);
    const extra = structuredClone(cliPkg);
    extra.dependencies['left-pad'] = '^1.0.0';
    expect(cliPackageProblems(extra, rootPkg, imports)).toEqual([
      'packages/cli declares left-pad, which the bundle never imports',
    ]);
    const drift = structuredClone(cliPkg);
    drift.dependencies['hono'] = '^3.0.0';
    drift.version = '9.9.9';
    expect(cliPackageProblems(drift, rootPkg, imports)).toEqual([
      `packages/cli wants hono@^3.0.0, the root hono@${rootPkg.peerDependencies['hono']}`,
      `packages/cli is version 9.9.9, the library ${rootPkg.version}`,
    ]);
    const required = structuredClone(cliPkg);
    required.peerDependenciesMeta['pg'] = { optional: false };
    expect(cliPackageProblems(required, rootPkg, imports)).toEqual([
      "packages/cli's peer pg is not optional",
    ]);
  });
});
