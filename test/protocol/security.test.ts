// Security properties of one-to-one sessions (DESIGN.md §4, docs/protocol-api.md): post-compromise
// security, forward secrecy, integrity of every wire byte, replay protection, skip limits, the
// self ratchet step, session separation, the signed pre-key signature and suite checks.
import { describe, expect, it } from 'vitest';
import {
  Account,
  DecryptionFailedError,
  InboundSession,
  InvalidSignatureError,
  MalformedMessageError,
  OutboundSession,
  ReplayError,
  Session,
  SessionStateError,
  SuiteMismatchError,
  TooManySkippedMessagesError,
  UnknownRatchetKeyError,
  UnsupportedProtocolVersionError,
} from '../support/library.js';
import {
  asPath,
  checkThrow,
  equalBytes,
  establish,
  expectDecrypts,
  expectThrow,
  Failures,
  flipBit,
  newAccount,
  type Pair,
  pbBytesAt,
  pbFind,
  pbSet,
  pbVarintAt,
  restore,
  Rng,
  show,
  structuralOffsets,
  type SuiteNo,
  SUITES,
  utf8,
  WIRE,
} from '../support/index.js';

type Side = 'a' | 'b';
const other = (s: Side): Side => (s === 'a' ? 'b' : 'a');

/** Sends `n` messages from one side and delivers them in order to the other. */
function exchange(p: Record<Side, Pair['a']>, from: Side, n: number, tag: string): void {
  for (let i = 0; i < n; i++) {
    const m = utf8(`${tag} ${from} #${i}`);
    expectDecrypts(p[other(from)], p[from].encrypt(m), m, `${tag}:`);
  }
}

const indexPath = asPath(WIRE.msg.messageIndex);
const indexOf = (wire: Uint8Array): number => Number(pbVarintAt(wire, indexPath) ?? 0n);
const epochPath = asPath(WIRE.msg.epoch);
const epochOf = (wire: Uint8Array): number => Number(pbVarintAt(wire, epochPath) ?? 0n);
const carriesChunk = (wire: Uint8Array): boolean => (pbBytesAt(wire, asPath(WIRE.msg.epochChunk))?.length ?? 0) > 0;

