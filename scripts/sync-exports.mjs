// Writes package.json's "exports" from tsup.config.ts's entry list, so the two never disagree.
// Run after adding an entry: `node scripts/sync-exports.mjs`.
import { readFileSync, writeFileSync } from 'node:fs';

const config = readFileSync(new URL('../tsup.config.ts', import.meta.url), 'utf8');
const block = config.match(/export const entry = \{([\s\S]*?)\};/)[1];
const names = [...block.matchAll(/['"]?([\w/-]+)['"]?\s*:\s*'src\//g)].map((m) => m[1]);
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const exportsMap = {};
for (const name of names) {
  const sub = name === 'index' ? '.' : `./${name}`;
  exportsMap[sub] = {
    import: { types: `./dist/${name}.d.ts`, default: `./dist/${name}.js` },
    require: { types: `./dist/${name}.d.cts`, default: `./dist/${name}.cjs` },
  };
}
exportsMap['./package.json'] = './package.json';
pkg.exports = exportsMap;
writeFileSync(new URL('../package.json', import.meta.url), `${JSON.stringify(pkg, null, 2)}\n`);
console.log(`exports: ${Object.keys(exportsMap).join(' ')}`);
