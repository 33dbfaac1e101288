/**
 * `e2ee-backup vault register | recover | change-password | delete`: the client side of the key
 * vault. The password protects the backup key on the vault server with OPAQUE: the server never
 * sees it, cannot test guesses offline, and destroys the key after 10 wrong ones.
 *
 * Passwords come from `--password-file`, `E2EE_BACKUP_PASSWORD` (the new one of
 * `change-password` from `E2EE_BACKUP_NEW_PASSWORD`), or a hidden prompt — asked twice when it
 * is being set. Which servers are trusted, and how: `../vault-trust.ts`; rate limits are waited
 * out: `../vault-retry.ts`.
 *
 * @module
 */

import { formatBackupKey } from '../../key/backup-key.js';
import { passwordWeakness } from '../../lifecycle/setup-flow.js';
import { createVaultClient, type VaultClient, type VaultClientOptions } from '../../vault/client.js';
import { serverKeyFingerprint } from '../../vault/protocol.js';
import type { Context } from '../context.js';
import { INSECURE_FAST_KDF, NEW_PASSWORD_ENV, obtainPassword, readKeyFile } from '../credentials.js';
import { CliError, EXIT, usageError } from '../exit-codes.js';
import { openFileOutput, pathExists } from '../io.js';
import { retryingFetch } from '../vault-retry.js';
import { parseTlsPin, pinnedFetch, TlsPinMismatch } from '../vault-tls.js';
import {
  checkChannel,
  parseFingerprint,
  rememberedKey,
  rememberKey,
  SERVER_KEY_ENV,
  TLS_PIN_ENV,
  type VaultSecret,
  vaultId,
} from '../vault-trust.js';

/** Flags every vault client command takes. */
export interface VaultFlags {
  /** The vault server, e.g. `https://vault.example`. */
  url: string;
  /** The account whose key the vault holds. */
  account: string;
  /** Read the password from the first line of this file. */
  passwordFile?: string;
  /** INSECURE, for tests and demos: register with Argon2id m=1 MiB, t=1, p=1. */
  insecureFastKdf?: boolean;
  /** The fingerprint the vault's key must have (else `E2EE_BACKUP_SERVER_KEY`, else the remembered one). */
  serverKey?: string;
  /** SHA-256 of the vault's TLS public key (else `E2EE_BACKUP_TLS_PIN`): `../vault-tls.ts`. */
  tlsPin?: string;
  /** Allow plain `http:` to a host other than loopback (`vault recover` only). */
  insecureHttp?: boolean;
}

/** What a vault command does, which decides what it may send over which channel. */
export type VaultUse = {
  /** The command's name, for messages. */
  command: string;
  /** It registers (so it must learn the server's key, and remembers it). */
  registering: boolean;
  /** What it sends that only the real vault may receive. */
  sends: VaultSecret;
};

/** Flags of `vault register` and `vault delete`. */
export interface VaultKeyFlags extends VaultFlags {
  /** The 64-digit code of the backup key. */
  keyFile: string;
}

/** Flags of `vault recover`. */
export interface VaultRecoverFlags extends VaultFlags {
  /** Save the code to this file (mode 0600) instead of printing it. */
  output?: string;
  /** Replace an existing `output`. */
  force?: boolean;
}

/** Flags of `vault change-password`. */
export interface VaultChangePasswordFlags extends VaultFlags {
  /** Read the new password from the first line of this file. */
  newPasswordFile?: string;
  /** Authorise with the backup key instead of the old password (a forgotten password). */
  keyFile?: string;
}

/** A vault client whose server has passed the checks of {@link openVault}. */
export interface OpenedVault {
  vault: VaultClient;
  /** After a registration went through: remembers the server's key for this vault URL. */
  registered(): Promise<void>;
}

/**
 * The vault client of the flags, once the channel and the server are checked. The channel by
 * `checkChannel`: a command that sends a registration or a device credential goes over `https:`
 * (or to loopback) only. With `--tls-pin`, every connection must show that TLS key. The server's
 * OPAQUE key must have the fingerprint `--server-key` or `E2EE_BACKUP_SERVER_KEY` pins, else the
 * one this device registered with at this URL, if any; a registration with neither trusts the key
 * it meets and remembers it. The client then compares that key before each operation (SPEC.md
 * §9.1): that catches a wrong or re-keyed server, not an impostor, which only the channel stops.
 * 429s are waited out (`retryingFetch`).
 */
