// uploadStateFolder: the local record of unfinished uploads, and its one-writer lock (SPEC.md §11
// needs it: two processes resuming one upload at once could each send a part never sent before,
// with different bytes under the same keys). No S3 server needed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type UploadState, uploadStateFolder } from '../../src/s3/index.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function folder(): string {
  const d = mkdtempSync(join(tmpdir(), 'e2ee-upload-state-'));
  dirs.push(d);
  return join(d, 'uploads');
}

const state: UploadState = {
  version: 1,
  bucket: 'b',
  key: 'p/backup-0000000000000000-000000000000.e2ee',
  uploadId: 'u1',
  partSize: 5 * 1024 * 1024,
  head: 'aGVhZA==',
  parts: [{ number: 1, size: 5, sha256: 'ab' }],
};
const hex = (s: string) => Buffer.from(s, 'utf8').toString('hex');

/** The id of a process that has ended. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

describe('uploadStateFolder', () => {
  it('saves, lists and removes a record, in files of mode 0600 in a folder of mode 0700', async () => {
    const dir = folder();
    const states = uploadStateFolder(dir);
    await states.save('s3:b/x', state);
    expect(await states.load('s3:b/x')).toEqual(state);
    expect(await states.list()).toEqual([{ id: 's3:b/x', state, inUse: false }]);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o600);
    await states.remove('s3:b/x');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('one writer at a time: a second lock is refused until the first is given back', async () => {
    const dir = folder();
    const a = uploadStateFolder(dir);
    const b = uploadStateFolder(dir); // as another caller would open it
    await a.save('s3:b/x', state);
    const release = await a.lock('s3:b/x');
    expect(release).toBeTypeOf('function');
    expect(await b.lock('s3:b/x')).toBeUndefined();
    expect((await b.list())[0]!.inUse).toBe(true);
    expect(await b.lock('s3:b/other')).toBeTypeOf('function'); // locks are per record
    await release!();
    expect((await b.list())[0]!.inUse).toBe(false);
    const again = await b.lock('s3:b/x');
    expect(again).toBeTypeOf('function');
    await again!();
  });

  it('a lock whose process ended, or from before this boot, is released; one from another host never is', async () => {
    const dir = folder();
    const states = uploadStateFolder(dir);
    await states.save('s3:b/x', state);
    const me = hex(hostname());
    const lock = (host: string, boot: string, pid: number) =>
      writeFileSync(join(dir, `u-${hex('s3:b/x')}.lock-${host}-${boot}-${pid}-0123456789ab`), '');
    lock(me, '', deadPid());
    expect((await states.list())[0]!.inUse).toBe(false);
    const taken = await states.lock('s3:b/x');
    expect(taken).toBeTypeOf('function');
    await taken!();
    // This process, but a boot id that is not this boot's: dead (where the boot id is known).
    lock(me, 'ffffffffffffffffffffffffffffffff', process.pid);
    if (existsSync('/proc/sys/kernel/random/boot_id')) {
      const t = await states.lock('s3:b/x');
      expect(t).toBeTypeOf('function');
      await t!();
    }
    // Another machine's (a shared folder): its process cannot be checked, so it holds the record.
    for (const f of readdirSync(dir)) if (f.includes('.lock-')) rmSync(join(dir, f));
    lock(hex('another-host'), '', deadPid());
    expect(await states.lock('s3:b/x')).toBeUndefined();
    expect((await states.list())[0]!.inUse).toBe(true);
  });
});
