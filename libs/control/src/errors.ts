/**
 * Domain errors of the control plane. Services throw these with a code; the admin API's one
 * exception filter maps each code to an HTTP problem response (RFC 9457), so no service or
 * controller chooses an HTTP status by hand.
 */
export enum ControlErrorCode {
  /** The request is malformed: bad JSON, wrong types, unknown fields (400). */
  Invalid = 'invalid',
  /** No or an unknown/revoked bearer token (401). */
  Unauthenticated = 'unauthenticated',
  /** The token's role may not do this (403). */
  Forbidden = 'forbidden',
  /** The named resource does not exist (404). */
  NotFound = 'not-found',
  /** The change conflicts with the current state: duplicate name, exported filesystem, running job (409). */
  Conflict = 'conflict',
  /** The body is larger than the API accepts (413). */
  TooLarge = 'too-large',
  /** Well-formed but refused: shrinking, missing confirmation, a reference to nothing (422). */
  Refused = 'refused',
  /** A dependency (storage host, queue) is not available (503). */
  Unavailable = 'unavailable',
}

export class ControlError extends Error {
  constructor(
    readonly code: ControlErrorCode,
    message: string,
    /** Field messages for validation failures: field path -> messages. */
    readonly fields?: Record<string, string[]>,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

export const notFound = (what: string, id: string): ControlError =>
  new ControlError(ControlErrorCode.NotFound, `${what} ${id} does not exist`);
export const conflict = (message: string): ControlError => new ControlError(ControlErrorCode.Conflict, message);
export const refused = (message: string): ControlError => new ControlError(ControlErrorCode.Refused, message);
export const invalid = (message: string, fields?: Record<string, string[]>): ControlError =>
  new ControlError(ControlErrorCode.Invalid, message, fields);

/** PostgreSQL SQLSTATE of a unique violation (a race lost against a concurrent insert). */
export const PG_UNIQUE_VIOLATION = '23505';
/** PostgreSQL SQLSTATE of a foreign key violation. */
export const PG_FOREIGN_KEY_VIOLATION = '23503';

/** The SQLSTATE of a database error (TypeORM wraps the driver's error), if any. */
export function sqlState(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; driverError?: { code?: unknown } };
  const code = e.driverError?.code ?? e.code;
  return typeof code === 'string' ? code : undefined;
}
