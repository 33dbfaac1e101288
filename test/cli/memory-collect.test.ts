// The CLI's collectors (src/cli/memory.ts): where they look, how often, at what, and when they
// collect; and which V8 flags the CLI sets. V8's statistics, its flags and `gc` are stubbed, and
// the V8 version is set per case, so every case runs on any Node.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const { stats, gc } = vi.hoisted(() => ({
  stats: { external: 0, flags: [] as string[] },
  // Full collections counted, and what a scavenge leaves (`gc({ type: 'minor' })`).
  gc: { calls: 0, minor: 0, onMinor: () => {} },
}));

vi.mock('node:v8', () => ({
  setFlagsFromString: (flag: string) => void stats.flags.push(flag),
  getHeapStatistics: () => ({ external_memory: stats.external }),
}));
vi.mock('node:vm', () => ({
  runInNewContext: (code: string) =>
    code === 'gc'
      ? (options?: { type?: string }) => {
          if (options === undefined) gc.calls++;
          else if (options.type === 'minor') {
            gc.minor++;
            gc.onMinor();
            // On V8 11 { type: 'major' } is a scavenge too: only gc() is a full collection.
          } else throw new Error(`gc(${JSON.stringify(options)}) is not asked for`);
        }
      : undefined,
}));

const { collectWhileCompressing, collectWhileDecrypting, setV8Flags, V8_DEFAULTS_ENV } = await import(
  '../../src/cli/memory.js'
);

const MiB = 2 ** 20;
const realV8 = Object.getOwnPropertyDescriptor(process.versions, 'v8')!;
const onV8 = (v8: string) => Object.defineProperty(process.versions, 'v8', { ...realV8, value: v8 });
let arrayBuffers = 0;

