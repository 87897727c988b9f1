// Group-session cases of the implementation under test (docs/protocol-api.md "Group sessions"), for
// cipher suites 1, 2 and 3. They need the package entry dist/protocol.js (the development stub has no
// protocol layer); fixtures (accounts, groups, one-to-one sessions) are built lazily by the first
// selected case of a suite, in its correctness check, so unselected group cases cost nothing.
//
//   group.suiteN.encrypt.100B        GroupSession.encrypt: chain step + AES-256-GCM + one identity
//                                    signature (3-device group; the cost does not depend on size)
//   group.suiteN.decrypt.100B        GroupSession.decrypt of in-order messages of one sender:
//                                    signature verify + chain step + AES-256-GCM; messages decrypt
//                                    once, so a pool is pre-generated and topped up outside the timer
//   group.suiteN.change.{10,50,200}  GroupSession.changeMembers adding one device to a group of N
//                                    devices: one new epoch (fresh seed, N+1 chain keys derived) and
//                                    one GroupPreKeyBundle listing N+1 devices, signed once
//   group.suiteN.distribute.{10,50,200}  the real distribution cost of that change: the bundle
//                                    encrypted once per recipient device (N of them) with
//                                    Session.encrypt on N established one-to-one sessions
//
// Wire sizes (E2eeMsg of a 100 B group message, bundle per N) go into each case's note once the
// fixture exists (results rows in latest.json carry the notes).
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { caseFactory, OURS } from './case.mjs';
import { fixture, equalBytes as eq } from '../inputs.mjs';
import { ROOT_DIR } from '../config.mjs';

export const GROUP_SUITES = [1, 2, 3];
export const GROUP_PLAINTEXT_BYTES = 100;
export const GROUP_SIZES = [10, 50, 200];
const NOW = Date.UTC(2026, 0, 1);
const POOL_CHUNK = 256;
const ENTRY = path.join(ROOT_DIR, 'dist', 'index.js');

const ENCRYPT_NOTE = 'one sending chain in a 3-device group: HMAC chain step, HKDF, AES-256-GCM, one identity signature per message';
const DECRYPT_NOTE =
  "in-order messages of one sender: signature verify, chain step, AES-256-GCM; a message decrypts once, so the sender's " +
  'messages are pre-generated into a pool, topped up before each timed loop (benchmark.js setup, untimed)';
const CHANGE_NOTE =
  'changeMembers on a group of N devices adding one device: the group has N devices plus the one being added, and the ' +
  'device added by the previous call is removed in the same change so the size stays fixed; per op: fresh seed, N+1 ' +
  'chain keys (HKDF), canonical member list, bundle encoded, hashed and signed once; previous epochs beyond 3 pruned';
const DISTRIBUTE_NOTE =
  "one op = the change's GroupPreKeyBundle encrypted for each of its N recipient devices with Session.encrypt on N " +
  'established one-to-one sessions (steady chains; self-step every 512 messages included); decryption and transport not included';

const throwsCode = (fn, code) => {
  try {
    fn();
    return false;
  } catch (err) {
    return err?.code === code;
  }
};

/** The protocol API, or the reason it is unavailable. */
async function loadApi(cryptoApi) {
  if (cryptoApi?.STUB) return { P: null, reason: 'the development stub has no protocol layer (build dist/ to measure it)' };
  try {
    const P = await import(pathToFileURL(ENTRY).href);
    if (typeof P.ready === 'function') await P.ready();
    if (typeof P.GroupSession !== 'function') return { P: null, reason: 'dist/protocol.js does not export GroupSession' };
    return { P, reason: null };
  } catch (err) {
    return { P: null, reason: `${err?.name ?? 'Error'}: ${err?.message ?? err}` };
  }
}

const member = (userId, deviceId, signPublicKey) => ({ userId, deviceId, signPublicKey });

