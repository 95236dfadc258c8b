/**
 * The REST client of `ferry`: one request at a time over Node's fetch, each bounded by a timeout.
 * Every failure becomes a `CliError` whose exit code comes from the HTTP status alone and whose
 * message is the API's problem+json (RFC 9457) title, detail and field errors, so the user sees
 * what the server said and a script sees a stable code.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { CliError, ExitCode, exitCodeForStatus } from './exit-code';
import type { CliIo } from './io';

export const DEFAULT_URL = 'http://127.0.0.1:8049';
export const DEFAULT_TIMEOUT_S = 30;
const API_PREFIX = '/api/v1';

/** The answer of every list endpoint. */
export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

export interface Connection {
  /** Origin plus `/api/v1`, without a trailing slash. */
  baseUrl: string;
  token: string | undefined;
  /** Where the token came from, for the hint on a 401. */
  tokenSource: string;
  timeoutMs: number;
}

export interface ConnectionFlags {
  url?: string;
  token?: string;
  timeout?: number;
}

/** `--url`, else FERRY_URL, else the default; `--token`, else FERRY_TOKEN, else `$FERRY_DATA_DIR/admin-token`. */
export function resolveConnection(flags: ConnectionFlags, io: Pick<CliIo, 'env' | 'cwd'>): Connection {
  const raw = flags.url ?? nonEmpty(io.env.FERRY_URL) ?? DEFAULT_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError(`--url ${raw}: not a URL (example: ${DEFAULT_URL})`, ExitCode.Usage);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`--url ${raw}: http or https is required`, ExitCode.Usage);
  let base = `${url.origin}${url.pathname}`.replace(/\/+$/, '');
  if (!base.endsWith(API_PREFIX)) base += API_PREFIX;

  let token = nonEmpty(flags.token?.trim());
  let tokenSource = '--token';
  if (token === undefined && nonEmpty(io.env.FERRY_TOKEN?.trim()) !== undefined) {
    token = io.env.FERRY_TOKEN?.trim();
    tokenSource = 'FERRY_TOKEN';
  }
  if (token === undefined) {
    const dataDir = nonEmpty(io.env.FERRY_DATA_DIR) ?? './data';
    const file = resolve(isAbsolute(dataDir) ? dataDir : resolve(io.cwd, dataDir), 'admin-token');
    tokenSource = file;
    try {
      token = nonEmpty(readFileSync(file, 'utf8').trim());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A missing file is not an error here: the API answers 401 and the hint names the file.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new CliError(`cannot read the token file ${file}: ${(err as Error).message}`, ExitCode.Auth);
    }
  }
  return { baseUrl: base, token, tokenSource, timeoutMs: (flags.timeout ?? DEFAULT_TIMEOUT_S) * 1000 };
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

export interface ApiResponse<T> {
  status: number;
  body: T;
}

export type Query = Record<string, string | number | undefined>;

const NET_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed by the server',
};

/** Errors of a reused connection the server closed: safe to retry for idempotent requests. */
const STALE_CONNECTION = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE']);

