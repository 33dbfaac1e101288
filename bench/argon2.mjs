// `npm run bench:argon2`: our deriveKeyFromPassword (dist/kdf.js: hash-wasm's Argon2id behind
// parameter checks and a lazy import) against hash-wasm's argon2id called directly (the wrapper
// should add nothing measurable) and against Debian's `argon2` CLI (the reference C code, one
// process per hash, so its times include starting a process). Interleaved runs, medians of wall
// time and of CPU time (user + system; the CLI's counts all its threads), page faults per run,
// ratios; all three must give the same 32 bytes (exit 1 if not). Writes the key `argon2` of
// bench/results.json. Not a test: the machine is shared, so only the ratios mean much.
//
// Environment: BENCH_RUNS (default 5), BENCH_ARGON2_SETS (default "65536:3:4,19456:2:1", each
// m in KiB : t : p; the first is the library's default, the second OWASP's floor).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBuilt } from '../scripts/ensure-built.mjs';
import { saveResults } from './results.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SETS = (process.env.BENCH_ARGON2_SETS ?? '65536:3:4,19456:2:1').split(',').map((s) => {
  const [m, t, p] = s.split(':').map(Number);
  return { m, t, p };
});
const PASSWORD = 'correct horse battery staple'; // ASCII: the same bytes before and after NFC
const SALT = 'saltsaltsaltsalt'; // 16 bytes, our minimum; the CLI takes the salt as an argument

ensureBuilt();
const { deriveKeyFromPassword } = await import('../dist/kdf.js');
const { argon2id } = await import('hash-wasm');
const root = join(import.meta.dirname, '..');
const hashWasmVersion = JSON.parse(
  readFileSync(join(root, 'node_modules/hash-wasm/package.json'), 'utf8'),
).version;
const password = new TextEncoder().encode(PASSWORD);
const salt = new TextEncoder().encode(SALT);

// The CLI: present? Does it take memory in KiB (-k; Debian 12's does) or only as log2 KiB (-m)?
const help = spawnSync('argon2', ['-h'], { encoding: 'utf8' });
const hasCli = help.error === undefined;
const cliTakesKiB = hasCli && /^\s*-k\b/m.test(`${help.stdout}${help.stderr}`);
const cliVersion = hasCli
  ? spawnSync('dpkg-query', ['-W', 'argon2'], { encoding: 'utf8' }).stdout?.split('\t')[1]?.trim() || null // "argon2\t<version>"
  : null;
if (!hasCli)
  console.error('argon2 CLI not found, timing the other two only (Debian: apt-get install -y argon2)');

function cliArgs({ m, t, p }) {
  let mem;
  if (cliTakesKiB) mem = ['-k', String(m)];
  else if (Number.isInteger(Math.log2(m))) mem = ['-m', String(Math.log2(m))];
  else return undefined;
  return [SALT, '-id', ...mem, '-t', String(t), '-p', String(p), '-l', '32', '-r'];
}

