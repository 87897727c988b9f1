// End-to-end one-to-one scenarios against a real `pqe2ee server` process (SKISSM-style):
// one-to-one in every suite, one_to_many, many_to_one, many_to_many, adding a device, a session
// without one-time pre-key, invites crossing / from two initiators, disappearing messages.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect, registerUser, ResponseCode } from '../support/index.js';
import { drained, errorsOf, key, makeClient, memberKeys, sleep, sorted, tempDir, text, useServerProcess, waitForEpoch, waitUntil, type TestClient } from './harness.js';

const server = useServerProcess();

/** Links `count - 1` more devices to a new user; returns all its devices (first one first). */
async function userWithDevices(name: string, count: number, suite = 2): Promise<TestClient[]> {
  const first = await makeClient(server, `${name}1`, { suite });
  const devices = [first];
  for (let i = 2; i <= count; i++) devices.push(await makeClient(server, `${name}${i}`, { suite, linkTo: first }));
  return devices;
}

const idsOf = (messages: Array<{ messageId: string }>): string[] => messages.map((m) => m.messageId);

describe.each([1, 2, 3])('one-to-one, suite %i', (suite) => {
  it('alice and bob exchange messages both ways, matching fingerprints, no errors', async () => {
    const alice = await makeClient(server, 'alice', { suite });
    const bob = await makeClient(server, 'bob', { suite });
    expect(alice.client.suiteId).toBe(suite);

    const bobGets = bob.client.waitFor('one2one-message', () => true, 20_000);
    const first = await alice.client.sendMessage(bob.userId, 'hello bob');
    expect(first).toMatchObject({ sent: 0, pending: 1 });
    const got = await bobGets;
    expect(text(got.message.body)).toBe('hello bob');
    expect(got.message.messageId).toBe(first.messageId);
    expect(got.message.from).toEqual({ userId: alice.userId, deviceId: alice.deviceId });

    const aliceGets = alice.client.waitFor('one2one-message', () => true, 20_000);
    const reply = await bob.client.sendMessage(alice.userId, 'hello alice');
    expect(reply).toMatchObject({ sent: 1, pending: 0 });
    expect(text((await aliceGets).message.body)).toBe('hello alice');

    const second = await alice.client.sendMessage(bob.userId, 'second');
    expect(second).toMatchObject({ sent: 1, pending: 0 });
    await waitUntil(() => bob.one2one.length === 2, 'bob receiving the second message');

    expect(bob.one2oneTexts()).toEqual(['hello bob', 'second']);
    expect(alice.one2oneTexts()).toEqual(['hello alice']);
    const fp = await alice.client.fingerprint(bob.userId, bob.deviceId);
    expect(fp.replace(/ /g, '')).toMatch(/^[0-9]{60}$/);
    expect(await bob.client.fingerprint(alice.userId, alice.deviceId)).toBe(fp);
    expect((await bob.client.messages()).map((m) => text(m.body))).toEqual(['hello bob', 'second']);
    expect(errorsOf(alice, bob)).toEqual([]);
  });
});

