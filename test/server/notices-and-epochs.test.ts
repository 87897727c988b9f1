// Server notices against a real `pqe2ee server` process (security issue 11, attack 9): notices a
// stranger can cause (UpdateUser, NewUserDevice, SupplyOpk, group changes, admin notices) are bounded
// like client messages, and the contact graph and devices per user are bounded; then GetGroupEpoch,
// the server's own record of which devices it placed in a group at each epoch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProtoMsg } from '../../src/proto/gen/service_pb.js';
import { create } from '@bufbuild/protobuf';
import { E2eeAddressSchema, type E2eeAddress } from '../../src/proto/gen/wire_pb.js';
import { startServer, type RunningServer } from '../../src/server/index.js';
import {
  cleanupDirs,
  connect,
  one2one,
  registerDevice,
  registerUser,
  ResponseCode,
  type RpcDevice,
  type ServerProcess,
  type ServiceClient,
  spawnServer,
  StreamReader,
  tempDb,
} from '../support/index.js';

const QUEUE_LIMIT = 5;
let server: ServerProcess;
let client: ServiceClient;
const others: ServerProcess[] = [];
const inProcess: RunningServer[] = [];

beforeAll(async () => {
  server = await spawnServer(['--rate-limit', '0', '--queue-limit', String(QUEUE_LIMIT)]);
  client = connect(server.url);
});

afterAll(async () => {
  await server?.stop();
  for (const s of others) await s.stop();
  for (const s of inProcess) await s.close();
  cleanupDirs();
});

/** Everything queued for `device` now: a Subscribe replay up to its end-of-replay heartbeat. */
async function queueOf(c: ServiceClient, device: RpcDevice): Promise<ProtoMsg[]> {
  const stream = new StreamReader(c, device);
  try {
    await stream.until((r) => r.heartbeats >= 1);
    return [...stream.messages];
  } finally {
    stream.close();
  }
}

async function consumeAll(c: ServiceClient, device: RpcDevice): Promise<void> {
  for (const m of await queueOf(c, device)) await c.consumeProtoMsg({ protoMsgId: m.id }, device.auth);
}

const updatesAbout = (queue: ProtoMsg[], userId: string): ProtoMsg[] =>
  queue.filter((m) => m.payload.case === 'updateUserMsg' && m.payload.value.userAddress?.peer.case === 'user' && m.payload.value.userAddress.peer.value.userId === userId);

/** `inviter` invites `invitee` and `invitee` accepts (as its client does on its own): each then watches the other. */
async function befriend(c: ServiceClient, inviter: RpcDevice, invitee: RpcDevice): Promise<void> {
  const invite = await c.invite({ msg: { version: 1, suiteId: inviter.suite, sessionId: 's', from: inviter.address, to: invitee.address } }, inviter.auth);
  expect(invite.code).toBe(ResponseCode.OK);
  const accept = await c.accept({ msg: { version: 1, suiteId: invitee.suite, sessionId: 's', from: invitee.address, to: inviter.address } }, invitee.auth);
  expect(accept.code).toBe(ResponseCode.OK);
}

async function fill(c: ServiceClient, from: RpcDevice, to: RpcDevice, n: number): Promise<void> {
  for (let i = 0; i < n; i++) expect((await c.sendOne2oneMsg({ msg: one2one(from, to.address, `fill ${i}`) }, from.auth)).code).toBe(ResponseCode.OK);
}

