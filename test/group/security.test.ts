// Security properties of group sessions (DESIGN.md §4 "Group sessions", docs/protocol-api.md):
// forged senders and bad signatures are refused before any state change, every tampered byte of a
// group message is refused, reordering within the window, replays and skip limits, forged and
// tampered GroupPreKeyBundles, and random or mutated input to every entry point throws only
// typed errors.
import { describe, expect, it } from 'vitest';
import {
  ed25519,
  getSuite,
  GroupSession,
  InvalidSignatureError,
  MalformedMessageError,
  MissingSenderKeyError,
  NotAMemberError,
  ReplayError,
  TooManySkippedMessagesError,
} from '../support/library.js';
import { editGroupWire, epochOf, groupIdOf, groupStateOf, messageStatement, toBeSigned } from '../support/group-forgery.js';
import {
  checkThrow,
  concatBytes,
  describeError,
  DOMAIN,
  encodeVarint,
  equalBytes,
  expectGroupDecrypts,
  expectThrow,
  Failures,
  flipBit,
  type GroupDevice,
  hex,
  indexOfBytes,
  isTypedError,
  newDevice,
  pbBytes,
  pbBytesAt,
  pbFind,
  pbParse,
  pbSet,
  pbVarintAt,
  restoreGroup,
  Rng,
  type Sent,
  show,
  structuralOffsets,
  type SuiteNo,
  SUITES,
  utf8,
  World,
} from '../support/index.js';

// Field paths of src/proto/wire.proto (the wire format is part of the protocol).
const GMSG = {
  version: [1],
  suiteId: [2],
  to: [5],
  epoch: [7, 2],
  messageIndex: [7, 4],
  ciphertext: [7, 5],
  signature: [7, 6],
  memberIndex: [7, 7],
  senderKey: [7, 8],
};
const GBUNDLE = {
  groupAddress: [3],
  domain: [3, 1],
  epoch: [4],
  seed: [5],
  members: [6],
  creator: [7],
  signature: [8],
  groupAuth: [9],
};

/**
 * `wire` with some fields changed and signed again by member `d` with its own sender key of the
 * epoch, over the statement written out in test/support/group-forgery.ts: used only to play a
 * *member* that signs a message of its own making. Checked against a genuine message first
 * (re-signing an untouched message reproduces it byte for byte), so a change of the layout fails
 * loudly instead of weakening the test.
 */
function resign(d: GroupDevice, wire: Uint8Array, changes: { index?: number; ciphertext?: Uint8Array; memberIndex?: number }): Uint8Array {
  const state = groupStateOf(d.session as GroupSession);
  return editGroupWire(wire, (p) => {
    if (changes.index !== undefined) p.messageIndex = changes.index;
    if (changes.ciphertext) p.ciphertext = changes.ciphertext;
    if (changes.memberIndex !== undefined) p.memberIndex = changes.memberIndex;
    const epoch = epochOf(state, p.epoch);
    const key = epoch.ownSenderKey?.secretKey as Uint8Array;
    const at = { groupId: groupIdOf(state), epoch: p.epoch, epochDigest: epoch.bundleDigest, memberIndex: p.memberIndex, index: p.messageIndex };
    p.signature = ed25519.sign(key, toBeSigned(getSuite(state.suiteId), state.groupAuth, epoch.messageAuthKey, messageStatement(state.suiteId, state.groupAuth, at, p.ciphertext)));
  });
}

/** Byte offsets covered by the field at `path` (tag, length and value). */
function fieldRange(buf: Uint8Array, path: number[]): [number, number] {
  const f = pbFind(buf, path);
  if (!f) throw new Error(`no field ${path.join('.')}`);
  return [f.start, f.end];
}

/** Every byte with bit (i % 8) flipped, plus all 8 bits of every structural byte (tags, lengths, scalars, short strings). */
function flipAttempts(wire: Uint8Array, stride = 1): Array<[number, number]> {
  const structural = structuralOffsets(wire);
  const attempts: Array<[number, number]> = [];
  const structSet = new Set(structural);
  for (let i = 0; i < wire.length; i++) if (i % stride === 0 || structSet.has(i)) attempts.push([i, i % 8]);
  for (const i of structural) for (let bit = 0; bit < 8; bit++) if (bit !== i % 8) attempts.push([i, bit]);
  return attempts;
}

