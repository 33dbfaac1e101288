/**
 * Which vault servers the CLI talks to. Whoever answers as the vault at registration gets the
 * record's OPRF key (and so can guess the password offline), and whoever answers a change of
 * password, a reset or a delete gets the device credential. Only a channel that authenticates the
 * server protects those (SPEC.md §9.1), so:
 * - they go over `https:` (certificates checked, or the TLS key pinned with `--tls-pin`:
 *   `./vault-tls.ts`) or plain `http:` to loopback only, and never with `--insecure-http`;
 * - `vault recover`, which OPAQUE protects by itself, may use plain `http:` elsewhere with
 *   `--insecure-http`;
 * - the server's OPAQUE key can be pinned by its fingerprint (`--server-key`,
 *   `E2EE_BACKUP_SERVER_KEY`), and the key a registration went to is remembered, per vault URL, in
 *   `$XDG_CONFIG_HOME/e2ee-backup/vault-servers.json` (default `~/.config/…`); every later command
 *   refuses another. That catches a wrong or re-keyed server, not an impostor, who can copy the
 *   key: the channel is what stops an impostor.
 *
 * @module
 */

import { lstat, mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { configDir } from './config-dir.js';
import { SERVER_KEY_ENV, TLS_PIN_ENV } from './env.js';
import { CliError, EXIT, usageError } from './exit-codes.js';
import { openFileOutput } from './io.js';

export { SERVER_KEY_ENV, TLS_PIN_ENV };

/** True for `localhost`, 127.0.0.0/8 and `[::1]`: traffic that never leaves the machine. */
export function isLoopback(url: URL): boolean {
  const host = url.hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** What a command sends that only the real vault may receive, if anything (the password never leaves). */
export type VaultSecret = 'registration' | 'device credential' | undefined;

/** The channel a vault command may use. */
export interface ChannelOptions {
  /** The command's name, for messages (`vault register`). */
  command: string;
  /** What it sends that an impostor must not receive; undefined for `vault recover`. */
  sends: VaultSecret;
  /** `--insecure-http`. */
  insecureHttp?: boolean;
  /** Whether `--tls-pin` (or its variable) pins the TLS key. */
  tlsPinned?: boolean;
  /** The environment (for `NODE_TLS_REJECT_UNAUTHORIZED`). */
  env?: NodeJS.ProcessEnv;
}

/**
 * Checks the channel to the vault before anything is sent: plain `http:` to loopback, or
 * `https:`; plain `http:` elsewhere only with `insecureHttp`, and never for a command that sends
 * a registration or a device credential, since whoever answers on the path would get them, and no
 * `--server-key` tells an impostor from the vault (it can copy the key). Likewise refuses those
 * commands over `https:` when `NODE_TLS_REJECT_UNAUTHORIZED=0` turns certificate checks off,
 * unless the TLS key is pinned (the pin does its own check). Returns a warning to print when it
 * lets plain http through, else undefined.
 */
export function checkChannel(url: string, options: ChannelOptions): string | undefined {
  const u = new URL(url);
  const { command, sends } = options;
  const what =
    sends === 'registration'
      ? 'it sends a new vault record, which lets whoever receives it guess the password offline, and the device credential of the record it replaces'
      : 'it sends the device credential, which lets whoever receives it reset or delete the record';
  if (options.tlsPinned && u.protocol !== 'https:')
    throw usageError(`--tls-pin pins a TLS key, and ${u.protocol}// has none`, 'Use an https:// --url');
  if (u.protocol === 'https:') {
    if (sends && !options.tlsPinned && (options.env ?? process.env)['NODE_TLS_REJECT_UNAUTHORIZED'] === '0')
      throw usageError(
        `refusing ${command} with NODE_TLS_REJECT_UNAUTHORIZED=0, which turns certificate checks off: ${what}, and anyone on the path could then answer as the vault`,
        "Unset NODE_TLS_REJECT_UNAUTHORIZED, or pin the vault's TLS key with --tls-pin",
      );
    return undefined;
  }
  if (isLoopback(u)) return undefined;
  if (sends)
    throw usageError(
      `refusing ${command} over plain http:// to ${u.host}, even with --insecure-http or --server-key: ${what}, and anyone on the network path could answer as the vault (an impostor can show the vault's key)`,
      "Use https:// (--tls-pin for a self-signed certificate), or run it on the vault's machine against http://127.0.0.1",
    );
  if (!options.insecureHttp)
    throw usageError(
      `refusing plain http:// to ${u.host}: whoever is on the network path could read the account name and answer as the vault`,
      'Use https://, or add --insecure-http if you trust every network between you and the vault',
    );
  return `e2ee-backup: warning: --insecure-http: talking to the vault at ${u.host} without TLS`;
}

/**
 * A fingerprint as given by a person: 64 hex digits, in any case, with hyphens, colons or spaces
 * between. Returns the canonical form (`serverKeyFingerprint`'s).
 */
export function parseFingerprint(text: string, source: string): string {
  const digits = text.replace(/[-:\s]/g, '').toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(digits))
    throw usageError(
      `${source} is not a vault key fingerprint`,
      "Give the 64 hex digits 'e2ee-backup vault serve' prints (groups of 8, hyphens optional)",
    );
  return digits.match(/.{8}/g)!.join('-');
}

/** The name a vault is remembered under: its URL, normalised, with the path ending in `/`. */
export function vaultId(url: string): string {
  const u = new URL(url);
  u.search = '';
  u.hash = '';
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  return u.href;
}

/** Where remembered keys live: `$XDG_CONFIG_HOME/e2ee-backup/vault-servers.json` (see {@link configDir}). */
export function knownServersPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), 'vault-servers.json');
}

