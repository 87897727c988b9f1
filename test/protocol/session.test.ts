// One-to-one sessions (docs/protocol-api.md, DESIGN.md §4): key agreement, conversations in every
// order, reordering, long chains, persistence of state, session ids and fingerprints.
import { describe, expect, it } from 'vitest';
import {
  Account,
  DuplicateInviteError,
  InboundSession,
  OutboundSession,
  ReplayError,
  Session,
  SessionNotReadyError,
  SessionStateError,
  UnknownPreKeyError,
  UnknownRatchetKeyError,
  fingerprint,
} from '../support/library.js';
import {
  concatBytes,
  equalBytes,
  establish,
  expectDecrypts,
  expectThrow,
  indexOfBytes,
  newAccount,
  restore,
  restoreAccount,
  Rng,
  type SuiteNo,
  SUITES,
  utf8,
} from '../support/index.js';

type Side = 'a' | 'b';
interface InFlight {
  wire: Uint8Array;
  plain: Uint8Array;
  tag: string;
}

/**
 * Drives a conversation: keeps the messages in flight per receiver and checks every decryption
 * against the plaintext that was sent. With `persist`, each side's session is serialized and
 * restored after every operation.
 */
class Conversation {
  readonly inFlight: Record<Side, InFlight[]> = { a: [], b: [] }; // messages travelling *to* a / b
  readonly delivered: Record<Side, InFlight[]> = { a: [], b: [] };
  private count: Record<Side, number> = { a: 0, b: 0 };
  constructor(
    public s: Record<Side, Session>,
    private readonly rng: Rng,
    private readonly persist = false,
  ) {}

  private touch(side: Side): void {
    if (this.persist) this.s[side] = restore(this.s[side]);
  }

  send(from: Side, n = 1): InFlight[] {
    const to: Side = from === 'a' ? 'b' : 'a';
    const out: InFlight[] = [];
    for (let i = 0; i < n; i++) {
      const tag = `${from}->${to} #${this.count[from]++}`;
      const plain = concatBytes(utf8(`${tag}|`), this.rng.bytes(this.rng.int(0, 48)));
      const wire = this.s[from].encrypt(plain);
      this.touch(from);
      const m = { wire, plain, tag };
      this.inFlight[to].push(m);
      out.push(m);
    }
    return out;
  }

  /** Delivers the in-flight message number `index` (default: a random one) to `to`. */
  deliver(to: Side, index?: number): void {
    const list = this.inFlight[to];
    if (list.length === 0) return;
    const i = index ?? this.rng.int(0, list.length - 1);
    const [m] = list.splice(i, 1);
    if (!m) throw new Error('no such message');
    expectDecrypts(this.s[to], m.wire, m.plain, `${m.tag}:`);
    this.delivered[to].push(m);
    this.touch(to);
  }

  deliverAll(to: Side, shuffle: boolean): void {
    if (shuffle) this.rng.shuffle(this.inFlight[to]);
    // Shuffled, a message of a one-way step can come before the messages carrying the step's
    // ciphertext: it throws UnknownRatchetKeyError, changes nothing, and is tried again after
    // them (what an application holding such a message does; the runtime's in-order delivery
    // never meets it). Every message must still decrypt, exactly once.
    let heldInARow = 0;
    while (this.inFlight[to].length) {
      const m = this.inFlight[to][0] as InFlight;
      let plain: Uint8Array;
      try {
        plain = this.s[to].decrypt(m.wire);
      } catch (error) {
        if (!(error instanceof UnknownRatchetKeyError) || heldInARow >= this.inFlight[to].length) throw new Error(`${m.tag}: ${String(error)}`);
        this.inFlight[to].push(this.inFlight[to].shift() as InFlight);
        heldInARow++;
        continue;
      }
      heldInARow = 0;
      this.inFlight[to].shift();
      if (!equalBytes(plain, m.plain)) throw new Error(`${m.tag}: decrypted to other bytes`);
      this.delivered[to].push(m);
      this.touch(to);
    }
  }
}

