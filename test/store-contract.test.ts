// One BackupStore contract suite, run on the memory, folder and S3 stores.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryStore } from '../src/lifecycle/store.js';
import { createFileStore } from '../src/node/files.js';
import { createS3Store, uploadStateFolder } from '../src/s3/index.js';
import { s3Client, s3SkipReason, tempBucket } from './s3/helpers.js';
import { storeContract } from './store-contract.js';

storeContract('memory', async () => ({
  store: createMemoryStore(),
  large: 1 << 20,
  cleanup: async () => {},
}));

storeContract('folder (createFileStore)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-store-contract-'));
  return {
    store: createFileStore(join(dir, 'backups')),
    large: 1 << 20,
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

// Needs an S3 server (E2EE_TEST_S3_URL); .ci/run starts one, so CI always runs it.
if (!s3SkipReason())
  storeContract('S3 (createS3Store, 5 MiB parts, with a resume state)', async () => {
    const client = s3Client();
    const { bucket, cleanup } = await tempBucket(client);
    const dir = mkdtempSync(join(tmpdir(), 'e2ee-store-contract-s3-'));
    return {
      store: createS3Store({
        client,
        bucket,
        prefix: 'contract',
        partSize: 5 * 1024 * 1024,
        queueSize: 2,
        resume: uploadStateFolder(dir),
      }),
      large: 5 * 1024 * 1024,
      cleanup: async () => {
        await cleanup();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