export function openVault(flags: VaultFlags, ctx: Context, use: VaultUse): Promise<OpenedVault> {
  return prepareVault(flags, ctx, use)();
}

/**
 * {@link openVault} in two steps, for `setup`: the checks that need no network now (the channel,
 * the `--server-key` and `--tls-pin` spellings, the warnings), and a function that asks the
 * server, to call when it is time to register (and again if that failed).
 */
export function prepareVault(flags: VaultFlags, ctx: Context, use: VaultUse): () => Promise<OpenedVault> {
  const tlsPinText = flags.tlsPin ?? (process.env[TLS_PIN_ENV] || undefined);
  const tlsPin =
    tlsPinText === undefined
      ? undefined
      : parseTlsPin(tlsPinText, flags.tlsPin !== undefined ? '--tls-pin' : TLS_PIN_ENV);
  const channelWarning = checkChannel(flags.url, {
    command: use.command,
    sends: use.sends,
    insecureHttp: flags.insecureHttp,
    tlsPinned: tlsPin !== undefined,
  });
  if (channelWarning) ctx.warn(channelWarning);
  if (flags.insecureFastKdf)
    ctx.warn(
      'e2ee-backup: warning: --insecure-fast-kdf: the vault record uses Argon2id m=1 MiB, t=1, p=1; anyone who steals the server and its key file can guess the password quickly (tests only)',
    );
  const options: VaultClientOptions = {
    fetch: retryingFetch(ctx, tlsPin === undefined ? undefined : pinnedFetch(tlsPin)),
    ...(flags.insecureFastKdf ? { ksf: { ...INSECURE_FAST_KDF }, allowWeakKsf: true } : {}),
  };
  const fromEnv = process.env[SERVER_KEY_ENV];
  const pinned =
    flags.serverKey !== undefined
      ? parseFingerprint(flags.serverKey, '--server-key')
      : fromEnv
        ? parseFingerprint(fromEnv, SERVER_KEY_ENV)
        : undefined;
  return () => connect(flags, ctx, use.registering, options, pinned, tlsPin);
}

async function connect(
  flags: VaultFlags,
  ctx: Context,
  registering: boolean,
  options: VaultClientOptions,
  pinned: string | undefined,
  tlsPin: string | undefined,
): Promise<OpenedVault> {
  const remembered = await rememberedKey(flags.url);
  if (pinned !== undefined && remembered !== undefined && pinned !== remembered)
    ctx.warn(
      `e2ee-backup: warning: the pinned key differs from the one this device registered with at ${vaultId(flags.url)} (${remembered}); trusting the pinned one`,
    );
  const expected = pinned ?? remembered;
  if (expected === undefined && !registering && tlsPin === undefined)
    return { vault: createVaultClient(flags.url, options), registered: async () => {} };

  const { serverPublicKey } = await createVaultClient(flags.url, options)
    .info()
    .catch((e: unknown) => {
      const cause = (e as { cause?: unknown }).cause;
      if (!(cause instanceof TlsPinMismatch)) throw e;
      throw new CliError(
        EXIT.CORRUPT,
        `the vault at ${vaultId(flags.url)} shows the TLS key ${cause.actual ?? '(none)'}, not ${tlsPin} (the pinned one); nothing was sent to it`,
        "If its operator replaced the certificate's key on purpose, check the new pin with them and pass it with --tls-pin; otherwise do not use this server",
        { cause: e },
      );
    });
  const actual = serverKeyFingerprint(serverPublicKey);
  if (expected !== undefined && actual !== expected)
    throw new CliError(
      EXIT.CORRUPT,
      `the vault at ${vaultId(flags.url)} has the key ${actual}, not ${expected} (${pinned !== undefined ? 'the pinned one' : 'the one this device registered with'})`,
      `If its operator replaced the key on purpose, check the new fingerprint with them and pass --server-key ${actual}; otherwise do not use this server`,
    );
  return {
    vault: createVaultClient(flags.url, { ...options, serverPublicKey }),
    async registered() {
      if (remembered === actual) return;
      await rememberKey(flags.url, actual);
      if (expected === undefined)
        ctx.warn(
          `e2ee-backup: the vault's key fingerprint is ${actual}: compare it with the one 'vault serve' printed. Commands to ${vaultId(flags.url)} now refuse any other key.`,
        );
    },
  };
}

/**
 * Refuses a new vault password that `e2ee-backup setup` would refuse: one that guards the backup
 * key must not be guessable in the vault's ten attempts, nor offline by whoever takes the server.
 */
