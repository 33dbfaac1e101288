#!/usr/bin/env node
/**
 * The `e2ee-backup` command: argument parsing (commander), signal handling and the one place
 * where failures become exit statuses and messages (see ./exit-codes.ts).
 *
 * @module
 */

import { Command, CommanderError, Option } from 'commander';
import { version } from '../../package.json';
import {
  byteSize,
  collectMeta,
  compressionMode,
  integerIn,
  kdfMemoryKib,
  setName,
  vaultUrl,
} from './args.js';
import { runPendingCleanupsSync } from './cleanups.js';
import { createContext } from './context.js';
import { NEW_PASSWORD_ENV, PASSWORD_ENV, SERVER_KEY_ENV, TLS_PIN_ENV } from './env.js';
import { describeError, EXIT, withNote } from './exit-codes.js';
import { keepMallocHeapTop, keepYoungGenerationSmall, V8_DEFAULTS_ENV } from './memory.js';

const HELP_FOOTER = `
Exit status:
  0  success
  1  usage: bad flags or arguments, no credential, refusing to write to a terminal
  2  wrong key or password, a key file that is not a 64-digit code, a code not confirmed;
     a wrong vault password (the message says how many attempts are left), a vault locked
     for good after too many wrong ones (VAULT_LOCKED), an unknown account
  3  corrupted, tampered, truncated or unsupported input; a rolled-back backup refused
  4  I/O error (missing file, permissions, full disk, closed pipe); vault unreachable or
     rate-limiting (try again later)
  130  interrupted (Ctrl-C)

Environment:
  ${PASSWORD_ENV}  the password, for scripts (instead of --password's prompt);
    with it, encrypt and backup create write a password slot and say so, even with -q
  ${NEW_PASSWORD_ENV}  the new password of 'vault change-password'
  ${SERVER_KEY_ENV}  the fingerprint the vault's key must have (as --server-key)
  ${TLS_PIN_ENV}  the vault's TLS public key pin (as --tls-pin)
  E2EE_BACKUP_DEBUG=1   print stack traces with errors
  XDG_CONFIG_HOME       where 'backup' keeps its state file (e2ee-backup/state.json; default ~/.config)
  ${V8_DEFAULTS_ENV}=1  leave V8's memory management alone. By default, on Node 20,
    22 and 24, the CLI keeps V8's young generation small and collects dead buffers
    sooner (on Node 24, up to 50 MiB less memory), and collects garbage while 'encrypt'
    or 'backup create' compresses, and on 22 and 24 while 'decrypt' runs (about 15 MiB
    less, a few % more time)

Examples:
  e2ee-backup setup --out backup.key
  e2ee-backup keygen --out backup.key
  e2ee-backup encrypt chats.db -o chats.e2ee --key-file backup.key --password
  tar c chats/ | e2ee-backup encrypt --key-file backup.key > chats.tar.e2ee
  e2ee-backup decrypt chats.e2ee -o chats.db --key-file backup.key
  e2ee-backup verify chats.e2ee --password
  e2ee-backup backup create chats.db --store backups/ --key-file backup.key
  e2ee-backup backup restore --store backups/ -o chats.db --key-file backup.key
  e2ee-backup backup create chats.db --store s3://my-bucket/chat --key-file backup.key
  e2ee-backup vault register --url https://vault.example --account alice --key-file backup.key
  e2ee-backup vault recover --url https://vault.example --account alice -o backup.key
  e2ee-backup whatsapp decrypt msgstore.db.crypt15 --key-file encrypted_backup.key -o msgstore.db`;

const SETUP_HELP = `
On a terminal, setup shows the code, waits for Enter after it and after each warning, then
asks you to type the code back from your copy; three wrong entries show it again. A password
is asked twice, hidden, and refused with advice when it is easy to guess; then it is
registered with the vault. The key file is written (atomically) only once setup is done.

Without a terminal (standard input is not one), setup runs for scripts, as strictly:
  --method is required. The code is printed on standard output, one line, and must be
  written back on standard input: each line is one attempt (the whole code is accepted when
  --confirm-groups asks for fewer groups). If standard input ends first, nothing is written
  (exit 2). Warnings go to standard error and need no Enter. The password comes from
  --password-file or ${PASSWORD_ENV}, never from an argument; a weak one exits 1
  with the advice.

Examples:
  e2ee-backup setup --out backup.key
  e2ee-backup setup --method password --url https://vault.example --account alice
  coproc S { e2ee-backup setup --method code --out backup.key; }   # bash, as a script:
  read -r code <&"\${S[0]}"; echo "$code" >&"\${S[1]}"; wait "$S_PID"`;