beforeEach(() => {
  stats.external = 0;
  stats.flags = [];
  gc.calls = 0;
  gc.minor = 0;
  gc.onMinor = () => {};
  arrayBuffers = 0;
  vi.spyOn(process, 'memoryUsage').mockImplementation(
    () => ({ rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers }) as NodeJS.MemoryUsage,
  );
});
afterEach(() => {
  Object.defineProperty(process.versions, 'v8', realV8);
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe('collectWhileDecrypting', () => {
  for (const v8 of ['12.4.254.21-node.57', '13.6.233.17-node.53'])
    it(`on V8 ${v8.split('.')[0]}: looks every 2 MiB at external memory, collects above 24 MiB`, () => {
      onV8(v8);
      const collect = collectWhileDecrypting();
      stats.external = 30 * MiB;
      collect(2 * MiB - 1); // not yet 2 MiB read
      expect(gc.calls).toBe(0);
      collect(2 * MiB);
      expect(gc.calls).toBe(1);
      collect(4 * MiB - 1); // the next look is 2 MiB later
      expect(gc.calls).toBe(1);
      stats.external = 24 * MiB; // at the threshold: no collection
      collect(4 * MiB);
      expect(gc.calls).toBe(1);
      stats.external = 24 * MiB + 1;
      collect(6 * MiB);
      expect(gc.calls).toBe(2);
      expect(gc.minor).toBe(0); // V8 12 and 13 scavenge on their own (EXTERNAL_SCAVENGE)
      // Never process.memoryUsage(), which reads the RSS too, and not the ArrayBuffers alone.
      expect(process.memoryUsage).not.toHaveBeenCalled();
    });

  it('does nothing on V8 11 (Node 20) and sets no flag, nor with the defaults asked for', () => {
    stats.external = 100 * MiB;
    onV8('11.3.244.8-node.38');
    const onNode20 = collectWhileDecrypting();
    for (let read = 0; read <= 64 * MiB; read += MiB) onNode20(read);
    onV8('13.6.233.17-node.53');
    vi.stubEnv(V8_DEFAULTS_ENV, '1');
    const withDefaults = collectWhileDecrypting();
    for (let read = 0; read <= 64 * MiB; read += MiB) withDefaults(read);
    expect(gc.calls).toBe(0);
    expect(stats.flags).toEqual([]);
  });
});

describe('collectWhileCompressing', () => {
  it('on V8 11 looks every 2 MiB at the ArrayBuffers; above 22 MiB it scavenges, then collects in full if still above', () => {
    onV8('11.3.244.8-node.38');
    const collect = collectWhileCompressing();
    arrayBuffers = 22 * MiB; // at the threshold: neither
    collect(2 * MiB);
    expect([gc.minor, gc.calls]).toEqual([0, 0]);
    // Random bytes: the dead buffers are young, and the scavenge frees them.
    arrayBuffers = 30 * MiB;
    gc.onMinor = () => {
      arrayBuffers = 22 * MiB;
    };
    collect(4 * MiB - 1); // the next look is 2 MiB later
    expect([gc.minor, gc.calls]).toEqual([0, 0]);
    collect(4 * MiB);
    expect([gc.minor, gc.calls]).toEqual([1, 0]);
    // Promoted buffers outlive the scavenge.
    arrayBuffers = 30 * MiB;
    gc.onMinor = () => {
      arrayBuffers = 22 * MiB + 1;
    };
    collect(6 * MiB);
    expect([gc.minor, gc.calls]).toEqual([2, 1]);
    stats.external = 100 * MiB; // not what it reads
    arrayBuffers = 0;
    collect(8 * MiB);
    expect([gc.minor, gc.calls]).toEqual([2, 1]);
    // Only `gc` itself: setV8Flags, at start, has V8 free the dead buffers during the scavenge,
    // so that the second look sees them gone.
    expect(stats.flags).toEqual(['--expose-gc']);
  });

  it('does nothing and sets no flag with the defaults asked for, on V8 11 too', () => {
    vi.stubEnv(V8_DEFAULTS_ENV, '1');
    arrayBuffers = 100 * MiB;
    for (const v8 of ['11.3.244.8-node.38', '13.6.233.17-node.53']) {
      onV8(v8);
      const collect = collectWhileCompressing();
      for (let read = 0; read <= 64 * MiB; read += MiB) collect(read);
    }
    expect([gc.minor, gc.calls]).toEqual([0, 0]);
    expect(stats.flags).toEqual([]);
  });

  it('on V8 13 looks every 2 MiB', () => {
    onV8('13.6.233.17-node.53');
    const collect = collectWhileCompressing();
    arrayBuffers = 30 * MiB;
    collect(2 * MiB);
    collect(3 * MiB);
    collect(4 * MiB);
    expect(gc.calls).toBe(2);
    // V8 12 and 13 scavenge every 8 MiB of dead buffers themselves: none asked for.
    expect(gc.minor).toBe(0);
    expect(stats.flags).toEqual(['--expose-gc']);
  });
});

describe('setV8Flags', () => {
  const SWEEP = '--no-concurrent-array-buffer-sweeping';
  const KEEP_SMALL = '--semi-space-growth-factor=1';
  const EXTERNAL = '--scavenger-max-new-space-capacity-mb=2';
  beforeEach(() => {
    // Whatever the suite was run with.
    vi.stubEnv(V8_DEFAULTS_ENV, undefined);
    vi.stubEnv('NODE_OPTIONS', undefined);
    // Built-in modules loaded, in the same list as the flags: every one must come first.
    vi.spyOn(process, 'getBuiltinModule').mockImplementation((id: string) => {
      stats.flags.push(`load ${id}`);
      return undefined as never;
    });
  });
  const flagsOn = (v8: string) => {
    onV8(v8);
    stats.flags = [];
    setV8Flags();
    const first = stats.flags.findIndex((f) => f.startsWith('--'));
    expect(
      stats.flags.slice(first).filter((f) => f.startsWith('load ')),
      v8,
    ).toEqual([]);
    return stats.flags.filter((f) => f.startsWith('--'));
  };

  it('loads the built-ins first, then frees dead buffers on the main thread and keeps the young generation small', () => {
    expect(flagsOn('11.3.244.8-node.38')).toEqual([SWEEP, KEEP_SMALL]);
    expect(stats.flags.filter((f) => f.startsWith('load ')).length).toBeGreaterThan(0);
    expect(flagsOn('12.4.254.21-node.57')).toEqual([SWEEP, KEEP_SMALL, EXTERNAL]);
    expect(flagsOn('13.6.233.17-node.53')).toEqual([SWEEP, KEEP_SMALL, EXTERNAL]);
  });

  it("sets only the sweeping flag over the user's own young-generation flags", () => {
    vi.stubEnv('NODE_OPTIONS', '--max-semi-space-size=16');
    expect(flagsOn('13.6.233.17-node.53')).toEqual([SWEEP]);
  });

  it("never overrides the user's own sweeping flag", () => {
    vi.spyOn(process, 'execArgv', 'get').mockReturnValue(['--concurrent-array-buffer-sweeping']);
    expect(flagsOn('12.4.254.21-node.57')).toEqual([KEEP_SMALL, EXTERNAL]);
  });

  it("takes a file's name for no option's", () => {
    vi.spyOn(process, 'execArgv', 'get').mockReturnValue([
      '--import',
      './array-buffer-sweeping.mjs',
      '--require=/x/semi-space.cjs',
    ]);
    vi.stubEnv('NODE_OPTIONS', '--import ./new-space.mjs');
    expect(flagsOn('12.4.254.21-node.57')).toEqual([SWEEP, KEEP_SMALL, EXTERNAL]);
  });

  it('sets none on an unmeasured V8, nor with the defaults asked for', () => {
    expect(flagsOn('14.1.146.11-node.26')).toEqual([]);
    vi.stubEnv(V8_DEFAULTS_ENV, '1');
    expect(flagsOn('13.6.233.17-node.53')).toEqual([]);
  });
});
