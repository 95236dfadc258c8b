import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TokenRole } from '@ferry/control';
import type { ControlError } from '@ferry/control';
import type { AuditScope } from './audit';

/** The authenticated caller, set by the guard. */
export interface Actor {
  tokenId: string;
  name: string;
  role: TokenRole;
}

/** What the admin API's middleware, guard and interceptor attach to Express's request. */
export interface AdminRequest extends IncomingMessage {
  method: string;
  url: string;
  originalUrl?: string;
  body?: unknown;
  params?: Record<string, string>;
  /** The JSON parse or size error, raised after authentication (so 401 comes before 400). */
  ferryBodyError?: ControlError;
  ferryActor?: Actor;
  /** The audit action of the route (`filesystem.create`), set before authentication. */
  ferryAction?: string;
  ferryAudit?: AuditScope;
}

export type AdminResponse = ServerResponse & { status?(code: number): AdminResponse };

export const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