/**
 * The value someone gave `--password` (`--password VALUE`, `-p VALUE`, `--password=VALUE`), if
 * any. `--password` takes none: it asks on the terminal.
 */
export function passwordArgument(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return undefined;
    if (a.startsWith('--password=')) return a.slice('--password='.length);
    const next = argv[i + 1];
    if ((a === '--password' || a === '-p') && next !== undefined && !next.startsWith('-')) return next;
  }
  return undefined;
}

const PASSWORD_NOT_AN_ARGUMENT =
  'passwords never come from arguments: other users can read them in the process list, and they stay in the shell history';
const PASSWORD_SOURCES = `Type the password when asked, or use --password-file FILE or ${PASSWORD_ENV}`;

/** Usage errors from commander, reworded into the tool's `e2ee-backup: <problem>. <fix>.` form. */
function configure(cmd: Command, name: string): Command {
  return cmd.exitOverride().configureOutput({
    outputError: (str, write) => {
      // `--password hunter2` is "too many arguments" (or an unknown option where there is no
      // --password): say why instead.
      if (
        passwordArgument(process.argv.slice(2)) !== undefined &&
        /too many arguments|unknown option '--password|'-p, --password'/.test(str)
      ) {
        write(
          `e2ee-backup: --password takes no value, and ${PASSWORD_NOT_AN_ARGUMENT}. ${PASSWORD_SOURCES}.\n`,
        );
        return;
      }
      const problem = str
        .replace(/^error: /, '')
        .trim()
        .replace(/\.$/, '');
      write(`e2ee-backup: ${problem}. Run 'e2ee-backup ${name}${name ? ' ' : ''}--help' for usage.\n`);
    },
  });
}

function credentialOptions(cmd: Command, verb: string): Command {
  return cmd
    .option(
      '-k, --key-file <file>',
      `${verb} with the 64-digit backup key code in FILE (from keygen), or WhatsApp's encrypted_backup.key`,
    )
    .addOption(
      new Option('-p, --password', `${verb} with a password, asked on the terminal (or ${PASSWORD_ENV})`),
    )
    .addOption(
      new Option(
        '--password-file <file>',
        'read the password from FILE: its first line, up to the first LF (a CR before it is dropped)',
      ).conflicts('password'),
    );
}

const WEAK_PASSWORD_HELP =
  'accept a password setup would refuse (under 10 characters or easy to guess): anyone with the file can guess it offline';

// Options shared by the vault client commands and `setup`, which registers with the vault too.
const passwordFile = () =>
  new Option(
    '--password-file <file>',
    'read the password from FILE: its first line, up to the first LF (a CR before it is dropped)',
  );
const fastKdf = () =>
  new Option('--insecure-fast-kdf', 'INSECURE, for tests: register with Argon2id m=1MiB, t=1, p=1');
const serverKey = () =>
  new Option(
    '--server-key <fingerprint>',
    `the vault's key must have this fingerprint (as 'vault serve' prints it; or ${SERVER_KEY_ENV})`,
  );
const tlsPin = () =>
  new Option(
    '--tls-pin <sha256>',
    `the vault's TLS certificate must have this public key (SHA-256 of its SPKI, hex or curl's sha256//BASE64; or ${TLS_PIN_ENV}); a self-signed certificate then works`,
  );
const insecureHttp = () =>
  new Option(
    '--insecure-http',
    "let 'vault recover' use plain http:// to a vault that is not on this machine (no TLS); refused by the commands that register or send the device credential",
  );

const setOption = () =>
  new Option(
    '--set <name>',
    "this machine's backup set (default: remembered in the state file, else a new one)",
  ).argParser(setName);
