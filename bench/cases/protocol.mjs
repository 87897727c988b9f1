// Protocol cases of the implementation under test (one-to-one sessions, docs/protocol-api.md), for
// cipher suites 1, 2 and 3, plus the wire sizes of the handshake and of a message (not timed).
// They need the package entry dist/protocol.js; the development stub has no protocol layer.
//
//   protocol.suiteN.setup            OutboundSession.initiate → InboundSession.accept → complete →
//                                    first 100 B message encrypted (A) and decrypted (B)
//   protocol.suiteN.encrypt.100B     Session.encrypt in a steady sending chain
//   protocol.suiteN.decrypt.100B     Session.decrypt of the in-order messages of a steady chain
//   protocol.suiteN.roundtrip.100B   A→B then B→A: every message starts a new ratchet step
import { caseFactory, OURS } from './case.mjs';
import { fixture, equalBytes as eq } from '../inputs.mjs';

export const PROTOCOL_SUITES = [1, 2, 3];
export const PROTOCOL_PLAINTEXT_BYTES = 100;
// Messages generated per refill of the decrypt pool (at least the loop's count).
const POOL_CHUNK = 256;
const OPS = ['setup', `encrypt.${PROTOCOL_PLAINTEXT_BYTES}B`, `decrypt.${PROTOCOL_PLAINTEXT_BYTES}B`, `roundtrip.${PROTOCOL_PLAINTEXT_BYTES}B`];
/** Every protocol operation id (e.g. "protocol.suite1.setup"), known without building the cases. */
export const PROTOCOL_OPS = PROTOCOL_SUITES.flatMap((s) => OPS.map((op) => `protocol.suite${s}.${op}`));
const NOW = Date.UTC(2026, 0, 1);

const SETUP_NOTE =
  'bundles without a one-time pre-key: Bob has only 100 OPKs and each accept consumes one; with an OPK, ' +
  'initiate does one more KEM encaps and accept one more decaps (see suiteN.kem.*), otherwise the same work. ' +
  'Account creation is not included; Bob remembers each accepted invite (the last 1000, as in deployment).';
const ENCRYPT_NOTE = 'steady sending chain: every 512 messages the chain self-steps (KEM keygen + encaps), included';
const DECRYPT_NOTE =
  'in-order messages of a steady chain (a new chain, with a KEM decaps, every 512); messages decrypt once, so a ' +
  'pool is pre-generated on the sending side and topped up before each timed loop (benchmark.js setup, untimed)';
const ROUNDTRIP_NOTE = 'A encrypts, B decrypts, B encrypts, A decrypts: each message starts a new ratchet step (KEM keygen + encaps, decaps)';

/** A session pair after the full handshake, with the first message already exchanged. */
function sessionPair(P, alice, bob, bundle, plaintext) {
  const { session: a, invite } = P.OutboundSession.initiate(alice, bundle);
  const { session: b, accept } = P.InboundSession.accept(bob, invite);
  a.complete(alice, accept);
  const first = a.encrypt(plaintext);
  const decrypted = b.decrypt(first);
  return { a, b, invite, accept, first, decrypted };
}

/** Messages of `sender`'s chain, consumed in order; refilled only when asked (outside the timer). */
function messagePool(sender, plaintext) {
  let pool = [];
  let pos = 0;
  return {
    ensure(n) {
      if (pool.length - pos >= n) return;
      pool = pool.slice(pos);
      pos = 0;
      const want = Math.max(n, POOL_CHUNK);
      while (pool.length < want) pool.push(sender.encrypt(plaintext));
    },
    next: () => pool[pos++],
  };
}

const throwsCode = (fn, code) => {
  try {
    fn();
    return false;
  } catch (err) {
    return err?.code === code;
  }
};

/**
 * Wire sizes in bytes (not timed): the serialized InviteMsg (with and without a one-time pre-key),
 * AcceptMsg, and E2eeMsg minus the plaintext for a 100-byte plaintext — the first message of a
 * session and the range over a whole 512-message chain plus the self-stepped next chain (varint
 * fields such as the message index grow by a few bytes).
 */
function wireSizes(P, suite, plaintext) {
  const alice = P.Account.create({ suite, now: NOW });
  const bob = P.Account.create({ suite, now: NOW });
  const withOpk = sessionPair(P, alice, bob, bob.preKeyBundle(), plaintext);
  const noOpk = sessionPair(P, alice, bob, bob.preKeyBundle({ withOneTimePreKey: false }), plaintext);
  const n = plaintext.length;
  let min = noOpk.first.length - n,
    max = min;
  for (let i = 1; i < 520; i++) {
    const m = noOpk.a.encrypt(plaintext).length - n;
    if (m < min) min = m;
    if (m > max) max = m;
  }
  const b2a = noOpk.b.encrypt(plaintext).length - n; // the reply: first message of B's first chain
  return {
    suite,
    suiteName: bob.suite.params.name,
    kemName: bob.suite.params.kemName,
    sigName: bob.suite.params.sigName,
    bundle: bob.preKeyBundle().length,
    bundleNoOpk: bob.preKeyBundle({ withOneTimePreKey: false }).length,
    invite: withOpk.invite.length,
    inviteNoOpk: noOpk.invite.length,
    accept: noOpk.accept.length,
    msgOverheadFirst: noOpk.first.length - n,
    msgOverheadMin: Math.min(min, b2a),
    msgOverheadMax: Math.max(max, b2a),
    plaintextBytes: n,
  };
}

