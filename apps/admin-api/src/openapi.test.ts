/**
 * Goal: the committed openapi.json is exactly what the code generates, and the running API
 * serves the same document at /api/docs-json. Method: generate the document from the module
 * (no database), compare it byte for byte with the file; with UPDATE_OPENAPI=1 rewrite the file.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { generateOpenApiJson } from './openapi';
import { ferryVersion } from './services/status.service';
import { startHarness } from './testing/harness';

const FILE = join(__dirname, '..', '..', '..', 'openapi.json');
const HOW = 'openapi.json is out of date: regenerate it with `UPDATE_OPENAPI=1 npx vitest run --project unit apps/admin-api/src/openapi.test.ts` (or `node dist/apps/admin-api/src/openapi-cli.js` after a build) and commit it';

describe('openapi.json', () => {
  it('matches what the code generates', async () => {
    const generated = await generateOpenApiJson(ferryVersion());
    if (process.env.UPDATE_OPENAPI === '1') await writeFile(FILE, generated);
    const committed = await readFile(FILE, 'utf8').catch(() => '');
    expect(committed === generated, HOW).toBe(true);
    const doc = JSON.parse(generated);
    for (const path of ['/api/v1/filesystems', '/api/v1/filesystems/{id}', '/api/v1/exports', '/api/v1/jobs/{id}/cancel', '/api/v1/tokens', '/api/v1/audit']) {
      expect(Object.keys(doc.paths)).toContain(path);
    }
    expect(doc.components.schemas.CreateExportDto.required).toEqual(expect.arrayContaining(['filesystemId', 'path', 'clients']));
  });

  it('is served at /api/docs-json', async () => {
    const h = await startHarness({ version: ferryVersion() });
    try {
      const res = await request(h.server).get('/api/docs-json').expect(200);
      expect(`${JSON.stringify(res.body, null, 2)}\n`).toBe(await generateOpenApiJson(ferryVersion()));
      await request(h.server).get('/api/docs').expect(200);
    } finally {
      await h.close();
    }
  });
});
