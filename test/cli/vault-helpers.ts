// Helpers of the vault CLI tests that need a server in this process: an asynchronous run (spawnSync
// would block the server's event loop) and a scripted HTTP server standing in for a vault.
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { CLI, cleanEnv, type RunOptions, type RunResult } from './helpers.js';

/** Runs `node [nodeArgs] packages/cli/dist/cli.js ARGS` without blocking this process's event loop. */
export function runAsync(
  args: string[],
  options: RunOptions & { nodeArgs?: string[] } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [...(options.nodeArgs ?? []), CLI, ...args], {
      env: cleanEnv(options.env),
      cwd: options.cwd,
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out), stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** One request as the scripted server saw it. */
export interface SeenRequest {
  method: string;
  path: string;
  body: string;
}

/** What the scripted server answers: a status, headers and a JSON body; or `forward` to pass it on. */
export type Answer = { status: number; headers?: Record<string, string>; json: unknown } | 'forward';

/**
 * An HTTP server on loopback that answers each request with `answer(request, index)`; `forward`
 * passes the request on unchanged to the vault `upstream()` names (which may change). With `tls`
 * (a certificate and its key), it speaks HTTPS instead.
 */
export async function scriptedVault(
  answer: (request: SeenRequest, index: number) => Answer,
  upstream: () => string = () => {
    throw new Error('no upstream');
  },
  tls?: { cert: Buffer; key: Buffer },
): Promise<{ url: string; seen: SeenRequest[]; close(): Promise<void> }> {
  const seen: SeenRequest[] = [];
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const request = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      body: Buffer.concat(chunks).toString(),
    };
    const index = seen.push(request) - 1;
    const a = answer(request, index);
    if (a === 'forward') {
      const r = await fetch(`${upstream()}${request.path}`, {
        method: request.method,
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        body: request.method === 'GET' ? undefined : request.body,
      });
      const headers = Object.fromEntries(r.headers);
      delete headers['content-encoding'];
      delete headers['transfer-encoding'];
      delete headers['content-length'];
      res.writeHead(r.status, headers);
      res.end(Buffer.from(await r.arrayBuffer()));
      return;
    }
    res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
    res.end(JSON.stringify(a.json));
  };
  const server = tls ? createHttpsServer(tls, handler) : createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
