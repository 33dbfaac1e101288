// Types of vault-harness.mjs, for the fault suite's TypeScript.
import type { ChildProcess } from 'node:child_process';

export declare const root: string;

export declare function postgresUnavailable(): string | undefined;

export interface OwnPostgres {
  port: number;
  url(db?: string): string;
  query(sql: string, values?: unknown[], db?: string): Promise<Record<string, unknown>[]>;
  ready(): boolean;
  start(): void;
  stop(mode?: 'fast' | 'immediate'): void;
  pids(): number[];
  terminate(db: string): Promise<number>;
  createDatabase(db: string): Promise<void>;
}

export declare function startPostgres(options: {
  port: number;
  data: string;
  log: string;
  settings?: Record<string, string>;
}): Promise<OwnPostgres>;

export declare function freePort(): Promise<number>;

export interface VaultNode {
  child: ChildProcess;
  pid: number;
  url: string;
  /** Resolves with the exit code, or the signal that ended it. */
  exited: Promise<number | string | null>;
  log(): string;
}

export declare function startNode(options: {
  cli?: string;
  port: number;
  keyFile: string;
  store: { db: string } | { postgres: string };
  rateLimit?: boolean;
  cwd?: string;
  onLog?: (text: string) => void;
}): Promise<VaultNode>;

export type HttpFetch = typeof fetch & { close(): void };

export declare function httpFetch(options?: {
  localAddress?: string;
  keepAlive?: boolean;
  maxSockets?: number;
}): HttpFetch;

export declare function postJson(
  fetchImpl: typeof fetch,
  url: string,
  body: unknown,
  // biome-ignore lint/suspicious/noExplicitAny: a parsed JSON answer, read loosely by the benchmarks
): Promise<{ status: number; retryAfter: string | null; json: Record<string, any> | undefined }>;

export declare function cpuSeconds(pids: number[]): number;
export declare function quantile(values: number[], q: number): number;
export declare function sleep(ms: number): Promise<void>;
export declare function waitFor(
  check: () => unknown,
  options?: { timeoutMs?: number; everyMs?: number },
): Promise<number>;
