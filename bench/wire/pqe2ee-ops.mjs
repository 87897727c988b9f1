// The pqe2ee operations the rate rows time, each on state built here once (outside every timer),
// the same work as bench/cases/protocol.mjs and bench/cases/group.mjs measure:
//   setup         initiate → accept → complete → first 100 B message encrypted and decrypted,
//                 from an OPK-less bundle (Bob remembers the last 1000 invites, as deployed)
//   encrypt       Session.encrypt in a steady sending chain (self-step every 512 included)
//   decrypt       Session.decrypt of in-order messages, pre-generated untimed (a message decrypts once)
//   groupEncrypt  GroupSession.encrypt in a 3-device 'sender-key' group (chain step, AES-256-CTR,
//                 one Ed25519 signature; the epoch's first message, with its identity-signed
//                 announcement, falls in the warm-up)
import { body } from './conversation.mjs';
import { pqe2eeAccounts, pqe2eeHandshake } from './pqe2ee-pair.mjs';
import { pqe2eeGroup } from './pqe2ee-group.mjs';

export function pqe2eeOps(P, suite) {
  const accounts = pqe2eeAccounts(P, suite);
  const bundle = accounts.bob.preKeyBundle({ withOneTimePreKey: false });
  const pt = body();
  const enc = pqe2eeHandshake(P, accounts, bundle);
  const dec = pqe2eeHandshake(P, accounts, bundle);
  let pool = [];
  let pos = 0;
  const group = pqe2eeGroup(P, suite, `wire-rate-${suite}`);
  return {
    setup: {
      op: () => {
        const { a, b } = pqe2eeHandshake(P, accounts, bundle);
        b.decrypt(a.encrypt(pt));
      },
    },
    encrypt: { op: () => enc.a.encrypt(pt) },
    decrypt: {
      op: () => dec.b.decrypt(pool[pos++]),
      prepare: (count) => {
        pool = Array.from({ length: count }, () => dec.a.encrypt(pt));
        pos = 0;
      },
    },
    groupEncrypt: { op: () => group.sender.encrypt(pt) },
  };
}
