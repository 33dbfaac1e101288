#!/usr/bin/env node
// Backups over time: createBackup writes a new backup into a store, proves it restores, and only
// then removes the older backups of the same set; restoreLatest opens the newest one and refuses
// one older than a generation already seen (rollback).
//
//   node examples/node/lifecycle.mjs <store folder> [state file]   (one backup per run)
//   node examples/node/lifecycle.mjs                                (demo: three runs, temporary folder)
//
// The state file (default: <store folder>.state.json) is what an app persists between runs: its
// backup set (made once per install) and the generations it has used and seen. The key is
// $E2EE_BACKUP_CODE when set, else a new one (printed). Each backup in the folder is an ordinary
// backup file: `e2ee-backup decrypt <file> -o <out> --key-file <file holding the code>` opens it.
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatBackupKey, generateBackupKey, isE2EEError, parseBackupKey } from 'e2ee-backup';
import { createBackup, restoreLatest } from 'e2ee-backup/lifecycle';
import { createFileStore } from 'e2ee-backup/node';

/** The app's data at a given moment: chat lines, more of them each time. */
async function* chatExport(messages) {
  const encoder = new TextEncoder();
  for (let i = 0; i < messages; i++) yield encoder.encode(`${i}: message from alice: hello bob\n`);
}

async function loadState(path) {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
    return { set: randomUUID() }; // a new install: a backup set of its own, kept from now on
  }
}

async function oneRun(folder, statePath, key) {
  const store = createFileStore(folder);
  let state = await loadState(statePath);
  const save = async (next) => {
    state = next;
    await writeFile(statePath, JSON.stringify(state));
  };

  const made = await createBackup(
    store,
    chatExport(10_000 * (state.seen === undefined ? 1 : state.seen + 2)),
    {
      key,
      set: state.set, // required: only this set's older backups are ever removed
      newestSeen: state.used, // undefined on a first run
      metadata: { app: 'lifecycle example' },
      onGeneration: (g) => save({ ...state, used: g }), // before anything is written
    },
  );
  await save({ ...state, seen: made.generation, used: made.generation });
  console.log(
    `created ${made.name} (generation ${made.generation}); removed ${made.removed.length}, kept ${made.kept.length}`,
  );

  const { name, metadata, stream } = await restoreLatest(
    store,
    { key },
    { newestSeen: state.seen, set: state.set },
  );
  const hash = createHash('sha256');
  await stream.pipeTo(new WritableStream({ write: (chunk) => void hash.update(chunk) }));
  // Only now, with the stream closed without error, is the whole restore authenticated.
  const same = hash.digest('hex') === Buffer.from(made.sha256).toString('hex');
  console.log(`restored ${name} (generation ${metadata.generation}): ${same ? 'matches' : 'DIFFERS'}`);
  if (!same) process.exitCode = 1;
}

const [folder, statePath = folder && `${folder}.state.json`] = process.argv.slice(2);
const code = process.env.E2EE_BACKUP_CODE;
const key = code ? parseBackupKey(code) : generateBackupKey();
if (!code) console.log(`backup key: ${formatBackupKey(key)}`);
try {
  if (folder) await oneRun(folder, statePath, key);
  else {
    const dir = await mkdtemp(join(tmpdir(), 'e2ee-lifecycle-'));
    try {
      for (let run = 0; run < 3; run++) await oneRun(join(dir, 'backups'), join(dir, 'state.json'), key);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
} catch (err) {
  if (!isE2EEError(err)) throw err;
  console.error(`error ${err.code}: ${err.message}`);
  process.exitCode = 1;
}
