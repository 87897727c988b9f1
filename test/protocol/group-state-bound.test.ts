// A group session state must always load again (src/protocol/group-session.ts,
// maxGroupStateBytes): whatever members, bundles and skipped indexes other members send, the
// serialized state stays under MAX_GROUP_STATE_BYTES. These tests build the worst case the limits
// allow and check that it loads, that the bound really bounds it, and that limits whose worst case
// would not load are refused up front.
import { describe, expect, it } from 'vitest';
import { InvalidLengthError } from '../../src/errors.js';
import { getSuite, randomBytes } from '../../src/crypto/index.js';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { GroupSessionStateSchema } from '../../src/proto/gen/state_pb.js';
import { Account, DEFAULT_GROUP_LIMITS, GroupSession, MAX_GROUP_STATE_BYTES, maxGroupStateBytes, type GroupMemberInfo } from '../../src/protocol/index.js';
import { T0 } from '../support/index.js';

/** A member name of 256 UTF-16 units that is 3 UTF-8 bytes per unit: the longest the API takes. */
function longName(tag: string): string {
  return tag + '€'.repeat(256 - tag.length);
}

/** `count` members with the longest names and (unusable, right-sized) random signature keys. */
function fillerMembers(suiteId: number, count: number, tag: string): GroupMemberInfo[] {
  const keyBytes = getSuite(suiteId).params.sigPublicKeyBytes;
  return Array.from({ length: count }, (_, i) => ({ userId: longName(`${tag}${i}-`), deviceId: longName(`d${i}-`), signPublicKey: randomBytes(keyBytes) }));
}

/** Advances `group`'s sending chain by `skip` indexes without sending, then encrypts `body`. */
function skippingMessage(group: GroupSession, skip: number): Uint8Array {
  const chain = group.state.epochs[0]?.sendingChain;
  if (!chain) throw new Error('no sending chain');
  for (let i = 0; i < skip; i++) chain.chainKey = group.suite.hmac(chain.chainKey, new Uint8Array([2]));
  chain.nextIndex += skip;
  return group.encrypt(new TextEncoder().encode('after a gap'));
}

