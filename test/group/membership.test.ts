// Group sessions (DESIGN.md §4 "Group sessions", "Multiple devices"; docs/protocol-api.md "Group
// sessions"): creation, adding and removing members, leaving, several devices per member, a
// member's new device, long runs of messages, a 50-member group, epoch separation for removed and
// new members, and in-flight messages of a superseded epoch during and after the grace period.
import { describe, expect, it } from 'vitest';
import { EpochConflictError, GroupSession, InvalidLengthError, NotAMemberError, ReplayError, UnknownEpochError } from '../support/library.js';
import { DOMAIN, expectGroupDecrypts, expectThrow, GRACE_MS, memberSet, nameOf, newDevice, restoreGroup, type Sent, type SuiteNo, SUITES, utf8, World } from '../support/index.js';

describe.each(SUITES)('group membership, suite %i', (suite: SuiteNo) => {
  it.each([false, true])('create: the creator and every member talk (persist between steps: %s)', (persist) => {
    const w = new World(suite, { persist });
    const { recipients } = w.create('alice/phone', ['bob/phone', 'carol/phone']);
    expect(recipients.map(nameOf).sort()).toEqual(['bob/phone', 'carol/phone']);
    const alice = w.get('alice/phone').session as GroupSession;
    expect(alice.epoch).toBe(0n);
    expect(alice.epochs).toEqual([0n]);
    expect(alice.groupId).toBe('group-1');
    expect(alice.groupAddress.domain).toBe(DOMAIN);
    w.allTalk('create:');
    // Several messages in a row from each, interleaved.
    for (let i = 0; i < 3; i++) for (const n of w.members) w.deliver(w.send(n), `round ${i}:`);
    w.touch();
    w.allTalk('after restore:');
  });

  it('a group created at a server-assigned epoch other than 0, and a creator alone in its group', () => {
    const w = new World(suite);
    w.create('alice/phone', ['bob/phone'], 7n);
    expect(w.get('bob/phone').session?.epoch).toBe(7n);
    w.allTalk();
    const solo = newDevice(suite, 'solo', 'd');
    const { session, recipients } = GroupSession.create(solo.account, { groupId: 'g-solo', userId: 'solo', deviceId: 'd', members: [] });
    expect(recipients).toEqual([]);
    expect(memberSet(session.members)).toEqual(memberSet([solo.info]));
    expect(session.encrypt(utf8('nobody reads this')).length).toBeGreaterThan(0);
  });

  it.each([false, true])('add members: they join at the new epoch and talk with everyone (persist: %s)', (persist) => {
    const w = new World(suite, { persist });
    w.create('alice/phone', ['bob/phone']);
    w.allTalk();
    w.change('bob/phone', { add: ['carol/phone'] });
    w.allTalk('after adding carol:');
    w.change('alice/phone', { add: ['dave/phone', 'erin/phone'] });
    expect(w.members).toEqual(['alice/phone', 'bob/phone', 'carol/phone', 'dave/phone', 'erin/phone']);
    w.allTalk('after adding dave and erin:');
    expect(w.get('erin/phone').session?.epochs).toEqual([2n]);
    expect(w.get('alice/phone').session?.epochs).toEqual([2n, 1n, 0n]);
  });

  it.each([false, true])('remove members: the rest move on and talk (persist: %s)', (persist) => {
    const w = new World(suite, { persist });
    w.create('alice/phone', ['bob/phone', 'carol/phone', 'dave/phone']);
    w.allTalk();
    w.change('alice/phone', { remove: [{ userId: 'carol' }] });
    expect(w.members).toEqual(['alice/phone', 'bob/phone', 'dave/phone']);
    w.allTalk('after removing carol:');
    w.change('dave/phone', { remove: [{ userId: 'bob', deviceId: 'phone' }] });
    w.allTalk('after removing bob:');
    expect(w.members).toEqual(['alice/phone', 'dave/phone']);
  });

  it('create + add + remove, with messages at every step and state restored in between', () => {
    const w = new World(suite, { persist: true });
    w.create('alice/phone', ['bob/phone']);
    w.allTalk('epoch 0:');
    w.change('alice/phone', { add: ['carol/phone'] });
    w.allTalk('epoch 1:');
    w.change('carol/phone', { add: ['dave/phone'], remove: [{ userId: 'bob' }] });
    w.allTalk('epoch 2:');
    w.change('dave/phone', { remove: [{ userId: 'alice' }] });
    w.allTalk('epoch 3:');
    w.change('carol/phone', { add: ['bob/phone'] }); // bob comes back at a later epoch
    w.allTalk('epoch 4:');
    expect(w.members).toEqual(['bob/phone', 'carol/phone', 'dave/phone']);
    expect(w.get('bob/phone').session?.epochs).toEqual([4n]);
  });

  it('leave: the leaver cannot remove itself; it asks, another member removes it, and it cannot read on', () => {
    const w = new World(suite);
    w.create('alice/phone', ['bob/phone', 'carol/phone']);
    w.allTalk();
    const carol = w.get('carol/phone');
    // Removing oneself is refused and changes nothing (the leaver is "asking the server").
    const before = carol.session?.serialize();
    expectThrow(() => carol.session?.changeMembers({ remove: [{ userId: 'carol' }], epoch: 1, now: w.now }), NotAMemberError);
    expectThrow(() => carol.session?.changeMembers({ remove: [{ userId: 'carol', deviceId: 'phone' }], epoch: 1, now: w.now }), NotAMemberError);
    expect(carol.session?.serialize()).toEqual(before);
    expect(carol.session?.epoch).toBe(0n);
    // Bob removes carol on her request.
    w.change('bob/phone', { remove: [{ userId: 'carol' }] });
    w.allTalk('after carol left:');
    const m = w.send('alice/phone', 'carol has left');
    expectThrow(() => carol.session?.decrypt(m.wire), UnknownEpochError);
  });

  it('1000 messages in a row from one member, every other member decrypts each one', () => {
    const w = new World(suite);
    w.create('alice/phone', ['bob/phone', 'carol/phone']);
    for (let i = 0; i < 1000; i++) w.deliver(w.send('alice/phone', `message ${i}`), `#${i}:`);
    // The chain went on in step on every side: the next message still decrypts after a restore.
    w.touch();
    for (const d of w.memberDevices()) d.session = restoreGroup(d);
    w.allTalk('after 1000:');
  });

  it('members with several devices: every device of every member decrypts; no device decrypts its own messages', () => {
    const w = new World(suite, { persist: true });
    w.create('alice/phone', ['alice/laptop', 'bob/phone', 'bob/tablet', 'bob/laptop', 'carol/phone']);
    expect(w.members).toHaveLength(6);
    // allTalk: each device sends; the 5 others (including the sender's own other devices) decrypt;
    // the sending device gets ReplayError on its own message.
    w.allTalk('multi-device:');
    // The same user's two devices are two members with separate chains: their messages carry
    // different senders.
    const fromLaptop = w.send('alice/laptop', 'from the laptop');
    const fromPhone = w.send('alice/phone', 'from the phone');
    const bobTablet = w.get('bob/tablet');
    expect(nameOf(bobTablet.session!.decrypt(fromLaptop.wire).sender)).toBe('alice/laptop');
    expect(nameOf(bobTablet.session!.decrypt(fromPhone.wire).sender)).toBe('alice/phone');
    expect(nameOf(w.get('alice/phone').session!.decrypt(fromLaptop.wire).sender)).toBe('alice/laptop');
    expectThrow(() => w.get('alice/laptop').session!.decrypt(fromLaptop.wire), ReplayError);
    // Removing a user without a device id removes all of its devices.
    w.change('carol/phone', { remove: [{ userId: 'bob' }] });
    expect(w.members).toEqual(['alice/laptop', 'alice/phone', 'carol/phone']);
    w.allTalk('after removing bob:');
  });

  it('a member adds a device: new epoch; the new device decrypts the new epoch, not the old', () => {
    const w = new World(suite);
    w.create('alice/phone', ['bob/phone', 'carol/phone']);
    const old = w.send('bob/phone', 'before the new device');
    w.deliver(old);
    const inFlightOld = w.send('carol/phone', 'in flight across the change');
    w.change('bob/phone', { add: ['bob/tablet'] });
    expect(w.epoch).toBe(1n);
    const tablet = w.get('bob/tablet');
    expect(tablet.session?.epochs).toEqual([1n]);
    // The others still read the in-flight message of epoch 0 (grace period); the server delivers
    // it before anything carol sends in epoch 1.
    for (const n of ['alice/phone', 'bob/phone']) expectGroupDecrypts(w.get(n), inFlightOld);
    w.allTalk('with the new device:');
    expectThrow(() => tablet.session!.decrypt(old.wire), UnknownEpochError);
    expectThrow(() => tablet.session!.decrypt(inFlightOld.wire), UnknownEpochError);
  });

  it('a removed member fails to decrypt the next epoch and cannot apply (or join with) the new bundle', () => {
    const w = new World(suite);
    w.create('alice/phone', ['bob/phone', 'carol/phone', 'carol/laptop']);
    w.allTalk();
    const carol = w.get('carol/phone');
    const carolLaptop = w.get('carol/laptop');
    const { bundle } = w.change('alice/phone', { remove: [{ userId: 'carol', deviceId: 'phone' }] });
    // (World.change already checked that applyBundle and join with the new bundle throw NotAMemberError.)
    expectThrow(() => carol.session!.applyBundle(bundle, w.now), NotAMemberError);
    expect(carol.session!.epoch).toBe(0n);
    const m = w.send('bob/phone', 'after carol/phone was removed');
    w.deliver(m); // includes carol's laptop: still a member, it reads it
    expect(w.members).toContain(carolLaptop.name);
    expectThrow(() => carol.session!.decrypt(m.wire), UnknownEpochError);
    expectThrow(() => restoreGroup(carol).decrypt(m.wire), UnknownEpochError);
    // Several epochs later it still reads nothing.
    w.change('bob/phone', { add: ['dave/phone'] });
    const m2 = w.send('dave/phone');
    w.deliver(m2);
    expectThrow(() => carol.session!.decrypt(m2.wire), UnknownEpochError);
    // What it still sends goes to epoch 0, which the others keep only for the grace period
    // (within it such a message is indistinguishable from one in flight); after it, refused.
    const late = carol.session!.encrypt(utf8('sent after removal'));
    for (const n of ['alice/phone', 'bob/phone']) {
      w.get(n).session!.pruneEpochs(w.now + GRACE_MS);
      expectThrow(() => w.get(n).session!.decrypt(late), UnknownEpochError);
    }
  });

  it('a new member fails to decrypt messages of every epoch before it joined', () => {
    const w = new World(suite);
    const first = w.create('alice/phone', ['bob/phone']);
    const e0 = w.send('alice/phone', 'epoch 0');
    w.deliver(e0);
    w.change('alice/phone', { add: ['carol/phone'] });
    const e1 = w.send('bob/phone', 'epoch 1');
    w.deliver(e1);
    w.change('bob/phone', { add: ['dave/phone'] });
    const dave = w.get('dave/phone');
    expectThrow(() => dave.session!.decrypt(e0.wire), UnknownEpochError);
    expectThrow(() => dave.session!.decrypt(e1.wire), UnknownEpochError);
    // Joining with an earlier bundle is refused as well: it is not a member of that epoch.
    expectThrow(() => GroupSession.join(dave.account, first.bundle, { userId: 'dave', deviceId: 'phone', now: w.now }), NotAMemberError);
    w.allTalk();
  });

  it('previous-epoch messages in flight decrypt after the change, until pruneEpochs(now + grace)', () => {
    const w = new World(suite);
    w.create('alice/phone', ['bob/phone', 'carol/phone']);
    const inFlight: Sent[] = [w.send('alice/phone', 'old 1'), w.send('carol/phone', 'old 2'), w.send('alice/phone', 'old 3')];
    const changedAt = w.now;
    w.change('bob/phone', { add: ['dave/phone'] });
    // Sending uses the new epoch at once.
    const first = w.send('alice/phone');
    expect(first.epoch).toBe(1n);
    const bob = w.get('bob/phone');
    expect(bob.session!.epochs).toEqual([1n, 0n]);
    // Within the grace period (also after a restore) the old messages decrypt.
    bob.session!.pruneEpochs(changedAt + GRACE_MS - 1);
    bob.session = restoreGroup(bob);
    expectGroupDecrypts(bob, inFlight[0]!);
    // Alice's first message of the new epoch (it carries her new sender key) arrives after what she
    // sent before it, as the server delivers them.
    w.deliver(first);
    // After the grace period they throw, on every member that prunes.
    for (const n of ['alice/phone', 'bob/phone', 'carol/phone']) w.get(n).session!.pruneEpochs(changedAt + GRACE_MS);
    expect(bob.session!.epochs).toEqual([1n]);
    expectThrow(() => bob.session!.decrypt(inFlight[1]!.wire), UnknownEpochError);
    expectThrow(() => w.get('alice/phone').session!.decrypt(inFlight[1]!.wire), UnknownEpochError);
    expectThrow(() => w.get('carol/phone').session!.decrypt(inFlight[2]!.wire), UnknownEpochError);
    expectThrow(() => restoreGroup(bob).decrypt(inFlight[2]!.wire), UnknownEpochError);
    w.allTalk('after pruning:');
  });

  it('at most 3 superseded epochs are kept, whatever their age', () => {
    const w = new World(suite);
    w.create('alice/phone', ['bob/phone']);
    const perEpoch: Sent[] = [];
    for (let e = 0; e < 5; e++) {
      perEpoch.push(w.send('alice/phone', `epoch ${e}`));
      w.change('alice/phone', { add: [`x${e}/phone`] });
    }
    const bob = w.get('bob/phone');
    expect(bob.session!.epochs).toEqual([5n, 4n, 3n, 2n]);
    expectThrow(() => bob.session!.decrypt(perEpoch[0]!.wire), UnknownEpochError);
    expectThrow(() => bob.session!.decrypt(perEpoch[1]!.wire), UnknownEpochError);
    for (const m of perEpoch.slice(2)) expectGroupDecrypts(bob, m);
  });

  it('bundles: the same bundle twice is a no-op; an older or conflicting bundle and a non-newer change are refused', () => {
    const w = new World(suite);
    const first = w.create('alice/phone', ['bob/phone', 'carol/phone']);
    const carolAtEpoch0 = restoreGroup(w.get('carol/phone'));
    const second = w.change('alice/phone', { add: ['dave/phone'] });
    const bob = w.get('bob/phone');
    const snapshot = bob.session!.serialize();
    bob.session!.applyBundle(second.bundle, w.now); // duplicate delivery
    bob.session!.applyBundle(first.bundle, w.now); // late duplicate of an epoch it still holds
    expect(bob.session!.serialize()).toEqual(snapshot);
    // An older bundle for an epoch it no longer holds is refused.
    bob.session!.pruneEpochs(w.now + GRACE_MS);
    const pruned = bob.session!.serialize();
    expect(bob.session!.epochs).toEqual([1n]);
    expectThrow(() => bob.session!.applyBundle(first.bundle, w.now), EpochConflictError);
    expect(bob.session!.serialize()).toEqual(pruned);
    // Another member's change for the epoch bob already has (the server would have refused it).
    const rival = carolAtEpoch0.changeMembers({ add: [w.device('erin/phone').info], epoch: 1, now: w.now });
    expectThrow(() => bob.session!.applyBundle(rival.bundle, w.now), EpochConflictError);
    expect(bob.session!.serialize()).toEqual(pruned);
    expectThrow(() => bob.session!.changeMembers({ add: [], epoch: 1, now: w.now }), EpochConflictError);
    expectThrow(() => bob.session!.changeMembers({ add: [], epoch: 0, now: w.now }), EpochConflictError);
    w.allTalk();
  });

  it('bad member descriptions are refused with typed errors', () => {
    const w = new World(suite);
    w.create('alice/phone', ['bob/phone']);
    const alice = w.get('alice/phone');
    const key = w.get('bob/phone').info.signPublicKey;
    const bad = [
      { userId: '', deviceId: 'd', signPublicKey: key },
      { userId: 'x', deviceId: 'd', signPublicKey: key.subarray(1) },
      { userId: 'x'.repeat(257), deviceId: 'd', signPublicKey: key },
    ];
    for (const m of bad) expectThrow(() => alice.session!.changeMembers({ add: [m], epoch: 1, now: w.now }), InvalidLengthError);
    expectThrow(() => GroupSession.create(alice.account, { groupId: '', userId: 'alice', deviceId: 'phone', members: [] }), InvalidLengthError);
    expect(alice.session!.epoch).toBe(0n);
    w.allTalk();
  });
});

describe('a 50-member group', () => {
  const names = Array.from({ length: 50 }, (_, i) => `user${String(i).padStart(2, '0')}/dev`);

  it('suite 2: every member sends, every other member decrypts; a change re-keys all 50', () => {
    const w = new World(2);
    w.create(names[0]!, names.slice(1));
    expect(w.members).toHaveLength(50);
    w.allTalk('50 members:');
    w.change(names[17]!, { remove: [{ userId: 'user03' }], add: ['late/dev'] });
    expect(w.members).toHaveLength(50);
    w.allTalk('after the change:');
  });

  it.each([1, 3] as const)('suite %i: one message through a 50-member group', (suite) => {
    const w = new World(suite);
    w.create(names[0]!, names.slice(1));
    w.deliver(w.send(names[0]!), '50 members:');
    w.deliver(w.send(names[49]!), '50 members:');
  });
});
