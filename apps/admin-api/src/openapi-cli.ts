/**
 * Regenerates openapi.json from the code: `node dist/apps/admin-api/src/openapi-cli.js [FILE]`
 * after a build (default FILE: ./openapi.json), or without a build:
 * `UPDATE_OPENAPI=1 npx vitest run --project unit apps/admin-api/src/openapi.test.ts`.
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { generateOpenApiJson } from './openapi';
import { ferryVersion } from './services/status.service';

async function main(): Promise<void> {
  const file = resolve(process.argv[2] ?? 'openapi.json');
  await writeFile(file, await generateOpenApiJson(ferryVersion()));
  process.stdout.write(`wrote ${file}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
