// A model test of the backup lifecycle against an adversarial store (issue #16). Two honest
// devices, A and B, share one store and one credential (a backup key, a password, or — mixed —
// both, each call giving the key, the password or both), each with its own backup set; A persists
// its state (newest generation confirmed, largest used) unless a step makes it lose it. Between
// their steps the store damages entries, deletes them, replays any bytes ever uploaded (failed
// attempts included) under their name or a new one, reorders every listing, plants foreign files
// and backups (another key, garbage under backup names, password slots asking for 1 GiB of
// Argon2id) and fails any call. Invariants, checked at every step:
//
// - nothing the lifecycle does not own is ever removed: a device removes only a backup it wrote
//   (or a copy of one), of its own set, of a lower generation, while its new backup is in the store
//   intact, or its own new backup after a failed drill;
// - at least one backup opens with the newest data the client confirmed, unless the store itself
//   destroyed it; and while an intact backup of A's set at least as new as A's state is in the
//   store, a restore (with no failure injected) succeeds with A's data;
// - no generation is reused: with state, A's generations strictly grow, failed attempts included;
// - no restore accepts a generation older than the newest persisted; what it returns is what A wrote;
// - without state, A never writes below an entry named as a backup that its credentials do not
//   open (it may be A's newer backup, damaged);
// - a create's generation is above every generation its credentials open in the store;
// - no Argon2id runs beyond the parameters the app writes with.
import { createHash } from 'node:crypto';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, vi } from 'vitest';
import { type BackupCredentials, encryptBackupBytes } from '../src/container/backup.js';
import { E2EEError } from '../src/errors.js';
import { readAll } from '../src/internal/streams.js';
import { createBackup, restoreLatest } from '../src/lifecycle/lifecycle.js';
import { BACKUP_NAME } from '../src/lifecycle/retire.js';
import { type BackupStore, createMemoryStore } from '../src/lifecycle/store.js';
import { reseal, u32 } from './craft.js';
import { xorshift } from './util.js';

const argon = vi.hoisted(() => ({ calls: [] as { m: number; p: number }[] }));
vi.mock('../src/primitives/argon2id.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/primitives/argon2id.js')>();
  return {
    argon2id: (o: Parameters<typeof real.argon2id>[0]) => {
      argon.calls.push({ m: o.memorySize, p: o.parallelism });
      if (o.memorySize > 65536) throw new Error('test: refused to run an expensive Argon2id');
      return real.argon2id(o);
    },
  };
});

const FAST = { kdf: { m: 64, t: 1, p: 1 }, allowWeakKdf: true } as const;
const KEY = new Uint8Array(32).fill(3);
const OTHER_KEY = new Uint8Array(32).fill(4);
const enc = new TextEncoder();
const dec = new TextDecoder();
const hash = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const bodyOf = (b: Uint8Array) => new Response(b as BodyInit).body!;
const nameFor = (generation: number, tag: string) =>
  `backup-${String(generation).padStart(16, '0')}-${tag}.e2ee`;

type Actor = 'A' | 'B';
/** Which credentials a call gives, in mixed mode: the key, the password, or both. */
type Creds = 'key' | 'password' | 'both';
type Action =
  | { t: 'create'; who: Actor; data: string; creds: Creds }
  | { t: 'restore'; creds: Creds }
  | { t: 'loseState' }
  | { t: 'damage'; i: number; pos: number }
  | { t: 'delete'; i: number }
  | { t: 'replay'; i: number; as: number | null }
  | { t: 'plant'; kind: 'file' | 'garbage' | 'foreign' | 'expensive'; gen: number }
  | { t: 'fail'; after: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant('create' as const),
      who: fc.constantFrom<Actor>('A', 'A', 'B'),
      data: fc.string({ maxLength: 12 }),
      creds: fc.constantFrom<Creds>('key', 'password', 'both'),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('restore' as const),
      creds: fc.constantFrom<Creds>('key', 'password', 'both'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('loseState' as const) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('damage' as const), i: fc.nat(), pos: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('delete' as const), i: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('replay' as const),
      i: fc.nat(),
      as: fc.option(fc.integer({ min: 0, max: 30 })),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('plant' as const),
      kind: fc.constantFrom('file' as const, 'garbage' as const, 'foreign' as const, 'expensive' as const),
      gen: fc.integer({ min: 0, max: 30 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant('fail' as const), after: fc.integer({ min: 0, max: 6 }) }),
  },
);

