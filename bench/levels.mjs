// Deflate levels on the chat-like corpus: node:zlib raw deflate of independent 1 MiB blocks, as
// the container writes them (a block that does not shrink is stored), on one core. Prints input
// MB/s and the compression ratio per level, medians of interleaved runs, so that the default
// level is chosen on measurements. Writes the `levels` key of bench/results.json.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { writeCorpus } from './corpus.mjs';
import { saveResults } from './results.mjs';

const MIB = Number(process.env.BENCH_MIB ?? 64);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const LEVELS = (process.env.BENCH_LEVELS ?? '1,2,3,4,5,6,9').split(',').map(Number);
const BLOCK = 1 << 20;
const dir = existsSync('/dev/shm') ? '/dev/shm/e2ee-bench' : join(import.meta.dirname, '.data');
mkdirSync(dir, { recursive: true });
const file = join(dir, `corpus-${MIB}.bin`);
if (!existsSync(file) || statSync(file).size !== MIB * 2 ** 20) await writeCorpus(file, MIB * 2 ** 20);
const data = readFileSync(file);

function compress(level) {
  let out = 0;
  for (let off = 0; off < data.length; off += BLOCK) {
    const block = data.subarray(off, off + BLOCK);
    out += Math.min(deflateRawSync(block, { level }).length + 9, block.length + 5);
  }
  return out;
}

const times = Object.fromEntries(LEVELS.map((l) => [l, []]));
const sizes = {};
for (let r = 0; r < RUNS; r++)
  for (const l of LEVELS) {
    const t = performance.now();
    sizes[l] = compress(l);
    times[l].push(performance.now() - t);
  }
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const levels = {};
console.log(`${MIB} MiB chat-like corpus, 1 MiB blocks, node:zlib, one core, median of ${RUNS} runs`);
console.log('  level   MB/s   ratio   MB/s vs level 6   size vs level 6');
for (const l of LEVELS) {
  levels[l] = { mbps: data.length / 1e6 / (median(times[l]) / 1000), ratio: data.length / sizes[l] };
}
for (const l of LEVELS) {
  const { mbps, ratio } = levels[l];
  const six = levels[6] ?? levels[LEVELS[0]];
  console.log(
    `  ${String(l).padStart(5)} ${mbps.toFixed(0).padStart(6)} ${ratio.toFixed(3).padStart(7)} ${`${(mbps / six.mbps).toFixed(2)}×`.padStart(17)} ${`${((six.ratio / ratio) * 100).toFixed(1)} %`.padStart(17)}`,
  );
}
saveResults('levels', {
  date: new Date().toISOString(),
  node: process.version,
  sizeBytes: data.length,
  runs: RUNS,
  levels,
});
