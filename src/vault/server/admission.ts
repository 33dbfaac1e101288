/**
 * Admission control for the vault's expensive operations (`login/start`, `register/start`: the
 * OPAQUE server's group operations, some 20 ms of one core each with @noble/curves).
 *
 * Run as they arrive, those operations would each hold the event loop for their whole length,
 * and requests already read would be served before a new connection is even accepted: under a
 * flood of keep-alive connections a newcomer waited tens of seconds. Here they wait in one bounded
 * queue instead, in arrival order, and start one per turn of the event loop, so that between two
 * of them the server reads whatever else has arrived (and answers cheap requests at once). When
 * the queue is full, one of the waiting requests and the newcomer, drawn at random, is refused —
 * at once, before anything is counted — and told when to come back: under a flood every request
 * has the same chance, however long the others have been waiting (without it, the clients
 * already in the queue would keep it, re-entering as soon as they are served). A request from an
 * address that already holds its share of the queue is refused too. An address that comes back
 * before its delay is over is refused again without a look at the queue, and that refusal is held
 * until the delay is over: a flood that ignores `Retry-After` gets one answer per connection per
 * delay, instead of hundreds of refusals a second that would take the server's time from the queue.
 *
 * Browser-safe (timers only).
 *
 * @module
 */

import { E2EEError } from '../../errors.js';

/** The bounds of an {@link Admission}. */
export interface AdmissionLimits {
  /** Operations in progress at once (at least 1). */
  concurrency: number;
  /** Operations that may wait for a turn (0: none wait). */
  queueLimit: number;
  /** How many of those in progress or waiting may come from one address (at least 1). */
  queueLimitPerAddress: number;
}

/** Options of {@link createAdmission}. */
export interface AdmissionOptions {
  /** The delay a refusal asks for (the `Retry-After`), in ms; an address is held to it. */
  retryAfterMs: number;
  /** Clock, epoch ms (default `Date.now`). */
  now?: () => number;
  /** Addresses remembered as refused, at most (default 100 000; the oldest are forgotten). */
  maxAddresses?: number;
  /** Uniform in [0, 1) (default `Math.random`): which request a full queue refuses. */
  random?: () => number;
}

/** Why an admitted operation's `result` rejects when its place in the queue went to another. */
export class AdmissionRefused extends Error {
  constructor() {
    super('refused by admission control: the queue is full');
    this.name = 'AdmissionRefused';
  }
}

/** What {@link Admission.run} decided. */
export type Admitted<T> =
  | {
      /**
       * Admitted: `fn`'s result, once its turn has come and it has run; rejects with
       * {@link AdmissionRefused} (without calling `fn`) if its place went to another request.
       */
      ok: true;
      result: Promise<T>;
    }
  | {
      /** Refused, without calling `fn`. */
      ok: false;
      /** How long to hold the refusal before answering (ms): the rest of the address's wait. */
      holdMs: number;
    };

/** Runs operations under {@link AdmissionLimits}. */
export interface Admission {
  /**
   * Runs `fn` in its turn, or refuses at once (without calling it): when the queue is full and
   * the draw falls on this request, when `address` already holds its share of the queue, or
   * when `address` was refused less than `retryAfterMs` ago (then with the rest of that wait as
   * `holdMs`).
   */
  run<T>(address: string | undefined, fn: () => Promise<T>): Admitted<T>;
  /** Operations in progress and waiting, now. */
  readonly load: { active: number; queued: number };
}

// A macrotask: a turn of the event loop passes (I/O is read) before the next operation starts.
const nextTurn: (fn: () => void) => void =
  typeof globalThis.setImmediate === 'function'
    ? (fn) => globalThis.setImmediate(fn)
    : (fn) => globalThis.setTimeout(fn, 0);

/** Creates an admission controller; throws `INVALID_ARGUMENT` for impossible limits. */
export function createAdmission(limits: AdmissionLimits, options: AdmissionOptions): Admission {
  const { concurrency, queueLimit, queueLimitPerAddress } = limits;
  if (
    !Number.isInteger(concurrency) ||
    concurrency < 1 ||
    !Number.isInteger(queueLimit) ||
    queueLimit < 0 ||
    !Number.isInteger(queueLimitPerAddress) ||
    queueLimitPerAddress < 1
  ) {
    throw new E2EEError(
      'INVALID_ARGUMENT',
      'admission limits need integers: concurrency >= 1, queueLimit >= 0, queueLimitPerAddress >= 1',
    );
  }
  const { retryAfterMs, now = Date.now, maxAddresses = 100_000, random = Math.random } = options;
  interface Waiting {
    start(): void;
    evict(t: number): void;
  }
  const queue: Waiting[] = [];
  const perAddress = new Map<string, number>();
  // Refused addresses and until when they must stay away (Map order: oldest first).
  const refused = new Map<string, number>();
  const refuse = (address: string | undefined, t: number): { ok: false; holdMs: number } => {
    if (address !== undefined) {
      refused.delete(address);
      if (refused.size >= maxAddresses) refused.delete(refused.keys().next().value as string);
      refused.set(address, t + retryAfterMs);
    }
    return { ok: false, holdMs: 0 };
  };
  const release = (address: string | undefined): void => {
    if (address === undefined) return;
    const n = (perAddress.get(address) ?? 1) - 1;
    if (n > 0) perAddress.set(address, n);
    else perAddress.delete(address);
  };
  let active = 0;
  let scheduled = false;

  const pump = (): void => {
    scheduled = false;
    if (active >= concurrency) return;
    const next = queue.shift();
    if (!next) return;
    active++;
    next.start();
    // One start per turn, even with free slots: a synchronous store runs a whole operation in
    // `start`, and the loop must read the network between two of them.
    if (queue.length > 0 && active < concurrency) schedule();
  };
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    nextTurn(pump);
  };

  return {
    run<T>(address: string | undefined, fn: () => Promise<T>): Admitted<T> {
      const t = now();
      const until = address === undefined ? undefined : refused.get(address);
      if (until !== undefined) {
        if (until > t) return { ok: false, holdMs: until - t }; // back too soon
        refused.delete(address!);
      }
      const held = address === undefined ? 0 : (perAddress.get(address) ?? 0);
      if (held >= queueLimitPerAddress) return refuse(address, t);
      if (queue.length >= queueLimit + Math.max(0, concurrency - active)) {
        // Full: one of the waiting and this one, at random, gives up its place.
        const drawn = Math.floor(random() * (queue.length + 1));
        if (drawn >= queue.length) return refuse(address, t);
        queue.splice(drawn, 1)[0]!.evict(t);
      }
      if (address !== undefined) perAddress.set(address, held + 1);
      const result = new Promise<T>((resolve, reject) => {
        queue.push({
          start() {
            const done = (): void => {
              active--;
              release(address);
              if (queue.length > 0) schedule();
            };
            let p: Promise<T>;
            try {
              p = fn();
            } catch (err) {
              p = Promise.reject(err);
            }
            p.then(
              (v) => {
                done();
                resolve(v);
              },
              (e: unknown) => {
                done();
                reject(e);
              },
            );
          },
          evict(at) {
            release(address);
            refuse(address, at);
            reject(new AdmissionRefused());
          },
        });
        schedule();
      });
      return { ok: true, result };
    },
    get load() {
      return { active, queued: queue.length };
    },
  };
}
