// `npm run bench:vault`: the vault server's capacity and its latency under a flood (issue #24).
// Not a test: numbers from a shared, noisy machine; rerun on a quiet one before quoting them.
//
// 1. Capacity: `login/start` answered per second, and per CPU-second of the vault processes
//    ("per core"), with precomputed KE1s (the load generator does no client crypto), 16
//    keep-alive connections from 16 source addresses, for SQLite and PostgreSQL, one and two
//    nodes. Baseline in the same run: the OPAQUE server work alone (generateFakeKE2, the same
//    group operations as a real KE2) per CPU-second in this process.
// 2. Flood: one SQLite node, 128 keep-alive connections from 128 addresses sending login/start
//    back to back (ignoring Retry-After, as an attacker would), and a new user every 300 ms (a new
//    connection from an address of its own): time to its first answer (200, or 503 with
//    Retry-After), and time to a 200 when it honours Retry-After. Baseline in the same run: new
//    users on an idle node. With and without the default rate limits.
//
// Environment: E2EE_BENCH_CLI (default packages/cli/dist/cli.js) and E2EE_BENCH_CLI_OLD (another
// build, flooded too, for comparison); E2EE_BENCH_SECONDS (capacity window, default 10); E2EE_BENCH_PG_PORT
// (default 54349) and E2EE_BENCH_PG_DATA (default /tmp/e2ee-vault-bench-pgdata): a PostgreSQL of
// the benchmark's own (fsync on, the server's default synchronous_commit), never the shared one;
// E2EE_BENCH_SKIP_PG=1 skips PostgreSQL; E2EE_BENCH_PARTS=capacity,flood.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, ensureBuilt } from '../scripts/ensure-built.mjs';
import { saveResults } from './results.mjs';
import {
  cpuSeconds,
  freePort,
  httpFetch,
  postgresUnavailable,
  postJson,
  quantile,
  root,
  sleep,
  startNode,
  startPostgres,
} from './vault-harness.mjs';

// The flooders run in a child process of their own (`--flood URL N`), so that their event loop
// does not delay the fresh client's measurements; stats on standard output when stdin closes.
if (process.argv[2] === '--flood') {
  await floodChild(process.argv[3], Number(process.argv[4]));
  process.exit(0);
}

ensureBuilt();
const vault = await import(join(root, 'dist', 'vault.js'));
const cli = process.env.E2EE_BENCH_CLI ?? CLI;
const oldCli = process.env.E2EE_BENCH_CLI_OLD;
const seconds = Number(process.env.E2EE_BENCH_SECONDS ?? 10);
const parts = (process.env.E2EE_BENCH_PARTS ?? 'capacity,flood').split(',');
const CHEAP = { algorithm: 'argon2id', m: 64, t: 1, p: 1 };
// Load averages as one string, so that bench/results.json stays as biome formats it.
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const results = { machine: { cores: availableParallelism(), loadavgAtStart: load() } };
const dirs = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'e2ee-vault-bench-'));
  dirs.push(d);
  return d;
};
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

/** KE1s made in advance, so that the load generator spends its time on HTTP only. */
const KE1S = Array.from({ length: 256 }, (_, i) => vault.toBase64url(vault.startLogin(`password ${i}`).ke1));

// ---------------------------------------------------------------------------------------------
// Baseline: the OPAQUE server work of one login/start, in this process, per CPU-second.

function ke2Baseline() {
  const { serverKeys, fakeRecord } = vault.parseVaultKeyFile(vault.generateVaultKeyFile());
  const ke1s = KE1S.slice(0, 32).map((k) => vault.deserializeKE1(vault.fromBase64url(k)));
  const run = (n) => {
    for (let i = 0; i < n; i++) {
      const name = `baseline-${i}`;
      vault.generateFakeKE2({
        serverKeys,
        fakeRecord,
        credentialIdentifier: vault.fakeCredentialIdentifier(name),
        ke1: ke1s[i % ke1s.length],
        ...vault.opaqueOptions(name),
      });
    }
  };
  run(20); // warm up
  const start = process.cpuUsage();
  const t0 = performance.now();
  const n = 200;
  run(n);
  const cpu = process.cpuUsage(start);
  return {
    perCpuSecond: round(n / ((cpu.user + cpu.system) / 1e6)),
    msEach: round((performance.now() - t0) / n, 2),
  };
}

// ---------------------------------------------------------------------------------------------
// Capacity

async function registerAccounts(url, n, tag) {
  const f = httpFetch({ localAddress: '127.0.3.9', maxSockets: 8 });
  const client = vault.createVaultClient(url, { fetch: f, ksf: CHEAP, allowWeakKsf: true });
  const names = Array.from({ length: n }, (_, i) => `${tag}-${i}`);
  const backupKey = new Uint8Array(32).fill(7);
  for (let i = 0; i < names.length; i += 8) {
    await Promise.all(
      names.slice(i, i + 8).map((account) => client.register({ account, password: 'pw', backupKey })),
    );
  }
  f.close();
  return names;
}