function groupOf3(suite: SuiteNo): World {
  const w = new World(suite);
  w.create('alice/phone', ['bob/phone', 'carol/phone']);
  return w;
}

describe.each(SUITES)('group security, suite %i', (suite: SuiteNo) => {
  const rng = new Rng(`group-security/${suite}`);

  it('forged senders and bad signatures are refused before any state change; the real messages decrypt afterwards', () => {
    const w = groupOf3(suite);
    const [alice, bob, carol] = ['alice/phone', 'bob/phone', 'carol/phone'].map((n) => w.get(n)) as [GroupDevice, GroupDevice, GroupDevice];
    // Member positions in the epoch's member list (its canonical order).
    const positionOf = (d: GroupDevice): number => alice.session!.members.findIndex((m) => m.userId === d.userId && m.deviceId === d.deviceId);
    const position = { alice: positionOf(alice), bob: positionOf(bob), carol: positionOf(carol) };
    expect(new Set(Object.values(position))).toEqual(new Set([0, 1, 2]));
    const mallory = newDevice(suite, 'mallory', 'phone');
    // Mallory (not a member) runs her own "group-1" at epoch 0 containing alice, to get validly
    // signed messages under her own sender key.
    const { session: mallorySession } = GroupSession.create(mallory.account, { groupId: w.groupId, domain: DOMAIN, userId: 'mallory', deviceId: 'phone', members: [alice.info] });
    // Every member's first message (its sender key for the epoch) reaches the others first, as the
    // server delivers it: the forgeries below then meet every member's key.
    w.allTalk('sender keys:');
    const real: Sent[] = Array.from({ length: 6 }, (_, i) => w.send('bob/phone', `real ${i}`));
    expect(pbVarintAt(real[0]!.wire, GMSG.memberIndex) ?? 0n).toBe(BigInt(position.bob));
    const target = real[4]!.wire; // index 5: accepting it would store 4 skipped keys
    const sig = pbBytesAt(target, GMSG.signature)!;
    mallorySession.encrypt(utf8('from mallory 0'));
    const malloryMsg = mallorySession.encrypt(utf8('from mallory'));
    carol.session!.encrypt(utf8('carol 1, never delivered'));

    // The forging helper reproduces a genuine signature: re-signing an untouched message gives its bytes.
    expect(hex(resign(bob, target, {}))).toBe(hex(target));

    type ErrorClass = abstract new (...a: never[]) => Error;
    // [what, wire, expected errors, the member the forgery claims as sender (that member itself
    // refuses it earlier, as its own message: ReplayError)]
    const forgeries: Array<[string, Uint8Array, ErrorClass[], GroupDevice?]> = [
      ["bob's message claiming carol as sender", editGroupWire(target, (p) => (p.memberIndex = position.carol)), [InvalidSignatureError], carol],
      ["bob's message claiming alice as sender", editGroupWire(target, (p) => (p.memberIndex = position.alice)), [InvalidSignatureError], alice],
      ["bob's message claiming carol, re-signed with bob's own sender key", resign(bob, target, { memberIndex: position.carol }), [InvalidSignatureError], carol],
      ['a flipped signature bit', pbSet(target, GMSG.signature, { bytes: flipBit(sig, 7, 2) }), [InvalidSignatureError]],
      ['a truncated signature', pbSet(target, GMSG.signature, { bytes: sig.subarray(0, sig.length - 1) }), [InvalidSignatureError]],
      ['no signature', pbSet(target, GMSG.signature, { remove: true }), [InvalidSignatureError]],
      ["the signature of bob's previous message", pbSet(target, GMSG.signature, { bytes: pbBytesAt(real[3]!.wire, GMSG.signature)! }), [InvalidSignatureError]],
      ['another index under the same signature', pbSet(target, GMSG.messageIndex, { varint: 6n }), [InvalidSignatureError]],
      // Her message names her position in her own group, which is some member's in this one
      // (that member refuses it as its own).
      ["a non-member's message", malloryMsg, [InvalidSignatureError], [alice, bob, carol][Object.values(position).indexOf(Number(pbVarintAt(malloryMsg, GMSG.memberIndex) ?? 0n))]],
      [
        "a non-member's message claiming carol as sender, re-indexed",
        editGroupWire(malloryMsg, (p) => {
          p.memberIndex = position.carol;
          p.messageIndex = 4;
        }),
        [InvalidSignatureError],
        carol,
      ],
      ['a member index past the member list', editGroupWire(target, (p) => (p.memberIndex = 3)), [NotAMemberError]],
      ['a member index far past the member list', editGroupWire(target, (p) => (p.memberIndex = 0xffffffff)), [NotAMemberError]],
    ];
    for (const receiver of [alice, carol]) {
      for (const [what, wire, classes, claimed] of forgeries) {
        const before = receiver.session!.serialize();
        const err = checkThrow(() => receiver.session!.decrypt(wire), ...(claimed === receiver ? [ReplayError] : classes));
        if (err) expect.fail(`${receiver.name}, ${what}: ${err}`);
        expect(hex(receiver.session!.serialize()), `${receiver.name}, ${what}: state changed`).toBe(hex(before));
      }
    }
    // The genuine messages decrypt afterwards, out of order, and carol's genuine chain is intact
    // (her message 1 was never delivered: it becomes a skipped key). (With no AEAD tag, a ciphertext
    // a member signs is that member's message, whatever it decrypts to: exactly what it could send
    // anyway. The runtime refuses a plaintext that does not decode; test/client/bad-plaintext.test.ts.)
    for (const i of [4, 0, 5, 1, 3, 2]) {
      expectGroupDecrypts(alice, real[i]!);
      expectGroupDecrypts(carol, real[i]!);
    }
    const afterwards = w.send('carol/phone', 'carol after the forgeries');
    expectGroupDecrypts(alice, afterwards);
    expectGroupDecrypts(bob, afterwards);
  });

  it('every flipped byte of a group message (routing address included) is rejected with a typed error, before any state change', () => {
    const w = groupOf3(suite);
    const bob = w.get('bob/phone');
    // (1) the next message of the chain, (2) a message whose key bob holds as a skipped key,
    // (3) a message ahead of the chain.
    const m = [w.send('alice/phone', 'flip me'), w.send('alice/phone', 'skipped'), w.send('alice/phone', 'next'), w.send('alice/phone', 'ahead')] as Sent[];
    const failures = new Failures();
    let attempts = 0;
    const tryAll = (sent: Sent, name: string): void => {
      const before = hex(bob.session!.serialize());
      for (const [i, bit] of flipAttempts(sent.wire)) {
        attempts++;
        let got: Uint8Array | undefined;
        const err = checkThrow(() => (got = bob.session!.decrypt(flipBit(sent.wire, i, bit)).plaintext));
        if (err) failures.add(`${name} byte ${i} bit ${bit}`, got ? `${err} (${equalBytes(got, sent.plain) ? 'same' : 'DIFFERENT'} plaintext)` : err);
      }
      // Routing fields dropped or added (E2eeMsg.to / from / session_id are not signed: they must be exactly what encrypt() writes).
      failures.add(
        `${name} without to`,
        checkThrow(() => bob.session!.decrypt(pbSet(sent.wire, GMSG.to, { remove: true }))),
      );
      if (hex(bob.session!.serialize()) !== before) failures.add(name, 'the state changed');
    };
    tryAll(m[0]!, 'next-in-chain');
    expectGroupDecrypts(bob, m[0]!);
    expectGroupDecrypts(bob, m[2]!); // m[1] becomes a skipped key
    tryAll(m[1]!, 'skipped-key');
    tryAll(m[3]!, 'ahead');
    failures.assertNone();
    expect(attempts).toBeGreaterThan(m[0]!.wire.length);
    for (const x of [m[1]!, m[3]!]) expectGroupDecrypts(bob, x);
    // Truncations of every length.
    const t = w.send('carol/phone', 'truncate me');
    for (let n = 0; n < t.wire.length; n++)
      failures.add(
        `truncated to ${n}`,
        checkThrow(() => bob.session!.decrypt(t.wire.subarray(0, n))),
      );
    failures.assertNone();
    expectGroupDecrypts(bob, t);
  });

  it('out of order within the window decrypts; replays are rejected; skipping more than 1000 keys is rejected', () => {
    const w = groupOf3(suite);
    const [bob, carol] = ['bob/phone', 'carol/phone'].map((n) => w.get(n)) as [GroupDevice, GroupDevice];
    const batch = Array.from({ length: 30 }, (_, i) => w.send('alice/phone', `batch ${i}`));
    const fromCarol = Array.from({ length: 5 }, (_, i) => w.send('carol/phone', `carol ${i}`));
    // A sender's first message of the epoch carries its sender key: before it, the sender's other
    // messages are refused (MissingSenderKeyError, nothing changes); once it is in, any order works.
    for (const [r, m] of [
      [bob, batch[7]!],
      [bob, fromCarol[4]!],
      [carol, batch[29]!],
    ] as const) {
      const before = hex(r.session!.serialize());
      expectThrow(() => r.session!.decrypt(m.wire), MissingSenderKeyError);
      expect(hex(r.session!.serialize())).toBe(before);
    }
    for (const m of [batch[0]!, ...rng.shuffle(batch.slice(1))]) expectGroupDecrypts(bob, m);
    for (const m of [fromCarol[0]!, ...fromCarol.slice(1).reverse()]) expectGroupDecrypts(bob, m);
    for (const m of [batch[0]!, ...batch.slice(1).reverse()]) expectGroupDecrypts(carol, m);
    // Replays: every message again, also after a restore.
    for (const m of [...batch, ...fromCarol]) expectThrow(() => bob.session!.decrypt(m.wire), ReplayError);
    bob.session = restoreGroup(bob);
    for (const m of rng.shuffle([...batch])) expectThrow(() => bob.session!.decrypt(m.wire), ReplayError);

    // Skip limit: alice's chain is at 30 on bob's and carol's side. 30 + 1000 is the furthest allowed.
    const far = Array.from({ length: 1002 }, (_, i) => w.send('alice/phone', `far ${30 + i}`));
    const tooFar = far[1001]!; // index 1031: skips 1001 keys
    for (const r of [bob, carol]) {
      const before = hex(r.session!.serialize());
      expectThrow(() => r.session!.decrypt(tooFar.wire), TooManySkippedMessagesError);
      expect(hex(r.session!.serialize())).toBe(before);
    }
    expectGroupDecrypts(bob, far[1000]!); // skips exactly 1000
    expectGroupDecrypts(bob, tooFar);
    for (const i of [0, 999, 500, 1]) expectGroupDecrypts(bob, far[i]!); // from skipped keys
    bob.session = restoreGroup(bob);
    for (const i of [2, 998]) expectGroupDecrypts(bob, far[i]!);
    for (const i of [0, 999, 1000, 1001]) expectThrow(() => bob.session!.decrypt(far[i]!.wire), ReplayError);
    // Carol, in order, is unaffected.
    for (const m of far) expectGroupDecrypts(carol, m);
  });

  it('a GroupPreKeyBundle signed by a non-member, or with another creator, is rejected', () => {
    const w = groupOf3(suite);
    const bob = w.get('bob/phone');
    const mallory = newDevice(suite, 'mallory', 'phone');
    const before = bob.session!.serialize();
    // Mallory makes a bundle for "group-1", epoch 1, listing bob, alice and herself.
    const { session: ms } = GroupSession.create(mallory.account, {
      groupId: w.groupId,
      domain: DOMAIN,
      userId: 'mallory',
      deviceId: 'phone',
      members: [bob.info, w.get('alice/phone').info],
    });
    const evil = ms.changeMembers({ add: [], epoch: 1, now: w.now });
    expectThrow(() => bob.session!.applyBundle(evil.bundle, w.now), NotAMemberError);
    // Bundles claiming another creator: a non-member key, or a member's key (alice) that did not sign it.
    const genuine = restoreGroup(w.get('carol/phone')).changeMembers({ add: [mallory.info], epoch: 1, now: w.now });
    expectThrow(() => bob.session!.applyBundle(pbSet(genuine.bundle, GBUNDLE.creator, { bytes: newDevice(suite, 'x', 'y').info.signPublicKey }), w.now), NotAMemberError);
    expectThrow(() => bob.session!.applyBundle(pbSet(genuine.bundle, GBUNDLE.creator, { bytes: w.get('alice/phone').info.signPublicKey }), w.now), InvalidSignatureError);
    expectThrow(() => bob.session!.applyBundle(pbSet(genuine.bundle, GBUNDLE.signature, { remove: true }), w.now), InvalidSignatureError);
    expectThrow(() => bob.session!.applyBundle(pbSet(genuine.bundle, GBUNDLE.seed, { bytes: rng.bytes(32) }), w.now), InvalidSignatureError);
    expectThrow(() => bob.session!.applyBundle(pbSet(genuine.bundle, GBUNDLE.epoch, { varint: 2n }), w.now), InvalidSignatureError);
    expect(bob.session!.serialize()).toEqual(before);
    // The genuine one applies.
    bob.session!.applyBundle(genuine.bundle, w.now);
    expect(bob.session!.epoch).toBe(1n);
  });

  it('every flipped byte of a GroupPreKeyBundle (group address included) is rejected by applyBundle and join', () => {
    const w = groupOf3(suite);
    const bob = w.get('bob/phone');
    const dave = w.device('dave/phone');
    const { bundle } = restoreGroup(w.get('alice/phone')).changeMembers({ add: [dave.info], remove: [{ userId: 'carol' }], epoch: 1, now: w.now });
    const before = hex(bob.session!.serialize());
    // Suite 2 bundles are small: every byte. Suites 1 and 3 carry multi-KB keys and signatures:
    // every structural byte (tags, lengths, scalars, the group address) plus every 7th byte of the
    // blobs (keeps the run short).
    const attempts = flipAttempts(bundle, suite === 2 ? 1 : 7);
    const [aStart, aEnd] = fieldRange(bundle, GBUNDLE.groupAddress);
    for (let i = aStart; i < aEnd; i++)
      expect(
        attempts.some(([j]) => j === i),
        `group address byte ${i} tried`,
      ).toBe(true);
    const failures = new Failures();
    for (const [i, bit] of attempts) {
      const bad = flipBit(bundle, i, bit);
      failures.add(
        `applyBundle byte ${i} bit ${bit}`,
        checkThrow(() => bob.session!.applyBundle(bad, w.now)),
      );
      failures.add(
        `join byte ${i} bit ${bit}`,
        checkThrow(() => GroupSession.join(dave.account, bad, { userId: 'dave', deviceId: 'phone', now: w.now })),
      );
    }
    failures.assertNone();
    expect(hex(bob.session!.serialize())).toBe(before);
    bob.session!.applyBundle(bundle, w.now);
    dave.session = GroupSession.join(dave.account, bundle, { userId: 'dave', deviceId: 'phone', now: w.now });
    const m = { ...w.send('bob/phone'), sender: bob };
    expectGroupDecrypts(dave, m);
  });

  it("a member list naming one identity key twice is refused (no member can pass its messages off as another's)", () => {
    const w = new World(suite);
    w.create('alice/phone', ['bob/phone', 'mallory/phone']);
    const bob = w.get('bob/phone');
    const mallory = w.get('mallory/phone');
    // Mallory lists bob's key under another name: changeMembers refuses to make such a bundle.
    const before = mallory.session!.serialize();
    expectThrow(
      () => mallory.session!.changeMembers({ add: [{ userId: 'zed', deviceId: 'x', signPublicKey: bob.info.signPublicKey }], epoch: 1, now: w.now }),
      MalformedMessageError,
    );
    expect(mallory.session!.serialize()).toEqual(before);
    expectThrow(
      () => GroupSession.create(mallory.account, { groupId: 'g2', userId: 'mallory', deviceId: 'phone', members: [bob.info, { ...bob.info, userId: 'zed' }] }),
      MalformedMessageError,
    );
    // A bundle carrying a duplicate entry (inserted where the encoding stays canonical) is refused
    // by applyBundle and join before its signature is even checked.
    const { bundle } = restoreGroup(mallory).changeMembers({ add: [w.device('dave/phone').info], epoch: 1, now: w.now });
    const members = pbParse(bundle).filter((f) => f.no === GBUNDLE.members[0]);
    const bobEntry = members.find((f) => indexOfBytes(bundle.subarray(f.start, f.end), bob.info.signPublicKey) >= 0)!;
    const entry = bundle.slice(bobEntry.start, bobEntry.end);
    const renamed = pbSet(pbBytes(bundle, bobEntry), [1], { bytes: utf8('zed') }); // GroupMember.user_id
    const lastEnd = members.at(-1)!.end;
    const withDuplicate = (e: Uint8Array): Uint8Array => concatBytes(bundle.subarray(0, lastEnd), e, bundle.subarray(lastEnd));
    const renamedEntry = concatBytes(entry.subarray(0, 1), encodeVarint(BigInt(renamed.length)), renamed);
    for (const bad of [withDuplicate(entry), withDuplicate(renamedEntry)]) {
      // (the message tells the duplicate check from the canonical-encoding one)
      expect(expectThrow(() => restoreGroup(bob).applyBundle(bad, w.now), MalformedMessageError).message).toMatch(/twice/);
      expect(expectThrow(() => GroupSession.join(w.get('dave/phone').account, bad, { userId: 'dave', deviceId: 'phone', now: w.now }), MalformedMessageError).message).toMatch(
        /twice/,
      );
    }
    w.allTalk();
  });

  it('random and mutated bytes to join, applyBundle, decrypt and deserialize throw only typed errors', () => {
    const w = groupOf3(suite);
    const [alice, bob] = ['alice/phone', 'bob/phone'].map((n) => w.get(n)) as [GroupDevice, GroupDevice];
    const dave = w.device('dave/phone');
    const { bundle } = restoreGroup(alice).changeMembers({ add: [dave.info], epoch: 1, now: w.now });
    const msg = w.send('alice/phone', 'fuzz me').wire;
    const state = bob.session!.serialize();
    const random = (): Uint8Array => rng.bytes(rng.pick([0, 1, 2, 5, 16, 33, 100, 300, 1000, rng.int(0, 6000)]));
    const mutate = (b: Uint8Array): Uint8Array => {
      const c = Uint8Array.from(b);
      const kind = rng.int(0, 3);
      if (kind === 0) return c.subarray(0, rng.int(0, c.length - 1)); // truncate
      if (kind === 1) return concatBytes(c, rng.bytes(rng.int(1, 40))); // extend
      for (let k = rng.int(1, 8); k > 0; k--) {
        const i = rng.int(0, c.length - 1);
        c[i] = (c[i] as number) ^ rng.int(1, 255); // overwrite
      }
      if (equalBytes(c, b)) c[0] = (c[0] as number) ^ 1; // two overwrites may cancel: always a change
      return c;
    };
    const failures = new Failures();
    // Anything but a typed error (or, where allowed, success) fails.
    const check = (what: string, fn: () => unknown, mustThrow: boolean): void => {
      try {
        fn();
        if (mustThrow) failures.add(what, 'random bytes were accepted');
      } catch (e) {
        if (!isTypedError(e)) failures.add(what, `threw ${describeError(e)}`);
      }
    };
    // [name, call, valid input, whether a mutated valid input must be refused (signed / authenticated
    // and canonically encoded input: yes; stored state is not authenticated: it may still load)]
    const entryPoints: Array<[string, (b: Uint8Array) => unknown, Uint8Array, boolean]> = [
      ['join', (b) => GroupSession.join(dave.account, b, { userId: 'dave', deviceId: 'phone', now: w.now }), bundle, true],
      ['applyBundle', (b) => restoreGroup(bob).applyBundle(b, w.now), bundle, true],
      ['decrypt', (b) => bob.session!.decrypt(b), msg, true],
      ['deserialize', (b) => GroupSession.deserialize(b, bob.account), state, false],
    ];
    const rounds = suite === 2 ? 300 : 120;
    for (const [name, fn, valid, mutatedMustThrow] of entryPoints) {
      for (let i = 0; i < rounds; i++) {
        const r = random();
        check(`${name}(random ${show(r)})`, () => fn(r), true);
        const m = mutate(valid);
        check(`${name}(mutated ${show(m)})`, () => fn(m), mutatedMustThrow);
      }
      check(`${name}(not bytes)`, () => fn('nope' as unknown as Uint8Array), true);
    }
    failures.assertNone();
    // Nothing of that reached bob's state: the genuine message still decrypts.
    expect(hex(bob.session!.serialize())).toBe(hex(state));
    expectGroupDecrypts(bob, { wire: msg, plain: utf8('fuzz me'), sender: alice, epoch: 0n });
  });
});
