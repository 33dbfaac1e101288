import pg from 'pg';
import { expect, it } from 'vitest';
import { E2EEError } from '../../src/errors.js';
import type { KsfParams } from '../../src/vault/protocol.js';
import { tempDirNamed } from '../temp-dir.js';

/** Argon2id at its cheapest (needs allowWeak): keeps the suite fast; real costs are tested in kdf. */
export const CHEAP_KSF: KsfParams = { algorithm: 'argon2id', m: 64, t: 1, p: 1 };

/** Client options for cheap registrations. */
export const cheapClient = { ksf: CHEAP_KSF, allowWeakKsf: true } as const;

/**
 * Server limits for tests: weak KSF allowed and suggested (also what unknown accounts report, so
 * fake logins stay cheap too), no rate limits unless a test sets them, and room in the admission
 * queue for the tests that race 50 requests from one address.
 */
export const testLimits = {
  allowWeakKsf: true,
  ksfDefaults: CHEAP_KSF,
  perAddress: false,
  perAccount: false,
  queueLimit: 1000,
  queueLimitPerAddress: 1000,
} as const;

/** A fresh temporary folder, removed by the returned function, or else when the test file ends. */
export const tempDir = () => tempDirNamed('e2ee-vault-');

export function randomKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

/** Awaits `p` and returns its E2EEError (failing the test if it resolves or throws something else). */
export async function errorOf(p: Promise<unknown>): Promise<E2EEError & Record<string, unknown>> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(E2EEError);
    return err as E2EEError & Record<string, unknown>;
  }
  throw new Error('expected an E2EEError, but the promise resolved');
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: E2EE_TEST_PG_URL, skipped with a reason when unset, required when CI=true.

export const PG_URL = process.env['E2EE_TEST_PG_URL'];
export const PG_REQUIRED = process.env['CI'] === 'true';

/**
 * Why the PostgreSQL tests cannot run, or undefined when they can. Prints the reason; with
 * CI=true registers a failing test instead, so CI cannot pass without them.
 */
export function pgSkipReason(): string | undefined {
  if (PG_URL) return undefined;
  const reason =
    'E2EE_TEST_PG_URL is not set: skipping the PostgreSQL vault tests ' +
    '(start one with `export E2EE_TEST_PG_URL="$(scripts/start-postgres.sh)"`)';
  if (PG_REQUIRED) {
    it('PostgreSQL is available (required when CI=true)', () => {
      expect.fail(`${reason}; CI=true requires them`);
    });
  } else console.warn(reason);
  return reason;
}

/** A unique table prefix, and a function that drops its tables. */
export function pgPrefix(): { prefix: string; drop: () => Promise<void> } {
  const prefix = `t${Date.now().toString(36)}${Math.floor(Math.random() * 1e9).toString(36)}_`;
  return {
    prefix,
    async drop() {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        for (const t of ['accounts', 'logins', 'registrations', 'fake_counters', 'meta']) {
          await client.query(`DROP TABLE IF EXISTS ${prefix}${t}`);
        }
      } finally {
        await client.end();
      }
    },
  };
}

/** A JSON answer, inspected loosely by the tests. */
// biome-ignore lint/suspicious/noExplicitAny: tests read answer fields without narrowing each one
export type LooseJson = Record<string, any>;
