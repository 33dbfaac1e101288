// zxcvbn-ts is an optional peer dependency: an app that installs the library alone and asks for the
// default strength check must get a typed error naming what to install, never an accepted password.
import { describe, expect, it, vi } from 'vitest';
import { isE2EEError } from '../src/errors.js';
import { createSetupFlow, passwordWeakness } from '../src/lifecycle/setup-flow.js';

// Node's answer to an import() of a package that is not installed.
const { notInstalled } = vi.hoisted(() => ({
  notInstalled: (name: string) => () => {
    throw Object.assign(new Error(`Cannot find package '${name}' imported from setup-flow.js`), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
  },
}));
vi.mock('@zxcvbn-ts/core', notInstalled('@zxcvbn-ts/core'));
vi.mock('@zxcvbn-ts/language-common', notInstalled('@zxcvbn-ts/language-common'));
vi.mock('@zxcvbn-ts/language-en', notInstalled('@zxcvbn-ts/language-en'));

const STRONG = 'Vq8#tL2!mZr9@wXk';

describe('password strength without the zxcvbn-ts packages', () => {
  it('passwordWeakness throws VAULT_UNAVAILABLE naming the packages and the passwordStrength option', async () => {
    const err = await passwordWeakness(STRONG).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isE2EEError(err, 'VAULT_UNAVAILABLE')).toBe(true);
    const message = (err as Error).message;
    for (const name of ['@zxcvbn-ts/core', '@zxcvbn-ts/language-common', '@zxcvbn-ts/language-en'])
      expect(message).toContain(name);
    expect(message).toContain('passwordStrength');
    expect((err as Error).cause).toBeInstanceOf(Error);
  });

  it('the setup flow refuses to go on and stays at enter-password', async () => {
    const registered: string[] = [];
    const f = createSetupFlow({ registerPassword: async (pw) => void registered.push(pw) });
    await f.choose('password');
    await expect(f.enterPassword(STRONG)).rejects.toMatchObject({ code: 'VAULT_UNAVAILABLE' });
    expect(f.state).toEqual({ step: 'enter-password' });
    await expect(f.confirmPassword(STRONG)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(registered).toEqual([]);
  });

  it('a caller-supplied passwordStrength needs no zxcvbn-ts', async () => {
    const passwordStrength = async (pw: string) => ({ score: pw === STRONG ? 4 : 0, feedback: ['longer'] });
    expect(await passwordWeakness(STRONG, { passwordStrength })).toBeUndefined();
    expect(await passwordWeakness('0123456789', { passwordStrength })).toEqual({
      error: 'this password is too easy to guess',
      feedback: ['longer'],
    });
    // Too short is decided before any estimator runs.
    expect(await passwordWeakness('short')).toEqual({ error: 'use at least 10 characters' });
  });
});
