// Red team 3: the allowances of held group messages (src/client/groups.ts HELD_LIMITS,
// records.ts Records.hold). The allowance for groups this device has not joined exists so that the
// first messages of a new group, which often arrive before the creator's bundle (the bundle waits
// for the one-to-one session to be accepted), are not lost. It is one pool shared by every group:
// a stranger who creates four groups listing the victim and sends 32 junk messages to each (which
// never decrypt, so they stay 7 days) uses it up, and from then on the first messages of every
// honest group the victim is added to are dropped.
import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { E2eeMsgSchema, E2eeAddressSchema } from '../../src/proto/gen/wire_pb.js';
import { collect, drainInbound, rawDevice, until, useInProcessServer } from '../support/index.js';

const server = useInProcessServer({ rateLimit: { perSecond: 10_000, burst: 10_000 } });

describe('held-message allowances', () => {
  it('control: the first message of a new group, sent before the bundle could arrive, is delivered', async () => {
    const victim = await server.start('victim0');
    const alice = await server.start('alice0');
    const got = collect(victim);
    const { groupId } = await alice.createGroup('honest', [victim.address.userId]);
    await alice.sendGroupMessage(groupId, 'welcome');
    expect(await until(() => got.group.includes('welcome'), 8000)).toBe(true);
  }, 20_000);

  it("a stranger's junk in groups the victim never joined does not make honest new groups lose their first messages", async () => {
    const victim = await server.start('victim');
    const got = collect(victim);
    const heldLimit: string[] = [];
    victim.on('error', (e) => {
      if ((e.error as { code?: string }).code === 'ERR_HELD_LIMIT') heldLimit.push(e.context);
    });
    const stranger = await rawDevice(server.url, 'mallory', 2);
    stranger.listen();
    // Four groups x 32 junk messages: the whole allowance of all not-joined groups (128).
    for (let g = 0; g < 5; g++) {
      const created = await stranger.service.createGroup({ groupName: `spam${g}`, members: [{ userId: victim.address.userId }] });
      const groupAddress = created.groupAddress ?? create(E2eeAddressSchema, {});
      for (let i = 0; i < 32; i++) {
        const msg = create(E2eeMsgSchema, {
          version: 2,
          suiteId: 2,
          from: stranger.address,
          to: groupAddress,
          payload: {
            case: 'groupMsg',
            value: { epoch: 0n, memberIndex: 1, messageIndex: i, ciphertext: new Uint8Array(64), signature: new Uint8Array(64) },
          },
        });
        const response = await stranger.service.sendGroupMsg({ msg });
        expect(response.code).toBe(200);
      }
    }
    // The victim's runtime has taken them in (the fifth group no longer fits).
    expect(await until(() => heldLimit.length > 0, 15_000)).toBe(true);

    // An honest user adds the victim to a new group and greets it at once.
    const alice = await server.start('alice');
    const { groupId } = await alice.createGroup('honest', [victim.address.userId]);
    await alice.sendGroupMessage(groupId, 'welcome');
    expect(await until(() => got.group.includes('welcome'), 8000)).toBe(true);
    stranger.close();
  }, 40_000);
});

describe('held messages for an epoch that has passed', () => {
  it('messages held for an epoch whose bundle never came are dropped once the group moves past it', async () => {
    const { createMemoryDatabase } = await import('../../src/store/index.js');
    const { MaliciousMember } = await import('../support/index.js');
    const { GroupRole } = await import('../../src/proto/gen/service_pb.js');
    const db = createMemoryDatabase();
    const heldRows = (): Promise<number> => db.transaction(async (tx) => (await tx.list('held')).length);
    const alice = await server.start('alice2');
    const victim = await server.start('victim2', { database: db });
    const mallory = new MaliciousMember(server.url, 'mallory2', 2);
    await mallory.start();
    const { groupId } = await alice.createGroup('g', [victim.address.userId, mallory.userId], { managers: [mallory.userId] });
    expect(await until(() => mallory.groups.has(groupId), 10_000)).toBe(true);
    expect(await until(async () => (await victim.groupInfo(groupId).catch(() => undefined)) !== undefined, 10_000)).toBe(true);
    const groupAddress = mallory.groups.get(groupId)?.groupAddress;
    // Mallory, a manager, has the server order epoch 1 and never sends its bundle; she fills the
    // victim's allowance for this group with messages "for" epoch 1 that can never decrypt.
    const sybil = await rawDevice(server.url, 'sybil', 2);
    const ordered = await mallory.service.addGroupMembers({ groupAddress, expectedEpoch: 0n, members: [{ userId: sybil.userId, role: GroupRole.MEMBER }] });
    expect(ordered.code).toBe(200);
    const junk = 50;
    for (let i = 0; i < junk; i++) {
      const msg = create(E2eeMsgSchema, {
        version: 2,
        suiteId: 2,
        from: mallory.address,
        to: groupAddress,
        payload: {
          case: 'groupMsg',
          value: { epoch: 1n, memberIndex: 1, messageIndex: i, ciphertext: new Uint8Array(64), signature: new Uint8Array(64) },
        },
      });
      expect((await mallory.service.sendGroupMsg({ msg })).code).toBe(200);
    }
    expect(await until(async () => (await heldRows()) === junk, 10_000)).toBe(true);
    // The honest manager's next change skips the lost epoch: the victim moves to epoch 2.
    const other = await rawDevice(server.url, 'other', 2);
    await alice.addGroupMembers(groupId, [other.userId]);
    expect(await until(async () => (await victim.groupInfo(groupId)).epoch === 2n, 10_000)).toBe(true);
    // Everything queued for the victim so far has been processed once a later sentinel arrives.
    await drainInbound(victim, alice);
    // Nothing can ever decrypt messages of epoch 1 now: they must not keep using the group's allowance.
    expect(await heldRows()).toBe(0);
    await mallory.stop();
  }, 40_000);
});
