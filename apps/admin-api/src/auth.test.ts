/**
 * Goal: the admin API lets in only valid tokens, only admins change things, the first admin
 * token is made once and kept owner-only, and every refused request answers problem+json.
 * Method: the assembled Nest application (AdminModule) on a fresh database of the real
 * PostgreSQL, driven through supertest; the audit_log and api_tokens tables are read directly.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiTokenEntity, AuditLogEntity, generateToken } from '@ferry/control';
import { TokenService } from './services/token.service';
import { startHarness, type Harness } from './testing/harness';

describe('admin API authentication and roles', () => {
  let h: Harness;
  let readOnly: string;
  const api = () => request(h.server);

  beforeAll(async () => {
    h = await startHarness();
    const res = await api()
      .post('/api/v1/tokens')
      .set('Authorization', `Bearer ${h.adminToken}`)
      .send({ name: 'viewer', role: 'read-only' })
      .expect(201);
    readOnly = res.body.token;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('made the first admin token once: file 0600, logged, only its hash stored', async () => {
    expect(h.adminToken).toMatch(/^ferry_[A-Za-z0-9_-]{43}$/);
    expect((await stat(join(h.dataDir, 'admin-token'))).mode & 0o777).toBe(0o600);
    expect(h.logs.some((l) => l.msg?.includes(h.adminToken))).toBe(true);
    const rows = await h.ds.getRepository(ApiTokenEntity).find();
    expect(rows.map((r) => r.name).sort()).toEqual(['admin', 'viewer']);
    for (const r of rows) {
      expect(r.tokenHash).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(r)).not.toContain(h.adminToken.slice(10));
    }
    // A second bootstrap (a restart) makes nothing while an admin token is usable.
    expect(await h.app.get(TokenService).bootstrapAdminToken()).toBeUndefined();
    expect(await h.ds.getRepository(ApiTokenEntity).count()).toBe(2);
  });

  it('answers 401 problem+json without a token, with a bad one, or a malformed header', async () => {
    for (const auth of [undefined, 'Bearer nope', `Bearer ${generateToken()}`, `Basic ${h.adminToken}`, h.adminToken]) {
      const req = api().get('/api/v1/filesystems');
      if (auth) req.set('Authorization', auth);
      const res = await req.expect(401);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(res.body).toMatchObject({ status: 401, title: 'Unauthorized', type: 'urn:ferry:problem:unauthenticated' });
      expect(res.body.detail).toEqual(expect.any(String));
    }
  });

  it('lets a read-only token read but not change (403), and audits the refusal', async () => {
    await api().get('/api/v1/filesystems').set('Authorization', `Bearer ${readOnly}`).expect(200);
    await api().get('/api/v1/status').set('Authorization', `Bearer ${readOnly}`).expect(200);
    const res = await api()
      .post('/api/v1/filesystems')
      .set('Authorization', `Bearer ${readOnly}`)
      .send({ name: 'ro-try', sizeBytes: 2 ** 30 })
      .expect(403);
    expect(res.body).toMatchObject({ status: 403, type: 'urn:ferry:problem:forbidden' });
    expect(await h.ds.query(`SELECT 1 FROM filesystems`)).toEqual([]);
    const audit = await h.ds.getRepository(AuditLogEntity).findOneByOrFail({ action: 'filesystem.create', status: 403 });
    expect(audit.actor).toBe('viewer');
    // Admin-only reads.
    await api().get('/api/v1/tokens').set('Authorization', `Bearer ${readOnly}`).expect(403);
    await api().get('/api/v1/audit').set('Authorization', `Bearer ${readOnly}`).expect(403);
  });

  it('audits an unauthenticated change attempt as anonymous', async () => {
    await api().delete('/api/v1/exports/00000000-0000-4000-8000-000000000000').expect(401);
    const row = await h.ds.getRepository(AuditLogEntity).findOneByOrFail({ action: 'export.delete', status: 401 });
    expect(row.actor).toBe('anonymous');
  });

  it('refuses a revoked token (401) and lists tokens without secrets', async () => {
    const made = await api()
      .post('/api/v1/tokens')
      .set('Authorization', `Bearer ${h.adminToken}`)
      .send({ name: 'short-lived', role: 'admin' })
      .expect(201);
    await api().get('/api/v1/jobs').set('Authorization', `Bearer ${made.body.token}`).expect(200);
    await api().delete(`/api/v1/tokens/${made.body.id}`).set('Authorization', `Bearer ${h.adminToken}`).expect(204);
    await api().get('/api/v1/jobs').set('Authorization', `Bearer ${made.body.token}`).expect(401);
    const list = await api().get('/api/v1/tokens').set('Authorization', `Bearer ${h.adminToken}`).expect(200);
    expect(list.body).toMatchObject({ total: 3, limit: 50, offset: 0 });
    expect(JSON.stringify(list.body)).not.toMatch(/ferry_[A-Za-z0-9_-]{43}/);
    const revoked = list.body.items.find((t: { name: string }) => t.name === 'short-lived');
    expect(revoked.revokedAt).not.toBeNull();
    // Names stay unique, revoked or not.
    const dup = await api()
      .post('/api/v1/tokens')
      .set('Authorization', `Bearer ${h.adminToken}`)
      .send({ name: 'short-lived', role: 'admin' })
      .expect(409);
    expect(dup.body.type).toBe('urn:ferry:problem:conflict');
  });

  it('keeps /api/v1/health open for probes', async () => {
    const res = await api().get('/api/v1/health').expect(200);
    expect(res.body).toMatchObject({ status: 'ok', info: { database: { status: 'up' } } });
  });
});
