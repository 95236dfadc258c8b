export { EVENT_BUS, EventsModule, type EventsModuleOptions } from './events.module';
export { RedisEventBus, type RedisEventBusOptions } from './redis-event-bus';
export { redisOptionsFromUrl, type RedisConnection } from './redis-options';
