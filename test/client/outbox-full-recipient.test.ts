// What happens when the server refuses a send because the recipient's queue is full.
// The server answers SERVICE_UNAVAILABLE, which the runtime treats as retryable; the outbox is sent
// strictly in order, so the refused entry stays at its head and every later send of this client —
// to anyone — waits behind it until the full recipient drains its queue (possibly never).
// A group message is queued all-or-nothing, so one member with a full queue stops the group.
import { describe, expect, it } from 'vitest';
import { collect, until, useInProcessServer } from '../support/index.js';

const server = useInProcessServer({ queueLimit: 4 });

describe('outbox: a full recipient queue', () => {
  it("a recipient whose queue is full does not block this client's messages to other users", async () => {
    const alice = await server.start('alice');
    const bob = await server.start('bob');
    const carol = await server.start('carol');
    const carolGot = collect(carol);
    // Sessions first, so every later send is a plain E2eeMsg.
    const bobReady = bob.waitFor('one2one-message');
    await alice.sendMessage(bob.address.userId, 'hello bob');
    await bobReady;
    const carolReady = carol.waitFor('one2one-message');
    await alice.sendMessage(carol.address.userId, 'hello carol');
    await carolReady;

    // Bob goes offline; his queue (limit 4) fills up.
    const bobId = bob.address.userId;
    await bob.stop();
    for (let i = 0; i < 6; i++) await alice.sendMessage(bobId, `to bob ${i}`);

    // A message to carol must still go out.
    await alice.sendMessage(carol.address.userId, 'after the full queue');
    const delivered = await until(() => carolGot.one2one.includes('after the full queue'), 6000);
    expect(delivered, "carol never got the message: it is stuck behind bob's refused one in alice's outbox").toBe(true);
  }, 30_000);

  it('one group member with a full queue does not stop the group for the others', async () => {
    const alice = await server.start('alice2');
    const bob = await server.start('bob2');
    const carol = await server.start('carol2');
    const carolGot = collect(carol);
    const joins = [bob.waitFor('group-created'), carol.waitFor('group-created')];
    const { groupId } = await alice.createGroup('g', [bob.address.userId, carol.address.userId]);
    await Promise.all(joins);
    const first = carol.waitFor('group-message');
    await alice.sendGroupMessage(groupId, 'first');
    await first;

    await bob.stop();
    for (let i = 0; i < 6; i++) await alice.sendGroupMessage(groupId, `m${i}`);
    const all = await until(() => carolGot.group.includes('m5'), 6000);
    expect(carolGot.group, 'carol (online) stops getting group messages once bob (offline) has a full queue').toContain('m5');
    expect(all).toBe(true);
  }, 30_000);
});