describe.each(SUITES)('security, suite %i', (suite: SuiteNo) => {
  const rng = new Rng(`security/${suite}`);

  it.each(['b', 'a'] as const)('post-compromise security: a copy of %s taken at t cannot read once two more epochs are done', (victim) => {
    const peer = other(victim);
    const { a, b } = establish(suite);
    const s: Record<Side, Pair['a']> = { a, b };
    // Some history in both directions before the compromise.
    exchange(s, 'a', 3, 'warm-up 1');
    exchange(s, 'b', 2, 'warm-up 2');
    exchange(s, 'a', 1, 'warm-up 3');
    const stolen = s[victim].serialize(); // time t
    const epochAtTheft = s[victim].ratchetEpoch;

    // peer → victim: the attacker's copy can still follow (no fresh secret of the victim yet).
    const first = [0, 1, 2].map((i) => utf8(`after t, peer→victim #${i}`));
    const firstWires = first.map((m) => s[peer].encrypt(m));
    const attacker = Session.deserialize(stolen);
    firstWires.forEach((w, i) => expectDecrypts(s[victim], w, first[i]!, 'victim, first leg:'));
    firstWires.forEach((w, i) => expectDecrypts(attacker, w, first[i]!, 'attacker copy, first leg (sanity: the copy is a working state):'));

    // Balanced traffic until both sides send in the second epoch made after t: it involves a KEM
    // secret drawn by the victim after t, whichever role the victim had in the first.
    let peerEpoch = 0;
    for (let i = 0; peerEpoch < epochAtTheft + 2; i++) {
      if (i > 1000) expect.fail('no two new epochs in 1000 round trips');
      exchange(s, victim, 1, `heal ${i}`);
      const m = utf8(`heal ${i} from the peer`);
      const w = s[peer].encrypt(m);
      peerEpoch = epochOf(w);
      expectDecrypts(s[victim], w, m);
    }
    const last = [0, 1, 2].map((i) => utf8(`after healing #${i}`));
    const lastWires = last.map((m) => s[peer].encrypt(m));
    expect(epochOf(lastWires[0]!)).toBeGreaterThanOrEqual(epochAtTheft + 2);
    for (const w of lastWires) expectThrow(() => attacker.decrypt(w));
    const freshCopy = Session.deserialize(stolen);
    for (const w of lastWires) expectThrow(() => freshCopy.decrypt(w));
    lastWires.forEach((w, i) => expectDecrypts(s[victim], w, last[i]!, 'victim, after healing:'));
    // And it stays that way.
    exchange(s, victim, 1, 'later');
    const later = utf8('later still');
    const laterWire = s[peer].encrypt(later);
    expectThrow(() => attacker.decrypt(laterWire));
    expectDecrypts(s[victim], laterWire, later);
  });

  it('forward secrecy and replay: the same wire bytes never decrypt twice, not even from a state saved after', () => {
    const { a, b } = establish(suite);
    const m = [0, 1, 2, 3].map((i) => utf8(`fs #${i}`));
    const w = m.map((x) => a.encrypt(x));
    const before = b.serialize();
    expectDecrypts(b, w[0]!, m[0]!);
    const after = b.serialize();
    expectThrow(() => b.decrypt(w[0]!), ReplayError);
    expectThrow(() => Session.deserialize(after).decrypt(w[0]!), ReplayError);
    // Sanity: the state saved before the decryption can decrypt it (so the refusals above are meaningful).
    expectDecrypts(Session.deserialize(before), w[0]!, m[0]!);

    // A skipped message key is usable once, then gone too.
    expectDecrypts(b, w[3]!, m[3]!); // skips 1 and 2
    const afterSkip = b.serialize();
    expectDecrypts(Session.deserialize(afterSkip), w[1]!, m[1]!); // stored skipped key works from the saved state
    expectDecrypts(b, w[1]!, m[1]!);
    expectThrow(() => b.decrypt(w[1]!), ReplayError);
    expectThrow(() => Session.deserialize(b.serialize()).decrypt(w[1]!), ReplayError);
    expectThrow(() => b.decrypt(w[3]!), ReplayError);
    expectDecrypts(b, w[2]!, m[2]!);
    for (const x of w) expectThrow(() => b.decrypt(x), ReplayError);

    // Messages of chains many ratchet turns ago stay undecryptable (typed error, never plaintext).
    const s: Record<Side, Pair['a']> = { a, b };
    for (let turn = 0; turn < 8; turn++) exchange(s, turn % 2 ? 'a' : 'b', 2, `turn ${turn}`);
    for (const x of w) expectThrow(() => b.decrypt(x), ReplayError, UnknownRatchetKeyError);
    for (const x of w) expectThrow(() => restore(b).decrypt(x), ReplayError, UnknownRatchetKeyError);
  });

  it('every single flipped bit of an E2eeMsg (header and ciphertext) is rejected with a typed error', () => {
    const { a, b: bob } = establish(suite);
    let b = bob;
    exchange({ a, b }, 'a', 2, 'setup');
    exchange({ a, b }, 'b', 1, 'setup');
    // (1) the first message of a new chain (carries a fresh ratchet key and KEM ciphertext);
    // (2) the next message of that chain (an existing receiving chain);
    // (3) a message whose key the receiver holds as a skipped key.
    const plains = ['flip me', 'and me', 'skipped', 'jumped ahead'].map(utf8);
    const [w1, w2, w3, w4] = plains.map((x) => a.encrypt(x)) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    const failures = new Failures();
    const tryAll = (wire: Uint8Array, plain: Uint8Array, name: string): number => {
      const attempts: Array<[number, number]> = [];
      for (let i = 0; i < wire.length; i++) attempts.push([i, i % 8]);
      for (const i of structuralOffsets(wire)) for (let bit = 0; bit < 8; bit++) if (bit !== i % 8) attempts.push([i, bit]);
      const snapshot = b.serialize();
      for (const [i, bit] of attempts) {
        const bad = flipBit(wire, i, bit);
        let got: Uint8Array | undefined;
        const err = checkThrow(() => {
          got = b.decrypt(bad);
          return got;
        });
        if (err) {
          const what = got ? (equalBytes(got, plain) ? 'decrypted (same plaintext)' : `decrypted to DIFFERENT plaintext ${show(got)}`) : err;
          failures.add(`${name}: byte ${i} 0x${(wire[i] as number).toString(16)}->0x${(bad[i] as number).toString(16)}`, what);
          // An accepted forgery consumed the message key: continue from the state before it.
          if (got) b = Session.deserialize(snapshot);
        }
      }
      return attempts.length;
    };
    const n1 = tryAll(w1, plains[0]!, 'new-chain msg');
    // The tampering changed nothing: the genuine message decrypts afterwards.
    expectDecrypts(b, w1, plains[0]!, 'genuine new-chain message after the flips:');
    const n2 = tryAll(w2, plains[1]!, 'mid-chain msg');
    expectDecrypts(b, w2, plains[1]!, 'genuine mid-chain message after the flips:');
    expectDecrypts(b, w4, plains[3]!, 'w4 (w3 becomes a skipped key):');
    const n3 = tryAll(w3, plains[2]!, 'skipped-key msg');
    expectDecrypts(b, w3, plains[2]!, 'genuine skipped message after the flips:');
    expect(Math.min(n1, n2, n3)).toBeGreaterThan(w1.length);
    // Truncations of every length as well.
    const pt = utf8('truncate me');
    const wt = a.encrypt(pt);
    for (let len = 0; len < wt.length; len++)
      failures.add(
        `truncated to ${len}`,
        checkThrow(() => b.decrypt(wt.subarray(0, len))),
      );
    expectDecrypts(b, wt, pt);
    exchange({ a, b }, 'b', 2, 'after');
    exchange({ a, b }, 'a', 2, 'after');
    failures.assertNone();
  });

  it('skip limit: more than 1000 keys ahead in one chain is refused before authentication; 999 is not', () => {
    const { a, b } = establish(suite);
    const m = [0, 1, 2, 3, 4, 5].map((i) => utf8(`chain msg ${i}`));
    const w = m.map((x) => a.encrypt(x));
    // The test's own wire reader agrees with the protocol: indices count up by one.
    const base = indexOf(w[0]!);
    w.forEach((x, i) => expect(indexOf(x), `index of message ${i}`).toBe(base + i));
    expect(equalBytes(pbSet(w[2]!, indexPath, { varint: BigInt(base + 2) }), w[2]!), 'the test re-encodes wire bytes exactly').toBe(true);

    expectDecrypts(b, w[0]!, m[0]!);
    const next = base + 1; // the receiver's next expected index in this chain
    const forge = (x: Uint8Array, idx: number): Uint8Array => pbSet(x, indexPath, { varint: BigInt(idx) });
    expectThrow(() => b.decrypt(forge(w[1]!, next + 1001)), TooManySkippedMessagesError);
    expectThrow(() => b.decrypt(forge(w[1]!, next + 5000)), TooManySkippedMessagesError);
    // The last uint32 is no index at all (lengths are stored plus one): refused as malformed.
    expectThrow(() => b.decrypt(forge(w[1]!, 0xffffffff)), MalformedMessageError);
    // 999 ahead is within the limit: the keys are derived, the forged header then fails authentication.
    expectThrow(() => b.decrypt(forge(w[1]!, next + 999)), DecryptionFailedError);
    // Nothing was stored or advanced by the refused messages.
    for (let i = 1; i < w.length; i++) expectDecrypts(b, w[i]!, m[i]!, `genuine ${i}:`);

    // The same at the start of a new epoch's chain (the receiver has not used it yet).
    let nw: Uint8Array[] = [];
    let lastEpoch = epochOf(w[5]!);
    for (let i = 0; nw.length === 0; i++) {
      if (i > 1000) expect.fail('no new epoch in 1000 round trips');
      expectDecrypts(a, b.encrypt(utf8(`turn ${i}`)), utf8(`turn ${i}`));
      const fresh = a.encrypt(utf8('new chain 0'));
      if (epochOf(fresh) > lastEpoch) nw = [fresh, a.encrypt(utf8('new chain 1'))];
      else expectDecrypts(b, fresh, utf8('new chain 0'));
      lastEpoch = epochOf(fresh);
    }
    // (Index 1, not 0: proto3 leaves a zero index out, and a forged one would be non-canonical.)
    const nbase = indexOf(nw[0]!);
    expectThrow(() => b.decrypt(forge(nw[1]!, nbase + 1001)), TooManySkippedMessagesError);
    expectThrow(() => b.decrypt(forge(nw[1]!, nbase + 999)), DecryptionFailedError);
    expectDecrypts(b, nw[0]!, utf8('new chain 0'));
    expectDecrypts(b, nw[1]!, utf8('new chain 1'));
  });

  it('999 messages skipped at once still decrypt, in any order', () => {
    const { a, b } = establish(suite);
    const wires: Uint8Array[] = [];
    for (let i = 0; i < 1000; i++) wires.push(a.encrypt(utf8(`s${i}`)));
    // The last one first, then the rest in random order.
    const order = [999, ...rng.shuffle([...Array(999).keys()])];
    const failures = new Failures();
    // Messages of a one-way step that overtook the step's ciphertext chunks are tried again later.
    let pending = order;
    for (let progress = true; pending.length > 0 && progress; ) {
      const before = pending.length;
      const again: number[] = [];
      for (const i of pending) {
        try {
          const got = b.decrypt(wires[i]!);
          if (!equalBytes(got, utf8(`s${i}`))) failures.add(`message ${i}`, 'wrong plaintext');
        } catch (e) {
          if (e instanceof UnknownRatchetKeyError) again.push(i);
          else failures.add(`message ${i}`, String(e));
        }
      }
      pending = again;
      progress = pending.length < before;
    }
    for (const i of pending) failures.add(`message ${i}`, 'never decrypted');
    failures.assertNone();
  });

  it('a one-way burst of 600 messages carries epoch chunks only until each was sent about twice, and all decrypt', () => {
    const { a, b } = establish(suite);
    const wires: Uint8Array[] = [];
    for (let i = 0; i < 600; i++) wires.push(a.encrypt(utf8(`c${i}`)));
    const withChunk = wires.filter(carriesChunk).length;
    const k = Math.ceil(a.suite.params.kemPublicKeyBytes / Math.min(64, a.suite.params.kemPublicKeyBytes));
    expect(withChunk, 'messages carrying a chunk in a one-way burst').toBe(2 * k);
    for (let i = 0; i < 600; i++) expectDecrypts(b, wires[i]!, utf8(`c${i}`), `message ${i}:`);
    // A word from the peer lets the chunks flow again.
    expectDecrypts(a, b.encrypt(utf8('ack')), utf8('ack'));
    expect(carriesChunk(a.encrypt(utf8('after the ack'))) || b.ratchetEpoch > 0).toBe(true);
  });

  it('a message of one session is refused by another session of the same accounts', () => {
    const alice = newAccount(suite);
    const bob = newAccount(suite);
    const p1 = establish(suite, { alice, bob });
    const p2 = establish(suite, { alice, bob });
    // Give both sessions the same shape of history, so chain ids and indices line up.
    for (const p of [p1, p2]) {
      exchange({ a: p.a, b: p.b }, 'a', 2, 'h');
      exchange({ a: p.a, b: p.b }, 'b', 2, 'h');
    }
    const m = utf8('for session 1 only');
    const w = p1.a.encrypt(m);
    expectThrow(() => p2.b.decrypt(w));
    // Even with session 2's id written into it.
    const tagOf = (id: string) => Uint8Array.from(Buffer.from(id.slice(0, 16), 'hex'));
    const relabelled = pbSet(w, asPath(WIRE.msg.sessionTag), { bytes: tagOf(p2.b.sessionId) });
    expectThrow(() => p2.b.decrypt(relabelled));
    const back = p1.b.encrypt(utf8('bob s1'));
    expectThrow(() => p2.a.decrypt(back));
    expectDecrypts(p1.b, w, m);
    expectDecrypts(p1.a, back, utf8('bob s1'));
    exchange({ a: p2.a, b: p2.b }, 'a', 2, 'p2 ok');
    exchange({ a: p2.a, b: p2.b }, 'b', 2, 'p2 ok');
  });

  it('a message of a ratchet epoch the receiver has no root for throws UnknownRatchetKeyError before authentication', () => {
    const { a, b } = establish(suite);
    // Once a sends in epoch >= 1 (proto3 leaves epoch 0 out of the encoding).
    let m = utf8('x');
    let w = a.encrypt(m);
    for (let i = 0; epochOf(w) === 0; i++) {
      if (i > 1000) expect.fail('no new epoch in 1000 round trips');
      expectDecrypts(b, w, m);
      exchange({ a, b }, 'b', 1, `x${i}`);
      m = utf8(`next ${i}`);
      w = a.encrypt(m);
    }
    const forged = pbSet(w, epochPath, { varint: 4242n });
    expectThrow(() => b.decrypt(forged), UnknownRatchetKeyError);
    expectDecrypts(b, w, m);
  });

  it('the signed pre-key signature is checked by OutboundSession.initiate', () => {
    const alice = newAccount(suite);
    const bob = newAccount(suite);
    const carol = newAccount(suite);
    const bundle = bob.preKeyBundle();
    const sig = pbFind(bundle, asPath(WIRE.bundle.spkSignature));
    if (!sig) expect.fail('no SPK signature in the bundle');
    expect(sig.end - sig.valueStart).toBe(bob.suite.params.signatureBytes);
    const len = sig.end - sig.valueStart;
    for (const off of [0, 1, len >> 1, len - 2, len - 1]) {
      expectThrow(() => OutboundSession.initiate(alice, flipBit(bundle, sig.valueStart + off, off % 8)), InvalidSignatureError);
    }
    const spk = pbFind(bundle, asPath(WIRE.bundle.spkPublicKey));
    if (!spk) expect.fail('no SPK public key in the bundle');
    expectThrow(() => OutboundSession.initiate(alice, flipBit(bundle, spk.valueStart + 5, 3)), InvalidSignatureError);
    // Another SPK id under the same signature.
    const spkId = Number(pbVarintAt(bundle, asPath(WIRE.bundle.spkId)) ?? 0n);
    expectThrow(() => OutboundSession.initiate(alice, pbSet(bundle, asPath(WIRE.bundle.spkId), { varint: BigInt(spkId + 1) })), InvalidSignatureError);
    // A valid signature, but by someone else (Carol's SPK signature, or Carol's identity key).
    const carolBundle = carol.preKeyBundle();
    const carolSig = pbBytesAt(carolBundle, asPath(WIRE.bundle.spkSignature));
    expectThrow(() => OutboundSession.initiate(alice, pbSet(bundle, asPath(WIRE.bundle.spkSignature), { bytes: carolSig! })), InvalidSignatureError);
    expectThrow(() => OutboundSession.initiate(alice, pbSet(bundle, asPath(WIRE.bundle.identitySignKey), { bytes: carol.identityPublicKey.signPublicKey })), InvalidSignatureError);
    // The genuine bundle works, and yields a working session.
    const { session: a, invite } = OutboundSession.initiate(alice, bundle);
    const { session: b, accept } = InboundSession.accept(bob, invite);
    a.complete(alice, accept);
    exchange({ a, b }, 'a', 1, 'ok');
  });

  it('bundles, invites, accepts and messages of another suite are refused with SuiteMismatchError', () => {
    const otherSuite = ((suite % 3) + 1) as SuiteNo;
    const alice = newAccount(suite);
    const bob = newAccount(suite);
    const alienAlice = newAccount(otherSuite);
    const alienBob = newAccount(otherSuite);
    expectThrow(() => OutboundSession.initiate(alice, alienBob.preKeyBundle()), SuiteMismatchError);
    const { invite: alienInvite } = OutboundSession.initiate(alienAlice, alienBob.preKeyBundle());
    expectThrow(() => InboundSession.accept(bob, alienInvite), SuiteMismatchError);
    expect(bob.oneTimePreKeyCount).toBe(100);
    // The suite field of an otherwise genuine invite / accept / message changed.
    const { session: a, invite } = OutboundSession.initiate(alice, bob.preKeyBundle());
    expectThrow(() => InboundSession.accept(bob, pbSet(invite, asPath(WIRE.invite.suiteId), { varint: BigInt(otherSuite) })), SuiteMismatchError);
    const { session: b, accept } = InboundSession.accept(bob, invite);
    expectThrow(() => a.complete(alice, pbSet(accept, [2], { varint: BigInt(otherSuite) })), SuiteMismatchError);
    a.complete(alice, accept);
    const w = a.encrypt(utf8('suite'));
    expectThrow(() => b.decrypt(pbSet(w, asPath(WIRE.msg.suiteId), { varint: BigInt(otherSuite) })), SuiteMismatchError);
    // A message from a session of the other suite.
    const alien = establish(otherSuite, { alice: alienAlice, bob: alienBob });
    expectThrow(() => b.decrypt(alien.a.encrypt(utf8('alien'))));
    expectDecrypts(b, w, utf8('suite'));
  });

  it('states of an unknown version are refused', () => {
    const { a, alice } = establish(suite);
    expectThrow(() => Session.deserialize(pbSet(a.serialize(), [1], { varint: 3n })), SessionStateError);
    expectThrow(() => Session.deserialize(pbSet(a.serialize(), [1], { varint: 0n })), SessionStateError);
    // Version 1 is the v1 KEM double ratchet: refused with its own error, not migrated.
    expectThrow(() => Session.deserialize(pbSet(a.serialize(), [1], { varint: 1n })), UnsupportedProtocolVersionError);
    expect(() => Session.deserialize(pbSet(a.serialize(), [1], { varint: 2n }))).not.toThrow();
    const accState = alice.serialize();
    expectThrow(() => Account.deserialize(pbSet(accState, [1], { varint: 2n })));
    expectThrow(() => Account.deserialize(pbSet(accState, [1], { varint: 0n })));
    expect(Account.deserialize(pbSet(accState, [1], { varint: 1n })).oneTimePreKeyCount).toBe(100);
  });
});