async function refuseWeak(password: string): Promise<void> {
  const weak = await passwordWeakness(password);
  if (weak)
    throw usageError(
      `the new vault password is too weak: ${weak.error}${weak.feedback?.length ? ` (${weak.feedback.join(' ')})` : ''}`,
      'Choose a longer passphrase, such as four or more unrelated words',
    );
}

/** Runs `vault register`: puts the backup key in the vault, behind a new password. */
export async function vaultRegister(flags: VaultKeyFlags, ctx: Context): Promise<void> {
  const backupKey = await readKeyFile(flags.keyFile, ctx.warn);
  try {
    const password = await obtainPassword(flags, { confirm: true });
    await refuseWeak(password);
    const { vault, registered } = await openVault(flags, ctx, {
      command: 'vault register',
      registering: true,
      sends: 'registration',
    });
    const status = await vault.register({ account: flags.account, password, backupKey });
    await registered();
    ctx.info(
      `${status === 'created' ? 'Registered' : 'Re-registered'}: the vault at ${flags.url} holds the backup key of '${flags.account}' behind your password. Ten wrong passwords in a row destroy it.`,
    );
  } finally {
    backupKey.fill(0);
  }
}

/**
 * Runs `vault recover`: the backup key from the vault, with the password (one counted attempt).
 * Prints the 64-digit code, or saves it with `-o` (mode 0600).
 */
export async function vaultRecover(flags: VaultRecoverFlags, ctx: Context): Promise<void> {
  // Refused before the attempt is spent, not after.
  if (flags.output !== undefined && !flags.force && (await pathExists(flags.output)))
    throw usageError(
      `${flags.output} already exists; refusing to overwrite it (it may hold the only copy of a key)`,
      'Choose another name, or add --force to replace it',
    );
  const out =
    flags.output !== undefined
      ? await openFileOutput(flags.output, { mode: 0o600, overwrite: flags.force === true })
      : undefined;
  try {
    const password = await obtainPassword(flags, { confirm: false });
    const { vault } = await openVault(flags, ctx, {
      command: 'vault recover',
      registering: false,
      sends: undefined,
    });
    const key = await vault.recover({ account: flags.account, password });
    const code = formatBackupKey(key);
    key.fill(0);
    if (out) {
      await out.write(new TextEncoder().encode(`${code}\n`));
      await out.commit();
      ctx.info(`Recovered the backup key of '${flags.account}'; saved to ${flags.output} (mode 0600).`);
    } else process.stdout.write(`${code}\n`);
  } catch (e) {
    await out?.abort();
    throw e;
  }
}

/**
 * Runs `vault change-password`: with the old password (one counted attempt), or — on the device
 * that holds the backup key — with `--key-file` instead, for a forgotten password.
 */
export async function vaultChangePassword(flags: VaultChangePasswordFlags, ctx: Context): Promise<void> {
  const { vault, registered } = await openVault(flags, ctx, {
    command: 'vault change-password',
    registering: true,
    sends: 'registration',
  });
  // Checked before the vault is asked anything, so a refusal spends no attempt.
  const newPassword = async () => {
    const password = await obtainPassword(
      { passwordFile: flags.newPasswordFile },
      { confirm: true, label: 'New password', envName: NEW_PASSWORD_ENV },
    );
    await refuseWeak(password);
    return password;
  };
  if (flags.keyFile !== undefined) {
    const backupKey = await readKeyFile(flags.keyFile, ctx.warn);
    try {
      await vault.resetPassword({ account: flags.account, backupKey, newPassword: await newPassword() });
    } finally {
      backupKey.fill(0);
    }
  } else {
    const oldPassword = await obtainPassword(flags, { confirm: false, label: 'Current password' });
    await vault.changePassword({
      account: flags.account,
      oldPassword,
      newPassword: await newPassword(),
    });
  }
  await registered();
  ctx.info(`Changed: the vault's copy of the key of '${flags.account}' now opens with the new password.`);
}

/** Runs `vault delete`: removes the account's record, authorised by the backup key. */
export async function vaultDelete(flags: VaultKeyFlags, ctx: Context): Promise<void> {
  const backupKey = await readKeyFile(flags.keyFile, ctx.warn);
  try {
    const { vault } = await openVault(flags, ctx, {
      command: 'vault delete',
      registering: false,
      sends: 'device credential',
    });
    await vault.delete({ account: flags.account, backupKey });
  } finally {
    backupKey.fill(0);
  }
  ctx.info(`Deleted: the vault at ${flags.url} no longer holds a key for '${flags.account}'.`);
}
