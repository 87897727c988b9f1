/** Caller mistakes give typed errors, never TypeError/RangeError from deep inside. */
import { describe, expect, it } from 'vitest';
import { Account, encryptForDevices, fingerprint, GroupSession, InboundSession, OutboundSession, Pqe2eeError } from '../support/library.js';

const now = 1_700_000_000_000;

function expectTyped(run: () => unknown): void {
  let error: unknown;
  try {
    run();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(Pqe2eeError);
}

describe('bad arguments', () => {
  const alice = Account.create({ suite: 2, now });
  const bob = Account.create({ suite: 2, now });

  it('session limits must be positive integers', () => {
    const { invite } = OutboundSession.initiate(alice, bob.preKeyBundle());
    for (const limits of [{ maxReceivingChains: 0 }, { maxSkip: -1 }, { maxSkippedKeys: 1.5 }, { maxOwnKeys: 5 } as never]) {
      expectTyped(() => InboundSession.accept(Account.deserialize(bob.serialize()), invite, { limits }));
    }
  });

  it('fingerprint and encryptForDevices check their arguments', () => {
    expectTyped(() => fingerprint(undefined as never, alice.identityPublicKey));
    expectTyped(() => encryptForDevices([{ session: null as never }], new Uint8Array(1)));
    expectTyped(() => encryptForDevices('nope' as never, new Uint8Array(1)));
  });

  it('group changes check epoch, members and removals', () => {
    const { session } = GroupSession.create(alice, { groupId: 'g', userId: 'alice', deviceId: 'phone', members: [] });
    for (const epoch of [1.5, -1, 2n ** 64n, 'x']) expectTyped(() => session.changeMembers({ epoch: epoch as never, now }));
    expectTyped(() => session.changeMembers({ remove: [null as never], epoch: 1, now }));
    expectTyped(() => GroupSession.create(alice, { groupId: 'g', userId: 'alice', deviceId: 'phone', members: undefined as never }));
    expectTyped(() => GroupSession.create(alice, { groupId: 'g', userId: 'alice', deviceId: 'phone', members: [], limits: { maxSkip: 0 } }));
  });
});
