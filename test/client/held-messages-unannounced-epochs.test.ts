// Any registered user can create a group listing any other user and send messages "for" an epoch
// the server never ordered. Such a message can never decrypt; if the client held it (waiting for
// a bundle that will never come), a stranger could fill the victim's storage. The client refuses
// it instead (GroupMembershipError, reported as an 'error' event) and holds nothing. The test
// counts those refusals, so it proves every message was received and processed, not merely that
// nothing was held by the time it looked.
import { describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { createClient, GroupMembershipError } from '../../src/index.js';
import { createMemoryDatabase } from '../../src/store/index.js';
import { MAX_HELD_PER_GROUP } from '../../src/client/groups.js';
import { E2eeMsgSchema } from '../../src/proto/gen/wire_pb.js';
import { connect, registerUser, ResponseCode, until, useInProcessServer } from '../support/index.js';

const server = useInProcessServer({ rateLimit: { perSecond: 0, burst: 1 }, ipRateLimit: { perSecond: 0, burst: 1 } });

describe('client: held group messages', () => {
  it('a stranger cannot make the client hold group messages for epochs the server never announced', async () => {
    const db = createMemoryDatabase();
    const victim = await server.started(createClient({ server: server.url, deviceId: 'victim', suite: 2, database: db }));
    // Every stranger's message the victim processes and refuses, and anything else that went wrong.
    const refused = new Set<string>();
    const unexpected: string[] = [];
    victim.on('error', (e) => {
      const id = /^processing e2eeMsg (\S+)$/.exec(e.context)?.[1];
      if (id && e.error instanceof GroupMembershipError) refused.add(id);
      else unexpected.push(`${e.context}: ${e.error.message}`);
    });
    const delivered: string[] = [];
    victim.on('group-message', (e) => void delivered.push(e.message.messageId));
    const rpc = connect(server.url);
    const attacker = await registerUser(rpc, 2);

    const groups = 3;
    const perGroup = Math.ceil((MAX_HELD_PER_GROUP + 50) / groups);
    const body = new Uint8Array(512).fill(7);
    for (let g = 0; g < groups; g++) {
      const created = await rpc.createGroup({ groupName: `spam-${g}`, members: [{ userId: victim.address.userId }] }, attacker.auth);
      expect(created.code).toBe(ResponseCode.CREATED);
      const to = created.groupAddress;
      for (let i = 0; i < perGroup; i++) {
        const msg = create(E2eeMsgSchema, {
          version: 2,
          suiteId: 2,
          sessionId: 'x',
          from: attacker.address,
          to,
          // epoch 9: the server is at epoch 0 and never ordered it, so this can never decrypt.
          payload: { case: 'groupMsg', value: { epoch: 9n, ciphertext: body } },
        });
        const sent = await rpc.sendGroupMsg({ msg }, attacker.auth);
        expect(sent.code).toBe(ResponseCode.OK);
      }
    }

    // Wait until the victim has processed every one of them: each is refused, none is held.
    const total = groups * perGroup;
    await until(() => refused.size >= total || unexpected.length > 0, 90_000);
    expect(unexpected).toEqual([]);
    expect(refused.size).toBe(total);
    expect(delivered).toEqual([]);
    const held = await db.transaction(async (tx) => (await tx.list('held')).length);
    expect(held).toBe(0);
  }, 120_000);
});
