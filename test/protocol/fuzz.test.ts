// Fuzzing every decoder of the protocol layer with seeded random input: plain random bytes
// (lengths 0..5000), random protobuf-shaped messages (which get past the protobuf decoder into the
// protocol's own checks) and mutations of genuine inputs. Decoders must throw a typed Pqe2eeError
// (instanceof the exported class, string code), never another error, never hang, never corrupt the
// state of the objects they were called on.
//
// Replay a different random stream with PQE2EE_TEST_SEED=<64 hex digits>.
import { describe, expect, it } from 'vitest';
import { Account, InboundSession, OutboundSession, Session } from '../support/library.js';
import {
  concatBytes,
  describeError,
  encodeVarint,
  equalBytes,
  establish,
  expectDecrypts,
  Failures,
  isTypedError,
  newAccount,
  pbFieldRemovals,
  Rng,
  show,
  type SuiteNo,
  SUITES,
  utf8,
} from '../support/index.js';

/** Slowest acceptable single call (a generous bound: the point is "never hangs"). */
const MAX_CALL_MS = 3000;

/** Random bytes with lengths spread over 0..5000, biased to short inputs. */
function randomInput(rng: Rng): Uint8Array {
  const r = rng.int(0, 2);
  const len = r === 0 ? rng.int(0, 16) : r === 1 ? rng.int(0, 300) : rng.int(0, 5000);
  return rng.bytes(len);
}

/**
 * A random protobuf message: fields 1..15 with varints (small, large, or 2^32-ish), byte strings of
 * the sizes the suite uses (so length checks pass now and then), short strings, and nested messages.
 */
function randomProto(rng: Rng, sizes: number[], depth = 0): Uint8Array {
  const parts: Uint8Array[] = [];
  const n = rng.int(0, 12);
  for (let i = 0; i < n; i++) {
    const no = rng.int(1, 15);
    const kind = rng.int(0, 9);
    if (kind <= 3) {
      const v = rng.pick([0n, 1n, 2n, 3n, BigInt(rng.int(0, 1000)), 0xffffffffn, BigInt(rng.int(0, 2 ** 40)), (1n << 63n) + 5n]);
      parts.push(encodeVarint(BigInt(no << 3)), encodeVarint(v));
    } else if (kind <= 6 || depth >= 3) {
      const len = rng.bool() ? rng.pick(sizes) : rng.int(0, 40);
      parts.push(encodeVarint(BigInt((no << 3) | 2)), encodeVarint(BigInt(len)), rng.bytes(len));
    } else {
      const inner = randomProto(rng, sizes, depth + 1);
      parts.push(encodeVarint(BigInt((no << 3) | 2)), encodeVarint(BigInt(inner.length)), inner);
    }
  }
  return concatBytes(...parts);
}

/** A random mutation of genuine bytes (never the input itself): bit flips, overwrites, truncation, insertion, deletion, duplication. */
function mutate(rng: Rng, input: Uint8Array): Uint8Array {
  for (;;) {
    const b = mutateOnce(rng, input);
    if (!equalBytes(b, input)) return b;
  }
}

function mutateOnce(rng: Rng, input: Uint8Array): Uint8Array {
  let b: Uint8Array = Uint8Array.from(input);
  const ops = rng.int(1, 3);
  for (let k = 0; k < ops; k++) {
    const op = rng.int(0, 6);
    const at = b.length ? rng.int(0, b.length - 1) : 0;
    if (op === 0 && b.length) b[at] = (b[at] as number) ^ (1 << rng.int(0, 7));
    else if (op === 1 && b.length) b[at] = rng.int(0, 255);
    else if (op === 2) b = b.slice(0, rng.int(0, b.length));
    else if (op === 3) b = concatBytes(b.subarray(0, at), rng.bytes(rng.int(1, 8)), b.subarray(at));
    else if (op === 4) b = concatBytes(b.subarray(0, at), b.subarray(Math.min(b.length, at + rng.int(1, 16))));
    else if (op === 5) b = concatBytes(b.subarray(0, at), b.subarray(at, at + rng.int(1, 64)), b.subarray(at));
    else if (b.length) {
      // a small structural byte (tag or length) nearby gets a random small value
      b[at] = rng.int(0, 0x3f);
    }
  }
  return b;
}

