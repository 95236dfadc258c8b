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
