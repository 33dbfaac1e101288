import { describe, expect, it } from 'vitest';
import { E2EEError } from '../src/errors.js';
import { formatBackupKey } from '../src/key/backup-key.js';
import { createSetupFlow, SETUP_WARNINGS, type SetupOptions } from '../src/lifecycle/setup-flow.js';

const key = new Uint8Array(32).map((_, i) => i);
const code = formatBackupKey(key);
const groups = code.split(' ');
// A stand-in estimator for the transition tests; zxcvbn itself is tested below.
const strength = async (pw: string) => ({
  score: pw.includes('weak') ? 1 : 4,
  feedback: pw.includes('weak') ? ['add words'] : [],
});

function flow(extra: SetupOptions = {}) {
  const registered: [string, Uint8Array][] = [];
  const f = createSetupFlow({
    backupKey: key,
    passwordStrength: strength,
    registerPassword: async (pw, k) => {
      registered.push([pw, k]);
    },
    ...extra,
  });
  return { f, registered };
}

describe('setup flow: code path', () => {
  it('show → warn → warn → confirm → done', async () => {
    const { f } = flow();
    expect(f.state).toEqual({ step: 'choose' });
    expect(await f.choose('code')).toEqual({ step: 'show-code', code });
    expect(await f.acknowledge()).toMatchObject({
      step: 'warn',
      method: 'code',
      index: 1,
      of: 2,
      warning: SETUP_WARNINGS.code[0],
    });
    expect(await f.acknowledge()).toMatchObject({ step: 'warn', index: 2, warning: SETUP_WARNINGS.code[1] });
    expect(await f.acknowledge()).toMatchObject({
      step: 'confirm-code',
      attempts: 0,
      groups: Array.from({ length: 16 }, (_, i) => i + 1),
    });
    const done = await f.enterCode(code.toUpperCase().replaceAll(' ', '-'));
    expect(done).toMatchObject({ step: 'done', method: 'code' });
    expect(f.state.step === 'done' && f.state.backupKey).toEqual(key);
  });

  it('warns in plain words, twice', () => {
    for (const m of ['code', 'password'] as const) {
      expect(SETUP_WARNINGS[m]).toHaveLength(2);
      expect(SETUP_WARNINGS[m][0]).toMatch(/lost/);
    }
  });

  it('every wrong entry is refused with a reason, and three send the user back to the code', async () => {
    const { f } = flow();
    await f.choose('code');
    for (let i = 0; i < 3; i++) await f.acknowledge();
    const wrong = `${groups.slice(0, 15).join(' ')} ${groups[15] === '0000' ? '0001' : '0000'}`;
    expect(await f.enterCode(wrong)).toMatchObject({
      step: 'confirm-code',
      attempts: 1,
      error: expect.stringMatching(/does not match/),
    });
    expect(await f.enterCode(code.slice(0, -1))).toMatchObject({
      attempts: 2,
      error: expect.stringMatching(/63 digits/),
    });
    expect(await f.enterCode(`${code.slice(0, -1)}o`)).toEqual({ step: 'show-code', code });
    // And the loop starts again from the code.
    expect((await f.acknowledge()).step).toBe('warn');
  });

  it('can ask for a few groups chosen at random instead of all 16', async () => {
    const { f } = flow({ confirmGroups: 4 });
    await f.choose('code');
    for (let i = 0; i < 2; i++) await f.acknowledge();
    const s = await f.acknowledge();
    if (s.step !== 'confirm-code') throw new Error('expected confirm-code');
    expect(s.groups).toHaveLength(4);
    expect(new Set(s.groups).size).toBe(4);
    expect(await f.enterCode(s.groups.map((g) => groups[g - 1]).join(''))).toMatchObject({ step: 'done' });
  });

  it('a few groups: wrong length, non-hex and wrong digits are refused', async () => {
    const { f } = flow({ confirmGroups: 2 });
    await f.choose('code');
    for (let i = 0; i < 2; i++) await f.acknowledge();
    const s = await f.acknowledge();
    if (s.step !== 'confirm-code') throw new Error('expected confirm-code');
    expect(await f.enterCode('abc')).toMatchObject({ error: expect.stringMatching(/2 groups of 4/) });
    expect(await f.enterCode('zzzz zzzz')).toMatchObject({ error: expect.stringMatching(/0–9/) });
  });
});