async function capacity(label, { nodes: count, store, pgPids }) {
  const dir = temp();
  const keyFile = join(dir, 'keys.json');
  const nodes = [];
  for (let i = 0; i < count; i++) {
    nodes.push(await startNode({ cli, port: await freePort(), keyFile, store: store(dir), cwd: dir }));
  }
  // At most 9 login/starts per account, so none locks: a locked account is a cheaper path.
  const expected = Math.ceil((seconds + 3) * 400);
  const accounts = await registerAccounts(nodes[0].url, Math.ceil(expected / 9), label.replace(/\W+/g, '-'));
  let next = 0;
  const workers = 16;
  const counts = { ok: 0, other: 0 };
  let measuring = false;
  let running = true;
  const loops = Array.from({ length: workers }, async (_, w) => {
    const f = httpFetch({ localAddress: `127.0.6.${w + 1}` });
    const url = nodes[w % nodes.length].url;
    for (let k = w; running; k++) {
      const i = next++;
      const account = accounts[Math.floor(i / 9) % accounts.length];
      const r = await postJson(f, `${url}/v1/login/start`, { account, ke1: KE1S[k % KE1S.length] });
      if (measuring) {
        if (r.status === 200) counts.ok++;
        else counts.other++;
      }
    }
    f.close();
  });
  await sleep(2000); // warm up
  const pids = nodes.map((n) => n.pid);
  const pg = pgPids?.() ?? [];
  const cpu0 = cpuSeconds(pids);
  const pg0 = cpuSeconds(pg);
  const t0 = performance.now();
  measuring = true;
  await sleep(seconds * 1000);
  measuring = false;
  const wall = (performance.now() - t0) / 1000;
  const nodeCpu = cpuSeconds(pids) - cpu0;
  const pgCpu = cpuSeconds(pg) - pg0;
  running = false;
  await Promise.all(loops);
  for (const n of nodes) {
    n.child.kill('SIGTERM');
    await n.exited;
  }
  const row = {
    label,
    loginStartPerSecond: round(counts.ok / wall),
    refused: counts.other,
    vaultCoresBusy: round(nodeCpu / wall, 2),
    perVaultCpuSecond: round(counts.ok / nodeCpu),
    ...(pgPids
      ? { dbCoresBusy: round(pgCpu / wall, 2), perCpuSecondWithDb: round(counts.ok / (nodeCpu + pgCpu)) }
      : {}),
  };
  console.log(JSON.stringify(row));
  return row;
}

// ---------------------------------------------------------------------------------------------
// Flood

/** A new user: a new connection from an address of its own, honouring Retry-After. */
async function freshLogin(url, account, address) {
  const f = httpFetch({ localAddress: address, keepAlive: false });
  const t0 = performance.now();
  let first;
  let waited = 0;
  try {
    for (;;) {
      const r = await postJson(f, `${url}/v1/login/start`, { account, ke1: KE1S[0] }).catch((e) => ({
        status: 0,
        error: e.message,
      }));
      first ??= { status: r.status, ms: performance.now() - t0, retryAfter: r.retryAfter };
      if (r.status === 200 || r.status === 0) {
        return { first, status: r.status, ms: performance.now() - t0 };
      }
      if (r.status !== 503 && r.status !== 429)
        return { first, status: r.status, ms: performance.now() - t0 };
      // Honour Retry-After, with the client's jitter, for up to 30 s in all.
      const wait = Number(r.retryAfter ?? 1) * 1000 * (1 + Math.random() / 2);
      if (waited + wait > 30_000) return { first, status: r.status, ms: performance.now() - t0 };
      waited += wait;
      await sleep(wait);
    }
  } finally {
    f.close();
  }
}

