// Drives examples/browser/ in headless Chromium with Playwright: generate a code, pick a file,
// encrypt, download, decrypt, download, compare the bytes; a wrong code and a damaged file are
// refused; no request leaves the page's own origin. Saves examples/browser/screenshot.png.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildExample } from '../../examples/browser/build.mjs';
import { serve } from '../../examples/browser/serve.mjs';
import { CHROMIUM, CHROMIUM_ARGS } from '../../scripts/chromium.mjs';
import { CLI } from '../cli/helpers.js';
import { pseudoRandomBytes } from './harness.js';

const SCREENSHOT = resolve(import.meta.dirname, '../../examples/browser/screenshot.png');
// A fixed code and file for the screenshot run, so that the picture does not change between runs.
const CODE = '3f9a 07c2 5be1 d846 90af 2c3e 71d5 b60e 8a14 f3c9 2e57 0bd8 6c41 a9f2 53e0 7d1b';
const FILE = {
  name: 'chat-backup.db',
  mimeType: 'application/octet-stream',
  buffer: Buffer.from(pseudoRandomBytes(300_007, 7)),
};

let browser: Browser;
let server: { url: string; close(): Promise<void> };
let page: Page;
const requests: string[] = [];

beforeAll(async () => {
  await buildExample();
  server = await serve();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 900, height: 780 } });
  page = await context.newPage();
  page.on('request', (r) => requests.push(r.url()));
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(server.url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 10_000 }).catch((e) => {
    throw new Error(`the page did not start: ${errors.join('; ') || e}`);
  });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function downloadVia(linkSelector: string): Promise<Buffer> {
  await page.waitForSelector(`${linkSelector}:not([hidden])`);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(linkSelector)]);
  return readFile((await download.path())!);
}

describe('examples/browser in Chromium', () => {
  it('generates a valid 64-digit code', async () => {
    await page.click('#generate');
    expect(await page.inputValue('#code')).toMatch(/^[0-9a-f]{4}( [0-9a-f]{4}){15}$/);
    await expect.poll(() => page.textContent('#code-status')).toBe('valid 64-digit code');
  });

  it('names a typo in a pasted code and selects it', async () => {
    await page.fill('#code', `${CODE.slice(0, 16)}o${CODE.slice(17)}`);
    await page.click('#encrypt');
    expect(await page.textContent('#code-status')).toContain("character 17 'o' is not a hex digit");
    expect(
      await page.evaluate(() => (document.getElementById('code') as HTMLTextAreaElement).selectionStart),
    ).toBe(16);
  });

  let encrypted: Buffer;
  it('encrypts a picked file and offers it as a download', async () => {
    await page.fill('#code', CODE.toUpperCase().replaceAll(' ', '-'));
    await page.setInputFiles('#plain-file', FILE);
    await page.click('#encrypt');
    encrypted = await downloadVia('#encrypted-link');
    expect(encrypted.length).toBeGreaterThan(FILE.buffer.length); // random bytes: stored, then padded
    expect(await page.getAttribute('#encrypted-link', 'download')).toBe('chat-backup.db.e2ee');
    expect(encrypted.subarray(0, 1000).includes(FILE.buffer.subarray(0, 16))).toBe(false);
  });

  it('the browser-encrypted file decrypts with examples/node/file-to-file.mjs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'e2ee-page-'));
    try {
      await writeFile(join(dir, 'in.e2ee'), encrypted);
      const script = resolve(import.meta.dirname, '../../examples/node/file-to-file.mjs');
      execFileSync(process.execPath, [script, 'decrypt', 'in.e2ee', 'out.db', CODE], {
        cwd: dir,
        stdio: 'pipe',
      });
      expect((await readFile(join(dir, 'out.db'))).equals(FILE.buffer)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the browser-encrypted file decrypts with the command line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'e2ee-page-'));
    try {
      await writeFile(join(dir, 'in.e2ee'), encrypted);
      await writeFile(join(dir, 'code.key'), CODE, { mode: 0o600 });
      execFileSync(process.execPath, [CLI, 'decrypt', 'in.e2ee', '-o', 'out.db', '-k', 'code.key', '-q'], {
        cwd: dir,
        stdio: 'pipe',
      });
      expect((await readFile(join(dir, 'out.db'))).equals(FILE.buffer)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a wrong code and a damaged file', async () => {
    await page.fill('#code', CODE.replace('3f9a', '3f9b'));
    await page.setInputFiles('#cipher-file', {
      name: 'chat-backup.db.e2ee',
      mimeType: 'application/octet-stream',
      buffer: encrypted,
    });
    await page.click('#decrypt');
    await expect
      .poll(() => page.textContent('#decrypt-status'))
      .toContain('This key does not open this file');
    await page.fill('#code', CODE);
    const damaged = Buffer.from(encrypted);
    damaged[damaged.length - 100]! ^= 1;
    await page.setInputFiles('#cipher-file', {
      name: 'chat-backup.db.e2ee',
      mimeType: 'application/octet-stream',
      buffer: damaged,
    });
    await page.click('#decrypt');
    await expect.poll(() => page.textContent('#decrypt-status')).toContain('modified or damaged');
    expect(await page.isHidden('#decrypted-link')).toBe(true);
  });

  it('decrypts the download back to the same bytes, and takes the screenshot', async () => {
    await page.fill('#code', CODE);
    await page.setInputFiles('#cipher-file', {
      name: 'chat-backup.db.e2ee',
      mimeType: 'application/octet-stream',
      buffer: encrypted,
    });
    await page.click('#decrypt');
    const decrypted = await downloadVia('#decrypted-link');
    expect(decrypted.equals(FILE.buffer)).toBe(true);
    expect(await page.getAttribute('#decrypted-link', 'download')).toBe('chat-backup.db');
    await page.evaluate(() => {
      // Timings vary between runs; keep the screenshot stable.
      for (const id of ['encrypt-status', 'decrypt-status']) {
        const el = document.getElementById(id)!;
        el.textContent = el.textContent!.replace(/ in \d+ ms$/, '');
      }
    });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  it('made no request outside its own origin (nothing left the page)', () => {
    const origin = new URL(server.url).origin;
    const foreign = requests.filter(
      (u) => !u.startsWith(origin) && !u.startsWith('blob:') && !u.startsWith('data:'),
    );
    expect(foreign).toEqual([]);
    expect(
      requests
        .filter((u) => u.startsWith(origin))
        .map((u) => new URL(u).pathname)
        .sort(),
    ).toEqual(['/', '/dist/main.js', '/style.css']);
  });
});