/** Returns { cases, info }; info goes into results.protocol (wire sizes, notes). */
export function protocolCases(P) {
  const c = caseFactory(OURS);
  const cases = [];
  const wire = [];
  const pt = fixture(PROTOCOL_PLAINTEXT_BYTES, 600);
  const pt2 = fixture(PROTOCOL_PLAINTEXT_BYTES, 601);

  for (const suite of PROTOCOL_SUITES) {
    const pre = `protocol.suite${suite}`;
    const alice = P.Account.create({ suite, now: NOW });
    const bob = P.Account.create({ suite, now: NOW });
    const bundle = bob.preKeyBundle({ withOneTimePreKey: false });

    // Setup: a new session pair per call, from the same OPK-less bundle (each initiate makes a new
    // session id, base key and ciphertexts, so every invite is new to Bob).
    cases.push(
      c(
        `${pre}.setup`,
        () => {
          const { session: a, invite } = P.OutboundSession.initiate(alice, bundle);
          const { session: b, accept } = P.InboundSession.accept(bob, invite);
          a.complete(alice, accept);
          b.decrypt(a.encrypt(pt));
        },
        {
          note: SETUP_NOTE,
          check: () => {
            const opks = bob.oneTimePreKeyCount;
            const s = sessionPair(P, alice, bob, bob.preKeyBundle(), pt); // with an OPK: consumes one
            const t = sessionPair(P, alice, bob, bundle, pt); // as timed
            return (
              eq(s.decrypted, pt) &&
              eq(t.decrypted, pt) &&
              bob.oneTimePreKeyCount === opks - 1 &&
              s.a.sessionId === s.b.sessionId &&
              t.a.responded &&
              eq(t.a.decrypt(t.b.encrypt(pt2)), pt2)
            );
          },
        },
      ),
    );

    // Encrypt: one long-lived pair; the check's message makes the chain exist before timing.
    const enc = sessionPair(P, alice, bob, bundle, pt);
    cases.push(
      c(`${pre}.encrypt.${PROTOCOL_PLAINTEXT_BYTES}B`, () => enc.a.encrypt(pt), {
        bytes: PROTOCOL_PLAINTEXT_BYTES,
        note: ENCRYPT_NOTE,
        check: () => eq(enc.b.decrypt(enc.a.encrypt(pt)), pt),
      }),
    );

    // Decrypt: a fresh pair; A's messages are generated ahead into a pool that B consumes in order.
    const dec = sessionPair(P, alice, bob, bundle, pt);
    const pool = messagePool(dec.a, pt);
    cases.push(
      c(`${pre}.decrypt.${PROTOCOL_PLAINTEXT_BYTES}B`, () => dec.b.decrypt(pool.next()), {
        bytes: PROTOCOL_PLAINTEXT_BYTES,
        note: DECRYPT_NOTE,
        setup: (count) => pool.ensure(count),
        check: () => {
          pool.ensure(1);
          const wire = pool.next();
          // a message decrypts once: a replay must be refused (the reason the pool exists)
          return eq(dec.b.decrypt(wire), pt) && throwsCode(() => dec.b.decrypt(wire), 'ERR_REPLAY');
        },
      }),
    );

    // Roundtrip: one ping-pong turn on a long-lived pair.
    const rt = sessionPair(P, alice, bob, bundle, pt);
    cases.push(
      c(
        `${pre}.roundtrip.${PROTOCOL_PLAINTEXT_BYTES}B`,
        () => {
          rt.b.decrypt(rt.a.encrypt(pt));
          rt.a.decrypt(rt.b.encrypt(pt2));
        },
        {
          note: ROUNDTRIP_NOTE,
          check: () => eq(rt.b.decrypt(rt.a.encrypt(pt)), pt) && eq(rt.a.decrypt(rt.b.encrypt(pt2)), pt2),
        },
      ),
    );

    wire.push(wireSizes(P, suite, pt));
  }
  return {
    cases,
    info: {
      available: true,
      plaintextBytes: PROTOCOL_PLAINTEXT_BYTES,
      wire,
      notes: { setup: SETUP_NOTE, encrypt: ENCRYPT_NOTE, decrypt: DECRYPT_NOTE, roundtrip: ROUNDTRIP_NOTE },
    },
  };
}
