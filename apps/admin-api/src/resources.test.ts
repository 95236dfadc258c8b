/**
 * Goal: every resource of the admin API does its happy path and answers its documented errors
 * (404, 409, 422) without leaving anything half-written, with an audit row for each change.
 * Method: the assembled Nest application on a fresh database of the real PostgreSQL, with a
 * StorageHost double and a job-queue double that writes real `jobs` rows; tables read directly.
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLogEntity, FilesystemEntity, JobEntity, MoverEntity } from '@ferry/control';
import { startHarness, type Harness } from './testing/harness';

const GiB = 2 ** 30;
const MISSING = '00000000-0000-4000-8000-000000000000';

describe('admin API resources', () => {
  let h: Harness;
  const as = (method: 'get' | 'post' | 'patch' | 'delete', path: string) =>
    request(h.server)[method](`/api/v1${path}`).set('Authorization', `Bearer ${h.adminToken}`);
  const audit = (action: string) => h.ds.getRepository(AuditLogEntity).find({ where: { action }, order: { at: 'ASC' } });

  /** Creates a filesystem and plays the format processor: the row becomes ready. */
  async function readyFilesystem(name: string, sizeBytes = 10 * GiB): Promise<{ id: string; fsid: number }> {
    const res = await as('post', '/filesystems').send({ name, sizeBytes }).expect(202);
    const fs = res.body.filesystem;
    await h.host.createFilesystem(BigInt(fs.fsid), sizeBytes);
    await h.ds.getRepository(FilesystemEntity).update({ id: fs.id }, { state: 'ready' });
    return { id: fs.id, fsid: fs.fsid };
  }

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('registered the host pool with its devices, and reports capacity', async () => {
    const res = await as('get', '/pools').expect(200);
    expect(res.body).toMatchObject({ total: 1, limit: 50, offset: 0 });
    const pool = res.body.items[0];
    expect(pool).toMatchObject({
      name: 'pool0',
      sliceBytes: 256 * 2 ** 20,
      capacity: { totalSlices: 256, freeSlices: 200, totalBytes: 64 * GiB, usedBytes: 56 * 256 * 2 ** 20 },
    });
    expect(pool.devices).toEqual([expect.objectContaining({ path: '/data/pool0.img', deviceIndex: 0, slices: 256 })]);
    await as('get', `/pools/${pool.id}`).expect(200);
    await as('get', `/pools/${MISSING}`).expect(404);
    await as('get', '/pools/not-a-uuid').expect(404);
  });

  it('adds a device online; a duplicate path is 409 and reaches no engine', async () => {
    const pool = (await as('get', '/pools').expect(200)).body.items[0];
    const res = await as('post', `/pools/${pool.id}/devices`).send({ path: '/data/pool1.img', sizeBytes: 16 * GiB }).expect(201);
    expect(res.body.devices.map((d: { path: string }) => d.path)).toEqual(['/data/pool0.img', '/data/pool1.img']);
    expect(res.body.capacity.totalSlices).toBe(256 + 64);
    const calls = h.host.calls.length;
    await as('post', `/pools/${pool.id}/devices`).send({ path: '/data/pool1.img', sizeBytes: GiB }).expect(409);
    expect(h.host.calls.length).toBe(calls);
    await as('post', `/pools/${MISSING}/devices`).send({ path: '/data/x.img', sizeBytes: GiB }).expect(404);
    expect((await audit('pool.device.add')).map((a) => a.status)).toEqual([201, 409, 404]);
  });

  it('creates a filesystem: 202 with the format job, row creating, fsid from 2, event, audit', async () => {
    const res = await as('post', '/filesystems').send({ name: 'home', sizeBytes: 10 * GiB }).expect(202);
    expect(res.body.filesystem).toMatchObject({ name: 'home', sizeBytes: 10 * GiB, state: 'creating', fsid: 2 });
    expect(res.body.job).toMatchObject({ type: 'format', state: 'queued', params: { filesystemId: res.body.filesystem.id, fsid: '2' } });
    expect(h.jobs.enqueued.at(-1)).toMatchObject({ type: 'format', opts: { idempotencyKey: `format:${res.body.filesystem.id}`, createdBy: 'admin' } });
    expect(h.events.at(-1)?.topic).toBe('filesystems.changed');
    const rows = await audit('filesystem.create');
    expect(rows.at(-1)).toMatchObject({ actor: 'admin', target: res.body.filesystem.id, status: 202 });
  });

  it('refuses a duplicate filesystem name (409) and leaves one row and one job', async () => {
    const jobsBefore = await h.ds.getRepository(JobEntity).count();
    const res = await as('post', '/filesystems').send({ name: 'home', sizeBytes: GiB }).expect(409);
    expect(res.body).toMatchObject({ status: 409, detail: expect.stringContaining('home') });
    expect(await h.ds.getRepository(FilesystemEntity).countBy({ name: 'home' })).toBe(1);
    expect(await h.ds.getRepository(JobEntity).count()).toBe(jobsBefore);
    expect((await audit('filesystem.create')).at(-1)?.status).toBe(409);
  });

  it('takes the row back when the format job cannot be queued', async () => {
    h.jobs.failNext = new Error('queue down');
    const res = await as('post', '/filesystems').send({ name: 'unlucky', sizeBytes: GiB }).expect(503);
    expect(res.body.detail).toContain('queue down');
    expect(await h.ds.getRepository(FilesystemEntity).countBy({ name: 'unlucky' })).toBe(0);
  });

  it('lists and gets filesystems with usage from the engine', async () => {
    const { id } = await readyFilesystem('data');
    const one = await as('get', `/filesystems/${id}`).expect(200);
    expect(one.body).toMatchObject({ name: 'data', state: 'ready', usage: { sizeBytes: 10 * GiB, usedBytes: 4096 } });
    const list = await as('get', '/filesystems?limit=1&offset=1').expect(200);
    expect(list.body).toMatchObject({ total: 2, limit: 1, offset: 1 });
    expect(list.body.items.map((f: { name: string }) => f.name)).toEqual(['home']);
    await as('get', `/filesystems/${MISSING}`).expect(404);
  });

  it('grows a filesystem, refuses to shrink (422) and leaves the size', async () => {
    const { id, fsid } = await readyFilesystem('grows', 4 * GiB);
    const res = await as('patch', `/filesystems/${id}`).send({ sizeBytes: 8 * GiB }).expect(200);
    expect(res.body.sizeBytes).toBe(8 * GiB);
    expect(h.host.sizes.get(BigInt(fsid))).toBe(8 * GiB);
    const shrink = await as('patch', `/filesystems/${id}`).send({ sizeBytes: 2 * GiB }).expect(422);
    expect(shrink.body.type).toBe('urn:ferry:problem:refused');
    expect((await h.ds.getRepository(FilesystemEntity).findOneByOrFail({ id })).sizeBytes).toBe(8 * GiB);
    // An engine failure rolls the row back with it.
    h.host.failNext = new Error('engine says no');
    await as('patch', `/filesystems/${id}`).send({ sizeBytes: 16 * GiB }).expect(500);
    expect((await h.ds.getRepository(FilesystemEntity).findOneByOrFail({ id })).sizeBytes).toBe(8 * GiB);
    expect((await audit('filesystem.grow')).map((a) => a.status)).toEqual([200, 422, 500]);
  });

  it('manages exports: create, conflict, update, list, delete; each publishes exports.changed', async () => {
    const { id: fsId } = await readyFilesystem('shared');
    const before = h.events.length;
    const made = await as('post', '/exports').send({ filesystemId: fsId, path: '/shared', clients: ['10.0.0.0/8'] }).expect(201);
    expect(made.body).toMatchObject({
      path: '/shared',
      clients: ['10.0.0.0/8'],
      access: 'rw',
      rootSquash: true,
      allSquash: false,
      anonUid: 65534,
      anonGid: 65534,
      secure: true,
      filesystem: { id: fsId, name: 'shared' },
    });
    expect(h.events.slice(before).map((e) => e.topic)).toEqual(['exports.changed']);
    await as('post', '/exports').send({ filesystemId: fsId, path: '/shared', clients: ['*'] }).expect(409);
    await as('post', '/exports').send({ filesystemId: MISSING, path: '/other', clients: ['*'] }).expect(422);
    const changed = await as('patch', `/exports/${made.body.id}`).send({ clients: ['10.1.0.0/16', '::1'], access: 'ro' }).expect(200);
    expect(changed.body).toMatchObject({ clients: ['10.1.0.0/16', '::1'], access: 'ro', path: '/shared' });
    const list = await as('get', '/exports').expect(200);
    expect(list.body.total).toBe(1);
    await as('get', `/exports/${made.body.id}`).expect(200);
    await as('patch', `/exports/${MISSING}`).send({ access: 'ro' }).expect(404);
    expect(h.events.slice(before).map((e) => e.topic)).toEqual(['exports.changed', 'exports.changed']);
    expect((await audit('export.create')).map((a) => a.status)).toEqual([201, 409, 422]);
    expect((await audit('export.update')).map((a) => a.status)).toEqual([200, 404]);
  });

  it('deletes a filesystem only unexported (409) and confirmed by name (422)', async () => {
    const { id, fsid } = await readyFilesystem('doomed');
    const exp = await as('post', '/exports').send({ filesystemId: id, path: '/doomed', clients: ['*'] }).expect(201);
    await as('delete', `/filesystems/${id}`).query({ confirm: 'doomed' }).expect(409);
    await as('delete', `/exports/${exp.body.id}`).expect(204);
    await as('delete', `/filesystems/${id}`).expect(422);
    await as('delete', `/filesystems/${id}`).query({ confirm: 'wrong' }).expect(422);
    expect((await h.ds.getRepository(FilesystemEntity).findOneByOrFail({ id })).state).toBe('ready');
    expect(h.host.sizes.has(BigInt(fsid))).toBe(true);
    // An engine failure leaves the row `deleting`; the DELETE can be repeated.
    h.host.failNext = new Error('busy');
    await as('delete', `/filesystems/${id}`).query({ confirm: 'doomed' }).expect(500);
    expect((await h.ds.getRepository(FilesystemEntity).findOneByOrFail({ id })).state).toBe('deleting');
    await as('delete', `/filesystems/${id}`).query({ confirm: 'doomed' }).expect(204);
    expect(await h.ds.getRepository(FilesystemEntity).countBy({ id })).toBe(0);
    expect(h.host.sizes.has(BigInt(fsid))).toBe(false);
    expect((await audit('filesystem.delete')).map((a) => a.status)).toEqual([409, 422, 422, 204, 500, 204]);
  });

  it('starts scrub and fsck jobs, refuses conflicts, honours idempotency keys, cancels', async () => {
    const { id: fsId } = await readyFilesystem('checked');
    const scrub = await as('post', '/jobs').send({ type: 'scrub', filesystemId: fsId, idempotencyKey: 'nightly-1' }).expect(202);
    expect(scrub.body).toMatchObject({ type: 'scrub', state: 'queued', params: { filesystemId: fsId }, createdBy: 'admin' });
    const again = await as('post', '/jobs').send({ type: 'scrub', filesystemId: fsId, idempotencyKey: 'nightly-1' }).expect(202);
    expect(again.body.id).toBe(scrub.body.id);
    await as('post', '/jobs').send({ type: 'fsck', filesystemId: fsId }).expect(409);
    await as('post', '/jobs').send({ type: 'scrub', filesystemId: MISSING }).expect(422);
    const got = await as('get', `/jobs/${scrub.body.id}`).expect(200);
    expect(got.body.progress).toBe(0);
    const listed = await as('get', '/jobs?state=queued').expect(200);
    expect(listed.body.items.map((j: { id: string }) => j.id)).toContain(scrub.body.id);
    const cancelled = await as('post', `/jobs/${scrub.body.id}/cancel`).expect(202);
    expect(cancelled.body.state).toBe('cancelled');
    await as('post', `/jobs/${scrub.body.id}/cancel`).expect(409);
    await as('post', `/jobs/${MISSING}/cancel`).expect(404);
    // fsck needs the filesystem unexported.
    await as('post', '/exports').send({ filesystemId: fsId, path: '/checked', clients: ['*'] }).expect(201);
    await as('post', '/jobs').send({ type: 'fsck', filesystemId: fsId }).expect(409);
    expect((await audit('job.create')).map((a) => a.status)).toEqual([202, 202, 409, 422, 409]);
  });

  it('lists movers with health and owned filesystems, and drains one', async () => {
    const movers = h.ds.getRepository(MoverEntity);
    const alive = await movers.save(movers.create({ name: 'mover-a', address: '10.0.0.5', nfsPort: 2049, httpPort: 8049 }));
    await h.ds.query(`UPDATE movers SET last_heartbeat = now() WHERE id = $1`, [alive.id]);
    await movers.save(movers.create({ name: 'mover-b', address: '10.0.0.6', nfsPort: 2049, httpPort: 8049 }));
    await h.ds.query(`UPDATE movers SET last_heartbeat = now() - interval '1 minute' WHERE name = 'mover-b'`);
    await h.ds.query(`UPDATE filesystems SET owner_mover_id = $1 WHERE name = 'home'`, [alive.id]);
    const list = await as('get', '/movers').expect(200);
    expect(list.body.items.map((m: { name: string; healthy: boolean }) => [m.name, m.healthy])).toEqual([
      ['mover-a', true],
      ['mover-b', false],
    ]);
    expect(list.body.items[0].filesystems).toEqual([expect.objectContaining({ name: 'home', fsid: 2 })]);
    const drained = await as('post', `/movers/${alive.id}/drain`).expect(200);
    expect(drained.body.state).toBe('draining');
    await as('post', `/movers/${MISSING}/drain`).expect(404);
    const status = await as('get', '/status').expect(200);
    expect(status.body).toMatchObject({
      version: '0.0.0-test',
      database: { ok: true },
      redis: { configured: false },
      movers: { total: 2, healthy: 1 },
    });
  });

  it('shows the audit log newest first, paginated', async () => {
    const res = await as('get', '/audit?limit=3').expect(200);
    expect(res.body.items).toHaveLength(3);
    expect(res.body.total).toBeGreaterThan(20);
    expect(res.body.items[0]).toMatchObject({ action: 'mover.drain', status: 404 });
    const at = res.body.items.map((a: { at: string }) => Date.parse(a.at));
    expect([...at].sort((a, b) => b - a)).toEqual(at);
  });
});
