// End-to-end group scenarios against a real `pqe2ee server` process: create / add / remove in
// every suite, leave (the acting manager device removes the leaver), and a member whose session
// is not accepted yet when the group is created (pending group pre-key bundle).
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { drained, errorsOf, key, makeClient, memberKeys, sorted, tempDir, useServerProcess, waitForEpoch, waitUntil, type TestClient } from './harness.js';

const server = useServerProcess();

/** Waits until each client has received `count` group messages of `groupId`. */
async function groupMessages(clients: TestClient[], groupId: string, count: number): Promise<void> {
  await waitUntil(() => clients.every((c) => c.groupTexts(groupId).length >= count), `${clients.map((c) => c.name).join(', ')} receiving ${count} group messages`);
}

describe.each([1, 2, 3])('group through the server, suite %i', (suite) => {
  it('create, message, add a member, remove a member: each device reads exactly the epochs it belongs to', async () => {
    const alice = await makeClient(server, 'alice', { suite });
    const bob = await makeClient(server, 'bob', { suite });
    const carol = await makeClient(server, 'carol', { suite });
    const dave = await makeClient(server, 'dave', { suite });

    const joins = [bob, carol].map((c) => c.client.waitFor('group-created', () => true, 20_000));
    const { groupId, epoch: e0 } = await alice.client.createGroup('club', [bob.userId, carol.userId]);
    const joined = await Promise.all(joins);
    expect(joined.map((j) => j.groupId)).toEqual([groupId, groupId]);
    expect(joined.map((j) => j.groupName)).toEqual(['club', 'club']);
    const members0 = sorted([key(alice), key(bob), key(carol)]);
    expect(await memberKeys(bob, groupId)).toEqual(members0);
    expect(await memberKeys(alice, groupId)).toEqual(members0);

    await alice.client.sendGroupMessage(groupId, 'm1 from alice');
    await groupMessages([bob, carol], groupId, 1);
    await bob.client.sendGroupMessage(groupId, 'm2 from bob');
    await groupMessages([alice, carol], groupId, 1);
    await groupMessages([carol], groupId, 2);

    const daveJoins = dave.client.waitFor('group-created', (e) => e.groupId === groupId, 20_000);
    const { epoch: e1 } = await alice.client.addGroupMembers(groupId, [dave.userId]);
    expect(e1).toBeGreaterThan(e0);
    await daveJoins;
    await Promise.all([bob, carol, dave].map((c) => waitForEpoch(c, groupId, e1)));
    const members1 = sorted([...members0, key(dave)]);
    for (const c of [alice, bob, carol, dave]) expect(await memberKeys(c, groupId)).toEqual(members1);
    await carol.client.sendGroupMessage(groupId, 'm3 from carol');
    await groupMessages([dave], groupId, 1);
    await groupMessages([alice], groupId, 2);
    await groupMessages([bob], groupId, 2);

    const carolLeaves = carol.client.waitFor('group-left', (e) => e.groupId === groupId, 20_000);
    const { epoch: e2 } = await alice.client.removeGroupMembers(groupId, [carol.userId]);
    expect(e2).toBeGreaterThan(e1);
    await carolLeaves;
    await Promise.all([bob, dave].map((c) => waitForEpoch(c, groupId, e2)));
    const members2 = sorted([key(alice), key(bob), key(dave)]);
    for (const c of [alice, bob, dave]) expect(await memberKeys(c, groupId)).toEqual(members2);
    await expect(carol.client.sendGroupMessage(groupId, 'carol cannot send')).rejects.toThrow();
    await dave.client.sendGroupMessage(groupId, 'm4 from dave');
    await groupMessages([alice, bob], groupId, 3);
    await drained(server, alice, bob, carol, dave);

    expect(alice.groupTexts(groupId)).toEqual(['m2 from bob', 'm3 from carol', 'm4 from dave']);
    expect(bob.groupTexts(groupId)).toEqual(['m1 from alice', 'm3 from carol', 'm4 from dave']);
    expect(carol.groupTexts(groupId)).toEqual(['m1 from alice', 'm2 from bob']);
    expect(dave.groupTexts(groupId)).toEqual(['m3 from carol']);
    expect(carol.groupsLeft).toEqual([groupId]);
    expect(bob.group.find((g) => g.message.messageId && g.message.from.userId === dave.userId)?.message.from).toEqual({ userId: dave.userId, deviceId: dave.deviceId });
    expect(errorsOf(alice, bob, carol, dave)).toEqual([]);
  });
});