describe('attack 9: notices to a stranger are bounded', () => {
  it('UpdateUser cannot flood a watcher: one UpdateUserMsg per user it is about (the newest), never past --queue-limit', async () => {
    const attacker = await registerUser(client);
    const victim = await registerUser(client);
    const victimPhone = await registerDevice(client, victim);
    await consumeAll(client, victim); // the NewUserDeviceMsg of the phone
    await befriend(client, attacker, victim);
    for (let i = 0; i < 60; i++) expect((await client.updateUser({ userName: `spam ${i}` }, attacker.auth)).code).toBe(ResponseCode.OK);
    for (const device of [victim, victimPhone]) {
      const queue = await queueOf(client, device);
      expect(queue.length).toBeLessThanOrEqual(QUEUE_LIMIT);
      const updates = updatesAbout(queue, attacker.userId);
      expect(updates).toHaveLength(1);
      // The one kept is the newest.
      expect(updates[0]!.payload.case === 'updateUserMsg' && updates[0]!.payload.value.userName).toBe('spam 59');
    }
    // The victim's own name changes reach its other device the same way (one, the newest).
    await client.updateUser({ userName: 'v1' }, victim.auth);
    await client.updateUser({ userName: 'v2' }, victim.auth);
    const phoneQueue = await queueOf(client, victimPhone);
    const own = updatesAbout(phoneQueue, victim.userId);
    expect(own.map((m) => m.payload.case === 'updateUserMsg' && m.payload.value.userName)).toEqual(['v2']);
  });

  it('a consumed UpdateUserMsg is not replaced: the next name change is delivered again', async () => {
    const attacker = await registerUser(client);
    const victim = await registerUser(client);
    await befriend(client, attacker, victim);
    await client.updateUser({ userName: 'first' }, attacker.auth);
    await consumeAll(client, victim);
    await client.updateUser({ userName: 'second' }, attacker.auth);
    const updates = updatesAbout(await queueOf(client, victim), attacker.userId);
    expect(updates.map((m) => m.payload.case === 'updateUserMsg' && m.payload.value.userName)).toEqual(['second']);
  });

  it('server notices skip a full queue instead of growing it (UpdateUser, NewUserDevice, SupplyOpk); the caller still succeeds', async () => {
    const attacker = await registerUser(client);
    const victim = await registerUser(client);
    const filler = await registerUser(client);
    await befriend(client, attacker, victim);
    await consumeAll(client, victim);
    await fill(client, filler, victim, QUEUE_LIMIT);
    // UpdateUser: no room and nothing to replace → skipped, UpdateUser still OK.
    expect((await client.updateUser({ userName: 'x' }, attacker.auth)).code).toBe(ResponseCode.OK);
    // A new device of a user the victim watches: still registers, the notice is skipped.
    await registerDevice(client, attacker);
    const queue = await queueOf(client, victim);
    expect(queue).toHaveLength(QUEUE_LIMIT);
    expect(queue.every((m) => m.payload.case === 'e2eeMsg')).toBe(true);
  });

  it('an UpdateUserMsg already queued is replaced even when the queue is full (the count does not grow)', async () => {
    const attacker = await registerUser(client);
    const victim = await registerUser(client);
    const filler = await registerUser(client);
    await befriend(client, attacker, victim);
    await consumeAll(client, victim);
    await client.updateUser({ userName: 'old' }, attacker.auth);
    await fill(client, filler, victim, QUEUE_LIMIT - 1);
    await client.updateUser({ userName: 'new' }, attacker.auth);
    const queue = await queueOf(client, victim);
    expect(queue).toHaveLength(QUEUE_LIMIT);
    expect(updatesAbout(queue, attacker.userId).map((m) => m.payload.case === 'updateUserMsg' && m.payload.value.userName)).toEqual(['new']);
  });

  it('SupplyOpkMsg skips a full queue and is asked for again once there is room', async () => {
    const low = await spawnServer(['--rate-limit', '0', '--queue-limit', String(QUEUE_LIMIT), '--opk-low', '100']);
    others.push(low);
    const c = connect(low.url);
    const victim = await registerUser(c);
    const stranger = await registerUser(c);
    await fill(c, stranger, victim, QUEUE_LIMIT);
    // Below the threshold, but the queue is full: no notice (and the device is not marked as asked).
    expect((await c.getPreKeyBundle({ userId: victim.userId, deviceId: '' }, stranger.auth)).code).toBe(ResponseCode.OK);
    let queue = await queueOf(c, victim);
    expect(queue).toHaveLength(QUEUE_LIMIT);
    expect(queue.some((m) => m.payload.case === 'supplyOpkMsg')).toBe(false);
    await consumeAll(c, victim);
    expect((await c.getPreKeyBundle({ userId: victim.userId, deviceId: '' }, stranger.auth)).code).toBe(ResponseCode.OK);
    queue = await queueOf(c, victim);
    expect(queue.filter((m) => m.payload.case === 'supplyOpkMsg')).toHaveLength(1);
  });

  it('group changes cannot grow a member queue past twice --queue-limit', async () => {
    const attacker = await registerUser(client);
    const victim = await registerUser(client);
    const puppet = await registerUser(client);
    const created = await client.createGroup({ groupName: 'spam', members: [{ userId: victim.userId }] }, attacker.auth);
    expect(created.code).toBe(ResponseCode.CREATED);
    const group = created.groupAddress!;
    let epoch = 0n;
    for (let i = 0; i < 15; i++) {
      const added = await client.addGroupMembers({ groupAddress: group, expectedEpoch: epoch, members: [{ userId: puppet.userId }] }, attacker.auth);
      expect(added.code).toBe(ResponseCode.OK);
      const removed = await client.removeGroupMembers({ groupAddress: group, expectedEpoch: added.epoch, userIds: [puppet.userId] }, attacker.auth);
      expect(removed.code).toBe(ResponseCode.OK);
      epoch = removed.epoch;
      await consumeAll(client, puppet); // the attacker's own puppet keeps its queue short
    }
    const queue = await queueOf(client, victim);
    expect(queue.length).toBeLessThanOrEqual(2 * QUEUE_LIMIT);
    expect(queue.length).toBeGreaterThan(QUEUE_LIMIT); // group state may pass the limit, up to twice it
  });

  it('admin notices count against the queue limit too (a full queue is skipped)', async () => {
    const s = await startServer({ port: 0, dbPath: ':memory:', queueLimit: 2, rateLimit: { perSecond: 0, burst: 1 } });
    inProcess.push(s);
    const c = connect(s.url);
    const alice = await registerUser(c);
    const bob = await registerUser(c);
    await fill(c, alice, bob, 2);
    expect(await s.notifySystem('maintenance')).toBe(1); // alice only
    expect(await s.notifyFriend(bob.userId, alice.address, 'x')).toBe(0);
    expect((await queueOf(c, bob)).length).toBe(2);
  });
});