const stateOption = () =>
  new Option(
    '--state <file>',
    'the state file (default: $XDG_CONFIG_HOME/e2ee-backup/state.json, or ~/.config/e2ee-backup/state.json)',
  );

// `backup list` and `restore` open a folder of backups, planted ones included: bounded by default
// by what this machine writes there, not by the decoder's 1 GiB.
const folderKdfMemory = () =>
  new Option(
    '--max-kdf-memory <size>',
    "refuse password slots asking Argon2id for more memory (default: the most this machine's backups in the folder use, at least 64MiB; bare number = KiB); when given, iterations and lanes are bounded as in decrypt",
  ).argParser(kdfMemoryKib);

function openOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--max-kdf-memory <size>',
        'refuse password slots asking Argon2id for more memory (default 1GiB; bare number = KiB)',
      ).argParser(kdfMemoryKib),
    )
    .addOption(
      new Option('--max-output <size>', 'stop if the plaintext grows past SIZE (default 1TiB)').argParser(
        byteSize,
      ),
    );
}

/**
 * Builds the command tree; actions receive the abort signal fired by SIGINT/SIGTERM. Each
 * command's module is imported when it runs, so that `decrypt` never loads the vault's OPAQUE,
 * Hono or zxcvbn: about 20 MiB less peak RSS and a faster start.
 */