/** Per-suite fixtures, built on first use (in a check, outside any timer). */
function suiteFixture(P, suite) {
  let built = null;
  return () => {
    if (built) return built;
    const pt = fixture(GROUP_PLAINTEXT_BYTES, 700 + suite);
    const acc = (name) => ({ name, account: P.Account.create({ suite, now: NOW }) });
    const info = (d) => member(d.name, 'dev', d.account.identityPublicKey.signPublicKey);
    const join = (d, bundle) => P.GroupSession.join(d.account, bundle, { userId: d.name, deviceId: 'dev', now: NOW });

    // A 3-device group: the sender, the receiver, a third member.
    const [alice, bob, carol] = ['alice', 'bob', 'carol'].map(acc);
    const created = P.GroupSession.create(alice.account, { groupId: 'bench-group', userId: 'alice', deviceId: 'dev', members: [info(bob), info(carol)] });
    const sender = created.session;
    const encReceiver = join(bob, created.bundle);
    const _decReceiver = join(carol, created.bundle);
    // Wire sizes: the first message, and the largest of the next 1000 (the varint index grows).
    const first = sender.encrypt(pt);
    const sizes = {
      suite,
      suiteName: alice.account.suite.params.name,
      msgBytes: first.length,
      msgOverhead: first.length - pt.length,
      msgOverheadMax: first.length - pt.length,
      bundle: {},
    };
    for (let i = 0; i < 1000; i++) sizes.msgOverheadMax = Math.max(sizes.msgOverheadMax, sender.encrypt(pt).length - pt.length);
    // Encrypt: a separate group whose chain only the timed loop advances.
    const encSender = P.GroupSession.create(alice.account, { groupId: 'bench-group-enc', userId: 'alice', deviceId: 'dev', members: [info(bob)] });
    const encCheck = join(bob, encSender.bundle);

    // Decrypt pool: the sender's messages, consumed in order by carol.
    const decSender = P.GroupSession.create(alice.account, { groupId: 'bench-group-dec', userId: 'alice', deviceId: 'dev', members: [info(carol)] });
    const decSession = join(carol, decSender.bundle);
    let pool = [];
    let pos = 0;
    const ensure = (n) => {
      if (pool.length - pos >= n) return;
      pool = pool.slice(pos);
      pos = 0;
      const want = Math.max(n, POOL_CHUNK);
      while (pool.length < want) pool.push(decSender.session.encrypt(pt));
    };

    // Changes: per N, a changer with N-1 other member devices (signature keys only: the changer
    // needs nothing else of them) and two extra devices added alternately.
    const sigKey = () => alice.account.suite.sig.keygen().publicKey;
    const responder = P.Account.create({ suite, now: NOW });
    const responderBundle = responder.preKeyBundle({ withOneTimePreKey: false });
    const changes = new Map();
    for (const n of GROUP_SIZES) {
      const others = Array.from({ length: n - 1 }, (_, i) => member(`m${String(i).padStart(3, '0')}`, 'dev', sigKey()));
      const extras = [member('extra', 'a', sigKey()), member('extra', 'b', sigKey())];
      const g = P.GroupSession.create(alice.account, { groupId: `bench-change-${n}`, userId: 'alice', deviceId: 'dev', members: [...others, extras[0]] });
      let epoch = 0n;
      let k = 0;
      const change = () => {
        const add = extras[(k + 1) % 2];
        const remove = extras[k % 2];
        k++;
        return g.session.changeMembers({ add: [add], remove: [{ userId: remove.userId, deviceId: remove.deviceId }], epoch: ++epoch, now: NOW });
      };
      const sample = change();
      sizes.bundle[n] = sample.bundle.length;
      // N one-to-one sessions from the changer (one per recipient device), all to one responder
      // account: the sender's cost is that of N distinct devices.
      const sessions = sample.recipients.map(() => {
        const { session, invite } = P.OutboundSession.initiate(alice.account, responderBundle);
        const { session: inbound, accept } = P.InboundSession.accept(responder, invite);
        session.complete(alice.account, accept);
        return { session, inbound };
      });
      changes.set(n, { g, change, sample, sessions, recipients: sample.recipients.length });
    }
    built = { pt, sender, encReceiver, first, sizes, encSender: encSender.session, encCheck, decSession, ensure, next: () => pool[pos++], changes, join };
    return built;
  };
}

