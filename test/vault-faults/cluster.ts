/**
 * Vault nodes as processes of the built CLI, supervised: a node that exits without being told to
 * is a crash, counted and started again (on the same port) until it stays up, so that a run
 * measures everything even on a version that crashes.
 */
import { freePort, startNode, type VaultNode } from '../../bench/vault-harness.mjs';

export interface Cluster {
  /** URLs of the nodes up now. */
  urls(): string[];
  /** Every node's URL, up or not. */
  allUrls(): string[];
  /** Unexpected exits so far, with the node's last words. */
  readonly crashes: { node: number; code: unknown; log: string }[];
  /** SIGKILL, and wait for the exit (not a crash). */
  kill(i: number): Promise<void>;
  /** Starts node `i` again on its port; retries while it fails to start. */
  restart(i: number): Promise<void>;
  /** SIGTERM every node and wait. */
  stop(): Promise<void>;
  /** Everything the nodes wrote on stderr. */
  log(): string;
}

export interface ClusterOptions {
  size: number;
  keyFile: string;
  store: { db: string } | { postgres: string };
  cwd: string;
  cli?: string;
}

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const ports: number[] = [];
  for (let i = 0; i < options.size; i++) ports.push(await freePort());
  const nodes: (VaultNode | undefined)[] = ports.map(() => undefined);
  const expected = new Set<number>(); // nodes we are stopping or killing
  const crashes: Cluster['crashes'] = [];
  let stopping = false;
  let log = '';

  const launch = async (i: number): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const node = await startNode({
          ...(options.cli ? { cli: options.cli } : {}),
          port: ports[i]!,
          keyFile: options.keyFile,
          store: options.store,
          cwd: options.cwd,
          onLog: (text) => {
            log += `[node ${i}] ${text}`;
          },
        });
        nodes[i] = node;
        void node.exited.then((code) => {
          if (nodes[i] === node) nodes[i] = undefined;
          if (expected.has(i) || stopping) return;
          crashes.push({ node: i, code, log: node.log().slice(-2000) });
          void launch(i); // keep the run going, as a process manager would
        });
        return;
      } catch (err) {
        // An old version refuses to start while its database is down: count that as a failed
        // start, not a crash, and try again.
        if (stopping || attempt > 600) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };
  await Promise.all(ports.map((_, i) => launch(i)));

  return {
    urls: () => nodes.filter((n): n is VaultNode => n !== undefined).map((n) => n.url),
    allUrls: () => ports.map((p) => `http://127.0.0.1:${p}`),
    crashes,
    async kill(i) {
      const node = nodes[i];
      if (!node) return;
      expected.add(i);
      nodes[i] = undefined;
      node.child.kill('SIGKILL');
      await node.exited;
    },
    async restart(i) {
      await launch(i);
      expected.delete(i);
    },
    async stop() {
      stopping = true;
      await Promise.all(
        nodes.map(async (node) => {
          if (!node) return;
          node.child.kill('SIGTERM');
          await node.exited;
        }),
      );
    },
    log: () => log,
  };
}
