// The backup pipeline on a chat-like corpus: encrypt and decrypt with compression on and off,
// beside node:zlib's raw deflate alone (compression on) and the chunked layer alone (off), and
// peak RSS at two input sizes, which should be the same. Each run is a fresh process.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBuilt } from '../scripts/ensure-built.mjs';
import { writeCorpus } from './corpus.mjs';
import { saveResults } from './results.mjs';

ensureBuilt();
const SIZES_MIB = (process.env.BENCH_BACKUP_MIB ?? '64,256').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const dir = existsSync('/dev/shm') ? '/dev/shm/e2ee-bench' : join(import.meta.dirname, '.data');
mkdirSync(dir, { recursive: true });
// Peak RSS through GNU time when it is there: a child forked from this (large) process starts
// with this process's high-water mark in getrusage(), so its own maxRSS would be ours.
const runner = join(import.meta.dirname, 'backup-run.mjs');
const run = (c, f) => {
  if (!existsSync('/usr/bin/time'))
    return JSON.parse(execFileSync('node', [runner, c, f], { encoding: 'utf8' }));
  const r = spawnSync('/usr/bin/time', ['-f', '%M', 'node', runner, c, f], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${c} failed: ${r.stderr}`);
  const kib = Number(r.stderr.trim().split('\n').pop());
  return { ...JSON.parse(r.stdout), maxRssMiB: kib / 1024 };
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = {};

for (const mib of SIZES_MIB) {
  const plain = join(dir, `corpus-${mib}.bin`);
  if (!existsSync(plain) || statSync(plain).size !== mib * 2 ** 20) await writeCorpus(plain, mib * 2 ** 20);
  // Ciphertexts to decrypt, made once.
  const encDeflate = join(dir, `corpus-${mib}.deflate.e2ee`);
  const encNone = join(dir, `corpus-${mib}.none.e2ee`);
  const key = Buffer.alloc(32, 0x11);
  const lib = await import('../dist/node.js');
  await lib.encryptFile(plain, encDeflate, { key });
  await lib.encryptFile(plain, encNone, { key, compression: 'none' });
  const cases = [
    ['zlib', plain],
    ['encrypt-deflate', plain],
    ['chunked', plain],
    ['encrypt-none', plain],
    ['decrypt-deflate', encDeflate],
    ['decrypt-none', encNone],
  ];
  const times = Object.fromEntries(cases.map(([c]) => [c, []]));
  const rss = Object.fromEntries(cases.map(([c]) => [c, 0]));
  const runs = RUNS;
  for (let r = 0; r < runs; r++) {
    for (const [c, f] of cases) {
      const res = run(c.startsWith('decrypt') ? 'decrypt' : c, f);
      times[c].push(res.ms);
      rss[c] = Math.max(rss[c], res.maxRssMiB);
    }
  }
  const size = mib * 2 ** 20;
  const mbps = Object.fromEntries(cases.map(([c]) => [c, size / 1e6 / (median(times[c]) / 1000)]));
  results[`${mib}MiB`] = {
    mbps,
    peakRssMiB: rss,
    compressedRatio: size / statSync(encDeflate).size,
    ratios: {
      'encrypt-deflate / zlib alone': mbps['encrypt-deflate'] / mbps.zlib,
      'encrypt-none / chunked alone': mbps['encrypt-none'] / mbps.chunked,
      'decrypt-none / chunked alone': mbps['decrypt-none'] / mbps.chunked,
    },
  };
  console.log(
    `\n${mib} MiB chat-like corpus (median of ${runs} runs; input MB/s; compressed to 1/${results[`${mib}MiB`].compressedRatio.toFixed(2)})`,
  );
  for (const [c] of cases)
    console.log(
      `  ${c.padEnd(18)} ${mbps[c].toFixed(0).padStart(6)} MB/s   peak RSS ${rss[c].toFixed(0).padStart(4)} MiB`,
    );
  for (const [k, v] of Object.entries(results[`${mib}MiB`].ratios))
    console.log(`  ${k.padEnd(30)} ${v.toFixed(2)}×`);
  rmSync(encDeflate);
  rmSync(encNone);
}
saveResults('backup', { date: new Date().toISOString(), node: process.version, results });
