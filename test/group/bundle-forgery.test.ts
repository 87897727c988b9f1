// Issue 11, attacks 2 and 5: the member who makes an epoch writes its member list. A member list
// must be exactly the devices the server placed in the group at that epoch, each under the identity
// key this device knows (or the server registered) for it.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { Account, GroupSession, type GroupMemberInfo } from '../../src/protocol/index.js';
import { E2eeMsgSchema, GroupPreKeyBundleSchema, PlaintextSchema } from '../../src/proto/gen/wire_pb.js';
import type { E2eeClient } from '../../src/index.js';
import { appPlaintext, drainInbound, rawDevice, type RawDevice, rawSessions, type RawSessions, text, useInProcessServer } from '../support/index.js';

const server = useInProcessServer({ heartbeatMs: 500 });

function bundlePlaintext(bundle: Uint8Array) {
  return create(PlaintextSchema, { version: 1, payload: { case: 'groupPreKeyBundle', value: fromBinary(GroupPreKeyBundleSchema, bundle) } });
}

async function memberOf(client: E2eeClient): Promise<GroupMemberInfo> {
  // The key the server registered for the client's device (what an honest creator would list).
  const probe = await rawDevice(server.url, `probe-${crypto.randomUUID().slice(0, 8)}`);
  const bundles = await probe.service.getPreKeyBundle({ userId: client.address.userId, deviceId: client.address.deviceId });
  const key = bundles.preKeyBundles[0]?.identityKey?.signPublicKey;
  if (!key) throw new Error('no bundle');
  return { userId: client.address.userId, deviceId: client.address.deviceId, signPublicKey: key };
}

/** Mallory creates a group with the listed users on the server, then writes her own member list. */
async function malloryCreates(mallory: RawDevice, sessions: RawSessions, users: E2eeClient[]): Promise<{ groupId: string }> {
  const created = await mallory.service.createGroup({ groupName: 'mallory-group', members: users.map((u) => ({ userId: u.address.userId })) });
  expect(created.code).toBe(201);
  const groupId = created.groupAddress?.peer.case === 'group' ? created.groupAddress.peer.value.groupId : '';
  for (const u of users) await sessions.openTo(u.address.userId);
  return { groupId };
}

async function sendBundle(sessions: RawSessions, bundle: Uint8Array, to: E2eeClient[]): Promise<void> {
  for (const u of to) await sessions.send(u.address.userId, u.address.deviceId, bundlePlaintext(bundle));
}

