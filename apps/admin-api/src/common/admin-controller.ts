import { applyDecorators, Controller, UseFilters, UseGuards, UseInterceptors, UsePipes } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { AuditInterceptor } from './audit';
import { AuthGuard } from './auth.guard';
import { ProblemFilter } from './problem.filter';
import { adminValidationPipe } from './validation.pipe';

/** The prefix of every admin route. */
export const API_PREFIX = 'api/v1';

/**
 * A controller of the admin API under /api/v1: bearer-token guard, strict validation, audit of
 * changes and problem+json errors, scoped to these controllers only (the mover's routes in the
 * same application are untouched).
 */
export function AdminController(path: string, tag: string): ClassDecorator {
  return applyDecorators(
    Controller(`${API_PREFIX}/${path}`),
    ApiTags(tag),
    ApiBearerAuth(),
    UseFilters(ProblemFilter),
    UseGuards(AuthGuard),
    UseInterceptors(AuditInterceptor),
    UsePipes(adminValidationPipe()),
  );
}
