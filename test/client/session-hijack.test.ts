// Issue 11, attack 1: an invite from another account that reuses the id of Alice's session with Bob
// must not replace that session (sessions are keyed by peer, and ids are derived from the invite).
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { OutboundSession, Session } from '../../src/protocol/index.js';
import { InviteMsgSchema, PreKeyBundleSchema } from '../../src/proto/gen/wire_pb.js';
import { drainInbound, drainRawInbound, isSentinelMsg, rawDevice, text, until, useInProcessServer } from '../support/index.js';

const server = useInProcessServer({ heartbeatMs: 500 });

describe('attack 1: session hijack by a colliding session id', () => {
  it("Mallory's invite reusing the id of Alice's session with Bob changes nothing: Alice's next messages reach Bob only", async () => {
    const alice = await server.start('alice');
    const bob = await server.start('bob');
    const aliceSession = alice.waitFor('outbound-session-ready');
    const atBob = bob.waitFor('one2one-message');
    await alice.sendMessage(bob.address.userId, 'first');
    const { sessionId } = await aliceSession;
    expect(text((await atBob).message.body)).toBe('first');
    const safetyNumber = await alice.fingerprint(bob.address.userId, bob.address.deviceId);

    // Mallory, a registered user, invites Alice with Alice and Bob's session id.
    const mallory = await rawDevice(server.url, 'mallory');
    mallory.listen();
    const bundles = await mallory.service.getPreKeyBundle({ userId: alice.address.userId });
    const bundle = bundles.preKeyBundles[0];
    if (!bundle) throw new Error('no bundle for alice');
    const { session: malloryOutbound, invite } = OutboundSession.initiate(mallory.account, toBinary(PreKeyBundleSchema, bundle));
    const forged = fromBinary(InviteMsgSchema, invite);
    forged.sessionId = sessionId;
    const refused = alice.waitFor('error', () => true, 10_000).catch(() => undefined);
    const sent = await mallory.service.invite({ msg: forged });
    expect(sent.code).toBe(200);
    await refused;

    // Alice keeps talking to Bob.
    const bobGot: string[] = [];
    bob.on('one2one-message', (e) => void bobGot.push(text(e.message.body)));
    await alice.sendMessage(bob.address.userId, 'secret for bob');
    expect(await until(() => bobGot.includes('secret for bob'), 15_000)).toBe(true);
    // Alice has processed everything up to now (and sent what it made her send) once a later
    // sentinel arrives; then everything she sent Mallory is in Mallory's hands once another does.
    await drainInbound(alice, await server.start('probe'));
    await drainRawInbound(mallory, await rawDevice(server.url, 'probe-raw'));

    // Whatever reached Mallory: if Alice accepted, Mallory completes her session and tries to read
    // every E2eeMsg she got. None may decrypt.
    const readable: string[] = [];
    const malloryOwn = malloryOutbound.sessionId === sessionId ? malloryOutbound : Session.deserialize(malloryOutbound.serialize());
    for (const msg of mallory.received.filter((m) => !isSentinelMsg(m))) {
      if (msg.payload.case === 'acceptMsg' && !malloryOwn.responded) {
        try {
          malloryOwn.state.sessionId = msg.payload.value.sessionId;
          malloryOwn.complete(mallory.account, toBinary((await import('../../src/proto/gen/wire_pb.js')).AcceptMsgSchema, msg.payload.value));
        } catch {
          // not completable: fine
        }
      }
      if (msg.payload.case === 'e2eeMsg') {
        try {
          const { E2eeMsgSchema } = await import('../../src/proto/gen/wire_pb.js');
          readable.push(text(malloryOwn.decrypt(toBinary(E2eeMsgSchema, msg.payload.value))));
        } catch {
          // not readable: fine
        }
      }
    }
    mallory.close();
    expect(mallory.received.filter((m) => m.payload.case === 'e2eeMsg' && !isSentinelMsg(m))).toEqual([]);
    expect(readable).toEqual([]);
    expect(await alice.fingerprint(bob.address.userId, bob.address.deviceId)).toBe(safetyNumber);
  }, 60_000);

  it('an invite whose session id is not derived from its contents is refused by InboundSession.accept', async () => {
    const { Account, InboundSession } = await import('../../src/protocol/index.js');
    const responder = Account.create({ suite: 2, now: Date.now() });
    const initiator = Account.create({ suite: 2, now: Date.now() });
    const { invite } = OutboundSession.initiate(initiator, responder.preKeyBundle());
    const honest = fromBinary(InviteMsgSchema, invite);
    expect(honest.sessionId).toMatch(/^[0-9a-f]{64}$/);
    const chosen = fromBinary(InviteMsgSchema, invite);
    chosen.sessionId = 'a'.repeat(64);
    expect(() => InboundSession.accept(responder, toBinary(InviteMsgSchema, chosen))).toThrow(expect.objectContaining({ code: 'ERR_MALFORMED_MESSAGE' }));
    // The honest one is still accepted (nothing was consumed by the refusal).
    expect(InboundSession.accept(responder, invite).session.sessionId).toBe(honest.sessionId);
  });
});
