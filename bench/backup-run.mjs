// One measurement in a fresh process (so that peak RSS belongs to it alone):
//   node bench/backup-run.mjs <case> <file>
// prints {"ms":…, "maxRssMiB":…, "bytes":…} for the case on the file's bytes.
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { createDeflateRaw } from 'node:zlib';

const [caseName, file, keyHex = '11'.repeat(32)] = process.argv.slice(2);
const lib = await import('../dist/index.js');
const key = Buffer.from(keyHex, 'hex');
const source = () => Readable.toWeb(createReadStream(file, { highWaterMark: 1 << 20 }));
const sink = () => {
  let n = 0;
  return {
    stream: new WritableStream({
      write: (c) => {
        n += c.length;
      },
    }),
    count: () => n,
  };
};

const t = performance.now();
let bytes = 0;
if (caseName === 'zlib') {
  // node:zlib raw deflate alone, level 6, one core: the baseline for compression-on.
  let n = 0;
  const deflate = createReadStream(file, { highWaterMark: 1 << 20 }).pipe(createDeflateRaw({ level: 6 }));
  for await (const c of deflate) n += c.length;
  bytes = n;
} else if (caseName === 'chunked') {
  const s = sink();
  await source().pipeThrough(lib.createEncryptStream(key)).pipeTo(s.stream);
  bytes = s.count();
} else if (caseName.startsWith('encrypt-')) {
  const s = sink();
  const compression = caseName === 'encrypt-deflate' ? 'deflate' : 'none';
  await lib.encryptBackup(source(), { key, compression }).pipeTo(s.stream);
  bytes = s.count();
} else if (caseName === 'decrypt') {
  const s = sink();
  const { stream } = await lib.decryptBackup(source(), { key });
  await stream.pipeTo(s.stream);
  bytes = s.count();
} else throw new Error(`unknown case ${caseName}`);
const ms = performance.now() - t;
console.log(JSON.stringify({ ms, bytes, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
