// `e2ee-backup backup create | list | restore --store s3://bucket/prefix` against the S3 test
// server, and a create whose connection is cut, run again: it resumes. Needs an S3 server
// (E2EE_TEST_S3_URL).

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type CuttingProxy,
  cuttingProxy,
  openUploads,
  s3Client,
  s3Settings,
  s3SkipReason,
  tempBucket,
} from '../s3/helpers.js';
import { buildCli, CLI, cleanEnv, type RunResult, run, sampleData, tempDir } from './helpers.js';

/** `run`, without blocking this process: the proxy lives here and must keep forwarding. */
function runAsync(args: string[], env: Record<string, string>): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [CLI, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out), stderr }));
  });
}

describe.skipIf(s3SkipReason() !== undefined)('backup --store s3://', () => {
  let dir: string;
  let cleanupDir: () => void;
  let bucket: string;
  let cleanupBucket: () => Promise<void>;
  let keyFile: string;
  let proxy: CuttingProxy;
  let env: Record<string, string>;
  beforeAll(async () => {
    await buildCli();
    ({ dir, cleanup: cleanupDir } = tempDir());
    ({ bucket, cleanup: cleanupBucket } = await tempBucket(s3Client()));
    proxy = await cuttingProxy();
    keyFile = join(dir, 'backup.key');
    expect(run(['keygen', '--out', keyFile, '-q']).status).toBe(0);
    const s = s3Settings();
    // As the AWS CLI reads them; the upload state and the CLI's state file (this machine's set
    // and generations per store) go to this test's folder, shared by its runs.
    env = {
      AWS_ACCESS_KEY_ID: s.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s.secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      XDG_STATE_HOME: join(dir, 'state'),
      XDG_CONFIG_HOME: join(dir, 'config'),
      HOME: dir,
    };
  }, 180_000);
  afterAll(async () => {
    await proxy?.close();
    await cleanupBucket?.();
    cleanupDir?.();
  });

  const s3 = (endpoint = s3Settings().endpoint) => ['--s3-endpoint', endpoint, '--s3-path-style'];

  it('creates, lists and restores; a second create replaces the first', async () => {
    const store = `s3://${bucket}/cli`;
    const v1 = sampleData(300_000);
    const v2 = sampleData(7_000_000);
    writeFileSync(join(dir, 'v1'), v1);
    writeFileSync(join(dir, 'v2'), v2);
    const a = run(['backup', 'create', join(dir, 'v1'), '--store', store, ...s3(), '-k', keyFile, '--json'], {
      env,
    });
    expect(a.stderr).toBe('');
    expect(a.status).toBe(0);
    const b = run(['backup', 'create', join(dir, 'v2'), '--store', store, ...s3(), '-k', keyFile, '--json'], {
      env,
    });
    expect(b.status, b.stderr).toBe(0);
    const created = JSON.parse(b.stdout.toString());
    expect(created.removed).toEqual([JSON.parse(a.stdout.toString()).name]);
    const l = run(['backup', 'list', '--store', store, ...s3(), '--json'], { env });
    expect(l.status, l.stderr).toBe(0);
    expect(JSON.parse(l.stdout.toString()).map((e: { name: string }) => e.name)).toEqual([created.name]);
    const out = join(dir, 'restored');
    const r = run(['backup', 'restore', '--store', store, ...s3(), '-k', keyFile, '-o', out], { env });
    expect(r.status, r.stderr).toBe(0);
    expect(Buffer.compare(readFileSync(out), v2)).toBe(0);
  });

  it('a create cut by the network exits 4 and keeps the upload; run again, it resumes', async () => {
    const store = `s3://${bucket}/cut`;
    // Incompressible: 60 MB is eight 8 MiB parts, four in flight, so a cut at 45 MB falls after
    // the first four completed.
    const data = randomBytes(60_000_000);
    writeFileSync(join(dir, 'big'), data);
    // A cut that stays down until restored: the SDK's retries cannot get through.
    proxy.cutAfter('up', 45_000_000, { stayDown: true });
    const args = [
      'backup',
      'create',
      join(dir, 'big'),
      '--store',
      store,
      ...s3(proxy.endpoint),
      '-k',
      keyFile,
    ];
    const cut = await runAsync(args, env);
    expect(cut.status, cut.stderr).toBe(4);
    expect(cut.stderr).toMatch(/The upload is kept: writing the same bytes again resumes it/);
    expect(await openUploads(s3Client(), bucket)).toHaveLength(1);
    proxy.restore();
    const up = proxy.up;
    const again = await runAsync([...args, '--json'], env);
    expect(again.status, again.stderr).toBe(0);
    // Less than the whole backup went up again.
    expect(proxy.up - up).toBeLessThan(data.length - 32 * 1024 * 1024 + 1_000_000);
    expect(await openUploads(s3Client(), bucket)).toEqual([]);
    const out = join(dir, 'restored-big');
    const r = run(['backup', 'restore', '--store', store, ...s3(), '-k', keyFile, '-o', out], { env });
    expect(r.status, r.stderr).toBe(0);
    expect(Buffer.compare(readFileSync(out), data)).toBe(0);
  });

  it('refuses --s3-endpoint with a folder store, and an s3:// URL without a bucket', () => {
    const r = run(['backup', 'list', '--store', join(dir, 'folder'), '--s3-path-style'], { env });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/apply to an s3:\/\/ store/);
    const n = run(['backup', 'list', '--store', 's3://'], { env });
    expect(n.status).toBe(1);
    expect(n.stderr).toMatch(/names no bucket/);
  });
});
