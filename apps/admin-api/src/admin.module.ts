/**
 * The admin REST API as one Nest dynamic module (docs/control-plane.md).
 *
 * Wiring (the embedded start composes it with the mover module in one application):
 *
 *   const app = await NestFactory.create(RootModule, { bodyParser: false });   // required: the
 *   //   module reads JSON bodies itself (1 MiB limit, problem+json errors)
 *   RootModule imports AdminModule.forRoot({
 *     dataSource,        // initialised + runMigrations() by the caller, or `url` instead
 *     storageHost,       // the mover's StorageHost (token STORAGE_HOST), optional
 *     jobs,              // JobQueue (libs/control/src/jobs): enqueue(type, params, opts), cancel(id)
 *     events,            // EventBus: InProcessEventBus, or the Redis one
 *     dataDir,           // $FERRY_DATA_DIR: admin-token is written there at first start
 *     logger,            // pino
 *     redis,             // optional { ping() } for /status and /api/v1/health
 *   })
 *   setupAdminApp(app)  // OpenAPI at /api/docs and /api/docs-json
 *
 * Routes: /api/v1/{status,pools,filesystems,exports,movers,jobs,tokens,audit} behind the bearer
 * guard, and /api/v1/health open for probes. Guard, validation, audit and the problem+json filter
 * are applied per controller, so other modules' routes in the same application are untouched.
 *
 * At application bootstrap the module creates the first admin token when none is usable, and
 * registers the storage host's pool as `pool0` (with its devices) when missing.
 *
 * Job types it queues: `format` {filesystemId, fsid, sizeBytes} on filesystem create (its
 * processor must set the filesystem `ready`, or `failed`), `scrub` and `fsck` {filesystemId, fsid}.
 */
import { type DynamicModule, Inject, type MiddlewareConsumer, Module, type NestModule, type OnApplicationShutdown, type Provider } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import type { DataSource } from 'typeorm';
import { createDataSource, runMigrations } from '@ferry/control';
import { ADMIN_DATA_SOURCE, ADMIN_OPTIONS, type AdminModuleOptions } from './admin-options';
import { AuditInterceptor, AuditService } from './common/audit';
import { AuthGuard } from './common/auth.guard';
import { ApiMetrics, MetricsMiddleware } from './common/metrics';
import { JsonBodyMiddleware } from './common/json-body.middleware';
import { ProblemFilter } from './common/problem.filter';
import { ExportController } from './controllers/export.controller';
import { FilesystemController } from './controllers/filesystem.controller';
import { AdminHealthController } from './controllers/health.controller';
import { JobController } from './controllers/job.controller';
import { MoverController } from './controllers/mover.controller';
import { PoolController } from './controllers/pool.controller';
import { AuditController, StatusController } from './controllers/status.controller';
import { TokenController } from './controllers/token.controller';
import { ExportService } from './services/export.service';
import { FilesystemService } from './services/filesystem.service';
import { JobService } from './services/job.service';
import { MoverService } from './services/mover.service';
import { PoolService } from './services/pool.service';
import { StatusService } from './services/status.service';
import { TokenService } from './services/token.service';

const API_CONTROLLERS = [
  StatusController,
  PoolController,
  FilesystemController,
  ExportController,
  MoverController,
  JobController,
  TokenController,
  AuditController,
];

/** Destroys a DataSource the module made itself (from `url`); one passed in belongs to the caller. */
class OwnedDataSourceCloser implements OnApplicationShutdown {
  constructor(
    @Inject(ADMIN_DATA_SOURCE) private readonly ds: DataSource,
    @Inject(ADMIN_OPTIONS) private readonly options: AdminModuleOptions,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    if (!this.options.dataSource && this.ds.isInitialized) await this.ds.destroy();
  }
}

@Module({})
export class AdminModule implements NestModule {
  static forRoot(options: AdminModuleOptions): DynamicModule {
    if (!options.dataSource && !options.url) throw new Error('AdminModule.forRoot needs dataSource or url');
    const dataSource: Provider = options.dataSource
      ? { provide: ADMIN_DATA_SOURCE, useValue: options.dataSource }
      : {
          provide: ADMIN_DATA_SOURCE,
          useFactory: async () => {
            const ds = createDataSource({ url: options.url! });
            await ds.initialize();
            await runMigrations(ds);
            return ds;
          },
        };
    return {
      module: AdminModule,
      imports: [TerminusModule.forRoot({ logger: false })],
      controllers: [...API_CONTROLLERS, AdminHealthController],
      providers: [
        { provide: ADMIN_OPTIONS, useValue: options },
        dataSource,
        OwnedDataSourceCloser,
        AuditService,
        AuditInterceptor,
        ApiMetrics,
        AuthGuard,
        ProblemFilter,
        TokenService,
        PoolService,
        FilesystemService,
        ExportService,
        MoverService,
        JobService,
        StatusService,
      ],
      exports: [TokenService, ExportService, ApiMetrics, ADMIN_DATA_SOURCE],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(MetricsMiddleware, JsonBodyMiddleware).forRoutes(...API_CONTROLLERS);
  }
}
