/**
 * Replays of chains whose keys are gone must stay refused however many chains have passed since
 * (the list of retired chain ids is bounded; the peer-chain watermark is not).
 */
import { describe, expect, it } from 'vitest';
import { Account, InboundSession, OutboundSession, ReplayError } from '../support/library.js';

describe('replay of an evicted chain', () => {
  it('is refused after more chains than any bounded list holds', () => {
    const now = 1_700_000_000_000;
    const alice = Account.create({ suite: 2, now });
    const bob = Account.create({ suite: 2, now });
    const { session: a, invite } = OutboundSession.initiate(alice, bob.preKeyBundle());
    // Bob starts a new chain for every message; Alice never answers, so her key stays the target.
    const { session: b, accept } = InboundSession.accept(bob, invite, { limits: { maxSendingChainLength: 1 } });
    a.complete(alice, accept);
    const sent = Array.from({ length: 80 }, (_, i) => b.encrypt(new TextEncoder().encode(`msg ${i}`)));
    for (const wire of sent) a.decrypt(wire);
    for (const index of [0, 10, 70, 79]) {
      expect(() => a.decrypt(sent[index] as Uint8Array)).toThrow(ReplayError);
    }
  });
});
