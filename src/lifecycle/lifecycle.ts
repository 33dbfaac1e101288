/**
 * Keeping one current backup per backup set, and never none: `createBackup` writes the new
 * backup under a new name, runs a restore drill on it, and only then removes the backups it
 * proves superseded; `restoreLatest` opens the newest backup and refuses one older than a
 * generation already seen (rollback). Nothing else in a store is ever removed: not other files,
 * not other keys' or other sets' backups, not what cannot be read.
 *
 * @module
 */

import { sha256 } from '@noble/hashes/sha2.js';
import {
  type BackupCredentials,
  type BackupInput,
  type BackupMetadata,
  decryptBackup,
  type EncryptBackupOptions,
  encryptBackup,
  type JsonValue,
} from '../container/backup.js';
import { BACKUP_SET_NAME } from '../container/framing.js';
import { MAGIC } from '../container/header.js';
import { E2EEError, type ErrorCode } from '../errors.js';
import { constantTimeEqual, randomBytes, toHex } from '../internal/bytes.js';
import { cancelQuietly, toStream } from '../internal/streams.js';
import { type Argon2idParams, DEFAULT_KDF_PARAMS } from '../primitives/kdf.js';
import { discardPending, type PendingBackup, pendingBackups } from './resume.js';
import {
  claimedGeneration,
  type EntryFacts,
  failureReason,
  type KeptReason,
  retirementVerdict,
} from './retire.js';
import { type BackupStore, checkStoreName, type StoredBackup } from './store.js';

export type { KeptReason } from './retire.js';

/** A store entry that was left in place, and why. */
export interface KeptEntry {
  /** Its name in the store. */
  readonly name: string;
  /** Why it was kept; see {@link KeptReason}. */
  readonly reason: KeptReason;
  /** Its authenticated generation, when the credential opened it. */
  readonly generation?: number;
  /** Its authenticated backup set, when it opened and has one. */
  readonly set?: string;
  /** What kept it from opening (or from being removed). */
  readonly error?: unknown;
}

/** A backup in a store, as {@link listBackups} finds it. */
export interface BackupEntry extends StoredBackup {
  /** Whether it starts with the e2ee-backup magic bytes. */
  readonly encrypted: boolean;
  /** The generation its name claims (unauthenticated), for encrypted ones named as backups. */
  readonly generation?: number;
  /** With credentials: its authenticated metadata, when they open it. */
  readonly metadata?: BackupMetadata;
  /**
   * With credentials: why it was not opened, when it was not. Without: `unreadable` when the
   * store failed to read it (it is then counted as possibly encrypted).
   */
  readonly reason?: 'not-a-backup' | 'another-key' | 'kdf-limit' | 'unreadable';
  /** The error that kept it from opening (or from being read). */
  readonly error?: unknown;
}

/** Bounds on what opening the backups in a store may cost (planted files included). */
export interface OpenLimits {
  /**
   * Upper bounds on a password slot's Argon2id parameters. A slot that asks for more is skipped
   * (reported as `kdf-limit`) without running Argon2id. Default: the parameters the app writes
   * with — for `createBackup` its own `kdf`, elsewhere {@link DEFAULT_KDF_PARAMS} (64 MiB, t = 3,
   * p = 4) — so that a planted backup costs no more than one of the app's own. Bounds named here
   * replace those defaults; the others keep them.
   */
  kdfMaxima?: Partial<Argon2idParams>;
  /**
   * Stop with `OUTPUT_LIMIT` before a body read from the store exceeds this many bytes: the body
   * `restoreLatest` returns (default 1 TiB, as `decryptBackup`), and the body `createBackup`'s
   * restore drill reads back (default, and at most: the size of what was written).
   */
  maxOutputBytes?: number;
}

/** Options of {@link listBackups}. */
export interface ListBackupsOptions {
  /** As {@link OpenLimits.kdfMaxima}. */
  kdfMaxima?: Partial<Argon2idParams>;
}

