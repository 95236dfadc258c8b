/**
 * Exit codes of `ferry`: scripts branch on them, so each one means one thing and never changes.
 * An API answer is mapped by its status alone (see `exitCodeForStatus`), never by its text.
 */
export enum ExitCode {
  /** The command did what was asked (a watched job succeeded; fsck found the filesystem clean). */
  Ok = 0,
  /** The operation failed: the API refused it (409, 422) or failed (5xx), a job failed or was cancelled, fsck found problems. */
  Failed = 1,
  /** Usage error: unknown command or flag, a bad size or number, a request the API called malformed (400, 413). */
  Usage = 2,
  /** The named resource does not exist (404, or a name that no list holds). */
  NotFound = 3,
  /** Authentication or authorization: no token, a bad or revoked token (401), a read-only token for a change (403). */
  Auth = 4,
  /** The API cannot be reached: connection refused, DNS failure, timeout. */
  Unreachable = 5,
}

export const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  the operation failed (API 409/422/5xx, job failed or cancelled, fsck found problems)
  2  usage error (bad command, flag, size or number; API 400/413)
  3  not found (API 404, unknown name)
  4  authentication or authorization (API 401/403, no token)
  5  cannot reach the API (refused, DNS, timeout)`;

/** An error that ends the command with a message (one line or a few) and a chosen exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    /** The HTTP status when the API answered with an error. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export function exitCodeForStatus(status: number): ExitCode {
  if (status === 401 || status === 403) return ExitCode.Auth;
  if (status === 404) return ExitCode.NotFound;
  if (status === 400 || status === 413) return ExitCode.Usage;
  return ExitCode.Failed;
}