describe('bounds on devices and contacts', () => {
  let bounded: ServerProcess;
  let c: ServiceClient;
  beforeAll(async () => {
    bounded = await spawnServer(['--rate-limit', '0', '--max-devices', '3', '--max-contacts', '3']);
    others.push(bounded);
    c = connect(bounded.url);
  });

  it('a user has at most --max-devices devices (each new one notifies every watcher)', async () => {
    const attacker = await registerUser(c);
    const victim = await registerUser(c);
    await befriend(c, attacker, victim);
    await registerDevice(c, attacker);
    await registerDevice(c, attacker);
    await expect(registerDevice(c, attacker)).rejects.toThrow(/registration failed: 400/);
    const notices = (await queueOf(c, victim)).filter((m) => m.payload.case === 'newUserDeviceMsg');
    expect(notices).toHaveLength(2);
  });

  it('a user watches at most --max-contacts users, and is watched by at most that many', async () => {
    // One user inviting many strangers: only the first ones become watched (later invites still go through).
    const inviter = await registerUser(c);
    const strangers: RpcDevice[] = [];
    for (let i = 0; i < 5; i++) strangers.push(await registerUser(c));
    for (const s of strangers) {
      const invite = await c.invite({ msg: { version: 1, suiteId: 2, sessionId: 's', from: inviter.address, to: s.address } }, inviter.auth);
      expect(invite.code).toBe(ResponseCode.OK);
    }
    for (const s of strangers) await c.updateUser({ userName: 'renamed' }, s.auth);
    const told = (await queueOf(c, inviter)).filter((m) => m.payload.case === 'updateUserMsg');
    expect(told).toHaveLength(3);

    // Many users inviting one: only the first ones watch it.
    const popular = await registerUser(c);
    const fans: RpcDevice[] = [];
    for (let i = 0; i < 5; i++) fans.push(await registerUser(c));
    for (const f of fans) {
      const invite = await c.invite({ msg: { version: 1, suiteId: 2, sessionId: 's', from: f.address, to: popular.address } }, f.auth);
      expect(invite.code).toBe(ResponseCode.OK);
    }
    await c.updateUser({ userName: 'famous' }, popular.auth);
    let reached = 0;
    for (const f of fans) reached += updatesAbout(await queueOf(c, f), popular.userId).length;
    expect(reached).toBe(3);
  });
});

