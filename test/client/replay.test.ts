// A stream that delivers a ProtoMsg again after the client consumed it (a reconnect racing the
// consume, or a faulty server) must change nothing: the message is recognised as processed, not
// decrypted a second time (which would be a replay error) and not delivered twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, createServerTransport, type E2eeClient, type ProtocolHandler } from '../../src/index.js';
import type { ProtoMsg } from '../../src/proto/gen/service_pb.js';
import { startServer, type RunningServer } from '../../src/server/index.js';

let server: RunningServer;
const clients: E2eeClient[] = [];

beforeAll(async () => {
  server = await startServer({ port: 0, dbPath: ':memory:' });
});

afterAll(async () => {
  for (const c of clients) await c.stop().catch(() => undefined);
  await server?.close();
});

/** Yields every message twice; the copy comes after the client processed (and consumed) the first. */
function duplicatingHandler(url: string): ProtocolHandler {
  const inner = createServerTransport(url);
  const service = new Proxy(inner.service, {
    get(target, prop, receiver) {
      if (prop !== 'subscribe') return Reflect.get(target, prop, receiver);
      return async function* (request: Parameters<typeof target.subscribe>[0], options: Parameters<typeof target.subscribe>[1]) {
        for await (const msg of target.subscribe(request, options)) {
          yield msg;
          if (msg.payload.case !== 'serverHeartbeatMsg') yield msg as ProtoMsg;
        }
      };
    },
  });
  return { service, setToken: (token) => inner.setToken(token) };
}

describe('replayed ProtoMsgs', () => {
  it('every message delivered once, no errors, although the stream repeats each after its consume', async () => {
    const bob = createClient({ server: duplicatingHandler(server.url), deviceId: 'bob', suite: 2 });
    clients.push(bob);
    await bob.start();
    const alice = createClient({ server: server.url, deviceId: 'alice', suite: 2 });
    clients.push(alice);
    await alice.start();
    const received: string[] = [];
    const errors: string[] = [];
    bob.on('one2one-message', (e) => {
      received.push(new TextDecoder().decode(e.message.body));
    });
    bob.on('error', (e) => {
      errors.push(e.error.message);
    });
    const last = bob.waitFor('one2one-message', (e) => new TextDecoder().decode(e.message.body) === 'm5', 15_000);
    for (let i = 1; i <= 5; i++) await alice.sendMessage(bob.address.userId, `m${i}`);
    await last;
    await new Promise((r) => setTimeout(r, 300));
    expect(received).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    expect(errors).toEqual([]);
  }, 30_000);
});
