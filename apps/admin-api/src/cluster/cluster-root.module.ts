/**
 * The cluster admin-api's Nest root: the admin module plus /healthz (alive), /readyz (the
 * database and Redis answer) and /metrics (the API's metrics and the controller's leadership),
 * the probes every Ferry process serves.
 */
import { Controller, Get, Header, HttpException, HttpStatus, Inject, Module, type DynamicModule } from '@nestjs/common';
import { Gauge, Registry } from 'prom-client';
import { AdminModule } from '../admin.module';
import type { AdminModuleOptions } from '../admin-options';

export interface ClusterProbes {
  registry: Registry;
  /** Undefined when ready, else why not. */
  notReady(): Promise<string | undefined>;
  isLeader(): boolean;
}

const PROBES = Symbol('CLUSTER_PROBES');

@Controller()
class ClusterHealthController {
  constructor(@Inject(PROBES) private readonly probes: ClusterProbes) {}

  @Get('healthz')
  healthz(): { status: string } {
    return { status: 'ok' };
  }

  @Get('readyz')
  async readyz(): Promise<{ status: string; controller: boolean }> {
    const why = await this.probes.notReady();
    if (why) throw new HttpException({ status: 'not ready', reason: why }, HttpStatus.SERVICE_UNAVAILABLE);
    return { status: 'ready', controller: this.probes.isLeader() };
  }

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  metrics(): Promise<string> {
    return this.probes.registry.metrics();
  }
}

@Module({})
export class ClusterRootModule {
  static forRoot(admin: AdminModuleOptions, probes: ClusterProbes): DynamicModule {
    new Gauge({
      name: 'ferry_controller_leader',
      help: '1 while this admin-api is the active placement controller',
      registers: [probes.registry],
      collect() {
        this.set(probes.isLeader() ? 1 : 0);
      },
    });
    return {
      module: ClusterRootModule,
      imports: [AdminModule.forRoot({ ...admin, metricsRegistry: probes.registry })],
      controllers: [ClusterHealthController],
      providers: [{ provide: PROBES, useValue: probes }],
    };
  }
}