/** Reads the first bytes of `stream`; returns whether they are the magic, and the stream again. */
async function peekMagic(
  stream: ReadableStream<Uint8Array>,
): Promise<{ encrypted: boolean; stream: ReadableStream<Uint8Array> }> {
  const reader = stream.getReader();
  const head: Uint8Array[] = [];
  let got = 0;
  let ended = false;
  try {
    while (got < MAGIC.length) {
      const { done, value } = await reader.read();
      if (done) {
        ended = true;
        break;
      }
      head.push(value);
      got += value.length;
    }
  } catch (e) {
    await cancelQuietly(reader, e);
    throw e;
  }
  const first = new Uint8Array(Math.min(got, MAGIC.length));
  for (let o = 0, i = 0; o < first.length; i++) {
    const take = Math.min(head[i]!.length, first.length - o);
    first.set(head[i]!.subarray(0, take), o);
    o += take;
  }
  const encrypted = first.length === MAGIC.length && constantTimeEqual(first, MAGIC);
  if (!encrypted) {
    await cancelQuietly(reader);
    return { encrypted, stream: new ReadableStream() };
  }
  // The bytes read so far, then the rest, as one stream again.
  const again = new ReadableStream<Uint8Array>({
    async pull(c) {
      const next = head.shift();
      if (next) return c.enqueue(next);
      if (ended) return c.close();
      const r = await reader.read();
      if (r.done) c.close();
      else c.enqueue(r.value);
    },
    cancel: (reason) => cancelQuietly(reader, reason),
  });
  return { encrypted, stream: again };
}

/** An entry as opened with a credential: its facts, and its body stream when `keep` asked for it. */
interface Opened {
  facts: EntryFacts;
  metadata?: BackupMetadata;
  error?: unknown;
  stream?: ReadableStream<Uint8Array>;
}

/**
 * Opens one entry's header and metadata with `credentials`. Never throws for what the entry
 * holds or for the store failing to read it: that is a fact about the entry. Only `ABORTED`
 * (the caller's own signal) goes up.
 */
async function openEntry(
  store: BackupStore,
  name: string,
  credentials: BackupCredentials,
  limits: OpenLimits & { signal?: AbortSignal },
  keepStream: boolean,
): Promise<Opened> {
  let peeked: { encrypted: boolean; stream: ReadableStream<Uint8Array> };
  try {
    peeked = await peekMagic(await store.get(name));
  } catch (error) {
    if (error instanceof E2EEError && error.code === 'ABORTED') throw error;
    return { facts: { name, encrypted: true, failure: codeOf(error) }, error };
  }
  if (!peeked.encrypted) return { facts: { name, encrypted: false } };
  try {
    const { metadata, stream } = await decryptBackup(peeked.stream, {
      ...credentials,
      kdfMaxima: limits.kdfMaxima,
      maxOutputBytes: limits.maxOutputBytes,
      signal: limits.signal,
    });
    // Opened and authenticated: a failure to release the body says nothing about the entry.
    if (!keepStream) await stream.cancel().catch(() => {});
    return {
      facts: { name, encrypted: true, opened: { generation: metadata.generation, set: metadata.set } },
      metadata,
      stream: keepStream ? stream : undefined,
    };
  } catch (error) {
    if (error instanceof E2EEError && error.code === 'ABORTED') throw error;
    return { facts: { name, encrypted: true, failure: codeOf(error) }, error };
  }
}

function codeOf(error: unknown): ErrorCode | undefined {
  return error instanceof E2EEError ? error.code : undefined;
}

/** The library's advice on `NEWEST_UNREADABLE` (the CLI gives its own, naming its flags). */
const NEWEST_UNREADABLE_ADVICE =
  'Pass newestSeen (the newest generation this client has used, from its own records); or, if those ' +
  "entries are not this client's backups (another key's, say), allowUnreadableNewest to write generation";

/** Why an entry did not open, in words, for `NEWEST_UNREADABLE`. */
function whyUnopened(o: Opened): string {
  if (!o.facts.encrypted) return 'not an encrypted backup';
  const code = codeOf(o.error) ?? String(o.error);
  const reason = failureReason(o.facts.failure);
  if (reason === 'another-key') return `another key's, or damaged: ${code}`;
  if (reason === 'kdf-limit') return `its password slot asks for more Argon2id work than allowed: ${code}`;
  return code;
}

