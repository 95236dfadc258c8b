import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';

/**
 * Where test ports are picked: high, unprivileged, and outside the kernel's ephemeral range
 * (/proc/sys/net/ipv4/ip_local_port_range), from which any outgoing connection on the machine
 * may take a port between our check and the server's bind (a CI run lost a mover's start to
 * EADDRINUSE that way).
 */
function pickRange(): [number, number] {
  let lo = 32768;
  let hi = 60999;
  try {
    [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number) as [number, number];
  } catch {
    // not Linux: the usual range
  }
  if (lo - 20000 >= 4000) return [20000, lo];
  if (65000 - (hi + 1) >= 4000) return [hi + 1, 65000];
  return [20000, 60000];
}
const [RANGE_FROM, RANGE_TO] = pickRange();

/** A high port that is free for TCP and UDP on 127.0.0.1 right now (never assume a fixed one). */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = RANGE_FROM + Math.floor(Math.random() * (RANGE_TO - RANGE_FROM - 1));
    if ((await tcpFree(port)) && (await udpFree(port)) && (await tcpFree(port + 1))) return port;
  }
  throw new Error('no free port found');
}

function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