export class ApiClient {
  constructor(readonly conn: Connection) {}

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, { query }).then((r) => r.body);
  }

  request<T>(method: string, path: string, opts: { query?: Query; body?: unknown } = {}): Promise<ApiResponse<T>> {
    return this.send<T>(method, path, opts);
  }

  /** One page as the API returns it. */
  page<T>(path: string, limit: number, offset: number, filter: Query = {}): Promise<Page<T>> {
    return this.get<Page<T>>(path, { ...filter, limit, offset }).then((p) => checkPage(p, path));
  }

  /** Every item of a list, page by page; the document has the shape of one page holding them all. */
  async all<T>(path: string, pageSize: number, filter: Query = {}): Promise<Page<T>> {
    const items: T[] = [];
    let total = 0;
    for (;;) {
      const p = await this.page<T>(path, pageSize, items.length, filter);
      items.push(...p.items);
      total = p.total;
      // An empty page ends the walk even if `total` says otherwise (items deleted meanwhile).
      if (p.items.length === 0 || items.length >= p.total) break;
    }
    return { items, total: Math.max(total, items.length), limit: items.length, offset: 0 };
  }

  /** The first item for which `match` holds, reading pages only until it is found. */
  async find<T>(path: string, pageSize: number, match: (item: T) => boolean): Promise<T | undefined> {
    for (let offset = 0; ; ) {
      const p = await this.page<T>(path, pageSize, offset);
      const hit = p.items.find(match);
      if (hit !== undefined) return hit;
      offset += p.items.length;
      if (p.items.length === 0 || offset >= p.total) return undefined;
    }
  }

  private async send<T>(method: string, path: string, opts: { query?: Query; body?: unknown }): Promise<ApiResponse<T>> {
    const url = new URL(this.conn.baseUrl + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
    if (this.conn.token !== undefined) headers.authorization = `Bearer ${this.conn.token}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    let text: string;
    for (let attempt = 1; ; attempt++) {
      try {
        res = await fetch(url, {
          method,
          headers,
          body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
          signal: AbortSignal.timeout(this.conn.timeoutMs),
          redirect: 'error',
        });
        text = await res.text();
        break;
      } catch (err) {
        // fetch reuses idle keep-alive connections; one the server has just closed fails with a
        // reset before any answer. A GET changes nothing, so it is sent once more.
        if (method === 'GET' && attempt === 1 && STALE_CONNECTION.has((err as { cause?: { code?: string } }).cause?.code ?? '')) continue;
        throw this.transportError(err);
      }
    }
    const type = res.headers.get('content-type') ?? '';
    let body: unknown = undefined;
    if (text !== '' && /json/i.test(type)) {
      try {
        body = JSON.parse(text);
      } catch {
        throw new CliError(`${method} ${url.pathname}: the API answered ${res.status} with malformed JSON`, ExitCode.Failed);
      }
    }
    if (!res.ok) throw this.statusError(res.status, body, text, method, url.pathname);
    return { status: res.status, body: body as T };
  }

  private transportError(err: unknown): CliError {
    const origin = new URL(this.conn.baseUrl).origin;
    const name = (err as { name?: string }).name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      return new CliError(`cannot reach the API at ${origin}: no answer within ${this.conn.timeoutMs / 1000} s`, ExitCode.Unreachable);
    }
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const code = cause?.code;
    const why = code !== undefined ? (NET_ERRORS[code] !== undefined ? `${NET_ERRORS[code]} (${code})` : code) : (cause?.message ?? (err instanceof Error ? err.message : String(err)));
    return new CliError(`cannot reach the API at ${origin}: ${why} (set --url or FERRY_URL)`, ExitCode.Unreachable);
  }

  private statusError(status: number, body: unknown, text: string, method: string, path: string): CliError {
    const code = exitCodeForStatus(status);
    let message = problemMessage(status, body) ?? `${method} ${path}: HTTP ${status}${text && text.length < 200 ? `: ${text.trim()}` : ''}`;
    if (status === 401) {
      message += this.conn.token === undefined ? `\n  no API token: pass --token, set FERRY_TOKEN, or point FERRY_DATA_DIR at the data directory (looked for ${this.conn.tokenSource})` : `\n  the token from ${this.conn.tokenSource} was refused`;
    }
    return new CliError(message, code, status);
  }
}

function checkPage<T>(p: Page<T>, path: string): Page<T> {
  if (p === null || typeof p !== 'object' || !Array.isArray(p.items) || typeof p.total !== 'number') {
    throw new CliError(`GET ${path}: the API answered something other than a list page`, ExitCode.Failed);
  }
  return p;
}

/** `Title (status): detail` and one indented line per field error; undefined when the body is no problem document. */
export function problemMessage(status: number, body: unknown): string | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const p = body as { title?: unknown; detail?: unknown; errors?: unknown; message?: unknown };
  const title = typeof p.title === 'string' ? p.title : undefined;
  const detail = typeof p.detail === 'string' ? p.detail : typeof p.message === 'string' ? p.message : undefined;
  if (title === undefined && detail === undefined) return undefined;
  let msg = `${title ?? `HTTP ${status}`} (${status})`;
  if (detail !== undefined && detail !== title) msg += `: ${detail}`;
  // Field lines the detail already spells out are not repeated.
  for (const line of fieldErrors(p.errors)) if (detail === undefined || !detail.includes(line)) msg += `\n  ${line}`;
  return msg;
}

/** Field errors in the shapes validators produce: strings, {field, message(s)}, or {field: message(s)}. */
function fieldErrors(errors: unknown): string[] {
  const lines: string[] = [];
  const text = (v: unknown): string => (Array.isArray(v) ? v.map(String).join('; ') : typeof v === 'object' && v !== null ? Object.values(v).map(String).join('; ') : String(v));
  if (Array.isArray(errors)) {
    for (const e of errors) {
      if (typeof e === 'string') lines.push(e);
      else if (e !== null && typeof e === 'object') {
        const o = e as Record<string, unknown>;
        const field = o.field ?? o.property ?? o.path ?? o.name;
        const msg = o.message ?? o.messages ?? o.constraints ?? o.detail;
        lines.push(field !== undefined ? `${String(field)}: ${text(msg)}` : text(msg));
      }
    }
  } else if (errors !== null && typeof errors === 'object') {
    for (const [field, msg] of Object.entries(errors)) lines.push(`${field}: ${text(msg)}`);
  }
  return lines;
}
