// `npm run bench:browser`: the streaming Cobblestone-256 API in headless Chromium (WebCrypto
// backend, as a page picks it by default) against a plain WebCrypto loop in the same page:
// AES-256-GCM over 16 KiB chunks with crypto.subtle, 4 promises in flight. Interleaved runs,
// medians, MB/s and the ratio library/loop (issue #7's target: ≥ 0.9×); writes the key `browser`
// of bench/results.json. Not a test: the machine is shared, so only the ratios mean much.
//
// The page (bench/browser/page.mjs, importing the built dist/chunked.js) is bundled in memory by
// esbuild and served from 127.0.0.1 by node:http; Playwright opens it in Debian's Chromium.
//
// Environment: BENCH_MIB (default 64), BENCH_RUNS (default 7), BENCH_WRITE (bytes per write,
// default 65536), CHROMIUM_PATH (default /usr/bin/chromium), BENCH_GC=1 (garbage collected before
// each timed run, so that no case pays for the previous one's), BENCH_PROFILE=1 (afterwards, one
// CPU-profiled run of each case: where the page's main thread spends its time, and on Linux the
// renderer's CPU time and page faults).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { basename, join } from 'node:path';
import { CHROMIUM, CHROMIUM_ARGS } from '../scripts/chromium.mjs';
import { ensureBuilt } from '../scripts/ensure-built.mjs';
import { saveResults } from './results.mjs';

const SIZE = Number(process.env.BENCH_MIB ?? 64) * 1024 * 1024;
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const WRITE = Number(process.env.BENCH_WRITE ?? 64 * 1024);
const PROFILE = process.env.BENCH_PROFILE === '1';
// BENCH_GC=1: the page collects the last case's garbage before timing the next one.
const GC = process.env.BENCH_GC === '1';
const TARGET = 0.9;

if (!existsSync(CHROMIUM)) {
  console.error(
    `bench:browser needs Chromium at ${CHROMIUM}, which is missing.\n` +
      "Install Debian's with scripts/install-chromium.sh (apt-get install -y chromium), or set CHROMIUM_PATH.",
  );
  process.exit(1);
}

ensureBuilt();
const { build } = await import('esbuild');
let chromium;
let playwrightName;
for (const name of ['playwright', 'playwright-core']) {
  try {
    ({ chromium } = await import(name));
    playwrightName = name;
    break;
  } catch {}
}
if (!chromium) {
  console.error('bench:browser needs playwright or playwright-core: run npm install');
  process.exit(1);
}

// The page's script, bundled in memory (not minified, so that a profile shows real names).
const bundled = await build({
  entryPoints: [join(import.meta.dirname, 'browser', 'page.mjs')],
  bundle: true,
  write: false,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  logLevel: 'error',
});
const files = {
  '/': [
    'text/html; charset=utf-8',
    '<!doctype html><meta charset="utf-8"><script type="module" src="bench.js"></script>',
  ],
  '/bench.js': ['text/javascript; charset=utf-8', bundled.outputFiles[0].contents],
};
const server = createServer((req, res) => {
  const file = files[req.url];
  if (!file) return res.writeHead(404).end();
  res.writeHead(200, { 'content-type': file[0] }).end(file[1]);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r)); // 127.0.0.1 is a secure context: crypto.subtle

