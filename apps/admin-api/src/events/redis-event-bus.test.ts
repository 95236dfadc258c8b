/**
 * Goal: an event published through the Redis EventBus in one Nest application reaches the
 * subscribers of another one within a second, by topic, and a failing handler harms nobody.
 * Method: two application contexts with EventsModule on the real Redis at 127.0.0.1:6379, each
 * with its own random channel prefix per test so parallel runs never see each other.
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import type { EventBus } from '@ferry/control';
import { afterEach, describe, expect, it } from 'vitest';
import { EVENT_BUS, EventsModule } from './events.module';
import { RedisEventBus, redisOptionsFromUrl } from '@ferry/control';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const apps: INestApplicationContext[] = [];

async function context(channelPrefix: string): Promise<{ app: INestApplicationContext; bus: EventBus }> {
  const app = await NestFactory.createApplicationContext(EventsModule.forRoot({ redisUrl: REDIS_URL, channelPrefix }), { logger: false });
  app.enableShutdownHooks();
  apps.push(app);
  await app.init();
  return { app, bus: app.get<EventBus>(EVENT_BUS) };
}

afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

function next(bus: EventBus, topic: string): Promise<{ payload: unknown; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => bus.subscribe(topic, (payload) => resolve({ payload, ms: Date.now() - t0 })));
}

describe('RedisEventBus', () => {
  it('delivers a publish to a subscriber in another application context within a second', async () => {
    const prefix = `ferrytest.${randomUUID()}.`;
    const mover = await context(prefix);
    const api = await context(prefix);
    expect(mover.bus).toBeInstanceOf(RedisEventBus);
    const exportsSeen: unknown[] = [];
    mover.bus.subscribe('exports.changed', (p) => exportsSeen.push(p));
    const fsEvent = next(mover.bus, 'filesystems.changed');
    const t0 = Date.now();
    await api.bus.publish('exports.changed', { exportId: 'e1', reason: 'updated' });
    await api.bus.publish('filesystems.changed', { filesystemId: 'f1' });
    const got = await fsEvent;
    expect(got.payload).toEqual({ filesystemId: 'f1' });
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(exportsSeen).toEqual([{ exportId: 'e1', reason: 'updated' }]);
  });

  it('delivers to every subscriber of the topic, to none of the others, and survives a throwing handler', async () => {
    const prefix = `ferrytest.${randomUUID()}.`;
    const a = await context(prefix);
    const b = await context(prefix);
    const other = await context(`ferrytest.${randomUUID()}.`);
    const seen: string[] = [];
    a.bus.subscribe('exports.changed', () => {
      throw new Error('handler bug');
    });
    a.bus.subscribe('exports.changed', (p) => seen.push(`a:${String(p)}`));
    b.bus.subscribe('exports.changed', (p) => seen.push(`b:${String(p)}`));
    b.bus.subscribe('filesystems.changed', (p) => seen.push(`b-fs:${String(p)}`));
    other.bus.subscribe('exports.changed', (p) => seen.push(`other:${String(p)}`));
    const bDone = next(b.bus, 'exports.changed');
    // The publisher hears its own events too: every process reloads on a change.
    await a.bus.publish('exports.changed', 'x');
    await bDone;
    await new Promise((r) => setTimeout(r, 200));
    expect(seen.sort()).toEqual(['a:x', 'b:x']);
  });

  it('falls back to the in-process bus without a Redis URL', async () => {
    const app = await NestFactory.createApplicationContext(EventsModule.forRoot({}), { logger: false });
    apps.push(app);
    const bus = app.get<EventBus>(EVENT_BUS);
    expect(bus).not.toBeInstanceOf(RedisEventBus);
    const got = next(bus, 't');
    await bus.publish('t', 1);
    expect((await got).payload).toBe(1);
  });
});

describe('redisOptionsFromUrl', () => {
  it('reads host, port, credentials, database and TLS', () => {
    expect(redisOptionsFromUrl('redis://127.0.0.1:6379')).toEqual({ host: '127.0.0.1', port: 6379 });
    expect(redisOptionsFromUrl('rediss://u%40x:p%3Aw@cache.local/3')).toEqual({
      host: 'cache.local',
      port: 6379,
      username: 'u@x',
      password: 'p:w',
      db: 3,
      tls: {},
    });
    expect(() => redisOptionsFromUrl('http://x')).toThrow(/redis:\/\//);
    expect(() => redisOptionsFromUrl('redis://x/abc')).toThrow(/database/);
    expect(() => redisOptionsFromUrl('not a url')).toThrow(/not a URL/);
  });
});