type Outcome = 'threw' | 'returned';

/** Runs one call; records a failure for a non-typed error or a slow call. */
function run(failures: Failures, where: string, fn: () => unknown, mayReturn: boolean): Outcome {
  const t = performance.now();
  let outcome: Outcome = 'returned';
  let result: unknown;
  try {
    result = fn();
  } catch (e) {
    outcome = 'threw';
    if (!isTypedError(e)) failures.add(where, `untyped error ${describeError(e)}`);
  }
  const ms = performance.now() - t;
  if (ms > MAX_CALL_MS) failures.add(where, `took ${ms.toFixed(0)} ms`);
  if (outcome === 'returned' && !mayReturn) failures.add(where, `returned ${show(result)} instead of throwing`);
  return outcome;
}

describe.each(SUITES)('fuzz, suite %i', (suite: SuiteNo) => {
  const rng = new Rng(`fuzz/${suite}`);

  it(`every decoder throws a typed error for random bytes and random protobuf (seed from PQE2EE_TEST_SEED or fixed)`, () => {
    const alice = newAccount(suite);
    const bob = newAccount(suite);
    const { a, b } = establish(suite, { alice, bob });
    const pending = establish(suite, { alice, bob, complete: false });
    const key = rng.bytes(32);
    const p = alice.suite.params;
    const sizes = [p.kemPublicKeyBytes, p.kemCiphertextBytes, p.kemSecretKeyBytes, p.sigPublicKeyBytes, p.signatureBytes, 32, 16, 12, 64];
    const bobBefore = bob.serialize();
    const aBefore = a.serialize();
    const bBefore = b.serialize();
    const pendingBefore = pending.a.serialize();

    const decoders: Array<[string, (x: Uint8Array) => unknown]> = [
      ['Account.deserialize', (x) => Account.deserialize(x)],
      ['Account.importEncrypted', (x) => Account.importEncrypted(x, key)],
      ['Session.deserialize', (x) => Session.deserialize(x)],
      ['InboundSession.accept', (x) => InboundSession.accept(bob, x)],
      ['complete', (x) => pending.a.complete(alice, x)],
      ['decrypt (responder)', (x) => b.decrypt(x)],
      ['decrypt (initiator)', (x) => a.decrypt(x)],
      ['OutboundSession.initiate', (x) => OutboundSession.initiate(alice, x)],
    ];
    const failures = new Failures();
    const seen = { random: 0, proto: 0 };
    for (const [name, decode] of decoders) {
      for (let i = 0; i < 300; i++) {
        const x = randomInput(rng);
        run(failures, `${name} random #${i} len ${x.length}`, () => decode(x), false);
        seen.random++;
      }
      for (let i = 0; i < 150; i++) {
        const x = randomProto(rng, sizes);
        run(failures, `${name} proto #${i} len ${x.length}`, () => decode(x), false);
        seen.proto++;
      }
    }
    failures.assertNone();
    expect(seen.random).toBe(decoders.length * 300);

    // Nothing changed: the objects that were fed garbage are byte-for-byte what they were...
    expect(equalBytes(bob.serialize(), bobBefore), 'bob account changed').toBe(true);
    expect(equalBytes(a.serialize(), aBefore), 'initiator session changed').toBe(true);
    expect(equalBytes(b.serialize(), bBefore), 'responder session changed').toBe(true);
    expect(equalBytes(pending.a.serialize(), pendingBefore), 'pending session changed').toBe(true);
    expect(pending.a.responded).toBe(false);
    // ...and they still work.
    const m = utf8('after the fuzz');
    expectDecrypts(b, a.encrypt(m), m);
    expectDecrypts(a, b.encrypt(m), m);
    pending.a.complete(alice, pending.accept);
    expectDecrypts(pending.b, pending.a.encrypt(m), m);
    expectDecrypts(pending.a, pending.b.encrypt(m), m);
    const again = establish(suite, { alice, bob });
    expectDecrypts(again.b, again.a.encrypt(m), m);
    expect(Account.importEncrypted(bob.exportEncrypted(key), key).oneTimePreKeyCount).toBe(bob.oneTimePreKeyCount);
  });

  it('mutated genuine inputs: typed errors or (where the format allows it) success; nothing else', () => {
    const alice = newAccount(suite);
    const bob = newAccount(suite);
    const key = rng.bytes(32);
    const { a, b } = establish(suite, { alice, bob });
    b.decrypt(a.encrypt(utf8('warm')));
    a.decrypt(b.encrypt(utf8('up')));
    const pending = establish(suite, { alice, bob, complete: false });
    const pendingState = pending.a.serialize();
    const bState = b.serialize();
    const aState = a.serialize();
    const plain = utf8('genuine message');
    const wire = a.encrypt(plain);
    const bundle = bob.preKeyBundle();
    const { invite } = OutboundSession.initiate(newAccount(suite), bob.preKeyBundle());
    const small = newAccount(suite); // mutations of a big suite-1 account state are slow: use fewer OPKs' worth below
    const accountState = small.serialize();
    const sealed = small.exportEncrypted(key);
    const failures = new Failures();
    const N = 120;

    // Decrypt: a mutated message must never decrypt to anything but the genuine plaintext.
    for (let i = 0; i < N; i++) {
      const x = mutate(rng, wire);
      const s = Session.deserialize(bState);
      run(
        failures,
        `decrypt mutated #${i}`,
        () => {
          const got = s.decrypt(x);
          if (!equalBytes(got, plain)) failures.add(`decrypt mutated #${i}`, `DIFFERENT plaintext ${show(got)}`);
          return got;
        },
        true,
      );
    }
    // Complete: success is possible (implicit authentication: a changed ciphertext gives other keys),
    // but then the session must fail cleanly, never with an untyped error.
    for (let i = 0; i < N; i++) {
      const x = mutate(rng, pending.accept);
      const s = Session.deserialize(pendingState);
      if (run(failures, `complete mutated #${i}`, () => s.complete(alice, x), true) === 'returned') {
        run(failures, `  then encrypt`, () => s.encrypt(utf8('x')), true);
        run(failures, `  then decrypt`, () => s.decrypt(pending.b.encrypt(utf8('y'))), true);
      }
    }
    // Accept, initiate: typed errors or sessions.
    for (let i = 0; i < N; i++) run(failures, `accept mutated #${i}`, () => InboundSession.accept(bob, mutate(rng, invite)), true);
    for (let i = 0; i < N; i++) {
      const x = mutate(rng, bundle);
      run(failures, `initiate mutated #${i}`, () => OutboundSession.initiate(alice, x), true);
    }
    // Session states: when a mutated state is accepted, using it gives typed errors or works.
    for (let i = 0; i < N; i++) {
      const src = rng.pick([aState, bState, pendingState]);
      const x = mutate(rng, src);
      let s: Session | undefined;
      if (run(failures, `Session.deserialize mutated #${i}`, () => (s = Session.deserialize(x)), true) === 'returned' && s) {
        const restored = s;
        run(failures, `  then encrypt #${i}`, () => restored.encrypt(utf8('x')), true);
        run(failures, `  then decrypt #${i}`, () => restored.decrypt(src === aState ? b.encrypt(utf8('to a')) : wire), true);
        run(failures, `  then complete #${i}`, () => restored.complete(alice, pending.accept), true);
        run(failures, `  then serialize #${i}`, () => Session.deserialize(restored.serialize()), true);
      }
    }
    // Account states and encrypted exports.
    const M = suite === 1 ? 40 : N;
    for (let i = 0; i < M; i++) {
      const x = mutate(rng, accountState);
      let acc: Account | undefined;
      if (run(failures, `Account.deserialize mutated #${i}`, () => (acc = Account.deserialize(x)), true) === 'returned' && acc) {
        const restored = acc;
        run(failures, `  then preKeyBundle #${i}`, () => OutboundSession.initiate(alice, restored.preKeyBundle()), true);
        run(failures, `  then accept #${i}`, () => InboundSession.accept(restored, OutboundSession.initiate(alice, small.preKeyBundle()).invite), true);
        run(failures, `  then renew #${i}`, () => restored.renewSignedPreKeyIfDue(Date.UTC(2030, 0, 1)), true);
        run(failures, `  then publish #${i}`, () => restored.publishOneTimePreKeys(1), true);
        run(failures, `  then serialize #${i}`, () => Account.deserialize(restored.serialize()), true);
      }
      run(failures, `importEncrypted mutated #${i}`, () => Account.importEncrypted(mutate(rng, sealed), key), false);
    }
    failures.assertNone();

    // The genuine inputs still work with the live objects.
    expectDecrypts(b, wire, plain);
    pending.a.complete(alice, pending.accept);
    expectDecrypts(pending.b, pending.a.encrypt(plain), plain);
    const fresh = establish(suite, { alice, bob });
    expectDecrypts(fresh.b, fresh.a.encrypt(plain), plain);
  });

  it('damaged states (any one field removed, at any depth): refused by deserialize, or every later call fails typed', () => {
    const alice = newAccount(suite);
    const bob = newAccount(suite);
    bob.renewSignedPreKeyIfDue(Date.UTC(2025, 0, 9)); // so the state also holds a previous SPK
    const { a, b } = establish(suite, { alice, bob });
    const s = { a, b };
    for (const [from, to] of [
      ['a', 'b'],
      ['b', 'a'],
      ['a', 'b'],
    ] as const)
      s[to].decrypt(s[from].encrypt(utf8(`${from}->${to}`)));
    const skipped = a.encrypt(utf8('skipped'));
    b.decrypt(a.encrypt(utf8('ahead'))); // leaves a skipped key in b's state
    const pending = establish(suite, { alice, bob, complete: false });
    const toA = b.encrypt(utf8('to a'));
    const toB = a.encrypt(utf8('to b'));
    const failures = new Failures();
    const states: Array<[string, Uint8Array, Uint8Array]> = [
      ['initiator', a.serialize(), toA],
      ['responder', b.serialize(), toB],
      ['pending', pending.a.serialize(), toA],
    ];
    for (const [name, state, incoming] of states) {
      for (const r of pbFieldRemovals(state)) {
        const where = `${name} session state without ${r.path}`;
        let restored: Session | undefined;
        if (run(failures, `${where}: deserialize`, () => (restored = Session.deserialize(r.bytes)), true) === 'threw' || !restored) continue;
        const x = restored;
        run(failures, `${where}: encrypt`, () => x.encrypt(utf8('x')), true);
        run(failures, `${where}: decrypt`, () => x.decrypt(incoming), true);
        run(failures, `${where}: decrypt skipped`, () => x.decrypt(skipped), true);
        run(failures, `${where}: complete`, () => x.complete(alice, pending.accept), true);
        run(failures, `${where}: serialize`, () => Session.deserialize(x.serialize()), true);
      }
    }
    // Accounts: all fields except most one-time pre-key entries (field 7 of AccountState, a long list).
    const invite = () => OutboundSession.initiate(alice, bob.preKeyBundle()).invite;
    for (const r of pbFieldRemovals(bob.serialize(), 3, (depth, no, i) => depth === 0 && no === 7 && i > 3)) {
      const where = `account state without ${r.path}`;
      let restored: Account | undefined;
      if (run(failures, `${where}: deserialize`, () => (restored = Account.deserialize(r.bytes)), true) === 'threw' || !restored) continue;
      const x = restored;
      run(failures, `${where}: bundle`, () => OutboundSession.initiate(alice, x.preKeyBundle()), true);
      run(failures, `${where}: accept`, () => InboundSession.accept(x, invite()), true);
      run(failures, `${where}: renew`, () => x.renewSignedPreKeyIfDue(Date.UTC(2025, 2, 1)), true);
      run(failures, `${where}: publish`, () => x.publishOneTimePreKeys(1), true);
      run(failures, `${where}: serialize`, () => Account.deserialize(x.serialize()), true);
    }
    failures.assertNone();
  });
});
