// The CLI's V8 and malloc tuning (src/cli/memory.ts): on which V8 it applies, and that the V8
// flags take effect in the CLI's own process on the Node running this suite (the CI runs it on
// Node 20, 22 and 24).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { keepMallocHeapTop, MEASURED_V8_MAJORS, tunesV8, V8_DEFAULTS_ENV } from '../../src/cli/memory.js';
import { buildCli, CLI, cleanEnv, run, tempDir } from './helpers.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'v8-young-generation.mjs');
const SWEEP_FIXTURE = join(import.meta.dirname, 'fixtures', 'array-buffer-sweeping.mjs');
const MiB = 2 ** 20;
const major = Number(process.versions.v8.split('.')[0]);

beforeAll(() => buildCli(), 180_000);

describe('tunesV8', () => {
  it('tunes V8 11, 12 and 13 (Node 20, 22, 24), and no V8 it was not measured on', () => {
    expect(MEASURED_V8_MAJORS).toEqual([11, 12, 13]);
    for (const v8 of ['11.3.244.8-node.38', '12.4.254.21-node.57', '13.6.233.17-node.53'])
      expect(tunesV8(v8, {}), v8).toBe(true);
    for (const v8 of ['10.2.154.26-node.36', '14.1.146.11-node.26', '', 'bun', undefined])
      expect(tunesV8(v8, {}), String(v8)).toBe(false);
  });

  it(`leaves V8 alone with ${V8_DEFAULTS_ENV}=1`, () => {
    expect(tunesV8('13.6.233.17-node.53', { [V8_DEFAULTS_ENV]: '1' })).toBe(false);
    expect(tunesV8('13.6.233.17-node.53', { [V8_DEFAULTS_ENV]: '0' })).toBe(true);
  });
});

describe('keepMallocHeapTop', () => {
  const realV8 = Object.getOwnPropertyDescriptor(process.versions, 'v8')!;
  beforeEach(() => vi.stubEnv(V8_DEFAULTS_ENV, undefined)); // whatever the suite was run with
  afterEach(() => {
    Object.defineProperty(process.versions, 'v8', realV8);
    vi.unstubAllEnvs();
    vi.unstubAllGlobals();
  });

  /** The sizes of the ArrayBuffers keepMallocHeapTop made on `v8`. */
  function buffersMadeOn(v8: string): number[] {
    Object.defineProperty(process.versions, 'v8', { ...realV8, value: v8 });
    const sizes: number[] = [];
    const Real = globalThis.ArrayBuffer;
    vi.stubGlobal(
      'ArrayBuffer',
      class extends Real {
        constructor(length: number) {
          super(length);
          sizes.push(length);
        }
      },
    );
    keepMallocHeapTop();
    vi.unstubAllGlobals();
    return sizes;
  }

  it('drops one 8 MiB buffer on every V8 the CLI tunes', () => {
    for (const v8 of ['11.3.244.8-node.38', '12.4.254.21-node.57', '13.6.233.17-node.53'])
      expect(buffersMadeOn(v8), v8).toEqual([8 * MiB]);
  });

  it(`drops none on an unmeasured V8, nor with ${V8_DEFAULTS_ENV}=1`, () => {
    expect(buffersMadeOn('14.1.146.11-node.26')).toEqual([]);
    vi.stubEnv(V8_DEFAULTS_ENV, '1');
    expect(buffersMadeOn('13.6.233.17-node.53')).toEqual([]);
  });
});

/**
 * Runs `cli.js --version` with a fixture imported (and `nodeArgs` before it); answers the JSON the
 * fixture printed on its `marker` line at exit, and the process's standard output.
 */
