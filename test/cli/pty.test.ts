// The CLI on a real pseudo-terminal (util-linux `script`): hidden password prompts, the keygen
// type-back check, the progress bar, and the refusals to write to a terminal.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, CLI, plain, run, runOnPty, sampleData, tempDir, tempLeftovers } from './helpers.js';

const hasScript = spawnSync('script', ['--version']).status === 0;
let dir: string;
let cleanup: () => void;
let keyFile: string;
let data: Buffer;
const p = (name: string) => join(dir, name);
const cli = (args: string) => `node ${CLI} ${args}`;

beforeAll(async () => {
  await buildCli();
  ({ dir, cleanup } = tempDir());
  keyFile = p('backup.key');
  run(['keygen', '--out', keyFile, '-q']);
  data = sampleData(20_000_000);
  writeFileSync(p('plain.bin'), data);
}, 180_000);
afterAll(() => cleanup?.());

// Needs util-linux's `script` for a real pseudo-terminal (present on Debian, so in CI).
describe.skipIf(!hasScript)('on a pseudo-terminal', () => {
  it('asks for the password twice without echoing it, and draws a progress bar', async () => {
    const secret = 'tty-Secret-42';
    const r = await runOnPty(
      cli(`encrypt ${p('plain.bin')} -o ${p('pw.e2ee')} --password --insecure-fast-kdf`),
      [
        { expect: /Password: ?/, send: `${secret}\r` },
        { expect: /Repeat the password: ?/, send: `${secret}\r` },
      ],
    );
    const out = plain(r.output);
    expect(r.status, out).toBe(0);
    expect(out).not.toContain(secret);
    expect(out).not.toMatch(/\*{5}/); // no mask characters either
    // The progress bar (on stderr, a terminal here) and the summary.
    expect(out).toMatch(/encrypting \[[█░]{24}\] +\d+%/);
    expect(out).toMatch(/encrypting \[█{24}\] 100% +20\.0 MB \/ 20\.0 MB +\d+(\.\d)? MB\/s/);
    expect(out).toMatch(/Encrypted 20\.0 MB into [\d.]+ MB in .* MB\/s\): .*pw\.e2ee\./);
    // To a person, encrypt says which slots it writes and where the password comes from.
    expect(out).toContain('e2ee-backup: the backup gets a password slot (the password from the terminal).');
    // The password typed on the terminal is the one in the backup.
    const dec = run(['decrypt', p('pw.e2ee'), '-o', p('pw.out')], { env: { E2EE_BACKUP_PASSWORD: secret } });
    expect(dec.status, dec.stderr).toBe(0);
    expect(readFileSync(p('pw.out')).equals(data)).toBe(true);
  });

  it('shows the corrected group of a mistyped code on a terminal, and not with -q', async () => {
    const code = readFileSync(keyFile, 'utf8').replace(/\s/g, '');
    run(['encrypt', p('plain.bin'), '-o', p('typo.e2ee'), '-k', keyFile, '-q']);
    const typed = `${code.slice(0, 20)}${code[20] === '0' ? '1' : '0'}${code.slice(21)}`;
    writeFileSync(p('typo.key'), typed, { mode: 0o600 });
    const right = code.slice(20, 24);
    const loud = await runOnPty(cli(`decrypt ${p('typo.e2ee')} -o ${p('typo.out')} -k ${p('typo.key')}`), []);
    expect(loud.status, plain(loud.output)).toBe(0);
    expect(plain(loud.output)).toContain('typo (substitution): digit 21 (in group 6) is wrong.');
    expect(plain(loud.output)).toContain(`group 6 is '${right}', not '${typed.slice(20, 24)}'`);
    const quiet = await runOnPty(
      cli(`decrypt ${p('typo.e2ee')} -o ${p('typo2.out')} -k ${p('typo.key')} -q`),
      [],
    );
    expect(quiet.status, plain(quiet.output)).toBe(0);
    expect(plain(quiet.output)).toContain('digit 21 (in group 6) is wrong.');
    expect(plain(quiet.output)).not.toContain(`'${right}'`);
  });

  it('asks once when decrypting, hidden, with a progress bar', async () => {
    run(
      ['encrypt', p('plain.bin'), '-o', p('d.e2ee'), '--insecure-fast-kdf', '--allow-weak-password', '-q'],
      {
        env: { E2EE_BACKUP_PASSWORD: 'pw-1234' },
      },
    );
    const r = await runOnPty(cli(`decrypt ${p('d.e2ee')} -o ${p('d.out')} --password`), [
      { expect: /Password: ?/, send: 'pw-1234\r' },
    ]);
    const out = plain(r.output);
    expect(r.status, out).toBe(0);
    expect(out).not.toContain('pw-1234');
    expect(out).not.toMatch(/Repeat/);
    expect(out).toMatch(/decrypting \[/);
    expect(out).toMatch(/Decrypted 20\.0 MB \(backup of .*opened with its password\)/);
    expect(readFileSync(p('d.out')).equals(data)).toBe(true);
  });

  it('refuses two different passwords (exit 1) and leaves nothing behind', async () => {
    const r = await runOnPty(
      cli(`encrypt ${p('plain.bin')} -o ${p('mismatch.e2ee')} --password --insecure-fast-kdf`),
      [
        { expect: /Password: ?/, send: 'one password\r' },
        { expect: /Repeat the password: ?/, send: 'another one\r' },
      ],
    );
    expect(r.status).toBe(1);
    expect(plain(r.output)).toMatch(/e2ee-backup: the two passwords differ\. Run the command again/);
    expect(existsSync(p('mismatch.e2ee'))).toBe(false);
    expect(tempLeftovers(dir)).toEqual([]);
  });

  it('Ctrl-C at the password prompt exits 130 and leaves nothing behind', async () => {
    const r = await runOnPty(cli(`encrypt ${p('plain.bin')} -o ${p('int.e2ee')} --password`), [
      { expect: /Password: ?/, send: '\x03' },
    ]);
    expect(r.status).toBe(130);
    expect(existsSync(p('int.e2ee'))).toBe(false);
    expect(tempLeftovers(dir)).toEqual([]);
  });

  it('keygen: the code counts as saved only once typed back; mistakes are explained', async () => {
    const codeIn = (output: string) => /([0-9a-f]{4}(?: [0-9a-f]{4}){15})/.exec(plain(output))![1]!;
    const withGroup5Changed = (output: string) => {
      const groups = codeIn(output).split(' ');
      groups[4] = groups[4] === 'ffff' ? '0000' : 'ffff';
      return groups.join(' ');
    };
    const r = await runOnPty(cli(`keygen --out ${p('typed.key')}`), [
      { expect: /Code \(1\/3\): ?/, send: 'zzzz\r' },
      { expect: /Code \(2\/3\): ?/, send: (o) => `${withGroup5Changed(o)}\r` },
      // Upper case, dashes instead of spaces: still the code.
      { expect: /Code \(3\/3\): ?/, send: (o) => `${codeIn(o).toUpperCase().replace(/ /g, '-')}\r` },
    ]);
    const out = plain(r.output);
    expect(r.status, out).toBe(0);
    expect(out).toMatch(/lost for good/);
    expect(out).toMatch(/type the code back/);
    expect(out).toMatch(/That is not the code: character 1 'z' is not a hex digit/);
    expect(out).toMatch(/That is not the code: group 5 differs/);
    expect(out).toMatch(/Confirmed: the code matches/);
    expect(out).toMatch(/Saved to .*typed\.key \(mode 0600/);
    expect(readFileSync(p('typed.key'), 'utf8').trim()).toBe(codeIn(r.output));
    expect(statSync(p('typed.key')).mode & 0o777).toBe(0o600);
  });

  it('keygen: three wrong type-backs exit 2 and write no key file', async () => {
    const r = await runOnPty(cli(`keygen --out ${p('never.key')}`), [
      { expect: /Code \(1\/3\): ?/, send: '0000\r' },
      { expect: /Code \(2\/3\): ?/, send: '1111\r' },
      { expect: /Code \(3\/3\): ?/, send: '2222\r' },
    ]);
    expect(r.status).toBe(2);
    expect(plain(r.output)).toMatch(
      /did not match 3 times, so it does not count as saved.*no key file was written/,
    );
    expect(existsSync(p('never.key'))).toBe(false);
    expect(tempLeftovers(dir)).toEqual([]);
  });

  it('keygen --no-confirm skips the check', async () => {
    const r = await runOnPty(cli('keygen --no-confirm'), []);
    expect(r.status).toBe(0);
    expect(plain(r.output)).not.toMatch(/Code \(1\/3\)/);
  });

  it('refuses to write ciphertext to the terminal, or to dump a decrypted backup on it', async () => {
    const enc = await runOnPty(cli(`encrypt ${p('plain.bin')} -k ${keyFile}`), []);
    expect(enc.status).toBe(1);
    expect(plain(enc.output)).toMatch(
      /e2ee-backup: refusing to write an encrypted backup to the terminal\. Redirect the output/,
    );
    run(['encrypt', p('plain.bin'), '-o', p('k.e2ee'), '-k', keyFile]);
    const dec = await runOnPty(cli(`decrypt ${p('k.e2ee')} -k ${keyFile}`), []);
    expect(dec.status).toBe(1);
    expect(plain(dec.output)).toMatch(
      /refusing to print a decrypted backup on the terminal.*-o - to print it anyway/,
    );
  });

  it('verify shows progress on the terminal; --quiet hides it', async () => {
    run(['encrypt', p('plain.bin'), '-o', p('v.e2ee'), '-k', keyFile]);
    const loud = await runOnPty(cli(`verify ${p('v.e2ee')} -k ${keyFile}`), []);
    expect(loud.status).toBe(0);
    expect(plain(loud.output)).toMatch(/verifying \[/);
    const quiet = await runOnPty(cli(`verify ${p('v.e2ee')} -k ${keyFile} --quiet`), []);
    expect(quiet.status).toBe(0);
    expect(plain(quiet.output)).not.toMatch(/verifying \[/);
    expect(plain(quiet.output)).toMatch(/OK, the backup is intact/);
  });
});
