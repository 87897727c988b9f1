// libsignal one-to-one conversations (Node binding): Alice processes Bob's PQXDH bundle
// (processPreKeyBundle), then signalEncrypt / signalDecrypt(PreKey). The byte count of a message
// is the length of CiphertextMessage.serialize(): a PreKeySignalMessage (type 3, carrying the PQXDH
// header with the Kyber ciphertext) until Alice has heard from Bob, a SignalMessage (type 2,
// carrying the SPQR chunk) after. There is no handshake message: the first message is the setup.
import { equalBytes } from '../inputs.mjs';
import { deviceFactory, pairOps } from './libsignal-device.mjs';

export function libsignalPair(S, { withOneTimePreKey = false } = {}) {
  const device = deviceFactory(S);
  let n = 0;
  return {
    async open() {
      // New devices per conversation: a session starts from nothing on both sides.
      const alice = device(`alice-${n}`);
      const bob = device(`bob-${n++}`);
      await Promise.all([alice.ready, bob.ready]);
      const ops = { a: pairOps(S, alice, bob), b: pairOps(S, bob, alice) };
      await ops.a.process(bob.bundle({ withOneTimePreKey }));
      return {
        handshakeBytes: 0,
        handshakeParts: { bundle: bob.bundleBytes() },
        async send(side, plaintext) {
          const msg = await ops[side].encrypt(plaintext);
          const wire = msg.serialize();
          const got = await ops[side].decrypt(msg.type(), wire);
          if (!equalBytes(got, plaintext)) throw new Error('libsignal: message did not decrypt to its plaintext');
          return wire.length;
        },
      };
    },
  };
}
