// `npm run bench:cli`: times `e2ee-backup encrypt` and `decrypt` (compression off, and the defaults
// on the same incompressible file) against age (X25519 recipient),
// `openssl enc -aes-256-ctr` and the bare node:crypto loop of bench/bare-loop.mjs (the most a
// one-thread loop over 16 KiB chunks reaches here, and the same with a sealing thread) on the
// same files in the same run, interleaved, and reports median MB/s, ratios to age and peak RSS
// (from /usr/bin/time -v) at 256 MiB and 1 GiB.
// Not a test: the machine is shared and noisy, so only ratios measured together mean anything.
//
// Environment: E2EE_BENCH_CLI (default packages/cli/dist/cli.js), E2EE_BENCH_RUNS (default 5, at
// least 3), E2EE_BENCH_SIZES_MIB (default "256,1024"; add 4096 for the flat-RSS check), E2EE_BENCH_CHAT_MIB
// (the compressed case, default 256), E2EE_BENCH_MIXED_MIB (the mixed tar, default 256),
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
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CLI, ensureBuilt } from '../scripts/ensure-built.mjs';
import { writeCorpus } from './corpus.mjs';
import { saveResults } from './results.mjs';

const root = resolve(import.meta.dirname, '..');
// E2EE_BENCH_CLI points at another build of the CLI (to compare two versions).
const cli = process.env.E2EE_BENCH_CLI ?? CLI;
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
const hasZstd = have('zstd');
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
  // CPU seconds (user + system): on a machine shared with other work, wall time includes waiting
  // for a core, which swamps the program's own cost (docs/performance.md); CPU time does not.
  const num = (label) => Number(new RegExp(`${label}: ([\\d.]+)`).exec(text)?.[1]);
  const cpu = num('User time \\(seconds\\)') + num('System time \\(seconds\\)');
  return { seconds, rssMiB: rssKb / 1024, faults, cpu, voluntarySwitches: num('Voluntary context switches') };
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
    {
      // The defaults (deflate, Padmé) on the same incompressible bytes: the cost of asking to compress.
      name: 'e2ee-backup defaults',
      encrypt: () => timed('node', [cli, 'encrypt', input, '-o', enc, '-k', keyFile, '-q']),
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

// A virtual machine's free page reporting (Linux's page_reporting, under virtio_balloon) hands
// freed memory back to the host; a page reused after that costs the host a fault of its own, paid
// in the system time of whoever writes to it next. With min_free_ms at 0 (this project's machine)
// every deleted output file goes back at once: 1.6-1.9 times the system time of a 1 GiB run, and part
// of why runs of one file differ (docs/performance.md, "Free page reporting"). Reported beside
// the results.
function pageReporting() {
  const at = '/sys/module/page_reporting/parameters';
  const read = (name) => {
    try {
      return Number(readFileSync(join(at, name), 'utf8').trim());
    } catch {
      return null;
    }
  };
  // The module's parameters exist on kernels without a reporting device too (the order then
  // reads as the kernel's maximum or as -1 unsigned): look for the balloon driver as well.
  if (!existsSync('/sys/bus/virtio/drivers/virtio_balloon')) return null;
  const order = read('page_reporting_order');
  if (order === null || !(order >= 0 && order <= 30)) return null;
  // min_free_ms is this machine's kernel's; a mainline kernel waits a fixed short delay instead.
  return { order, minFreeMs: read('min_free_ms') };
}

// The 1, 5 and 15 minute load averages, as `uptime` shows them (a string: one line in results.json).
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
// Spread of a tool's runs: slowest over fastest, minus one (0.25 = the slowest took 25 % longer).
const spread = (xs) => Math.max(...xs) / Math.min(...xs) - 1;
const results = {
  date: new Date().toISOString(),
  node: process.version,
  dir,
  runs,
  loadAverage: { start: load() },
  pageReporting: pageReporting(),
  sizes: {},
};
console.log(
  `e2ee-backup CLI vs age vs openssl — Node ${process.version}, ${runs} interleaved runs, medians, files in ${base}, load average ${load()}\n`,
);
if (results.pageReporting) {
  const { order, minFreeMs } = results.pageReporting;
  const after = minFreeMs === null ? "after the kernel's delay" : `after ${minFreeMs} ms`;
  const warn = minFreeMs === null || minFreeMs < 60_000;
  console.log(
    `free page reporting: free blocks of 2^${order} pages go back to the host ${after}${warn ? ' — runs will vary; docs/performance.md, "Free page reporting"' : ''}\n`,
  );
}

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
      {
        encrypt: [],
        decrypt: [],
        rss: { encrypt: [], decrypt: [] },
        faults: { encrypt: [], decrypt: [] },
        cpu: { encrypt: [], decrypt: [] },
        switches: { encrypt: [], decrypt: [] },
      },
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
      samples[t.name].cpu.encrypt.push(e.cpu);
      samples[t.name].cpu.decrypt.push(d.cpu);
      samples[t.name].switches.encrypt.push(e.voluntarySwitches);
      samples[t.name].switches.decrypt.push(d.voluntarySwitches);
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
      spread: { encrypt: spread(s.encrypt), decrypt: t.encryptOnly ? null : spread(s.decrypt) },
      cpuSecondsMedian: {
        encrypt: median(s.cpu.encrypt),
        decrypt: t.encryptOnly ? null : median(s.cpu.decrypt),
      },
      voluntarySwitchesMedian: {
        encrypt: median(s.switches.encrypt),
        decrypt: t.encryptOnly ? null : median(s.switches.decrypt),
      },
      minorFaultsPerMiB: {
        encrypt: median(s.faults.encrypt) / mib,
        decrypt: t.encryptOnly ? null : median(s.faults.decrypt) / mib,
      },
      // Every run's wall seconds, in run order, for anyone who wants another estimator.
      seconds: { encrypt: s.encrypt, decrypt: t.encryptOnly ? null : s.decrypt },
    };
  }
  const age = row.age;
  const bare = row['node:crypto bare loop'];
  console.log(
    `${mib} MiB of random data (e2ee-backup: --compression none --no-padding; "defaults": deflate, Padmé)`,
  );
  console.log(
    '  tool                  encrypt MB/s  decrypt MB/s  × age enc/dec  × bare enc/dec  × bare CPU enc/dec  spread enc/dec  peak RSS enc/dec (MiB)  faults/MiB enc/dec  vol. switches enc/dec',
  );
  for (const [name, r] of Object.entries(row)) {
    const re = age ? r.encryptMBps / age.encryptMBps : Number.NaN;
    const rd = age && r.decryptMBps !== null ? r.decryptMBps / age.decryptMBps : null;
    r.ratioToAge = age ? { encrypt: re, decrypt: rd } : null;
    r.ratioToBare = {
      encrypt: r.encryptMBps / bare.encryptMBps,
      decrypt: r.decryptMBps === null ? null : r.decryptMBps / bare.decryptMBps,
    };
    // Bare-loop CPU seconds over this tool's: above 1 is faster than the loop, as the wall ratios.
    r.cpuRatioToBare = {
      encrypt: bare.cpuSecondsMedian.encrypt / r.cpuSecondsMedian.encrypt,
      decrypt: r.decryptMBps === null ? null : bare.cpuSecondsMedian.decrypt / r.cpuSecondsMedian.decrypt,
    };
    const pct = (x) => (x === null ? '–' : `${Math.round(x * 100)}%`);
    console.log(
      `  ${name.padEnd(20)}  ${fmt(r.encryptMBps).padStart(12)}  ${fmt(r.decryptMBps).padStart(12)}  ${`${fmt(re, 2)} / ${fmt(rd, 2)}`.padStart(13)}  ${`${fmt(r.ratioToBare.encrypt, 2)} / ${fmt(r.ratioToBare.decrypt, 2)}`.padStart(14)}  ${`${fmt(r.cpuRatioToBare.encrypt, 2)} / ${fmt(r.cpuRatioToBare.decrypt, 2)}`.padStart(18)}  ${`${pct(r.spread.encrypt)} / ${pct(r.spread.decrypt)}`.padStart(14)}  ${fmt(r.peakRssMiB.encrypt).padStart(6)} / ${fmt(r.peakRssMiB.decrypt).padEnd(14)}  ${`${fmt(r.minorFaultsPerMiB.encrypt)} / ${fmt(r.minorFaultsPerMiB.decrypt)}`.padEnd(18)}  ${fmt(r.voluntarySwitchesMedian.encrypt)} / ${fmt(r.voluntarySwitchesMedian.decrypt)}`,
    );
  }
  const off = row['e2ee-backup'];
  const on = row['e2ee-backup defaults'];
  // Two more views of the CLI against the bare loop, since the host can slow any run on a
  // virtual machine (docs/performance.md, "Free page reporting"): the median of the
  // ratios within each round (a slow spell of the host is shared more within a round than
  // across rounds) and the ratio of each one's fastest run (the host only ever adds time).
  const paired = (way) => median(off.seconds[way].map((x, i) => bare.seconds[way][i] / x));
  const best = (way) => Math.min(...bare.seconds[way]) / Math.min(...off.seconds[way]);
  off.ratioToBarePaired = { encrypt: paired('encrypt'), decrypt: paired('decrypt') };
  off.ratioToBareBest = { encrypt: best('encrypt'), decrypt: best('decrypt') };
  console.log(
    `  e2ee-backup × bare loop, enc / dec: medians ${fmt(off.ratioToBare.encrypt, 2)} / ${fmt(off.ratioToBare.decrypt, 2)}, per round ${fmt(off.ratioToBarePaired.encrypt, 2)} / ${fmt(off.ratioToBarePaired.decrypt, 2)}, fastest runs ${fmt(off.ratioToBareBest.encrypt, 2)} / ${fmt(off.ratioToBareBest.decrypt, 2)}`,
  );
  row.defaultsToOff = {
    encrypt: on.encryptMBps / off.encryptMBps,
    decrypt: on.decryptMBps / off.decryptMBps,
  };
  console.log(
    `  defaults ÷ compression off: encrypt ${fmt(row.defaultsToOff.encrypt, 2)}×, decrypt ${fmt(row.defaultsToOff.decrypt, 2)}×`,
  );
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