function runCli(args) {
  const r = spawnSync('argon2', args, { input: PASSWORD, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`argon2 ${args.join(' ')}: exit ${r.status}: ${r.stderr.trim()}`);
  return Buffer.from(r.stdout.trim(), 'hex');
}

// CPU time (user + system, ms) and minor page faults (first touches of a 4 KiB page) so far: of
// this process for the in-process cases, of its waited-for children (from /proc) for the CLI.
function ownUsage() {
  const u = process.resourceUsage();
  return { cpu: (u.userCPUTime + u.systemCPUTime) / 1000, faults: u.minorPageFault };
}
function childUsage() {
  if (!existsSync('/proc/self/stat')) return { cpu: Number.NaN, faults: Number.NaN };
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // from field 3, state, on
  // cminflt is field 11; cutime and cstime, fields 16 and 17, count clock ticks (100 per second).
  return { cpu: (Number(f[13]) + Number(f[14])) * 10, faults: Number(f[8]) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const hex = (b) => Buffer.from(b).toString('hex');
const results = {};
let mismatch = false;

console.log(
  `Argon2id, 32-byte output, median of ${RUNS} interleaved runs, Node ${process.version}, ` +
    `hash-wasm ${hashWasmVersion}, argon2 CLI ${hasCli ? (cliVersion ?? 'unknown version') : 'absent'}`,
);
for (const set of SETS) {
  const { m, t, p } = set;
  const label = `m=${m} KiB (${+(m / 1024).toFixed(1)} MiB), t=${t}, p=${p}`;
  const args = hasCli ? cliArgs(set) : undefined;
  const cases = {
    deriveKeyFromPassword: () => deriveKeyFromPassword(password, salt, set, { allowWeak: true }),
    'hash-wasm argon2id': () =>
      argon2id({
        password,
        salt,
        parallelism: p,
        iterations: t,
        memorySize: m,
        hashLength: 32,
        outputType: 'binary',
      }),
  };
  if (args) cases['argon2 CLI'] = () => runCli(args);

  // Once, untimed: the outputs, and every path warmed up (module load, WebAssembly compilation).
  const outputs = {};
  for (const [name, fn] of Object.entries(cases)) outputs[name] = hex(await fn());
  const same = new Set(Object.values(outputs)).size === 1 && outputs.deriveKeyFromPassword.length === 64;
  if (!same) mismatch = true;

  const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  const cpu = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  const faults = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  const order = Object.entries(cases);
  for (let r = 0; r < RUNS; r++) {
    // Interleaved, starting each round with the next case, so that neither drift in machine load
    // nor what ran just before (a 64 MiB allocation freed, another process) favours one of them.
    for (const [name, fn] of [...order.slice(r % order.length), ...order.slice(0, r % order.length)]) {
      const usage = name === 'argon2 CLI' ? childUsage : ownUsage;
      const u0 = usage();
      const t0 = performance.now();
      await fn();
      times[name].push(performance.now() - t0);
      const u1 = usage();
      cpu[name].push(u1.cpu - u0.cpu);
      faults[name].push(u1.faults - u0.faults);
    }
  }
  const ms = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
  const cpuMs = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, median(v)]));
  // Wall time is what a user waits for; CPU time is steadier when other jobs share the machine.
  const ratios = {
    'ours / hash-wasm direct': ms.deriveKeyFromPassword / ms['hash-wasm argon2id'],
    'ours / hash-wasm direct, CPU': cpuMs.deriveKeyFromPassword / cpuMs['hash-wasm argon2id'],
  };
  if (args) {
    ratios['ours / argon2 CLI'] = ms.deriveKeyFromPassword / ms['argon2 CLI'];
    ratios['ours / argon2 CLI, CPU'] = cpuMs.deriveKeyFromPassword / cpuMs['argon2 CLI'];
  }

  console.log(`\n${label}`);
  for (const [k, v] of Object.entries(ms)) {
    const spread = times[k].map((x) => x.toFixed(0)).join(' ');
    console.log(
      `  ${k.padEnd(24)} ${v.toFixed(1).padStart(8)} ms   (runs: ${spread}; CPU ${cpuMs[k].toFixed(0)} ms, ` +
        `${median(faults[k])} page faults per run)`,
    );
  }
  if (hasCli && !args)
    console.log(
      `  argon2 CLI               n/a: this version takes memory only as a power of two (-m log2 KiB)`,
    );
  for (const [k, v] of Object.entries(ratios)) console.log(`  ${k.padEnd(28)} ${v.toFixed(2).padStart(4)}×`);
  console.log(
    same
      ? `  same output from all ${Object.keys(outputs).length}: ${outputs.deriveKeyFromPassword}`
      : `  OUTPUTS DIFFER:\n${Object.entries(outputs)
          .map(([k, v]) => `    ${k.padEnd(24)} ${v}`)
          .join('\n')}`,
  );
  results[`m=${m},t=${t},p=${p}`] = {
    params: set,
    ms,
    cpuMs,
    pageFaults: Object.fromEntries(Object.entries(faults).map(([k, v]) => [k, median(v)])),
    ratios,
    sameOutput: same,
    output: outputs.deriveKeyFromPassword,
    ...(args ? { cliCommand: `argon2 ${args.join(' ')}` } : {}),
  };
}

const argon2 = {
  date: new Date().toISOString(),
  node: process.version,
  hashWasm: hashWasmVersion,
  cli: hasCli ? { version: cliVersion, memoryFlag: cliTakesKiB ? '-k KiB' : '-m log2(KiB)' } : null,
  password: PASSWORD,
  salt: SALT,
  runs: RUNS,
  results,
};
saveResults('argon2', argon2);
if (mismatch) {
  console.error('\nbench:argon2: the implementations disagree (see above)');
  process.exit(1);
}