export function buildProgram(signal: AbortSignal): Command {
  const program = configure(new Command('e2ee-backup'), '')
    .description('End-to-end encrypted backups, opened with a 64-digit backup key code and/or a password.')
    .version(version, '-V, --version')
    .addHelpText('after', HELP_FOOTER)
    .showSuggestionAfterError(true);

  configure(program.command('keygen'), 'keygen')
    .description('generate a backup key and print its 64-digit code (asks you to type it back on a terminal)')
    .option('-o, --out <file>', 'also save the code to FILE, readable by you only (mode 0600)')
    .option('-f, --force', 'replace an existing --out file')
    .option('--json', 'print {"code": ..., "savedTo": ...} (no type-back check)')
    .option('--no-confirm', 'skip the type-back check on a terminal')
    .option('-q, --quiet', 'no warning text')
    .action(async (flags) =>
      (await import('./commands/keygen.js')).keygen(flags, createContext(signal, flags.quiet)),
    );

  configure(program.command('setup'), 'setup')
    .description(
      'set up encrypted backup: a 64-digit code you type back, or a password a vault keeps the key behind',
    )
    .addOption(
      new Option('--method <method>', 'code or password (asked on a terminal; required without one)').choices(
        ['code', 'password'],
      ),
    )
    .option('-o, --out <file>', 'save the backup key code to FILE, mode 0600 (required for the code path)')
    .option('-f, --force', 'replace an existing --out file')
    .addOption(
      new Option(
        '--confirm-groups <n>',
        'type back N groups of 4 chosen at random (default all 16)',
      ).argParser(integerIn(1, 16)),
    )
    .addOption(new Option('--url <url>', 'the vault server (password path)').argParser(vaultUrl))
    .option('--account <name>', 'the vault account to keep the key under (password path)')
    .addOption(passwordFile())
    .addOption(fastKdf())
    .addOption(serverKey())
    .addOption(tlsPin())
    .addOption(insecureHttp())
    .option('-q, --quiet', 'no summary; without a terminal, no warnings on standard error either')
    .addHelpText('after', SETUP_HELP)
    .action(async (flags) => (await import('./setup.js')).setup(flags, createContext(signal, flags.quiet)));

  credentialOptions(
    configure(program.command('encrypt'), 'encrypt')
      .description('encrypt IN (default: standard input) into a backup at OUT (default: standard output)')
      .argument('[in]', "file to encrypt, or '-' for standard input")
      .option(
        '-o, --output <out>',
        "where to write the backup ('-' for standard output); replaced only when complete",
      ),
    'encrypt',
  )
    .addOption(
      new Option('--compression <mode>', 'deflate: compress blocks that shrink; none: store them')
        .choices(['deflate', 'none'])
        .argParser(compressionMode)
        .default('deflate'),
    )
    .addOption(
      new Option('--level <n>', 'deflate level 1 (fast) to 9 (small); default 5').argParser(integerIn(1, 9)),
    )
    .option('--no-padding', 'do not pad with Padmé (the size then reveals the content size)')
    .option(
      '--meta <key=value>',
      'store an application field in the encrypted metadata (repeatable)',
      collectMeta,
    )
    .addOption(
      new Option('--generation <n>', 'rollback protection: a number that grows with each backup').argParser(
        integerIn(0, Number.MAX_SAFE_INTEGER),
      ),
    )
    .addOption(
      new Option(
        '--kdf-memory <size>',
        'Argon2id memory for the password slot (default 64MiB; bare number = KiB)',
      ).argParser(kdfMemoryKib),
    )
    .addOption(
      new Option('--kdf-iterations <n>', 'Argon2id passes (default 3)').argParser(integerIn(1, 2 ** 32 - 1)),
    )
    .addOption(
      new Option('--kdf-parallelism <n>', 'Argon2id lanes (default 4)').argParser(integerIn(1, 2 ** 24 - 1)),
    )
    .option(
      '--allow-weak-kdf',
      'accept --kdf-* values below the OWASP minimum (slow devices that know the risk)',
    )
    .option('--insecure-fast-kdf', 'INSECURE, for tests: Argon2id m=1MiB, t=1, p=1')
    .option('--allow-weak-password', WEAK_PASSWORD_HELP)
    .option(
      '-q, --quiet',
      'no progress, summary or warnings (the slots are still named when the password comes from the environment)',
    )
    .action(async (input, flags) =>
      (await import('./commands/encrypt.js')).encrypt(input, flags, createContext(signal, flags.quiet)),
    );

  openOptions(
    credentialOptions(
      configure(program.command('decrypt'), 'decrypt')
        .description('decrypt a backup IN (default: standard input) into OUT (default: standard output)')
        .argument('[in]', "backup to decrypt, or '-' for standard input")
        .option(
          '-o, --output <out>',
          "where to write the plaintext ('-' for standard output); appears only once it all authenticates",
        ),
      'decrypt',
    ),
  )
    .option('-q, --quiet', 'no progress, summary or warnings')
    .action(async (input, flags) =>
      (await import('./commands/decrypt.js')).decrypt(input, flags, createContext(signal, flags.quiet)),
    );

  configure(program.command('inspect'), 'inspect')
    .description("show a backup's header without a key (unauthenticated: anyone can change it)")
    .argument('<file>', "backup file, or '-' for standard input")
    .option('--json', 'print JSON')
    .action(async (file, flags) =>
      (await import('./commands/inspect.js')).inspect(file, flags, createContext(signal, true)),
    );

  openOptions(
    credentialOptions(
      configure(program.command('verify'), 'verify')
        .description('restore drill: decrypt everything to nowhere and report metadata, sizes and speed')
        .argument('<file>', "backup file, or '-' for standard input"),
      'open the backup',
    ),
  )
    .option('--json', 'print JSON (also on failure)')
    .option('-q, --quiet', 'no progress or warnings')
    .action(async (file, flags) =>
      (await import('./commands/verify.js')).verify(file, flags, createContext(signal, flags.quiet)),
    );

  const backup = configure(program.command('backup'), 'backup').description(
    'keep exactly one current backup in a folder: create (new, verified, then the old removed), list, restore',
  );
  credentialOptions(
    configure(backup.command('create'), 'backup create')
      .description(
        "back up SOURCE (default: standard input) into the folder, then remove this machine's older backups",
      )
      .argument('[source]', "file to back up, or '-' for standard input")
      .requiredOption(
        '-s, --store <dir>',
        'the folder of backups (created if missing), or s3://bucket/prefix',
      )
      .option('--s3-endpoint <url>', 'an S3-compatible service instead of AWS, e.g. http://127.0.0.1:7480')
      .option(
        '--s3-path-style',
        'path-style S3 requests (endpoint/bucket/key), which most S3-compatible services need',
      ),
    'encrypt',
  )
    .addOption(setOption())
    .addOption(stateOption())
    .option('--remove-source', 'remove SOURCE once the backup has verified (unless it changed meanwhile)')
    .option(
      '--replaces <file>',
      'an unencrypted copy to remove once the backup has verified (repeatable)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option(
      '--allow-unreadable-newest',
      'write even when a backup that may be newer cannot be opened and no generation is known',
    )
    .option(
      '--meta <key=value>',
      'store an application field in the encrypted metadata (repeatable)',
      collectMeta,
    )
    .addOption(
      new Option(
        '--newest-seen <n>',
        'the newest generation this device has seen (the new one is larger)',
      ).argParser(integerIn(0, Number.MAX_SAFE_INTEGER - 1)),
    )
    .addOption(
      new Option(
        '--kdf-memory <size>',
        'Argon2id memory for the password slot (default 64MiB; bare number = KiB)',
      ).argParser(kdfMemoryKib),
    )
    .addOption(
      new Option('--kdf-iterations <n>', 'Argon2id passes (default 3)').argParser(integerIn(1, 2 ** 32 - 1)),
    )
    .addOption(
      new Option('--kdf-parallelism <n>', 'Argon2id lanes (default 4)').argParser(integerIn(1, 2 ** 24 - 1)),
    )
    .option(
      '--allow-weak-kdf',
      'accept --kdf-* values below the OWASP minimum (slow devices that know the risk)',
    )
    .option('--insecure-fast-kdf', 'INSECURE, for tests: Argon2id m=1MiB, t=1, p=1')
    .option('--allow-weak-password', WEAK_PASSWORD_HELP)
    .option('--json', 'print {"name", "generation", "set", "bytes", "removed", "kept", "removedFiles"}')
    .option(
      '-q, --quiet',
      'no warnings (the slots are still named when the password comes from the environment)',
    )
    .action(async (source, flags) =>
      (await import('./commands/backup.js')).backupCreate(source, flags, createContext(signal, flags.quiet)),
    );

  credentialOptions(
    configure(backup.command('list'), 'backup list')
      .description(
        "list the folder's backups (generations as their names claim; with a credential, what each holds)",
      )
      .requiredOption('-s, --store <dir>', 'the folder of backups, or s3://bucket/prefix')
      .option('--s3-endpoint <url>', 'an S3-compatible service instead of AWS, e.g. http://127.0.0.1:7480')
      .option(
        '--s3-path-style',
        'path-style S3 requests (endpoint/bucket/key), which most S3-compatible services need',
      ),
    'open the backups',
  )
    .addOption(folderKdfMemory())
    .addOption(stateOption())
    .option('--json', 'print JSON')
    .action(async (flags) =>
      (await import('./commands/backup.js')).backupList(flags, createContext(signal, true)),
    );

  credentialOptions(
    configure(backup.command('restore'), 'backup restore')
      .description('restore the newest backup in the folder that the credentials open')
      .requiredOption('-s, --store <dir>', 'the folder of backups, or s3://bucket/prefix')
      .option('--s3-endpoint <url>', 'an S3-compatible service instead of AWS, e.g. http://127.0.0.1:7480')
      .option(
        '--s3-path-style',
        'path-style S3 requests (endpoint/bucket/key), which most S3-compatible services need',
      )
      .requiredOption(
        '-o, --output <out>',
        "where to write the plaintext ('-' for standard output); appears only once it all authenticates",
      ),
    'open the backups',
  )
    .addOption(
      new Option(
        '--newest-seen <n>',
        'rollback protection: refuse a newest backup older than generation N (exit 3); the state file remembers it too',
      ).argParser(integerIn(0, Number.MAX_SAFE_INTEGER)),
    )
    .option('--allow-rollback', 'restore an older generation than the newest seen anyway')
    .addOption(new Option('--set <name>', 'restore only the backups of this set').argParser(setName))
    .addOption(folderKdfMemory())
    .addOption(stateOption())
    .option('-q, --quiet', 'no summary or warnings')
    .action(async (flags) =>
      (await import('./commands/backup.js')).backupRestore(flags, createContext(signal, flags.quiet)),
    );

  const vault = configure(program.command('vault'), 'vault').description(
    'the key vault: a password you can remember unlocks the backup key; 10 wrong ones destroy it',
  );
  configure(vault.command('serve'), 'vault serve')
    .description('run a vault server; prints its URL and key fingerprint, stops cleanly on Ctrl-C or SIGTERM')
    .addOption(
      new Option('--port <n>', 'TCP port; 0 picks a free one (default 8787)').argParser(integerIn(0, 65535)),
    )
    .option('--host <address>', 'listen address (default 127.0.0.1; put TLS in front for anything else)')
    .option('--db <file>', 'the embedded SQLite store (default vault.sqlite)')
    .option(
      '--key-file <file>',
      "the server's secrets, created with mode 0600 on first start (default vault-keys.json)",
    )
    .option('--postgres <url>', 'a PostgreSQL store instead, shared by several vault nodes')
    .option(
      '--insecure-fast-kdf',
      'INSECURE, for tests and demos: accept Argon2id m=1MiB, t=1, p=1 registrations',
    )
    .option('--no-rate-limit', 'no per-account or per-address rate limits (tests and demos)')
    .option('-q, --quiet', 'no request log or notices')
    .action(async (flags) =>
      (await import('./commands/vault-serve.js')).vaultServe(flags, createContext(signal, flags.quiet)),
    );

  const vaultClient = (name: string, description: string) =>
    configure(vault.command(name), `vault ${name}`)
      .description(description)
      .requiredOption('--url <url>', 'the vault server, e.g. https://vault.example', vaultUrl)
      .requiredOption('--account <name>', 'the account the key is kept under')
      .addOption(serverKey())
      .addOption(tlsPin())
      .addOption(insecureHttp());
  vaultClient(
    'register',
    `put the backup key in the vault behind a password (asked twice, or ${PASSWORD_ENV})`,
  )
    .requiredOption('-k, --key-file <file>', 'the 64-digit backup key code (from keygen)')
    .addOption(passwordFile())
    .addOption(fastKdf())
    .option('-q, --quiet', 'no summary or warnings')
    .action(async (flags) =>
      (await import('./commands/vault.js')).vaultRegister(flags, createContext(signal, flags.quiet)),
    );

  vaultClient('recover', 'get the backup key back with the password (a wrong one counts against the 10)')
    .option('-o, --output <file>', 'save the 64-digit code to FILE (mode 0600) instead of printing it')
    .option('-f, --force', 'replace an existing --output file')
    .addOption(passwordFile())
    .option('-q, --quiet', 'no summary or warnings')
    .action(async (flags) =>
      (await import('./commands/vault.js')).vaultRecover(flags, createContext(signal, flags.quiet)),
    );

  vaultClient(
    'change-password',
    `set a new password (${NEW_PASSWORD_ENV} or asked twice), proving the old one or --key-file`,
  )
    .addOption(passwordFile())
    .option(
      '--new-password-file <file>',
      'read the new password from FILE: its first line, as --password-file',
    )
    .option('-k, --key-file <file>', 'forgot the password? authorise with the backup key instead')
    .addOption(fastKdf())
    .option('-q, --quiet', 'no summary or warnings')
    .action(async (flags) =>
      (await import('./commands/vault.js')).vaultChangePassword(flags, createContext(signal, flags.quiet)),
    );

  vaultClient('delete', "remove the account's key from the vault (authorised by the backup key)")
    .requiredOption('-k, --key-file <file>', 'the 64-digit backup key code')
    .option('-q, --quiet', 'no summary or warnings')
    .action(async (flags) =>
      (await import('./commands/vault.js')).vaultDelete(flags, createContext(signal, flags.quiet)),
    );

  const whatsapp = configure(program.command('whatsapp'), 'whatsapp').description(
    "WhatsApp's Android end-to-end encrypted backups (.crypt15), opened with their 64-digit key",
  );
  const whatsappKey = () =>
    new Option(
      '-k, --key-file <file>',
      "WhatsApp's encrypted_backup.key, or a text file holding the 64-digit code",
    ).makeOptionMandatory();
  const whatsappMaxOutput = () =>
    new Option('--max-output <size>', 'stop if the database grows past SIZE (default 1TiB)').argParser(
      byteSize,
    );
  configure(whatsapp.command('decrypt'), 'whatsapp decrypt')
    .description('decrypt a .crypt15 file IN (default: standard input) into its database at OUT')
    .argument('[in]', "the .crypt15 file, or '-' for standard input")
    .addOption(whatsappKey())
    .option(
      '-o, --output <out>',
      "where to write the database ('-' for standard output); appears only once it all authenticates",
    )
    .addOption(whatsappMaxOutput())
    .option('-q, --quiet', 'no progress, summary or warnings')
    .action(async (input, flags) =>
      (await import('./commands/whatsapp.js')).whatsappDecrypt(
        input,
        flags,
        createContext(signal, flags.quiet),
      ),
    );
  configure(whatsapp.command('inspect'), 'whatsapp inspect')
    .description("show a .crypt15 file's prefix without the key (unauthenticated: anyone can change it)")
    .argument('<file>', "the .crypt15 file, or '-' for standard input")
    .option('--phone-digits', 'also show the last two digits of the phone number')
    .option('--json', 'print JSON')
    .action(async (file, flags) =>
      (await import('./commands/whatsapp.js')).whatsappInspect(file, flags, createContext(signal, true)),
    );
  configure(whatsapp.command('import'), 'whatsapp import')
    .description(
      're-encrypt a .crypt15 file into an e2ee-backup backup under the same key (nothing decrypted touches the disk)',
    )
    .argument('[in]', "the .crypt15 file, or '-' for standard input")
    .addOption(whatsappKey())
    .option('-o, --output <out>', "the new backup ('-' for standard output); replaced only when complete")
    .option(
      '-s, --store <dir>',
      "or: add it to this folder of backups, as 'backup create' does (this machine's older ones are removed)",
    )
    .addOption(setOption())
    .addOption(stateOption())
    .addOption(
      new Option(
        '--newest-seen <n>',
        'with --store: the newest generation this device has seen (the new one is larger)',
      ).argParser(integerIn(0, Number.MAX_SAFE_INTEGER - 1)),
    )
    .option(
      '--allow-unreadable-newest',
      'with --store: write even when a backup that may be newer cannot be opened and no generation is known',
    )
    .addOption(whatsappMaxOutput())
    .option('--json', 'with --store: print {"name", "generation", "set", "removed", "kept"}')
    .option('-q, --quiet', 'no progress or summary')
    .action(async (input, flags) =>
      (await import('./commands/whatsapp.js')).whatsappImport(
        input,
        flags,
        createContext(signal, flags.quiet),
      ),
    );

  return program;
}

