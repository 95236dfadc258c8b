// Goal: a GET whose connection the server drops before answering (a reused keep-alive
// connection it had just closed) is sent once more; a change (POST) never is.
// Method: an HTTP server that destroys the socket of its first request and answers later ones.
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from './api-client';
import { ExitCode } from './exit-code';

describe('ApiClient and dropped connections', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((r) => server?.close(r));
  });

  async function flaky(): Promise<{ url: string; seen: () => number }> {
    let n = 0;
    server = createServer((req, res) => {
      n++;
      if (n === 1) return req.socket.destroy();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const addr = server.address() as { port: number };
    return { url: `http://127.0.0.1:${addr.port}/api/v1`, seen: () => n };
  }

  it('retries a GET once', async () => {
    const s = await flaky();
    const c = new ApiClient({ baseUrl: s.url, token: 't', tokenSource: 'test', timeoutMs: 5000 });
    expect(await c.get('/status')).toEqual({ ok: true });
    expect(s.seen()).toBe(2);
  });

  it('does not resend a POST', async () => {
    const s = await flaky();
    const c = new ApiClient({ baseUrl: s.url, token: 't', tokenSource: 'test', timeoutMs: 5000 });
    await expect(c.request('POST', '/filesystems', { body: { name: 'x' } })).rejects.toMatchObject({ exitCode: ExitCode.Unreachable });
    expect(s.seen()).toBe(1);
  });
});
