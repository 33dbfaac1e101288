/** How S3 failures become E2EEErrors. Internal. */

import { E2EEError } from '../errors.js';

/** The S3 error name of `e` (`NoSuchKey`, `NoSuchUpload` …), if it is one. */
export function s3ErrorName(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && typeof (e as { name?: unknown }).name === 'string'
    ? (e as { name: string }).name
    : undefined;
}

/** The HTTP status of a failed S3 call, if it got that far. */
export function httpStatus(e: unknown): number | undefined {
  return (e as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

/** An `IO` error that says what was being done and why it failed, keeping the cause. */
export function s3Error(what: string, e: unknown): E2EEError {
  if (e instanceof E2EEError) return e;
  const name = s3ErrorName(e);
  const message = e instanceof Error ? e.message : String(e);
  return new E2EEError('IO', `${what}: ${name && !message.startsWith(name) ? `${name}: ` : ''}${message}`, {
    cause: e,
  });
}
