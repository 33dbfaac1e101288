// The example page's script. build.mjs bundles it with esbuild from the package's own ESM build
// ('e2ee-backup' resolves to dist/ through package.json "exports"); everything runs in this page.
import {
  decryptBackup,
  encryptBackup,
  formatBackupKey,
  generateBackupKey,
  isE2EEError,
  isKeyFormatError,
  parseBackupKey,
} from 'e2ee-backup';

// An encrypted file is an ordinary backup (SPEC.md's container, one backup-key slot): the command
// line opens it (`e2ee-backup decrypt`), and so does examples/node/file-to-file.mjs.

/** Encrypts a File/Blob under the 32-byte backup key; resolves to the encrypted Blob. */
async function encryptFile(file, backupKey) {
  return streamToBlob(encryptBackup(file.stream(), { key: backupKey }));
}

/**
 * Decrypts what encryptFile produced; rejects with an E2EEError when the key or file is wrong.
 * The Blob is made only once the stream has closed cleanly, that is once every byte, the end and
 * the padding have authenticated: nothing unverified is offered for download.
 */
async function decryptFile(file, backupKey) {
  const { stream } = await decryptBackup(file.stream(), { key: backupKey });
  return streamToBlob(stream);
}

/** Collects a stream into a Blob, keeping the stream's own error (Response.blob() would mask it). */
async function streamToBlob(stream) {
  const parts = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return new Blob(parts, { type: 'application/octet-stream' });
    parts.push(value);
  }
}

const $ = (id) => document.getElementById(id);
const codeBox = $('code');

function setStatus(id, text, kind = '') {
  const el = $(id);
  el.textContent = text;
  el.className = `status ${kind}`;
}

const bytes = (n) =>
  n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`;

/** The key in the code box, or undefined after showing what is wrong (and selecting it). */
function currentKey() {
  try {
    const key = parseBackupKey(codeBox.value);
    setStatus('code-status', 'valid 64-digit code', 'ok');
    return key;
  } catch (err) {
    if (!isKeyFormatError(err)) throw err;
    setStatus('code-status', err.message, 'error');
    if (err.offset !== undefined) {
      codeBox.focus();
      codeBox.setSelectionRange(
        err.offset,
        err.offset + String.fromCodePoint(codeBox.value.codePointAt(err.offset)).length,
      );
    }
    return undefined;
  }
}

const objectUrls = new Map();
/** Puts a download link for `blob` into slot `slotId`, as `<a id="${slotId without -slot}-link">`. */
function offerDownload(slotId, blob, name) {
  clearDownload(slotId);
  const url = URL.createObjectURL(blob);
  objectUrls.set(slotId, url);
  const link = document.createElement('a');
  link.id = slotId.replace(/-slot$/, '-link');
  link.className = 'download';
  link.href = url;
  link.download = name;
  link.textContent = `Download ${name} (${bytes(blob.size)})`;
  $(slotId).replaceChildren(link);
}

function clearDownload(slotId) {
  $(slotId).replaceChildren();
  if (objectUrls.has(slotId)) URL.revokeObjectURL(objectUrls.get(slotId));
  objectUrls.delete(slotId);
}

function describeError(err) {
  if (!isE2EEError(err)) return `unexpected error: ${err}`;
  if (err.code === 'WRONG_KEY' || err.code === 'NO_MATCHING_SLOT')
    return 'This key does not open this file (wrong key, or a backup made with a password only).';
  if (err.code === 'TRUNCATED') return 'The file is cut short: it is incomplete.';
  if (
    ['CHUNK_AUTH', 'TRAILING_DATA', 'HEADER_AUTH', 'MALFORMED_HEADER', 'MALFORMED_PAYLOAD'].includes(err.code)
  )
    return 'The file was modified or damaged.';
  return `${err.code}: ${err.message}`;
}

async function run(button, statusId, slotId, work) {
  clearDownload(slotId);
  button.disabled = true;
  setStatus(statusId, 'working…');
  try {
    await work();
  } catch (err) {
    setStatus(statusId, describeError(err), 'error');
  } finally {
    button.disabled = false;
  }
}

$('generate').addEventListener('click', () => {
  codeBox.value = formatBackupKey(generateBackupKey());
  currentKey();
});
codeBox.addEventListener('change', () => currentKey());

$('encrypt').addEventListener('click', (e) =>
  run(e.currentTarget, 'encrypt-status', 'encrypted-slot', async () => {
    const file = $('plain-file').files[0];
    if (!file) return setStatus('encrypt-status', 'pick a file first', 'error');
    const key = currentKey();
    if (!key) return setStatus('encrypt-status', 'fix the backup key first', 'error');
    const t0 = performance.now();
    const encrypted = await encryptFile(file, key);
    offerDownload('encrypted-slot', encrypted, `${file.name}.e2ee`);
    setStatus(
      'encrypt-status',
      `encrypted ${bytes(file.size)} in ${(performance.now() - t0).toFixed(0)} ms`,
      'ok',
    );
  }),
);

$('decrypt').addEventListener('click', (e) =>
  run(e.currentTarget, 'decrypt-status', 'decrypted-slot', async () => {
    const file = $('cipher-file').files[0];
    if (!file) return setStatus('decrypt-status', 'pick an encrypted file first', 'error');
    const key = currentKey();
    if (!key) return setStatus('decrypt-status', 'fix the backup key first', 'error');
    const t0 = performance.now();
    const decrypted = await decryptFile(file, key);
    const name = file.name.endsWith('.e2ee') ? file.name.slice(0, -5) : `${file.name}.decrypted`;
    offerDownload('decrypted-slot', decrypted, name);
    setStatus(
      'decrypt-status',
      `decrypted and authenticated ${bytes(decrypted.size)} in ${(performance.now() - t0).toFixed(0)} ms`,
      'ok',
    );
  }),
);

document.body.dataset.ready = 'true';
