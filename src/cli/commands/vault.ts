/**
 * `e2ee-backup vault register | recover | change-password | delete`: the client side of the key
 * vault. The password protects the backup key on the vault server with OPAQUE: the server never
 * sees it, cannot test guesses offline, and destroys the key after 10 wrong ones.
 *
 * Passwords come from `--password-file`, `E2EE_BACKUP_PASSWORD` (the new one of
 * `change-password` from `E2EE_BACKUP_NEW_PASSWORD`), or a hidden prompt — asked twice when it
 * is being set.
 *
 * @module
 */

import { formatBackupKey } from '../../key.js';
import { passwordWeakness } from '../../setup.js';
import { createVaultClient, type VaultClient } from '../../vault/client.js';
import type { Context } from '../context.js';
import { INSECURE_FAST_KDF, NEW_PASSWORD_ENV, obtainPassword, readKeyFile } from '../credentials.js';
import { usageError } from '../exit-codes.js';
import { openFileOutput, pathExists } from '../io.js';

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
}

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

/** The vault client of the flags (with a warning for `--insecure-fast-kdf`); `setup` uses it too. */
export function client(flags: VaultFlags, ctx: Context): VaultClient {
  if (flags.insecureFastKdf)
    ctx.warn(
      'e2ee-backup: warning: --insecure-fast-kdf: the vault record uses Argon2id m=1 MiB, t=1, p=1; anyone who steals the server and its key file can guess the password quickly (tests only)',
    );
  return createVaultClient(flags.url, {
    ...(flags.insecureFastKdf ? { ksf: { ...INSECURE_FAST_KDF }, allowWeakKsf: true } : {}),
  });
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
    const status = await client(flags, ctx).register({ account: flags.account, password, backupKey });
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
    const key = await client(flags, ctx).recover({ account: flags.account, password });
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
  const vault = client(flags, ctx);
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
  ctx.info(`Changed: the vault's copy of the key of '${flags.account}' now opens with the new password.`);
}

/** Runs `vault delete`: removes the account's record, authorised by the backup key. */
export async function vaultDelete(flags: VaultKeyFlags, ctx: Context): Promise<void> {
  const backupKey = await readKeyFile(flags.keyFile, ctx.warn);
  try {
    await client(flags, ctx).delete({ account: flags.account, backupKey });
  } finally {
    backupKey.fill(0);
  }
  ctx.info(`Deleted: the vault at ${flags.url} no longer holds a key for '${flags.account}'.`);
}