/** 12 groups of 5 digits separated by single spaces (protocol-api.md: "60 digits in 12 groups of 5"). */
const FINGERPRINT_FORMAT = /^\d{5}( \d{5}){11}$/;

describe.each(SUITES)('sessions, suite %i', (suite: SuiteNo) => {
  const rng = new Rng(`session/${suite}`);

  it('initiator → responder: plaintexts of many sizes', () => {
    const { a, b } = establish(suite);
    expect(a.responded).toBe(true);
    for (const size of [0, 1, 15, 16, 17, 127, 128, 4096, 200_000]) {
      const plain = rng.bytes(size);
      const wire = a.encrypt(plain);
      if (size >= 64) expect(indexOfBytes(wire, plain.subarray(0, 64)), `plaintext visible in the wire bytes (size ${size})`).toBe(-1);
      expectDecrypts(b, wire, plain, `size ${size}:`);
    }
    // The same plaintext twice gives different wire bytes (new message key each time).
    const same = utf8('same plaintext, twice');
    const w1 = a.encrypt(same);
    const w2 = a.encrypt(same);
    expect(equalBytes(w1, w2)).toBe(false);
    expectDecrypts(b, w1, same);
    expectDecrypts(b, w2, same);
  });

  it('responder → initiator: Bob sends right after accept, before receiving anything', () => {
    const { alice, a, b, accept } = establish(suite, { complete: false });
    expect(a.responded).toBe(false);
    expect(b.responded).toBe(true);
    const fromBob = [0, 1, 2].map((i) => ({ plain: utf8(`bob first #${i}`), wire: b.encrypt(utf8(`bob first #${i}`)) }));
    // Alice cannot read them before the AcceptMsg (typed error, nothing consumed).
    expectThrow(() => a.decrypt(fromBob[0]!.wire));
    a.complete(alice, accept);
    expect(a.responded).toBe(true);
    for (const i of [2, 0, 1]) expectDecrypts(a, fromBob[i]!.wire, fromBob[i]!.plain, `bob #${i}:`);
    // Conversation continues in both directions.
    const r = utf8('alice replies');
    expectDecrypts(b, a.encrypt(r), r);
    const r2 = utf8('bob again');
    expectDecrypts(a, b.encrypt(r2), r2);
    const r3 = utf8('alice again');
    expectDecrypts(b, a.encrypt(r3), r3);
  });

  it.each(['a', 'b'] as const)('interleaved conversation starting from %s, random send/deliver order', (first) => {
    const { alice, a, b, accept } = establish(suite, { complete: false });
    const c = new Conversation({ a, b }, rng);
    if (first === 'b') {
      c.send('b', 2);
      a.complete(alice, accept);
      c.deliverAll('a', false);
    } else {
      a.complete(alice, accept);
      c.send('a', 2);
      c.deliverAll('b', false);
    }
    for (let step = 0; step < 160; step++) {
      const r = rng.int(0, 9);
      if (r < 3) c.send('a', rng.int(1, 3));
      else if (r < 6) c.send('b', rng.int(1, 3));
      else if (r < 8) c.deliver('a');
      else c.deliver('b');
    }
    c.deliverAll('a', true);
    c.deliverAll('b', true);
    expect(c.delivered.a.length + c.delivered.b.length).toBeGreaterThan(150);
  });

  it('both sides send concurrently before seeing each other (several rounds, both starts)', () => {
    const { alice, a, b, accept } = establish(suite, { complete: false });
    const c = new Conversation({ a, b }, rng);
    // Bob sends before Alice has the accept; Alice sends right after complete, without reading Bob's.
    c.send('b', 3);
    a.complete(alice, accept);
    c.send('a', 3);
    c.deliverAll('a', true);
    c.deliverAll('b', true);
    for (let round = 0; round < 4; round++) {
      c.send('a', rng.int(1, 4));
      c.send('b', rng.int(1, 4));
      // deliver crosswise in a random interleaving
      while (c.inFlight.a.length || c.inFlight.b.length) c.deliver(rng.bool() ? 'a' : 'b');
    }
    // And once more with a partial delivery before more concurrent sends.
    c.send('a', 5);
    c.send('b', 5);
    c.deliver('a');
    c.deliver('b');
    c.send('a', 3);
    c.send('b', 3);
    c.deliverAll('a', true);
    c.deliverAll('b', true);
  });

  it('heavy reordering: 192 messages over 16 turns, delivered shuffled, each decrypts exactly once', () => {
    const { a, b } = establish(suite);
    const c = new Conversation({ a, b }, rng);
    const all: Record<Side, InFlight[]> = { a: [], b: [] }; // by receiver
    let sender: Side = 'a';
    // 12 per turn: fewer than a one-way step needs to start (16), so each turn is one chain.
    for (let round = 0; round < 16; round++) {
      const to: Side = sender === 'a' ? 'b' : 'a';
      all[to].push(...c.send(sender, 12));
      // One message of the batch (random position) reaches the peer, so its next send is a new ratchet turn.
      c.deliver(to, rng.int(c.inFlight[to].length - 12, c.inFlight[to].length - 1));
      sender = to;
    }
    expect(all.a.length + all.b.length).toBe(192);
    // Everything else, mixed across all chains.
    c.deliverAll('a', true);
    c.deliverAll('b', true);
    expect(c.delivered.a.length + c.delivered.b.length).toBe(192);
    // Exactly once: every message delivered again is refused (replay), with a typed error.
    for (const to of ['a', 'b'] as const) {
      for (const m of rng.shuffle([...all[to]]).slice(0, 40)) expectThrow(() => c.s[to].decrypt(m.wire), ReplayError, UnknownRatchetKeyError);
    }
    // Still in sync.
    c.send('a', 2);
    c.send('b', 2);
    c.deliverAll('a', true);
    c.deliverAll('b', true);
  });

  it('late messages of a chain many ratchet turns old still decrypt (more turns than receiving chains kept)', () => {
    const { a, b } = establish(suite);
    const c = new Conversation({ a, b }, rng);
    for (let turn = 0; turn < 8; turn++) {
      c.send('a', 4);
      c.deliver('b', c.inFlight.b.length - 4); // only the first of the four arrives now
      c.send('b', 1);
      c.deliverAll('a', false);
    }
    expect(c.inFlight.b).toHaveLength(24);
    c.deliverAll('b', true);
    c.send('a', 1);
    c.send('b', 1);
    c.deliverAll('a', true);
    c.deliverAll('b', true);
  });

  it('3000 messages in a row, one direction', () => {
    const { a, b } = establish(suite);
    const wires: Uint8Array[] = [];
    for (let i = 0; i < 3000; i++) wires.push(a.encrypt(utf8(`m${i}`)));
    for (let i = 0; i < 3000; i++) {
      const got = b.decrypt(wires[i]!);
      if (!equalBytes(got, utf8(`m${i}`))) expect.fail(`message ${i} decrypted wrongly`);
    }
    const back = utf8('and back');
    expectDecrypts(a, b.encrypt(back), back);
  });

  it('session without a one-time pre-key', () => {
    const bob = newAccount(suite);
    const withOpk = bob.preKeyBundle();
    const withoutOpk = bob.preKeyBundle({ withOneTimePreKey: false });
    // The bundle without OPK lacks one KEM public key.
    expect(withOpk.length - withoutOpk.length).toBeGreaterThanOrEqual(bob.suite.params.kemPublicKeyBytes);
    const { a, b, invite } = establish(suite, { bob, withOneTimePreKey: false });
    expect(bob.oneTimePreKeyCount).toBe(100); // no OPK consumed
    const other = establish(suite, { withOneTimePreKey: true });
    // The invite without OPK carries one KEM ciphertext less.
    expect(other.invite.length - invite.length).toBeGreaterThanOrEqual(bob.suite.params.kemCiphertextBytes);
    const c = new Conversation({ a, b }, rng);
    for (let i = 0; i < 6; i++) {
      c.send(i % 2 ? 'b' : 'a', 3);
      c.deliverAll(i % 2 ? 'a' : 'b', true);
    }
  });

  it('the same invite accepted twice is refused (with and without OPK, also after the account is restored)', () => {
    for (const withOneTimePreKey of [true, false]) {
      const alice = newAccount(suite);
      let bob = newAccount(suite);
      const { session: a, invite } = OutboundSession.initiate(alice, bob.preKeyBundle({ withOneTimePreKey }));
      const { session: b, accept } = InboundSession.accept(bob, invite);
      const count = bob.oneTimePreKeyCount;
      expect(count).toBe(withOneTimePreKey ? 99 : 100);
      if (withOneTimePreKey) expectThrow(() => InboundSession.accept(bob, invite), DuplicateInviteError, UnknownPreKeyError);
      else expectThrow(() => InboundSession.accept(bob, invite), DuplicateInviteError);
      bob = restoreAccount(bob);
      if (withOneTimePreKey) expectThrow(() => InboundSession.accept(bob, invite), DuplicateInviteError, UnknownPreKeyError);
      else expectThrow(() => InboundSession.accept(bob, invite), DuplicateInviteError);
      expect(bob.oneTimePreKeyCount).toBe(count);
      // The first session is unaffected.
      a.complete(alice, accept);
      const m = utf8('still fine');
      expectDecrypts(b, a.encrypt(m), m);
      expectDecrypts(a, b.encrypt(m), m);
    }
  });

  it('state serialized and restored between every step (accounts and sessions)', () => {
    let alice = restoreAccount(newAccount(suite));
    let bob = restoreAccount(newAccount(suite));
    const bundle = bob.preKeyBundle();
    bob = restoreAccount(bob);
    const init = OutboundSession.initiate(alice, bundle);
    alice = restoreAccount(alice);
    let a = restore(init.session);
    expect(a.responded).toBe(false);
    const acc = InboundSession.accept(bob, init.invite);
    bob = restoreAccount(bob);
    expect(bob.oneTimePreKeyCount).toBe(99);
    let b = restore(acc.session);
    // Bob talks first, through restores.
    const early = utf8('bob, before alice completes');
    const earlyWire = b.encrypt(early);
    b = restore(b);
    a = restore(a);
    a.complete(alice, acc.accept);
    a = restore(a);
    expect(a.responded).toBe(true);
    expect(a.sessionId).toBe(b.sessionId);
    expectDecrypts(a, earlyWire, early);
    a = restore(a);
    const c = new Conversation({ a, b }, rng, true);
    for (let step = 0; step < 60; step++) {
      const r = rng.int(0, 3);
      if (r === 0) c.send('a', rng.int(1, 2));
      else if (r === 1) c.send('b', rng.int(1, 2));
      else if (r === 2) c.deliver('a');
      else c.deliver('b');
    }
    c.deliverAll('a', true);
    c.deliverAll('b', true);
    // The restored accounts still work: a second session between them.
    const second = establish(suite, { alice: restoreAccount(alice), bob: restoreAccount(bob) });
    const m = utf8('second session');
    expectDecrypts(second.b, second.a.encrypt(m), m);
  });

  it('sessionId is equal on both sides, stable across restore, and different per session', () => {
    const alice = newAccount(suite);
    const bob = newAccount(suite);
    const p1 = establish(suite, { alice, bob, complete: false });
    expect(typeof p1.a.sessionId).toBe('string');
    expect(p1.a.sessionId.length).toBeGreaterThan(0);
    expect(p1.a.sessionId).toBe(p1.b.sessionId); // already before complete
    p1.a.complete(p1.alice, p1.accept);
    expect(p1.a.sessionId).toBe(p1.b.sessionId);
    expect(restore(p1.a).sessionId).toBe(p1.a.sessionId);
    expect(restore(p1.b).sessionId).toBe(p1.b.sessionId);
    const p2 = establish(suite, { alice, bob });
    expect(p2.a.sessionId).toBe(p2.b.sessionId);
    expect(p2.a.sessionId).not.toBe(p1.a.sessionId);
  });

  it('encrypt before complete throws SessionNotReadyError (also on a restored pending session)', () => {
    const { alice, a, accept } = establish(suite, { complete: false });
    expectThrow(() => a.encrypt(utf8('too early')), SessionNotReadyError);
    const restored = restore(a);
    expect(restored.responded).toBe(false);
    expectThrow(() => restored.encrypt(utf8('too early')), SessionNotReadyError);
    restored.complete(alice, accept);
    expect(restored.responded).toBe(true);
    expect(restored.encrypt(utf8('now')).length).toBeGreaterThan(0);
  });

  it('complete twice throws SessionStateError; an accept of another session too', () => {
    const alice = newAccount(suite);
    const bob = newAccount(suite);
    const p1 = establish(suite, { alice, bob, complete: false });
    const p2 = establish(suite, { alice, bob, complete: false });
    expectThrow(() => p1.a.complete(p1.alice, p2.accept), SessionStateError);
    expect(p1.a.responded).toBe(false);
    p1.a.complete(p1.alice, p1.accept);
    expectThrow(() => p1.a.complete(p1.alice, p1.accept), SessionStateError);
    expectThrow(() => restore(p1.a).complete(p1.alice, p1.accept), SessionStateError);
    // The responder's session has nothing to complete.
    expectThrow(() => p1.b.complete(p1.bob, p1.accept), SessionStateError);
    const m = utf8('after the failed completes');
    expectDecrypts(p1.b, p1.a.encrypt(m), m);
    p2.a.complete(p2.alice, p2.accept);
    expectDecrypts(p2.b, p2.a.encrypt(m), m);
  });

  it('fingerprint: 60 digits, same on both sides and for both argument orders, different for other identities', () => {
    const alice = newAccount(suite);
    const bob = newAccount(suite);
    const carol = newAccount(suite);
    const ab = fingerprint(alice.identityPublicKey, bob.identityPublicKey, suite);
    const ba = fingerprint(bob.identityPublicKey, alice.identityPublicKey, suite);
    expect(ab).toMatch(FINGERPRINT_FORMAT);
    expect(ab.replace(/ /g, '')).toHaveLength(60);
    expect(ba).toBe(ab);
    // Each side computes it from what it has: its own keys and the peer's (restored accounts too).
    expect(fingerprint(restoreAccount(bob).identityPublicKey, restoreAccount(alice).identityPublicKey, suite)).toBe(ab);
    const ac = fingerprint(alice.identityPublicKey, carol.identityPublicKey, suite);
    const cb = fingerprint(carol.identityPublicKey, bob.identityPublicKey, suite);
    expect(ac).toMatch(FINGERPRINT_FORMAT);
    expect(cb).toMatch(FINGERPRINT_FORMAT);
    expect(new Set([ab, ac, cb]).size).toBe(3);
    // A new account for "bob" (new identity) changes it.
    expect(fingerprint(alice.identityPublicKey, newAccount(suite).identityPublicKey, suite)).not.toBe(ab);
    // Digits are not degenerate (not all equal; more than a few distinct digits).
    expect(new Set(ab.replace(/ /g, '')).size).toBeGreaterThan(5);
  });
});

describe('sessions across suites', () => {
  it('each suite is usable by name and the default suite is 1', () => {
    const acc = Account.create({ now: Date.UTC(2025, 0, 1) });
    expect(acc.suite.params.id).toBe(1);
    const byName = Account.create({ suite: 'CLASSIC_ED25519_X25519_AES256GCM_SHA256', now: Date.UTC(2025, 0, 1) });
    expect(byName.suite.params.id).toBe(2);
    const { a, b } = establish(2, { alice: byName });
    const m = utf8('by name');
    expectDecrypts(b, a.encrypt(m), m);
    expect(Session.deserialize(a.serialize()).sessionId).toBe(a.sessionId);
  });
});