/** The facts of every entry of a store, opened one at a time with `credentials`. */
async function inspectStore(
  store: BackupStore,
  credentials: BackupCredentials,
  limits: OpenLimits & { signal?: AbortSignal },
): Promise<Opened[]> {
  const out: Opened[] = [];
  for (const e of await store.list()) out.push(await openEntry(store, e.name, credentials, limits, false));
  return out;
}

function keptEntry(o: Opened, reason: KeptReason): KeptEntry {
  return {
    name: o.facts.name,
    reason,
    ...(o.metadata ? { generation: o.metadata.generation } : {}),
    ...(o.metadata?.set !== undefined ? { set: o.metadata.set } : {}),
    ...(o.error !== undefined ? { error: o.error } : {}),
  };
}

/**
 * Lists a store's entries, telling encrypted backups (by their magic bytes) from anything else.
 * With `credentials`, also opens each encrypted one (its header and metadata, not its body) and
 * says what it holds or why it did not open; a password slot whose Argon2id parameters exceed
 * `kdfMaxima` is not run (`kdf-limit`). An entry the store fails to read is listed as
 * `unreadable`, with the error; only a failure to list fails the call.
 */
export async function listBackups(
  store: BackupStore,
  credentials?: BackupCredentials,
  options: ListBackupsOptions = {},
): Promise<BackupEntry[]> {
  const out: BackupEntry[] = [];
  const kdfMaxima = { ...DEFAULT_KDF_PARAMS, ...options.kdfMaxima };
  for (const e of await store.list()) {
    const claimed = claimedGeneration(e.name);
    if (credentials === undefined) {
      let encrypted: boolean;
      try {
        const peeked = await peekMagic(await store.get(e.name));
        await peeked.stream.cancel().catch(() => {});
        encrypted = peeked.encrypted;
      } catch (error) {
        // One entry the store fails to read says nothing about the others: as with credentials.
        out.push({ ...e, encrypted: true, reason: 'unreadable', error });
        continue;
      }
      out.push({ ...e, encrypted, ...(encrypted && claimed !== undefined ? { generation: claimed } : {}) });
      continue;
    }
    const o = await openEntry(store, e.name, credentials, { kdfMaxima }, false);
    const { encrypted } = o.facts;
    out.push({
      ...e,
      encrypted,
      ...(encrypted && claimed !== undefined ? { generation: claimed } : {}),
      ...(o.metadata ? { metadata: o.metadata } : {}),
      ...(!encrypted ? { reason: 'not-a-backup' as const } : {}),
      ...(encrypted && !o.metadata ? { reason: failureReason(o.facts.failure), error: o.error } : {}),
    });
  }
  return out;
}

/** Options of {@link createBackup}. */
export interface CreateBackupOptions extends Omit<EncryptBackupOptions, 'generation'>, OpenLimits {
  /**
   * The backup set (SPEC.md §5.1) this backup continues: 1 to 64 characters of `A–Z a–z 0–9 . _ -`.
   * Only backups of the same set are ever superseded and removed, so each device or app that
   * may share a store and a credential needs a set of its own: make an id once per install
   * (`crypto.randomUUID()`, say), persist it with the generations, and pass it every time.
   * Required: a shared default would make two devices remove each other's backups.
   */
  set: string;
  /**
   * The newest generation this client has seen or used (persisted by the client): the new
   * backup gets a larger one. Without it, and with an entry in the store that may be a newer
   * backup but cannot be read, `createBackup` refuses (`NEWEST_UNREADABLE`).
   */
  newestSeen?: number;
  /**
   * Called with the new backup's generation before anything is written; if it rejects, nothing
   * is. Persist it, and pass the largest generation used or seen as the next `newestSeen`: then
   * no generation is ever written twice, even by an attempt that fails after its bytes reached
   * the store (which could otherwise be served later in place of the one that succeeded). A
   * resumed upload (step 2 of {@link createBackup}) is called with the interrupted attempt's
   * generation again.
   */
  onGeneration?: (generation: number) => void | Promise<void>;
  /**
   * Write even though, without `newestSeen`, an entry named as a backup that does not open may
   * be a newer one (for a first backup into a store that holds other keys' backups, say): the
   * new generation is then one more than the newest that opens. Such entries are kept.
   */
  allowUnreadableNewest?: boolean;
  /**
   * Names of store entries that are unencrypted previous copies of this data, removed after the
   * new backup has verified (each must exist, and must not be an encrypted backup).
   */
  replaces?: readonly string[];
}

