/**
 * The EventBus over Redis (REDIS_URL set), on the Nest microservices Redis transport: a
 * ClientRedis publishes, a ServerRedis of this process subscribes. One pattern subscription
 * (`<prefix>*`) carries every topic, so `subscribe` works before and after the bus connects.
 * Delivery is Redis pub/sub: at most once, only to subscribers connected at the time; subscribers
 * also reload on a timer (see libs/control/src/events.ts), so a lost event only delays a change.
 * Payloads travel as JSON (no bigint: send ids as strings). Handlers run after `publish` returns
 * and a throwing handler is logged, never propagated.
 */
import { Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ClientRedis, RedisContext, ServerRedis } from '@nestjs/microservices';
import type { EventBus } from './events';
import { lastValueFrom } from 'rxjs';
import { redisOptionsFromUrl, redisPrefix } from './redis-options';

export interface RedisEventBusOptions {
  redisUrl: string;
  /** Prefix of the Redis channels (default `ferry.events.`); tests use a random one. */
  channelPrefix?: string;
}

export class RedisEventBus implements EventBus, OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RedisEventBus.name);
  private readonly prefix: string;
  private readonly client: ClientRedis;
  private readonly server: ServerRedis;
  private readonly handlers = new Map<string, Array<(payload: unknown) => void>>();
  private connecting?: Promise<void>;
  private closed = false;

  constructor(opts: RedisEventBusOptions) {
    this.prefix = opts.channelPrefix ?? `${redisPrefix()}.events.`;
    // Glob characters in the prefix would widen the pattern subscription to foreign channels.
    if (/[*?[\]\\]/.test(this.prefix)) throw new Error(`event channel prefix must not contain glob characters: ${this.prefix}`);
    const redis = redisOptionsFromUrl(opts.redisUrl);
    this.client = new ClientRedis({ ...redis });
    this.server = new ServerRedis({ ...redis, wildcards: true });
    this.server.addHandler(`${this.prefix}*`, async (payload: unknown, ctx: RedisContext) => this.dispatch(ctx.getChannel(), payload), true);
  }

  async onModuleInit(): Promise<void> {
    await this.connect();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  /** Connects the publisher and the subscription; resolves once events published from now on arrive here. */
  connect(): Promise<void> {
    this.connecting ??= (async () => {
      await this.client.connect();
      await new Promise<void>((resolve, reject) => {
        void this.server.listen((err?: unknown) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()));
      });
      // listen() answers once connected; the PSUBSCRIBE it sent is confirmed by a round trip after it.
      const sub = this.server.unwrap<[unknown, { ping(): Promise<unknown> }]>()[1]; // [pub, sub]
      await sub.ping();
    })();
    return this.connecting;
  }

  async publish(topic: string, payload: unknown): Promise<void> {
    if (this.closed) throw new Error('event bus closed');
    await this.connect();
    await lastValueFrom(this.client.emit(this.prefix + topic, payload ?? null), { defaultValue: undefined });
  }

  subscribe(topic: string, handler: (payload: unknown) => void): void {
    const list = this.handlers.get(topic) ?? [];
    list.push(handler);
    this.handlers.set(topic, list);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([this.client.close(), this.server.close()]);
  }

  private dispatch(channel: string, payload: unknown): void {
    if (!channel.startsWith(this.prefix)) return;
    const topic = channel.slice(this.prefix.length);
    for (const handler of this.handlers.get(topic) ?? []) {
      try {
        handler(payload);
      } catch (err) {
        this.logger.error(`event handler for ${topic} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
    }
  }
}
