// One message of each kind taken apart field by field, so the rows say where the bytes go. Each message is decrypted before it is reported.
import { body } from './conversation.mjs';
import { pqe2eeAccounts, pqe2eeHandshake } from './pqe2ee-pair.mjs';
import { pqe2eeGroup } from './pqe2ee-group.mjs';
import { deviceFactory, pairOps } from './libsignal-device.mjs';
import { libsignalGroup } from './libsignal-group.mjs';
import { breakdown, E2EE_MSG, libsignalBreakdown } from './protobuf-fields.mjs';

const row = (label, wire, fields) => ({ label, bytes: wire.length, fields });

export function pqe2eeBreakdowns(P, suite) {
  const accounts = pqe2eeAccounts(P, suite);
  const pair = pqe2eeHandshake(P, accounts, accounts.bob.preKeyBundle({ withOneTimePreKey: false }));
  // A's first message carries a chunk of its epoch key; B's first one carries none.
  const msg = pair.a.encrypt(body());
  pair.b.decrypt(msg);
  const plain = pair.b.encrypt(body());
  pair.a.decrypt(plain);
  const g = pqe2eeGroup(P, suite);
  // The sender's first group message of the epoch carries its sender-key announcement; the next does not.
  const gm = g.sender.encrypt(body());
  g.receivers[0].decrypt(gm);
  const gm2 = g.sender.encrypt(body());
  g.receivers[0].decrypt(gm2);
  return [
    row(`pqe2ee suite ${suite} E2eeMsg (one-to-one, with an epoch chunk)`, msg, breakdown(msg, E2EE_MSG)),
    row(`pqe2ee suite ${suite} E2eeMsg (one-to-one, no chunk)`, plain, breakdown(plain, E2EE_MSG)),
    row(`pqe2ee suite ${suite} E2eeMsg (group, first of the epoch: sender-key announcement)`, gm, breakdown(gm, E2EE_MSG)),
    row(`pqe2ee suite ${suite} E2eeMsg (group)`, gm2, breakdown(gm2, E2EE_MSG)),
  ];
}

export async function libsignalBreakdowns(S) {
  const device = deviceFactory(S);
  const alice = device('bd-alice');
  const bob = device('bd-bob');
  await Promise.all([alice.ready, bob.ready]);
  const ab = pairOps(S, alice, bob);
  const ba = pairOps(S, bob, alice);
  await ab.process(bob.bundle());
  const take = async (ops) => {
    const m = await ops.encrypt(body());
    const wire = m.serialize();
    await ops.decrypt(m.type(), wire);
    return { type: m.type(), wire };
  };
  const pre = await take(ab);
  await take(ba);
  const sig = await take(ab);
  const g = await libsignalGroup(S, 'bd');
  const gm = (await g.encrypt(body())).serialize();
  await g.decryptAt(0, gm);
  return [
    row('libsignal PreKeySignalMessage (first message)', pre.wire, libsignalBreakdown(pre.type, pre.wire)),
    row('libsignal SignalMessage (established)', sig.wire, libsignalBreakdown(sig.type, sig.wire)),
    row('libsignal SenderKeyMessage (group)', gm, libsignalBreakdown(S.CiphertextMessageType.SenderKey, gm)),
  ];
}
