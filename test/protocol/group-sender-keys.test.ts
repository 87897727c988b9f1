// Protocol v2 group authentication (docs/protocol.md "Group sessions"): per-epoch Ed25519 sender
// keys announced under the identity key in each member's first message of the epoch (the default,
// 'sender-key'), and per-message identity signatures ('identity'), a property of the group fixed at
// creation. Each test states one property; test/support/group-forgery.ts plays the insiders (a
// member who knows every chain key of the epoch, a thief holding one member's group state) and is
// checked against genuine messages before it is trusted.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import {
  Account,
  ed25519,
  getSuite,
  GroupAuthModeError,
  GroupSession,
  InvalidSignatureError,
  MalformedMessageError,
  MissingSenderKeyError,
  NotAMemberError,
  ReplayError,
  SenderKeyConflictError,
  UnknownEpochError,
  UnsupportedProtocolVersionError,
} from '../support/library.js';
import { GroupSenderKeyStateSchema, GroupSessionStateSchema } from '../../src/proto/gen/state_pb.js';
import { E2eeMsgSchema, GroupPreKeyBundleSchema } from '../../src/proto/gen/wire_pb.js';
import {
  AUTH,
  announcementMatches,
  editGroupWire,
  epochOf,
  forgeFromStolenState,
  forgeGroupMessage,
  groupStateOf,
  makeAnnouncement,
  messageStatement,
  readGroupWire,
  toBeSigned,
} from '../support/group-forgery.js';
import {
  DOMAIN,
  expectGroupDecrypts,
  expectThrow,
  flipBit,
  type GroupDevice,
  GRACE_MS,
  hex,
  newDevice,
  pbSet,
  type Sent,
  type SuiteNo,
  SUITES,
  T0,
  utf8,
  World,
} from '../support/index.js';

/** A group of alice, bob and carol made by alice, in `auth` mode. */
function groupOf3(suite: SuiteNo, auth: 'sender-key' | 'identity' = 'sender-key'): { w: World; alice: GroupDevice; bob: GroupDevice; carol: GroupDevice } {
  const w = new World(suite);
  const [alice, bob, carol] = ['alice/phone', 'bob/phone', 'carol/phone'].map((n) => w.device(n)) as [GroupDevice, GroupDevice, GroupDevice];
  const { session, bundle } = GroupSession.create(alice.account, {
    groupId: w.groupId,
    domain: DOMAIN,
    userId: 'alice',
    deviceId: 'phone',
    members: [bob.info, carol.info],
    groupAuth: auth,
  });
  alice.session = session;
  for (const d of [bob, carol]) d.session = GroupSession.join(d.account, bundle, { userId: d.userId, deviceId: d.deviceId, now: w.now });
  w.members = [alice.name, bob.name, carol.name].sort();
  w.checkConsistent();
  return { w, alice, bob, carol };
}

/** `d`'s position in the current epoch's member list. */
const positionOf = (d: GroupDevice): number => (d.session as GroupSession).members.findIndex((m) => m.userId === d.userId && m.deviceId === d.deviceId);

/** Runs `attempt` on `receiver`, expects one of `errors`, and that the receiver's state did not change. */
function expectRefused(receiver: GroupDevice, wire: Uint8Array, ...errors: Array<abstract new (...a: never[]) => Error>): void {
  const before = hex((receiver.session as GroupSession).serialize());
  expectThrow(() => (receiver.session as GroupSession).decrypt(wire), ...errors);
  expect(hex((receiver.session as GroupSession).serialize()), 'the refused message changed the state').toBe(before);
}

/** The forger's view: its state, and the claimed sender's receiving chain in it. */
function chainOf(forger: GroupDevice, victim: GroupDevice): { state: ReturnType<typeof groupStateOf>; chainKey: Uint8Array; chainIndex: number } {
  const state = groupStateOf(forger.session as GroupSession);
  const chain = epochOf(state).receivingChains.find((c) => c.memberIndex === positionOf(victim));
  if (!chain) throw new Error('no chain');
  return { state, chainKey: chain.chainKey, chainIndex: chain.nextIndex };
}

/** `d`'s Ed25519 sender key of its current epoch, from its state. */
const senderKeyOf = (d: GroupDevice): Uint8Array => epochOf(groupStateOf(d.session as GroupSession)).ownSenderKey?.secretKey as Uint8Array;

