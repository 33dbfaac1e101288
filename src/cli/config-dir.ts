/**
 * Where the CLI keeps what it remembers between runs (the backup state file, the vault servers'
 * keys): one function, so that every file follows the same rule.
 *
 * @module
 */

import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/**
 * `$XDG_CONFIG_HOME/e2ee-backup`, or `~/.config/e2ee-backup`. A relative `XDG_CONFIG_HOME` is
 * ignored, as the XDG Base Directory Specification says: it would name a different folder in
 * every working directory.
 */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_CONFIG_HOME'];
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.config'), 'e2ee-backup');
}
