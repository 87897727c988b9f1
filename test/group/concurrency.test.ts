// Concurrent membership changes (DESIGN.md §4: "the server orders changes and assigns the epoch
// number"): a fake ordering service accepts a change only for the epoch right after its current
// one; the loser of a race applies the winner's bundle and re-proposes its change for the next
// epoch. Every remaining member must end in the same epoch with the same member list, and talk.
import { describe, expect, it } from 'vitest';
import { EpochConflictError, InvalidSignatureError, ReplayError, GroupSession, NotAMemberError, UnknownEpochError, type EpochBundle } from '../support/library.js';
import { expectThrow, type GroupDevice, memberSet, nameOf, restoreGroup, Rng, type SuiteNo, SUITES, World } from '../support/index.js';

interface Change {
  add?: string[];
  remove?: Array<{ userId: string; deviceId?: string }>;
}

/** The server's side: the current epoch, and the bundles queued per device, in accepted order. */
class OrderingService {
  readonly inbox = new Map<string, Uint8Array[]>();
  readonly accepted: Array<{ by: string; epoch: bigint; members: string[] }> = [];
  refused = 0;
  constructor(public epoch: bigint) {}

  /** Accepts the change if it is for exactly the next epoch; queues its bundle for every recipient. */
  propose(by: GroupDevice, epoch: bigint, eb: EpochBundle): boolean {
    if (epoch !== this.epoch + 1n) {
      this.refused++;
      return false;
    }
    this.epoch = epoch;
    // every recipient, and the proposer itself (the echo tells it its change was ordered)
    for (const name of [by.name, ...eb.recipients.map(nameOf)]) {
      this.inbox.set(name, [...(this.inbox.get(name) ?? []), eb.bundle]);
    }
    this.accepted.push({ by: by.name, epoch, members: [by.name, ...eb.recipients.map(nameOf)].sort() });
    return true;
  }

  take(name: string): Uint8Array[] {
    const queued = this.inbox.get(name) ?? [];
    this.inbox.delete(name);
    return queued;
  }
}

/** A member device's client: applies what the service delivered, proposes, re-proposes when refused. */
class Client {
  constructor(
    readonly w: World,
    readonly d: GroupDevice,
    readonly service: OrderingService,
    private readonly persist: boolean,
  ) {}

  drain(): void {
    for (const bundle of this.service.take(this.d.name)) {
      if (this.d.session) this.d.session.applyBundle(bundle, this.w.now);
      else this.d.session = GroupSession.join(this.d.account, bundle, { userId: this.d.userId, deviceId: this.d.deviceId, now: this.w.now });
      if (this.persist) this.d.session = restoreGroup(this.d);
    }
  }

  /** Makes the change locally for the next epoch it knows of (not yet sent to the service). */
  prepare(change: Change): { epoch: bigint; eb: EpochBundle } {
    const session = this.d.session as GroupSession;
    const epoch = session.epoch + 1n;
    const eb = session.changeMembers({
      add: (change.add ?? []).map((n) => this.w.device(n).info),
      ...(change.remove ? { remove: change.remove } : {}),
      epoch,
      now: this.w.now,
    });
    if (this.persist) this.d.session = restoreGroup(this.d);
    return { epoch, eb };
  }

  /**
   * Sends a prepared change; when refused, abandons the local proposal, applies what the service
   * delivered meanwhile (the winner's bundle) and re-makes the change on top of it.
   */
  submit(change: Change, prepared = this.prepare(change)): number {
    let attempts = 1;
    let p = prepared;
    while (!this.service.propose(this.d, p.epoch, p.eb)) {
      this.d.session!.abandonProposal();
      if (this.persist) this.d.session = restoreGroup(this.d);
      this.drain();
      expect(this.d.session!.epoch, `${this.d.name} caught up with the service`).toBe(this.service.epoch);
      p = this.prepare(change);
      attempts++;
      if (attempts > 20) throw new Error(`${this.d.name}: no progress`);
    }
    return attempts;
  }
}

function setUp(suite: SuiteNo, names: string[], persist: boolean): { w: World; service: OrderingService; client: (n: string) => Client } {
  const w = new World(suite, { persist });
  w.create(names[0]!, names.slice(1));
  const service = new OrderingService(w.epoch);
  const clients = new Map<string, Client>();
  const client = (n: string): Client => {
    let c = clients.get(n);
    if (!c) clients.set(n, (c = new Client(w, w.device(n), service, persist)));
    return c;
  };
  return { w, service, client };
}

/** Delivers everything queued, then checks that the members of the last accepted epoch agree and talk. */
function settle(w: World, service: OrderingService, client: (n: string) => Client): void {
  const last = service.accepted.at(-1)!;
  for (const n of last.members) client(n).drain();
  w.members = last.members;
  w.epoch = service.epoch;
  w.checkConsistent();
  const lists = new Set(last.members.map((n) => JSON.stringify(memberSet(w.get(n).session!.members))));
  expect(lists.size).toBe(1);
  w.allTalk('after settling:');
}

