// `--remove-source` / `--replaces` (src/cli/remove-copies.ts): a copy goes only if it is still
// the file that was checked and, for the source, still holds what was backed up (review of #16).

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkCopies, removeCopies } from '../../src/cli/remove-copies.js';
import { tempDir } from './helpers.js';

let t: { dir: string }; // removed when this file ends (tempDir)
beforeAll(() => {
  t = tempDir();
});
const sha = (s: string) => new Uint8Array(createHash('sha256').update(s).digest());

describe('removeCopies', () => {
  it('refuses a symlink, a FIFO and a folder, and leaves them and a link target untouched', async () => {
    const target = join(t.dir, 'target.db');
    writeFileSync(target, 'not ours to remove');
    const link = join(t.dir, 'link.db');
    symlinkSync(target, link);
    const fifo = join(t.dir, 'pipe.db');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    for (const path of [link, fifo, t.dir])
      for (const role of ['source', 'replaced'] as const)
        await expect(checkCopies([{ path, role }], [])).rejects.toThrow(/not a regular file/);
    expect(readFileSync(target, 'utf8')).toBe('not ours to remove');
    expect(existsSync(link) && existsSync(fifo)).toBe(true);
  });

  it('removes the source that still holds what was backed up, and a checked --replaces copy', async () => {
    const src = join(t.dir, 'a.db');
    const old = join(t.dir, 'a-old.db');
    writeFileSync(src, 'chats v1');
    writeFileSync(old, 'chats v0');
    const copies = await checkCopies(
      [
        { path: src, role: 'source' },
        { path: old, role: 'replaced' },
      ],
      [],
    );
    expect(await removeCopies(copies, sha('chats v1'))).toEqual({ removed: [src, old], kept: [] });
    expect(readdirSync(t.dir).filter((n) => n.startsWith('a'))).toEqual([]);
  });

  it('keeps a source rewritten in place with the same size and time', async () => {
    const src = join(t.dir, 'b.db');
    writeFileSync(src, 'chats v1');
    const second = Math.floor(Date.now() / 1000); // a clock that counts whole seconds
    utimesSync(src, second, second);
    const copies = await checkCopies([{ path: src, role: 'source' }], []);
    // Written after it was read, within the clock's granularity: same inode, size and time.
    writeFileSync(src, 'chats v2');
    utimesSync(src, second, second);
    expect(statSync(src).mtimeMs).toBe(copies[0]!.stat.mtimeMs);
    const r = await removeCopies(copies, sha('chats v1'));
    expect(r.removed).toEqual([]);
    expect(r.kept).toEqual([{ path: src, why: expect.stringMatching(/does not hold what was backed up/) }]);
    expect(readFileSync(src, 'utf8')).toBe('chats v2');
    expect(readdirSync(t.dir).filter((n) => n.includes('b.db'))).toEqual(['b.db']);
  });

  it('keeps a new version saved under the name (an editor rename), and leaves nothing aside', async () => {
    const src = join(t.dir, 'c.db');
    writeFileSync(src, 'chats v1');
    const copies = await checkCopies([{ path: src, role: 'source' }], []);
    writeFileSync(join(t.dir, 'c.db.new'), 'chats v2');
    renameSync(join(t.dir, 'c.db.new'), src);
    const r = await removeCopies(copies, sha('chats v1'));
    expect(r.removed).toEqual([]);
    expect(r.kept).toEqual([{ path: src, why: 'it changed while the backup was made' }]);
    expect(readFileSync(src, 'utf8')).toBe('chats v2');
    expect(readdirSync(t.dir).filter((n) => n.includes('c.db'))).toEqual(['c.db']);
  });
});
