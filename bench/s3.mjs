// The S3 store against a plain SDK multipart upload, on the local S3-compatible server
// (scripts/start-s3.sh; E2EE_TEST_S3_URL, started here when unset):
//
//   ours:     createS3Store(...).put(name, encryptBackup(file, { key, compression: 'none' })), with a
//             resume state (each part hashed and recorded, as the CLI does)
//   baseline: @aws-sdk/lib-storage's Upload of the same number of bytes, same part size (8 MiB)
//             and parts in flight (4), from a file stream
//
// Each run is a fresh child process (so peak RSS is the process's own: process.resourceUsage()
// .maxRSS), the two interleaved, E2EE_BENCH_RUNS times (default 3). Prints medians, the ratio of
// throughputs (ours / baseline: ≥ 0.9 is the target of issue #22) and the spread, and writes
// bench/results.json's "s3" key. Size: E2EE_BENCH_S3_MIB (default 1024). Not a test.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { saveResults } from './results.mjs';

const MiB = 1024 * 1024;
const PART = 8 * MiB;
const QUEUE = 4;

async function client() {
  const { S3Client } = await import('@aws-sdk/client-s3');
  const u = new URL(process.env.E2EE_TEST_S3_URL);
  return new S3Client({
    endpoint: `${u.protocol}//${u.host}`,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: {
      accessKeyId: decodeURIComponent(u.username),
      secretAccessKey: decodeURIComponent(u.password),
    },
  });
}

/** One timed run in this (child) process; prints JSON. */
async function child(mode, file, bucket, size) {
  const { createReadStream } = await import('node:fs');
  const { Readable } = await import('node:stream');
  const s3 = await client();
  const key = `bench-${mode}-${Date.now()}`;
  const t0 = performance.now();
  if (mode === 'baseline') {
    const { Upload } = await import('@aws-sdk/lib-storage');
    await new Upload({
      client: s3,
      params: { Bucket: bucket, Key: key, Body: createReadStream(file, { highWaterMark: MiB }) },
      partSize: PART,
      queueSize: QUEUE,
    }).done();
  } else {
    const { encryptBackup } = await import('../dist/index.js');
    const { createS3Store, uploadStateFolder } = await import('../dist/s3.js');
    const states = mkdtempSync(join(tmpdir(), 'e2ee-bench-s3-state-'));
    const store = createS3Store({
      client: s3,
      bucket,
      partSize: PART,
      queueSize: QUEUE,
      resume: uploadStateFolder(states),
    });
    const source = Readable.toWeb(createReadStream(file, { highWaterMark: MiB }));
    await store.put(key, encryptBackup(source, { key: new Uint8Array(32).fill(1), compression: 'none' }));
    rmSync(states, { recursive: true, force: true });
  }
  const seconds = (performance.now() - t0) / 1000;
  const { HeadObjectCommand, DeleteObjectCommand } = await import('@aws-sdk/client-s3');
  const stored = (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentLength;
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  const u = process.resourceUsage();
  process.stdout.write(
    `${JSON.stringify({ mode, seconds, bytes: size, stored, maxRssMiB: u.maxRSS / 1024, cpuSeconds: (u.userCPUTime + u.systemCPUTime) / 1e6 })}\n`,
  );
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const root = fileURLToPath(new URL('..', import.meta.url));
  if (!process.env.E2EE_TEST_S3_URL)
    process.env.E2EE_TEST_S3_URL = execFileSync('bash', [join(root, 'scripts/start-s3.sh')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim();
  execFileSync('node', [join(root, 'scripts/ensure-built.mjs')], { stdio: 'inherit' });
  const size = Number(process.env.E2EE_BENCH_S3_MIB ?? 1024) * MiB;
  const runs = Number(process.env.E2EE_BENCH_RUNS ?? 3);
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-bench-s3-'));
  const file = join(dir, 'source');
  const fd = openSync(file, 'w');
  for (let o = 0; o < size; o += 16 * MiB) writeSync(fd, randomBytes(Math.min(16 * MiB, size - o)));
  closeSync(fd);
  const s3 = await client();
  const { CreateBucketCommand, DeleteBucketCommand } = await import('@aws-sdk/client-s3');
  const bucket = `e2ee-bench-${randomBytes(4).toString('hex')}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const results = { baseline: [], ours: [] };
  try {
    for (let i = 0; i < runs; i++)
      for (const mode of i % 2 ? ['ours', 'baseline'] : ['baseline', 'ours']) {
        const r = spawnSync(
          process.execPath,
          [fileURLToPath(import.meta.url), 'child', mode, file, bucket, String(size)],
          {
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'inherit'],
          },
        );
        if (r.status !== 0) throw new Error(`${mode} run failed`);
        const row = JSON.parse(r.stdout.trim().split('\n').pop());
        results[mode].push(row);
        console.log(
          `${mode.padEnd(8)} ${(size / MiB).toFixed(0)} MiB in ${row.seconds.toFixed(2)} s = ${(size / MiB / row.seconds).toFixed(1)} MiB/s, peak RSS ${row.maxRssMiB.toFixed(0)} MiB, CPU ${row.cpuSeconds.toFixed(2)} s`,
        );
      }
  } finally {
    await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
  const speed = (rows) => rows.map((r) => size / MiB / r.seconds);
  const summary = {
    date: new Date().toISOString().slice(0, 10),
    node: process.version,
    sizeMiB: size / MiB,
    partMiB: PART / MiB,
    queueSize: QUEUE,
    runs,
    baselineMiBs: speed(results.baseline),
    oursMiBs: speed(results.ours),
    ratioMedian: median(speed(results.ours)) / median(speed(results.baseline)),
    ratiosPerPair: results.ours.map((r, i) => results.baseline[i].seconds / r.seconds),
    peakRssMiB: {
      ours: results.ours.map((r) => r.maxRssMiB),
      baseline: results.baseline.map((r) => r.maxRssMiB),
    },
    cpuSeconds: {
      ours: results.ours.map((r) => r.cpuSeconds),
      baseline: results.baseline.map((r) => r.cpuSeconds),
    },
    loadAverage: (await import('node:os')).loadavg(),
  };
  console.log(
    `\nmedian: ours ${median(summary.oursMiBs).toFixed(1)} MiB/s, baseline ${median(summary.baselineMiBs).toFixed(1)} MiB/s: ` +
      `ratio ${summary.ratioMedian.toFixed(2)}x (per pair ${summary.ratiosPerPair.map((x) => x.toFixed(2)).join(', ')}; target >= 0.9)\n` +
      `peak RSS ours ${summary.peakRssMiB.ours.map((x) => x.toFixed(0)).join(', ')} MiB (target <= 150), baseline ${summary.peakRssMiB.baseline.map((x) => x.toFixed(0)).join(', ')} MiB`,
  );
  saveResults('s3', summary);
}

if (process.argv[2] === 'child')
  await child(process.argv[3], process.argv[4], process.argv[5], Number(process.argv[6]));
else await main();
