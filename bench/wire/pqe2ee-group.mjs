// pqe2ee group messages through the public protocol API: a group of three devices (alice, bob,
// carol) made with GroupSession.create (default auth mode 'sender-key'); the GroupPreKeyBundle
// reaches bob and carol through established one-to-one sessions (Session.encrypt of the bundle
// bytes, as the client runtime sends it, minus its Plaintext wrapper) and they GroupSession.join
// it. A group message's byte count is the serialized E2eeMsg of GroupSession.encrypt: sent once to
// the server, which fans it out. The sender's first message of the epoch also carries its
// sender-key announcement (an Ed25519 key under its identity signature: the counterpart of
// libsignal's SenderKeyDistributionMessage, which travels apart and is counted as key material),
// so it is reported on its own and the per-message row is the other 199.
import { equalBytes } from '../inputs.mjs';
import { body, MESSAGES } from './conversation.mjs';
import { NOW, pqe2eeHandshake } from './pqe2ee-pair.mjs';
import { sizeStats } from './stats.mjs';

const member = (userId, account) => ({ userId, deviceId: 'dev', signPublicKey: account.identityPublicKey.signPublicKey });

/** A 3-device group with alice as sender; returns the sessions and the setup bytes. */
export function pqe2eeGroup(P, suite, groupId = 'wire-group') {
  const accounts = Object.fromEntries(['alice', 'bob', 'carol'].map((name) => [name, P.Account.create({ suite, now: NOW })]));
  const { session: sender, bundle } = P.GroupSession.create(accounts.alice, {
    groupId,
    userId: 'alice',
    deviceId: 'dev',
    members: [member('bob', accounts.bob), member('carol', accounts.carol)],
  });
  const receivers = [];
  let distribution = 0;
  for (const name of ['bob', 'carol']) {
    const pair = pqe2eeHandshake(P, { alice: accounts.alice, bob: accounts[name] }, accounts[name].preKeyBundle({ withOneTimePreKey: false }));
    const wire = pair.a.encrypt(bundle);
    distribution += wire.length;
    receivers.push(P.GroupSession.join(accounts[name], pair.b.decrypt(wire), { userId: name, deviceId: 'dev', now: NOW }));
  }
  return { sender, receivers, bundleBytes: bundle.length, distributionBytes: distribution };
}

export function pqe2eeGroupRows(P, suite, n = MESSAGES) {
  const g = pqe2eeGroup(P, suite);
  const sizes = [];
  for (let i = 0; i < n; i++) {
    const plaintext = body();
    const wire = g.sender.encrypt(plaintext);
    for (const r of g.receivers) {
      if (!equalBytes(r.decrypt(wire).plaintext, plaintext)) throw new Error(`pqe2ee suite ${suite}: group message did not decrypt`);
    }
    sizes.push(wire.length);
  }
  return {
    // Every message after the sender's first of the epoch; the first (with the announcement) apart.
    message: sizeStats(sizes.slice(1)),
    first: sizes[0],
    all: sizeStats(sizes),
    // Setup: the GroupPreKeyBundle itself, and the E2eeMsgs that carried it to the 2 other members.
    setup: { bundle: g.bundleBytes, distributionToTwo: g.distributionBytes },
  };
}