/** What {@link createBackup} did. */
export interface CreatedBackup {
  /** The new backup's name in the store. */
  readonly name: string;
  /**
   * Its generation: larger than `newestSeen` and than every generation that opens in the store
   * (a resumed upload's may equal `newestSeen`: see {@link createBackup}).
   */
  readonly generation: number;
  /** Its backup set. */
  readonly set: string;
  /** SHA-256 of the plaintext, as checked by the restore drill. */
  readonly sha256: Uint8Array;
  /** Entries removed after the new backup verified: superseded backups of its set, and `replaces`. */
  readonly removed: readonly string[];
  /** Every other entry of the store (the new backup aside), with the reason it was kept. */
  readonly kept: readonly KeptEntry[];
}

/** Passes `input` through, hashing it and counting its bytes. */
function measuring(
  input: ReadableStream<Uint8Array>,
  h: ReturnType<typeof sha256.create>,
  count: { bytes: number },
): ReadableStream<Uint8Array> {
  return input.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        h.update(chunk);
        count.bytes += chunk.length;
        c.enqueue(chunk);
      },
    }),
  );
}

function checkSet(set: unknown): string {
  if (typeof set !== 'string' || !BACKUP_SET_NAME.test(set))
    throw new E2EEError('INVALID_ARGUMENT', 'set must be 1 to 64 characters of A-Z, a-z, 0-9, ".", "_", "-"');
  return set;
}

function checkGeneration(value: number | undefined, what: string): void {
  if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0 && value < Number.MAX_SAFE_INTEGER))
    throw new E2EEError('INVALID_ARGUMENT', `${what} must be an integer from 0 to 2^53 − 2`);
}

/**
 * Makes a new encrypted backup and retires the ones it supersedes, in an order that always
 * leaves at least one complete, decryptable backup in the store:
 *
 * 1. every entry is opened (header and metadata only) with the credentials given — the backup
 *    key, and the password where the key does not open it; a password slot asking for more
 *    Argon2id work than `kdfMaxima` is skipped, not run;
 * 2. the generation is one more than the largest of `newestSeen` and every generation that
 *    opens (whatever its set or credential; an interrupted upload the store kept counts too);
 *    without `newestSeen`, an entry named as a backup of that generation or later that does not
 *    open stops it (`NEWEST_UNREADABLE`), even one that reads as another key's: a damaged key slot
 *    reads so too. A store that kept an interrupted upload of this set (the S3 store with a resume
 *    state) resumes it instead when it was made with the same options, no other process is
 *    writing it, and its generation is above every generation that opens and not below
 *    `newestSeen` (equal to it when `onGeneration` persisted the interrupted attempt's): the same
 *    backup, same name, same bytes (SPEC.md §11). `onGeneration` is called with it;
 * 3. the backup is written under a new name (the store's `put` is atomic), or the resumed one's;
 * 4. a restore drill decrypts it from the store: every chunk must authenticate, the metadata must
 *    be what was written, and the plaintext's SHA-256 must match what went in;
 * 5. only then is each entry removed that is proven superseded: named as backups are, opened by
 *    a credential given, of the same set, with a lower generation; then the `replaces` entries.
 *    Everything else is kept and reported with its reason (see {@link KeptReason}). Interrupted
 *    uploads proven superseded by the same rules, and not in use, are aborted.
 *
 * A failure in 3 or 4 removes the new (unverified) backup and leaves the old ones as they were
 * (a resumed upload that fails in 3 is kept, to be resumed again); a failure to remove an entry
 * in 5 keeps it (reported as `remove-failed`).
 *
 * @throws An E2EEError with code `NEWEST_UNREADABLE` (step 2), `MALFORMED_PAYLOAD` if the restore
 * drill finds other bytes than were written (or its own error, e.g. `CHUNK_AUTH`), `IO` if the
 * store fails, `INVALID_ARGUMENT` for bad options, or what `encryptBackup` throws (`KDF_PARAMS`…).
 *
 * @example
 * ```ts
 * const { generation } = await createBackup(createFileStore('/backups'), exportStream, {
 *   key,
 *   set: deviceId,
 *   newestSeen: saved.generation,
 *   onGeneration: (g) => save({ generation: g }),
 * });
 * ```
 */
