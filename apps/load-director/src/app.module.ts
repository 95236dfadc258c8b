import { type DynamicModule, Module } from '@nestjs/common';
import type { DirectorConfig, Logger } from '@ferry/platform';
import { DirectorService } from './director.service';
import { HealthController } from './health.controller';
import { CONFIG, LOGGER } from './tokens';

@Module({})
export class DirectorModule {
  static forRoot(config: DirectorConfig, logger: Logger): DynamicModule {
    return {
      module: DirectorModule,
      controllers: [HealthController],
      providers: [{ provide: CONFIG, useValue: config }, { provide: LOGGER, useValue: logger }, DirectorService],
    };
  }
}
