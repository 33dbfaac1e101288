// Writes the test vectors in vectors/, or checks that they are exactly what the code generates.
//
//   node scripts/vectors/generate.mjs            writes vectors/*_test.json  (npm run vectors:generate)
//   node scripts/vectors/generate.mjs --check    regenerates into a temporary folder and fails on
//                                                any byte difference          (npm run vectors:check)
//   node scripts/vectors/generate.mjs --out DIR  writes into DIR
//
// Deterministic: see determinism.mjs. Prints the number of tests per flag of each file.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ensureBuilt } from '../ensure-built.mjs';
import { toJson } from './common.mjs';
import { containerFile } from './container.mjs';
import { installDeterminism } from './determinism.mjs';
import { kdfFile } from './kdf.mjs';
import { keyCodeFile } from './keycodes.mjs';

const root = resolve(import.meta.dirname, '..', '..');
const vectorsDir = join(root, 'vectors');

export const FILES = {
  'container_v1_test.json': containerFile,
  'backup_key_code_test.json': keyCodeFile,
  'kdf_test.json': kdfFile,
};

/** Generates every file into `dir`; returns their documents by name. */
export async function generate(dir) {
  ensureBuilt();
  const lib = await import(join(root, 'dist', 'index.js'));
  const restore = installDeterminism();
  const docs = {};
  try {
    for (const [name, make] of Object.entries(FILES)) docs[name] = await make(lib);
  } finally {
    restore();
  }
  for (const [name, doc] of Object.entries(docs)) writeFileSync(join(dir, name), toJson(doc));
  return docs;
}

function summary(docs) {
  const lines = [];
  for (const [name, doc] of Object.entries(docs)) {
    const tests = doc.testGroups.flatMap((g) => g.tests);
    const valid = tests.filter((t) => t.result === 'valid').length;
    lines.push(`${name}: ${tests.length} tests (${valid} valid, ${tests.length - valid} invalid)`);
    const perFlag = new Map();
    for (const t of tests) for (const f of t.flags) perFlag.set(f, (perFlag.get(f) ?? 0) + 1);
    for (const [flag, n] of [...perFlag].sort((a, b) => a[0].localeCompare(b[0])))
      lines.push(`  ${flag.padEnd(24)} ${String(n).padStart(4)}`);
  }
  return lines.join('\n');
}

/** Markdown tables of the flags of each file, for SPEC.md Appendix A (`--appendix`). */
function appendixTables(docs) {
  const out = [];
  for (const [name, doc] of Object.entries(docs)) {
    const tests = doc.testGroups.flatMap((g) => g.tests);
    out.push(
      `\n${name}:\n`,
      '| flag | tests | expected | pins | what it tests |',
      '| --- | --- | --- | --- | --- |',
    );
    for (const [flag, note] of Object.entries(doc.notes)) {
      const mine = tests.filter((t) => t.flags.includes(flag));
      const outcomes = [...new Set(mine.map((t) => (t.result === 'valid' ? 'valid' : `\`${t.error}\``)))];
      const pins = note.links.map((l) => l.replace('SPEC.md ', '')).join(', ');
      out.push(`| \`${flag}\` | ${mine.length} | ${outcomes.join(', ')} | ${pins} | ${note.description} |`);
    }
  }
  return out.join('\n');
}

async function main(argv) {
  if (argv.includes('--appendix')) {
    const dir = mkdtempSync(join(tmpdir(), 'e2ee-vectors-'));
    try {
      console.log(appendixTables(await generate(dir)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return;
  }
  if (argv.includes('--check')) {
    const dir = mkdtempSync(join(tmpdir(), 'e2ee-vectors-'));
    try {
      const docs = await generate(dir);
      console.log(summary(docs));
      const stale = [];
      for (const name of Object.keys(FILES)) {
        let committed;
        try {
          committed = readFileSync(join(vectorsDir, name));
        } catch {
          stale.push(`${name}: missing from vectors/`);
          continue;
        }
        const fresh = readFileSync(join(dir, name));
        if (!committed.equals(fresh)) stale.push(`${name}: ${describeDifference(committed, fresh)}`);
      }
      if (stale.length) {
        console.error(
          `\nvectors/ differs from what the code generates:\n  ${stale.join('\n  ')}\n` +
            'If the change is intended, run `npm run vectors:generate` and review the diff.',
        );
        process.exitCode = 1;
      } else console.log('\nvectors/ matches the generator byte for byte.');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return;
  }
  const at = argv.indexOf('--out');
  const dir = at >= 0 ? resolve(argv[at + 1]) : vectorsDir;
  const docs = await generate(dir);
  console.log(summary(docs));
  console.log(`\nwritten to ${dir}`);
}

/** Where two versions of a file first differ, by test. */
function describeDifference(a, b) {
  const x = a.toString('utf8');
  const y = b.toString('utf8');
  let i = 0;
  while (i < x.length && x[i] === y[i]) i++;
  const ids = x.slice(0, i).match(/"tcId": \d+/g);
  return `first difference at byte ${i}${ids ? ` (in or after ${ids.at(-1).replace('"tcId": ', 'tcId ')})` : ''}`;
}

if (import.meta.url === `file://${process.argv[1]}`) await main(process.argv.slice(2));
