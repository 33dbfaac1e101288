// Bundles the example page's script with esbuild: `node examples/browser/build.mjs` (builds the
// package's dist/ first if needed), then `node examples/browser/serve.mjs` and open the URL.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ensureBuilt } from '../../scripts/ensure-built.mjs';

const here = dirname(fileURLToPath(import.meta.url));

/** Builds dist/ if stale, then examples/browser/dist/main.js; resolves to esbuild's metafile. */
export async function buildExample() {
  ensureBuilt();
  const result = await build({
    entryPoints: [join(here, 'main.js')],
    outfile: join(here, 'dist', 'main.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: true,
    metafile: true,
    logLevel: 'error',
  });
  return result.metafile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const meta = await buildExample();
  const out = Object.entries(meta.outputs).find(([f]) => f.endsWith('main.js'));
  console.log(`examples/browser/dist/main.js: ${out[1].bytes} bytes`);
}
