// `npm run bench:cli`: times `e2ee-backup encrypt` and `decrypt` against age (X25519 recipient),
// `openssl enc -aes-256-ctr` and the bare node:crypto loop of bench/bare-loop.mjs (the most a
// one-thread loop over 16 KiB chunks reaches here, and the same with a sealing thread) on the
// same files in the same run, interleaved, and reports median MB/s, ratios to age and peak RSS
// (from /usr/bin/time -v) at 256 MiB and 1 GiB.
// Not a test: the machine is shared and noisy, so only ratios measured together mean anything.
//
// Environment: E2EE_BENCH_CLI (default dist/cli.js), E2EE_BENCH_RUNS (default 5, at least 3),
// E2EE_BENCH_SIZES_MIB (default "256,1024"; add 4096 for the flat-RSS check), E2EE_BENCH_CHAT_MIB
// (the compressed case, default 256),
// E2EE_BENCH_DIR (default /dev/shm when present, else the OS temp folder).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes, randomFillSync } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ensureBuilt } from '../scripts/ensure-built.mjs';
import { saveResults } from './results.mjs';

const root = resolve(import.meta.dirname, '..');
// E2EE_BENCH_CLI points at another build of the CLI (to compare two versions).
const cli = process.env.E2EE_BENCH_CLI ?? join(root, 'dist', 'cli.js');
const runs = Math.max(3, Number(process.env.E2EE_BENCH_RUNS ?? 5));
const sizesMiB = (process.env.E2EE_BENCH_SIZES_MIB ?? '256,1024').split(',').map(Number);
const base = process.env.E2EE_BENCH_DIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
const MiB = 2 ** 20;

function have(cmd, args = ['--version']) {
  return spawnSync(cmd, args, { stdio: 'ignore' }).error === undefined;
}
if (!existsSync('/usr/bin/time')) {
  console.error('bench:cli needs GNU time for peak RSS: apt-get install -y time');
  process.exit(1);
}
const hasAge = have('age') && have('age-keygen', ['-y', '/dev/null']);
const hasOpenssl = have('openssl', ['version']);
if (!hasAge) console.error('age not found, skipping it (Debian: apt-get install -y age)');