/** What an honest device wrote: by the hash of the bytes it uploaded. */
interface Written {
  writer: Actor;
  set: string;
  generation: number;
  data: string;
  /** The credentials it was written with (its slots). */
  creds: Creds;
}

/** Whether a backup written with `slots` opens with `given`. */
const opens = (slots: Creds, given: Creds) => slots === 'both' || given === 'both' || slots === given;

async function expensivePlant(generation: number, password: string): Promise<Uint8Array> {
  const b = await encryptBackupBytes(enc.encode('planted'), { password, ...FAST, generation, set: 'A' });
  const size = (b[10]! << 8) | b[11]!;
  const header = b.slice(0, size);
  header.set(u32(1 << 20), 16); // m = 1 GiB
  header.set(u32(16), 24); // p = 16
  const out = b.slice();
  out.set(reseal(header), 0);
  return out;
}

type Mode = 'key' | 'password' | 'mixed';

async function runModel(mode: Mode, actions: Action[], seed: number): Promise<void> {
  const inner = createMemoryStore();
  // In key and password modes every call gives that one credential; mixed, what the action says.
  const credsOf = (a: { creds: Creds }): Creds => (mode === 'mixed' ? a.creds : mode);
  const credentials = (c: Creds): BackupCredentials =>
    c === 'key' ? { key: KEY } : c === 'password' ? { password: 'pw' } : { key: KEY, password: 'pw' };
  const honest = new Map<string, Written>();
  const uploads: { name: string; bytes: Uint8Array }[] = []; // everything the store ever received
  const touched = new Set<string>(); // names the adversary damaged, deleted or overwrote
  const violations: string[] = [];
  const shuffle = xorshift(seed);
  let failIn: number | undefined;
  let tags = 0;
  const state = { seen: undefined as number | undefined, used: undefined as number | undefined };
  const attempts: number[] = []; // A's generations since it last lost its state
  const confirmed: Partial<Record<Actor, { name: string; bytes: Uint8Array; data: string }>> = {};
  const bState = { used: undefined as number | undefined };
  // The call in progress: who, which set and generation, what it put.
  let call:
    | {
        who: Actor;
        set: string;
        data: string;
        creds: Creds;
        generation?: number;
        put?: { name: string; bytes: Uint8Array };
      }
    | undefined;

  const maybeFail = () => {
    if (failIn === undefined) return;
    if (failIn-- === 0) {
      failIn = undefined;
      throw new E2EEError('IO', 'injected failure');
    }
  };
  const store: BackupStore = {
    async put(name, data) {
      const bytes = await readAll(data);
      uploads.push({ name, bytes }); // the provider keeps a copy, even of a failed upload
      if (call?.generation !== undefined)
        honest.set(hash(bytes), {
          writer: call.who,
          set: call.set,
          generation: call.generation,
          data: call.data,
          creds: call.creds,
        });
      maybeFail();
      if (call) call.put = { name, bytes };
      await inner.put(name, bodyOf(bytes));
    },
    async get(name) {
      maybeFail();
      return inner.get(name);
    },
    async list() {
      maybeFail();
      const all = await inner.list();
      for (let i = all.length - 1; i > 0; i--) {
        const j = shuffle() % (i + 1);
        [all[i], all[j]] = [all[j]!, all[i]!];
      }
      return all;
    },
    async delete(name) {
      judgeDelete(name);
      maybeFail();
      await inner.delete(name);
    },
  };

  /** The first invariant, at the moment of the decision. */
  function judgeDelete(name: string): void {
    const current = inner.entries.get(name);
    if (!current || !call) return;
    if (call.put && name === call.put.name) return; // its own new backup, after a failed drill
    const w = honest.get(hash(current));
    const own = w && w.set === call.set && call.generation !== undefined && w.generation < call.generation;
    const newIntact =
      call.put &&
      inner.entries.get(call.put.name) &&
      hash(inner.entries.get(call.put.name)!) === hash(call.put.bytes);
    if (!own)
      violations.push(
        `${call.who} removed ${name}, which it does not own (${JSON.stringify(w ?? 'not an honest backup')})`,
      );
    else if (!newIntact)
      violations.push(`${call.who} removed ${name} while its new backup was not in the store intact`);
  }

  /**
   * Entries named as backups that `creds` surely do not open: what must stop a stateless create
   * (any of them may be A's newer backup, damaged; one that reads as another key's included).
   */
  function doubtful(creds: Creds): string[] {
    const out: string[] = [];
    for (const [name, bytes] of inner.entries) {
      if (!BACKUP_NAME.test(name)) continue;
      const w = honest.get(hash(bytes));
      if (!w || !opens(w.creds, creds)) out.push(name);
    }
    return out;
  }
  /** The largest generation `creds` open in the store (-1 for none). */
  function newestOpening(creds: Creds): number {
    let newest = -1;
    for (const bytes of inner.entries.values()) {
      const w = honest.get(hash(bytes));
      if (w && opens(w.creds, creds)) newest = Math.max(newest, w.generation);
    }
    return newest;
  }
  const names = () => [...inner.entries.keys()].sort();

  for (const a of actions) {
    switch (a.t) {
      case 'create': {
        const set = a.who;
        const creds = credsOf(a);
        call = { who: a.who, set, data: a.data, creds };
        const newestSeen = a.who === 'A' ? state.used : bState.used;
        const before = doubtful(creds);
        const armed = failIn !== undefined; // an injected failure can hide an entry from it
        const opening = newestOpening(creds);
        try {
          const made = await createBackup(store, enc.encode(a.data), {
            ...credentials(creds),
            ...FAST,
            set,
            newestSeen,
            onGeneration: (g) => {
              call!.generation = g;
              if (a.who === 'A') {
                if (attempts.length > 0 && g <= attempts.at(-1)!)
                  violations.push(`A reused generation ${g} (${attempts})`);
                attempts.push(g);
                state.used = g;
              } else bState.used = g;
            },
          });
          if (!inner.entries.has(made.name))
            violations.push(`${a.who}'s new backup ${made.name} is not in the store`);
          if (!armed && made.generation <= opening)
            violations.push(
              `${a.who} wrote generation ${made.generation}, not above ${opening}, which opens`,
            );
          confirmed[a.who] = { name: made.name, bytes: inner.entries.get(made.name)!, data: a.data };
          if (a.who === 'A') {
            if (newestSeen === undefined) {
              const stopped = before.filter((n) => Number(BACKUP_NAME.exec(n)![1]) >= made.generation);
              if (stopped.length > 0)
                violations.push(`stateless A wrote generation ${made.generation} below ${stopped}`);
            }
            state.seen = made.generation;
            state.used = made.generation;
          }
        } catch (e) {
          if (!(e instanceof E2EEError)) throw e;
        }
        call = undefined;
        break;
      }
      case 'restore': {
        const armed = failIn !== undefined;
        // While an intact backup of A's set at least as new as A's state is here, a restore succeeds.
        const creds = credsOf(a);
        let mustOpen = -1;
        for (const bytes of inner.entries.values()) {
          const w = honest.get(hash(bytes));
          if (w?.set === 'A' && w.generation >= (state.seen ?? -1) && opens(w.creds, creds))
            mustOpen = Math.max(mustOpen, w.generation);
        }
        call = { who: 'A', set: 'A', data: '', creds };
        try {
          const r = await restoreLatest(store, credentials(creds), {
            set: 'A',
            newestSeen: state.seen,
            kdfMaxima: FAST.kdf,
          });
          const data = dec.decode(await readAll(r.stream));
          const g = r.metadata.generation;
          if (state.seen !== undefined && g < state.seen)
            violations.push(`restore accepted ${g} < ${state.seen}`);
          const w = honest.get(hash(inner.entries.get(r.name)!));
          if (w?.writer !== 'A' || w.generation !== g || w.data !== data)
            violations.push(
              `restore returned ${JSON.stringify({ g, data })}, not what A wrote (${JSON.stringify(w)})`,
            );
          if (g < mustOpen) violations.push(`restore returned ${g}, older than intact ${mustOpen}`);
          state.seen = Math.max(g, state.seen ?? 0);
          state.used = Math.max(g, state.used ?? 0);
        } catch (e) {
          if (!(e instanceof E2EEError)) throw e;
          if (!armed && mustOpen >= 0)
            violations.push(`restore failed (${e.code}: ${e.message}) with ${mustOpen} intact`);
        }
        call = undefined;
        break;
      }
      case 'loseState':
        state.seen = undefined;
        state.used = undefined;
        attempts.length = 0;
        break;
      case 'damage': {
        const all = names();
        if (all.length === 0) break;
        const name = all[a.i % all.length]!;
        const bytes = inner.entries.get(name)!.slice();
        if (bytes.length === 0) break;
        bytes[a.pos % bytes.length]! ^= 1 << (a.pos % 8);
        inner.entries.set(name, bytes);
        touched.add(name);
        break;
      }
      case 'delete': {
        const all = names();
        if (all.length === 0) break;
        const name = all[a.i % all.length]!;
        inner.entries.delete(name);
        touched.add(name);
        break;
      }
      case 'replay': {
        if (uploads.length === 0) break;
        const u = uploads[a.i % uploads.length]!;
        const name = a.as === null ? u.name : nameFor(a.as, (++tags).toString(16).padStart(12, 'f'));
        inner.entries.set(name, u.bytes.slice());
        touched.add(name);
        break;
      }
      case 'plant': {
        const name =
          a.kind === 'file' ? `diary-${++tags}.txt` : nameFor(a.gen, (++tags).toString(16).padStart(12, 'e'));
        let bytes: Uint8Array;
        if (a.kind === 'file' || a.kind === 'garbage') {
          bytes = enc.encode(`plain text ${tags}`);
        } else if (a.kind === 'foreign') {
          const other =
            mode === 'key' || (mode === 'mixed' && a.gen % 2 === 0)
              ? { key: OTHER_KEY }
              : { password: 'other', ...FAST };
          bytes = await encryptBackupBytes(enc.encode('foreign'), { ...other, set: 'A', generation: a.gen });
        } else {
          bytes = await expensivePlant(a.gen, 'pw');
        }
        inner.entries.set(name, bytes);
        touched.add(name);
        break;
      }
      case 'fail':
        failIn = a.after;
        break;
    }
    // Nothing A or B confirmed is gone unless the store itself destroyed it.
    for (const [who, c] of Object.entries(confirmed)) {
      if (!c || touched.has(c.name)) continue;
      const now = inner.entries.get(c.name);
      if (!now || hash(now) !== hash(c.bytes))
        violations.push(`${who}'s newest confirmed backup ${c.name} is gone`);
    }
    expect(violations, JSON.stringify(a)).toEqual([]);
  }
  expect(argon.calls.filter((c) => c.m > FAST.kdf.m || c.p > FAST.kdf.p)).toEqual([]);
}

describe('the backup lifecycle against an adversarial store (model)', () => {
  for (const mode of ['key', 'password', 'mixed'] as const)
    test.prop([fc.array(action, { minLength: 1, maxLength: 24 }), fc.integer()], {
      numRuns: mode === 'key' ? 60 : 25,
    })(
      `with ${{ key: 'a backup key', password: 'a password', mixed: 'a key, a password or both' }[mode]}`,
      async (actions, seed) => {
        argon.calls.length = 0;
        await runModel(mode, actions, seed);
      },
      120_000,
    );
});
