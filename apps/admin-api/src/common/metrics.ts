/**
 * Prometheus metrics of the admin API: requests by route and status, their latency, and jobs by
 * state (read from the database when scraped). They go into the registry the process gives
 * (the embedded start: the mover's, so one /metrics shows both), else a registry of their own.
 */
import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DataSource } from 'typeorm';
import { ADMIN_DATA_SOURCE, ADMIN_OPTIONS, type AdminModuleOptions } from '../admin-options';

@Injectable()
export class ApiMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly duration: Histogram<'method' | 'route'>;

  constructor(@Inject(ADMIN_OPTIONS) options: AdminModuleOptions, @Inject(ADMIN_DATA_SOURCE) ds: DataSource) {
    this.registry = options.metricsRegistry ?? new Registry();
    this.requests = new Counter({
      name: 'ferry_api_requests_total',
      help: 'Admin API requests by route template and HTTP status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.duration = new Histogram({
      name: 'ferry_api_request_duration_seconds',
      help: 'Admin API request latency by route template',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    new Gauge({
      name: 'ferry_jobs',
      help: 'Jobs by state (from the control-plane database when scraped)',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        this.reset();
        if (!ds.isInitialized) return;
        const rows = (await ds.query('SELECT state, count(*)::int AS n FROM jobs GROUP BY state')) as Array<{ state: string; n: number }>;
        for (const r of rows) this.set({ state: r.state }, r.n);
      },
    });
  }
}

/** Counts every API request when its response finishes (refusals by the guard included); the
 * route template is known by then. */
@Injectable()
export class MetricsMiddleware implements NestMiddleware {
  constructor(private readonly metrics: ApiMetrics) {}

  use(req: IncomingMessage & { route?: { path?: string } }, res: ServerResponse, next: () => void): void {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const route = req.route?.path ?? 'unmatched';
      const method = req.method ?? 'GET';
      this.metrics.requests.inc({ method, route, status: String(res.statusCode) });
      this.metrics.duration.observe({ method, route }, Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  }
}
