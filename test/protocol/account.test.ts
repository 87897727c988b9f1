// Accounts (docs/protocol-api.md, DESIGN.md §4 "Account"): one-time pre-keys, bundles, signed
// pre-key renewal with its grace period, encrypted export, and persistence.
import { describe, expect, it } from 'vitest';
import { Account, DecryptionFailedError, DuplicateInviteError, InboundSession, OutboundSession, UnknownPreKeyError, UnknownSuiteError } from '../support/library.js';
import {
  checkThrow,
  DAY,
  equalBytes,
  establish,
  expectDecrypts,
  expectThrow,
  Failures,
  flipBit,
  indexOfBytes,
  newAccount,
  restoreAccount,
  Rng,
  type SuiteNo,
  SUITES,
  T0,
  utf8,
} from '../support/index.js';

/** Alice (fresh) completes a session with `bob` from `bundle`; checks both directions. */
function connectAndTalk(bob: Account, bundle: Uint8Array, suite: SuiteNo): void {
  const alice = newAccount(suite);
  const { session: a, invite } = OutboundSession.initiate(alice, bundle);
  const { session: b, accept } = InboundSession.accept(bob, invite);
  a.complete(alice, accept);
  const m1 = utf8('hello bob');
  expectDecrypts(b, a.encrypt(m1), m1);
  const m2 = utf8('hello alice');
  expectDecrypts(a, b.encrypt(m2), m2);
}

