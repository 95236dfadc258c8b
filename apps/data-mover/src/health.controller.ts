import { Controller, Get, Header, HttpCode, HttpException, HttpStatus, Inject } from '@nestjs/common';
import { MoverMetrics } from '@ferry/platform';
import { MOVER_STATUS, READINESS_CHECK, type MoverStatus, type ReadinessCheck } from './tokens';

/** Liveness, readiness and Prometheus metrics of the data mover. */
@Controller()
export class HealthController {
  constructor(
    @Inject(MOVER_STATUS) private readonly mover: MoverStatus,
    private readonly metrics: MoverMetrics,
    @Inject(READINESS_CHECK) private readonly readiness: ReadinessCheck,
  ) {}

  /** Alive: the process answers and no filesystem has failed (a failed engine needs a restart). */
  @Get('healthz')
  @HttpCode(200)
  healthz(): { status: string } {
    const failure = this.mover.failure();
    if (failure) throw new HttpException({ status: 'failed', reason: failure }, HttpStatus.SERVICE_UNAVAILABLE);
    return { status: 'ok' };
  }

  /** Ready: filesystems are open, the NFS listeners accept connections, and what the process
   * adds (the embedded start: its database) answers. */
  @Get('readyz')
  async readyz(): Promise<{ status: string; filesystems: number; connections: number }> {
    if (!this.mover.isReady()) throw new HttpException({ status: 'starting' }, HttpStatus.SERVICE_UNAVAILABLE);
    const notReady = await this.readiness();
    if (notReady) throw new HttpException({ status: 'not ready', reason: notReady }, HttpStatus.SERVICE_UNAVAILABLE);
    return { status: 'ready', filesystems: this.mover.filesystemCount(), connections: this.mover.connectionCount() };
  }

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async metricsText(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
