// A stream that delivers a ProtoMsg again after the client consumed it (a reconnect racing the
// consume, or a faulty server) must change nothing: the message is recognised as processed, not
// decrypted a second time (which would be a replay error) and not delivered twice.
import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/index.js';
import { drainInbound, isSentinel, streamRewritingHandler, useInProcessServer } from '../support/index.js';

const server = useInProcessServer();

/** Every message twice; the copy comes after the client processed (and consumed) the first. */
const duplicatingHandler = (url: string) => streamRewritingHandler(url, (msg) => (msg.payload.case === 'serverHeartbeatMsg' ? [msg] : [msg, msg]));

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
    // m5's repeat comes before a later sentinel: once that is delivered, every repeat was processed.
    await drainInbound(bob, alice);
    expect(received.filter((body) => !isSentinel(body))).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    expect(errors).toEqual([]);
  }, 30_000);
});
