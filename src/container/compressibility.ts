/**
 * Whether a body block is worth deflating. SPEC.md §5.2 lets a writer store any block, so this
 * decides cost, never validity: a block judged incompressible is stored without being deflated
 * (deflating 1 MiB of random bytes costs several times what encrypting it does, and saves
 * nothing). Pure functions of the bytes and of the blocks before them, so the same input gives
 * the same decisions, and so the same backup bytes, on every platform.
 *
 * @module
 */

// Formats whose data is already compressed or encrypted, by their first bytes: [offset, bytes].
// Only a stream's first block is sniffed (a file's own start); later blocks are sampled.
const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
const MAGIC: readonly (readonly [number, readonly number[]])[] = [
  [0, [0xff, 0xd8, 0xff]], // JPEG
  [0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]], // PNG
  [0, ascii('GIF87a')],
  [0, ascii('GIF89a')],
  [8, ascii('WEBP')], // after "RIFF" and a length (checked below)
  [4, ascii('ftyp')], // MP4, MOV, 3GP, HEIC, AVIF
  [0, ascii('OggS')], // Ogg: Opus and Vorbis voice notes
  [0, [0x1a, 0x45, 0xdf, 0xa3]], // Matroska, WebM
  [0, [0x50, 0x4b, 0x03, 0x04]], // ZIP, JAR, APK, DOCX, XLSX, EPUB
  [0, [0x1f, 0x8b]], // gzip
  [0, [0x28, 0xb5, 0x2f, 0xfd]], // zstd
  [0, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]], // xz
  [0, [0x42, 0x5a, 0x68]], // bzip2 "BZh" (its block magic is checked below)
  [0, [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]], // 7z
  [0, [0x89, 0x45, 0x32, 0x45, 0x45, 0x42, 0x4b, 0x0a]], // an e2ee-backup (SPEC.md §3.1)
  [0, ascii('age-encryption.org/v1\n')], // age
];

function startsWith(bytes: Uint8Array, offset: number, magic: readonly number[]): boolean {
  if (bytes.length < offset + magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (bytes[offset + i] !== magic[i]) return false;
  return true;
}

/**
 * Whether `head` (a stream's first bytes) starts like a file in a format whose data is already
 * compressed or encrypted: JPEG, PNG, GIF, WebP, MP4/MOV (ftyp), Ogg, Matroska/WebM, ZIP and its
 * kin, gzip, zstd, xz, bzip2, 7z, an e2ee-backup, age.
 */
export function isCompressedFormat(head: Uint8Array): boolean {
  for (const [offset, magic] of MAGIC) {
    if (!startsWith(head, offset, magic)) continue;
    if (offset === 8 && !startsWith(head, 0, ascii('RIFF'))) continue; // WebP lives in RIFF
    // bzip2: "BZh", a level digit, then the block magic (the digits of pi).
    if (magic.length === 3 && magic[0] === 0x42 && !bzip2Block(head)) continue;
    return true;
  }
  return false;
}

function bzip2Block(head: Uint8Array): boolean {
  const level = head[3] ?? 0;
  return level >= 0x31 && level <= 0x39 && startsWith(head, 4, [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]);
}

// The sample: SAMPLES windows of WINDOW bytes spread evenly over the block (16 KiB of a 1 MiB
// block). Each window's order-0 entropy bounds what Huffman coding alone could save in it; the
// mean over the windows estimates the block's saving. Deflate also finds repeats, so it saves
// more than this on text, but on data that is uniform at the byte level (compressed or encrypted)
// repeats are as rare as in random bytes and the estimate is close to what deflate achieves: 0.
const SAMPLES = 8;
const WINDOW = 2048;
// A window of WINDOW random bytes reads about 0.09 bit/byte below 8 (the plug-in estimate's bias,
// (256 - 1) / (2 · WINDOW · ln 2)), i.e. an estimated saving of about 1.1 %. Blocks estimated to
// save less than this are stored: JPEG's entropy-coded data (byte stuffing makes 0x00 and 0xFF
// slightly frequent) deflates by about 1 % at best, which is not worth several times the cost
// of encrypting it.
const MIN_SAVING = 0.03;

const LOG2 = /* @__PURE__ */ (() => {
  const t = new Float64Array(WINDOW + 1);
  for (let i = 1; i <= WINDOW; i++) t[i] = i * Math.log2(i);
  return t;
})();

/**
 * An estimate of the fraction of `block` that deflate would save, from the byte entropy of a few
 * windows spread over it (at most 16 KiB looked at, whatever the block's size). 0 for random
 * bytes (up to sampling noise), about 0.35–0.45 for text in Latin script.
 */
export function estimatedSaving(block: Uint8Array): number {
  if (block.length === 0) return 0;
  const counts = new Uint32Array(256);
  const windows = block.length <= SAMPLES * WINDOW ? 1 : SAMPLES;
  const size = windows === 1 ? block.length : WINDOW;
  const stride = windows === 1 ? 0 : Math.floor((block.length - WINDOW) / (SAMPLES - 1));
  let saving = 0;
  for (let w = 0; w < windows; w++) {
    counts.fill(0);
    const start = w * stride;
    for (let i = start; i < start + size; i++) counts[block[i]!]!++;
    // Entropy in bits per byte: log2(n) - Σ c·log2(c) / n.
    let sum = 0;
    for (let b = 0; b < 256; b++) {
      const c = counts[b]!;
      if (c > 1) sum += size <= WINDOW ? LOG2[c]! : c * Math.log2(c);
    }
    const bits = Math.log2(size) - sum / size;
    saving += (8 - bits) / 8;
  }
  return saving / windows;
}

/** Whether the sample test finds `block` not worth deflating. */
export function looksIncompressible(block: Uint8Array): boolean {
  return estimatedSaving(block) < MIN_SAVING;
}

// After this many blocks in a row judged incompressible (a video, a photo album), the test looks
// at only every PROBE_EVERY-th block; the others are stored unseen. A probe that finds a block
// worth deflating ends the run.
const RUN_BEFORE_BACKOFF = 8;
const PROBE_EVERY = 4;

/** A stream's decision, block by block; see {@link compressionGate}. */
export type CompressionGate = (block: Uint8Array) => boolean;

/**
 * A fresh decider for one stream's blocks, called with each block in order: answers whether to
 * deflate it. The first block is stored if it starts like a compressed format
 * ({@link isCompressedFormat}); any other is stored if the sample test finds it incompressible
 * ({@link looksIncompressible}) or, after a run of such blocks, if it is not one of the periodic
 * probes. A block too short to sample is judged like the one before it.
 */
export function compressionGate(): CompressionGate {
  let index = 0;
  let run = 0; // blocks in a row judged incompressible
  let sinceProbe = 0;
  return (block) => {
    const first = index++ === 0;
    let incompressible: boolean;
    if (first && isCompressedFormat(block)) incompressible = true;
    else if (run >= RUN_BEFORE_BACKOFF && ++sinceProbe < PROBE_EVERY) return false;
    // Too short to sample (byte entropy cannot reach 8 bits in fewer than 256 bytes, and reads
    // low well beyond): judged like the block before, as a file's tail usually is.
    else if (block.length < WINDOW) incompressible = run > 0;
    else incompressible = looksIncompressible(block);
    sinceProbe = 0;
    run = incompressible ? run + 1 : 0;
    return !incompressible;
  };
}