describe('group membership edge cases (suite 2)', () => {
  it('leave: the acting manager device removes the leaver; the others reach a new epoch without it; the leaver receives nothing more', async () => {
    const alice = await makeClient(server, 'alice');
    const bob = await makeClient(server, 'bob');
    const carol = await makeClient(server, 'carol');
    const joins = [bob, carol].map((c) => c.client.waitFor('group-created', () => true, 20_000));
    const { groupId, epoch: e0 } = await alice.client.createGroup('leavers', [bob.userId, carol.userId]);
    await Promise.all(joins);
    await alice.client.sendGroupMessage(groupId, 'before leave');
    await groupMessages([bob, carol], groupId, 1);

    const removedAtCarol = carol.client.waitFor('group-members-removed', (e) => e.groupId === groupId, 20_000);
    await bob.client.leaveGroup(groupId);
    expect(bob.groupsLeft).toEqual([groupId]);
    const removed = await removedAtCarol;
    expect(removed.userIds).toEqual([bob.userId]);
    expect(removed.epoch).toBeGreaterThan(e0);
    await Promise.all([alice, carol].map((c) => waitForEpoch(c, groupId, removed.epoch)));
    const members = sorted([key(alice), key(carol)]);
    expect(await memberKeys(alice, groupId)).toEqual(members);
    expect(await memberKeys(carol, groupId)).toEqual(members);
    await expect(bob.client.groupInfo(groupId)).rejects.toThrow();

    await carol.client.sendGroupMessage(groupId, 'after leave');
    await groupMessages([alice], groupId, 1);
    await drained(server, alice, bob, carol);
    expect(alice.groupTexts(groupId)).toEqual(['after leave']);
    expect(carol.groupTexts(groupId)).toEqual(['before leave']);
    expect(bob.groupTexts(groupId)).toEqual(['before leave']);
    expect(errorsOf(alice, bob, carol)).toEqual([]);
  });

  it('pending group pre-keys: a member whose client is stopped at creation joins when it starts and reads the group messages', async () => {
    const dir = tempDir();
    const alice = await makeClient(server, 'alice');
    const bob = await makeClient(server, 'bob', { database: path.join(dir, 'bob.sqlite') });
    const carol = await makeClient(server, 'carol');
    await bob.stop();

    const carolJoins = carol.client.waitFor('group-created', () => true, 20_000);
    const { groupId } = await alice.client.createGroup('late', [bob.userId, carol.userId]);
    await carolJoins;
    // bob's session is not accepted: its bundle waits at alice (pending), bob is still a member.
    expect(await memberKeys(alice, groupId)).toEqual(sorted([key(alice), key(bob), key(carol)]));
    await alice.client.sendGroupMessage(groupId, 'while bob is away');
    await groupMessages([carol], groupId, 1);

    await bob.start();
    await waitUntil(() => bob.groupsJoined.includes(groupId), 'bob joining the group after start');
    expect(await memberKeys(bob, groupId)).toEqual(sorted([key(alice), key(bob), key(carol)]));
    await waitUntil(() => bob.groupTexts(groupId).length >= 1, 'bob reading the message held for the bundle');
    await carol.client.sendGroupMessage(groupId, 'after bob is back');
    await groupMessages([bob], groupId, 2);
    await groupMessages([alice], groupId, 1);
    await bob.client.sendGroupMessage(groupId, 'bob speaks');
    await groupMessages([alice, carol], groupId, 2);
    await drained(server, alice, bob, carol);
    expect(bob.groupTexts(groupId)).toEqual(['while bob is away', 'after bob is back']);
    expect(alice.groupTexts(groupId)).toEqual(['after bob is back', 'bob speaks']);
    expect(carol.groupTexts(groupId)).toEqual(['while bob is away', 'bob speaks']);
    expect(errorsOf(alice, bob, carol)).toEqual([]);
  });
});