describe('setup flow: password path', () => {
  it('enter → confirm → warn → warn → registers with the vault → done', async () => {
    const { f, registered } = flow();
    expect(await f.choose('password')).toEqual({ step: 'enter-password' });
    expect(await f.enterPassword('correct horse battery staple')).toEqual({ step: 'confirm-password' });
    expect(await f.confirmPassword('correct horse battery staple')).toMatchObject({
      step: 'warn',
      method: 'password',
      index: 1,
    });
    expect(await f.acknowledge()).toMatchObject({ step: 'warn', index: 2 });
    expect(await f.acknowledge()).toMatchObject({ step: 'done', method: 'password' });
    expect(registered).toEqual([['correct horse battery staple', key]]);
  });

  it('refuses short, weak and mismatched passwords', async () => {
    const { f, registered } = flow();
    await f.choose('password');
    expect(await f.enterPassword('short')).toMatchObject({
      step: 'enter-password',
      error: expect.stringMatching(/10 characters/),
    });
    expect(await f.enterPassword('weak but long enough')).toMatchObject({
      step: 'enter-password',
      error: expect.stringMatching(/too easy/),
      feedback: ['add words'],
    });
    await f.enterPassword('a strong one, really');
    expect(await f.confirmPassword('a strong one, reallY')).toMatchObject({
      step: 'enter-password',
      error: expect.stringMatching(/differ/),
    });
    expect(registered).toHaveLength(0);
  });

  it('a failed registration can be retried, and nothing is enabled until it succeeds', async () => {
    let fail = true;
    const f = createSetupFlow({
      backupKey: key,
      passwordStrength: strength,
      registerPassword: async () => {
        if (fail) throw new Error('vault unreachable');
      },
    });
    await f.choose('password');
    await f.enterPassword('correct horse battery staple');
    await f.confirmPassword('correct horse battery staple');
    await f.acknowledge();
    expect(await f.acknowledge()).toEqual({ step: 'register-failed', error: 'vault unreachable' });
    fail = false;
    expect(await f.retry()).toMatchObject({ step: 'done' });
  });

  it('the real estimator (zxcvbn-ts) refuses a common password and accepts a long random one', async () => {
    const f = createSetupFlow({ registerPassword: async () => {} });
    await f.choose('password');
    expect(await f.enterPassword('password1234')).toMatchObject({
      step: 'enter-password',
      error: expect.stringMatching(/too easy/),
    });
    expect(await f.enterPassword('Vq8#tL2!mZr9@wXk')).toEqual({ step: 'confirm-password' });
  });
});

describe('setup flow: wrong actions', () => {
  it('a method called at the wrong step throws and changes nothing', async () => {
    const { f } = flow();
    await expect(f.acknowledge()).rejects.toBeInstanceOf(E2EEError);
    await expect(f.enterCode(code)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(f.enterPassword('x')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(f.confirmPassword('x')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(f.retry()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(f.choose('other' as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(f.state).toEqual({ step: 'choose' });
    await f.choose('code');
    await expect(f.choose('password')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await f.restart()).toEqual({ step: 'choose' });
  });

  it('the password path needs a vault', async () => {
    const f = createSetupFlow({ backupKey: key });
    await expect(f.choose('password')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('done is final', async () => {
    const { f } = flow();
    await f.choose('code');
    for (let i = 0; i < 3; i++) await f.acknowledge();
    await f.enterCode(code);
    await expect(f.restart()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(f.enterCode(code)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