export async function createBackup(
  store: BackupStore,
  source: BackupInput,
  options: CreateBackupOptions,
): Promise<CreatedBackup> {
  if (options.key === undefined && options.password === undefined)
    throw new E2EEError('INVALID_ARGUMENT', 'give a backup key, a password, or both');
  if (options.set === undefined)
    throw new E2EEError(
      'INVALID_ARGUMENT',
      "createBackup needs a set: the id of this device's (or app's) backups, which supersede only each other. " +
        "With one set for all, two devices sharing a store and a key would remove each other's backups: make an id " +
        'once per install (e.g. crypto.randomUUID()), persist it, and pass it as set every time',
    );
  const set = checkSet(options.set);
  checkGeneration(options.newestSeen, 'newestSeen');
  const replaces = [...(options.replaces ?? [])];
  for (const r of replaces) checkStoreName(r);
  const credentials = { key: options.key, password: options.password };
  const writeKdf: Argon2idParams = { ...DEFAULT_KDF_PARAMS, ...options.kdf };
  const limits = { kdfMaxima: { ...writeKdf, ...options.kdfMaxima }, signal: options.signal };

  // Opened with every credential given: with a key and a password, a backup made with the
  // password alone (before a key was added) is one of ours too, and the next generation must be
  // above it. A password slot is run only where the key does not open the entry, and only
  // within kdfMaxima; with a key alone, never.
  const before = await inspectStore(store, credentials, limits);
  // Interrupted uploads the store kept (the S3 store with a resume state), opened likewise.
  const pending = await pendingBackups(store, { ...options, set }, credentials, limits.kdfMaxima);
  try {
    return await createWith(store, source, options, {
      set,
      replaces,
      credentials,
      writeKdf,
      before,
      pending,
    });
  } finally {
    for (const p of pending) p.wipe();
  }
}

/** What {@link createBackup} has checked and found before it writes. */
interface CreatePlan {
  set: string;
  replaces: string[];
  credentials: BackupCredentials;
  writeKdf: Argon2idParams;
  before: Opened[];
  pending: PendingBackup[];
}

/** The largest authenticated generation among `gens`, or -1. */
function largest(gens: Iterable<number | undefined>): number {
  let m = -1;
  for (const g of gens) if (g !== undefined && g > m) m = g;
  return m;
}

/**
 * The interrupted backup to resume, if any: of this set, resumable with these options, free, and
 * with a generation above every generation that opens in the store or in another interrupted
 * backup, and not below `newestSeen` (SPEC.md §11: equal when `newestSeen` is the interrupted
 * attempt's own, as `onGeneration` persisted it; it is the same backup, not a second one).
 */
function toResume(plan: CreatePlan, newestSeen: number | undefined): PendingBackup | undefined {
  const inStore = largest(plan.before.map((o) => o.metadata?.generation));
  const candidates = plan.pending
    .filter((p) => p.resume !== undefined)
    .sort((a, b) => b.facts.opened!.generation - a.facts.opened!.generation);
  const best = candidates[0];
  if (!best) return undefined;
  const g = best.facts.opened!.generation;
  const others = largest(plan.pending.filter((p) => p !== best).map((p) => p.facts.opened?.generation));
  return g > inStore && g > others && g >= (newestSeen ?? -1) ? best : undefined;
}