describe.each(SUITES)('group sender keys, suite %i', (suite: SuiteNo) => {
  it("each member's first message of an epoch announces its sender key; the others carry 64-byte Ed25519 signatures", () => {
    const { w, alice, bob, carol } = groupOf3(suite);
    const body = new Uint8Array(100).fill(0x61);
    const first = readGroupWire((alice.session as GroupSession).encrypt(body));
    expect(first.payload.messageIndex).toBe(0);
    expect(first.payload.senderKey?.publicKey.length).toBe(32);
    expect(first.payload.senderKey?.identitySignature.length).toBe(getSuite(suite).params.signatureBytes);
    expect(first.payload.signature.length).toBe(64);
    const later = (alice.session as GroupSession).encrypt(body);
    const view = readGroupWire(later);
    expect(view.payload.senderKey).toBeUndefined();
    expect(view.payload.signature.length).toBe(64);
    // The group is named once (in `to`), the sender by its position. Without the group address the
    // message is at most 184 B: with the bench's address (16 B: no domain, a 10-character group id)
    // a 100-byte body takes at most 200 B in every suite.
    expect(toBinary(E2eeMsgSchema, { ...fromBinary(E2eeMsgSchema, later), to: undefined }).length).toBeLessThanOrEqual(184);
    // The forging helper writes the announcement statement as the code does (checked here once per suite).
    expect(announcementMatches(groupStateOf(bob.session as GroupSession), toBinary(E2eeMsgSchema, first.msg), alice.info.signPublicKey)).toBe(true);
    for (const r of [bob, carol]) for (const m of [toBinary(E2eeMsgSchema, first.msg), later]) expectGroupDecrypts(r, { wire: m, plain: body, sender: alice, epoch: 0n });
    // One key per member per epoch in the receiver's state, named by position.
    const keys = epochOf(groupStateOf(bob.session as GroupSession)).senderKeys;
    expect(keys.map((k) => k.memberIndex)).toEqual([positionOf(alice)]);
    // A replay of the announcing message changes nothing.
    expectRefused(bob, toBinary(E2eeMsgSchema, first.msg), ReplayError);
    w.allTalk('everyone:');
  });

  it("a member cannot pass a message off as another member's: its own sender key, the other's chain and position are refused", () => {
    const { w, alice, bob, carol } = groupOf3(suite);
    w.allTalk('sender keys:'); // carol holds alice's and bob's keys
    // The forging helper is exact: bob's next message made from his own state is the one his session writes.
    const plain = utf8('bob, genuinely');
    const made = forgeFromStolenState((bob.session as GroupSession).serialize(), plain);
    expect(hex(made)).toBe(hex((bob.session as GroupSession).encrypt(plain)));
    expectGroupDecrypts(carol, { wire: made, plain, sender: bob, epoch: 0n });

    // Bob knows alice's chain key (every member derives every chain from the seed) and signs with his own sender key.
    const { state, chainKey, chainIndex } = chainOf(bob, alice);
    const asAlice = forgeGroupMessage({
      state,
      memberIndex: positionOf(alice),
      index: chainIndex,
      chainKey,
      chainIndex,
      sign: (statement) => ed25519.sign(senderKeyOf(bob), statement),
      plaintext: utf8('I am alice'),
    });
    expectRefused(carol, asAlice, InvalidSignatureError);
    // ...also with his sender key announced for alice's position under his own identity key.
    const bobKey = epochOf(state).ownSenderKey?.publicKey as Uint8Array;
    const withAnnouncement = forgeGroupMessage({
      state,
      memberIndex: positionOf(alice),
      index: chainIndex,
      chainKey,
      chainIndex,
      sign: (statement) => ed25519.sign(senderKeyOf(bob), statement),
      announcement: makeAnnouncement(state, positionOf(alice), bob.info.signPublicKey, bobKey, (s) => bob.account.signWithIdentity(s)),
      plaintext: utf8('I am alice, announced'),
    });
    expectRefused(carol, withAnnouncement, InvalidSignatureError);
    // A device that does not hold alice's key yet refuses it too (and would hold it, waiting for alice's own).
    const dave = newDevice(suite, 'dave', 'phone');
    w.devices.set(dave.name, dave);
    const change = w.change('carol/phone', { add: ['dave/phone'] });
    expect(change.recipients.length).toBe(3);
    const after = chainOf(bob, alice);
    const inNewEpoch = forgeGroupMessage({
      state: after.state,
      memberIndex: positionOf(alice),
      index: 1,
      chainKey: after.chainKey,
      chainIndex: after.chainIndex,
      sign: (statement) => ed25519.sign(senderKeyOf(bob), statement),
      plaintext: utf8('I am alice, in epoch 1'),
    });
    expectRefused(w.get('dave/phone'), inNewEpoch, MissingSenderKeyError);
    w.allTalk('after the forgeries:');
  });

  it('an announcement with a bad identity signature, or for a position that is not its signer’s, is refused and nothing changes', () => {
    const { alice, bob, carol } = groupOf3(suite);
    const body = utf8('first of the epoch');
    const genuine = (alice.session as GroupSession).encrypt(body);
    const sigBytes = readGroupWire(genuine).payload.senderKey?.identitySignature as Uint8Array;
    // A flipped bit of the identity signature.
    const flipped = editGroupWire(genuine, (p) => {
      if (p.senderKey) p.senderKey.identitySignature = flipBit(sigBytes, 10, 3);
    });
    expectRefused(bob, flipped, InvalidSignatureError);
    // Another Ed25519 key under alice's identity signature (the message signed with that key).
    const state = groupStateOf(alice.session as GroupSession);
    const other = ed25519.keygen();
    const swapped = forgeGroupMessage({
      state,
      memberIndex: positionOf(alice),
      index: 0,
      chainKey: (() => {
        const own = groupStateOf(bob.session as GroupSession);
        return epochOf(own).receivingChains.find((c) => c.memberIndex === positionOf(alice))?.chainKey as Uint8Array;
      })(),
      chainIndex: 0,
      sign: (statement) => ed25519.sign(other.secretKey, statement),
      announcement: { ...readGroupWire(genuine).payload.senderKey!, publicKey: other.publicKey },
      plaintext: body,
    });
    expectRefused(bob, swapped, InvalidSignatureError);
    // Carol announces her key for alice's position, signed with carol's identity key.
    const carolState = groupStateOf(carol.session as GroupSession);
    const carolKey = epochOf(carolState).ownSenderKey as { publicKey: Uint8Array; secretKey: Uint8Array };
    const aliceChain = epochOf(carolState).receivingChains.find((c) => c.memberIndex === positionOf(alice)) as { chainKey: Uint8Array };
    const misplaced = forgeGroupMessage({
      state: carolState,
      memberIndex: positionOf(alice),
      index: 0,
      chainKey: aliceChain.chainKey,
      chainIndex: 0,
      sign: (statement) => ed25519.sign(carolKey.secretKey, statement),
      announcement: makeAnnouncement(carolState, positionOf(alice), carol.info.signPublicKey, carolKey.publicKey, (s) => carol.account.signWithIdentity(s)),
      plaintext: utf8('carol as alice'),
    });
    expectRefused(bob, misplaced, InvalidSignatureError);
    // ...and her own announcement moved to alice's position (signed for her own position).
    const carolFirst = (carol.session as GroupSession).encrypt(utf8('carol 0'));
    expectRefused(
      bob,
      editGroupWire(carolFirst, (p) => (p.memberIndex = positionOf(alice))),
      InvalidSignatureError,
    );
    // The genuine ones go through afterwards.
    expectGroupDecrypts(bob, { wire: genuine, plain: body, sender: alice, epoch: 0n });
    expectGroupDecrypts(bob, { wire: carolFirst, plain: utf8('carol 0'), sender: carol, epoch: 0n });
  });

  it('a second, different announcement for the same member and epoch is refused and nothing changes', () => {
    const { alice, bob } = groupOf3(suite);
    const first = (alice.session as GroupSession).encrypt(utf8('alice 0'));
    expectGroupDecrypts(bob, { wire: first, plain: utf8('alice 0'), sender: alice, epoch: 0n });
    // Alice herself (her identity key) announces another key for the same epoch and signs with it.
    const state = groupStateOf(alice.session as GroupSession);
    const second = ed25519.keygen();
    const chain = epochOf(state).sendingChain as { chainKey: Uint8Array; nextIndex: number };
    const conflicting = forgeGroupMessage({
      state,
      memberIndex: positionOf(alice),
      index: chain.nextIndex,
      chainKey: chain.chainKey,
      chainIndex: chain.nextIndex,
      sign: (statement) => ed25519.sign(second.secretKey, statement),
      announcement: makeAnnouncement(state, positionOf(alice), alice.info.signPublicKey, second.publicKey, (s) => alice.account.signWithIdentity(s)),
      plaintext: utf8('alice, rekeyed'),
    });
    expectRefused(bob, conflicting, SenderKeyConflictError);
    const next = (alice.session as GroupSession).encrypt(utf8('alice 1'));
    expectGroupDecrypts(bob, { wire: next, plain: utf8('alice 1'), sender: alice, epoch: 0n });
  });

  it("a message before its sender's announcement is refused with MissingSenderKeyError, changes nothing, and decrypts once the announcement is in", () => {
    const { alice, bob } = groupOf3(suite);
    const sent: Sent[] = ['a0', 'a1', 'a2'].map((t) => ({ wire: (alice.session as GroupSession).encrypt(utf8(t)), plain: utf8(t), sender: alice, epoch: 0n }));
    for (const m of [sent[2]!, sent[1]!]) expectRefused(bob, m.wire, MissingSenderKeyError);
    const result = (bob.session as GroupSession).decrypt(sent[0]!.wire);
    expect(result.senderKeyAnnounced).toBe(true);
    for (const m of [sent[2]!, sent[1]!]) expectGroupDecrypts(bob, m);
    expect((bob.session as GroupSession).decrypt((alice.session as GroupSession).encrypt(utf8('a3'))).senderKeyAnnounced).toBe(false);
  });

  it("'identity' groups sign every message with the identity key, keep the mode in every epoch, and refuse sender-key messages", () => {
    const { w, alice, bob, carol } = groupOf3(suite, 'identity');
    for (const d of [alice, bob, carol]) expect((d.session as GroupSession).groupAuth).toBe('identity');
    const sent = w.allTalk('identity mode:');
    for (const m of sent) {
      const { payload } = readGroupWire(m.wire);
      expect(payload.senderKey).toBeUndefined();
      expect(payload.signature.length).toBe(getSuite(suite).params.signatureBytes);
    }
    const state = groupStateOf(bob.session as GroupSession);
    expect(state.groupAuth).toBe(AUTH.identity);
    expect(epochOf(state).ownSenderKey).toBeUndefined();
    expect(epochOf(state).senderKeys).toEqual([]);
    // A member sends a sender-key message into it: its own Ed25519 key, announced under its identity key.
    const { chainKey, chainIndex } = chainOf(bob, alice);
    const own = epochOf(state).sendingChain as { chainKey: Uint8Array; nextIndex: number };
    const key = ed25519.keygen();
    const senderKeyShaped = forgeGroupMessage({
      state,
      auth: AUTH.senderKey,
      memberIndex: positionOf(bob),
      index: own.nextIndex,
      chainKey: own.chainKey,
      chainIndex: own.nextIndex,
      sign: (statement) => ed25519.sign(key.secretKey, statement),
      announcement: makeAnnouncement(state, positionOf(bob), bob.info.signPublicKey, key.publicKey, (s) => bob.account.signWithIdentity(s)),
      plaintext: utf8('downgrade?'),
    });
    expectRefused(carol, senderKeyShaped, GroupAuthModeError);
    // Without the announcement: an Ed25519 signature where the identity signature belongs (in suite 2
    // both are 64-byte Ed25519 signatures, and this one is simply not bob's).
    const bare = editGroupWire(senderKeyShaped, (p) => (p.senderKey = undefined));
    expectRefused(carol, bare, GroupAuthModeError, InvalidSignatureError);
    // Bob signs alice's chain with his identity key: still not alice's message.
    const asAlice = forgeGroupMessage({
      state,
      memberIndex: positionOf(alice),
      index: chainIndex,
      chainKey,
      chainIndex,
      sign: (statement) => bob.account.signWithIdentity(statement),
      plaintext: utf8('I am alice'),
    });
    expectRefused(carol, asAlice, InvalidSignatureError);
    // Epoch changes keep the mode.
    w.change('bob/phone', { add: ['dave/phone'] });
    for (const n of w.members) expect((w.get(n).session as GroupSession).groupAuth).toBe('identity');
    w.allTalk('identity mode, epoch 1:');
  });

  it("'sender-key' groups refuse identity-signed messages, and no bundle can change a group's mode", () => {
    const { w, alice, bob, carol } = groupOf3(suite);
    w.allTalk('sender keys:');
    // Bob signs his next message with his identity key (as an 'identity' group would).
    const state = groupStateOf(bob.session as GroupSession);
    const own = epochOf(state).sendingChain as { chainKey: Uint8Array; nextIndex: number };
    const identitySigned = forgeGroupMessage({
      state,
      auth: AUTH.identity,
      memberIndex: positionOf(bob),
      index: own.nextIndex,
      chainKey: own.chainKey,
      chainIndex: own.nextIndex,
      sign: (statement) => bob.account.signWithIdentity(statement),
      plaintext: utf8('upgrade?'),
    });
    expectRefused(carol, identitySigned, GroupAuthModeError, InvalidSignatureError);
    // A bundle whose mode bit is flipped no longer verifies (the creator's signature covers it)...
    const change = (restore(alice) as GroupSession).changeMembers({ add: [newDevice(suite, 'dave', 'phone').info], epoch: 1, now: w.now });
    const flippedMode = pbSet(change.bundle, [9], { varint: 1n });
    for (const d of [bob, carol]) {
      const before = hex((d.session as GroupSession).serialize());
      expectThrow(() => (d.session as GroupSession).applyBundle(flippedMode, w.now), InvalidSignatureError);
      expect(hex((d.session as GroupSession).serialize())).toBe(before);
    }
    // ...and a member's validly signed bundle of the other mode is refused.
    const { session: identityTwin } = GroupSession.create(bob.account, {
      groupId: w.groupId,
      domain: DOMAIN,
      userId: 'bob',
      deviceId: 'phone',
      members: [alice.info, carol.info],
      groupAuth: 'identity',
    });
    const otherMode = identityTwin.changeMembers({ epoch: 1, now: w.now }).bundle;
    expect(fromBinary(GroupPreKeyBundleSchema, otherMode).groupAuth).toBe(AUTH.identity);
    for (const d of [alice, carol]) {
      const before = hex((d.session as GroupSession).serialize());
      expectThrow(() => (d.session as GroupSession).applyBundle(otherMode, w.now), GroupAuthModeError);
      expect(hex((d.session as GroupSession).serialize())).toBe(before);
    }
    w.allTalk('still sender keys:');
  });

  it('a stolen group state forges its member’s messages in the current epoch (sender-key mode), not once the member has moved to the next epoch', () => {
    const { w, alice, bob, carol } = groupOf3(suite);
    w.allTalk('sender keys:');
    const a1 = w.send('alice/phone', 'alice 1');
    w.deliver(a1);
    // The thief copies alice's serialized group state; it has no Account (no identity key).
    const stolen = (alice.session as GroupSession).serialize();
    // Documented limitation: within the epoch, the state is all it takes to write as alice.
    const forged = forgeFromStolenState(stolen, utf8('forged as alice'));
    const got = (bob.session as GroupSession).decrypt(forged);
    expect(got.sender.userId).toBe('alice');
    expect(new TextDecoder().decode(got.plaintext)).toBe('forged as alice');
    // (alice's genuine message of that index is then a replay for bob: forgeries and her messages
    // collide, and whichever a receiver gets first counts.)
    const a2 = w.send('alice/phone', 'alice 2');
    expectThrow(() => (bob.session as GroupSession).decrypt(a2.wire), ReplayError);
    expectGroupDecrypts(carol, a2);
    const sentInEpoch0 = groupStateOf(alice.session as GroupSession).epochs[0]?.sendingChain?.nextIndex as number;

    // The next epoch: alice's new sender key exists only in her new state.
    w.change('carol/phone', { add: ['dave/phone'] });
    const stolenAfter = (alice.session as GroupSession).serialize();
    expect(() => forgeFromStolenState(stolenAfter, utf8('x'), 0n)).toThrow(); // the old epoch's sender key is gone
    // Until alice's first message of epoch 1 reaches bob, he still reads epoch 0 for the grace period,
    // and the old stolen state still forges there (documented: the window closes with that message).
    const inGrace = forgeGroupMessage({
      ...(() => {
        const s = groupStateOf(stolen);
        const chain = epochOf(s).sendingChain as { chainKey: Uint8Array; nextIndex: number };
        return { state: s, chainKey: chain.chainKey, chainIndex: chain.nextIndex };
      })(),
      memberIndex: readGroupWire(forged).payload.memberIndex,
      index: sentInEpoch0 + 1,
      sign: (statement) => ed25519.sign(epochOf(groupStateOf(stolen)).ownSenderKey?.secretKey as Uint8Array, statement),
      plaintext: utf8('forged in the grace period'),
    });
    expect(restore(carol).decrypt(inGrace).sender.userId).toBe('alice');
    const s0 = groupStateOf(stolen);
    // Alice's first epoch-1 message announces her new key and how many messages she sent in epoch 0.
    const first = w.send('alice/phone', 'alice, epoch 1');
    const announced = readGroupWire(first.wire).payload.senderKey;
    expect(announced?.previousEpoch).toBe(0n);
    expect(announced?.previousEpochMessages).toBe(sentInEpoch0);
    w.deliver(first);
    // From then on the stolen state forges nothing: its epoch-0 indexes are past alice's end...
    for (const r of [bob, carol]) expectRefused(r, inGrace, SenderKeyConflictError);
    const pastEnd = forgeGroupMessage({
      state: s0,
      memberIndex: readGroupWire(forged).payload.memberIndex,
      index: sentInEpoch0,
      chainKey: (epochOf(s0).sendingChain as { chainKey: Uint8Array }).chainKey,
      chainIndex: (epochOf(s0).sendingChain as { nextIndex: number }).nextIndex,
      sign: (statement) => ed25519.sign(epochOf(s0).ownSenderKey?.secretKey as Uint8Array, statement),
      plaintext: utf8('forged again'),
    });
    expectRefused(carol, pastEnd, SenderKeyConflictError);
    // ...it has no key of epoch 1 (its old key under the new epoch's number and alice's new position is not alice's)...
    const e0 = epochOf(s0);
    const asEpoch1 = editGroupWire(forgeFromStolenState(stolen, utf8('in epoch 1?')), (p) => {
      p.epoch = 1n;
      p.memberIndex = positionOf(alice);
    });
    expectRefused(bob, asEpoch1, InvalidSignatureError);
    expect(e0.epoch).toBe(0n);
    // ...and once epoch 0 is deleted, nothing of it decrypts.
    (bob.session as GroupSession).pruneEpochs(w.now + GRACE_MS);
    expectRefused(bob, inGrace, UnknownEpochError);
    w.allTalk('epoch 1:');
  });

  it("in an 'identity' group a stolen group state forges nothing: it holds no key that signs the member's messages", () => {
    const { w, alice, bob } = groupOf3(suite, 'identity');
    w.allTalk('identity mode:');
    const stolen = groupStateOf(alice.session as GroupSession);
    expect(() => forgeFromStolenState((alice.session as GroupSession).serialize(), utf8('x'))).toThrow();
    const chain = epochOf(stolen).sendingChain as { chainKey: Uint8Array; nextIndex: number };
    const forge = (sign: (statement: Uint8Array) => Uint8Array, announcement?: ReturnType<typeof makeAnnouncement>) =>
      forgeGroupMessage({
        state: stolen,
        memberIndex: positionOf(alice),
        index: chain.nextIndex,
        chainKey: chain.chainKey,
        chainIndex: chain.nextIndex,
        sign,
        ...(announcement ? { announcement } : {}),
        plaintext: utf8('forged as alice'),
      });
    // Signed with an identity-sized key of the thief's own, it does not verify under alice's identity key...
    const own = getSuite(suite).sig.keygen();
    expectRefused(
      bob,
      forge((statement) => getSuite(suite).sig.sign(own.secretKey, statement)),
      InvalidSignatureError,
    );
    // ...and a sender key of its own is refused as another mode (its announcement needs alice's identity key anyway).
    const key = ed25519.keygen();
    const announcement = makeAnnouncement(stolen, positionOf(alice), alice.info.signPublicKey, key.publicKey, (statement) => getSuite(suite).sig.sign(own.secretKey, statement));
    expectRefused(
      bob,
      forge((statement) => ed25519.sign(key.secretKey, statement), announcement),
      GroupAuthModeError,
    );
    expectGroupDecrypts(bob, w.send('alice/phone', 'alice, genuinely'));
  });

  it("someone who can make the sender's Ed25519 signatures but holds no secret of the epoch cannot alter its messages", () => {
    // Such a forger is what a quantum computer makes of the announced Ed25519 key. Group messages
    // have no AEAD tag, so the signature also covers an HMAC under a key derived from the epoch's seed.
    const { w, alice, bob } = groupOf3(suite);
    w.allTalk('sender keys:');
    const genuine = w.send('alice/phone', 'pay 10');
    const aliceKey = senderKeyOf(alice);
    const view = readGroupWire(genuine.wire).payload;
    const e = epochOf(groupStateOf(bob.session as GroupSession));
    // The forger even knows the bundle digest; only the message-authentication key is missing.
    const at = { groupId: w.groupId, epoch: view.epoch, epochDigest: e.bundleDigest, memberIndex: view.memberIndex, index: view.messageIndex };
    const altered = flipBit(view.ciphertext, 4, 0); // counter mode: a flipped ciphertext bit flips that plaintext bit
    const statement = messageStatement(suite, AUTH.senderKey, at, altered);
    const candidates = [statement, toBeSigned(getSuite(suite), AUTH.senderKey, new Uint8Array(32), statement)];
    for (const tbs of candidates) {
      const forged = editGroupWire(genuine.wire, (p) => {
        p.ciphertext = altered;
        p.signature = ed25519.sign(aliceKey, tbs);
      });
      expectRefused(bob, forged, InvalidSignatureError);
    }
    // (With the epoch's key, as in a stolen state, the same alteration would be accepted: see above.)
    const withKey = editGroupWire(genuine.wire, (p) => {
      p.ciphertext = altered;
      p.signature = ed25519.sign(aliceKey, toBeSigned(getSuite(suite), AUTH.senderKey, e.messageAuthKey, statement));
    });
    expect(new TextDecoder().decode(restore(bob).decrypt(withKey).plaintext)).not.toBe('pay 10');
    expectGroupDecrypts(bob, genuine);
  });

  it('late messages a member sent before it moved on still decrypt; indexes past the end it announced are refused', () => {
    const { w, alice, bob } = groupOf3(suite);
    w.allTalk('sender keys:');
    const late = [w.send('alice/phone', 'late 1'), w.send('alice/phone', 'late 2')];
    w.change('bob/phone', { add: ['dave/phone'] });
    w.deliver(w.send('alice/phone', 'epoch 1 first'));
    for (const m of [late[1]!, late[0]!]) expectGroupDecrypts(bob, m, 'delayed by the server:');
    // Alice's epoch-0 chain on bob's side ends where she said (3 messages: her first and the two late ones).
    const e0 = groupStateOf(bob.session as GroupSession).epochs.find((e) => e.epoch === 0n);
    const aliceAt0 = readGroupWire(late[0]!.wire).payload.memberIndex;
    expect(e0?.receivingChains.find((c) => c.memberIndex === aliceAt0)?.endIndex).toBe(3);
    // A message of hers past that end (made from her chain, as a thief of her old state would) is refused.
    const chain = e0?.receivingChains.find((c) => c.memberIndex === aliceAt0) as { chainKey: Uint8Array; nextIndex: number };
    const pastEnd = forgeGroupMessage({
      state: groupStateOf(bob.session as GroupSession),
      epoch: 0n,
      memberIndex: aliceAt0,
      index: 3,
      chainKey: chain.chainKey,
      chainIndex: chain.nextIndex,
      sign: () => new Uint8Array(64),
      plaintext: utf8('past the end'),
    });
    expectRefused(bob, pastEnd, SenderKeyConflictError);
    expect(alice.name).toBe('alice/phone');
  });

  it('sender secret keys are erased when an epoch stops sending, and absent from identity groups', () => {
    const { w, alice } = groupOf3(suite);
    const secret = (alice.session as GroupSession).state.epochs[0]?.ownSenderKey?.secretKey as Uint8Array;
    expect(secret.some((b) => b !== 0)).toBe(true);
    w.change('bob/phone', { add: ['dave/phone'] });
    expect(secret.every((b) => b === 0)).toBe(true);
    const state = groupStateOf(alice.session as GroupSession);
    expect(state.epochs.map((e) => e.ownSenderKey !== undefined)).toEqual([true, false]);
    // Dropping the epoch keeps nothing of it.
    (alice.session as GroupSession).pruneEpochs(w.now + GRACE_MS);
    expect((alice.session as GroupSession).epochs).toEqual([1n]);
  });

  it('a stored state with more than one key per member, a key for a position outside the list, or sender keys in an identity group does not load', () => {
    const { w, alice, bob } = groupOf3(suite);
    w.allTalk('sender keys:');
    const bytes = (bob.session as GroupSession).serialize();
    const damaged = (edit: (s: ReturnType<typeof groupStateOf>) => void): Uint8Array => {
      const s = groupStateOf(bytes);
      edit(s);
      return toBinary(GroupSessionStateSchema, s);
    };
    const firstKey = (s: ReturnType<typeof groupStateOf>) => epochOf(s).senderKeys[0] as { memberIndex: number; publicKey: Uint8Array };
    const cases: Array<[string, Uint8Array]> = [
      ['two keys for one member', damaged((s) => epochOf(s).senderKeys.push(create(GroupSenderKeyStateSchema, { ...firstKey(s) })))],
      ['a key for position 3 of 3', damaged((s) => (firstKey(s).memberIndex = 3))],
      ['a 31-byte key', damaged((s) => (firstKey(s).publicKey = new Uint8Array(31)))],
      ['sender keys in an identity group', damaged((s) => (s.groupAuth = AUTH.identity))],
      ['an unknown auth mode', damaged((s) => (s.groupAuth = 7 as typeof s.groupAuth))],
    ];
    for (const [what, state] of cases) expect(() => GroupSession.deserialize(state, bob.account), what).toThrow(MalformedMessageError);
    expect(GroupSession.deserialize(bytes, bob.account).groupAuth).toBe('sender-key');
    expect(alice.name).toBe('alice/phone');
  });

  it('protocol v1 is refused: messages and bundles with a UnsupportedProtocolVersionError, while v1 group states load as identity groups', () => {
    const { w, alice, bob } = groupOf3(suite);
    const m = (alice.session as GroupSession).encrypt(utf8('v2'));
    const asV1 = toBinary(E2eeMsgSchema, { ...fromBinary(E2eeMsgSchema, m), version: 1 });
    expectRefused(bob, asV1, UnsupportedProtocolVersionError);
    // A v1 payload (group id repeated in the payload: field 1, gone in v2) with version 1.
    const v1Shaped = pbSet(asV1, [7, 1], { bytes: utf8(w.groupId) });
    expectRefused(bob, v1Shaped, UnsupportedProtocolVersionError);
    const bundle = (alice.session as GroupSession).changeMembers({ epoch: 1, now: w.now }).bundle;
    const v1Bundle = pbSet(bundle, [1], { varint: 1n });
    expectThrow(() => (bob.session as GroupSession).applyBundle(v1Bundle, w.now), UnsupportedProtocolVersionError);
    // A protocol-v1 group state (state version 2): every v1 group was an identity group.
    const v1State = groupStateOf(bob.session as GroupSession);
    v1State.version = 2;
    v1State.groupAuth = AUTH.senderKey;
    for (const e of v1State.epochs) {
      e.ownSenderKey = undefined;
      e.senderKeys = [];
      e.messageAuthKey = new Uint8Array(0);
    }
    const migrated = GroupSession.deserialize(toBinary(GroupSessionStateSchema, v1State), bob.account);
    expect(migrated.groupAuth).toBe('identity');
    expect(groupStateOf(migrated).version).toBe(3);
  });
});

function restore(d: GroupDevice): GroupSession {
  return GroupSession.deserialize((d.session as GroupSession).serialize(), d.account);
}

describe('group sender keys: API', () => {
  it('groupAuth must be one of the two modes', () => {
    const account = Account.create({ suite: 2, now: T0 });
    expect(() => GroupSession.create(account, { groupId: 'g', members: [], userId: 'u', deviceId: 'd', groupAuth: 'none' as 'identity' })).toThrow();
    expect(GroupSession.create(account, { groupId: 'g', members: [], userId: 'u', deviceId: 'd' }).session.groupAuth).toBe('sender-key');
    expect(GroupSession.create(account, { groupId: 'g', members: [], userId: 'u', deviceId: 'd', groupAuth: 'identity' }).session.groupAuth).toBe('identity');
  });

  it('a member index outside the member list is refused as a non-member', () => {
    const { alice, bob } = groupOf3(2);
    const m = (alice.session as GroupSession).encrypt(utf8('x'));
    expectRefused(
      bob,
      editGroupWire(m, (p) => (p.memberIndex = 3)),
      NotAMemberError,
    );
  });
});
