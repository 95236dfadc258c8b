import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { RelayStats } from './relay';
import type { RouteSource } from './routes';

/**
 * Prometheus metrics of a load director. The relay counts in plain numbers (RelayStats); these
 * metrics read them at scrape time, so the relay path never builds a label object.
 */
export class DirectorMetrics {
  readonly registry = new Registry();

  constructor(stats: RelayStats, routes: RouteSource) {
    collectDefaultMetrics({ register: this.registry, prefix: 'ferry_' });
    const registers = [this.registry];
    const counter = (name: string, help: string, read: () => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    };
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    };
    new Counter({
      name: 'ferry_director_calls_total',
      help: 'Calls routed to a mover, by program (each call once, however often it was replayed)',
      labelNames: ['program'],
      registers,
      collect() {
        this.reset();
        this.inc({ program: 'nfs' }, stats.nfsCalls);
        this.inc({ program: 'mount' }, stats.mountCalls);
      },
    });
    counter('ferry_director_local_replies_total', 'Calls the director answered itself (NULL, RPC rejects)', () => stats.localReplies);
    counter('ferry_director_replays_total', 'Held calls tried again (after no route, a lost upstream or a JUKEBOX)', () => stats.replays);
    counter('ferry_director_rerouted_total', 'Calls in flight on a mover that lost their filesystem, sent again to the new owner', () => stats.rerouted);
    counter('ferry_director_held_calls_total', 'Times a call was put on hold', () => stats.heldCalls);
    gauge('ferry_director_held_calls', 'Calls on hold now', () => stats.heldNow);
    counter('ferry_director_jukebox_answered_total', 'NFS calls answered NFS3ERR_JUKEBOX by the director after the hold time', () => stats.jukeboxAnswered);
    counter('ferry_director_mount_given_up_total', 'MOUNT calls without an owner after the hold time', () => stats.mountGivenUp);
    counter('ferry_director_duplicate_calls_total', 'Calls dropped because a call with their xid was pending on the connection', () => stats.duplicateCalls);
    counter('ferry_director_upstream_connections_opened_total', 'Upstream connections opened to movers', () => stats.upstreamsOpened);
    gauge('ferry_director_upstream_connections', 'Upstream connections open now', () => stats.upstreamsOpen);
    counter('ferry_director_upstream_failures_total', 'Upstream connections refused or lost before any reply', () => stats.upstreamFailures);
    counter('ferry_director_client_connections_accepted_total', 'Client connections accepted', () => stats.clientsAccepted);
    gauge('ferry_director_client_connections', 'Client connections open now', () => stats.clientsOpen);
    counter('ferry_director_route_refreshes_total', 'Route table loads', () => routes.refreshCount);
  }
}