async function createWith(
  store: BackupStore,
  source: BackupInput,
  options: CreateBackupOptions,
  plan: CreatePlan,
): Promise<CreatedBackup> {
  const { set, replaces, credentials, writeKdf, before, pending } = plan;
  for (const r of replaces) {
    const entry = before.find((o) => o.facts.name === r);
    if (!entry) throw new E2EEError('INVALID_ARGUMENT', `replaces names ${r}, which is not in the store`);
    if (entry.facts.encrypted)
      throw new E2EEError(
        'INVALID_ARGUMENT',
        `replaces names ${r}, an encrypted backup: backups are retired by their set and generation, not by name`,
      );
  }
  const resumed = toResume(plan, options.newestSeen);
  // Every generation that opens counts, an interrupted upload's too: a new backup supersedes it.
  const newest = largest([
    options.newestSeen,
    ...before.map((o) => o.metadata?.generation),
    ...pending.map((p) => p.facts.opened?.generation),
  ]);
  const generation = resumed ? resumed.facts.opened!.generation : newest + 1;
  checkGeneration(generation, 'the next generation');
  if (options.newestSeen === undefined && options.allowUnreadableNewest !== true) {
    // Named as a backup of this generation or later, and not opened: it may be this client's
    // newest backup, damaged — including where it reads as another key's (a store can damage a
    // key slot and recompute the unkeyed checksum). Only the client's own record can tell.
    const unopenable = before.filter((o) => {
      const claimed = claimedGeneration(o.facts.name);
      return claimed !== undefined && claimed >= generation && !o.metadata;
    });
    if (unopenable.length > 0)
      throw new E2EEError(
        'NEWEST_UNREADABLE',
        `${unopenable.map((o) => `${o.facts.name} (${whyUnopened(o)})`).join(', ')} ` +
          `may be newer than ${newest < 0 ? 'every backup that opens' : `generation ${newest}, the newest that opens`}, ` +
          `and the newest generation this client has seen is not known: refusing to write generation ${generation}, which may be older. ` +
          `${NEWEST_UNREADABLE_ADVICE} ${generation} anyway. They are kept either way`,
      );
  }
  await options.onGeneration?.(generation);

  const name =
    resumed?.name ?? `backup-${String(generation).padStart(16, '0')}-${toHex(randomBytes(6))}.e2ee`;
  const h = sha256.create();
  const count = { bytes: 0 };
  const app = options.metadata ?? {};
  try {
    const input = measuring(toStream(source), h, count);
    await store.put(
      name,
      resumed ? resumed.resume!(input) : encryptBackup(input, { ...options, set, generation }),
    );
  } catch (e) {
    // A new name is ours alone; a resumed one may be another writer's by now (the store refused
    // to resume it, or failed): its put changed nothing there, so nothing is removed.
    if (!resumed) await store.delete(name).catch(() => {});
    throw e;
  }
  const digest = h.digest();
  try {
    const limit = Math.min(count.bytes, options.maxOutputBytes ?? Number.POSITIVE_INFINITY);
    await verify(store, name, credentials, { set, generation, app }, digest, {
      kdfMaxima: writeKdf,
      maxOutputBytes: limit,
    });
  } catch (e) {
    await store.delete(name).catch(() => {});
    throw e;
  }

  const removed: string[] = [];
  const kept: KeptEntry[] = [];
  for (const o of before) {
    if (replaces.includes(o.facts.name)) continue;
    const verdict = retirementVerdict(o.facts, { set, generation });
    if (!verdict.remove) {
      kept.push(keptEntry(o, verdict.reason));
      continue;
    }
    try {
      await store.delete(o.facts.name);
      removed.push(o.facts.name);
    } catch (error) {
      kept.push({ ...keptEntry(o, 'remove-failed'), error });
    }
  }
  for (const r of replaces) {
    try {
      await store.delete(r);
      removed.push(r);
    } catch (error) {
      kept.push({ name: r, reason: 'remove-failed', error });
    }
  }
  // Interrupted uploads by the same rules: aborted only when proven superseded and not in use.
  for (const p of pending) {
    if (p === resumed || p.inUse || !retirementVerdict(p.facts, { set, generation }).remove) continue;
    await discardPending(store, p.name).catch(() => {}); // tried again next time
  }
  return { name, generation, set, sha256: digest, removed, kept };
}

