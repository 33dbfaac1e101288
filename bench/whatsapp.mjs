// `npm run bench:whatsapp`: times `e2ee-backup whatsapp decrypt` (and `import`) on a crypt15 file
// against two baselines doing the same work, measured in the same run, interleaved:
//   - node-pipeline: node:crypto's streaming AES-GCM and node:zlib's inflate joined with
//     node:stream's pipeline, file to file (the prefix skipped, the tag read first);
//   - python-pipeline: the same in Python (cryptography's AES-GCM decryptor, zlib.decompressobj),
//     which is how the public Python tools read these files (their code is not used).
// Reports median seconds, MB/s of database written, ratios to node-pipeline and peak RSS (GNU
// time). Not a test: the machine is shared and noisy, so only ratios measured together mean
// anything.
//
// Environment: E2EE_BENCH_CLI (default packages/cli/dist/cli.js), E2EE_BENCH_RUNS (default 5, at
// least 3), E2EE_BENCH_SIZES_MIB (database sizes, default "256,1024"), E2EE_BENCH_DIR (default /dev/shm),
// E2EE_BENCH_PYTHON (default python3; python-pipeline is skipped without `cryptography`).
import { spawnSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createDeflate, createInflate } from 'node:zlib';
import { CLI, ensureBuilt } from '../scripts/ensure-built.mjs';
import { writeCorpus } from './corpus.mjs';
import { saveResults } from './results.mjs';

const cli = process.env.E2EE_BENCH_CLI ?? CLI;
const runs = Math.max(3, Number(process.env.E2EE_BENCH_RUNS ?? 5));
const sizesMiB = (process.env.E2EE_BENCH_SIZES_MIB ?? '256,1024').split(',').map(Number);
const base = process.env.E2EE_BENCH_DIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
const python = process.env.E2EE_BENCH_PYTHON ?? 'python3';
const MiB = 2 ** 20;

// node-pipeline, run as `node bench/whatsapp.mjs --pipeline IN OUT AESKEYHEX`.
if (process.argv[2] === '--pipeline') {
  const [, , , input, output, keyHex] = process.argv;
  const size = statSync(input).size;
  const fd = openSync(input, 'r');
  const head = Buffer.alloc(257);
  readSync(fd, head, 0, 257, 0);
  const tag = Buffer.alloc(16);
  const fileEnd = size - 16; // the MD5 trailer
  readSync(fd, tag, 0, 16, fileEnd - 16);
  closeSync(fd);
  const prefix = 1 + (head[1] === 1 ? 1 : 0) + head[0];
  const iv = head.subarray(prefix - head[0] + 6, prefix - head[0] + 22); // after `08 01 1a 12 0a 10`
  const d = createDecipheriv('aes-256-gcm', Buffer.from(keyHex, 'hex'), iv);
  d.setAuthTag(tag);
  await pipeline(
    createReadStream(input, { start: prefix, end: fileEnd - 17 }),
    d,
    createInflate(),
    createWriteStream(output),
  );
  process.exit(0);
}

function have(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}
if (!existsSync('/usr/bin/time')) {
  console.error('bench:whatsapp needs GNU time for peak RSS: apt-get install -y time');
  process.exit(1);
}
const hasPython = have(python, ['-c', 'import cryptography, zlib']);
if (!hasPython) console.error(`${python} with 'cryptography' not found: skipping python-pipeline`);

const PY_PIPELINE = `
import sys, zlib
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
src, dst, key = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
with open(src, 'rb') as f:
    data_len = f.seek(0, 2); f.seek(0)
    head = f.read(257)
    prefix = 1 + (1 if head[1] == 1 else 0) + head[0]
    iv = head[prefix - head[0] + 6: prefix - head[0] + 22]
    f.seek(data_len - 32); tag = f.read(16)
    f.seek(prefix)
    d = Cipher(algorithms.AES(key), modes.GCM(iv, tag)).decryptor()
    z = zlib.decompressobj()
    left = data_len - 32 - prefix
    with open(dst, 'wb') as out:
        while left > 0:
            chunk = f.read(min(left, 1 << 20)); left -= len(chunk)
            out.write(z.decompress(d.update(chunk)))
        d.finalize()
        out.write(z.flush())
`;