describe.each(SUITES)('concurrent membership changes, suite %i', (suite: SuiteNo) => {
  it('two members change the group at once: the loser applies the winner, re-proposes, and everyone converges', () => {
    const { w, service, client } = setUp(suite, ['alice/phone', 'bob/phone', 'carol/phone', 'dave/phone'], true);
    w.allTalk('epoch 0:');
    // Bob adds erin and carol removes dave, both on top of epoch 0, both for epoch 1.
    const bobChange: Change = { add: ['erin/phone'] };
    const carolChange: Change = { remove: [{ userId: 'dave' }] };
    const bobPrepared = client('bob/phone').prepare(bobChange);
    const carolPrepared = client('carol/phone').prepare(carolChange);
    expect(bobPrepared.epoch).toBe(1n);
    expect(carolPrepared.epoch).toBe(1n);
    // The service sees bob's first.
    expect(client('bob/phone').submit(bobChange, bobPrepared)).toBe(1);
    expect(client('carol/phone').submit(carolChange, carolPrepared)).toBe(2);
    expect(service.refused).toBe(1);
    expect(service.accepted.map((a) => [a.by, a.epoch])).toEqual([
      ['bob/phone', 1n],
      ['carol/phone', 2n],
    ]);
    settle(w, service, client);
    expect(w.epoch).toBe(2n);
    expect(w.members).toEqual(['alice/phone', 'bob/phone', 'carol/phone', 'erin/phone']);
    // Dave took part in epoch 1 (bob's change) but not in epoch 2.
    client('dave/phone').drain();
    const dave = w.get('dave/phone');
    expect(dave.session!.epoch).toBe(1n);
    expectThrow(() => dave.session!.decrypt(w.send('alice/phone').wire), UnknownEpochError);
    // Erin joined at epoch 1 and moved to 2.
    expect(w.get('erin/phone').session!.epochs).toEqual([2n, 1n]);
  });

  it('random races over several rounds (three proposers per round, random service order) converge', () => {
    const rng = new Rng(`group-races/${suite}`);
    const names = ['u0/a', 'u1/a', 'u1/b', 'u2/a', 'u3/a', 'u4/a'];
    const { w, service, client } = setUp(suite, names, suite === 2);
    let fresh = 0;
    for (let round = 0; round < 3; round++) {
      const members = service.accepted.at(-1)?.members ?? [...w.members];
      const proposers = rng.shuffle([...members]).slice(0, 3);
      // Each proposer adds a new device and/or removes a member that proposes nothing this round.
      const bystanders = members.filter((n) => !proposers.includes(n));
      const plans = proposers.map((p) => {
        const change: Change = { add: [`new${fresh++}/${rng.pick(['a', 'b'])}`] };
        if (bystanders.length > 2 && rng.bool()) {
          const victim = bystanders.splice(rng.int(0, bystanders.length - 1), 1)[0]!;
          change.remove = [{ userId: victim.split('/')[0]!, deviceId: victim.split('/')[1]! }];
        }
        for (const n of [p]) client(n).drain();
        return { p, change, prepared: client(p).prepare(change) };
      });
      for (const { p, change, prepared } of rng.shuffle(plans)) client(p).submit(change, prepared);
      settle(w, service, client);
    }
    expect(service.accepted).toHaveLength(9);
    expect(service.refused).toBeGreaterThanOrEqual(6); // every round: the two later proposers lose at least once
  });

  it("the loser abandons its refused epoch and applies the winner's; its messages of the refused epoch fail with a typed error", () => {
    const w = new World(suite, { persist: true });
    w.create('alice/phone', ['bob/phone', 'carol/phone']);
    const bob = w.get('bob/phone');
    const carol = w.get('carol/phone');
    const aliceAtEpoch0 = restoreGroup(w.get('alice/phone'));
    const winner = bob.session!.changeMembers({ add: [w.device('dave/phone').info], epoch: 1, now: w.now });
    carol.session!.changeMembers({ remove: [{ userId: 'alice' }], epoch: 1, now: w.now }); // the server refuses it
    const lost = w.send('carol/phone', 'sent in the refused epoch');
    carol.session = restoreGroup(carol);
    // Without abandoning the refused proposal first, the winner's bundle is a conflict.
    expectThrow(() => carol.session!.applyBundle(winner.bundle, w.now), EpochConflictError);
    carol.session.abandonProposal();
    carol.session.applyBundle(winner.bundle, w.now);
    expect(carol.session.epoch).toBe(1n);
    expect(carol.session.epochs).toEqual([1n, 0n]);
    expect(memberSet(carol.session.members)).toEqual(memberSet(bob.session!.members));
    w.get('alice/phone').session!.applyBundle(winner.bundle, w.now);
    w.get('dave/phone').session = GroupSession.join(w.get('dave/phone').account, winner.bundle, { userId: 'dave', deviceId: 'phone', now: w.now });
    bob.session!.applyBundle(winner.bundle, w.now); // the echo
    w.members = ['alice/phone', 'bob/phone', 'carol/phone', 'dave/phone'];
    w.epoch = 1n;
    w.checkConsistent();
    // What carol sent in her refused epoch is unreadable, with a typed error (and changes nothing:
    // the genuine message with the same index decrypts next): it is signed for the refused epoch's
    // bundle, which the others never had. (Its member index, carol's position in her own list, may
    // be the receiver's own position in the winner's: then it is refused as the receiver's own.)
    for (const n of ['alice/phone', 'bob/phone', 'dave/phone']) expectThrow(() => w.get(n).session!.decrypt(lost.wire), InvalidSignatureError, ReplayError);
    w.allTalk('after the race:');
    // Once applied (by bob: after the echo), an epoch is never replaced by another bundle for it.
    const rival = aliceAtEpoch0.changeMembers({ add: [w.device('erin/phone').info], epoch: 1, now: w.now }).bundle;
    for (const n of ['bob/phone', 'carol/phone', 'dave/phone']) {
      const before = w.get(n).session!.serialize();
      // (dave is not in the rival's list at all)
      expectThrow(() => w.get(n).session!.applyBundle(rival, w.now), ...(n === 'dave/phone' ? [NotAMemberError] : [EpochConflictError]));
      expect(w.get(n).session!.serialize()).toEqual(before);
    }
    w.allTalk('after the rival bundle:');
  });
});