/** The restore drill: decrypt from the store, check metadata and plaintext hash. */
async function verify(
  store: BackupStore,
  name: string,
  credentials: BackupCredentials,
  expected: { set: string; generation: number; app: { [key: string]: JsonValue } },
  digest: Uint8Array,
  limits: OpenLimits,
): Promise<void> {
  const { metadata, stream } = await decryptBackup(await store.get(name), { ...credentials, ...limits });
  const h = sha256.create();
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    h.update(value);
  }
  if (
    metadata.generation !== expected.generation ||
    metadata.set !== expected.set ||
    JSON.stringify(metadata.app) !== JSON.stringify(expected.app)
  )
    throw new E2EEError('MALFORMED_PAYLOAD', `restore drill: ${name} holds other metadata than was written`);
  if (!constantTimeEqual(h.digest(), digest))
    throw new E2EEError('MALFORMED_PAYLOAD', `restore drill: ${name} does not decrypt to what was written`);
}

/** Options of {@link restoreLatest}. */
export interface RestoreOptions extends OpenLimits {
  /**
   * The newest generation this device (or the vault) has seen. A newest backup older than this
   * is a rollback — someone put an old backup back — and is refused with `ROLLBACK`.
   */
  newestSeen?: number;
  /** Restore an older generation anyway (the caller has asked the user). */
  allowRollback?: boolean;
  /** Consider only backups of this set (default: every set). */
  set?: string;
}

/** What {@link restoreLatest} found. */
export interface RestoredBackup {
  /** The backup's name in the store. */
  readonly name: string;
  /** Its authenticated metadata, including the generation: remember it as the next `newestSeen`. */
  readonly metadata: BackupMetadata;
  /** The plaintext; errors if the body is damaged, so treat it as provisional until it closes. */
  readonly stream: ReadableStream<Uint8Array>;
  /** The entries not considered, with the reason (`kdf-limit` ones were not run). */
  readonly skipped: readonly KeptEntry[];
}

const OPEN_FAILURE_ORDER: readonly KeptReason[] = ['kdf-limit', 'unreadable', 'another-key'];

/**
 * Opens the newest encrypted backup in the store that the credentials open (by authenticated
 * generation; only of `set` when given). Returns its metadata and a body stream (provisional until
 * it closes, as with `decryptBackup`), and what it skipped. A password slot asking for more
 * Argon2id work than `kdfMaxima` is skipped without running Argon2id.
 *
 * @throws An E2EEError with code `ROLLBACK` if the newest backup is older than `newestSeen`; `IO` if
 * the store holds no encrypted backup (of `set`); otherwise, when no backup opens, the error of
 * one that did not, named: `KDF_PARAMS` (skipped, raise `kdfMaxima` if you trust the store), then
 * a damaged one's (`CHUNK_AUTH`, `MALFORMED_HEADER` …), then `WRONG_KEY` / `WRONG_PASSWORD`. The
 * stream errors with `CHUNK_AUTH`, `TRUNCATED` etc. if the body is damaged.
 *
 * @example
 * ```ts
 * const { metadata, stream } = await restoreLatest(createFileStore('/backups'), { key }, { newestSeen });
 * await stream.pipeTo(destination); // only trust what arrived once this resolves
 * ```
 */
