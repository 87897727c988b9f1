// The responder's replay window (Account, MAX_REMEMBERED_INVITES): an attacker who recorded
// invites replays them through InboundSession.accept. Every invite still in the window is refused,
// on the live account and on a restored copy, and the window slides oldest first.
import { describe, expect, it } from 'vitest';
import { Account, DuplicateInviteError, InboundSession, OutboundSession } from '../support/library.js';
import { expectThrow, newAccount } from '../support/index.js';

const WINDOW = 1000; // MAX_REMEMBERED_INVITES

describe('invite replay window', () => {
  it('refuses every replay inside the last 1000 accepted invites, before and after a restore, and forgets the oldest first', () => {
    const bob = newAccount(1);
    const bundle = bob.preKeyBundle({ withOneTimePreKey: false });
    const alice = newAccount(1);
    const invites: Uint8Array[] = [];
    for (let i = 0; i < WINDOW + 2; i++) {
      const { invite } = OutboundSession.initiate(alice, bundle);
      InboundSession.accept(bob, invite);
      invites.push(invite);
    }
    const restored = Account.deserialize(bob.serialize());
    for (const account of [bob, restored]) {
      // The two oldest fell out of the window; the next oldest and the newest are refused.
      for (const i of [2, 3, WINDOW / 2, WINDOW + 1]) expectThrow(() => InboundSession.accept(account, invites[i] as Uint8Array), DuplicateInviteError);
    }
    // Forgotten ones are accepted once more, and then they are in the window again.
    InboundSession.accept(restored, invites[0] as Uint8Array);
    expectThrow(() => InboundSession.accept(restored, invites[0] as Uint8Array), DuplicateInviteError);
    // That accept pushed invite 2 out: it is accepted (pushing out invite 3), while invite 4 is still refused.
    InboundSession.accept(restored, invites[2] as Uint8Array);
    expectThrow(() => InboundSession.accept(restored, invites[2] as Uint8Array), DuplicateInviteError);
    expectThrow(() => InboundSession.accept(restored, invites[4] as Uint8Array), DuplicateInviteError);
    expect(Account.deserialize(restored.serialize()).serialize().length).toBe(restored.serialize().length);
  });
});
