// Shared by the vault's fault suite (`npm run test:vault-faults`) and benchmarks (`npm run
// bench:vault`): a PostgreSQL instance of their own that they may crash and restart, vault nodes
// run as separate processes of the built CLI (so that they can be killed with SIGKILL), a fetch
// over node:http with a chosen source address and connection reuse, and CPU time from /proc.
// Types: vault-harness.d.mts.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { CLI } from '../scripts/ensure-built.mjs';

export const root = resolve(import.meta.dirname, '..');

/** The shared test database of the other suites: never crashed, stopped or restarted from here. */
const SHARED_PG_PORT = 54329;

// ---------------------------------------------------------------------------------------------
// PostgreSQL

function pgBin() {
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql') : [];
  const dir = versions
    .sort((a, b) => Number(a) - Number(b))
    .map((v) => `/usr/lib/postgresql/${v}/bin`)
    .pop();
  if (!dir || !existsSync(join(dir, 'pg_ctl'))) return undefined;
  return dir;
}

/** Why a PostgreSQL of our own cannot run here, or undefined. */
export function postgresUnavailable() {
  if (!pgBin()) return 'PostgreSQL server binaries not found (apt-get install postgresql)';
  return undefined;
}

/**
 * Starts (initialising on first use) a PostgreSQL of the caller's own on 127.0.0.1:`port`, data in
 * `data`. Unlike scripts/start-postgres.sh it keeps `fsync = on` and `full_page_writes = on`, so
 * that a crash loses what a real server would lose; `settings` adds `-c` options (the fault suite
 * passes `synchronous_commit: 'off'`, the setting under which a store that does not force it
 * loses answered attempts).
 */
export async function startPostgres({ port, data, log, settings = {} }) {
  if (port === SHARED_PG_PORT) throw new Error(`port ${port} is the shared test database: use another`);
  const bin = pgBin();
  if (!bin) throw new Error(postgresUnavailable());
  const isRoot = process.getuid?.() === 0;
  const asOwner = (cmd, args) => {
    const r = isRoot
      ? spawnSync('su', ['postgres', '-s', '/bin/sh', '-c', [cmd, ...args].map(quote).join(' ')], {
          encoding: 'utf8',
        })
      : spawnSync(cmd, args, { encoding: 'utf8' });
    return r;
  };
  if (!existsSync(join(data, 'PG_VERSION'))) {
    mkdirSync(data, { recursive: true });
    if (isRoot) execFileSync('chown', ['postgres:postgres', data]);
    execFileSync('chmod', ['700', data]);
    const r = asOwner(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8']);
    if (r.status !== 0) throw new Error(`initdb failed: ${r.stderr}`);
  }
  execFileSync('touch', [log]);
  if (isRoot) execFileSync('chown', ['postgres:postgres', log]);
  const options = [
    '-k /tmp',
    '-h 127.0.0.1',
    `-p ${port}`,
    '-c fsync=on',
    '-c full_page_writes=on',
    ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`),
  ].join(' ');
  const ctl = (...args) => asOwner(join(bin, 'pg_ctl'), ['-D', data, ...args]);
  const start = () => {
    const r = ctl('-l', log, '-w', '-t', '60', '-o', options, 'start');
    if (r.status !== 0) throw new Error(`pg_ctl start failed: ${r.stderr}${r.stdout}`);
  };
  const ready = () =>
    spawnSync(join(bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port)]).status === 0;
  if (!ready()) start();
  const url = (db = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${db}`;
  const pg = (await import('pg')).default;
  /** One statement on a connection of its own. */
  const query = async (sql, values, db = 'postgres') => {
    const c = new pg.Client({ connectionString: url(db) });
    c.on('error', () => {});
    await c.connect();
    try {
      return (await c.query(sql, values)).rows;
    } finally {
      await c.end().catch(() => {});
    }
  };
  return {
    port,
    url,
    query,
    ready,
    start,
    /** `fast` (clean shutdown) or `immediate` (a crash: no checkpoint, WAL replayed at start). */
    stop(mode = 'fast') {
      const r = ctl('-m', mode, '-w', 'stop');
      if (r.status !== 0 && ready()) throw new Error(`pg_ctl stop failed: ${r.stderr}`);
    },
    /** The pid of the postmaster, and of every server process under it. */
    pids() {
      const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return [pid, ...childrenOf(pid)];
    },
    /** Terminates every backend connected to `db` (what a failover or an operator does). */
    terminate(db) {
      return query(
        'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [db],
      ).then((rows) => rows[0].n);
    },
    async createDatabase(db) {
      await query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await query(`CREATE DATABASE ${db}`);
    },
  };
}

function quote(s) {
  return `'${String(s).replaceAll("'", "'\\''")}'`;
}

function childrenOf(pid) {
  const out = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout ?? '';
  return out.split('\n').filter(Boolean).map(Number);
}

// ---------------------------------------------------------------------------------------------
// Vault nodes

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolvePort(port));
    });
  });
}