describe('SKISSM-style multi-device scenarios (suite 2)', () => {
  it('one_to_many: one device sends to a user with 3 devices; each device gets every message once, in order', async () => {
    const alice = await makeClient(server, 'alice');
    const bobs = await userWithDevices('bob', 3);
    const sent: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await alice.client.sendMessage(bobs[0]!.userId, `o2m ${i}`);
      expect(r.sent + r.pending).toBe(3);
      sent.push(r.messageId);
    }
    await waitUntil(() => bobs.every((b) => b.one2one.length >= 3), 'every bob device receiving 3 messages');
    await drained(server, ...bobs); // anything extra (a duplicate) would have arrived before the sentinel
    for (const b of bobs) {
      expect(b.one2oneTexts()).toEqual(['o2m 0', 'o2m 1', 'o2m 2']);
      expect(idsOf(b.one2one)).toEqual(sent);
      expect(b.one2one.every((m) => m.from.userId === alice.userId && m.from.deviceId === alice.deviceId)).toBe(true);
    }
    expect(errorsOf(alice, ...bobs)).toEqual([]);
  });

  it('many_to_one: 3 devices of one user send to one device; it gets all 3, the senders get copies of each other', async () => {
    const alices = await userWithDevices('alice', 3);
    const bob = await makeClient(server, 'bob');
    for (const [i, a] of alices.entries()) await a.client.sendMessage(bob.userId, `m2o from ${i}`);
    await waitUntil(() => bob.one2one.length >= 3, 'bob receiving 3 messages');
    await waitUntil(() => alices.every((a) => a.otherDevice.length >= 2), 'each alice device receiving the copies of the 2 others');
    await drained(server, bob, ...alices);
    expect(sorted(bob.one2one.map((m) => `${m.from.deviceId}:${text(m.body)}`))).toEqual(sorted(alices.map((a, i) => `${a.deviceId}:m2o from ${i}`)));
    for (const [i, a] of alices.entries()) {
      expect(sorted(a.otherDevice.map((c) => text(c.message.body)))).toEqual(sorted([0, 1, 2].filter((j) => j !== i).map((j) => `m2o from ${j}`)));
      expect(a.otherDevice.every((c) => c.conversationUserId === bob.userId)).toBe(true);
      expect(a.one2one).toEqual([]);
    }
    expect(errorsOf(bob, ...alices)).toEqual([]);
  });

  it('many_to_many: 3 devices each, both directions; every device receives every message exactly once', async () => {
    const alices = await userWithDevices('alice', 3);
    const bobs = await userWithDevices('bob', 3);
    const aliceId = alices[0]!.userId;
    const bobId = bobs[0]!.userId;
    const fromAlice: string[] = [];
    const fromBob: string[] = [];
    for (let round = 0; round < 2; round++) {
      for (const [i, a] of alices.entries()) fromAlice.push((await a.client.sendMessage(bobId, `a${i} r${round}`)).messageId);
      for (const [i, b] of bobs.entries()) fromBob.push((await b.client.sendMessage(aliceId, `b${i} r${round}`)).messageId);
    }
    const all = [...alices, ...bobs];
    // Each device: 6 messages from the other user, and copies of the 4 its siblings sent.
    await waitUntil(() => all.every((d) => d.one2one.length >= 6 && d.otherDevice.length >= 4), 'every device receiving 6 messages and 4 copies', 30_000);
    await drained(server, ...all);
    for (const b of bobs) {
      expect(sorted(idsOf(b.one2one))).toEqual(sorted(fromAlice));
      expect(b.otherDevice).toHaveLength(4);
    }
    for (const a of alices) {
      expect(sorted(idsOf(a.one2one))).toEqual(sorted(fromBob));
      expect(a.otherDevice).toHaveLength(4);
    }
    for (const [i, a] of alices.entries()) {
      const ownIds = new Set(fromAlice.filter((_, n) => n % 3 === i));
      expect(a.otherDevice.some((c) => ownIds.has(c.message.messageId))).toBe(false);
      expect(new Set(a.otherDevice.map((c) => c.message.messageId)).size).toBe(4);
    }
    expect(errorsOf(...all)).toEqual([]);
  });

  it("add a device: a linked device receives the next messages and joins the user's groups", async () => {
    const alice = await makeClient(server, 'alice');
    const bob1 = await makeClient(server, 'bob1');
    const bobGets = bob1.client.waitFor('one2one-message', () => true, 20_000);
    await alice.client.sendMessage(bob1.userId, 'before the new device');
    await bobGets;
    const bobJoins = bob1.client.waitFor('group-created', () => true, 20_000);
    const { groupId, epoch } = await alice.client.createGroup('family', [bob1.userId]);
    await bobJoins;
    expect(await memberKeys(alice, groupId)).toContain(key(bob1));

    const bob2 = await makeClient(server, 'bob2', { linkTo: bob1 });
    expect(bob2.userId).toBe(bob1.userId);
    // bob1 adds bob2 to the group: a new epoch that alice (the manager) reaches.
    await waitForEpoch(alice, groupId, epoch + 1n);
    await waitUntil(() => bob2.groupsJoined.includes(groupId), 'bob2 joining the group');
    const members = await memberKeys(alice, groupId);
    expect(members).toContain(key(bob2));
    expect(members).toContain(key(bob1));
    expect(await memberKeys(bob1, groupId)).toEqual(members);
    await waitForEpoch(bob2, groupId, epoch + 1n);

    await alice.client.sendMessage(bob1.userId, 'after the new device');
    await waitUntil(() => bob2.one2one.length >= 1 && bob1.one2one.length >= 2, 'both bob devices receiving the message');
    expect(bob2.one2oneTexts()).toEqual(['after the new device']);
    expect(bob1.one2oneTexts()).toEqual(['before the new device', 'after the new device']);

    await alice.client.sendGroupMessage(groupId, 'group hello after the new device');
    await waitUntil(() => bob2.group.length >= 1 && bob1.group.length >= 1, 'both bob devices receiving the group message');
    await drained(server, bob1, bob2);
    expect(bob2.groupTexts(groupId)).toEqual(['group hello after the new device']);
    expect(bob1.groupTexts(groupId)).toEqual(['group hello after the new device']);
    expect(errorsOf(alice, bob1, bob2)).toEqual([]);
  });

  it("session without one-time pre-key: the target's OPKs are exhausted through raw RPC, a new peer still talks to it", async () => {
    const dir = tempDir();
    const target = await makeClient(server, 'target', { database: path.join(dir, 'target.sqlite') });
    await target.stop(); // it must not supply new OPKs while they are exhausted
    const raw = connect(server.url);
    const fetcher = await registerUser(raw, 2, 'fetcher');
    let fetched = 0;
    let withoutOpk = false;
    for (let i = 0; i < 200 && !withoutOpk; i++) {
      const response = await raw.getPreKeyBundle({ userId: target.userId }, fetcher.auth);
      if (response.code !== ResponseCode.OK) {
        await sleep(50); // per-device rate limit
        continue;
      }
      expect(response.preKeyBundles).toHaveLength(1);
      if (response.preKeyBundles[0]!.oneTimePreKey) fetched++;
      else withoutOpk = true;
    }
    expect(fetched).toBe(100);
    expect(withoutOpk).toBe(true);

    const peer = await makeClient(server, 'peer');
    const r = await peer.client.sendMessage(target.userId, 'no opk needed');
    expect(r.pending).toBe(1);
    await target.start();
    await waitUntil(() => target.one2one.length >= 1, 'target receiving the message');
    const back = peer.client.waitFor('one2one-message', () => true, 20_000);
    await target.client.sendMessage(peer.userId, 'reply without opk');
    expect(text((await back).message.body)).toBe('reply without opk');
    await peer.client.sendMessage(target.userId, 'again');
    await waitUntil(() => target.one2one.length >= 2, 'target receiving the second message');
    expect(target.one2oneTexts()).toEqual(['no opk needed', 'again']);
    expect(peer.one2oneTexts()).toEqual(['reply without opk']);
    expect(errorsOf(target, peer)).toEqual([]);
  });

  it('invite twice: two initiators invite the same device at once; both conversations work', async () => {
    const bob = await makeClient(server, 'bob');
    const alice = await makeClient(server, 'alice');
    const carol = await makeClient(server, 'carol');
    await Promise.all([alice.client.sendMessage(bob.userId, 'from alice'), carol.client.sendMessage(bob.userId, 'from carol')]);
    await waitUntil(() => bob.one2one.length >= 2, 'bob receiving both first messages');
    await bob.client.sendMessage(alice.userId, 'to alice');
    await bob.client.sendMessage(carol.userId, 'to carol');
    await waitUntil(() => alice.one2one.length >= 1 && carol.one2one.length >= 1, 'replies arriving');
    await drained(server, alice, bob, carol);
    expect(sorted(bob.one2oneTexts())).toEqual(['from alice', 'from carol']);
    expect(alice.one2oneTexts()).toEqual(['to alice']);
    expect(carol.one2oneTexts()).toEqual(['to carol']);
    expect(errorsOf(alice, bob, carol)).toEqual([]);
  });

  it('invite twice: both sides invite each other at the same time (crossing invites); messages flow both ways afterwards', async () => {
    const alice = await makeClient(server, 'alice');
    const bob = await makeClient(server, 'bob');
    await Promise.all([alice.client.sendMessage(bob.userId, 'a1'), bob.client.sendMessage(alice.userId, 'b1')]);
    await waitUntil(() => alice.one2one.length >= 1 && bob.one2one.length >= 1, 'both first messages arriving');
    for (let i = 2; i <= 4; i++) {
      await alice.client.sendMessage(bob.userId, `a${i}`);
      await bob.client.sendMessage(alice.userId, `b${i}`);
    }
    await waitUntil(() => alice.one2one.length >= 4 && bob.one2one.length >= 4, 'all messages arriving');
    await drained(server, alice, bob);
    expect(bob.one2oneTexts()).toEqual(['a1', 'a2', 'a3', 'a4']);
    expect(alice.one2oneTexts()).toEqual(['b1', 'b2', 'b3', 'b4']);
    expect(await alice.client.fingerprint(bob.userId, bob.deviceId)).toBe(await bob.client.fingerprint(alice.userId, alice.deviceId));
    expect(errorsOf(alice, bob)).toEqual([]);
  });

  it('invite twice: a user re-registers a wiped device (new device, linked again) and the peer talks to it', async () => {
    const dir = tempDir();
    const alice1 = await makeClient(server, 'alice1');
    const alice2 = await makeClient(server, 'alice2', { linkTo: alice1, database: path.join(dir, 'alice2.sqlite') });
    const bob = await makeClient(server, 'bob');
    await bob.client.sendMessage(alice1.userId, 'before wipe');
    await waitUntil(() => alice2.one2one.length >= 1 && alice1.one2one.length >= 1, 'both alice devices receiving');
    // alice2 loses its database: the user links a fresh device (a new invite from it to bob and to alice1).
    await alice2.stop();
    const alice3 = await makeClient(server, 'alice3', { linkTo: alice1, database: path.join(dir, 'alice3.sqlite') });
    await alice3.client.sendMessage(bob.userId, 'from the new device');
    await waitUntil(() => bob.one2one.length >= 1, 'bob receiving from the new device');
    expect(bob.one2one[0]!.from.deviceId).toBe(alice3.deviceId);
    await bob.client.sendMessage(alice1.userId, 'after wipe');
    await waitUntil(() => alice3.one2one.length >= 1 && alice1.one2one.length >= 2, 'alice devices receiving after the wipe');
    await drained(server, alice1, alice3, bob);
    expect(alice3.one2oneTexts()).toEqual(['after wipe']);
    expect(alice1.one2oneTexts()).toEqual(['before wipe', 'after wipe']);
    expect(bob.one2oneTexts()).toEqual(['from the new device']);
    expect(errorsOf(alice1, alice3, bob)).toEqual([]);
  });

  it('disappearing messages: the receiver drops a message expiresInMs after delivery, keeps the others', async () => {
    const alice = await makeClient(server, 'alice');
    const bob = await makeClient(server, 'bob');
    const gets = bob.client.waitFor('one2one-message', (e) => text(e.message.body) === 'stays', 20_000);
    await alice.client.sendMessage(bob.userId, 'vanishes', { expiresInMs: 1500 });
    await alice.client.sendMessage(bob.userId, 'stays');
    await gets;
    const before = await bob.client.messages();
    expect(before.map((m) => text(m.body))).toEqual(['vanishes', 'stays']);
    const vanishing = before[0]!;
    expect(vanishing.expiresAt).toBeGreaterThanOrEqual(vanishing.receivedAt + 1500);
    expect(vanishing.expiresAt).toBeLessThanOrEqual(Date.now() + 1500);
    expect(before[1]!.expiresAt).toBe(0);
    await waitUntil(async () => (await bob.client.messages()).length === 1, 'the disappearing message being dropped', 10_000);
    expect(Date.now()).toBeGreaterThanOrEqual(vanishing.expiresAt);
    expect((await bob.client.messages()).map((m) => text(m.body))).toEqual(['stays']);
    expect(errorsOf(alice, bob)).toEqual([]);
  });
});
