/**
 * Every error this library raises on purpose is an {@link E2EEError} with a stable
 * {@link ErrorCode}. Codes are part of the public contract: match on `err.code`, never on the
 * message, which is written for people and may be reworded.
 *
 * @module
 */

const BRAND = Symbol.for('e2ee-backup.E2EEError');

/**
 * The stable error codes, each with what it means. Exported so that applications can build
 * their own tables (translations, exit codes, HTTP statuses) from one list.
 *
 * @example
 * ```ts
 * const exitCodes = Object.fromEntries(Object.keys(ERROR_CODES).map((code, i) => [code, 10 + i]));
 * console.error(ERROR_CODES[err.code]); // 'The backup key does not open this backup.'
 * ```
 * @enum
 */
export const ERROR_CODES = {
  // chunked layer (Cobblestone-256)
  INVALID_KEY_SIZE: 'A key is not 32 bytes long.',
  COMMITMENT_MISMATCH:
    'The key commitment does not match: wrong key, wrong context, or a modified salt or commitment.',
  TRUNCATED: 'The ciphertext ends early: a header, chunk, tag or the short final chunk is missing.',
  TRAILING_DATA: 'There are bytes after the short final chunk.',
  CHUNK_AUTH: 'A chunk failed authentication: it was modified, reordered or duplicated.',
  MESSAGE_TOO_LARGE: 'The message exceeds the 2^38-chunk limit of the chunked format.',
  // key codes and password derivation
  KEY_FORMAT: 'A 64-digit backup key code is malformed.',
  KDF_PARAMS: 'Argon2id parameters are outside the allowed bounds, or the salt is too short.',
  // container and backup API
  WRONG_KEY: 'The backup key does not open this backup.',
  WRONG_PASSWORD: 'The password does not open this backup.',
  NO_MATCHING_SLOT: 'The backup has no key slot for the credential that was given.',
  UNSUPPORTED_VERSION: 'The backup was written by a format version this library does not read.',
  MALFORMED_HEADER: 'The backup header is malformed or corrupted (its checksum does not match).',
  UNKNOWN_FLAG: 'The backup header sets a flag bit this version does not know.',
  UNKNOWN_SLOT_TYPE: 'The backup header has a key slot of a type this version does not know.',
  HEADER_AUTH:
    'The header does not authenticate under the unwrapped file key: it was modified, or a key slot was swapped in from another backup.',
  ROLLBACK: 'The backup is older than the newest generation already seen.',
  NEWEST_UNREADABLE:
    'A store entry that may be the newest backup cannot be opened, and no newest generation was given: the next generation is unknown.',
  MALFORMED_PAYLOAD: 'The decrypted payload framing (metadata, blocks) is malformed.',
  BAD_PADDING: 'The padding is not all zero or has the wrong length.',
  OUTPUT_LIMIT: 'The decrypted output would exceed the configured maximum size.',
  INVALID_ARGUMENT: 'An argument has the wrong type or value.',
  // vault (OPAQUE and the key vault service)
  SERVER_AUTH:
    'The vault server failed to authenticate: it is not the server the password was registered with.',
  VAULT_LOCKED: 'Too many wrong passwords: the vault has destroyed this backup key for good.',
  VAULT_NOT_FOUND: 'The vault holds no backup key for this account.',
  VAULT_PROTOCOL: 'The vault received or sent a malformed or unexpected message.',
  VAULT_UNAVAILABLE: 'The vault server could not be reached or answered with a server error.',
  RATE_LIMITED: 'Too many requests: wait and try again.',
  UNAUTHORIZED: 'The device credential does not authorise this vault operation.',
  ABORTED: 'The operation was aborted by the caller.',
  IO: 'Reading or writing a file failed.',
  // crypto provider (src/provider.ts)
  CRYPTO_PROVIDER:
    'A crypto primitive is unavailable here, or the registered crypto provider is malformed or failed its known-answer check.',
} as const;

/** A stable error code; see {@link ERROR_CODES} for the meaning of each. */
export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * The single error class of the library.
 *
 * @example
 * ```ts
 * try {
 *   await decryptChunked(key, ciphertext);
 * } catch (err) {
 *   if (err instanceof E2EEError && err.code === 'COMMITMENT_MISMATCH') console.error('wrong key');
 *   else throw err;
 * }
 * ```
 */
export class E2EEError extends Error {
  /** The stable code; see {@link ERROR_CODES}. */
  readonly code: ErrorCode;

  /**
   * @param code - The stable code.
   * @param message - Written for people; may change between versions.
   * @param options - `cause`: the underlying error, if any.
   */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'E2EEError';
    this.code = code;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * `instanceof` answers by brand, not by prototype, so that it holds across the ESM and CommonJS
   * builds and across copies of the package that a bundler may have duplicated.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/**
 * True when `err` is an {@link E2EEError}, optionally with the given code.
 *
 * @example
 * ```ts
 * if (isE2EEError(err, 'WRONG_KEY')) showMessage('This code does not open the backup.');
 * ```
 */
export function isE2EEError(err: unknown, code?: ErrorCode): err is E2EEError {
  return err instanceof E2EEError && (code === undefined || err.code === code);
}