export async function restoreLatest(
  store: BackupStore,
  credentials: BackupCredentials,
  options: RestoreOptions = {},
): Promise<RestoredBackup> {
  checkGeneration(options.newestSeen, 'newestSeen');
  if (options.set !== undefined) checkSet(options.set);
  const limits = {
    kdfMaxima: { ...DEFAULT_KDF_PARAMS, ...options.kdfMaxima },
    maxOutputBytes: options.maxOutputBytes,
  };
  let best: Opened | undefined;
  const skipped: KeptEntry[] = [];
  try {
    for (const e of await store.list()) {
      const o = await openEntry(store, e.name, credentials, limits, true);
      if (!o.metadata) {
        skipped.push(keptEntry(o, o.facts.encrypted ? failureReason(o.facts.failure) : 'not-a-backup'));
        continue;
      }
      if (options.set !== undefined && o.metadata.set !== options.set) {
        await o.stream?.cancel().catch(() => {});
        skipped.push(keptEntry(o, 'another-set'));
        continue;
      }
      // The newest wins; between equals the larger name, so that the order of the listing does not matter.
      const better =
        !best ||
        o.metadata.generation > best.metadata!.generation ||
        (o.metadata.generation === best.metadata!.generation && o.facts.name > best.facts.name);
      const loser = better ? best : o;
      if (better) best = o;
      await loser?.stream?.cancel().catch(() => {});
    }
  } catch (e) {
    await best?.stream?.cancel().catch(() => {});
    throw e;
  }
  if (!best) throw nothingOpened(skipped, options.set);
  const { generation } = best.metadata!;
  // The store failed to hand over an entry named as a newer backup: that may be the newest one,
  // intact. Returning an older backup would be a silent rollback, so fail and let the caller try
  // again (a damaged entry, which the store did hand over, is skipped as before).
  const failedNewer = skipped.find(
    (s) =>
      s.reason === 'unreadable' &&
      (codeOf(s.error) ?? 'IO') === 'IO' &&
      (claimedGeneration(s.name) ?? -1) > generation,
  );
  if (failedNewer) {
    await best.stream!.cancel().catch(() => {});
    throw new E2EEError(
      'IO',
      `the store failed to read ${failedNewer.name}, which is named as a newer backup than generation ${generation}: ` +
        'try again rather than restore an older backup',
      { cause: failedNewer.error },
    );
  }
  if (options.newestSeen !== undefined && generation < options.newestSeen && !options.allowRollback) {
    await best.stream!.cancel().catch(() => {});
    throw new E2EEError(
      'ROLLBACK',
      `the newest backup here is generation ${generation}, older than generation ${options.newestSeen} already seen: ` +
        'an older backup was put back in place of a newer one (allowRollback restores it anyway)',
    );
  }
  return { name: best.facts.name, metadata: best.metadata!, stream: best.stream!, skipped };
}

/** The error of a store where nothing opened: the most telling reason first. */
function nothingOpened(skipped: KeptEntry[], set: string | undefined): E2EEError {
  for (const reason of OPEN_FAILURE_ORDER) {
    const first = skipped.find((s) => s.reason === reason);
    if (!first) continue;
    const cause = first.error;
    const code = codeOf(cause) ?? 'IO';
    const message = cause instanceof Error ? cause.message : String(cause);
    const hint =
      reason === 'kdf-limit'
        ? ' (skipped without running Argon2id: pass kdfMaxima if you trust this store)'
        : '';
    return new E2EEError(code, `${first.name}: ${message}${hint}`, { cause });
  }
  if (set !== undefined && skipped.some((s) => s.reason === 'another-set'))
    return new E2EEError('IO', `the store holds no backup of set ${set}`);
  return new E2EEError('IO', 'the store holds no encrypted backup');
}

export {
  createSetupFlow,
  MIN_PASSWORD_LENGTH,
  MIN_PASSWORD_SCORE,
  type PasswordRules,
  type PasswordStrength,
  type PasswordWeakness,
  passwordWeakness,
  SETUP_WARNINGS,
  type SetupFlow,
  type SetupMethod,
  type SetupOptions,
  type SetupState,
} from './setup-flow.js';
export {
  type BackupStore,
  checkStoreName,
  createMemoryStore,
  type StoredBackup,
} from './store.js';
