import {
  type CallHandler,
  createParamDecorator,
  type ExecutionContext,
  Inject,
  Injectable,
  type NestInterceptor,
  SetMetadata,
} from '@nestjs/common';
import { HTTP_CODE_METADATA } from '@nestjs/common/constants.js';
import { Reflector } from '@nestjs/core';
import { from, mergeMap, type Observable } from 'rxjs';
import type { DataSource, EntityManager } from 'typeorm';
import { AuditLogEntity } from '@ferry/control';
import { ADMIN_DATA_SOURCE } from '../admin-options';
import { READ_METHODS, type AdminRequest } from './request';

/** Names the audit action of a route: `@AuditAction('filesystem.create')`. */
export const AUDIT_ACTION = 'ferry:audit-action';
export const AuditAction = (action: string): MethodDecorator => SetMetadata(AUDIT_ACTION, action);

export interface AuditEntry {
  actor: string;
  action: string;
  target?: string | null;
  detail?: Record<string, unknown> | null;
  status: number;
}

@Injectable()
export class AuditService {
  constructor(@Inject(ADMIN_DATA_SOURCE) private readonly ds: DataSource) {}

  async write(entry: AuditEntry, manager: EntityManager = this.ds.manager): Promise<void> {
    await manager.insert(AuditLogEntity, {
      actor: entry.actor,
      action: entry.action,
      target: entry.target ?? null,
      // jsonb: TypeORM types object columns as deep-partials of the entity; a plain object is right here.
      detail: (entry.detail ?? null) as any,
      status: entry.status,
    });
  }
}

/**
 * The audit record of one change request. A service records it inside the transaction that
 * makes the change (`record(manager, ...)`), so the change and its audit row commit together
 * or not at all; a request that ends without recording (work outside a transaction, such as
 * enqueueing a job) is recorded by the interceptor afterwards, and a refused one by the
 * exception filter.
 */
export class AuditScope {
  recorded = false;
  target: string | null = null;
  detail: Record<string, unknown> | null = null;

  constructor(
    private readonly audit: AuditService,
    readonly actor: string,
    readonly action: string,
    readonly successStatus: number,
  ) {}

  /** Notes the target of the change (used by the filter when the change is refused). */
  about(target: string | null, detail?: Record<string, unknown>): void {
    this.target = target;
    if (detail) this.detail = detail;
  }

  async record(manager: EntityManager, target: string | null, detail?: Record<string, unknown>): Promise<void> {
    this.about(target, detail);
    await this.audit.write({ actor: this.actor, action: this.action, target, detail: this.detail, status: this.successStatus }, manager);
    this.recorded = true;
  }
}

/** Injects the request's AuditScope into a controller method. */
export const Audit = createParamDecorator((_: unknown, ctx: ExecutionContext): AuditScope => {
  const scope = ctx.switchToHttp().getRequest<AdminRequest>().ferryAudit;
  if (!scope) throw new Error('no audit scope: the route is not behind the AuditInterceptor or is a read');
  return scope;
});

/**
 * Runs after the guard: raises a body error kept by the JSON middleware, opens the AuditScope
 * of a change, and records the change if the handler did not.
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  constructor(
    private readonly audit: AuditService,
    private readonly reflector: Reflector,
  ) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = ctx.switchToHttp().getRequest<AdminRequest>();
    if (req.ferryBodyError) throw req.ferryBodyError;
    if (READ_METHODS.has(req.method)) return next.handle();
    const status =
      this.reflector.get<number | undefined>(HTTP_CODE_METADATA, ctx.getHandler()) ?? (req.method === 'POST' ? 201 : 200);
    const action = req.ferryAction ?? `${req.method} ${req.url}`;
    const scope = new AuditScope(this.audit, req.ferryActor?.name ?? 'anonymous', action, status);
    req.ferryAudit = scope;
    return next.handle().pipe(
      mergeMap((value) =>
        from(
          (async () => {
            if (!scope.recorded) {
              await this.audit.write({ actor: scope.actor, action, target: scope.target, detail: scope.detail, status });
            }
            return value;
          })(),
        ),
      ),
    );
  }
}
