import { type DynamicModule, Module } from '@nestjs/common';
import { MoverMetrics, type Logger, type MoverConfig } from '@ferry/platform';
import { HealthController } from './health.controller';
import { MoverService } from './mover.service';
import { CONFIG, EXPORTS_SOURCE, LOGGER, MOVER_STATUS, READINESS_CHECK, STORAGE_HOST, type ExportsSource, type ReadinessCheck } from './tokens';

export interface MoverModuleOptions {
  /** `file` (default: exports.json) or `control` (applied through the StorageHost). */
  exportsSource?: ExportsSource;
  /** Shared with other modules of the process, so /metrics shows theirs too. */
  metrics?: MoverMetrics;
  /** Checked by /readyz besides the mover itself. */
  readiness?: ReadinessCheck;
}

@Module({})
export class AppModule {
  static forRoot(config: MoverConfig, logger: Logger, opts: MoverModuleOptions = {}): DynamicModule {
    return {
      module: AppModule,
      controllers: [HealthController],
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
        { provide: EXPORTS_SOURCE, useValue: opts.exportsSource ?? 'file' },
        { provide: READINESS_CHECK, useValue: opts.readiness ?? (() => Promise.resolve(undefined)) },
        { provide: MoverMetrics, useValue: opts.metrics ?? new MoverMetrics() },
        MoverService,
        { provide: MOVER_STATUS, useExisting: MoverService },
        // The host of the pool this mover holds; its pool is bound at application bootstrap.
        { provide: STORAGE_HOST, useFactory: (mover: MoverService) => mover.storageHost, inject: [MoverService] },
      ],
      exports: [MoverService, STORAGE_HOST],
    };
  }
}