let browser;
try {
  const args = GC ? [...CHROMIUM_ARGS, '--js-flags=--expose-gc'] : CHROMIUM_ARGS;
  browser = await chromium.launch({ executablePath: CHROMIUM, args, headless: true });
} catch (e) {
  server.close();
  console.error(`bench:browser could not start ${CHROMIUM}: ${e.message.split('\n')[0]}`);
  console.error(
    'Reinstall it with scripts/install-chromium.sh, or point CHROMIUM_PATH at a working Chromium.',
  );
  process.exit(1);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  const version = browser.version();
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page
    .waitForFunction(() => window.bench !== undefined, null, { timeout: 30_000 })
    .catch((e) => {
      throw new Error(`the page did not start: ${errors.join('; ') || e.message}`);
    });
  const env = await page.evaluate((o) => window.bench.setup(o), { size: SIZE, write: WRITE });
  if (env.nodeCryptoVisible) throw new Error('the page sees node:crypto: the backend would not be WebCrypto');
  const names = await page.evaluate(() => window.bench.cases);

  const times = Object.fromEntries(names.map((k) => [k, []]));
  for (let r = 0; r < RUNS; r++) {
    // Interleaved, so that drift in machine load hits every case alike.
    for (const name of names)
      times[name].push(await page.evaluate(([n, gc]) => window.bench.run(n, gc), [name, GC]));
  }
  const mbps = Object.fromEntries(
    Object.entries(times).map(([k, v]) => [k, SIZE / 1e6 / (median(v) / 1000)]),
  );
  const ratios = {
    encrypt: mbps['createEncryptStream'] / mbps['WebCrypto loop, encrypt'],
    decrypt: mbps['createDecryptStream'] / mbps['WebCrypto loop, decrypt'],
  };

  console.log(
    `${SIZE / 2 ** 20} MiB in ${WRITE / 1024} KiB writes, median of ${RUNS} interleaved runs${GC ? ' (garbage collected before each)' : ''}, ` +
      `Chromium ${version} (headless, ${env.hardwareConcurrency} cores), WebCrypto backend`,
  );
  for (const [k, v] of Object.entries(mbps)) {
    const spread = times[k].map((ms) => (SIZE / 1e3 / ms).toFixed(0)).join(' ');
    console.log(`  ${k.padEnd(32)} ${v.toFixed(0).padStart(6)} MB/s   (runs: ${spread})`);
  }
  const verdict = (x) => `${x.toFixed(2)}× (target ≥ ${TARGET}×: ${x >= TARGET ? 'met' : 'not met'})`;
  console.log(`  ratio library / loop with 4 in flight: encrypt ${verdict(ratios.encrypt)}`);
  console.log(
    `  ${' '.repeat('ratio library / loop with 4 in flight:'.length)} decrypt ${verdict(ratios.decrypt)}`,
  );

  if (PROFILE) await profile(page, names);

  const result = {
    date: new Date().toISOString(),
    chromium: version,
    userAgent: env.userAgent,
    driver: `${playwrightName} ${JSON.parse(readFileSync(join(import.meta.dirname, '..', 'node_modules', playwrightName, 'package.json'), 'utf8')).version}`,
    backend: 'webcrypto',
    sizeBytes: SIZE,
    writeBytes: WRITE,
    runs: RUNS,
    loop: 'AES-256-GCM, 16 KiB chunks, crypto.subtle, 4 in flight',
    gcBetweenCases: GC,
    mbps,
    ratios,
    target: TARGET,
  };
  saveResults('browser', result);
} finally {
  await browser.close();
  server.close();
}

/** Our Chromium's renderer processes (Linux): descendants of this process run with --type=renderer. */
function renderers() {
  if (!existsSync('/proc/self/stat')) return [];
  const parent = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {} // gone meanwhile
  }
  const ours = (pid) => {
    for (let p = pid; p > 1; p = parent.get(p) ?? 0) if (p === process.pid) return true;
    return false;
  };
  return [...parent.keys()].filter((pid) => {
    try {
      return ours(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer');
    } catch {
      return false;
    }
  });
}

/** Summed CPU time (ms, all threads) and minor page faults of `pids`. */
function usage(pids) {
  let cpu = 0;
  let faults = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // from field 3, state, on
    faults += Number(f[7]); // minflt
    cpu += ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, in ticks of 10 ms
  }
  return { cpu, faults };
}

/**
 * One run of each case under the V8 CPU profiler (0.1 ms sampling): self time by function on the
 * page's main thread (WebCrypto's own work runs off that thread and shows up as idle time), and
 * the renderer's CPU time and minor page faults over that run (a fault is a first touch of a
 * 4 KiB page: expensive on some VMs).
 */
async function profile(page, names) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
  const pids = renderers();
  for (const name of names) {
    await cdp.send('Profiler.start');
    const before = usage(pids);
    const ms = await page.evaluate((n) => window.bench.run(n), name);
    const after = usage(pids);
    const { profile: p } = await cdp.send('Profiler.stop');
    const byNode = new Map(p.nodes.map((n) => [n.id, n]));
    const self = new Map();
    let total = 0;
    p.samples.forEach((id, i) => {
      const f = byNode.get(id).callFrame;
      const where = f.url ? ` ${basename(f.url)}:${f.lineNumber + 1}` : '';
      const key = `${f.functionName || '(anonymous)'}${where}`;
      const dt = p.timeDeltas[i] ?? 0;
      self.set(key, (self.get(key) ?? 0) + dt);
      total += dt;
    });
    console.log(`\nprofile of one run of ${name} (${ms.toFixed(0)} ms)`);
    if (pids.length) {
      const mib = SIZE / 2 ** 20;
      const faults = after.faults - before.faults;
      console.log(
        `  renderer: ${(after.cpu - before.cpu).toFixed(0)} ms CPU (all threads), ` +
          `${faults} minor page faults (${(faults / mib).toFixed(0)} per MiB of input)`,
      );
    }
    console.log('  main-thread self time:');
    for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 12))
      console.log(
        `  ${((100 * us) / total).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(1).padStart(7)} ms  ${k}`,
      );
  }
  await cdp.send('Profiler.disable');
}
