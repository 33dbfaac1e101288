/**
 * Which vault servers the CLI talks to. Whoever answers as the vault at registration gets the
 * record's OPRF key (and so can guess the password offline) and later the device credential, so:
 * - plain `http:` only to loopback, unless `--insecure-http`;
 * - the server's key can be pinned by its fingerprint (`--server-key`, `E2EE_BACKUP_SERVER_KEY`);
 * - the key a registration went to is remembered, per vault URL, in
 *   `$XDG_CONFIG_HOME/e2ee-backup/vault-servers.json` (default `~/.config/…`), and every later
 *   command refuses another.
 *
 * @module
 */

import { lstat, mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError, EXIT, usageError } from './exit-codes.js';
import { openFileOutput } from './io.js';

/** The environment variable that pins the vault server's key, as `--server-key` does. */
export const SERVER_KEY_ENV = 'E2EE_BACKUP_SERVER_KEY';

/** True for `localhost`, 127.0.0.0/8 and `[::1]`: traffic that never leaves the machine. */
export function isLoopback(url: URL): boolean {
  const host = url.hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Refuses plain `http:` to anything but loopback, unless `insecureHttp`: over it the registration
 * (which hands the server the record's OPRF key) and the device credential would cross the network
 * unprotected. Returns a warning to print when it lets plain http through, else undefined.
 */
export function checkChannel(url: string, insecureHttp: boolean | undefined): string | undefined {
  const u = new URL(url);
  if (u.protocol !== 'http:' || isLoopback(u)) return undefined;
  if (!insecureHttp)
    throw usageError(
      `refusing plain http:// to ${u.host}: whoever is on the network path could answer as the vault, take the registration (and guess the password offline) or the device credential`,
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

/** Where remembered keys live: `$XDG_CONFIG_HOME/e2ee-backup/vault-servers.json`. */
export function knownServersPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env['XDG_CONFIG_HOME'] || join(homedir(), '.config');
  return join(base, 'e2ee-backup', 'vault-servers.json');
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