async function flood(label, { cliPath = cli, rateLimit = false, flooders = 128, samples = 40 }) {
  const dir = temp();
  const node = await startNode({
    cli: cliPath,
    port: await freePort(),
    keyFile: join(dir, 'keys.json'),
    store: { db: join(dir, 'vault.sqlite') },
    cwd: dir,
    rateLimit,
  });
  const url = node.url;
  const idle = [];
  for (let i = 0; i < 10; i++) idle.push(await freshLogin(url, `idle-${i}`, `127.0.8.${i + 1}`));
  const child = spawn(process.execPath, [import.meta.filename, '--flood', url, String(flooders)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  const childDone = new Promise((r) => child.once('exit', r));
  await sleep(3000);
  const cpu0 = cpuSeconds([node.pid]);
  const t0 = performance.now();
  const sampled = [];
  const pending = [];
  for (let i = 0; i < samples; i++) {
    pending.push(freshLogin(url, `fresh-${i}`, `127.0.9.${i + 1}`).then((r) => sampled.push(r)));
    await sleep(300);
  }
  await Promise.all(pending);
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds([node.pid]) - cpu0;
  child.stdin.end();
  await childDone;
  const stats = JSON.parse(out);
  node.child.kill('SIGTERM');
  await node.exited;
  const firsts = sampled.map((s) => s.first.ms);
  const done = sampled.filter((s) => s.status === 200).map((s) => s.ms);
  const row = {
    label,
    flooders,
    rateLimit,
    idleP50Ms: round(
      quantile(
        idle.map((s) => s.first.ms),
        0.5,
      ),
    ),
    firstAnswerP50Ms: round(quantile(firsts, 0.5)),
    firstAnswerP95Ms: round(quantile(firsts, 0.95)),
    firstAnswers: countBy(sampled.map((s) => `${s.first.status}${s.first.retryAfter ? '+Retry-After' : ''}`)),
    servedHonouringRetryAfter: `${done.length}/${sampled.length}`,
    servedP50Ms: round(quantile(done, 0.5)),
    servedP95Ms: round(quantile(done, 0.95)),
    floodAnswersPerSecond: round(stats.answers / stats.seconds),
    flood: stats,
    vaultCoresBusy: round(cpu / wall, 2),
  };
  console.log(JSON.stringify(row));
  return row;
}

async function floodChild(url, flooders) {
  const ke1s = (await import(join(root, 'dist', 'vault.js'))).startLogin;
  const KE1 = Array.from({ length: 64 }, (_, i) => toB64(ke1s(`flood ${i}`).ke1));
  let running = true;
  let n = 0;
  const stats = { 200: 0, 503: 0, 429: 0, other: 0 };
  const t0 = performance.now();
  process.stdin.resume();
  process.stdin.on('end', () => {
    running = false;
  });
  await Promise.all(
    Array.from({ length: flooders }, async (_, w) => {
      const f = httpFetch({ localAddress: `127.0.${7 + Math.floor(w / 250)}.${(w % 250) + 1}` });
      while (running) {
        // Back to back, ignoring Retry-After, as an attacker would.
        const r = await postJson(f, `${url}/v1/login/start`, {
          account: `flood-${w}-${n++}`,
          ke1: KE1[n % KE1.length],
        }).catch(() => ({ status: -1 }));
        if (r.status in stats) stats[r.status]++;
        else stats.other++;
        if (r.status === -1) await sleep(10);
      }
      f.close();
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ ...stats, answers: stats[200] + stats[503] + stats[429], seconds }));
}

function toB64(bytes) {
  return Buffer.from(bytes).toString('base64url');
}

function countBy(values) {
  const out = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

// ---------------------------------------------------------------------------------------------

try {
  if (parts.includes('capacity')) {
    results.baseline = ke2Baseline();
    console.log(JSON.stringify({ baseline: results.baseline }));
    const sqlite = (dir) => ({ db: join(dir, 'vault.sqlite') });
    results.capacity = [
      await capacity('SQLite, 1 node', { nodes: 1, store: sqlite }),
      await capacity('SQLite, 2 nodes on one file', { nodes: 2, store: sqlite }),
    ];
    const why = process.env.E2EE_BENCH_SKIP_PG ? 'E2EE_BENCH_SKIP_PG' : postgresUnavailable();
    if (why) console.log(`skipping PostgreSQL: ${why}`);
    else {
      const data = process.env.E2EE_BENCH_PG_DATA ?? '/tmp/e2ee-vault-bench-pgdata';
      const pg = await startPostgres({
        port: Number(process.env.E2EE_BENCH_PG_PORT ?? 54349),
        data,
        log: `${data}.log`,
      });
      try {
        for (const [label, count] of [
          ['PostgreSQL, 1 node', 1],
          ['PostgreSQL, 2 nodes', 2],
        ]) {
          const db = `vault_bench_${count}`;
          await pg.createDatabase(db);
          results.capacity.push(
            await capacity(label, {
              nodes: count,
              store: () => ({ postgres: pg.url(db) }),
              pgPids: () => pg.pids(),
            }),
          );
        }
      } finally {
        pg.stop('fast');
      }
    }
    for (const row of results.capacity)
      row.ratioToBaseline = round(row.perVaultCpuSecond / results.baseline.perCpuSecond, 2);
  }
  if (parts.includes('flood')) {
    results.flood = [
      await flood('this build, rate limits off', {}),
      await flood('this build, default rate limits', { rateLimit: true }),
    ];
    if (oldCli)
      results.flood.push(await flood(`${oldCli}, rate limits off`, { cliPath: oldCli, samples: 20 }));
  }
  results.machine.loadavgAtEnd = load();
  saveResults('vault', results);
  console.log(JSON.stringify(results, null, 2));
} finally {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
