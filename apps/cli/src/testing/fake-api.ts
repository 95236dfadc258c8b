/**
 * An in-test double of the admin REST API (docs/control-plane.md), small enough to read: bearer
 * tokens with roles, paginated lists, problem+json errors with the contract's statuses, and jobs
 * whose successive states a test scripts. It records every request so a test can check what the
 * CLI sent. Not a model of the real server's rules beyond what the CLI depends on.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExportDoc, FilesystemDoc, JobDoc, MoverDoc } from '../api-types';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  authorization: string | undefined;
}

interface Answer {
  status: number;
  body?: unknown;
  /** Defaults to application/json, application/problem+json for 4xx/5xx. */
  type?: string;
}

export class FakeApi {
  readonly requests: RecordedRequest[] = [];
  readonly tokens = new Map<string, 'admin' | 'read-only'>();
  filesystems: FilesystemDoc[] = [];
  exports: ExportDoc[] = [];
  movers: MoverDoc[] = [];
  /** Whether a draining mover becomes drained at its next GET (the controller's part). */
  drainCompletes = true;
  jobs: JobDoc[] = [];
  status: unknown = {
    version: '0.1.0',
    database: { ok: true, latencyMs: 0.42 },
    redis: { configured: false, ok: null },
    movers: { total: 1, healthy: 1 },
    filesystems: { total: 2, byState: { ready: 1, creating: 1 } },
    jobs: { running: 1, queued: 0 },
  };
  /** Successive answers of GET /jobs/{id}; the last one repeats. */
  readonly jobScript = new Map<string, JobDoc[]>();
  /** Answers before any routing when it returns one (outages, odd statuses). */
  intercept: ((req: RecordedRequest) => Answer | undefined) | undefined;
  /** Called with the format job of each created filesystem, before the 202 is sent. */
  onFormatJob: ((job: JobDoc) => void) | undefined;
  private server: Server | undefined;
  private nextFsid = 2;

