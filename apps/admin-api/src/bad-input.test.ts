/**
 * Goal: bad input gets a clear 4xx problem+json and writes nothing: malformed JSON, wrong types,
 * unknown fields, huge bodies, export path traversal, bad client patterns and query values.
 * Method: the assembled Nest application on a fresh database of the real PostgreSQL, raw
 * requests through supertest; after each refusal the tables are checked to be unchanged.
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLogEntity, ExportEntity, FilesystemEntity } from '@ferry/control';
import { startHarness, type Harness } from './testing/harness';

describe('admin API bad input', () => {
  let h: Harness;
  let fsId: string;
  const post = (path: string) => request(h.server).post(`/api/v1${path}`).set('Authorization', `Bearer ${h.adminToken}`);
  const counts = async () => ({
    filesystems: await h.ds.getRepository(FilesystemEntity).count(),
    exports: await h.ds.getRepository(ExportEntity).count(),
  });

  beforeAll(async () => {
    h = await startHarness();
    const res = await post('/filesystems').send({ name: 'base', sizeBytes: 2 ** 30 }).expect(202);
    fsId = res.body.filesystem.id;
    await h.ds.getRepository(FilesystemEntity).update({ id: fsId }, { state: 'ready' });
  });
  afterAll(async () => {
    await h?.close();
  });

  function expectProblem(res: request.Response, status: number): void {
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ status, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
  }

  it('answers malformed JSON with 400 and audits it with the actor', async () => {
    const before = await counts();
    const res = await post('/filesystems').set('Content-Type', 'application/json').send('{"name": "x", "sizeBytes": ');
    expectProblem(res, 400);
    expect(res.body.detail).toMatch(/malformed JSON/);
    expect(await counts()).toEqual(before);
    const row = await h.ds.getRepository(AuditLogEntity).findOneByOrFail({ action: 'filesystem.create', status: 400 });
    expect(row.actor).toBe('admin');
  });

  it('authenticates before it parses: bad JSON without a token is 401', async () => {
    const res = await request(h.server).post('/api/v1/filesystems').set('Content-Type', 'application/json').send('{oops');
    expectProblem(res, 401);
  });

  it('refuses a body that is not application/json, or not an object', async () => {
    expectProblem(await post('/filesystems').set('Content-Type', 'text/plain').send('name=x'), 400);
    expectProblem(await post('/filesystems').send([{ name: 'x', sizeBytes: 1 }]), 400);
    expectProblem(await post('/filesystems').set('Content-Type', 'application/json').send('"just a string"'), 400);
  });

  it('refuses wrong types field by field, without coercing', async () => {
    const res = await post('/filesystems').send({ name: 5, sizeBytes: '10' });
    expectProblem(res, 400);
    expect(Object.keys(res.body.errors).sort()).toEqual(['name', 'sizeBytes']);
    expectProblem(await post('/filesystems').send({ name: 'ok', sizeBytes: 1.5 }), 400);
    expectProblem(await post('/filesystems').send({ name: 'ok', sizeBytes: -1 }), 400);
    expectProblem(await post('/filesystems').send({ name: 'Bad Name', sizeBytes: 1 }), 400);
    expectProblem(await post('/exports').send({ filesystemId: fsId, path: '/x', clients: ['*'], rootSquash: 'yes' }), 400);
    expect((await counts()).filesystems).toBe(1);
  });

  it('refuses unknown fields (not silently dropped)', async () => {
    const res = await post('/filesystems').send({ name: 'extra', sizeBytes: 2 ** 30, owner: 'me' });
    expectProblem(res, 400);
    expect(res.body.errors).toEqual({ owner: ['property owner should not exist'] });
    expect(await h.ds.getRepository(FilesystemEntity).countBy({ name: 'extra' })).toBe(0);
  });

  it('answers a body over 1 MiB with 413', async () => {
    const before = await counts();
    const huge = JSON.stringify({ name: 'huge', sizeBytes: 1, pad: 'x'.repeat(2 * 1024 * 1024) });
    const res = await post('/filesystems').set('Content-Type', 'application/json').send(huge);
    expectProblem(res, 413);
    expect(await counts()).toEqual(before);
  });

  it.each(['/a/../b', '/a/./b', '//', '/a//b', '/..', 'relative', '/a/', '/nul\u0000byte', `/${'x'.repeat(1024)}`])(
    'refuses the export path %j (400) and writes nothing',
    async (path) => {
      const before = await counts();
      const res = await post('/exports').send({ filesystemId: fsId, path, clients: ['*'] });
      expectProblem(res, 400);
      expect(res.body.errors.path).toEqual([expect.stringMatching(/path must/)]);
      expect(await counts()).toEqual(before);
    },
  );

  it('refuses bad client patterns and empty client lists', async () => {
    for (const clients of [['host.example.com'], ['10.0.0.0/33'], [], 'everyone', [7]]) {
      const res = await post('/exports').send({ filesystemId: fsId, path: '/c', clients });
      expectProblem(res, 400);
      expect(res.body.errors.clients).toBeDefined();
    }
    expect((await counts()).exports).toBe(0);
  });

  it('checks list queries: limit 1..500, offset >= 0, no unknown parameters', async () => {
    const get = (q: string) => request(h.server).get(`/api/v1/filesystems${q}`).set('Authorization', `Bearer ${h.adminToken}`);
    for (const q of ['?limit=0', '?limit=501', '?limit=abc', '?offset=-1', '?sort=name']) expectProblem(await get(q), 400);
    const ok = await get('?limit=500&offset=0').expect(200);
    expect(ok.body).toMatchObject({ limit: 500, offset: 0, total: 1 });
  });
});
