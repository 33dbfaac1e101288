import type { Metafile } from 'esbuild';
/** Builds dist/ if stale, then examples/browser/dist/main.js; resolves to esbuild's metafile. */
export function buildExample(): Promise<Metafile>;
