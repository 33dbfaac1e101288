/**
 * The setup flow, as a UI-agnostic state machine an app drives from its own screens: choose a
 * 64-digit code or a password; for a code, show it, warn twice that a lost code means a lost
 * backup, and have the user type it back; for a password, ask twice, refuse weak ones, warn
 * twice, and register it with the vault. Only the `done` state enables encrypted backup.
 *
 * @module
 */

import { E2EEError } from '../errors.js';
import { constantTimeEqual, randomBytes } from '../internal/bytes.js';
import { formatBackupKey, generateBackupKey, isKeyFormatError, parseBackupKey } from '../key/backup-key.js';

/** How the user protects the backup key. */
export type SetupMethod = 'code' | 'password';

/** Where the flow is; `step` names the screen to show. */
export type SetupState =
  | {
      /** Ask the user to choose a code or a password; then call `choose`. */
      readonly step: 'choose';
    }
  | {
      /** Show the code; then call `acknowledge`. */
      readonly step: 'show-code';
      /** The 64-digit code, as 16 groups of 4 separated by spaces. */
      readonly code: string;
    }
  | {
      /** Show a warning the user must acknowledge; then call `acknowledge`. */
      readonly step: 'warn';
      /** The method the warning is about. */
      readonly method: SetupMethod;
      /** The text to show, from {@link SETUP_WARNINGS}. */
      readonly warning: string;
      /** Which warning this is, from 1. */
      readonly index: number;
      /** How many warnings the method has. */
      readonly of: number;
    }
  | {
      /** Have the user type the code back; then call `enterCode`. */
      readonly step: 'confirm-code';
      /** 1-based group numbers (of 16) the user must type, in this order. */
      readonly groups: readonly number[];
      /** Wrong entries so far; at `maxCodeAttempts` the flow shows the code again. */
      readonly attempts: number;
      /** Why the last entry was refused, to show the user. */
      readonly error?: string;
    }
  | {
      /** Ask for a new password; then call `enterPassword`. */
      readonly step: 'enter-password';
      /** Why the last password was refused (too short, too weak, or the confirmation differed). */
      readonly error?: string;
      /** The strength estimator's advice, when the password was too weak. */
      readonly feedback?: readonly string[];
    }
  | {
      /** Ask for the password again; then call `confirmPassword`. */
      readonly step: 'confirm-password';
      /** A message to show with the prompt, if any. */
      readonly error?: string;
    }
  | {
      /** The vault did not take the password; offer `retry` (or `restart`). */
      readonly step: 'register-failed';
      /** The vault error's message, to show the user. */
      readonly error: string;
    }
  | {
      /** Finished: the backup key is protected and encrypted backup may be enabled. */
      readonly step: 'done';
      /** The method the user chose. */
      readonly method: SetupMethod;
      /** The backup key (32 bytes) to encrypt backups with. */
      readonly backupKey: Uint8Array;
    };

/** A password strength verdict: zxcvbn's score (0–4) and advice to show. */
export interface PasswordStrength {
  /** 0 (too guessable) to 4 (very unguessable), as zxcvbn scores. */
  score: number;
  /** A warning and suggestions to show the user; may be empty. */
  feedback: string[];
}

/** Options of {@link createSetupFlow}. */
export interface SetupOptions extends PasswordRules {
  /** Groups of 4 digits the user must type back: `'all'` (the default) or that many, at random. */
  confirmGroups?: 'all' | number;
  /** Wrong entries of the code before the flow shows the code again (default 3). */
  maxCodeAttempts?: number;
  /** Registers the password with the vault (e.g. `vault.register`); required for the password path. */
  registerPassword?: (password: string, backupKey: Uint8Array) => Promise<void>;
  /** The backup key to protect; by default a new one is generated. */
  backupKey?: Uint8Array;
}

/** The warnings shown before setup completes (two per method, in this order). */
export const SETUP_WARNINGS: { readonly [M in SetupMethod]: readonly string[] } = {
  code: [
    'If you lose this code, your backup is lost. Nobody — not us, not your cloud provider — can recover it for you.',
    'Save the code outside this phone, in a password manager or on paper in a safe place. You will type it back next.',
  ],
  password: [
    'If you forget this password, your backup is lost. Nobody can reset it for you without this device.',
    'After 10 wrong tries the backup key is destroyed for good. Choose a password you will remember.',
  ],
};

/** The setup flow; see {@link createSetupFlow}. */
export interface SetupFlow {
  /** The current state. */
  readonly state: SetupState;
  /** From `choose`: pick the method. */
  choose(method: SetupMethod): Promise<SetupState>;
  /** From `show-code` or `warn`: the user has read it. The last password warning registers. */
  acknowledge(): Promise<SetupState>;
  /** From `confirm-code`: what the user typed back. */
  enterCode(typed: string): Promise<SetupState>;
  /**
   * From `enter-password`: the new password. Throws, and stays at `enter-password`, if it cannot
   * judge the password (see {@link passwordWeakness}).
   */
  enterPassword(password: string): Promise<SetupState>;
  /** From `confirm-password`: the password again. */
  confirmPassword(password: string): Promise<SetupState>;
  /** From `register-failed`: try the vault again. */
  retry(): Promise<SetupState>;
  /** Back to `choose` from anywhere but `done` (the key stays the same). */
  restart(): Promise<SetupState>;
}

