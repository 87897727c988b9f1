// One message of each kind taken apart field by field, so the baseline says where the bytes go
// (the v2 work changes exactly these fields). Each message is decrypted before it is reported.
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
  const msg = pair.a.encrypt(body());
  pair.b.decrypt(msg);
  const g = pqe2eeGroup(P, suite);
  const gm = g.sender.encrypt(body());
  g.receivers[0].decrypt(gm);
  return [row(`pqe2ee suite ${suite} E2eeMsg (one-to-one)`, msg, breakdown(msg, E2EE_MSG)), row(`pqe2ee suite ${suite} E2eeMsg (group)`, gm, breakdown(gm, E2EE_MSG))];
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
