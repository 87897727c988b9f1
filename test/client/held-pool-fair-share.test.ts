// The pool of all held group messages (src/client/records.ts Records.hold, HELD_LIMITS.total:
// 2000 messages) is shared fairly. Attack: a manager of two groups the victim has joined has the
// server order a new epoch in each and never sends its bundle, then fills each group's own
// allowance (1000) with messages "for" that epoch, which can never decrypt and stay held for a
// week. Before the fix the pool was then full and refused every other group's held messages: the
// first message of any new group (which arrives before its bundle) was lost.
import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { GroupRole } from '../../src/proto/gen/service_pb.js';
import { E2eeMsgSchema } from '../../src/proto/gen/wire_pb.js';
import { createMemoryDatabase } from '../../src/store/index.js';
import { MaliciousMember, rawDevice, useInProcessServer } from '../support/index.js';

const server = useInProcessServer({ rateLimit: { perSecond: 100_000, burst: 100_000 }, queueLimit: 100_000 });

async function until(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

describe('held-message pool', () => {
  it("groups holding undecryptable junk give up their oldest when another group's first messages need room", async () => {
    const db = createMemoryDatabase();
    const heldRows = (): Promise<number> => db.transaction(async (tx) => (await tx.list('held')).length);
    const alice = await server.start('alice', { suite: 2 });
    const victim = await server.start('victim', { suite: 2, database: db });
    const welcome: string[] = [];
    victim.on('group-message', (e) => {
      welcome.push(new TextDecoder().decode(e.message.body));
    });
    const dropped: string[] = [];
    victim.on('error', (e) => {
      if ((e.error as { code?: string }).code === 'ERR_HELD_LIMIT') dropped.push(e.error.message);
    });
    const mallory = new MaliciousMember(server.url, 'mallory', 2);
    await mallory.start();

    const perGroup = 1000; // HELD_LIMITS.group.count
    for (let g = 0; g < 2; g++) {
      const { groupId } = await alice.createGroup(`g${g}`, [victim.address.userId, mallory.userId], { managers: [mallory.userId] });
      expect(await until(() => mallory.groups.has(groupId), 10_000)).toBe(true);
      expect(await until(async () => (await victim.groupInfo(groupId).catch(() => undefined)) !== undefined, 10_000)).toBe(true);
      const groupAddress = mallory.groups.get(groupId)?.groupAddress;
      const sybil = await rawDevice(server.url, `sybil${g}`, 2);
      const ordered = await mallory.service.addGroupMembers({ groupAddress, expectedEpoch: 0n, members: [{ userId: sybil.userId, role: GroupRole.MEMBER }] });
      expect(ordered.code).toBe(200);
      for (let i = 0; i < perGroup; i++) {
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
    }
    // The victim holds all of it: the pool (2000) is full.
    expect(await until(async () => (await heldRows()) === 2 * perGroup, 60_000)).toBe(true);
    expect(dropped).toEqual([]);

    // An honest user without a session to the victim yet: the new group's first message arrives
    // before its bundle (which waits for the one-to-one session), so it has to be held.
    const carol = await server.start('carol', { suite: 2 });
    const { groupId } = await carol.createGroup('honest', [victim.address.userId]);
    await carol.sendGroupMessage(groupId, 'welcome');
    expect(await until(() => welcome.includes('welcome'), 20_000)).toBe(true);
    // Room was made from the junk, and the victim was told.
    expect(dropped.some((m) => m.includes('gives up its oldest'))).toBe(true);
    expect(await heldRows()).toBeLessThanOrEqual(2 * perGroup);
    await mallory.stop();
  }, 120_000);
});
