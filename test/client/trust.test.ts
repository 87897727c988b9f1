// What the runtime refuses to take from the server on trust (docs/client.md): a known device that
// reappears with another identity key, and a group bundle from a device the server did not name as
// the author of that epoch. A wrapped protocol handler plays the malicious server.
import { describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { createClient } from '../../src/index.js';
import { E2eeAddressSchema, PeerUserSchema, type E2eeAddress } from '../../src/proto/gen/wire_pb.js';
import { drainInbound, tamperingHandler, useInProcessServer } from '../support/index.js';

const server = useInProcessServer();

const address = (userId: string, deviceId: string): E2eeAddress =>
  create(E2eeAddressSchema, { domain: server.domain, peer: { case: 'user', value: create(PeerUserSchema, { userId, deviceId }) } });

describe('identity changes of known devices', () => {
  for (const acceptIdentityChanges of [false, true]) {
    it(`an invite claiming a known device with another identity key is ${acceptIdentityChanges ? 'accepted when allowed' : 'refused by default'}`, async () => {
      const target: { bob?: E2eeAddress; malloryUser?: string } = {};
      const alice = await server.started(
        createClient({
          server: tamperingHandler(server.url, (msg) => {
            // Mallory's invite is relabelled as coming from Bob's known device.
            if (msg.payload.case !== 'inviteMsg' || !target.bob || msg.from?.peer.case !== 'user' || msg.from.peer.value.userId !== target.malloryUser) return;
            msg.from = target.bob;
            msg.payload.value.from = target.bob;
          }),
          deviceId: 'alice',
          suite: 2,
          acceptIdentityChanges,
        }),
      );
      const bob = await server.started(createClient({ server: server.url, deviceId: 'desktop', suite: 2 }));
      const mallory = await server.started(createClient({ server: server.url, deviceId: 'mallory', suite: 2 }));
      const atBob = bob.waitFor('one2one-message');
      await alice.sendMessage(bob.address.userId, 'hi bob');
      await atBob;
      const before = await alice.fingerprint(bob.address.userId, 'desktop');
      target.bob = address(bob.address.userId, 'desktop');
      target.malloryUser = mallory.address.userId;

      const changed = alice.waitFor('peer-identity-changed', () => true, 15_000);
      const outcome = acceptIdentityChanges
        ? alice.waitFor('inbound-session-ready', (e) => e.peer.deviceId === 'desktop', 15_000)
        : alice.waitFor('error', (e) => (e.error as { code?: string }).code === 'ERR_PEER_IDENTITY_CHANGED', 15_000);
      await mallory.sendMessage(alice.address.userId, 'I am bob now');
      expect((await changed).peer).toEqual({ userId: bob.address.userId, deviceId: 'desktop' });
      await outcome;
      const after = await alice.fingerprint(bob.address.userId, 'desktop');
      if (acceptIdentityChanges) expect(after).not.toBe(before);
      else expect(after).toBe(before);
    }, 30_000);
  }
});

describe('group bundles', () => {
  it("a bundle from a device the server did not name as the epoch's author is refused", async () => {
    const relabel: { to?: E2eeAddress } = {};
    const bob = await server.started(
      createClient({
        server: tamperingHandler(server.url, (msg) => {
          // The server names Carol as the author of the change Alice made.
          if (msg.payload.case === 'addGroupMembersMsg' && relabel.to) msg.payload.value.senderAddress = relabel.to;
        }),
        deviceId: 'bob',
        suite: 2,
      }),
    );
    const alice = await server.started(createClient({ server: server.url, deviceId: 'alice', suite: 2 }));
    const carol = await server.started(createClient({ server: server.url, deviceId: 'carol', suite: 2 }));
    const dave = await server.started(createClient({ server: server.url, deviceId: 'dave', suite: 2 }));
    const joined = [bob, carol].map((c) => c.waitFor('group-created'));
    const { groupId } = await alice.createGroup('g', [bob.address.userId, carol.address.userId]);
    await Promise.all(joined);
    relabel.to = address(carol.address.userId, 'carol');

    const refused = bob.waitFor('error', (e) => /did not order from its sender/.test(e.error.message), 15_000);
    const carolMoves = carol.waitFor('group-members-added', () => true, 15_000);
    await alice.addGroupMembers(groupId, [dave.address.userId]);
    await refused;
    await carolMoves;
    // Bob has processed everything up to now (the bundle included) once a later sentinel arrives.
    await drainInbound(bob, dave);
    expect((await bob.groupInfo(groupId)).epoch).toBe(0n);
  }, 30_000);
});