function withFixture<T>(
  fixture: string,
  marker: string,
  env: Record<string, string | undefined>,
  nodeArgs: string[] = [],
): { seen: T; stdout: string } {
  const r = spawnSync(process.execPath, [...nodeArgs, '--import', fixture, CLI, '--version'], {
    env: cleanEnv(env),
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(0);
  // An unknown V8 flag is reported on stderr, not thrown.
  expect(r.stderr).toBe('');
  const line = new RegExp(`^${marker} (.*)$`, 'm').exec(r.stdout);
  expect(line, r.stdout).not.toBeNull();
  const seen = JSON.parse(line![1]!) as T & { v8: string };
  expect(seen.v8).toBe(process.versions.v8); // the child ran on this suite's Node
  return { seen, stdout: r.stdout };
}

/** What V8 did in a `cli.js --version` process under load (fixtures/v8-young-generation.mjs). */
function youngGeneration(env: Record<string, string | undefined> = {}) {
  const { seen, stdout } = withFixture<{ newSpaceMax: number }>(FIXTURE, 'V8-YOUNG-GENERATION', env, [
    '--trace-gc',
  ]);
  return {
    newSpaceMax: seen.newSpaceMax,
    externalScavenges: stdout.match(/external memory pressure/g)?.length ?? 0,
  };
}

/** Of 40 scavenges in a `cli.js --version` process, how many freed their dead ArrayBuffers before returning. */
function sweptDuringScavenge(env: Record<string, string | undefined> = {}): number {
  return withFixture<{ freed: number }>(SWEEP_FIXTURE, 'ARRAY-BUFFER-SWEEPING', env).seen.freed;
}

describe(`the CLI's process on this Node (V8 ${process.versions.v8})`, () => {
  const measured = MEASURED_V8_MAJORS.includes(major);

  it(
    measured
      ? 'keeps the young generation small, and on V8 12 and 13 scavenges after 8 MiB of dead ArrayBuffers'
      : 'leaves an unmeasured V8 at its defaults',
    () => {
      const { newSpaceMax, externalScavenges } = youngGeneration();
      if (!measured) {
        expect(newSpaceMax).toBeGreaterThan(8 * MiB);
        return;
      }
      // V8 11 and 12 hold it at its initial size (2 and 4 MiB here). V8 13 sizes it in pages
      // while concurrent sweeping runs, so the size varies from run to run: 4-13.6 MiB over 120
      // runs on this machine, smaller under load. Half of its 32 MiB default is the bound.
      expect(newSpaceMax).toBeLessThanOrEqual((major >= 13 ? 16 : 8) * MiB);
      // 256 MiB of dead ArrayBuffers: one scavenge per 8 MiB of them is 32; V8 12's defaults
      // give 8, V8 13's none.
      if (major >= 12) expect(externalScavenges).toBeGreaterThanOrEqual(20);
    },
  );

  // collectWhileCompressing on V8 11 asks for a scavenge and then looks whether it was enough: the
  // dead buffers must be freed by then. V8 12 and 13 are never asked for a scavenge.
  it.skipIf(major !== 11)('on V8 11, a scavenge asked of `gc` frees dead buffers before it returns', () => {
    const script = `
      import { setFlagsFromString } from 'node:v8';
      import { runInNewContext } from 'node:vm';
      setFlagsFromString('--expose-gc');
      setFlagsFromString('--no-concurrent-array-buffer-sweeping');
      const gc = runInNewContext('gc');
      const held = () => process.memoryUsage().arrayBuffers;
      const start = held();
      // 20 MiB of buffers, dead at once: under the 32 MiB after which V8 11 scavenges.
      for (let i = 0; i < 20; i++) new Uint8Array(2 ** 20).fill(i);
      const before = held() - start;
      gc({ type: 'minor' });
      console.log(JSON.stringify({ before, after: held() - start }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe(''); // V8 reports an unknown flag there
    const { before, after } = JSON.parse(r.stdout) as { before: number; after: number };
    expect(before).toBeGreaterThan(16 * MiB);
    expect(after).toBeLessThan(2 * MiB);
  });

  // The same in the CLI's own process: a compressing encrypt of random bytes, whose dead buffers
  // go above the 22 MiB the CLI looks for, is scavenged and never collected in full.
  it.skipIf(major !== 11)('on V8 11, a compressing encrypt asks for scavenges, not full collections', () => {
    const { dir, cleanup } = tempDir();
    try {
      const input = join(dir, 'random');
      // 96 MiB: at 48 the process stayed under 22 MiB of buffers, and nothing was asked for.
      for (let i = 0; i < 12; i++) appendFileSync(input, randomBytes(8 * MiB));
      expect(run(['keygen', '--out', join(dir, 'k'), '-q']).status).toBe(0);
      const r = spawnSync(
        process.execPath,
        ['--trace-gc', CLI, 'encrypt', input, '-o', join(dir, 'out'), '-k', join(dir, 'k'), '-q'],
        { env: cleanEnv(), encoding: 'utf8', timeout: 60_000 },
      );
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      // `testing` is the reason --trace-gc gives for a collection asked of `gc`.
      const asked = r.stdout.split('\n').filter((line) => line.includes('testing'));
      expect(asked.filter((line) => line.includes('Scavenge')).length).toBeGreaterThan(0);
      expect(asked.filter((line) => line.includes('Mark-Compact'))).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it(`${V8_DEFAULTS_ENV}=1 leaves V8 at its defaults`, () => {
    const { newSpaceMax, externalScavenges } = youngGeneration({ [V8_DEFAULTS_ENV]: '1' });
    expect(newSpaceMax).toBeGreaterThan(8 * MiB);
    expect(externalScavenges).toBeLessThan(20);
  });

  it("never overrides the user's own young-generation flags", () => {
    for (const NODE_OPTIONS of ['--max-semi-space-size=16', '--max_semi_space_size=16']) {
      const { newSpaceMax, externalScavenges } = youngGeneration({ NODE_OPTIONS });
      expect(newSpaceMax, NODE_OPTIONS).toBeGreaterThan(8 * MiB);
      expect(externalScavenges, NODE_OPTIONS).toBeLessThan(20);
    }
  });

  // At V8's defaults a helper thread frees them, and it had finished when the fixture looked
  // after `gc` returned only 26-36 times of 40 (12 runs on Node 20, 22 and 24), so a CLI without
  // the flag fails this all but certainly. Not asserted the other way round: how often the helper
  // thread wins that race depends on the machine's cores.
  it.skipIf(!measured)(
    "frees dead ArrayBuffers during the scavenge, with the user's young-generation flags too",
    () => {
      expect(sweptDuringScavenge()).toBe(40);
      expect(sweptDuringScavenge({ NODE_OPTIONS: '--max-semi-space-size=16' })).toBe(40);
    },
  );
});
