/**
 * Provides the EventBus under EVENT_BUS: on Redis when `redisUrl` is set (REDIS_URL), in-process
 * otherwise (the embedded start). Global, so the services that publish after a commit and the
 * mover that reloads on an event inject the same bus.
 */
import { Logger, Module, type DynamicModule } from '@nestjs/common';
import { InProcessEventBus, type EventBus } from '@ferry/control';
import { RedisEventBus } from '@ferry/control';

export const EVENT_BUS = 'FERRY_EVENT_BUS';

export interface EventsModuleOptions {
  redisUrl?: string;
  /** Redis channel prefix (default `ferry.events.`). */
  channelPrefix?: string;
}

@Module({})
export class EventsModule {
  static forRoot(opts: EventsModuleOptions): DynamicModule {
    return {
      module: EventsModule,
      global: true,
      providers: [
        {
          provide: EVENT_BUS,
          useFactory: (): EventBus => {
            if (opts.redisUrl) return new RedisEventBus({ redisUrl: opts.redisUrl, channelPrefix: opts.channelPrefix });
            const logger = new Logger('InProcessEventBus');
            return new InProcessEventBus((topic, err) => logger.error(`event handler for ${topic} failed: ${String(err)}`));
          },
        },
      ],
      exports: [EVENT_BUS],
    };
  }
}