describe('group session state bound', () => {
  it('the default limits fit every suite under the load limit', () => {
    for (const suiteId of [1, 2, 3]) {
      const bound = maxGroupStateBytes(getSuite(suiteId), DEFAULT_GROUP_LIMITS);
      expect(bound).toBeLessThanOrEqual(MAX_GROUP_STATE_BYTES);
    }
  });

  it('limits whose worst-case state would not load are refused', () => {
    const account = Account.create({ suite: 1, now: T0 });
    expect(() => GroupSession.create(account, { groupId: 'g', members: [], deviceId: 'd', userId: 'u', limits: { maxMembers: 5000 } })).toThrow(InvalidLengthError);
    expect(() => GroupSession.create(account, { groupId: 'g', members: [], deviceId: 'd', userId: 'u', limits: { maxSkippedKeysPerEpoch: 10_000_000 } })).toThrow(
      InvalidLengthError,
    );
  });

  it('a full suite-1 state (1000 long-named members, every epoch kept, every skipped key) loads and stays under its bound', () => {
    const suiteId = 1;
    const alice = Account.create({ suite: suiteId, now: T0 });
    const mallory = Account.create({ suite: suiteId, now: T0 });
    const malloryInfo = { userId: longName('mallory-'), deviceId: longName('md-'), signPublicKey: mallory.identityPublicKey.signPublicKey };
    const limits = DEFAULT_GROUP_LIMITS;
    // alice and mallory plus filler members: the largest member list an epoch may have.
    const filler = fillerMembers(suiteId, limits.maxMembers - 2, 'f');
    const created = GroupSession.create(alice, {
      groupId: longName('g-'),
      domain: longName('x-'),
      members: [malloryInfo, ...filler],
      deviceId: longName('ad-'),
      userId: longName('alice-'),
      epoch: 0,
    });
    const aliceGroup = created.session;
    const malloryGroup = GroupSession.join(mallory, created.bundle, { userId: malloryInfo.userId, deviceId: malloryInfo.deviceId, now: T0 });

    let now = T0;
    for (let epoch = 0; epoch <= limits.maxOldEpochs; epoch++) {
      if (epoch > 0) {
        // A membership change that swaps one filler member: each epoch holds a full list.
        now += 60_000;
        const swap = aliceGroup.members.find((m) => m.userId.startsWith('f')) as GroupMemberInfo;
        const change = aliceGroup.changeMembers({ remove: [{ userId: swap.userId }], add: fillerMembers(suiteId, 1, `e${epoch}-`), epoch, now });
        malloryGroup.applyBundle(change.bundle, now);
      }
      // mallory's first message of the epoch (her sender key), then she fills this epoch's skipped
      // keys in alice's state (two gaps of maxSkip).
      aliceGroup.decrypt(malloryGroup.encrypt(new TextEncoder().encode('my key')));
      const gaps = Math.ceil(limits.maxSkippedKeysPerEpoch / limits.maxSkip);
      for (let i = 0; i < gaps; i++) aliceGroup.decrypt(skippingMessage(malloryGroup, limits.maxSkip));
    }
    expect(aliceGroup.epochs.length).toBe(limits.maxOldEpochs + 1);
    for (const epoch of aliceGroup.state.epochs) {
      expect(epoch.members.length).toBe(limits.maxMembers);
      expect(epoch.skippedKeys.length).toBe(limits.maxSkippedKeysPerEpoch);
    }

    const bytes = aliceGroup.serialize();
    const bound = maxGroupStateBytes(getSuite(suiteId), limits);
    expect(bytes.length).toBeLessThanOrEqual(bound);
    // The bound is close to what the worst case really takes (it is not vacuous).
    expect(bytes.length).toBeGreaterThan(0.95 * bound);
    expect(bound).toBeLessThanOrEqual(MAX_GROUP_STATE_BYTES);
    // Each skipped key costs tens of bytes, not a signature key (2592 bytes in suite 1).
    const withoutSkipped = fromBinary(GroupSessionStateSchema, bytes);
    for (const epoch of withoutSkipped.epochs) epoch.skippedKeys = [];
    const skippedBytes = bytes.length - toBinary(GroupSessionStateSchema, withoutSkipped).length;
    expect(skippedBytes / ((limits.maxOldEpochs + 1) * limits.maxSkippedKeysPerEpoch)).toBeLessThan(64);

    // It loads, and a message from inside one of mallory's gaps still decrypts after loading.
    const restored = GroupSession.deserialize(bytes, alice);
    expect(restored.epochs).toEqual(aliceGroup.epochs);
    const gapMessage = skippingMessage(malloryGroup, 0);
    expect(new TextDecoder().decode(restored.decrypt(gapMessage).plaintext)).toBe('after a gap');
  }, 120_000);

  it('a version 1 state (protocol v1, chains keyed by signature key) still loads, as an identity group, and decrypts', () => {
    const alice = Account.create({ suite: 2, now: T0 });
    const bob = Account.create({ suite: 2, now: T0 });
    const bobInfo = { userId: 'bob', deviceId: 'b1', signPublicKey: bob.identityPublicKey.signPublicKey };
    // Every protocol-v1 group signed each message with the identity key: v2's 'identity' mode.
    const created = GroupSession.create(alice, { groupId: 'g', members: [bobInfo], deviceId: 'a1', userId: 'alice', groupAuth: 'identity' });
    const bobGroup = GroupSession.join(bob, created.bundle, { userId: 'bob', deviceId: 'b1', now: T0 });
    const first = bobGroup.encrypt(new TextEncoder().encode('one'));
    const second = bobGroup.encrypt(new TextEncoder().encode('two'));
    created.session.decrypt(second); // leaves index 0 as a skipped key

    // Rewrite the state the way version 1 stored it.
    const v1 = fromBinary(GroupSessionStateSchema, created.session.serialize());
    v1.version = 1;
    v1.groupAuth = 0; // (no such field in v1)
    for (const epoch of v1.epochs) {
      for (const chain of [...epoch.receivingChains, ...(epoch.sendingChain ? [epoch.sendingChain] : [])]) {
        chain.signPublicKey = (epoch.members[chain.memberIndex] as { signPublicKey: Uint8Array }).signPublicKey;
        chain.memberIndex = 0;
      }
      for (const key of epoch.skippedKeys) {
        key.signPublicKey = (epoch.members[key.memberIndex] as { signPublicKey: Uint8Array }).signPublicKey;
        key.memberIndex = 0;
      }
    }
    const restored = GroupSession.deserialize(toBinary(GroupSessionStateSchema, v1), alice);
    expect(new TextDecoder().decode(restored.decrypt(first).plaintext)).toBe('one');
    const third = bobGroup.encrypt(new TextEncoder().encode('three'));
    expect(new TextDecoder().decode(restored.decrypt(third).plaintext)).toBe('three');
    expect(restored.groupAuth).toBe('identity');
    expect(GroupSession.deserialize(restored.serialize(), alice).state.version).toBe(3);
  });
});
