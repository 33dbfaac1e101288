/**
 * The command line as a table: every command, its arguments and options with their help, and
 * the module each command's code is imported from when it runs (see ./command-line.ts for the
 * grammar, ./help.ts for `--help`).
 *
 * @module
 */

import {
  byteSize,
  collectMeta,
  compressionMode,
  integerIn,
  kdfMemoryKib,
  setName,
  vaultUrl,
} from './args.js';
import type { CommandSpec, Flags, OptionSpec } from './command-line.js';
import { createContext } from './context.js';
import { NEW_PASSWORD_ENV, PASSWORD_ENV, SERVER_KEY_ENV, TLS_PIN_ENV } from './env.js';
import { V8_DEFAULTS_ENV } from './memory.js';

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
    less, a few % more time); it also drops an 8 MiB buffer at start, so that glibc
    keeps the top of its heap (fewer page faults, up to 5 MiB more memory)

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

const CREDENTIAL_PASSWORD_FILE =
  'read the password from FILE: its first line, up to the first LF (a CR before it is dropped)';

function credentialOptions(verb: string): OptionSpec[] {
  return [
    {
      flags: '-k, --key-file <file>',
      help: `${verb} with the 64-digit backup key code in FILE (from keygen), or WhatsApp's encrypted_backup.key`,
    },
    { flags: '-p, --password', help: `${verb} with a password, asked on the terminal (or ${PASSWORD_ENV})` },
    { flags: '--password-file <file>', help: CREDENTIAL_PASSWORD_FILE, conflicts: 'password' },
  ];
}

const WEAK_PASSWORD_HELP =
  'accept a password setup would refuse (under 10 characters or easy to guess): anyone with the file can guess it offline';

// Options shared by the vault client commands and `setup`, which registers with the vault too.
const passwordFile: OptionSpec = { flags: '--password-file <file>', help: CREDENTIAL_PASSWORD_FILE };
const fastKdf: OptionSpec = {
  flags: '--insecure-fast-kdf',
  help: 'INSECURE, for tests: register with Argon2id m=1MiB, t=1, p=1',
};
const serverKey: OptionSpec = {
  flags: '--server-key <fingerprint>',
  help: `the vault's key must have this fingerprint (as 'vault serve' prints it; or ${SERVER_KEY_ENV})`,
};
const tlsPin: OptionSpec = {
  flags: '--tls-pin <sha256>',
  help: `the vault's TLS certificate must have this public key (SHA-256 of its SPKI, hex or curl's sha256//BASE64; or ${TLS_PIN_ENV}); a self-signed certificate then works`,
};
const insecureHttp: OptionSpec = {
  flags: '--insecure-http',
  help: "let 'vault recover' use plain http:// to a vault that is not on this machine (no TLS); refused by the commands that register or send the device credential",
};

const setOption: OptionSpec = {
  flags: '--set <name>',
  help: "this machine's backup set (default: remembered in the state file, else a new one)",
  parse: setName,
};
const stateOption: OptionSpec = {
  flags: '--state <file>',
  help: 'the state file (default: $XDG_CONFIG_HOME/e2ee-backup/state.json, or ~/.config/e2ee-backup/state.json)',
};
const quiet = (help: string): OptionSpec => ({ flags: '-q, --quiet', help });
const json = (help = 'print JSON'): OptionSpec => ({ flags: '--json', help });

// `backup list` and `restore` open a folder of backups, planted ones included: bounded by default
// by what this machine writes there, not by the decoder's 1 GiB.
const folderKdfMemory: OptionSpec = {
  flags: '--max-kdf-memory <size>',
  help: "refuse password slots asking Argon2id for more memory (default: the most this machine's backups in the folder use, at least 64MiB; bare number = KiB); when given, iterations and lanes are bounded as in decrypt",
  parse: kdfMemoryKib,
};

const openOptions: OptionSpec[] = [
  {
    flags: '--max-kdf-memory <size>',
    help: 'refuse password slots asking Argon2id for more memory (default 1GiB; bare number = KiB)',
    parse: kdfMemoryKib,
  },
  {
    flags: '--max-output <size>',
    help: 'stop if the plaintext grows past SIZE (default 1TiB)',
    parse: byteSize,
  },
];

