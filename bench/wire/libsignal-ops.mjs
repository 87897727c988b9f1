// The libsignal operations the rate rows time, matched to pqe2ee-ops.mjs:
//   setup         processPreKeyBundle (PQXDH: X25519 ×3 + Kyber-1024 encaps, bundle signatures
//                 checked) → signalEncrypt (PreKeySignalMessage) → signalDecryptPreKey at Bob; the
//                 bundle has no one-time EC pre-key (like pqe2ee's OPK-less setup) and a last-resort
//                 Kyber pre-key. Both sides' session records are dropped first (a Map delete), so
//                 every setup starts from nothing rather than archiving into a growing record.
//   encrypt       signalEncrypt + serialize on an established session (after one exchange each way)
//   decrypt       signalDecrypt of in-order messages, pre-generated untimed
//   groupEncrypt  groupEncrypt + serialize with a sender key distributed to a 3-device group
import { body } from './conversation.mjs';
import { deviceFactory, pairOps } from './libsignal-device.mjs';
import { libsignalGroup } from './libsignal-group.mjs';

async function established(S, device, tag) {
  const alice = device(`${tag}-alice`);
  const bob = device(`${tag}-bob`);
  await Promise.all([alice.ready, bob.ready]);
  const ab = pairOps(S, alice, bob);
  const ba = pairOps(S, bob, alice);
  await ab.process(bob.bundle());
  for (const ops of [ab, ba]) {
    const m = await ops.encrypt(body());
    await ops.decrypt(m.type(), m.serialize());
  }
  return { alice, bob, ab, ba };
}

export async function libsignalOps(S) {
  const device = deviceFactory(S);
  const pt = body();
  const fresh = { alice: device('setup-alice'), bob: device('setup-bob') };
  await Promise.all([fresh.alice.ready, fresh.bob.ready]);
  const setupOps = pairOps(S, fresh.alice, fresh.bob);
  const bundle = fresh.bob.bundle();
  const enc = await established(S, device, 'enc');
  const dec = await established(S, device, 'dec');
  let pool = [];
  let pos = 0;
  const group = await libsignalGroup(S, 'rate');
  return {
    setup: {
      async: true,
      op: async () => {
        fresh.alice.sessions.forget(fresh.bob.address);
        fresh.bob.sessions.forget(fresh.alice.address);
        await setupOps.process(bundle);
        const m = await setupOps.encrypt(pt);
        await setupOps.decrypt(m.type(), m.serialize());
      },
    },
    encrypt: { async: true, op: async () => (await enc.ab.encrypt(pt)).serialize() },
    decrypt: {
      async: true,
      op: () => dec.ab.decrypt(S.CiphertextMessageType.Whisper, pool[pos++]),
      prepare: async (count) => {
        pool = [];
        for (let i = 0; i < count; i++) pool.push((await dec.ab.encrypt(pt)).serialize());
        pos = 0;
      },
    },
    groupEncrypt: { async: true, op: async () => (await group.encrypt(pt)).serialize() },
  };
}
