/**
 * Numbers for people: sizes in decimal units (MB = 10^6 bytes, as disks and networks count),
 * speeds in MB/s, durations in s / min.
 *
 * @module
 */

/** `512 bytes`, `16.4 kB`, `52.3 MB`, `1.07 GB`. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} byte${n === 1 ? '' : 's'}`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u]}`;
}

/** An exact count with thousands separators: `52,345,678`. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** Throughput in MB/s (10^6 bytes per second), as a number. */
export function mbPerSecond(bytes: number, seconds: number): number {
  return seconds > 0 ? bytes / 1e6 / seconds : 0;
}

/** `412 MB/s`, `3.2 MB/s`. */
export function formatRate(bytes: number, seconds: number): string {
  const r = mbPerSecond(bytes, seconds);
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(1)} MB/s`;
}

/** `0.21 s`, `12 s`, `3 min 05 s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 10) return `${seconds.toFixed(seconds < 1 ? 2 : 1)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${String(Math.round(seconds - m * 60)).padStart(2, '0')} s`;
}

/** `1 chunk`, `3 chunks`; `pluralWord` for irregular plurals (`pass`, `passes`). */
export function plural(n: number, word: string, pluralWord = `${word}s`): string {
  return `${formatCount(n)} ${n === 1 ? word : pluralWord}`;
}

/** Argon2id memory in KiB as people read it: `64 MiB`, `1 GiB`, `19456 KiB`. */
export function formatKib(kib: number): string {
  if (kib % (1024 * 1024) === 0) return `${kib / (1024 * 1024)} GiB`;
  if (kib % 1024 === 0) return `${kib / 1024} MiB`;
  return `${kib} KiB`;
}