  async start(port: number): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(port, '127.0.0.1', () => resolve());
    });
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (s === undefined) return;
    this.server = undefined;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  addFilesystem(name: string, sizeBytes: number, extra: Partial<FilesystemDoc> = {}): FilesystemDoc {
    const f: FilesystemDoc = { id: randomUUID(), name, fsid: String(this.nextFsid++), poolId: 'pool0-id', sizeBytes, state: 'ready', ownerMoverId: null, usage: null, ...extra };
    this.filesystems.push(f);
    return f;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown = undefined;
    let malformed = false;
    if (raw !== '') {
      try {
        body = JSON.parse(raw);
      } catch {
        malformed = true;
      }
    }
    const rec: RecordedRequest = { method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), body, authorization: req.headers.authorization };
    this.requests.push(rec);
    const answer = malformed ? problem(400, 'Bad Request', 'malformed JSON') : (this.intercept?.(rec) ?? this.route(rec));
    const type = answer.type ?? (answer.status >= 400 ? 'application/problem+json' : 'application/json');
    res.writeHead(answer.status, answer.body === undefined ? {} : { 'content-type': type });
    res.end(answer.body === undefined ? undefined : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
  }

  private route(r: RecordedRequest): Answer {
    const prefix = '/api/v1';
    if (!r.path.startsWith(prefix + '/')) return problem(404, 'Not Found', `no route ${r.path}`);
    const token = /^Bearer (\S+)$/.exec(r.authorization ?? '')?.[1];
    const role = token === undefined ? undefined : this.tokens.get(token);
    if (role === undefined) return problem(401, 'Unauthorized', token === undefined ? 'a bearer token is required' : 'the token is not valid');
    if (r.method !== 'GET' && role !== 'admin') return problem(403, 'Forbidden', 'this change needs an admin token');
    const [resource, id, action] = r.path.slice(prefix.length + 1).split('/');
    const b = (r.body ?? {}) as Record<string, unknown>;
    switch (`${r.method} ${resource}${id === undefined ? '' : '/:id'}${action === undefined ? '' : '/' + action}`) {
      case 'GET status':
        return { status: 200, body: this.status };
      case 'GET filesystems':
        return this.list(this.filesystems, r);
      case 'GET exports':
        return this.list(this.exports, r);
      case 'GET movers':
        return this.list(this.movers, r);
      case 'GET movers/:id': {
        const m = this.movers.find((x) => x.id === id);
        if (m === undefined) return problem(404, 'Not Found', `mover ${id} not found`);
        // The controller's work, one poll later: a draining mover holding nothing is drained.
        if (m.state === 'draining' && this.drainCompletes) m.state = 'drained';
        return { status: 200, body: m };
      }
      case 'POST movers/:id/drain': {
        const m = this.movers.find((x) => x.id === id);
        if (m === undefined) return problem(404, 'Not Found', `mover ${id} not found`);
        if (m.state === 'active') m.state = 'draining';
        return { status: 200, body: m };
      }
      case 'GET jobs':
        return this.list(
          this.jobs.filter((j) => r.query.state === undefined || j.state === r.query.state),
          r,
        );
      case 'POST filesystems': {
        if (typeof b.name !== 'string' || !/^[a-z0-9][a-z0-9._-]{0,62}$/.test(b.name)) return problem(400, 'Bad Request', 'validation failed', [{ field: 'name', message: 'name must match [a-z0-9][a-z0-9._-]{0,62}' }]);
        if (typeof b.sizeBytes !== 'number') return problem(400, 'Bad Request', 'validation failed', { sizeBytes: ['sizeBytes must be an integer'] });
        if (this.filesystems.some((f) => f.name === b.name)) return problem(409, 'Conflict', `a filesystem named "${b.name}" exists`);
        const f = this.addFilesystem(b.name, b.sizeBytes, { state: 'creating' });
        const job: JobDoc = { id: randomUUID(), type: 'format', params: { filesystemId: f.id, fsid: f.fsid, sizeBytes: f.sizeBytes }, state: 'queued', progress: 0, detail: null, result: null, error: null };
        this.jobs.push(job);
        this.onFormatJob?.(job);
        return { status: 202, body: { filesystem: f, job } };
      }
      case 'PATCH filesystems/:id': {
        const f = this.filesystems.find((x) => x.id === id);
        if (f === undefined) return problem(404, 'Not Found', `filesystem ${id} not found`);
        if (typeof b.sizeBytes !== 'number') return problem(400, 'Bad Request', 'sizeBytes must be an integer');
        if (b.sizeBytes < Number(f.sizeBytes)) return problem(422, 'Unprocessable Entity', `filesystems only grow: ${b.sizeBytes} is below ${f.sizeBytes}`);
        f.sizeBytes = b.sizeBytes;
        return { status: 200, body: f };
      }
      case 'DELETE filesystems/:id': {
        const f = this.filesystems.find((x) => x.id === id);
        if (f === undefined) return problem(404, 'Not Found', `filesystem ${id} not found`);
        const exported = this.exports.filter((e) => e.filesystemId === f.id);
        if (exported.length > 0) return problem(409, 'Conflict', `filesystem "${f.name}" is exported at ${exported.map((e) => e.path).join(', ')}`);
        if (r.query.confirm !== f.name) return problem(422, 'Unprocessable Entity', `confirm=${f.name} is required to delete this filesystem`);
        this.filesystems = this.filesystems.filter((x) => x !== f);
        return { status: 204 };
      }
      case 'POST exports': {
        if (typeof b.path !== 'string' || !b.path.startsWith('/') || b.path.split('/').slice(1).some((s) => s === '' || s === '.' || s === '..')) return problem(400, 'Bad Request', 'validation failed', [{ field: 'path', message: 'path must be absolute and normalised' }]);
        if (!Array.isArray(b.clients) || b.clients.length === 0) return problem(400, 'Bad Request', 'validation failed', { clients: ['clients must contain at least 1 elements'] });
        const f = this.filesystems.find((x) => x.id === b.filesystemId);
        if (f === undefined) return problem(404, 'Not Found', `filesystem ${String(b.filesystemId)} not found`);
        if (this.exports.some((e) => e.path === b.path)) return problem(409, 'Conflict', `${b.path} is exported already`);
        const e: ExportDoc = { id: randomUUID(), path: b.path, filesystemId: f.id, clients: ['*'], access: 'rw', rootSquash: true, allSquash: false, anonUid: 65534, anonGid: 65534, secure: true, ...(b as Partial<ExportDoc>) };
        this.exports.push(e);
        return { status: 201, body: e };
      }
      case 'PATCH exports/:id': {
        const e = this.exports.find((x) => x.id === id);
        if (e === undefined) return problem(404, 'Not Found', `export ${id} not found`);
        const unknown = Object.keys(b).filter((k) => !['path', 'clients', 'access', 'rootSquash', 'allSquash', 'anonUid', 'anonGid', 'secure'].includes(k));
        if (unknown.length > 0) return problem(400, 'Bad Request', 'validation failed', Object.fromEntries(unknown.map((k) => [k, [`property ${k} should not exist`]])));
        Object.assign(e, b);
        return { status: 200, body: e };
      }
      case 'DELETE exports/:id': {
        const before = this.exports.length;
        this.exports = this.exports.filter((x) => x.id !== id);
        return before === this.exports.length ? problem(404, 'Not Found', `export ${id} not found`) : { status: 204 };
      }
      case 'GET jobs/:id': {
        const script = this.jobScript.get(id ?? '');
        if (script !== undefined && script.length > 0) {
          const j = script.length > 1 ? (script.shift() as JobDoc) : (script[0] as JobDoc);
          return { status: 200, body: j };
        }
        const j = this.jobs.find((x) => x.id === id);
        return j === undefined ? problem(404, 'Not Found', `job ${id} not found`) : { status: 200, body: j };
      }
      case 'POST jobs/:id/cancel': {
        const j = this.jobs.find((x) => x.id === id);
        if (j === undefined) return problem(404, 'Not Found', `job ${id} not found`);
        if (['succeeded', 'failed', 'cancelled'].includes(j.state)) return problem(409, 'Conflict', `job ${id} has ended (${j.state})`);
        j.state = 'cancelled';
        return { status: 202, body: j };
      }
      default:
        return problem(404, 'Not Found', `no route ${r.method} ${r.path}`);
    }
  }

  private list<T>(all: T[], r: RecordedRequest): Answer {
    const unknown = Object.keys(r.query).filter((k) => !['limit', 'offset', ...(r.path.endsWith('/jobs') ? ['state'] : [])].includes(k));
    if (unknown.length > 0) return problem(400, 'Bad Request', 'validation failed', Object.fromEntries(unknown.map((k) => [k, [`property ${k} should not exist`]])));
    const limit = r.query.limit === undefined ? 50 : Number(r.query.limit);
    const offset = r.query.offset === undefined ? 0 : Number(r.query.offset);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) return problem(400, 'Bad Request', 'validation failed', [{ field: 'limit', message: 'limit must be from 1 to 500' }]);
    if (!Number.isInteger(offset) || offset < 0) return problem(400, 'Bad Request', 'validation failed', [{ field: 'offset', message: 'offset must not be negative' }]);
    return { status: 200, body: { items: all.slice(offset, offset + limit), total: all.length, limit, offset } };
  }
}

export function problem(status: number, title: string, detail: string, errors?: unknown): Answer {
  return { status, body: { type: 'about:blank', title, status, detail, ...(errors === undefined ? {} : { errors }) } };
}
