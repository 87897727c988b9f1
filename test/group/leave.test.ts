// Leaving a group. The server marks the whole user as left and stops routing the
// group to all of its devices, and may promote a new manager; the runtime decides who rotates the
// epoch from its own (stale) copy of the member roles, and only the device that called leaveGroup
// learns that its user left.
import { describe, expect, it } from 'vitest';
import { GroupMembershipError } from '../../src/index.js';
import { until, useInProcessServer } from '../support/index.js';

const server = useInProcessServer();

describe('leaving a group', () => {
  it('when the only manager leaves, the remaining members still move to an epoch without the leaver', async () => {
    const alice = await server.start('alice');
    const bob = await server.start('bob');
    const carol = await server.start('carol');
    const joins = [bob.waitFor('group-created'), carol.waitFor('group-created')];
    const { groupId } = await alice.createGroup('g', [bob.address.userId, carol.address.userId]);
    await Promise.all(joins);

    await alice.leaveGroup(groupId);
    // The server made bob (earliest member) the manager; somebody must now start epoch 1 without
    // alice, or she keeps the key that decrypts everything bob and carol send from now on.
    const rotated = await until(async () => (await carol.groupInfo(groupId)).epoch > 0n, 8000);
    const members = (await carol.groupInfo(groupId)).members.map((m) => m.deviceId).sort();
    expect(rotated, `no epoch change after the sole manager left (carol still at epoch 0 with ${members.join(',')})`).toBe(true);
    expect(members).toEqual(['bob', 'carol']);
  }, 30_000);

  it("when one device of a user leaves, the user's other device learns it left", async () => {
    const phone = await server.start('phone');
    const laptop = await server.link(phone, 'laptop');
    const bob = await server.start('bob-x');
    const joins = [bob.waitFor('group-created'), laptop.waitFor('group-created')];
    const { groupId } = await bob.createGroup('g', [phone.address.userId]);
    await Promise.all(joins);
    expect((await phone.groupInfo(groupId)).members).toHaveLength(3);

    const leftOnLaptop = laptop
      .waitFor('group-left', (e) => e.groupId === groupId, 8000)
      .then(
        () => true,
        () => false,
      );
    await phone.leaveGroup(groupId);
    // The server no longer routes the group to the user's devices (it left as a user); the laptop
    // still believes it is a member and keeps the group key.
    expect(await leftOnLaptop, 'the laptop got no group-left event').toBe(true);
    await expect(laptop.groupInfo(groupId)).rejects.toBeInstanceOf(GroupMembershipError);
  }, 30_000);
});