// `encrypt` and `backup create` write a password slot: how hard its Argon2id is.
const kdfOptions: OptionSpec[] = [
  {
    flags: '--kdf-memory <size>',
    help: 'Argon2id memory for the password slot (default 64MiB; bare number = KiB)',
    parse: kdfMemoryKib,
  },
  { flags: '--kdf-iterations <n>', help: 'Argon2id passes (default 3)', parse: integerIn(1, 2 ** 32 - 1) },
  { flags: '--kdf-parallelism <n>', help: 'Argon2id lanes (default 4)', parse: integerIn(1, 2 ** 24 - 1) },
  {
    flags: '--allow-weak-kdf',
    help: 'accept --kdf-* values below the OWASP minimum (slow devices that know the risk)',
  },
  { flags: '--insecure-fast-kdf', help: 'INSECURE, for tests: Argon2id m=1MiB, t=1, p=1' },
  { flags: '--allow-weak-password', help: WEAK_PASSWORD_HELP },
];

const meta: OptionSpec = {
  flags: '--meta <key=value>',
  help: 'store an application field in the encrypted metadata (repeatable)',
  parse: collectMeta,
};

const s3Options = (store: string): OptionSpec[] => [
  { flags: '-s, --store <dir>', help: store, required: true },
  {
    flags: '--s3-endpoint <url>',
    help: 'an S3-compatible service instead of AWS, e.g. http://127.0.0.1:7480',
  },
  {
    flags: '--s3-path-style',
    help: 'path-style S3 requests (endpoint/bucket/key), which most S3-compatible services need',
  },
];

const PLAINTEXT_OUTPUT =
  "where to write the plaintext ('-' for standard output); appears only once it all authenticates";

const vaultClient = (name: string, description: string, options: OptionSpec[], run: CommandSpec['run']) => ({
  name,
  description,
  options: [
    {
      flags: '--url <url>',
      help: 'the vault server, e.g. https://vault.example',
      required: true,
      parse: vaultUrl,
    },
    { flags: '--account <name>', help: 'the account the key is kept under', required: true },
    serverKey,
    tlsPin,
    insecureHttp,
    ...options,
  ],
  run,
});

const whatsappKey: OptionSpec = {
  flags: '-k, --key-file <file>',
  help: "WhatsApp's encrypted_backup.key, or a text file holding the 64-digit code",
  required: true,
};
const whatsappMaxOutput: OptionSpec = {
  flags: '--max-output <size>',
  help: 'stop if the database grows past SIZE (default 1TiB)',
  parse: byteSize,
};

/**
 * The command table; commands receive the abort signal fired by SIGINT/SIGTERM. Each command's
 * module is imported when it runs, so that `decrypt` never loads the vault's OPAQUE, Hono or
 * zxcvbn: about 20 MiB less peak RSS and a faster start.
 */
