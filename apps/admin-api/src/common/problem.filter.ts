import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Inject, Injectable } from '@nestjs/common';
import { ControlError, ControlErrorCode } from '@ferry/control';
import { ADMIN_OPTIONS, type AdminModuleOptions } from '../admin-options';
import { AuditService } from './audit';
import { problemOf, sendProblem, type Problem } from './problem';
import { READ_METHODS, type AdminRequest, type AdminResponse } from './request';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/**
 * The one place errors become HTTP answers: `application/problem+json` (RFC 9457) with the
 * status of the domain error's code. A refused change is written to the audit log before the
 * answer goes out; an unexpected error is logged and answered 500 without its internals.
 */
@Catch()
@Injectable()
export class ProblemFilter implements ExceptionFilter {
  constructor(
    private readonly audit: AuditService,
    @Inject(ADMIN_OPTIONS) private readonly options: AdminModuleOptions,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<AdminRequest>();
    const res = http.getResponse<AdminResponse>();
    const problem = this.toProblem(exception, req);
    void this.finish(req, res, problem, exception);
  }

  private toProblem(exception: unknown, req: AdminRequest): Problem {
    const instance = req.originalUrl ?? req.url;
    if (exception instanceof ControlError) return problemOf(exception.code, exception.message, exception.fields, instance);
    if (isJobNotFound(exception)) return problemOf(ControlErrorCode.NotFound, (exception as Error).message, undefined, instance);
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      const message =
        typeof response === 'object' && response !== null && 'message' in response
          ? [(response as { message: unknown }).message].flat().join('; ')
          : exception.message;
      return { type: 'about:blank', title: TITLES[status] ?? 'Error', status, detail: message, instance };
    }
    this.options.logger.error({ err: exception, method: req.method, url: instance }, 'admin API request failed');
    return { type: 'about:blank', title: TITLES[500]!, status: 500, detail: 'internal error (see the server log)', instance };
  }

  private async finish(req: AdminRequest, res: AdminResponse, problem: Problem, exception: unknown): Promise<void> {
    if (!READ_METHODS.has(req.method) && req.ferryAction !== undefined) {
      const scope = req.ferryAudit;
      try {
        await this.audit.write({
          actor: req.ferryActor?.name ?? 'anonymous',
          action: req.ferryAction,
          target: scope?.target ?? req.params?.id ?? null,
          detail: { ...(scope?.detail ?? {}), error: problem.detail },
          status: problem.status,
        });
      } catch (err) {
        this.options.logger.error({ err, exception }, 'could not write the audit row of a refused change');
      }
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    sendProblem(res, problem);
  }
}

function isJobNotFound(e: unknown): boolean {
  return e instanceof Error && e.name === 'JobError' && (e as { code?: unknown }).code === 'JOB_NOT_FOUND';
}
