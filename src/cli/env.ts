/**
 * The names of the environment variables the commands read, apart from the modules that read
 * them: the help text of main.ts needs only the names, and importing them from
 * ./credentials.ts or ./vault-trust.ts would load the key parsers, @noble/hashes and the vault's
 * trust store before every command, `--version` included.
 *
 * @module
 */

/** The environment variable scripts put the password in. */
export const PASSWORD_ENV = 'E2EE_BACKUP_PASSWORD';

/** The environment variable scripts put the new password in (`vault change-password`). */
export const NEW_PASSWORD_ENV = 'E2EE_BACKUP_NEW_PASSWORD';

/** The environment variable that pins the vault server's key, as `--server-key` does. */
export const SERVER_KEY_ENV = 'E2EE_BACKUP_SERVER_KEY';

/** The environment variable that pins the vault's TLS key, as `--tls-pin` does (`./vault-tls.ts`). */
export const TLS_PIN_ENV = 'E2EE_BACKUP_TLS_PIN';