describe('attacks 2 and 5: a member list written by a malicious member', () => {
  it("a bundle listing Carol's device under a key Mallory holds is refused: nothing is ever attributed to Carol", async () => {
    const alice = await server.start('alice');
    const bob = await server.start('bob');
    const carol = await server.start('carol');
    const mallory = await rawDevice(server.url, 'mallory');
    mallory.listen();
    const sessions = rawSessions(mallory);
    const { groupId } = await malloryCreates(mallory, sessions, [alice, bob]);

    const fakeCarol = Account.create({ suite: 2, now: Date.now() });
    const members = [
      await memberOf(alice),
      await memberOf(bob),
      { userId: carol.address.userId, deviceId: carol.address.deviceId, signPublicKey: fakeCarol.identityPublicKey.signPublicKey },
    ];
    const { bundle } = GroupSession.create(mallory.account, { groupId, domain: server.domain, members, epoch: 0, userId: mallory.userId, deviceId: mallory.deviceId });
    const attributedToCarol: string[] = [];
    for (const c of [alice, bob]) c.on('group-message', (e) => void (e.message.from.userId === carol.address.userId && attributedToCarol.push(text(e.message.body))));
    const refused = alice.waitFor('error', (e) => /group|bundle|member/i.test(`${e.context} ${e.error.message}`), 5_000);
    await sendBundle(sessions, bundle, [alice, bob]);
    await refused.catch(() => undefined);

    // "Carol" speaks: a message signed with the key the forged list gives her device.
    const asCarol = GroupSession.join(fakeCarol, bundle, { userId: carol.address.userId, deviceId: carol.address.deviceId, now: Date.now() });
    const msg = fromBinary(E2eeMsgSchema, asCarol.encrypt(toBytes(appPlaintext('I am Carol'))));
    msg.from = mallory.address;
    await mallory.service.sendGroupMsg({ msg });
    // Alice and Bob have processed the bundle and "Carol"'s message once a later sentinel arrives.
    const probe = await server.start('probe');
    await drainInbound(alice, probe);
    await drainInbound(bob, probe);
    expect(attributedToCarol).toEqual([]);
    await expect(alice.groupInfo(groupId)).rejects.toThrow();
    mallory.close();
  }, 60_000);

  it("a bundle listing Bob's real device under another key is refused", async () => {
    const alice = await server.start('alice-k');
    const bob = await server.start('bob-k');
    const mallory = await rawDevice(server.url, 'mallory-k');
    mallory.listen();
    const sessions = rawSessions(mallory);
    const { groupId } = await malloryCreates(mallory, sessions, [alice, bob]);
    const fakeBob = Account.create({ suite: 2, now: Date.now() });
    const members = [await memberOf(alice), { userId: bob.address.userId, deviceId: bob.address.deviceId, signPublicKey: fakeBob.identityPublicKey.signPublicKey }];
    const { bundle } = GroupSession.create(mallory.account, { groupId, domain: server.domain, members, epoch: 0, userId: mallory.userId, deviceId: mallory.deviceId });
    const refused = alice.waitFor('error', () => true, 5_000);
    await sendBundle(sessions, bundle, [alice]);
    await refused.catch(() => undefined);
    await drainInbound(alice, await server.start('probe-k'));
    await expect(alice.groupInfo(groupId)).rejects.toThrow();
    mallory.close();
  }, 60_000);

  it('a bundle that leaves out a member the server placed in the group is refused; the honest bundle still works', async () => {
    const alice = await server.start('alice-o');
    const bob = await server.start('bob-o');
    const mallory = await rawDevice(server.url, 'mallory-o');
    mallory.listen();
    const sessions = rawSessions(mallory);
    const { groupId } = await malloryCreates(mallory, sessions, [alice, bob]);
    const withoutBob = GroupSession.create(mallory.account, {
      groupId,
      domain: server.domain,
      members: [await memberOf(alice)],
      epoch: 0,
      userId: mallory.userId,
      deviceId: mallory.deviceId,
    });
    const refused = alice.waitFor('error', () => true, 5_000);
    await sendBundle(sessions, withoutBob.bundle, [alice]);
    await refused.catch(() => undefined);
    await drainInbound(alice, await server.start('probe-o'));
    await expect(alice.groupInfo(groupId)).rejects.toThrow();

    // The honest list (exactly the server's devices, with their keys) is accepted.
    const honest = GroupSession.create(mallory.account, {
      groupId,
      domain: server.domain,
      members: [await memberOf(alice), await memberOf(bob)],
      epoch: 0,
      userId: mallory.userId,
      deviceId: mallory.deviceId,
    });
    const joined = alice.waitFor('group-created', (e) => e.groupId === groupId, 5_000);
    await sendBundle(sessions, honest.bundle, [alice, bob]);
    await joined;
    const got = alice.waitFor('group-message', () => true, 10_000);
    const msg = fromBinary(E2eeMsgSchema, honest.session.encrypt(toBytes(appPlaintext('honest'))));
    msg.from = mallory.address;
    await mallory.service.sendGroupMsg({ msg });
    const event = await got;
    expect(text(event.message.body)).toBe('honest');
    expect(event.message.from.userId).toBe(mallory.userId);
    mallory.close();
  }, 60_000);
});

function toBytes(plaintext: ReturnType<typeof appPlaintext>): Uint8Array {
  return toBinary(PlaintextSchema, plaintext);
}
