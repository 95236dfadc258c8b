import { type CanActivate, type ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ControlError, ControlErrorCode } from '@ferry/control';
import { TokenService } from '../services/token.service';
import { AUDIT_ACTION } from './audit';
import { READ_METHODS, type AdminRequest } from './request';

/** Marks a read route that still needs the admin role (tokens, audit log). */
export const ADMIN_ONLY = 'ferry:admin-only';
export const AdminOnly = (): ClassDecorator & MethodDecorator => SetMetadata(ADMIN_ONLY, true);

/**
 * Bearer-token authentication and roles: any valid token may read, changes (and AdminOnly
 * reads) need `admin`. Applied per controller, not globally, so the mover's /healthz and
 * /metrics in the same application stay open.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly tokens: TokenService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<AdminRequest>();
    req.ferryAction = this.reflector.get<string | undefined>(AUDIT_ACTION, ctx.getHandler());
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer +(\S+) *$/i.exec(header) : null;
    if (!match) throw new ControlError(ControlErrorCode.Unauthenticated, 'an Authorization: Bearer token is required');
    const actor = await this.tokens.authenticate(match[1]!);
    if (!actor) throw new ControlError(ControlErrorCode.Unauthenticated, 'the token is unknown or revoked');
    req.ferryActor = actor;
    const adminOnly = this.reflector.getAllAndOverride<boolean | undefined>(ADMIN_ONLY, [ctx.getHandler(), ctx.getClass()]);
    if ((adminOnly || !READ_METHODS.has(req.method)) && actor.role !== 'admin') {
      throw new ControlError(ControlErrorCode.Forbidden, `the token "${actor.name}" is ${actor.role}; this needs an admin token`);
    }
    return true;
  }
}
