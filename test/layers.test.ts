// The layer rule of ARCHITECTURE.md: a module imports only from its own folder and from the
// folders of lower layers, never from a higher one or a peer. Read from the import graph of src/
// (static and dynamic relative imports), so that a new edge that breaks the map fails here.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '../src');
// Lowest first. Folders on one line are peers: neither imports the other.
const LAYERS = [
  ['errors.ts'],
  ['internal'],
  ['key'],
  ['primitives'],
  ['cobblestone'],
  ['container'],
  ['lifecycle', 'vault/opaque'],
  ['node', 'whatsapp', 'vault'],
  ['s3', 'vault/server'],
  ['index.ts', 'testing.ts', 'cli'],
];

/** The layer folder a file of src/ belongs to: the longest listed prefix of its path. */
function folderOf(file: string): string {
  const all = LAYERS.flat().sort((a, b) => b.length - a.length);
  const hit = all.find((f) => file === f || file.startsWith(`${f}/`));
  if (!hit) throw new Error(`src/${file} is in no layer of LAYERS: place its folder there`);
  return hit;
}
const rank = (folder: string) => LAYERS.findIndex((l) => l.includes(folder));

function edges(): [string, string][] {
  const out: [string, string][] = [];
  for (const name of readdirSync(SRC, { recursive: true, encoding: 'utf8' })) {
    if (!name.endsWith('.ts')) continue;
    const text = readFileSync(join(SRC, name), 'utf8');
    for (const [, spec] of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = relative(SRC, resolve(SRC, dirname(name), spec!)).replace(/\.js$/, '.ts');
      if (!target.startsWith('..')) out.push([name, target]);
    }
  }
  return out;
}

describe('layers', () => {
  it('no module imports from a higher layer or a peer folder', () => {
    const bad = edges()
      .map(([from, to]) => [from, to, folderOf(from), folderOf(to)] as const)
      .filter(([, , a, b]) => a !== b && rank(b) >= rank(a))
      .map(([from, to]) => `src/${from} imports src/${to}`);
    expect(bad).toEqual([]);
  });

  it('sees the graph (it found the engine imported by the container)', () => {
    expect(edges()).toContainEqual(['container/payload-streams.ts', 'cobblestone/message.ts']);
  });
});
