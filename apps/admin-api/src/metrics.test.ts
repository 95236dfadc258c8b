/**
 * Goal: the admin API's Prometheus metrics count every request by route template and status
 * (refusals by the token guard included) and report jobs by state from the database.
 * Method: the assembled application on a fresh database of the real PostgreSQL (supertest); the
 * module's registry is read as Prometheus text.
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiMetrics } from './common/metrics';
import { startHarness, type Harness } from './testing/harness';

describe('admin API metrics', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('counts requests by route and status, and jobs by state', async () => {
    const api = () => request(h.server);
    await api().get('/api/v1/filesystems').expect(401);
    await api().get('/api/v1/filesystems').set('Authorization', `Bearer ${h.adminToken}`).expect(200);
    await api().get('/api/v1/filesystems').set('Authorization', `Bearer ${h.adminToken}`).expect(200);
    await api().get('/api/v1/exports/00000000-0000-4000-8000-000000000000').set('Authorization', `Bearer ${h.adminToken}`).expect(404);
    await h.ds.query(`INSERT INTO jobs (type, params, state) VALUES ('scrub', '{}', 'failed'), ('scrub', '{}', 'failed')`);
    const text = await h.app.get(ApiMetrics).registry.metrics();
    expect(text).toMatch(/ferry_api_requests_total\{method="GET",route="\/api\/v1\/filesystems",status="401"\} 1\n/);
    expect(text).toMatch(/ferry_api_requests_total\{method="GET",route="\/api\/v1\/filesystems",status="200"\} 2\n/);
    expect(text).toMatch(/ferry_api_requests_total\{method="GET",route="\/api\/v1\/exports\/:id",status="404"\} 1\n/);
    expect(text).toMatch(/ferry_api_request_duration_seconds_count\{method="GET",route="\/api\/v1\/filesystems"\} 3\n/);
    expect(text).toMatch(/ferry_jobs\{state="failed"\} 2\n/);
  });
});