/** The fewest characters (after NFC) a vault password needs by default. */
export const MIN_PASSWORD_LENGTH = 10;
/** The lowest zxcvbn score (0–4) a vault password needs by default. */
export const MIN_PASSWORD_SCORE = 3;

/** Options of {@link passwordWeakness}. */
export interface PasswordRules {
  /** Default {@link MIN_PASSWORD_LENGTH}. */
  minPasswordLength?: number;
  /** Default {@link MIN_PASSWORD_SCORE}. */
  minPasswordScore?: number;
  /**
   * Strength estimator; default zxcvbn-ts with its common and English dictionaries, optional peer
   * dependencies (`@zxcvbn-ts/core`, `@zxcvbn-ts/language-common`, `@zxcvbn-ts/language-en`) that
   * must be installed unless this is given.
   */
  passwordStrength?: (password: string) => Promise<PasswordStrength>;
}

/** Why a password was refused. */
export interface PasswordWeakness {
  /** What is wrong, for the user: too short, or too easy to guess. */
  error: string;
  /** The strength estimator's advice, when the password was too easy to guess. */
  feedback?: string[];
}

/**
 * Why `password` is too weak to guard a backup key in a vault (too short, or too easy to guess,
 * with the estimator's advice), or `undefined` when it will do. The rule `createSetupFlow`
 * applies, for callers that take a password some other way.
 *
 * @throws An E2EEError with code `VAULT_UNAVAILABLE` (as the vault's stores when their driver is
 * missing) if no `passwordStrength` is given and the zxcvbn-ts packages are not installed.
 */
export async function passwordWeakness(
  password: string,
  rules: PasswordRules = {},
): Promise<PasswordWeakness | undefined> {
  const minLength = rules.minPasswordLength ?? MIN_PASSWORD_LENGTH;
  if (typeof password !== 'string' || password.normalize('NFC').length < minLength)
    return { error: `use at least ${minLength} characters` };
  const verdict = await (rules.passwordStrength ?? zxcvbnStrength)(password);
  if (verdict.score < (rules.minPasswordScore ?? MIN_PASSWORD_SCORE))
    return { error: 'this password is too easy to guess', feedback: verdict.feedback };
  return undefined;
}

/** The default estimator's packages: optional peer dependencies, loaded on first use. */
const ZXCVBN_PACKAGES = ['@zxcvbn-ts/core', '@zxcvbn-ts/language-common', '@zxcvbn-ts/language-en'];

async function zxcvbnStrength(password: string): Promise<PasswordStrength> {
  const [{ ZxcvbnFactory }, common, en] = await Promise.all([
    import('@zxcvbn-ts/core'),
    import('@zxcvbn-ts/language-common'),
    import('@zxcvbn-ts/language-en'),
  ]).catch((err: unknown) => {
    // Without an estimator no password may pass: refuse loudly rather than skip the check.
    throw new E2EEError(
      'VAULT_UNAVAILABLE',
      `the default password-strength check needs ${ZXCVBN_PACKAGES.join(', ')} ` +
        `(npm install ${ZXCVBN_PACKAGES.join(' ')}), or pass your own passwordStrength`,
      { cause: err },
    );
  });
  const z = new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...en.dictionary },
    graphs: common.adjacencyGraphs,
    translations: en.translations,
  });
  const r = await z.checkAsync(password);
  const feedback = [r.feedback.warning, ...r.feedback.suggestions].filter((s): s is string => !!s);
  return { score: r.score, feedback };
}

function pickGroups(count: number): number[] {
  const all = Array.from({ length: 16 }, (_, i) => i + 1);
  const rnd = randomBytes(16);
  // Fisher–Yates with one random byte per step: the bias of `% n` over 256 is irrelevant here.
  for (let i = all.length - 1; i > 0; i--) {
    const j = rnd[i]! % (i + 1);
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, count).sort((a, b) => a - b);
}

/**
 * Creates a setup flow. Drive it from your screens: render `flow.state`, call the method that
 * matches the user's action, render the state it returns. A method called in the wrong state
 * throws `INVALID_ARGUMENT` and changes nothing.
 *
 * @throws An E2EEError with code `INVALID_ARGUMENT` if `confirmGroups` is not `'all'` or 1 to 16.
 *
 * @example
 * ```ts
 * const flow = createSetupFlow({ registerPassword: (pw, key) => vault.register({ account, password: pw, backupKey: key }) });
 * await flow.choose('code');                 // { step: 'show-code', code: '3f2a 9c01 …' }
 * await flow.acknowledge();                  // { step: 'warn', index: 1, of: 2, warning: '…' }
 * await flow.acknowledge();                  // { step: 'warn', index: 2, … }
 * await flow.acknowledge();                  // { step: 'confirm-code', groups: [1, …, 16] }
 * await flow.enterCode(typedByUser);         // { step: 'done', backupKey } or an error to show
 * ```
 */
