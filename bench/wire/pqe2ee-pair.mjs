// pqe2ee one-to-one conversations through the public protocol API (dist/protocol.js): Account,
// OutboundSession.initiate → InboundSession.accept → complete, then Session.encrypt/decrypt. The
// byte count of a message is the length of the serialized E2eeMsg that Session.encrypt returns;
// the handshake is the serialized InviteMsg (A→B) plus AcceptMsg (B→A). No server is involved: the
// bundle goes from Bob's account to Alice's directly, as test/support/protocol.ts does.
import { equalBytes } from '../inputs.mjs';

export const NOW = Date.UTC(2026, 0, 1);

/** Alice and Bob accounts of `suite`, made once (account creation is never measured). */
export function pqe2eeAccounts(P, suite) {
  return { alice: P.Account.create({ suite, now: NOW }), bob: P.Account.create({ suite, now: NOW }) };
}

/** Sets up one session pair from an OPK-less bundle, as the setup rate row does. */
export function pqe2eeHandshake(P, { alice, bob }, bundle) {
  const { session: a, invite } = P.OutboundSession.initiate(alice, bundle);
  const { session: b, accept } = P.InboundSession.accept(bob, invite);
  a.complete(alice, accept);
  return { a, b, invite, accept };
}

export function pqe2eePair(P, suite, { withOneTimePreKey = false } = {}) {
  const accounts = pqe2eeAccounts(P, suite);
  return {
    accounts,
    async open() {
      const bundle = accounts.bob.preKeyBundle({ withOneTimePreKey });
      const { a, b, invite, accept } = pqe2eeHandshake(P, accounts, bundle);
      const sessions = { a, b };
      return {
        handshakeBytes: invite.length + accept.length,
        handshakeParts: { bundle: bundle.length, invite: invite.length, accept: accept.length },
        async send(side, plaintext) {
          const wire = sessions[side].encrypt(plaintext);
          const got = sessions[side === 'a' ? 'b' : 'a'].decrypt(wire);
          if (!equalBytes(got, plaintext)) throw new Error(`pqe2ee suite ${suite}: message did not decrypt to its plaintext`);
          return wire.length;
        },
      };
    },
  };
}
