import { Controller, Get, Header, HttpCode, HttpException, HttpStatus } from '@nestjs/common';
import { DirectorService } from './director.service';

/** Liveness, readiness and Prometheus metrics of the load director. */
@Controller()
export class HealthController {
  constructor(private readonly director: DirectorService) {}

  /** Alive: the process answers (the director keeps no state that could fail). */
  @Get('healthz')
  @HttpCode(200)
  healthz(): { status: string } {
    return { status: 'ok' };
  }

  /** Ready: the client port is bound and routes are loaded. */
  @Get('readyz')
  async readyz(): Promise<{ status: string; clients: number; filesystems: number; movers: number }> {
    const reason = this.director.notReadyReason();
    if (reason) throw new HttpException({ status: 'not ready', reason }, HttpStatus.SERVICE_UNAVAILABLE);
    const table = this.director.routes.current();
    await this.director.relay.refreshStats();
    return { status: 'ready', clients: this.director.relay.clientCount, filesystems: table.owners.size, movers: table.movers.length };
  }

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async metricsText(): Promise<string> {
    await this.director.relay.refreshStats();
    return this.director.metrics.registry.metrics();
  }
}
