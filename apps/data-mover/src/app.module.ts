import { type DynamicModule, Module } from '@nestjs/common';
import { MoverMetrics, type Logger, type MoverConfig } from '@ferry/platform';
import { HealthController } from './health.controller';
import { MoverService } from './mover.service';
import { CONFIG, EXPORTS_SOURCE, LOGGER, STORAGE_HOST, type ExportsSource } from './tokens';

@Module({})
export class AppModule {
  static forRoot(config: MoverConfig, logger: Logger, exportsSource: ExportsSource = 'file'): DynamicModule {
    return {
      module: AppModule,
      controllers: [HealthController],
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
        { provide: EXPORTS_SOURCE, useValue: exportsSource },
        { provide: MoverMetrics, useValue: new MoverMetrics() },
        MoverService,
        // The host of the pool this mover holds; its pool is bound at application bootstrap.
        { provide: STORAGE_HOST, useFactory: (mover: MoverService) => mover.storageHost, inject: [MoverService] },
      ],
      exports: [MoverService, STORAGE_HOST],
    };
  }
}
