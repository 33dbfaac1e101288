import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on loopback in front of a server (PostgreSQL here), to make the network fail on
 * cue without touching the server: `refuse` drops every new connection at once (a database that
 * is down), `cut` drops the connections open now, `cutOn(marker)` drops a connection the moment
 * the client sends bytes containing `marker`, before the server sees them.
 */
export interface TcpProxy {
  /** The port it listens on (127.0.0.1). */
  port: number;
  /** Drop new connections at once (true), or pass them through (false, the start). */
  refuse(on: boolean): void;
  /** Drops every open connection. */
  cut(): void;
  /** Drops the connection whose client next sends `marker` (once); resolves when it did. */
  cutOn(marker: string): Promise<void>;
  /** Connections passed through so far. */
  readonly connections: number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let refusing = false;
  let connections = 0;
  let trap: { marker: Buffer; hit: () => void } | undefined;
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    connections++;
    const upstream = createConnection(target);
    open.add(client);
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('data', (chunk: Buffer) => {
      if (trap && chunk.includes(trap.marker)) {
        const { hit } = trap;
        trap = undefined;
        drop();
        hit();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('close', drop);
    upstream.on('close', drop);
    client.on('error', drop);
    upstream.on('error', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return {
    port: address.port,
    refuse(on) {
      refusing = on;
    },
    cut() {
      for (const s of open) s.destroy();
      open.clear();
    },
    cutOn(marker) {
      return new Promise<void>((resolve) => {
        trap = { marker: Buffer.from(marker), hit: resolve };
      });
    },
    get connections() {
      return connections;
    },
    async close() {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `url` with its host and port replaced by the proxy's (and extra query parameters appended). */
export function viaProxy(url: string, port: number, query = ''): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  for (const [k, v] of new URLSearchParams(query)) u.searchParams.set(k, v);
  return u.toString();
}