const FORMAT = 'e2ee-backup known vault servers';

interface KnownServers {
  format: typeof FORMAT;
  version: 1;
  /** Vault id → the fingerprint of the key a registration went to, and when. */
  servers: Record<string, { fingerprint: string; since: string }>;
}

async function readKnown(path: string): Promise<KnownServers> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return { format: FORMAT, version: 1, servers: {} };
    throw new CliError(EXIT.IO, `cannot read ${path}: ${(e as Error).message}`, 'Check its permissions', {
      cause: e,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const known = json as KnownServers | undefined;
  if (known?.format !== FORMAT || known.version !== 1 || typeof known.servers !== 'object' || !known.servers)
    throw new CliError(
      EXIT.IO,
      `${path} is not a list of known vault servers`,
      'Move it away; the vault commands will write a new one at the next registration',
    );
  return known;
}

/** The fingerprint remembered for this vault, if a registration from this device went there. */
export async function rememberedKey(url: string, path = knownServersPath()): Promise<string | undefined> {
  const entry = (await readKnown(path)).servers[vaultId(url)];
  return typeof entry?.fingerprint === 'string' ? entry.fingerprint : undefined;
}

/**
 * Remembers `fingerprint` for this vault: written atomically (a temporary file renamed into
 * place), mode 0600, in a folder created with mode 0700. Refuses to replace anything but a
 * regular file.
 */
export async function rememberKey(
  url: string,
  fingerprint: string,
  path = knownServersPath(),
): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const info = await lstat(path).catch((e: { code?: string }) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (info && !info.isFile())
    throw new CliError(
      EXIT.IO,
      `${path} is not a regular file; not replacing it`,
      'Move it away, then register again',
    );
  const known = await readKnown(path);
  known.servers[vaultId(url)] = { fingerprint, since: new Date().toISOString() };
  const out = await openFileOutput(path, { mode: 0o600 });
  try {
    await out.write(new TextEncoder().encode(`${JSON.stringify(known, null, 2)}\n`));
    await out.commit();
  } catch (e) {
    await out.abort();
    throw e;
  }
}
