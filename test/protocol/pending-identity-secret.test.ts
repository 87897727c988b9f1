// The identity KEM secret stays in the Account: a pending outbound session holds no copy of it
// (complete() has the account decapsulate c1), and a pending state written by an earlier version,
// which did keep a copy (SessionState field 12), still loads and completes, with the copy zeroed
// and no longer written.
import { toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { InvalidTypeError, Session, SessionStateError } from '../support/library.js';
import { SessionStateSchema } from '../../src/proto/gen/state_pb.js';
import { equalBytes, establish, expectDecrypts, expectThrow, indexOfBytes, newAccount, restore, type SuiteNo, SUITES, utf8 } from '../support/index.js';

describe.each(SUITES)('pending sessions and the identity KEM secret, suite %i', (suite: SuiteNo) => {
  it('a pending session and its serialized state contain no copy of the identity KEM secret', () => {
    const { alice, a, b, accept } = establish(suite, { complete: false });
    const secret = alice.state.identityKemKey!.secretKey;
    expect(a.state.ownIdentityKemSecretKey.length).toBe(0);
    expect(indexOfBytes(a.serialize(), secret.subarray(0, 32))).toBe(-1);
    const restored = restore(a);
    restored.complete(alice, accept);
    expectDecrypts(b, restored.encrypt(utf8('after restore')), utf8('after restore'));
  });

  it('complete() needs the initiating account: another one, or none, changes nothing', () => {
    const { alice, bob, a, b, accept } = establish(suite, { complete: false });
    const before = a.serialize();
    expectThrow(() => a.complete(newAccount(suite), accept), SessionStateError);
    expectThrow(() => a.complete(bob, accept), SessionStateError);
    expectThrow(() => (a.complete as (...args: unknown[]) => void)(accept), InvalidTypeError);
    expect(equalBytes(a.serialize(), before)).toBe(true);
    a.complete(alice, accept);
    expectDecrypts(b, a.encrypt(utf8('ok')), utf8('ok'));
  });

  it('a pending state that still carries the secret (written by an earlier version) loads, completes, and drops it', () => {
    const { alice, a, b, accept } = establish(suite, { complete: false });
    const secret = alice.state.identityKemKey!.secretKey.slice();
    const legacy = toBinary(SessionStateSchema, { ...a.state, ownIdentityKemSecretKey: secret.slice() });
    expect(indexOfBytes(legacy, secret.subarray(0, 32))).toBeGreaterThan(-1);

    const loaded = Session.deserialize(legacy);
    expect(loaded.state.ownIdentityKemSecretKey.length).toBe(0);
    expect(indexOfBytes(loaded.serialize(), secret.subarray(0, 32))).toBe(-1);
    expect(equalBytes(loaded.serialize(), a.serialize())).toBe(true);
    loaded.complete(alice, accept);
    expectDecrypts(b, loaded.encrypt(utf8('legacy')), utf8('legacy'));
    expectDecrypts(loaded, b.encrypt(utf8('reply')), utf8('reply'));
  });
});