export function createSetupFlow(options: SetupOptions = {}): SetupFlow {
  const backupKey = options.backupKey ?? generateBackupKey();
  const code = formatBackupKey(backupKey);
  const groupsOf = code.split(' ');
  const confirm = options.confirmGroups ?? 'all';
  if (confirm !== 'all' && (!Number.isInteger(confirm) || confirm < 1 || confirm > 16))
    throw new E2EEError('INVALID_ARGUMENT', "confirmGroups must be 'all' or 1..16");
  const maxAttempts = options.maxCodeAttempts ?? 3;
  let state: SetupState = { step: 'choose' };
  let password: string | undefined;

  const expect = (step: SetupState['step'] | SetupState['step'][], action: string) => {
    const steps = Array.isArray(step) ? step : [step];
    if (!steps.includes(state.step))
      throw new E2EEError('INVALID_ARGUMENT', `setup: cannot ${action} at step '${state.step}'`);
  };
  const set = (s: SetupState) => {
    state = s;
    return s;
  };
  const warn = (m: SetupMethod, index: number): SetupState => ({
    step: 'warn',
    method: m,
    warning: SETUP_WARNINGS[m][index - 1]!,
    index,
    of: SETUP_WARNINGS[m].length,
  });
  const confirmCode = (attempts: number, error?: string): SetupState => ({
    step: 'confirm-code',
    groups: confirm === 'all' ? Array.from({ length: 16 }, (_, i) => i + 1) : pickGroups(confirm),
    attempts,
    ...(error ? { error } : {}),
  });
  const register = async (): Promise<SetupState> => {
    if (!options.registerPassword)
      throw new E2EEError('INVALID_ARGUMENT', 'setup: the password path needs registerPassword');
    try {
      await options.registerPassword(password!, backupKey);
    } catch (e) {
      return set({ step: 'register-failed', error: e instanceof Error ? e.message : String(e) });
    }
    password = undefined;
    return set({ step: 'done', method: 'password', backupKey });
  };

  return {
    get state() {
      return state;
    },
    async choose(m) {
      expect('choose', 'choose a method');
      if (m !== 'code' && m !== 'password')
        throw new E2EEError('INVALID_ARGUMENT', `setup: unknown method '${String(m)}'`);
      if (m === 'password' && !options.registerPassword)
        throw new E2EEError('INVALID_ARGUMENT', 'setup: the password path needs registerPassword (a vault)');
      return set(m === 'code' ? { step: 'show-code', code } : { step: 'enter-password' });
    },
    async acknowledge() {
      expect(['show-code', 'warn'], 'acknowledge');
      if (state.step === 'show-code') return set(warn('code', 1));
      const w = state as Extract<SetupState, { step: 'warn' }>;
      if (w.index < w.of) return set(warn(w.method, w.index + 1));
      return w.method === 'code' ? set(confirmCode(0)) : register();
    },
    async enterCode(typed) {
      expect('confirm-code', 'enter the code');
      const s = state as Extract<SetupState, { step: 'confirm-code' }>;
      let ok = false;
      let error = 'that does not match the code shown: check each group';
      try {
        if (s.groups.length === 16) ok = constantTimeEqual(parseBackupKey(typed), backupKey);
        else {
          const digits = typed.replace(/[\s-]/g, '').toLowerCase();
          const want = s.groups.map((g) => groupsOf[g - 1]).join('');
          if (!/^[0-9a-f]*$/.test(digits)) error = 'only the digits 0–9 and letters a–f appear in the code';
          else if (digits.length !== want.length)
            error = `type ${s.groups.length} groups of 4: ${want.length} characters`;
          else ok = constantTimeEqual(new TextEncoder().encode(digits), new TextEncoder().encode(want));
        }
      } catch (e) {
        if (!isKeyFormatError(e)) throw e;
        error = e.message;
      }
      if (ok) return set({ step: 'done', method: 'code', backupKey });
      const attempts = s.attempts + 1;
      // After a few misses the user needs to see the code again rather than guess.
      if (attempts >= maxAttempts) return set({ step: 'show-code', code });
      return set({ ...s, attempts, error });
    },
    async enterPassword(pw) {
      expect('enter-password', 'enter a password');
      const weak = await passwordWeakness(pw, options);
      if (weak) return set({ step: 'enter-password', ...weak });
      password = pw;
      return set({ step: 'confirm-password' });
    },
    async confirmPassword(pw) {
      expect('confirm-password', 'confirm the password');
      if (pw.normalize('NFC') !== password!.normalize('NFC')) {
        password = undefined;
        return set({ step: 'enter-password', error: 'the two passwords differ: enter a new one' });
      }
      return set(warn('password', 1));
    },
    async retry() {
      expect('register-failed', 'retry');
      return register();
    },
    async restart() {
      if (state.step === 'done') throw new E2EEError('INVALID_ARGUMENT', 'setup: already done');
      password = undefined;
      return set({ step: 'choose' });
    },
  };
}
