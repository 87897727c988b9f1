// Group ordering under bursts. A later device of a member joins every group; a
// burst of membership changes with messages sent straight after each one converges, and every
// member gets every message of the epochs it belongs to exactly once.
import { describe, expect, it } from 'vitest';
import { collect, drainInbound, until, useInProcessServer } from '../support/index.js';

const server = useInProcessServer();

describe('group bursts', () => {
  it("a device linked later joins both of its user's groups and reads what is sent there afterwards", async () => {
    const alice = await server.start('alice');
    const bob = await server.start('bob-phone');
    const joins = [bob.waitFor('group-created'), bob.waitFor('group-created')];
    const g1 = (await alice.createGroup('g1', [bob.address.userId])).groupId;
    const g2 = (await alice.createGroup('g2', [bob.address.userId])).groupId;
    await Promise.all(joins);
    const joined = new Set<string>();
    const laptopPromise = server.link(bob, 'bob-laptop');
    const laptop = await laptopPromise;
    laptop.on('group-created', (e) => {
      joined.add(e.groupId);
    });
    const got = collect(laptop);
    await until(() => joined.size === 2, 10_000);
    expect([...joined].sort()).toEqual([g1, g2].sort());
    await until(async () => (await alice.groupInfo(g1)).members.length === 3 && (await alice.groupInfo(g2)).members.length === 3);
    await alice.sendGroupMessage(g1, 'one');
    await alice.sendGroupMessage(g2, 'two');
    await until(() => got.group.length >= 2);
    // No late duplicate can still come once the laptop has delivered a later sentinel.
    await drainInbound(laptop, alice);
    expect(got.group.sort()).toEqual(['one', 'two']);
  }, 30_000);

  it('back-to-back adds and removes with a message after each: members converge, each message once', async () => {
    const alice = await server.start('alice-b');
    const others = await Promise.all(['u1', 'u2', 'u3', 'u4'].map((d) => server.start(d)));
    const [u1, u2, u3, u4] = others as [(typeof others)[0], (typeof others)[0], (typeof others)[0], (typeof others)[0]];
    const got = new Map(others.map((c) => [c, collect(c)]));
    const { groupId } = await alice.createGroup('burst', [u1.address.userId]);
    await alice.sendGroupMessage(groupId, 'e0');
    await alice.addGroupMembers(groupId, [u2.address.userId]);
    await alice.sendGroupMessage(groupId, 'e1');
    await alice.addGroupMembers(groupId, [u3.address.userId]);
    await alice.sendGroupMessage(groupId, 'e2');
    await alice.removeGroupMembers(groupId, [u2.address.userId]);
    await alice.sendGroupMessage(groupId, 'e3');
    await alice.addGroupMembers(groupId, [u4.address.userId]);
    await alice.sendGroupMessage(groupId, 'e4');
    await alice.removeGroupMembers(groupId, [u1.address.userId]);
    await alice.sendGroupMessage(groupId, 'e5');
    const expected = new Map([
      [u1, ['e0', 'e1', 'e2', 'e3', 'e4']],
      [u2, ['e1', 'e2']],
      [u3, ['e2', 'e3', 'e4', 'e5']],
      [u4, ['e4', 'e5']],
    ]);
    await until(() => [...expected].every(([c, want]) => (got.get(c)?.group.length ?? 0) >= want.length), 15_000);
    // Every member has processed all it was sent (no late or repeated message can still come) once a later sentinel arrives.
    const probe = await server.start('probe-b');
    for (const c of others) await drainInbound(c, probe);
    for (const [c, want] of expected) expect(got.get(c)?.group, c.address.deviceId).toEqual(want);
    const final = (await u3.groupInfo(groupId)).members.map((m) => m.deviceId).sort();
    expect(final).toEqual(['alice-b', 'u3', 'u4']);
    expect((await u4.groupInfo(groupId)).epoch).toBe((await alice.groupInfo(groupId)).epoch);
  }, 30_000);
});
