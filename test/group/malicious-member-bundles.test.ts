/**
 * Attacks from a malicious member (regression tests): relabelling keys, forking a proposer's epoch,
 * pushing the group to an absurd epoch, and bundles for an epoch the server did not order.
 */
import { describe, expect, it } from 'vitest';
import { Account, EpochConflictError, GroupSession, NotAMemberError, type GroupMemberInfo } from '../support/library.js';

const now = 1_700_000_000_000;
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

function setup() {
  const accounts = { alice: Account.create({ suite: 2, now }), bob: Account.create({ suite: 2, now }), mallory: Account.create({ suite: 2, now }) };
  const info = (name: keyof typeof accounts): GroupMemberInfo => ({ userId: name, deviceId: 'phone', signPublicKey: accounts[name].identityPublicKey.signPublicKey });
  const created = GroupSession.create(accounts.alice, { groupId: 'g', userId: 'alice', deviceId: 'phone', members: [info('bob'), info('mallory')] });
  const join = (name: 'bob' | 'mallory') => GroupSession.join(accounts[name], created.bundle, { userId: name, deviceId: 'phone', now, expectedEpoch: 0 });
  return { accounts, info, alice: created.session, bob: join('bob'), mallory: join('mallory') };
}

describe('group sessions against a malicious member', () => {
  it('a bundle that gives an existing device name to another key (relabelling) is refused', () => {
    const { accounts, alice, bob, mallory } = setup();
    // Mallory re-lists "alice/phone" with a key she controls: its messages would show as Alice's.
    const sockPuppet = Account.create({ suite: 2, now });
    const forged = mallory.changeMembers({
      remove: [{ userId: 'alice' }],
      add: [{ userId: 'alice', deviceId: 'phone', signPublicKey: sockPuppet.identityPublicKey.signPublicKey }],
      epoch: 1,
      now,
    });
    const before = bob.serialize();
    expect(() => bob.applyBundle(forged.bundle, now)).toThrow(NotAMemberError);
    // The refusal leaves Bob's session exactly as it was: same bytes, still on epoch 0, still
    // reading Alice's messages under her real key.
    expect(Buffer.from(bob.serialize()).equals(Buffer.from(before))).toBe(true);
    expect(bob.epoch).toBe(0n);
    const got = bob.decrypt(alice.encrypt(text('still alice')));
    expect(new TextDecoder().decode(got.plaintext)).toBe('still alice');
    expect(Buffer.from(got.sender.signPublicKey).equals(Buffer.from(accounts.alice.identityPublicKey.signPublicKey))).toBe(true);
  });

  it("another member's bundle cannot replace a proposer's own epoch (no silent fork)", () => {
    const { alice, bob, mallory } = setup();
    alice.changeMembers({ remove: [{ userId: 'mallory' }], epoch: 1, now });
    const before = alice.serialize();
    const rival = mallory.changeMembers({ remove: [{ userId: 'bob' }], epoch: 1, now });
    expect(() => alice.applyBundle(rival.bundle, now)).toThrow(EpochConflictError);
    expect(Buffer.from(alice.serialize()).equals(Buffer.from(before))).toBe(true);
    // Bob, told by the server which epoch it ordered, refuses a bundle for another one.
    mallory.abandonProposal();
    const rivalForBob = mallory.changeMembers({ epoch: 1, now });
    expect(() => bob.applyBundle(rivalForBob.bundle, now, { expectedEpoch: 2 })).toThrow(EpochConflictError);
    // Mallory is not in Alice's epoch 1 and cannot read it.
    expect(() => mallory.decrypt(alice.encrypt(text('after removing mallory')))).toThrow();
  });

  it('a bundle that jumps to an absurd epoch is refused', () => {
    const { bob, mallory } = setup();
    const far = mallory.changeMembers({ epoch: 2n ** 62n, now });
    expect(() => bob.applyBundle(far.bundle, now)).toThrow(EpochConflictError);
  });

  it('a device cannot be added under a name that already has another key', () => {
    const { alice, bob, info } = setup();
    const impostor = Account.create({ suite: 2, now });
    expect(() => alice.changeMembers({ add: [{ ...info('bob'), signPublicKey: impostor.identityPublicKey.signPublicKey }], epoch: 1, now })).not.toThrow();
    // Alice's own list replaced bob's key; bob (and anyone holding epoch 0) refuses that epoch.
    const { bundle } = alice.changeMembers({ epoch: 2, now });
    expect(() => bob.applyBundle(bundle, now)).toThrow(NotAMemberError);
  });
});