/**
 * Starts `node <cli> vault serve` on `port` (fast KDF allowed, rate limits off unless
 * `rateLimit`), and resolves once it prints its URL. `store` is `{ db }` or `{ postgres }`.
 * The node's stderr goes to `onLog`. `exited` resolves with the exit code or signal.
 */
export function startNode({ cli = CLI, port, keyFile, store, rateLimit = false, cwd, onLog }) {
  return new Promise((resolveNode, reject) => {
    const args = [
      cli,
      'vault',
      'serve',
      '--port',
      String(port),
      '--key-file',
      keyFile,
      '--insecure-fast-kdf',
      '-q',
      ...(rateLimit ? [] : ['--no-rate-limit']),
      ...(store.postgres ? ['--postgres', store.postgres] : ['--db', store.db]),
    ];
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let log = '';
    const exited = new Promise((done) => child.once('exit', (code, signal) => done(signal ?? code)));
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^(http:\/\/\S+)\n/.exec(out);
      if (m) resolveNode({ child, pid: child.pid, url: m[1], exited, log: () => log });
    });
    child.stderr.on('data', (d) => {
      log += d;
      onLog?.(String(d));
    });
    child.once('error', reject);
    exited.then((code) => reject(new Error(`vault serve exited (${code}) before listening: ${log}`)));
  });
}

// ---------------------------------------------------------------------------------------------
// HTTP

/**
 * A `fetch` over node:http from `localAddress` (any 127.x.y.z: Linux routes all of 127/8 to the
 * loopback, so each load client can be an address of its own for the per-address limits).
 * `keepAlive: false` opens a new connection for every request (a fresh client).
 */
export function httpFetch({ localAddress = '127.0.0.1', keepAlive = true, maxSockets = 1 } = {}) {
  const agent = new Agent({ keepAlive, maxSockets, localAddress });
  const fetchOverHttp = (input, init = {}) =>
    new Promise((resolveResponse, reject) => {
      const url = new URL(String(input));
      const headers = { ...(init.headers ?? {}) };
      const body = init.body === undefined ? undefined : Buffer.from(init.body);
      if (body) headers['content-length'] = String(body.length);
      const req = request(url, { method: init.method ?? 'GET', headers, agent, localAddress }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
          resolveResponse(new Response(Buffer.concat(chunks), { status: res.statusCode, headers: h }));
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      const signal = init.signal;
      if (signal) {
        if (signal.aborted) req.destroy(signal.reason);
        else signal.addEventListener('abort', () => req.destroy(signal.reason), { once: true });
      }
      req.end(body);
    });
  fetchOverHttp.close = () => agent.destroy();
  return fetchOverHttp;
}

/** POSTs JSON with `fetchImpl`; resolves with the status, Retry-After and parsed body. */
export async function postJson(fetchImpl, url, body) {
  const res = await fetchImpl(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, retryAfter: res.headers.get('retry-after'), json };
}

// ---------------------------------------------------------------------------------------------
// Measuring

const TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** CPU seconds (user + system) used so far by the processes `pids` (those still alive). */
export function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    } catch {
      // gone
    }
  }
  return ticks / TICKS;
}

/** The `q` quantile (0..1) of `values` (nearest rank); NaN when empty. */
export function quantile(values, q) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every `everyMs` until it resolves truthy or `timeoutMs` passes; resolves with the time taken (ms) or -1. */
export async function waitFor(check, { timeoutMs = 30_000, everyMs = 50 } = {}) {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    try {
      if (await check()) return performance.now() - start;
    } catch {
      // not yet
    }
    await sleep(everyMs);
  }
  return -1;
}
