import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';

export const OPENAPI_PATH = 'api/docs';

/** The OpenAPI document of the admin API, as committed in openapi.json. */
export function buildOpenApiDocument(app: INestApplication, version: string): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Ferry admin API')
    .setDescription(
      'Configuration of Ferry: pools, filesystems, exports, data movers, jobs, API tokens and the audit log. ' +
        'Bearer tokens (`ferry_...`); read-only tokens may GET, changes need admin. Errors are application/problem+json (RFC 9457).',
    )
    .setVersion(version)
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'ferry_<43 base64url>' })
    .build();
  return SwaggerModule.createDocument(app, config, { operationIdFactory: (controller, method) => `${controller.replace(/Controller$/, '')}_${method}` });
}

/** Serves the document at /api/docs (UI) and /api/docs-json. */
export function setupAdminApp(app: INestApplication, version: string): OpenAPIObject {
  const document = buildOpenApiDocument(app, version);
  SwaggerModule.setup(OPENAPI_PATH, app, document, { jsonDocumentUrl: `${OPENAPI_PATH}-json` });
  return document;
}

/**
 * The committed openapi.json, generated from the code alone: the module is built with a
 * DataSource that never connects and doubles for queue and bus (nothing is initialised, so no
 * bootstrap runs). Deterministic: the same code gives the same bytes.
 */
export async function generateOpenApiJson(version: string): Promise<string> {
  const { Module } = await import('@nestjs/common');
  const { NestFactory } = await import('@nestjs/core');
  const { createDataSource, InProcessEventBus } = await import('@ferry/control');
  const { AdminModule } = await import('./admin.module');
  const silent = { info: () => {}, warn: () => {}, error: () => {} };
  const forRoot = AdminModule.forRoot({
    dataSource: createDataSource({ url: 'postgres://openapi@127.0.0.1:1/never-connected' }),
    jobs: { enqueue: () => Promise.reject(new Error('unused')), cancel: () => Promise.resolve() },
    events: new InProcessEventBus(),
    logger: silent,
    version,
  });
  @Module({ imports: [forRoot] })
  class OpenApiRootModule {}
  const app = await NestFactory.create(OpenApiRootModule, { bodyParser: false, logger: false, abortOnError: false });
  try {
    return `${JSON.stringify(buildOpenApiDocument(app, version), null, 2)}\n`;
  } finally {
    await app.close();
  }
}
