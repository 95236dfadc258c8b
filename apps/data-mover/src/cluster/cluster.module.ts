import { type DynamicModule, Module } from '@nestjs/common';
import { MoverMetrics, type Logger, type MoverConfig } from '@ferry/platform';
import { HealthController } from '../health.controller';
import { CONFIG, LOGGER, MOVER_STATUS, READINESS_CHECK, STORAGE_HOST } from '../tokens';
import type { ClusterMoverConfig } from './cluster-config';
import { CLUSTER_CONFIG, ClusterMoverService } from './cluster-mover.service';

/** The cluster mover (`dist/apps/data-mover/src/cluster-main.js`): see ClusterMoverService. */
@Module({})
export class ClusterMoverModule {
  static forRoot(config: MoverConfig, cluster: ClusterMoverConfig, logger: Logger): DynamicModule {
    return {
      module: ClusterMoverModule,
      controllers: [HealthController],
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: CLUSTER_CONFIG, useValue: cluster },
        { provide: LOGGER, useValue: logger },
        { provide: READINESS_CHECK, useValue: () => Promise.resolve(undefined) },
        { provide: MoverMetrics, useValue: new MoverMetrics() },
        ClusterMoverService,
        { provide: MOVER_STATUS, useExisting: ClusterMoverService },
        { provide: STORAGE_HOST, useFactory: (mover: ClusterMoverService) => mover.storageHost, inject: [ClusterMoverService] },
      ],
    };
  }
}