const sizeNote = (s) =>
  `suite ${s.suite} wire sizes: E2eeMsg of a ${GROUP_PLAINTEXT_BYTES} B group message = ${s.msgBytes} B (overhead ${s.msgOverhead} B, up to ` +
  `${s.msgOverheadMax} B as the message index grows); GroupPreKeyBundle ${GROUP_SIZES.map((n) => `N=${n}: ${s.bundle[n]} B`).join(', ')}`;

/** Returns the group cases (an "unavailable" case when the protocol API cannot be loaded). */
export async function groupCases(cryptoApi) {
  const c = caseFactory(OURS);
  const { P, reason } = await loadApi(cryptoApi);
  if (cryptoApi?.STUB) return []; // a stub run says so everywhere already; it has no protocol layer
  if (!P) {
    return [
      c('group.unavailable', () => {}, {
        check: () => {
          throw new Error(reason);
        },
      }),
    ];
  }
  const cases = [];
  for (const suite of GROUP_SUITES) {
    const pre = `group.suite${suite}`;
    const fx = suiteFixture(P, suite);
    const B = GROUP_PLAINTEXT_BYTES;
    // Each case gets its suite's wire sizes appended to its note once the fixture exists.
    const withSizes = (kase, note) => {
      const check = kase.check;
      kase.check = () => {
        const ok = check();
        kase.note = `${note} | ${sizeNote(fx().sizes)}`;
        return ok;
      };
      return kase;
    };

    let f = null; // the fixture, once a check has built it (fn and setup run only after a passing check)
    cases.push(
      withSizes(
        c(`${pre}.encrypt.${B}B`, () => f.encSender.encrypt(f.pt), {
          bytes: B,
          note: ENCRYPT_NOTE,
          check: () => {
            f = fx();
            const r = f.encCheck.decrypt(f.encSender.encrypt(f.pt));
            return eq(r.plaintext, f.pt) && r.sender.userId === 'alice' && eq(f.encReceiver.decrypt(f.first).plaintext, f.pt);
          },
        }),
        ENCRYPT_NOTE,
      ),
    );

    cases.push(
      withSizes(
        c(`${pre}.decrypt.${B}B`, () => f.decSession.decrypt(f.next()), {
          bytes: B,
          note: DECRYPT_NOTE,
          setup: (count) => f.ensure(count),
          check: () => {
            f = fx();
            f.ensure(1);
            const wire = f.next();
            // a message decrypts once: a replay must be refused (the reason the pool exists)
            return eq(f.decSession.decrypt(wire).plaintext, f.pt) && throwsCode(() => f.decSession.decrypt(wire), 'ERR_REPLAY');
          },
        }),
        DECRYPT_NOTE,
      ),
    );

    for (const n of GROUP_SIZES) {
      let ch = null;
      cases.push(
        withSizes(
          c(`${pre}.change.${n}`, () => ch.change(), {
            note: CHANGE_NOTE,
            check: () => {
              ch = fx().changes.get(n);
              const { bundle, recipients } = ch.change();
              // the bundle lists N+1 devices and goes to N of them; the changer moved to the new epoch
              return recipients.length === n && ch.g.session.members.length === n + 1 && ch.g.session.epoch > 0n && bundle.length > 0;
            },
          }),
          CHANGE_NOTE,
        ),
      );

      let dist = null;
      cases.push(
        withSizes(
          c(
            `${pre}.distribute.${n}`,
            () => {
              const bundle = dist.sample.bundle;
              for (const s of dist.sessions) s.session.encrypt(bundle);
            },
            {
              note: DISTRIBUTE_NOTE,
              check: () => {
                dist = fx().changes.get(n);
                const bundle = dist.sample.bundle;
                if (dist.sessions.length !== n) return false;
                // every recipient's copy decrypts to the bundle (checked on the first and last session)
                return [dist.sessions[0], dist.sessions[n - 1]].every((s) => eq(s.inbound.decrypt(s.session.encrypt(bundle)), bundle));
              },
            },
          ),
          DISTRIBUTE_NOTE,
        ),
      );
    }
  }
  return cases;
}
