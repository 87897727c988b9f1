// The group auth mode through the client runtime (docs/protocol.md "Group sessions", docs/client.md):
// createGroup's `groupAuth` option reaches every member with the bundle and holds for the group's
// life, and a group message that arrives before its sender's key announcement (which rides in the
// sender's first message of the epoch) is held and delivered once the announcement is in.
import { describe, expect, it } from 'vitest';
import { createClient, InvalidClientInputError } from '../../src/index.js';
import type { ProtoMsg } from '../../src/proto/gen/service_pb.js';
import { collect, streamRewritingHandler, until, useInProcessServer } from '../support/index.js';

const server = useInProcessServer({ heartbeatMs: 500 });

const announces = (msg: ProtoMsg): boolean =>
  msg.payload.case === 'e2eeMsg' && msg.payload.value.payload.case === 'groupMsg' && msg.payload.value.payload.value.senderKey !== undefined;

describe('client: group auth modes and sender-key announcements', () => {
  it("createGroup's groupAuth fixes the group's mode for every member and every epoch; the default is 'sender-key'", async () => {
    const alice = await server.start('alice');
    const bob = await server.start('bob');
    const carol = await server.start('carol');
    const got = { bob: collect(bob), carol: collect(carol) };
    await expect(alice.createGroup('bad', [bob.address.userId], { groupAuth: 'none' as 'identity' })).rejects.toThrow(InvalidClientInputError);

    const joined = bob.waitFor('group-created', (e) => e.groupName === 'signed', 15_000);
    const { groupId } = await alice.createGroup('signed', [bob.address.userId], { groupAuth: 'identity' });
    await joined;
    expect((await alice.groupInfo(groupId)).groupAuth).toBe('identity');
    expect((await bob.groupInfo(groupId)).groupAuth).toBe('identity');
    await alice.sendGroupMessage(groupId, 'identity-signed');
    await bob.sendGroupMessage(groupId, 'identity-signed too');
    expect(await until(() => got.bob.group.includes('identity-signed'), 10_000)).toBe(true);
    // A new epoch keeps the mode (the new member learns it from the bundle).
    const carolJoins = carol.waitFor('group-created', (e) => e.groupId === groupId, 15_000);
    await alice.addGroupMembers(groupId, [carol.address.userId]);
    await carolJoins;
    expect((await carol.groupInfo(groupId)).groupAuth).toBe('identity');
    await alice.sendGroupMessage(groupId, 'epoch 1');
    expect(await until(() => got.carol.group.includes('epoch 1') && got.bob.group.includes('epoch 1'), 10_000)).toBe(true);

    const defaultJoined = bob.waitFor('group-created', (e) => e.groupName === 'default', 15_000);
    const plain = await alice.createGroup('default', [bob.address.userId]);
    await defaultJoined;
    expect((await bob.groupInfo(plain.groupId)).groupAuth).toBe('sender-key');
  }, 40_000);

  it("a group message that overtakes its sender's announcement is held, then delivered when the announcement arrives", async () => {
    const alice = await server.start('alice2');
    // Bob's stream holds back alice's first group message (her announcement) until her second has passed.
    let stashed: ProtoMsg | undefined;
    const bob = await server.started(
      createClient({
        server: streamRewritingHandler(server.url, (msg) => {
          if (announces(msg) && !stashed) {
            stashed = msg;
            return [];
          }
          if (stashed && msg.payload.case === 'e2eeMsg' && msg.payload.value.payload.case === 'groupMsg') {
            const first = stashed;
            stashed = undefined;
            return [msg, first];
          }
          return [msg];
        }),
        deviceId: 'bob2',
        suite: 2,
      }),
    );
    const errors: string[] = [];
    bob.on('error', (e) => {
      errors.push(`${(e.error as { code?: string }).code}: ${e.context}`);
    });
    const got = collect(bob);
    const joined = bob.waitFor('group-created', () => true, 15_000);
    const { groupId } = await alice.createGroup('overtaken', [bob.address.userId]);
    await joined;
    await alice.sendGroupMessage(groupId, 'first (announces)');
    await alice.sendGroupMessage(groupId, 'second');
    expect(await until(() => got.group.length >= 2, 10_000)).toBe(true);
    // Delivered in the sender's order: the announcing one as it arrived, then the held one.
    expect(got.group).toEqual(['first (announces)', 'second']);
    expect(errors).toEqual([]);
    await alice.sendGroupMessage(groupId, 'third');
    expect(await until(() => got.group.includes('third'), 10_000)).toBe(true);
  }, 40_000);
});