// The mixed corpus (issue 19): what a chat backup is, in one tar — the chat-like text of
// bench/corpus.mjs (a quarter) and media-like files that do not compress: "photos" and "videos"
// (a JPEG or MP4 header, then random bytes) and "voice notes" (Ogg). e2ee-backup with its defaults
// against `tar | gzip -1 | age` and `tar | zstd -1 | age` on the same tar, interleaved.
{
  const mib = Number(process.env.E2EE_BENCH_MIXED_MIB ?? 256);
  const tree = join(dir, 'mixed');
  execFileSync('mkdir', ['-p', join(tree, 'media')]);
  await writeCorpus(join(tree, 'msgstore.jsonl'), (mib * MiB) / 4, 19);
  let left = (mib * MiB * 3) / 4;
  const heads = {
    jpg: [0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46, 0],
    mp4: [0, 0, 0, 0x20, 0x66, 0x74, 0x79, 0x70, 0x69, 0x73, 0x6f, 0x6d],
    opus: [0x4f, 0x67, 0x67, 0x53, 0, 2],
  };
  // Sizes cycle through voice notes (~40 KB), photos (~0.2–3 MB) and a video (~20 MB).
  const sizes = [40e3, 250e3, 1.8e6, 45e3, 3.1e6, 700e3, 21e6, 30e3, 1.2e6];
  for (let i = 0; left > 0; i++) {
    const n = Math.min(left, Math.round(sizes[i % sizes.length]));
    const ext = n >= 10e6 ? 'mp4' : n < 100e3 ? 'opus' : 'jpg';
    const body = randomBytes(n);
    body.set(heads[ext].slice(0, n));
    const fd = openSync(join(tree, 'media', `IMG-${String(i).padStart(5, '0')}.${ext}`), 'w');
    writeSync(fd, body);
    closeSync(fd);
    left -= n;
  }
  const input = join(dir, 'mixed.tar');
  execFileSync('tar', ['-cf', input, '-C', tree, '.']);
  rmSync(tree, { recursive: true });
  const enc = join(dir, 'mixed.out');
  const tarBytes = statSync(input).size;
  const list = [
    {
      name: 'e2ee-backup defaults',
      run: () => timed('node', [cli, 'encrypt', input, '-o', enc, '-k', keyFile, '-q']),
    },
    {
      name: 'e2ee-backup, compression off',
      run: () =>
        timed('node', [cli, 'encrypt', input, '-o', enc, '-k', keyFile, '--compression', 'none', '-q']),
    },
  ];
  if (hasAge) {
    list.push({
      name: 'gzip -1 | age',
      run: () => timed('sh', ['-c', `gzip -1 -c "$1" | age -r "$2" > "$3"`, 'sh', input, ageRecipient, enc]),
    });
    if (hasZstd)
      list.push({
        name: 'zstd -1 | age',
        run: () =>
          timed('sh', ['-c', `zstd -1 -q -c "$1" | age -r "$2" > "$3"`, 'sh', input, ageRecipient, enc]),
      });
  }
  const s = Object.fromEntries(list.map((t) => [t.name, { seconds: [], size: 0, rss: [] }]));
  for (let run = 0; run < runs; run++) {
    for (const t of list.map((_, i) => list[(i + run) % list.length])) {
      const r = t.run();
      s[t.name].seconds.push(r.seconds);
      s[t.name].rss.push(r.rssMiB);
      s[t.name].size = statSync(enc).size;
      rmSync(enc);
    }
    process.stderr.write(`  mixed ${mib} MiB: run ${run + 1}/${runs} done\n`);
  }
  const row = { tarBytes, textShare: 0.25 };
  console.log(
    `${mib} MiB mixed tar (a quarter chat-like text, the rest JPEG/MP4/Ogg-headed random files), median of ${runs}`,
  );
  console.log('  tool                            MB/s  output % of tar  spread  peak RSS (MiB)');
  for (const t of list) {
    const x = s[t.name];
    row[t.name] = {
      encryptMBps: tarBytes / 1e6 / median(x.seconds),
      outputRatio: x.size / tarBytes,
      spread: spread(x.seconds),
      peakRssMiB: Math.max(...x.rss),
    };
    const r = row[t.name];
    console.log(
      `  ${t.name.padEnd(30)}  ${fmt(r.encryptMBps).padStart(4)}  ${fmt(r.outputRatio * 100, 1).padStart(15)}  ${`${Math.round(r.spread * 100)}%`.padStart(6)}  ${fmt(r.peakRssMiB).padStart(14)}`,
    );
  }
  console.log();
  results.mixed = row;
  rmSync(input);
}