ensureBuilt();
const dir = mkdtempSync(join(base, 'e2ee-bench-wa-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
process.on('SIGINT', () => process.exit(130));

const rootKey = randomBytes(32);
const aesKey = Buffer.from(hkdfSync('sha256', rootKey, Buffer.alloc(0), 'backup encryption', 32));
const codeFile = join(dir, 'code.txt');
const codeFd = openSync(codeFile, 'w', 0o600);
writeSync(codeFd, rootKey.toString('hex'));
closeSync(codeFd);

/** A crypt15 file of `plainPath`, as WhatsApp writes it: zlib level 1 (`78 01`), MD5 trailer. */
async function writeCrypt15(plainPath, path) {
  const iv = randomBytes(16);
  const version = Buffer.from('2.24.1.1');
  const expiry = Buffer.concat([Buffer.from([0x0a, version.length]), version]);
  const proto = Buffer.concat([
    Buffer.from([0x08, 0x01, 0x1a, 0x12, 0x0a, 0x10]),
    iv,
    Buffer.from([0x22, expiry.length]),
    expiry,
  ]);
  const head = Buffer.concat([Buffer.from([proto.length, 1]), proto]);
  const c = createCipheriv('aes-256-gcm', aesKey, iv);
  const md5 = createHash('md5').update(head);
  const fd = openSync(path, 'w');
  writeSync(fd, head);
  const put = (b) => {
    md5.update(b);
    writeSync(fd, b);
  };
  const z = createDeflate({ level: 1 });
  await new Promise((res, rej) => {
    z.on('data', (b) => put(c.update(b)));
    z.on('end', res);
    z.on('error', rej);
    createReadStream(plainPath).pipe(z);
  });
  c.final();
  put(c.getAuthTag());
  writeSync(fd, md5.digest());
  closeSync(fd);
}

function timed(cmd, args) {
  const report = join(dir, 'time.txt');
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-v', '-o', report, cmd, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(readFileSync(report, 'utf8'))?.[1]);
  return { seconds, rssMiB: rssKb / 1024 };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = {};
for (const mib of sizesMiB) {
  const plain = join(dir, `db-${mib}`);
  const file = join(dir, `msgstore-${mib}.db.crypt15`);
  await writeCorpus(plain, mib * MiB, 1);
  await writeCrypt15(plain, file);
  const out = join(dir, 'out.db');
  const imported = join(dir, 'out.e2ee');
  const tools = [
    [
      'node-pipeline',
      () => timed('node', [import.meta.filename, '--pipeline', file, out, aesKey.toString('hex')]),
      out,
    ],
    ...(hasPython
      ? [
          [
            'python-pipeline',
            () => timed(python, ['-c', PY_PIPELINE, file, out, aesKey.toString('hex')]),
            out,
          ],
        ]
      : []),
    [
      'e2ee-backup whatsapp decrypt',
      () => timed('node', [cli, 'whatsapp', 'decrypt', file, '-k', codeFile, '-o', out, '-q']),
      out,
    ],
    [
      'e2ee-backup whatsapp import',
      () => timed('node', [cli, 'whatsapp', 'import', file, '-k', codeFile, '-o', imported, '-q']),
      undefined,
    ],
  ];
  const samples = Object.fromEntries(tools.map(([name]) => [name, []]));
  const expected = createHash('sha256').update(readFileSync(plain)).digest('hex');
  for (let r = 0; r < runs; r++)
    for (const [name, run, check] of tools) {
      rmSync(out, { force: true });
      samples[name].push(run());
      if (check && createHash('sha256').update(readFileSync(check)).digest('hex') !== expected)
        throw new Error(`${name}: wrong output`);
    }
  const pipelineSeconds = median(samples['node-pipeline'].map((s) => s.seconds));
  const bytes = statSync(plain).size;
  results[`${mib} MiB`] = Object.fromEntries(
    tools.map(([name]) => {
      const s = median(samples[name].map((x) => x.seconds));
      return [
        name,
        {
          seconds: +s.toFixed(3),
          mbPerSecond: +(bytes / 1e6 / s).toFixed(0),
          vsNodePipeline: +(pipelineSeconds / s).toFixed(2),
          peakRssMiB: +median(samples[name].map((x) => x.rssMiB)).toFixed(0),
        },
      ];
    }),
  );
  console.log(
    `${mib} MiB database, crypt15 ${(statSync(file).size / MiB).toFixed(0)} MiB, ${runs} runs, medians:`,
  );
  console.table(results[`${mib} MiB`]);
  rmSync(plain, { force: true });
  rmSync(file, { force: true });
}
saveResults('whatsapp', { date: new Date().toISOString(), node: process.version, runs, results });
