// Multi-device fan-out (DESIGN.md §4 "Multiple devices", docs/protocol-api.md): one one-to-one
// copy per device session, the sender's own other devices included; sessions still waiting for
// their AcceptMsg come back in `pending`. And the group bundle's real delivery path: a
// GroupPreKeyBundle fanned out through one-to-one sessions, joined from the decrypted bytes.
import { create } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { Account, GroupSession, InboundSession, OutboundSession, type DeviceTarget, type Session, encryptForDevices } from '../support/library.js';
import { E2eeAddressSchema, PeerUserSchema, type E2eeAddress } from '../../src/proto/gen/wire_pb.js';
import { equalBytes, expectGroupDecrypts, expectThrow, type GroupDevice, newDevice, type SuiteNo, SUITES, T0, utf8, World } from '../support/index.js';

const userAddress = (userId: string, deviceId: string): E2eeAddress =>
  create(E2eeAddressSchema, { domain: 'example.org', peer: { case: 'user', value: create(PeerUserSchema, { userId, deviceId }) } });

interface Link {
  from: Account;
  to: GroupDevice;
  out: Session; // the sender's side
  in: Session; // the receiving device's side
  accept: Uint8Array;
}

/** A one-to-one session from `from` to `to` (addresses in the accounts); completed unless told otherwise. */
function link(from: Account, to: GroupDevice, complete = true): Link {
  const { session: out, invite } = OutboundSession.initiate(from, to.account.preKeyBundle());
  const { session: inbound, accept } = InboundSession.accept(to.account, invite);
  if (complete) out.complete(from, accept);
  return { from, to, out, in: inbound, accept };
}

describe.each(SUITES)('multi-device fan-out, suite %i', (suite: SuiteNo) => {
  const device = (userId: string, deviceId: string): GroupDevice => newDevice(suite, userId, deviceId, Account.create({ suite, now: T0, address: userAddress(userId, deviceId) }));

  it('encryptForDevices: one copy per ready device session (own devices flagged), not-ready ones in pending', () => {
    const alicePhone = device('alice', 'phone');
    const peers = [device('bob', 'phone'), device('bob', 'laptop'), device('alice', 'laptop'), device('carol', 'phone'), device('alice', 'tablet')];
    const links = peers.map((d) => link(alicePhone.account, d, d.name !== 'carol/phone' && d.name !== 'alice/tablet'));
    const targets: DeviceTarget[] = links.map((l) => ({ session: l.out, ...(l.to.userId === 'alice' ? { ownDevice: true } : {}) }));
    const overridden = userAddress('bob', 'laptop-via-relay');
    targets[1] = { ...targets[1]!, address: overridden };

    const plain = utf8('to every device');
    const { messages, pending } = encryptForDevices(targets, plain);
    expect(messages).toHaveLength(3);
    expect(pending).toEqual([targets[3], targets[4]]); // the very target objects, in order
    for (const [i, l] of [0, 1, 2].map((i) => [i, links[i]!] as const)) {
      const m = messages[i]!;
      expect(m.sessionId).toBe(l.out.sessionId);
      expect(m.ownDevice).toBe(l.to.userId === 'alice');
      expect(m.address).toEqual(i === 1 ? overridden : userAddress(l.to.userId, l.to.deviceId));
      expect(equalBytes(l.in.decrypt(m.wire), plain)).toBe(true);
      // A copy is bound to its session: no other device's session takes it.
      expectThrow(() => links[(i + 1) % 3]!.in.decrypt(m.wire));
    }
    // Once the AcceptMsgs arrive the pending ones go out (nothing was consumed for them meanwhile).
    for (const l of links.slice(3)) l.out.complete(l.from, l.accept);
    const later = encryptForDevices(pending, plain);
    expect(later.pending).toEqual([]);
    expect(later.messages.map((m) => m.ownDevice)).toEqual([false, true]);
    for (const [i, m] of later.messages.entries()) expect(equalBytes(links[3 + i]!.in.decrypt(m.wire), plain)).toBe(true);
    // Nothing ready, nothing sent.
    expect(encryptForDevices([], plain)).toEqual({ messages: [], pending: [] });
  });

  it('a GroupPreKeyBundle delivered through one-to-one sessions (fan-out to every member device, pending ones later)', () => {
    const w = new World(suite);
    const alicePhone = w.device('alice/phone');
    const others = ['alice/laptop', 'bob/phone', 'bob/tablet', 'carol/phone'].map((n) => w.device(n));
    const links = new Map(others.map((d) => [d.name, link(alicePhone.account, d, d.name !== 'bob/tablet')]));
    const created = GroupSession.create(alicePhone.account, { groupId: w.groupId, userId: 'alice', deviceId: 'phone', members: others.map((d) => d.info) });
    alicePhone.session = created.session;
    const targets = created.recipients.map((r) => {
      const l = links.get(`${r.userId}/${r.deviceId}`)!;
      return { session: l.out, ownDevice: r.userId === 'alice' };
    });
    const { messages, pending } = encryptForDevices(targets, created.bundle);
    expect(messages).toHaveLength(3);
    expect(pending.map((p) => p.session)).toEqual([links.get('bob/tablet')!.out]);
    const joinFrom = (d: GroupDevice, wire: Uint8Array): void => {
      const bundle = links.get(d.name)!.in.decrypt(wire);
      d.session = GroupSession.join(d.account, bundle, { userId: d.userId, deviceId: d.deviceId, now: w.now });
    };
    for (const m of messages) joinFrom(others.find((d) => links.get(d.name)!.out.sessionId === m.sessionId)!, m.wire);
    // The group works for the devices that have joined; bob's tablet joins when its session is ready.
    w.members = ['alice/phone', 'alice/laptop', 'bob/phone', 'carol/phone'].sort();
    const beforeTablet = w.allTalk('before the tablet:');
    const tablet = links.get('bob/tablet')!;
    tablet.out.complete(tablet.from, tablet.accept);
    const resent = encryptForDevices(pending, created.bundle);
    expect(resent.pending).toEqual([]);
    joinFrom(w.get('bob/tablet'), resent.messages[0]!.wire);
    w.members = [...w.members, 'bob/tablet'].sort();
    w.checkConsistent();
    // The server queued the group's messages for the tablet meanwhile: it reads them now (each
    // sender's first message of the epoch carries that sender's key).
    for (const m of beforeTablet) expectGroupDecrypts(w.get('bob/tablet'), m, 'sent before the tablet joined:');
    w.allTalk('all five:');
  });
});
