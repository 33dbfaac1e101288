// The provider seam's cost (issue #20's target: within 0.9× of the node backend): a backup
// encrypted and decrypted as streams (compression off, so that AES-GCM dominates), once on the
// built-in node:crypto backend and once through setCryptoProvider with node:crypto wrapped in
// react-native-quick-crypto's shape (raw key bytes, a cipher per chunk). Each run is a fresh
// process (a provider stays registered for a process's life); runs alternate; medians compared.
//   npm run bench:provider            BENCH_PROVIDER_MIB=256 BENCH_RUNS=7
import { execFileSync } from 'node:child_process';
import * as nodeCrypto from 'node:crypto';
import { ensureBuilt } from '../scripts/ensure-built.mjs';
import { saveResults } from './results.mjs';

const [mode] = process.argv.slice(2);
const MIB = Number(process.env.BENCH_PROVIDER_MIB ?? 128);

if (mode === 'node' || mode === 'provider') {
  const lib = await import('../dist/index.js');
  if (mode === 'provider') {
    const buf = (b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    lib.setCryptoProvider({
      aesGcm: {
        createCipheriv: (a, k, iv) => nodeCrypto.createCipheriv(a, buf(k), buf(iv)),
        createDecipheriv: (a, k, iv) => nodeCrypto.createDecipheriv(a, buf(k), buf(iv)),
      },
      getRandomValues: (b) => nodeCrypto.getRandomValues(b),
    });
  }
  const key = new Uint8Array(32).fill(0x11);
  const piece = nodeCrypto.randomBytes(1 << 20);
  async function* input() {
    for (let i = 0; i < MIB; i++) yield piece;
  }
  const parts = [];
  let t = performance.now();
  const r = lib.encryptBackup(input(), { key, compression: 'none', padding: 'none' }).getReader();
  for (;;) {
    const { done, value } = await r.read();
    if (done) break;
    parts.push(value);
  }
  const encMs = performance.now() - t;
  t = performance.now();
  const { stream } = await lib.decryptBackup(
    (async function* () {
      yield* parts;
    })(),
    { key },
  );
  let n = 0;
  const d = stream.getReader();
  for (;;) {
    const { done, value } = await d.read();
    if (done) break;
    n += value.length;
  }
  const decMs = performance.now() - t;
  if (n !== MIB << 20) throw new Error(`decrypted ${n} bytes`);
  process.stdout.write(JSON.stringify({ encMs, decMs }));
} else {
  ensureBuilt();
  const RUNS = Number(process.env.BENCH_RUNS ?? 7);
  const times = { node: { enc: [], dec: [] }, provider: { enc: [], dec: [] } };
  for (let i = 0; i < RUNS; i++)
    for (const m of ['node', 'provider']) {
      const r = JSON.parse(execFileSync('node', [import.meta.filename, m], { encoding: 'utf8' }));
      times[m].enc.push(r.encMs);
      times[m].dec.push(r.decMs);
    }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const mbps = (ms) => (MIB * 2 ** 20) / 1e6 / (ms / 1000);
  const out = {};
  for (const op of ['enc', 'dec']) {
    const node = mbps(median(times.node[op]));
    const provider = mbps(median(times.provider[op]));
    out[op === 'enc' ? 'encrypt' : 'decrypt'] = {
      nodeMBps: node,
      providerMBps: provider,
      ratio: provider / node,
    };
  }
  console.log(
    `backup streams, ${MIB} MiB, compression off, median of ${RUNS} alternating runs (${process.version})`,
  );
  for (const [op, r] of Object.entries(out))
    console.log(
      `  ${op}: node ${r.nodeMBps.toFixed(0)} MB/s, provider ${r.providerMBps.toFixed(0)} MB/s: ${r.ratio.toFixed(2)}×`,
    );
  saveResults('provider', { mib: MIB, runs: RUNS, node: process.version, ...out });
}
