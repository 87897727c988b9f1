// A stream that delivers a ProtoMsg again after the client consumed it (a reconnect racing the
// consume, or a faulty server) must change nothing: the message is recognised as processed, not
// decrypted a second time (which would be a replay error) and not delivered twice.
import { describe, expect, it } from 'vitest';
import { createClient, createServerTransport, type ProtocolHandler } from '../../src/index.js';
import type { ProtoMsg } from '../../src/proto/gen/service_pb.js';
import { useInProcessServer } from '../support/in-process-server.js';

const server = useInProcessServer();

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
    server.track(bob);
    await bob.start();
    const alice = createClient({ server: server.url, deviceId: 'alice', suite: 2 });
    server.track(alice);
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
