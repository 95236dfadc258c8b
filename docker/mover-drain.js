#!/usr/bin/env node
/*
 * `mover-drain [NAME] [--no-wait]`: drains a data mover through the admin API and waits until
 * the controller has moved every filesystem away. The chart runs it as the movers' preStop hook,
 * so scaling the StatefulSet down (or evicting a mover) hands its filesystems over as a planned
 * move (pause under a second) instead of a failover after the lease runs out.
 *
 * Uses only what the admin API has today: GET /api/v1/movers (find the id by name),
 * POST /api/v1/movers/{id}/drain (active -> draining), GET /api/v1/movers/{id} (poll until the
 * controller marks it `drained`). The `ferry` CLI has no `mover drain` yet.
 *
 * Settings: NAME, else FERRY_MOVER_NAME, else the host name (the pod name in a StatefulSet);
 * FERRY_URL (default http://127.0.0.1:8049); FERRY_TOKEN, else the file FERRY_TOKEN_FILE;
 * FERRY_DRAIN_TIMEOUT_S (default 240: keep it under the pod's terminationGracePeriodSeconds so
 * the mover still gets SIGTERM time to flush); FERRY_DRAIN_POLL_MS (default 1000).
 *
 * Exit codes: 0 drained (or nothing to drain: the mover never registered); 1 timed out, refused or
 * the API stayed unreachable; 2 usage. A failing preStop hook does not stop the pod's termination
 * (the kubelet logs it and sends SIGTERM), so every failure prints why, and transient errors (the
 * admin-api restarting) are retried until the deadline rather than given up at once.
 */
'use strict';
const { readFileSync } = require('node:fs');
const { hostname } = require('node:os');

class Fatal extends Error {}
/** A bad argument or setting: exit 2. */
class Usage extends Fatal {}

function settings(argv, env) {
  const args = argv.filter((a) => a !== '--no-wait');
  if (args.length > 1 || args.some((a) => a.startsWith('-'))) throw new Usage('usage: mover-drain [NAME] [--no-wait]');
  const number = (name, dflt) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return dflt;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) throw new Usage(`${name} must be a non-negative number, got "${raw}"`);
    return n;
  };
  let token = env.FERRY_TOKEN?.trim();
  if (!token && env.FERRY_TOKEN_FILE) token = readFileSync(env.FERRY_TOKEN_FILE, 'utf8').trim();
  if (!token) throw new Usage('no API token: set FERRY_TOKEN or FERRY_TOKEN_FILE');
  return {
    name: args[0] || env.FERRY_MOVER_NAME || hostname(),
    url: (env.FERRY_URL || 'http://127.0.0.1:8049').replace(/\/+$/, ''),
    token,
    wait: !argv.includes('--no-wait'),
    timeoutMs: number('FERRY_DRAIN_TIMEOUT_S', 240) * 1000,
    pollMs: number('FERRY_DRAIN_POLL_MS', 1000),
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One API call; resolves { status, body } for any HTTP answer, throws for no answer. */
async function call(cfg, method, path) {
  const res = await fetch(`${cfg.url}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${cfg.token}`, accept: 'application/json' },
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let body;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  return { status: res.status, body };
}

/** Retries answers that may heal (no answer, 5xx) until the deadline; 401/403 and other 4xx are final. */
async function retrying(cfg, deadline, what, fn) {
  for (;;) {
    let why;
    try {
      const r = await fn();
      if (r.status === 401 || r.status === 403) throw new Fatal(`${what}: the API refused the token (HTTP ${r.status})`);
      if (r.status < 500) return r;
      why = `HTTP ${r.status} ${JSON.stringify(r.body)}`;
    } catch (err) {
      if (err instanceof Fatal) throw err;
      // fetch() reports "fetch failed" and keeps the reason (ECONNREFUSED, a DNS error, ...) in cause.
      why = err.cause?.code ?? err.cause?.message ?? err.message;
    }
    if (Date.now() + cfg.pollMs > deadline) throw new Fatal(`${what}: gave up at the deadline (last: ${why})`);
    console.log(`mover-drain: ${what}: ${why}; retrying`);
    await sleep(cfg.pollMs);
  }
}

async function findMover(cfg, deadline) {
  for (let offset = 0; ; ) {
    const r = await retrying(cfg, deadline, 'list movers', () => call(cfg, 'GET', `/movers?limit=500&offset=${offset}`));
    if (r.status !== 200 || !Array.isArray(r.body?.items)) throw new Fatal(`list movers: unexpected answer HTTP ${r.status}`);
    const hit = r.body.items.find((m) => m.name === cfg.name);
    if (hit) return hit;
    offset += r.body.items.length;
    if (r.body.items.length === 0 || offset >= r.body.total) return undefined;
  }
}

async function drain(cfg) {
  const deadline = Date.now() + cfg.timeoutMs;
  const mover = await findMover(cfg, deadline);
  if (!mover) {
    console.log(`mover-drain: no mover named ${cfg.name} is registered; nothing to drain`);
    return 0;
  }
  let state = mover.state;
  if (state === 'active') {
    const r = await retrying(cfg, deadline, `drain ${cfg.name}`, () => call(cfg, 'POST', `/movers/${mover.id}/drain`));
    if (r.status !== 200) throw new Fatal(`drain ${cfg.name}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    state = r.body.state;
  }
  console.log(`mover-drain: ${cfg.name} (${mover.id}) is ${state}`);
  if (!cfg.wait) return 0;
  for (;;) {
    if (state === 'drained') {
      console.log(`mover-drain: ${cfg.name} drained`);
      return 0;
    }
    const r = await retrying(cfg, deadline, `state of ${cfg.name}`, () => call(cfg, 'GET', `/movers/${mover.id}`));
    if (r.status !== 200) throw new Fatal(`state of ${cfg.name}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    state = r.body.state;
    if (state === 'drained') continue;
    const owned = Array.isArray(r.body.filesystems) ? r.body.filesystems.map((f) => f.name) : [];
    if (Date.now() + cfg.pollMs > deadline) {
      throw new Fatal(`${cfg.name} still ${state} after ${cfg.timeoutMs / 1000} s, owning ${owned.length ? owned.join(', ') : 'no filesystem'}`);
    }
    await sleep(cfg.pollMs);
  }
}

async function main() {
  try {
    process.exitCode = await drain(settings(process.argv.slice(2), process.env));
  } catch (err) {
    console.error(`mover-drain: ${err.message}`);
    process.exitCode = err instanceof Usage ? 2 : 1;
  }
}

void main();
