// The account's server-facing signatures (src/protocol/server-auth.ts): what a device signs to sign
// in and to vouch for a new device, with typed errors for bad input and statements that cannot be
// replayed as each other or for another server, device or key.
import { describe, expect, it } from 'vitest';
import { Account, deviceLinkStatement, InvalidLengthError, serverAuthStatement, SessionStateError } from '../support/library.js';

const NOW = Date.UTC(2026, 0, 1);
const challenge = new Uint8Array(32).fill(7);

describe.each([1, 2, 3])('suite %i', (suite) => {
  const alice = Account.create({ suite, now: NOW });
  const laptop = Account.create({ suite, now: NOW });
  const verify = (statement: Uint8Array, signature: Uint8Array) => alice.suite.sig.verify(alice.identityPublicKey.signPublicKey, statement, signature);

  it('a challenge signature verifies for its own domain, challenge and device only', () => {
    const signature = alice.signServerChallenge('example.org', challenge, 'u1', 'phone');
    expect(verify(serverAuthStatement('example.org', challenge, 'u1', 'phone'), signature)).toBe(true);
    expect(verify(serverAuthStatement('other.org', challenge, 'u1', 'phone'), signature)).toBe(false);
    expect(verify(serverAuthStatement('example.org', new Uint8Array(32).fill(8), 'u1', 'phone'), signature)).toBe(false);
    expect(verify(serverAuthStatement('example.org', challenge, 'u1', 'laptop'), signature)).toBe(false);
    expect(verify(serverAuthStatement('example.org', challenge, 'u2', 'phone'), signature)).toBe(false);
  });

  it('a device link covers both identity keys of the new device, and is not a challenge answer', () => {
    const identity = laptop.identityPublicKey;
    const signature = alice.signDeviceLink('example.org', 'u1', 'laptop', identity);
    const statement = (sign: Uint8Array, kem: Uint8Array, deviceId = 'laptop') => deviceLinkStatement('example.org', 'u1', deviceId, suite, sign, kem);
    expect(verify(statement(identity.signPublicKey, identity.kemPublicKey), signature)).toBe(true);
    const otherKem = Account.create({ suite, now: NOW }).identityPublicKey.kemPublicKey;
    expect(verify(statement(identity.signPublicKey, otherKem), signature)).toBe(false);
    expect(verify(statement(identity.signPublicKey, identity.kemPublicKey, 'tablet'), signature)).toBe(false);
    expect(verify(serverAuthStatement('example.org', challenge, 'u1', 'laptop'), signature)).toBe(false);
  });

  it('bad input gives typed errors', () => {
    expect(() => alice.signServerChallenge('example.org', new Uint8Array(8), 'u1', 'phone')).toThrow(InvalidLengthError);
    expect(() => alice.signServerChallenge('example.org', new Uint8Array(65), 'u1', 'phone')).toThrow(InvalidLengthError);
    const identity = laptop.identityPublicKey;
    expect(() => alice.signDeviceLink('example.org', 'u1', 'laptop', { signPublicKey: identity.signPublicKey.subarray(1), kemPublicKey: identity.kemPublicKey })).toThrow(
      InvalidLengthError,
    );
    expect(() => alice.signDeviceLink('example.org', 'u1', 'laptop', { signPublicKey: identity.signPublicKey, kemPublicKey: identity.kemPublicKey.subarray(1) })).toThrow(
      InvalidLengthError,
    );
  });

  it('an address is set once; the same address again is accepted, another one refused', () => {
    const account = Account.create({ suite, now: NOW });
    expect(account.address).toBeUndefined();
    account.setAddress('example.org', 'u1', 'phone');
    account.setAddress('example.org', 'u1', 'phone');
    expect(account.address?.peer.case === 'user' && account.address.peer.value.userId).toBe('u1');
    expect(() => account.setAddress('example.org', 'u2', 'phone')).toThrow(SessionStateError);
    expect(() => Account.create({ suite, now: NOW }).setAddress('', 'u1', 'phone')).toThrow(InvalidLengthError);
    // It survives serialisation.
    const restored = Account.deserialize(account.serialize());
    expect(restored.address?.domain).toBe('example.org');
  });

  it("the published pre-keys are the account's own", () => {
    const account = Account.create({ suite, now: NOW });
    const spk = account.signedPreKeyPublic();
    expect(spk.spkId).toBe(account.signedPreKeyId);
    expect(account.oneTimePreKeyPublics()).toHaveLength(100);
    expect(new Set(account.oneTimePreKeyPublics().map((k) => k.opkId)).size).toBe(100);
  });
});
