// libsignal sender-key groups: alice makes a SenderKeyDistributionMessage for a distribution id,
// sends it to bob and carol through established one-to-one sessions (signalEncrypt), they
// processSenderKeyDistributionMessage; then groupEncrypt. A group message's byte count is the
// serialized CiphertextMessage (a SenderKeyMessage: chain id, iteration, AES-CBC ciphertext and an
// XEdDSA signature). Signal wraps it in sealed sender for fan-out; that wrapper is not counted, as
// pqe2ee's routing is not.
import { randomUUID } from 'node:crypto';
import { equalBytes } from '../inputs.mjs';
import { body, MESSAGES } from './conversation.mjs';
import { deviceFactory, pairOps } from './libsignal-device.mjs';
import { sizeStats } from './stats.mjs';

export async function libsignalGroup(S, tag = 'g') {
  const device = deviceFactory(S);
  const alice = device(`${tag}-alice`);
  const others = [device(`${tag}-bob`), device(`${tag}-carol`)];
  await Promise.all([alice.ready, ...others.map((d) => d.ready)]);
  const distributionId = randomUUID();
  const skdm = await S.SenderKeyDistributionMessage.create(alice.address, distributionId, alice.senderKeys);
  const skdmBytes = skdm.serialize();
  let distribution = 0;
  for (const d of others) {
    // An established session first (one exchange each way), so the SKDM travels as an ordinary
    // SignalMessage, as it would in a running app.
    const to = pairOps(S, alice, d);
    const back = pairOps(S, d, alice);
    await to.process(d.bundle());
    for (const [ops, pt] of [
      [to, body()],
      [back, body()],
    ]) {
      const m = await ops.encrypt(pt);
      await ops.decrypt(m.type(), m.serialize());
    }
    const m = await to.encrypt(skdmBytes);
    const wire = m.serialize();
    distribution += wire.length;
    const got = await to.decrypt(m.type(), wire);
    await S.processSenderKeyDistributionMessage(alice.address, S.SenderKeyDistributionMessage.deserialize(got), d.senderKeys);
  }
  return {
    encrypt: (plaintext) => S.groupEncrypt(alice.address, distributionId, alice.senderKeys, plaintext),
    decryptAt: (i, wire) => S.groupDecrypt(alice.address, others[i].senderKeys, wire),
    skdmBytes: skdmBytes.length,
    distributionBytes: distribution,
  };
}

export async function libsignalGroupRows(S, n = MESSAGES) {
  const g = await libsignalGroup(S);
  const sizes = [];
  for (let i = 0; i < n; i++) {
    const plaintext = body();
    const wire = (await g.encrypt(plaintext)).serialize();
    for (const r of [0, 1]) {
      if (!equalBytes(await g.decryptAt(r, wire), plaintext)) throw new Error('libsignal: group message did not decrypt');
    }
    sizes.push(wire.length);
  }
  // Its key material (the SenderKeyDistributionMessage) travels apart: every message counts alike.
  return { message: sizeStats(sizes), first: sizes[0], all: sizeStats(sizes), setup: { bundle: g.skdmBytes, distributionToTwo: g.distributionBytes } };
}
