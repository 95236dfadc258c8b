import { Injectable, type NestMiddleware } from '@nestjs/common';
import { ControlError, ControlErrorCode } from '@ferry/control';
import type { AdminRequest } from './request';

/** The largest request body the API reads (a body is a few hundred bytes; this is a guard). */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Beyond this a too-large body is not even drained: the connection is closed. */
const DRAIN_LIMIT_BYTES = 64 * MAX_BODY_BYTES;

/**
 * Reads a JSON body for the admin API's routes with a hard size limit. Errors are not answered
 * here but kept on the request (`ferryBodyError`) and raised after authentication, so an
 * unauthenticated caller gets 401 whatever it sent, and refused bodies reach the audit log with
 * their actor. Needs the Nest application created with `bodyParser: false` (otherwise Express's
 * parser has read the body first with its own limit and errors).
 */
@Injectable()
export class JsonBodyMiddleware implements NestMiddleware {
  use(req: AdminRequest, _res: unknown, next: (err?: unknown) => void): void {
    if ((req as { _body?: boolean })._body || req.readableEnded || !hasBody(req)) {
      next();
      return;
    }
    const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const declared = Number(req.headers['content-length'] ?? NaN);
    const chunks: Buffer[] = [];
    let size = 0;
    let error: ControlError | undefined;
    if (type !== 'application/json' && !type.endsWith('+json')) {
      error = new ControlError(ControlErrorCode.Invalid, `the body must be application/json, not "${type || 'none'}"`);
    } else if (declared > MAX_BODY_BYTES) {
      error = tooLarge();
    }
    if (Number.isFinite(declared) && declared > DRAIN_LIMIT_BYTES) {
      req.ferryBodyError = error;
      req.socket.destroy();
      return;
    }
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (error) {
        if (size > DRAIN_LIMIT_BYTES) req.socket.destroy();
        return;
      }
      if (size > MAX_BODY_BYTES) {
        error = tooLarge();
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', (err) => next(err));
    req.on('end', () => {
      (req as { _body?: boolean })._body = true;
      if (error) {
        req.ferryBodyError = error;
        req.body = undefined;
      } else {
        try {
          const text = Buffer.concat(chunks).toString('utf8');
          req.body = text.length === 0 ? undefined : JSON.parse(text);
        } catch (err) {
          req.ferryBodyError = new ControlError(ControlErrorCode.Invalid, `malformed JSON: ${(err as Error).message}`);
        }
      }
      next();
    });
  }
}

function hasBody(req: AdminRequest): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

function tooLarge(): ControlError {
  return new ControlError(ControlErrorCode.TooLarge, `the body is larger than ${MAX_BODY_BYTES} bytes`);
}
