import type { ServerResponse } from 'node:http';
import { ControlErrorCode } from '@ferry/control';

/**
 * RFC 9457 problem details. `type` names the kind of problem (a URN, stable for scripts),
 * `title` its short summary, `detail` this occurrence, `errors` field messages of a validation
 * failure.
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: Record<string, string[]>;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

const STATUS: Record<ControlErrorCode, { status: number; title: string }> = {
  [ControlErrorCode.Invalid]: { status: 400, title: 'Bad Request' },
  [ControlErrorCode.Unauthenticated]: { status: 401, title: 'Unauthorized' },
  [ControlErrorCode.Forbidden]: { status: 403, title: 'Forbidden' },
  [ControlErrorCode.NotFound]: { status: 404, title: 'Not Found' },
  [ControlErrorCode.Conflict]: { status: 409, title: 'Conflict' },
  [ControlErrorCode.TooLarge]: { status: 413, title: 'Content Too Large' },
  [ControlErrorCode.Refused]: { status: 422, title: 'Unprocessable Content' },
  [ControlErrorCode.Unavailable]: { status: 503, title: 'Service Unavailable' },
};

export function statusOf(code: ControlErrorCode): number {
  return STATUS[code].status;
}

export function problemOf(code: ControlErrorCode, detail: string, errors?: Record<string, string[]>, instance?: string): Problem {
  const { status, title } = STATUS[code];
  return { type: `urn:ferry:problem:${code}`, title, status, detail, ...(instance ? { instance } : {}), ...(errors ? { errors } : {}) };
}

export function sendProblem(res: ServerResponse, problem: Problem): void {
  const body = JSON.stringify(problem);
  res.statusCode = problem.status;
  res.setHeader('Content-Type', PROBLEM_CONTENT_TYPE);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  if (problem.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="ferry"');
  res.end(body);
}