export function commandTable(signal: AbortSignal): CommandSpec {
  const context = (flags: Flags) => createContext(signal, flags['quiet']);
  return {
    name: 'e2ee-backup',
    description: 'End-to-end encrypted backups, opened with a 64-digit backup key code and/or a password.',
    helpAfter: HELP_FOOTER,
    commands: [
      {
        name: 'keygen',
        description:
          'generate a backup key and print its 64-digit code (asks you to type it back on a terminal)',
        options: [
          { flags: '-o, --out <file>', help: 'also save the code to FILE, readable by you only (mode 0600)' },
          { flags: '-f, --force', help: 'replace an existing --out file' },
          json('print {"code": ..., "savedTo": ...} (no type-back check)'),
          { flags: '--no-confirm', help: 'skip the type-back check on a terminal' },
          quiet('no warning text'),
        ],
        run: async (_, flags) => (await import('./commands/keygen.js')).keygen(flags, context(flags)),
      },
      {
        name: 'setup',
        description:
          'set up encrypted backup: a 64-digit code you type back, or a password a vault keeps the key behind',
        options: [
          {
            flags: '--method <method>',
            help: 'code or password (asked on a terminal; required without one)',
            choices: ['code', 'password'],
          },
          {
            flags: '-o, --out <file>',
            help: 'save the backup key code to FILE, mode 0600 (required for the code path)',
          },
          { flags: '-f, --force', help: 'replace an existing --out file' },
          {
            flags: '--confirm-groups <n>',
            help: 'type back N groups of 4 chosen at random (default all 16)',
            parse: integerIn(1, 16),
          },
          { flags: '--url <url>', help: 'the vault server (password path)', parse: vaultUrl },
          { flags: '--account <name>', help: 'the vault account to keep the key under (password path)' },
          passwordFile,
          fastKdf,
          serverKey,
          tlsPin,
          insecureHttp,
          quiet('no summary; without a terminal, no warnings on standard error either'),
        ],
        helpAfter: SETUP_HELP,
        run: async (_, flags) => (await import('./setup.js')).setup(flags, context(flags)),
      },
      {
        name: 'encrypt',
        description: 'encrypt IN (default: standard input) into a backup at OUT (default: standard output)',
        arguments: [{ name: '[in]', help: "file to encrypt, or '-' for standard input" }],
        options: [
          {
            flags: '-o, --output <out>',
            help: "where to write the backup ('-' for standard output); replaced only when complete",
          },
          ...credentialOptions('encrypt'),
          {
            flags: '--compression <mode>',
            help: 'deflate: compress blocks that shrink; none: store them',
            choices: ['deflate', 'none'],
            parse: compressionMode,
            default: 'deflate',
          },
          {
            flags: '--level <n>',
            help: 'deflate level 1 (fast) to 9 (small); default 5',
            parse: integerIn(1, 9),
          },
          { flags: '--no-padding', help: 'do not pad with Padmé (the size then reveals the content size)' },
          meta,
          {
            flags: '--generation <n>',
            help: 'rollback protection: a number that grows with each backup',
            parse: integerIn(0, Number.MAX_SAFE_INTEGER),
          },
          ...kdfOptions,
          quiet(
            'no progress, summary or warnings (the slots are still named when the password comes from the environment)',
          ),
        ],
        run: async ([input], flags) =>
          (await import('./commands/encrypt.js')).encrypt(input, flags, context(flags)),
      },
      {
        name: 'decrypt',
        description: 'decrypt a backup IN (default: standard input) into OUT (default: standard output)',
        arguments: [{ name: '[in]', help: "backup to decrypt, or '-' for standard input" }],
        options: [
          { flags: '-o, --output <out>', help: PLAINTEXT_OUTPUT },
          ...credentialOptions('decrypt'),
          ...openOptions,
          quiet('no progress, summary or warnings'),
        ],
        run: async ([input], flags) =>
          (await import('./commands/decrypt.js')).decrypt(input, flags, context(flags)),
      },
      {
        name: 'inspect',
        description: "show a backup's header without a key (unauthenticated: anyone can change it)",
        arguments: [{ name: '<file>', help: "backup file, or '-' for standard input" }],
        options: [json()],
        run: async ([file], flags) =>
          (await import('./commands/inspect.js')).inspect(file!, flags, createContext(signal, true)),
      },
      {
        name: 'verify',
        description: 'restore drill: decrypt everything to nowhere and report metadata, sizes and speed',
        arguments: [{ name: '<file>', help: "backup file, or '-' for standard input" }],
        options: [
          ...credentialOptions('open the backup'),
          ...openOptions,
          json('print JSON (also on failure)'),
          quiet('no progress or warnings'),
        ],
        run: async ([file], flags) =>
          (await import('./commands/verify.js')).verify(file!, flags, context(flags)),
      },
      {
        name: 'backup',
        description:
          'keep exactly one current backup in a folder: create (new, verified, then the old removed), list, restore',
        commands: [
          {
            name: 'create',
            description:
              "back up SOURCE (default: standard input) into the folder, then remove this machine's older backups",
            arguments: [{ name: '[source]', help: "file to back up, or '-' for standard input" }],
            options: [
              ...s3Options('the folder of backups (created if missing), or s3://bucket/prefix'),
              ...credentialOptions('encrypt'),
              setOption,
              stateOption,
              {
                flags: '--remove-source',
                help: 'remove SOURCE once the backup has verified (unless it changed meanwhile)',
              },
              {
                flags: '--replaces <file>',
                help: 'an unencrypted copy to remove once the backup has verified (repeatable)',
                parse: (v: string, prev: string[] = []) => [...prev, v],
              },
              {
                flags: '--allow-unreadable-newest',
                help: 'write even when a backup that may be newer cannot be opened and no generation is known',
              },
              meta,
              {
                flags: '--newest-seen <n>',
                help: 'the newest generation this device has seen (the new one is larger)',
                parse: integerIn(0, Number.MAX_SAFE_INTEGER - 1),
              },
              ...kdfOptions,
              json('print {"name", "generation", "set", "bytes", "removed", "kept", "removedFiles"}'),
              quiet('no warnings (the slots are still named when the password comes from the environment)'),
            ],
            run: async ([source], flags) =>
              (await import('./commands/backup.js')).backupCreate(source, flags, context(flags)),
          },
          {
            name: 'list',
            description:
              "list the folder's backups (generations as their names claim; with a credential, what each holds)",
            options: [
              ...s3Options('the folder of backups, or s3://bucket/prefix'),
              ...credentialOptions('open the backups'),
              folderKdfMemory,
              stateOption,
              json(),
            ],
            run: async (_, flags) =>
              (await import('./commands/backup.js')).backupList(flags, createContext(signal, true)),
          },
          {
            name: 'restore',
            description: 'restore the newest backup in the folder that the credentials open',
            options: [
              ...s3Options('the folder of backups, or s3://bucket/prefix'),
              { flags: '-o, --output <out>', help: PLAINTEXT_OUTPUT, required: true },
              ...credentialOptions('open the backups'),
              {
                flags: '--newest-seen <n>',
                help: 'rollback protection: refuse a newest backup older than generation N (exit 3); the state file remembers it too',
                parse: integerIn(0, Number.MAX_SAFE_INTEGER),
              },
              { flags: '--allow-rollback', help: 'restore an older generation than the newest seen anyway' },
              { flags: '--set <name>', help: 'restore only the backups of this set', parse: setName },
              folderKdfMemory,
              stateOption,
              quiet('no summary or warnings'),
            ],
            run: async (_, flags) =>
              (await import('./commands/backup.js')).backupRestore(flags, context(flags)),
          },
        ],
      },
      {
        name: 'vault',
        description:
          'the key vault: a password you can remember unlocks the backup key; 10 wrong ones destroy it',
        commands: [
          {
            name: 'serve',
            description:
              'run a vault server; prints its URL and key fingerprint, stops cleanly on Ctrl-C or SIGTERM',
            options: [
              {
                flags: '--port <n>',
                help: 'TCP port; 0 picks a free one (default 8787)',
                parse: integerIn(0, 65535),
              },
              {
                flags: '--host <address>',
                help: 'listen address (default 127.0.0.1; put TLS in front for anything else)',
              },
              { flags: '--db <file>', help: 'the embedded SQLite store (default vault.sqlite)' },
              {
                flags: '--key-file <file>',
                help: "the server's secrets, created with mode 0600 on first start (default vault-keys.json)",
              },
              {
                flags: '--postgres <url>',
                help: 'a PostgreSQL store instead, shared by several vault nodes',
              },
              {
                flags: '--insecure-fast-kdf',
                help: 'INSECURE, for tests and demos: accept Argon2id m=1MiB, t=1, p=1 registrations',
              },
              {
                flags: '--no-rate-limit',
                help: 'no per-account or per-address rate limits (tests and demos)',
              },
              quiet('no request log or notices'),
            ],
            run: async (_, flags) =>
              (await import('./commands/vault-serve.js')).vaultServe(flags, context(flags)),
          },
          vaultClient(
            'register',
            `put the backup key in the vault behind a password (asked twice, or ${PASSWORD_ENV})`,
            [
              {
                flags: '-k, --key-file <file>',
                help: 'the 64-digit backup key code (from keygen)',
                required: true,
              },
              passwordFile,
              fastKdf,
              quiet('no summary or warnings'),
            ],
            async (_, flags) => (await import('./commands/vault.js')).vaultRegister(flags, context(flags)),
          ),
          vaultClient(
            'recover',
            'get the backup key back with the password (a wrong one counts against the 10)',
            [
              {
                flags: '-o, --output <file>',
                help: 'save the 64-digit code to FILE (mode 0600) instead of printing it',
              },
              { flags: '-f, --force', help: 'replace an existing --output file' },
              passwordFile,
              quiet('no summary or warnings'),
            ],
            async (_, flags) => (await import('./commands/vault.js')).vaultRecover(flags, context(flags)),
          ),
          vaultClient(
            'change-password',
            `set a new password (${NEW_PASSWORD_ENV} or asked twice), proving the old one or --key-file`,
            [
              passwordFile,
              {
                flags: '--new-password-file <file>',
                help: 'read the new password from FILE: its first line, as --password-file',
              },
              {
                flags: '-k, --key-file <file>',
                help: 'forgot the password? authorise with the backup key instead',
              },
              fastKdf,
              quiet('no summary or warnings'),
            ],
            async (_, flags) =>
              (await import('./commands/vault.js')).vaultChangePassword(flags, context(flags)),
          ),
          vaultClient(
            'delete',
            "remove the account's key from the vault (authorised by the backup key)",
            [
              { flags: '-k, --key-file <file>', help: 'the 64-digit backup key code', required: true },
              quiet('no summary or warnings'),
            ],
            async (_, flags) => (await import('./commands/vault.js')).vaultDelete(flags, context(flags)),
          ),
        ],
      },
      {
        name: 'whatsapp',
        description:
          "WhatsApp's Android end-to-end encrypted backups (.crypt15), opened with their 64-digit key",
        commands: [
          {
            name: 'decrypt',
            description: 'decrypt a .crypt15 file IN (default: standard input) into its database at OUT',
            arguments: [{ name: '[in]', help: "the .crypt15 file, or '-' for standard input" }],
            options: [
              whatsappKey,
              {
                flags: '-o, --output <out>',
                help: "where to write the database ('-' for standard output); appears only once it all authenticates",
              },
              whatsappMaxOutput,
              quiet('no progress, summary or warnings'),
            ],
            run: async ([input], flags) =>
              (await import('./commands/whatsapp.js')).whatsappDecrypt(input, flags, context(flags)),
          },
          {
            name: 'inspect',
            description:
              "show a .crypt15 file's prefix without the key (unauthenticated: anyone can change it)",
            arguments: [{ name: '<file>', help: "the .crypt15 file, or '-' for standard input" }],
            options: [
              { flags: '--phone-digits', help: 'also show the last two digits of the phone number' },
              json(),
            ],
            run: async ([file], flags) =>
              (await import('./commands/whatsapp.js')).whatsappInspect(
                file!,
                flags,
                createContext(signal, true),
              ),
          },
          {
            name: 'import',
            description:
              're-encrypt a .crypt15 file into an e2ee-backup backup under the same key (nothing decrypted touches the disk)',
            arguments: [{ name: '[in]', help: "the .crypt15 file, or '-' for standard input" }],
            options: [
              whatsappKey,
              {
                flags: '-o, --output <out>',
                help: "the new backup ('-' for standard output); replaced only when complete",
              },
              {
                flags: '-s, --store <dir>',
                help: "or: add it to this folder of backups, as 'backup create' does (this machine's older ones are removed)",
              },
              setOption,
              stateOption,
              {
                flags: '--newest-seen <n>',
                help: 'with --store: the newest generation this device has seen (the new one is larger)',
                parse: integerIn(0, Number.MAX_SAFE_INTEGER - 1),
              },
              {
                flags: '--allow-unreadable-newest',
                help: 'with --store: write even when a backup that may be newer cannot be opened and no generation is known',
              },
              whatsappMaxOutput,
              json('with --store: print {"name", "generation", "set", "removed", "kept"}'),
              quiet('no progress or summary'),
            ],
            run: async ([input], flags) =>
              (await import('./commands/whatsapp.js')).whatsappImport(input, flags, context(flags)),
          },
        ],
      },
    ],
  };
}