describe('GetGroupEpoch', () => {
  let groups: ServerProcess;
  let client: ServiceClient;
  beforeAll(async () => {
    groups = await spawnServer(['--rate-limit', '0']);
    others.push(groups);
    client = connect(groups.url);
  });
  const key = (a: E2eeAddress | undefined): string => (a?.peer.case === 'user' ? `${a.peer.value.userId}/${a.peer.value.deviceId}` : '?');
  const keyOf = (d: RpcDevice): string => `${d.userId}/${d.deviceId}`;

  it('returns the exact device list the server placed at each epoch, with registered identity keys', async () => {
    const alice = await registerUser(client);
    const bob = await registerUser(client);
    const carol = await registerUser(client);
    const stranger = await registerUser(client);
    const byKey = new Map([alice, bob, carol].map((d) => [keyOf(d), d]));

    const created = await client.createGroup({ groupName: 'g', members: [{ userId: bob.userId }] }, alice.auth);
    const group = created.groupAddress!;
    const added = await client.addGroupMembers({ groupAddress: group, expectedEpoch: 0n, members: [{ userId: carol.userId }] }, alice.auth);
    const removed = await client.removeGroupMembers({ groupAddress: group, expectedEpoch: 1n, userIds: [bob.userId] }, alice.auth);
    const alice2 = await registerDevice(client, alice);
    byKey.set(keyOf(alice2), alice2);
    const withDevice = await client.addGroupMemberDevice({ groupAddress: group, expectedEpoch: 2n, device: alice2.address }, alice.auth);
    expect(withDevice.epoch).toBe(3n);
    // LeaveGroup does not start an epoch: epoch 3 stays as assigned.
    expect((await client.leaveGroup({ groupAddress: group }, carol.auth)).code).toBe(ResponseCode.OK);

    const expected: [bigint, string[]][] = [
      [0n, [keyOf(alice), keyOf(bob)]],
      [1n, [keyOf(alice), keyOf(bob), keyOf(carol)]],
      [2n, [keyOf(alice), keyOf(carol)]],
      [3n, [keyOf(alice), keyOf(carol), keyOf(alice2)]],
    ];
    const responses = [created.memberDevices, added.memberDevices, removed.memberDevices, withDevice.memberDevices];
    responses.forEach((list, epoch) => expect(list.map(key).sort()).toEqual([...expected[epoch]![1]].sort()));
    for (const [epoch, devices] of expected) {
      const answer = await client.getGroupEpoch({ groupAddress: group, epoch }, alice2.auth);
      expect(answer.code).toBe(ResponseCode.OK);
      expect(answer.epoch).toBe(epoch);
      expect(answer.devices.map((d) => key(d.address)).sort()).toEqual([...devices].sort());
      // In the order of member_devices of the response that made the epoch.
      expect(answer.devices.map((d) => key(d.address))).toEqual(responses[Number(epoch)]!.map(key));
      for (const d of answer.devices) {
        const device = byKey.get(key(d.address))!;
        expect(d.identityKey?.signPublicKey).toEqual(device.account.identityPublicKey.signPublicKey);
        expect(d.identityKey?.kemPublicKey).toEqual(device.account.identityPublicKey.kemPublicKey);
      }
    }

    // Unknown epoch for a member: NOT_FOUND.
    expect((await client.getGroupEpoch({ groupAddress: group, epoch: 4n }, alice.auth)).code).toBe(ResponseCode.NOT_FOUND);
    expect((await client.getGroupEpoch({ groupAddress: group, epoch: 2n ** 63n }, alice.auth)).code).toBe(ResponseCode.NOT_FOUND);
    // A removed member may read the epochs it was placed in, not the later ones.
    expect((await client.getGroupEpoch({ groupAddress: group, epoch: 1n }, bob.auth)).code).toBe(ResponseCode.OK);
    expect((await client.getGroupEpoch({ groupAddress: group, epoch: 2n }, bob.auth)).code).toBe(ResponseCode.FORBIDDEN);
    // Carol left (not an active member now) but was placed at epochs 1..3.
    expect((await client.getGroupEpoch({ groupAddress: group, epoch: 3n }, carol.auth)).code).toBe(ResponseCode.OK);
    expect((await client.getGroupEpoch({ groupAddress: group, epoch: 0n }, carol.auth)).code).toBe(ResponseCode.FORBIDDEN);
    // Strangers learn nothing, not even whether the group or the epoch exists.
    const refusals = [
      await client.getGroupEpoch({ groupAddress: group, epoch: 0n }, stranger.auth),
      await client.getGroupEpoch({ groupAddress: group, epoch: 99n }, stranger.auth),
      await client.getGroupEpoch(
        { groupAddress: create(E2eeAddressSchema, { domain: group.domain, peer: { case: 'group', value: { groupId: 'no-such-group' } } }), epoch: 0n },
        stranger.auth,
      ),
    ];
    for (const r of refusals) {
      expect(r.code).toBe(ResponseCode.FORBIDDEN);
      expect(r.reason).toBe(refusals[0]!.reason);
      expect(r.devices).toEqual([]);
    }
    // Malformed address: BAD_REQUEST; no token: UNAUTHORIZED.
    expect((await client.getGroupEpoch({ groupAddress: alice.address, epoch: 0n }, alice.auth)).code).toBe(ResponseCode.BAD_REQUEST);
    expect((await client.getGroupEpoch({ groupAddress: group, epoch: 0n })).code).toBe(ResponseCode.UNAUTHORIZED);
  });

  it('keeps the newest 32 epochs of a group: older ones are NOT_FOUND', async () => {
    const alice = await registerUser(client);
    const bob = await registerUser(client);
    const created = await client.createGroup({ groupName: 'long', members: [] }, alice.auth);
    const group = created.groupAddress!;
    let epoch = 0n;
    for (let i = 0; i < 40; i++) {
      const change =
        i % 2 === 0
          ? await client.addGroupMembers({ groupAddress: group, expectedEpoch: epoch, members: [{ userId: bob.userId }] }, alice.auth)
          : await client.removeGroupMembers({ groupAddress: group, expectedEpoch: epoch, userIds: [bob.userId] }, alice.auth);
      expect(change.code).toBe(ResponseCode.OK);
      epoch = change.epoch;
    }
    expect(epoch).toBe(40n);
    for (let e = 0n; e <= 8n; e++) expect((await client.getGroupEpoch({ groupAddress: group, epoch: e }, alice.auth)).code).toBe(ResponseCode.NOT_FOUND);
    for (let e = 9n; e <= 40n; e++) {
      const answer = await client.getGroupEpoch({ groupAddress: group, epoch: e }, alice.auth);
      expect(answer.code).toBe(ResponseCode.OK);
      expect(answer.devices.map((d) => key(d.address))).toEqual(e % 2n === 1n ? [keyOf(alice), keyOf(bob)] : [keyOf(alice)]);
    }
  });
});

