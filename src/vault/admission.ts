/**
 * Admission control for the vault's expensive operations (`login/start`, `register/start`: the
 * OPAQUE server's group operations, some 20 ms of one core each with @noble/curves).
 *
 * Run as they arrive, those operations would each hold the event loop for their whole length,
 * and requests already read would be served before a new connection is even accepted: under a
 * flood of keep-alive connections a newcomer waited tens of seconds. Here they wait in one bounded
 * queue instead, in arrival order, and start one per turn of the event loop, so that between two
 * of them the server reads whatever else has arrived (and answers cheap requests at once). A
 * request that finds the queue full, or its address already holding its share of it, is refused
 * at once — before anything is counted — and told when to come back.
 *
 * Browser-safe (timers only).
 *
 * @module
 */

import { E2EEError } from '../errors.js';

/** The bounds of an {@link Admission}. */
export interface AdmissionLimits {
  /** Operations in progress at once (at least 1). */
  concurrency: number;
  /** Operations that may wait for a turn (0: none wait). */
  queueLimit: number;
  /** How many of those in progress or waiting may come from one address (at least 1). */
  queueLimitPerAddress: number;
}

/** Runs operations under {@link AdmissionLimits}. */
export interface Admission {
  /**
   * Runs `fn` in its turn, or answers `undefined` at once (without calling it) when the queue is
   * full or `address` already holds its share of it.
   */
  run<T>(address: string | undefined, fn: () => Promise<T>): Promise<T> | undefined;
  /** Operations in progress and waiting, now. */
  readonly load: { active: number; queued: number };
}

// A macrotask: a turn of the event loop passes (I/O is read) before the next operation starts.
const nextTurn: (fn: () => void) => void =
  typeof globalThis.setImmediate === 'function'
    ? (fn) => globalThis.setImmediate(fn)
    : (fn) => globalThis.setTimeout(fn, 0);

/** Creates an admission controller; throws `INVALID_ARGUMENT` for impossible limits. */
export function createAdmission(limits: AdmissionLimits): Admission {
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
  const queue: (() => void)[] = [];
  const perAddress = new Map<string, number>();
  let active = 0;
  let scheduled = false;

  const pump = (): void => {
    scheduled = false;
    if (active >= concurrency) return;
    const start = queue.shift();
    if (!start) return;
    active++;
    start();
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
    run<T>(address: string | undefined, fn: () => Promise<T>): Promise<T> | undefined {
      const held = address === undefined ? 0 : (perAddress.get(address) ?? 0);
      if (queue.length >= queueLimit + Math.max(0, concurrency - active) || held >= queueLimitPerAddress) {
        return undefined;
      }
      if (address !== undefined) perAddress.set(address, held + 1);
      return new Promise<T>((resolve, reject) => {
        queue.push(() => {
          const done = (): void => {
            active--;
            if (address !== undefined) {
              const n = (perAddress.get(address) ?? 1) - 1;
              if (n > 0) perAddress.set(address, n);
              else perAddress.delete(address);
            }
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
        });
        schedule();
      });
    },
    get load() {
      return { active, queued: queue.length };
    },
  };
}
