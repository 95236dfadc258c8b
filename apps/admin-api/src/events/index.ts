export { EVENT_BUS, EventsModule, type EventsModuleOptions } from './events.module';
export { RedisEventBus, redisOptionsFromUrl, type RedisEventBusOptions, type RedisConnection } from '@ferry/control';