describe('migrations 3 and 4 on an existing database', () => {
  it('groups that exist before the epoch history get their current epoch (devices of active members)', async () => {
    const { default: Database } = await import('better-sqlite3');
    const { MIGRATIONS, openSqliteStore } = await import('../../src/server/index.js');
    const file = tempDb();
    const db = new Database(file);
    for (const sql of MIGRATIONS.slice(0, 2)) db.exec(sql);
    db.pragma('user_version = 2');
    const key = (n: number): Buffer => Buffer.alloc(32, n);
    for (const [user, device, n] of [
      ['u1', 'd1', 1],
      ['u1', 'd2', 2],
      ['u2', 'd1', 3],
      ['u3', 'd1', 4],
    ] as const) {
      db.prepare('INSERT OR IGNORE INTO users VALUES (?, ?, 0)').run(user, user);
      db.prepare(
        'INSERT INTO devices (user_id, device_id, suite_id, sign_public_key, kem_public_key, spk_id, spk_public_key, spk_signature, created_at) VALUES (?, ?, 2, ?, ?, 1, ?, ?, 0)',
      ).run(user, device, key(n), key(n + 10), key(0), key(0));
    }
    db.prepare("INSERT INTO chat_groups VALUES ('g', 'g', 7, 9, 0)").run();
    db.prepare("INSERT INTO group_members VALUES ('g', 'u1', 'manager', 'active', 0), ('g', 'u2', 'member', 'left', 1), ('g', 'u3', 'member', 'active', 2)").run();
    db.prepare("INSERT INTO group_devices VALUES ('g', 'u1', 'd1'), ('g', 'u1', 'd2'), ('g', 'u2', 'd1'), ('g', 'u3', 'd1')").run();
    db.prepare("INSERT INTO messages (user_id, device_id, body, queued_at, expires_at, limited) VALUES ('u1', 'd1', x'00', 0, 9e15, 1)").run();
    db.close();

    const store = await openSqliteStore(file);
    try {
      const epoch = await store.getGroupEpoch('g', 7);
      expect(epoch?.devices.map((d) => `${d.userId}/${d.deviceId}`)).toEqual(['u1/d1', 'u1/d2', 'u3/d1']);
      expect(epoch?.devices[1]?.signPublicKey).toEqual(new Uint8Array(key(2)));
      expect(await store.getGroupEpoch('g', 6)).toBeUndefined();
      // Old messages keep working, without a coalescing key.
      expect(await store.countQueued('u1', 'd1', 1)).toBe(1);
    } finally {
      await store.close();
    }
  });
});