/** Prints the error the tool's way and returns the exit status. */
function report(err: unknown): number {
  // `decrypt -p hunter2` takes hunter2 for the input file: when that is what cannot be found, say
  // why it was taken for one.
  const given = passwordArgument(process.argv.slice(2));
  if (given !== undefined && (err as { code?: unknown; path?: unknown } | null)?.path === given)
    withNote(
      err,
      `${given} followed --password, which takes no value, and ${PASSWORD_NOT_AN_ARGUMENT}. ${PASSWORD_SOURCES}`,
    );
  const { exitCode, message } = describeError(err);
  process.stderr.write(`${message}\n`);
  if (process.env['E2EE_BACKUP_DEBUG'] === '1') {
    for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause)
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  }
  return exitCode;
}

async function main(argv: string[]): Promise<void> {
  const controller = new AbortController();
  let interrupted = false;
  const onSignal = (name: NodeJS.Signals) => {
    const bail = () => {
      runPendingCleanupsSync();
      if (process.stderr.isTTY) process.stderr.write('\x1b[?25h'); // the progress bar hides the cursor
      process.stderr.write('\ne2ee-backup: interrupted. Nothing was written.\n');
      process.exit(EXIT.INTERRUPTED);
    };
    if (interrupted) bail();
    interrupted = true;
    controller.abort(new Error(`received ${name}`));
    // The command unwinds through its own clean-up; if it is stuck (say, on a read from a
    // terminal), clean up here.
    setTimeout(bail, 2000).unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    await buildProgram(controller.signal).parseAsync(argv);
  } catch (err) {
    // commander has already printed its usage errors; help and --version exit 0.
    if (err instanceof CommanderError) process.exitCode = err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    else process.exitCode = report(err);
  }
}

keepYoungGenerationSmall();
keepMallocHeapTop();

// Not process.exit(): it could cut off output still queued for a pipe.
await main(process.argv);