ensureBuilt();
const dir = mkdtempSync(join(base, 'e2ee-bench-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
process.on('SIGINT', () => process.exit(130));

// Credentials for the three tools.
const keyFile = join(dir, 'backup.key');
execFileSync('node', [cli, 'keygen', '--out', keyFile, '--quiet'], { stdio: 'ignore' });
let ageRecipient;
const ageKey = join(dir, 'age.key');
if (hasAge) {
  execFileSync('age-keygen', ['-o', ageKey], { stdio: 'ignore' });
  ageRecipient = execFileSync('age-keygen', ['-y', ageKey]).toString().trim();
}
const aesKey = randomBytes(32).toString('hex'); // openssl's and the bare loop's
const aesIv = randomBytes(16).toString('hex');

function writeRandomFile(path, bytes) {
  const fd = openSync(path, 'w');
  const buf = Buffer.allocUnsafe(4 * MiB);
  for (let left = bytes; left > 0; left -= buf.length)
    writeSync(fd, randomFillSync(buf), 0, Math.min(left, buf.length));
  closeSync(fd);
}

// Chat-like data for the compressed run: JSON lines in several scripts, ~30 % random "media".
function writeChatFile(path, bytes) {
  const fd = openSync(path, 'w');
  const words = [
    'hello',
    'bonjour',
    'hola',
    'привет',
    'こんにちは',
    'مرحبا',
    'see you at 8',
    'ok 👍',
    'on my way',
    'ça marche',
  ];
  let written = 0;
  let i = 0;
  while (written < bytes) {
    const lines = [];
    for (let k = 0; k < 2000; k++, i++)
      lines.push(
        JSON.stringify({
          id: i,
          from: `+4917${(i * 7919) % 100000}`,
          ts: 1700000000 + i * 37,
          text: words[i % 10].repeat(1 + (i % 5)),
        }),
      );
    const text = Buffer.from(`${lines.join('\n')}\n`);
    const media = randomBytes(Math.round((text.length * 3) / 7));
    for (const part of [text, media]) {
      const n = Math.min(part.length, bytes - written);
      writeSync(fd, part, 0, n);
      written += n;
    }
  }
  closeSync(fd);
}

/** Runs a command under /usr/bin/time -v; returns wall seconds, peak RSS in MiB and minor page faults. */
function timed(cmd, args) {
  const report = join(dir, 'time.txt');
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-v', '-o', report, cmd, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const text = readFileSync(report, 'utf8');
  const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(text)?.[1]);
  // Each minor fault is a fresh page touched: what reusing buffers saves.
  const faults = Number(/Minor \(reclaiming a frame\) page faults: (\d+)/.exec(text)?.[1]);
  return { seconds, rssMiB: rssKb / 1024, faults };
}

function tools(input, enc, dec) {
  const list = [
    {
      name: 'e2ee-backup',
      encrypt: () =>
        timed('node', [
          cli,
          'encrypt',
          input,
          '-o',
          enc,
          '-k',
          keyFile,
          '--compression',
          'none',
          '--no-padding',
          '-q',
        ]),
      decrypt: () => timed('node', [cli, 'decrypt', enc, '-o', dec, '-k', keyFile, '-q']),
    },
  ];
  if (hasAge)
    list.push({
      name: 'age',
      encrypt: () => timed('age', ['-r', ageRecipient, '-o', enc, input]),
      decrypt: () => timed('age', ['-d', '-i', ageKey, '-o', dec, enc]),
    });
  // The same AES-GCM chunks with nothing else: what one node:crypto thread reaches here.
  const bare = join(root, 'bench', 'bare-loop.mjs');
  list.push({
    name: 'node:crypto bare loop',
    encrypt: () => timed('node', [bare, 'encrypt', aesKey, input, enc]),
    decrypt: () => timed('node', [bare, 'decrypt', aesKey, enc, dec]),
  });
  // The same bytes, sealed on a worker thread while the main thread reads and writes. Its
  // output is decrypted by the one-thread loop (every tag checked) but not reported: it is the
  // row above's program.
  list.push({
    name: 'bare loop, 2 threads',
    encryptOnly: true,
    encrypt: () => timed('node', [bare, 'encrypt-threaded', aesKey, input, enc]),
    decrypt: () => timed('node', [bare, 'decrypt', aesKey, enc, dec]),
  });
  if (hasOpenssl)
    list.push({
      name: 'openssl aes-256-ctr',
      encrypt: () =>
        timed('openssl', ['enc', '-aes-256-ctr', '-K', aesKey, '-iv', aesIv, '-in', input, '-out', enc]),
      decrypt: () =>
        timed('openssl', ['enc', '-d', '-aes-256-ctr', '-K', aesKey, '-iv', aesIv, '-in', enc, '-out', dec]),
    });
  return list;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (x, d = 0) => (x === null ? '–' : x.toFixed(d));

const results = { date: new Date().toISOString(), node: process.version, dir, runs, sizes: {} };
console.log(`e2ee-backup CLI vs age vs openssl — ${runs} interleaved runs, medians, files in ${base}\n`);

for (const mib of sizesMiB) {
  const bytes = mib * MiB;
  const input = join(dir, `plain-${mib}.bin`);
  writeRandomFile(input, bytes);
  const enc = join(dir, 'out.enc');
  const dec = join(dir, 'out.dec');
  const list = tools(input, enc, dec);
  const samples = Object.fromEntries(
    list.map((t) => [
      t.name,
      { encrypt: [], decrypt: [], rss: { encrypt: [], decrypt: [] }, faults: { encrypt: [], decrypt: [] } },
    ]),
  );
  for (let run = 0; run < runs; run++) {
    // Rotate the order so that no tool always runs first (caches, turbo, neighbours).
    const order = list.map((_, i) => list[(i + run) % list.length]);
    for (const t of order) {
      const e = t.encrypt();
      const d = t.decrypt();
      if (statSync(dec).size !== bytes) throw new Error(`${t.name}: decrypted size differs`);
      samples[t.name].encrypt.push(e.seconds);
      samples[t.name].decrypt.push(d.seconds);
      samples[t.name].rss.encrypt.push(e.rssMiB);
      samples[t.name].rss.decrypt.push(d.rssMiB);
      samples[t.name].faults.encrypt.push(e.faults);
      samples[t.name].faults.decrypt.push(d.faults);
      rmSync(enc);
      rmSync(dec);
    }
    process.stderr.write(`  ${mib} MiB: run ${run + 1}/${runs} done\n`);
  }
  const row = {};
  for (const t of list) {
    const s = samples[t.name];
    row[t.name] = {
      encryptMBps: bytes / 1e6 / median(s.encrypt),
      decryptMBps: t.encryptOnly ? null : bytes / 1e6 / median(s.decrypt),
      peakRssMiB: {
        encrypt: Math.max(...s.rss.encrypt),
        decrypt: t.encryptOnly ? null : Math.max(...s.rss.decrypt),
      },
      secondsMedian: { encrypt: median(s.encrypt), decrypt: t.encryptOnly ? null : median(s.decrypt) },
      minorFaultsPerMiB: {
        encrypt: median(s.faults.encrypt) / mib,
        decrypt: t.encryptOnly ? null : median(s.faults.decrypt) / mib,
      },
    };
  }
  const age = row.age;
  console.log(`${mib} MiB of random data (e2ee-backup: --compression none --no-padding)`);
  console.log(
    '  tool                  encrypt MB/s  decrypt MB/s  × age enc  × age dec  peak RSS enc/dec (MiB)  faults/MiB enc/dec',
  );
  for (const [name, r] of Object.entries(row)) {
    const re = age ? r.encryptMBps / age.encryptMBps : Number.NaN;
    const rd = age && r.decryptMBps !== null ? r.decryptMBps / age.decryptMBps : null;
    r.ratioToAge = age ? { encrypt: re, decrypt: rd } : null;
    console.log(
      `  ${name.padEnd(20)}  ${fmt(r.encryptMBps).padStart(12)}  ${fmt(r.decryptMBps).padStart(12)}  ${fmt(re, 2).padStart(9)}  ${fmt(rd, 2).padStart(9)}  ${fmt(r.peakRssMiB.encrypt).padStart(6)} / ${fmt(r.peakRssMiB.decrypt).padEnd(14)}  ${fmt(r.minorFaultsPerMiB.encrypt)} / ${fmt(r.minorFaultsPerMiB.decrypt)}`,
    );
  }
  console.log();
  results.sizes[`${mib}MiB`] = row;
  rmSync(input);
}

// The compressed case: default settings (deflate, Padmé) on chat-like data, beside node:zlib's
// raw deflate at level 6 alone on one core (a fresh process, so its cost includes the same start-up
// and file reading), interleaved, medians of the runs.
{
  const mib = Number(process.env.E2EE_BENCH_CHAT_MIB ?? 256);
  const input = join(dir, 'chat.jsonl');
  writeChatFile(input, mib * MiB);
  const enc = join(dir, 'chat.e2ee');
  const dec = join(dir, 'chat.out');
  const zlibScript = `const z=require('node:zlib'),f=require('node:fs');f.createReadStream(process.argv[1],{highWaterMark:1<<20}).pipe(z.createDeflateRaw({level:6})).pipe(f.createWriteStream(process.argv[2]))`;
  const s = { encrypt: [], decrypt: [], zlib: [], rss: { encrypt: [], decrypt: [] } };
  for (let run = 0; run < runs; run++) {
    const e = timed('node', [cli, 'encrypt', input, '-o', enc, '-k', keyFile, '-q']);
    const d = timed('node', [cli, 'decrypt', enc, '-o', dec, '-k', keyFile, '-q']);
    const z = timed('node', ['-e', zlibScript, input, join(dir, 'chat.deflate')]);
    s.encrypt.push(e.seconds);
    s.decrypt.push(d.seconds);
    s.zlib.push(z.seconds);
    s.rss.encrypt.push(e.rssMiB);
    s.rss.decrypt.push(d.rssMiB);
    if (run < runs - 1) rmSync(dec);
  }
  const ratio = statSync(enc).size / statSync(input).size;
  const mbps = (xs) => (mib * MiB) / 1e6 / median(xs);
  const row = {
    sizeMiB: mib,
    compressedRatio: ratio,
    zlibRatio: statSync(join(dir, 'chat.deflate')).size / statSync(input).size,
    encryptMBps: mbps(s.encrypt),
    decryptMBps: mbps(s.decrypt),
    zlibLevel6MBps: mbps(s.zlib),
    peakRssMiB: { encrypt: Math.max(...s.rss.encrypt), decrypt: Math.max(...s.rss.decrypt) },
  };
  row.encryptToZlib = row.encryptMBps / row.zlibLevel6MBps;
  results.compressed = row;
  console.log(
    `${mib} MiB of chat-like data (70 % JSON lines, 30 % random media), default settings (deflate, Padmé), median of ${runs}`,
  );
  console.log(
    `  e2ee-backup: encrypt ${fmt(row.encryptMBps)} MB/s, decrypt ${fmt(row.decryptMBps)} MB/s (of plaintext), output ${fmt(ratio * 100)} % of input, peak RSS ${fmt(row.peakRssMiB.encrypt)} / ${fmt(row.peakRssMiB.decrypt)} MiB`,
  );
  console.log(
    `  node:zlib raw deflate level 6 alone, one core: ${fmt(row.zlibLevel6MBps)} MB/s, output ${fmt(row.zlibRatio * 100)} % — encrypt is ${fmt(row.encryptToZlib, 2)}× that\n`,
  );
  rmSync(input);
  rmSync(enc);
  rmSync(dec);
}

// The targets of issues 5 (CLI) and 7 (performance).
const big = results.sizes[`${Math.max(...sizesMiB)}MiB`]?.['e2ee-backup'];
const small = results.sizes[`${Math.min(...sizesMiB)}MiB`]?.['e2ee-backup'];
if (big) {
  const rssAll = Object.values(results.sizes).flatMap((r) => [
    r['e2ee-backup'].peakRssMiB.encrypt,
    r['e2ee-backup'].peakRssMiB.decrypt,
  ]);
  // The issues name 1 GiB for the speed targets; else the largest file run.
  const gib = results.sizes['1024MiB']?.['e2ee-backup'] ?? big;
  const vsAge = (dir, x) => (gib.ratioToAge ? gib.ratioToAge[dir] >= x : null);
  const checks = [
    ['#5 encrypt ≥ 0.5× age', vsAge('encrypt', 0.5), gib.ratioToAge?.encrypt],
    ['#5 decrypt ≥ 0.5× age', vsAge('decrypt', 0.5), gib.ratioToAge?.decrypt],
    ['#7 encrypt ≥ 1.0× age', vsAge('encrypt', 1), gib.ratioToAge?.encrypt],
    ['#7 decrypt ≥ 1.0× age', vsAge('decrypt', 1), gib.ratioToAge?.decrypt],
    [
      '#7 compressed encrypt ≥ 1.5× node:zlib level 6 alone',
      results.compressed.encryptToZlib >= 1.5,
      results.compressed.encryptToZlib,
    ],
    ['peak RSS ≤ 100 MiB, compression off', Math.max(...rssAll) <= 100, Math.max(...rssAll)],
    [
      'peak RSS ≤ 100 MiB, compressed encrypt and decrypt',
      Math.max(results.compressed.peakRssMiB.encrypt, results.compressed.peakRssMiB.decrypt) <= 100,
      Math.max(results.compressed.peakRssMiB.encrypt, results.compressed.peakRssMiB.decrypt),
    ],
    [
      'peak RSS flat from smallest to largest file (within 10 MiB)',
      Math.abs(big.peakRssMiB.encrypt - small.peakRssMiB.encrypt) <= 10 &&
        Math.abs(big.peakRssMiB.decrypt - small.peakRssMiB.decrypt) <= 10,
      null,
    ],
  ];
  results.targets = checks.map(([name, pass, value]) => ({ name, pass, value: value ?? null }));
  console.log('Targets:');
  for (const [name, pass, value] of checks)
    console.log(
      `  ${pass === null ? 'n/a ' : pass ? 'PASS' : 'FAIL'}  ${name}${value !== undefined && value !== null ? ` (${fmt(value, 2)})` : ''}`,
    );
}

// Merged into bench/results.json beside `npm run bench`'s keys.
saveResults('cli', results);
console.log('\nwrote the cli key of bench/results.json');
