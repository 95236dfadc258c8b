import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService, type HealthCheckResult } from '@nestjs/terminus';
import type { DataSource } from 'typeorm';
import { ADMIN_DATA_SOURCE, ADMIN_OPTIONS, type AdminModuleOptions } from '../admin-options';
import { API_PREFIX } from '../common/admin-controller';

/**
 * Readiness of the admin API (database, and Redis when used), open to probes without a token.
 * It lives under /api/v1 so it does not clash with the mover's /healthz and /readyz in the
 * embedded start, whose /readyz can include it.
 */
@ApiTags('health')
@Controller(API_PREFIX)
export class AdminHealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(ADMIN_DATA_SOURCE) private readonly ds: DataSource,
    @Inject(ADMIN_OPTIONS) private readonly options: AdminModuleOptions,
  ) {}

  @Get('health')
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: database (and Redis when used); 503 when one is down' })
  check(): Promise<HealthCheckResult> {
    return this.health.check([() => this.database(), ...(this.options.redis ? [() => this.redis()] : [])]);
  }

  /** The checks alone, for a composed /readyz. */
  async database() {
    const session = this.indicators.check('database');
    try {
      await this.ds.query('SELECT 1');
      return session.up();
    } catch (err) {
      return session.down({ message: (err as Error).message });
    }
  }

  async redis() {
    const session = this.indicators.check('redis');
    try {
      await this.options.redis!.ping();
      return session.up();
    } catch (err) {
      return session.down({ message: (err as Error).message });
    }
  }
}
