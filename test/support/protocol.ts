// Protocol-layer fixtures: the cipher suites under test, fixed clocks, accounts and established
// one-to-one sessions driven through the public API.
import { expect } from 'vitest';
import { Account, InboundSession, OutboundSession, Session } from './library.js';
import { concatBytes, equalBytes, utf8 } from './bytes.js';
import { describeError, show } from './failures.js';
import type { Rng } from './seeded-random.js';

export const SUITES = [1, 2, 3] as const;
export type SuiteNo = (typeof SUITES)[number];

export const DAY = 24 * 60 * 60 * 1000;
export const HOUR = 60 * 60 * 1000;
/** A fixed "now" for account creation (2025-01-01T00:00:00Z). */
export const T0 = Date.UTC(2025, 0, 1);

export interface Pair {
  alice: Account;
  bob: Account;
  a: Session; // initiator
  b: Session; // responder
  invite: Uint8Array;
  accept: Uint8Array;
}

export function newAccount(suite: SuiteNo, now = T0): Account {
  return Account.create({ suite, now });
}

/** Alice invites Bob (with or without an OPK), Bob accepts, Alice completes. */
export function establish(suite: SuiteNo, opts: { withOneTimePreKey?: boolean; alice?: Account; bob?: Account; complete?: boolean } = {}): Pair {
  const alice = opts.alice ?? newAccount(suite);
  const bob = opts.bob ?? newAccount(suite);
  const bundle = bob.preKeyBundle({ withOneTimePreKey: opts.withOneTimePreKey ?? true });
  const { session: a, invite } = OutboundSession.initiate(alice, bundle);
  const { session: b, accept } = InboundSession.accept(bob, invite);
  if (opts.complete ?? true) a.complete(alice, accept);
  return { alice, bob, a, b, invite, accept };
}

/** A session restored from its serialized state. */
export const restore = (s: Session): Session => Session.deserialize(s.serialize());
export const restoreAccount = (acc: Account): Account => Account.deserialize(acc.serialize());

/** A plaintext that names its sender and number, plus some seeded random bytes, so every message is unique. */
export function plaintextFor(tag: string, rng?: Rng, extra = 0): Uint8Array {
  const head = utf8(`${tag}|`);
  return rng ? concatBytes(head, rng.bytes(extra || rng.int(0, 64))) : head;
}

/** Decrypts and checks the plaintext. */
export function expectDecrypts(session: Session, wire: Uint8Array, expected: Uint8Array, where = ''): void {
  let got: Uint8Array;
  try {
    got = session.decrypt(wire);
  } catch (e) {
    expect.fail(`${where} decrypt threw ${describeError(e)}`);
  }
  if (!equalBytes(got, expected)) expect.fail(`${where} decrypted to different bytes: ${show(got)} instead of ${show(expected)}`);
}

/** Whether a copy of `receiver` (the receiver itself unchanged) accepts `wire`: a forgery probe. */
export function acceptedByCopy(receiver: Session, wire: Uint8Array): boolean {
  try {
    Session.deserialize(receiver.serialize()).decrypt(wire);
    return true;
  } catch {
    return false;
  }
}
