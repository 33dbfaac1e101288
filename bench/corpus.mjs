// A chat-like corpus: JSON-lines messages in several languages (about 70 %) interleaved with
// random "media" (about 30 %), deterministic for a seed. Streams to a file without holding it.

import { once } from 'node:events';
import { createWriteStream } from 'node:fs';

const PHRASES = [
  'hello, how are you?',
  'on my way',
  'see you at 7',
  'ok 👍',
  'did you get the photos?',
  'bonjour, ça va ?',
  "à tout à l'heure",
  'hola, ¿qué tal?',
  'nos vemos mañana',
  'привет, как дела?',
  'до встречи',
  'こんにちは、元気？',
  'また明日',
  'مرحبا كيف حالك',
  'إلى اللقاء',
  'नमस्ते, कैसे हो?',
  '你好，最近怎么样？',
  'guten Morgen!',
  'obrigado 🙏',
  'happy birthday 🎉🎂',
];

function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

/** Writes `bytes` bytes of corpus to `path`. */
export async function writeCorpus(path, bytes, seed = 1) {
  const next = rng(seed);
  const out = createWriteStream(path, { highWaterMark: 1 << 20 });
  let written = 0;
  let id = 0;
  const write = async (buf) => {
    const take = Math.min(buf.length, bytes - written);
    written += take;
    if (!out.write(take === buf.length ? buf : buf.subarray(0, take))) await once(out, 'drain');
  };
  while (written < bytes) {
    // ~70 % text: a batch of messages; ~30 %: one random media blob of similar size.
    const lines = [];
    let textBytes = 0;
    while (textBytes < 48 * 1024) {
      const n = 1 + (next() % 3);
      const text = Array.from({ length: n }, () => PHRASES[next() % PHRASES.length]).join(' ');
      const line = `${JSON.stringify({ id: id++, chat: next() % 50, from: `+1555${next() % 10000}`, ts: 1.7e9 + id * 13, text })}\n`;
      lines.push(line);
      textBytes += Buffer.byteLength(line);
    }
    await write(Buffer.from(lines.join('')));
    const media = Buffer.allocUnsafe(Math.round(textBytes * 0.43));
    for (let i = 0; i < media.length; i += 4) media.writeUInt32LE(next(), Math.min(i, media.length - 4));
    await write(media);
  }
  out.end();
  await once(out, 'finish');
}
