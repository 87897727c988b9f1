// Red team 3: a malicious member makes other members' group session too large to load.
// GroupSession.deserialize refuses states over 16 MiB (src/protocol/group-session.ts), but nothing
// bounds what serialize writes. Every skipped message key in a group epoch is stored with the
// sender's whole signature public key (2592 bytes for ML-DSA-87, suite 1, the default): a member
// who skips 1000 indexes twice fills an epoch's 2000 skipped keys (about 5.3 MB), and the session
// keeps the current epoch and up to 3 superseded ones for an hour. Over four ordinary membership
// changes the victim's state passes 16 MiB; from then on it never loads again: the victim can
// neither send to nor read the group.
import { describe, expect, it } from 'vitest';
import type { GroupSession } from '../../src/protocol/index.js';
import { MaliciousMember, rawDevice, until, useInProcessServer } from '../support/index.js';

const server = useInProcessServer({ rateLimit: { perSecond: 10_000, burst: 10_000 } });

/** A group message from `group` whose index is `skip` past the next one (the chain is advanced without sending). */
function skippingMessage(group: GroupSession, skip: number, body: string): Uint8Array {
  const epoch = (group as unknown as { state: { epochs: Array<{ sendingChain?: { chainKey: Uint8Array; nextIndex: number } }> } }).state.epochs[0];
  const chain = epoch?.sendingChain;
  if (!chain) throw new Error('no sending chain');
  for (let i = 0; i < skip; i++) chain.chainKey = group.suite.hmac(chain.chainKey, new Uint8Array([2]));
  chain.nextIndex += skip;
  return group.encrypt(MaliciousMember.appPlaintext(body));
}

describe('group session state size', () => {
  it("a member skipping message indexes cannot make the other members' group session unloadable", async () => {
    const alice = await server.start('alice', { suite: 1 });
    const victim = await server.start('victim', { suite: 1 });
    const mallory = new MaliciousMember(server.url, 'mallory', 1);
    await mallory.start();
    const received: string[] = [];
    victim.on('group-message', (e) => {
      received.push(new TextDecoder().decode(e.message.body));
    });
    const { groupId } = await alice.createGroup('g', [victim.address.userId, mallory.userId]);
    for (let epoch = 0n; epoch < 4n; epoch++) {
      if (epoch > 0n) {
        // An ordinary membership change by the manager (a new member who is not online yet).
        const newcomer = await rawDevice(server.url, `n${epoch}`, 1);
        await alice.addGroupMembers(groupId, [newcomer.userId]);
      }
      expect(await until(() => (mallory.groups.get(groupId)?.epoch ?? -1n) === epoch, 15_000)).toBe(true);
      const group = mallory.groups.get(groupId) as GroupSession;
      const before = received.length;
      // Her first message of the epoch (it carries her sender key), then two that skip 1000 indexes each.
      expect(await mallory.sendGroupWire(group.encrypt(MaliciousMember.appPlaintext(`k${epoch}`)))).toBe(true);
      for (let i = 0; i < 2; i++) expect(await mallory.sendGroupWire(skippingMessage(group, 1000, `m${epoch}-${i}`))).toBe(true);
      expect(await until(() => received.length >= before + 3, 15_000)).toBe(true);
    }
    // The victim still has its group: it can read it and send to it.
    await expect(victim.groupInfo(groupId)).resolves.toBeDefined();
    await expect(victim.sendGroupMessage(groupId, 'still here')).resolves.toBeDefined();
    await mallory.stop();
  }, 90_000);
});
