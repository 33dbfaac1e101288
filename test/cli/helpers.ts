// Shared helpers of the CLI tests: build once, spawn `node packages/cli/dist/cli.js`, drive a
// pseudo-terminal.
import { type ChildProcess, type SpawnOptions, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
// @ts-expect-error — a plain .mjs script without types
import { CLI as BUILT_CLI, ensureBuilt } from '../../scripts/ensure-built.mjs';
import { tempDirNamed } from '../temp-dir.js';

export const ROOT = resolve(import.meta.dirname, '../..');
/** The command-line tool as built from this clone (package e2ee-backup-cli): the one path tests use. */
export const CLI: string = BUILT_CLI;

/**
 * Builds dist/ if it is stale, once across the parallel test files: a lock directory keeps two
 * workers from running tsup (whose `clean` empties dist/) at the same time. The lock is this
 * checkout's own (in .tmp/): two checkouts build two dist/ folders, and must not wait for, or
 * remove, each other's lock.
 */
export async function buildCli(): Promise<void> {
  const lock = join(ROOT, '.tmp', 'cli-test-build.lock');
  mkdirSync(dirname(lock), { recursive: true });
  for (let waited = 0; ; waited += 100) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // A lock older than two minutes belongs to a worker that died.
      const held = statSync(lock, { throwIfNoEntry: false });
      if (waited > 120_000 || (held && Date.now() - held.mtimeMs > 120_000)) {
        rmSync(lock, { recursive: true, force: true });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    ensureBuilt();
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing after the build`);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** A fresh temporary folder, removed by the returned function, or else when the test file ends. */
export const tempDir = () => tempDirNamed('e2ee-cli-test-');

export interface RunResult {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

export interface RunOptions {
  input?: Buffer | string;
  env?: Record<string, string | undefined>;
  cwd?: string;
}

/**
 * A config folder shared by the spawned CLIs of a test file that needs memory between runs (the
 * backup state file); pass it as `XDG_CONFIG_HOME`. The same folder on every call, until the test
 * file ends and it is removed.
 */
let configHome: string | undefined;
export function testConfigHome(): string {
  configHome ??= tempDirNamed('e2ee-cli-test-config-').dir;
  return configHome;
}

let configs = 0;
/**
 * A config folder of its own for each spawned CLI: the vault commands remember server keys there
 * (`$XDG_CONFIG_HOME/e2ee-backup`), and must neither touch the real one nor carry a key from one
 * test's server to another's that got the same port. A test that wants memory passes its own.
 */
let configRoot: string | undefined;
function freshConfigHome(): string {
  configRoot ??= tempDirNamed('e2ee-cli-config-').dir;
  return join(configRoot, String(configs++));
}

/**
 * The environment of every spawned CLI: no inherited password, server key or debug switch, and a
 * config folder of its own.
 */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: freshConfigHome() };
  delete env['E2EE_BACKUP_PASSWORD'];
  delete env['E2EE_BACKUP_SERVER_KEY'];
  delete env['E2EE_BACKUP_TLS_PIN'];
  delete env['NODE_TLS_REJECT_UNAUTHORIZED'];
  delete env['E2EE_BACKUP_DEBUG'];
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Runs `node packages/cli/dist/cli.js ARGS` to completion. */
export function run(args: string[], options: RunOptions = {}): RunResult {
  const r = spawnSync('node', [CLI, ...args], {
    input: options.input ?? '',
    env: cleanEnv(options.env),
    cwd: options.cwd,
    maxBuffer: 256 * 1024 * 1024,
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** Runs the CLI with its stdout closed by the reader after the first bytes (a `| head -c 1`). */
export function runClosingStdout(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('node', [CLI, ...args], {
      env: cleanEnv(options.env),
      cwd: options.cwd,
    } satisfies SpawnOptions);
    let stderr = '';
    child.stderr!.on('data', (d) => {
      stderr += d;
    });
    child.stdout!.once('data', () => child.stdout!.destroy());
    child.on('error', reject);
    child.on('close', (status) => resolvePromise({ status, stdout: Buffer.alloc(0), stderr }));
    child.stdin!.end(options.input ?? '');
  });
}

/** Random bytes and some text, so that deflate has something to do. */
export function sampleData(bytes: number): Buffer {
  const lines: string[] = [];
  for (let i = 0, n = 0; n < bytes; i++) {
    const line = JSON.stringify({ id: i, text: `hello ${i % 17} привет 👍` });
    lines.push(line);
    n += line.length + 1;
  }
  return Buffer.concat([randomBytes(Math.floor(bytes / 3)), Buffer.from(lines.join('\n'))]).subarray(
    0,
    bytes,
  );
}

/** Entries of `dir` whose names look like the CLI's temporary files. */
export function tempLeftovers(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.endsWith('.tmp'));
}

export interface PtyStep {
  /** Wait until the terminal output (since the previous step) matches this. */
  expect: RegExp;
  /** Then type this (`\r` is Enter), or compute it from the output so far. */
  send: string | ((output: string) => string);
}

/**
 * Runs a shell command on a real pseudo-terminal with util-linux `script`, answering prompts in
 * order. Keystrokes are sent only after the prompt shows, as a person would: typed earlier, the
 * terminal itself would echo them before the program turns echo off.
 */
export function runOnPty(
  command: string,
  steps: PtyStep[],
  options: { env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number } = {},
): Promise<{ status: number | null; output: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      env: cleanEnv({ TERM: 'xterm-256color', ...options.env }),
      cwd: options.cwd,
    });
    let output = '';
    let seen = 0;
    let step = 0;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pty timed out at step ${step}; output so far:\n${output}`));
    }, options.timeoutMs ?? 30_000);
    const advance = () => {
      while (step < steps.length) {
        const pending = output.slice(seen);
        const m = steps[step]!.expect.exec(pending);
        if (!m) return;
        seen += m.index + m[0].length;
        const { send } = steps[step++]!;
        const text = typeof send === 'function' ? send(output) : send;
        // A short pause, as a person would take; keystrokes sent before the program has set up
        // the prompt would be echoed by the terminal itself.
        setTimeout(() => child.stdin.write(text), 150);
      }
    };
    child.stdout.on('data', (d) => {
      output += d.toString();
      advance();
    });
    child.stderr.on('data', (d) => {
      output += d.toString();
    });
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolvePromise({ status, output });
    });
  });
}

/** The output of a pty with terminal control sequences removed. */
export function plain(output: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping ANSI escapes is the point
  return output.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
}

/**
 * Starts `vault serve --port 0 --insecure-fast-kdf --no-rate-limit` in `cwd` and resolves with the
 * URL and the key fingerprint it prints; `onLog` receives what it writes on stderr.
 */
export function serveVault(
  cwd: string,
  extra: string[] = [],
  onLog: (text: string) => void = () => {},
): Promise<{ child: ChildProcess; url: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const args = [CLI, 'vault', 'serve', '--port', '0', '--insecure-fast-kdf', '--no-rate-limit', ...extra];
    const child = spawn('node', args, { cwd, env: cleanEnv() });
    let out = '';
    let log = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /^(http:\/\/\S+)\n(\S+)\n/.exec(out);
      if (m) resolve({ child, url: m[1]!, fingerprint: m[2]! });
    });
    child.stderr!.on('data', (d) => {
      log += d;
      onLog(String(d));
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`vault serve exited ${code}: ${log}`)));
  });
}