describe.each(SUITES)('accounts, suite %i', (suite: SuiteNo) => {
  const rng = new Rng(`account/${suite}`);

  it('create: the requested suite, identity keys of the suite sizes, 100 one-time pre-keys', () => {
    const acc = newAccount(suite);
    expect(acc.suite.params.id).toBe(suite);
    expect(acc.oneTimePreKeyCount).toBe(100);
    const { signPublicKey, kemPublicKey } = acc.identityPublicKey;
    expect(signPublicKey).toBeInstanceOf(Uint8Array);
    expect(kemPublicKey).toBeInstanceOf(Uint8Array);
    expect(signPublicKey.length).toBe(acc.suite.params.sigPublicKeyBytes);
    expect(kemPublicKey.length).toBe(acc.suite.params.kemPublicKeyBytes);
    // Two accounts never share identity keys.
    expect(equalBytes(newAccount(suite).identityPublicKey.signPublicKey, signPublicKey)).toBe(false);
    expect(equalBytes(newAccount(suite).identityPublicKey.kemPublicKey, kemPublicKey)).toBe(false);
  });

  it('preKeyBundle carries one OPK (a copy: the count stays), an invite consumes it, a second invite naming it is refused', () => {
    const bob = newAccount(suite);
    const bundle = bob.preKeyBundle();
    const bare = bob.preKeyBundle({ withOneTimePreKey: false });
    expect(bundle.length - bare.length).toBeGreaterThanOrEqual(bob.suite.params.kemPublicKeyBytes);
    expect(bob.oneTimePreKeyCount).toBe(100); // the bundle holds a copy
    const alice1 = newAccount(suite);
    const alice2 = newAccount(suite);
    const first = OutboundSession.initiate(alice1, bundle);
    const second = OutboundSession.initiate(alice2, bundle); // the same OPK, a different invite
    expect(equalBytes(first.invite, second.invite)).toBe(false);
    expect(bob.oneTimePreKeyCount).toBe(100); // initiating does not touch bob
    const acc = InboundSession.accept(bob, first.invite);
    expect(bob.oneTimePreKeyCount).toBe(99);
    expectThrow(() => InboundSession.accept(bob, second.invite), UnknownPreKeyError);
    expect(bob.oneTimePreKeyCount).toBe(99);
    // also after a restore
    expectThrow(() => InboundSession.accept(restoreAccount(bob), second.invite), UnknownPreKeyError);
    first.session.complete(alice1, acc.accept);
    expectDecrypts(acc.session, first.session.encrypt(utf8('x')), utf8('x'));
    // Bundles made one after the other name different OPKs: two invites from them both succeed.
    const b1 = bob.preKeyBundle();
    const b2 = bob.preKeyBundle();
    connectAndTalk(bob, b1, suite);
    connectAndTalk(bob, b2, suite);
    expect(bob.oneTimePreKeyCount).toBe(97);
  });

  it('invites without OPK leave the count unchanged', () => {
    const bob = newAccount(suite);
    for (let i = 0; i < 3; i++) connectAndTalk(bob, bob.preKeyBundle({ withOneTimePreKey: false }), suite);
    expect(bob.oneTimePreKeyCount).toBe(100);
  });

  it('publishOneTimePreKeys(n) adds n distinct OPKs and returns their public halves; they are used by later bundles', () => {
    const bob = newAccount(suite);
    const added = bob.publishOneTimePreKeys(7);
    expect(added).toHaveLength(7);
    expect(bob.oneTimePreKeyCount).toBe(107);
    for (const opk of added) {
      expect(opk).toBeInstanceOf(Uint8Array);
      expect(opk.length).toBeGreaterThanOrEqual(bob.suite.params.kemPublicKeyBytes);
    }
    expect(new Set(added.map((x) => Buffer.from(x).toString('hex'))).size).toBe(7);
    const more = bob.publishOneTimePreKeys();
    expect(more).toHaveLength(100);
    expect(bob.oneTimePreKeyCount).toBe(207);
    // Each published OPK's public key appears in some bundle the account hands out, and every
    // bundle handed out leads to a working session (207 bundles would be slow for suite 1: sample).
    const bundles: Uint8Array[] = [];
    for (let i = 0; i < 207; i++) bundles.push(bob.preKeyBundle());
    // The published public keys (inside the serialized OneTimePreKeyPublic) show up in bundles.
    const kemLen = bob.suite.params.kemPublicKeyBytes;
    const pk = added[3]!.subarray(added[3]!.length - kemLen);
    expect(bundles.some((b) => indexOfBytes(b, pk) >= 0)).toBe(true);
    for (const i of [0, 101, 150, 206]) connectAndTalk(bob, bundles[i]!, suite);
    expect(bob.oneTimePreKeyCount).toBe(203);
  });

  it('renewSignedPreKeyIfDue: false before 7 days, true after; old bundles work for a 7-day grace period, then not', () => {
    const bob = Account.create({ suite, now: T0 });
    const oldWithOpk = bob.preKeyBundle();
    const oldBare = bob.preKeyBundle({ withOneTimePreKey: false });
    const oldForLater = bob.preKeyBundle();
    expect(bob.renewSignedPreKeyIfDue(T0)).toBe(false);
    expect(bob.renewSignedPreKeyIfDue(T0 + DAY)).toBe(false);
    expect(bob.renewSignedPreKeyIfDue(T0 + 7 * DAY - 60_000)).toBe(false);
    const t1 = T0 + 7 * DAY + 60 * 60 * 1000;
    expect(bob.renewSignedPreKeyIfDue(t1)).toBe(true);
    expect(bob.renewSignedPreKeyIfDue(t1 + 1000)).toBe(false); // the new SPK is fresh
    const newBundle = bob.preKeyBundle({ withOneTimePreKey: false });
    expect(equalBytes(newBundle, oldBare)).toBe(false);

    // Grace period: invites made from bundles fetched before the renewal are accepted.
    expect(bob.renewSignedPreKeyIfDue(t1 + 3 * DAY)).toBe(false);
    connectAndTalk(bob, oldWithOpk, suite);
    connectAndTalk(bob, oldBare, suite);
    connectAndTalk(restoreAccount(bob), oldBare, suite); // the old SPK survives a restore
    // Invites made now, delivered after the grace period is over, are refused.
    const lateInvites = [oldBare, oldForLater].map((b) => OutboundSession.initiate(newAccount(suite), b).invite);
    const newInviter = newAccount(suite);
    const newInvite = OutboundSession.initiate(newInviter, newBundle);
    const t2 = t1 + 7 * DAY + 60 * 60 * 1000;
    expect(bob.renewSignedPreKeyIfDue(t2)).toBe(true); // the second SPK is now over 7 days old as well
    for (const invite of lateInvites) expectThrow(() => InboundSession.accept(bob, invite), UnknownPreKeyError);
    expectThrow(() => InboundSession.accept(restoreAccount(bob), lateInvites[0]!), UnknownPreKeyError);
    // The SPK that was current until t2 is now in its own grace period.
    const acc = InboundSession.accept(bob, newInvite.invite);
    newInvite.session.complete(newInviter, acc.accept);
    expectDecrypts(acc.session, newInvite.session.encrypt(utf8('grace')), utf8('grace'));
    // And the newest one works.
    connectAndTalk(bob, bob.preKeyBundle(), suite);
  });

  it('exportEncrypted / importEncrypted: round trip; wrong key → DecryptionFailedError; any tampering → typed error', () => {
    const bob = newAccount(suite);
    const key = rng.bytes(32);
    const bundle = bob.preKeyBundle();
    const alice = newAccount(suite);
    const { session: a, invite } = OutboundSession.initiate(alice, bundle); // made before the export
    const sealed = bob.exportEncrypted(key);
    // It is encrypted: no 32-byte window of the plaintext state appears in it.
    const plain = bob.serialize();
    for (const at of [0, plain.length >> 2, plain.length >> 1, plain.length - 32]) {
      expect(indexOfBytes(sealed, plain.subarray(at, at + 32)), `plaintext state bytes at ${at} visible in the export`).toBe(-1);
    }
    expect(equalBytes(bob.exportEncrypted(key), sealed), 'two exports are identical (nonce reuse?)').toBe(false);

    const back = Account.importEncrypted(sealed, key);
    expect(equalBytes(back.serialize(), plain)).toBe(true);
    expect(back.oneTimePreKeyCount).toBe(100);
    expect(equalBytes(back.identityPublicKey.signPublicKey, bob.identityPublicKey.signPublicKey)).toBe(true);
    const acc = InboundSession.accept(back, invite);
    a.complete(alice, acc.accept);
    expectDecrypts(acc.session, a.encrypt(utf8('imported')), utf8('imported'));

    const wrong = Uint8Array.from(key);
    wrong[0] = (wrong[0] as number) ^ 1;
    expectThrow(() => Account.importEncrypted(sealed, wrong), DecryptionFailedError);
    expectThrow(() => Account.importEncrypted(sealed, rng.bytes(32)), DecryptionFailedError);
    expectThrow(() => Account.importEncrypted(sealed, key.subarray(0, 31)));
    expectThrow(() => Account.importEncrypted(sealed, new Uint8Array(0)));
    expectThrow(() => bob.exportEncrypted(key.subarray(0, 16)));

    // Flipped bytes: the first and last 48 bytes each, and 64 random positions.
    const positions = new Set<number>();
    for (let i = 0; i < Math.min(48, sealed.length); i++) positions.add(i).add(sealed.length - 1 - i);
    for (let i = 0; i < 64; i++) positions.add(rng.int(0, sealed.length - 1));
    const failures = new Failures();
    for (const i of positions)
      failures.add(
        `byte ${i}`,
        checkThrow(() => Account.importEncrypted(flipBit(sealed, i, i % 8), key)),
      );
    for (const len of [0, 1, 12, 13, 28, 29, sealed.length - 16, sealed.length - 1]) {
      failures.add(
        `truncated to ${len}`,
        checkThrow(() => Account.importEncrypted(sealed.subarray(0, len), key)),
      );
    }
    const extended = new Uint8Array(sealed.length + 1);
    extended.set(sealed);
    failures.add(
      'one byte appended',
      checkThrow(() => Account.importEncrypted(extended, key)),
    );
    failures.assertNone();
  });

  it('serialize / deserialize keeps a working account (an invite made before is accepted by the restored copy)', () => {
    const bob = newAccount(suite);
    const bundles = [bob.preKeyBundle(), bob.preKeyBundle({ withOneTimePreKey: false })];
    const pending = bundles.map((b) => {
      const initiator = newAccount(suite);
      return { initiator, ...OutboundSession.initiate(initiator, b) };
    });
    const bytes = bob.serialize();
    const restored = Account.deserialize(bytes);
    expect(equalBytes(restored.serialize(), bytes)).toBe(true);
    expect(restored.oneTimePreKeyCount).toBe(100);
    expect(restored.suite.params.id).toBe(suite);
    expect(equalBytes(restored.identityPublicKey.kemPublicKey, bob.identityPublicKey.kemPublicKey)).toBe(true);
    for (const p of pending) {
      const acc = InboundSession.accept(restored, p.invite);
      p.session.complete(p.initiator, acc.accept);
      expectDecrypts(acc.session, p.session.encrypt(utf8('restored')), utf8('restored'));
      expectDecrypts(p.session, acc.session.encrypt(utf8('restored back')), utf8('restored back'));
    }
    expect(restored.oneTimePreKeyCount).toBe(99);
    // What the restored copy accepted is remembered through another round trip.
    const again = Account.deserialize(restored.serialize());
    expectThrow(() => InboundSession.accept(again, pending[1]!.invite), DuplicateInviteError);
    expectThrow(() => InboundSession.accept(again, pending[0]!.invite), DuplicateInviteError, UnknownPreKeyError);
  });

  it('a failed accept leaves the account unchanged', () => {
    const bob = newAccount(suite);
    const before = bob.serialize();
    const { invite } = OutboundSession.initiate(newAccount(suite), bob.preKeyBundle());
    // Truncated / corrupted invites: typed errors, no OPK consumed, state bytes unchanged.
    for (const bad of [invite.subarray(0, invite.length >> 1), invite.subarray(0, 10), new Uint8Array(0)]) {
      expectThrow(() => InboundSession.accept(bob, bad));
    }
    expect(bob.oneTimePreKeyCount).toBe(100);
    expect(equalBytes(bob.serialize(), before)).toBe(true);
    // The genuine invite still works.
    InboundSession.accept(bob, invite);
    expect(bob.oneTimePreKeyCount).toBe(99);
  });
});

describe('account creation arguments', () => {
  it('unknown suites are refused with UnknownSuiteError', () => {
    expectThrow(() => Account.create({ suite: 99, now: T0 }), UnknownSuiteError);
    expectThrow(() => Account.create({ suite: 'NOPE', now: T0 }), UnknownSuiteError);
  });

  it('an account of one suite establishes sessions only with the same suite', () => {
    const { a, b } = establish(3);
    expectDecrypts(b, a.encrypt(utf8('3')), utf8('3'));
  });
});
