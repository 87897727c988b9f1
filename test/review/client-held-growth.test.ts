// Security review (test/review): any registered user can make a stranger's client store an
// unbounded number of "held" group messages. The server lets anyone create a group listing any
// user, and the client holds every group message whose epoch it has no bundle for, up to
// MAX_HELD_PER_GROUP (1000) *per group*, of any size (up to the server's 1 MiB), forever (held
// messages never expire, even for an epoch the server never announced). FAILS while this holds.
import { describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { createClient } from '../../src/index.js';
import { createMemoryDatabase } from '../../src/store/index.js';
import { MAX_HELD_PER_GROUP } from '../../src/client/groups.js';
import { E2eeMsgSchema } from '../../src/proto/gen/wire_pb.js';
import { connect, registerUser, ResponseCode } from '../server/helpers.js';
import { useInProcessServer } from '../support/in-process-server.js';

const server = useInProcessServer({ rateLimit: { perSecond: 0, burst: 1 }, ipRateLimit: { perSecond: 0, burst: 1 } });

describe('REVIEW client: held group messages', () => {
  it('REVIEW-C4 a stranger cannot make the client hold group messages for epochs the server never announced', async () => {
    const db = createMemoryDatabase();
    const victim = await server.started(createClient({ server: server.url, deviceId: 'victim', suite: 2, database: db }));
    const rpc = connect(server.url);
    const attacker = await registerUser(rpc, 2);

    const groups = 3;
    const perGroup = Math.ceil((MAX_HELD_PER_GROUP + 50) / groups);
    const body = new Uint8Array(512).fill(7);
    for (let g = 0; g < groups; g++) {
      const created = await rpc.createGroup({ groupName: `spam-${g}`, members: [{ userId: victim.address.userId }] }, attacker.auth);
      expect(created.code).toBe(ResponseCode.CREATED);
      const to = created.groupAddress;
      const groupId = to?.peer.case === 'group' ? to.peer.value.groupId : '';
      for (let i = 0; i < perGroup; i++) {
        const msg = create(E2eeMsgSchema, {
          version: 1,
          suiteId: 2,
          sessionId: 'x',
          from: attacker.address,
          to,
          // epoch 9: the server is at epoch 0 and never ordered it, so this can never decrypt.
          payload: { case: 'groupMsg', value: { groupId, epoch: 9n, ciphertext: body } },
        });
        const sent = await rpc.sendGroupMsg({ msg }, attacker.auth);
        expect(sent.code).toBe(ResponseCode.OK);
      }
    }

    // Wait until the victim has worked through its queue (held or dropped every message).
    const countHeld = (): Promise<number> => db.transaction(async (tx) => (await tx.list('held')).length);
    const deadline = Date.now() + 15_000;
    let last = -1;
    let stableSince = Date.now();
    for (;;) {
      const n = await countHeld();
      if (n !== last) {
        last = n;
        stableSince = Date.now();
      }
      if (Date.now() - stableSince > 1500 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(last).toBeLessThanOrEqual(MAX_HELD_PER_GROUP);
  }, 20_000);
});
