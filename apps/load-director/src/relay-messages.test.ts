// Goal: what crosses between the director's Nest thread and its relay worker survives the
// crossing: a route table (owners, export paths, movers) and errors (name, message, stack and
// fields such as code), also inside log objects; fast-check over arbitrary tables.
// Method: each value through structuredClone (what postMessage does) and back.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cloneableLogObject, reviveError, revivedLogObject, routeTableMessage, routeTableOf, serializeError } from './relay-messages';
import { buildRouteTable } from './routes';

describe('relay messages', () => {
  it('carry a route table whole', () => {
    const host = fc.constantFrom('10.0.0.1', '10.0.0.2', 'fd00::7', 'mover-3.example');
    const addr = fc.record({ host, port: fc.integer({ min: 1, max: 65535 }) });
    fc.assert(
      fc.property(
        // One owner per fsid, as the route query gives.
        fc.uniqueArray(fc.tuple(fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }), addr), { maxLength: 20, selector: ([fsid]) => fsid }),
        fc.array(fc.tuple(fc.stringMatching(/^\/[a-z0-9/]{0,20}$/), fc.bigInt({ min: 1n, max: 1000n })), { maxLength: 20 }),
        fc.array(addr, { maxLength: 5 }),
        (owners, paths, extra) => {
          const t = buildRouteTable(owners, paths, extra);
          const back = routeTableOf(structuredClone(routeTableMessage(t)));
          expect([...back.owners].map(([f, m]) => [f, m.key])).toEqual([...t.owners].map(([f, m]) => [f, m.key]));
          expect(back.exports).toEqual(t.exports);
          expect(back.movers.map((m) => m.key)).toEqual(t.movers.map((m) => m.key));
        },
      ),
    );
  });

  it('carry errors with their name, message, stack and fields', () => {
    const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED', errno: -111, port: 9, nested: { dropped: true } });
    err.name = 'ConnectError';
    const back = reviveError(structuredClone(serializeError(err)));
    expect(back).toBeInstanceOf(Error);
    expect([back.name, back.message, back.stack]).toEqual([err.name, err.message, err.stack]);
    expect(back).toMatchObject({ code: 'ECONNREFUSED', errno: -111, port: 9 });
    expect((back as unknown as { nested?: unknown }).nested).toBeUndefined(); // only plain fields cross
    expect(reviveError(serializeError('just a string')).message).toBe('just a string');

    const log = revivedLogObject(structuredClone(cloneableLogObject({ err, mover: '10.0.0.1:2049', n: 3 })));
    expect(log.err).toBeInstanceOf(Error);
    expect(log).toMatchObject({ mover: '10.0.0.1:2049', n: 3 });
  });
});