// The targets of issues 5 (CLI), 7 (performance) and 19.
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
  const incompressible = results.sizes['256MiB'] ?? results.sizes[`${Math.min(...sizesMiB)}MiB`];
  checks.push(
    [
      '#19 defaults on incompressible data ≥ 0.8× compression off (encrypt)',
      incompressible.defaultsToOff.encrypt >= 0.8,
      incompressible.defaultsToOff.encrypt,
    ],
    ...Object.entries(results.sizes).flatMap(([size, r]) =>
      ['encrypt', 'decrypt'].map((way) => [
        `#19 ${size} ${way}, compression off ≥ 0.9× the bare node:crypto loop`,
        r['e2ee-backup'].ratioToBare[way] >= 0.9,
        r['e2ee-backup'].ratioToBare[way],
      ]),
    ),
  );
  results.targets = checks.map(([name, pass, value]) => ({ name, pass, value: value ?? null }));
  console.log('Targets:');
  for (const [name, pass, value] of checks)
    console.log(
      `  ${pass === null ? 'n/a ' : pass ? 'PASS' : 'FAIL'}  ${name}${value !== undefined && value !== null ? ` (${fmt(value, 2)})` : ''}`,
    );
}

// Merged into bench/results.json beside `npm run bench`'s keys; one key per Node major version.
results.loadAverage.end = load();
const major = Number(process.versions.node.split('.')[0]);
const resultsKey = major === 20 ? 'cli' : `cli-node${major}`;
saveResults(resultsKey, results);
console.log(`\nload average at the end: ${load()}`);
console.log(`wrote the ${resultsKey} key of bench/results.json`);
