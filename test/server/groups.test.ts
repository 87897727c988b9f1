// Group management and group messages against a real `pqe2ee server` process: roles, epochs
// (optimistic concurrency), broadcasts with GroupInfo, leave and promotion, fan-out.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { GroupRole, type ProtoMsg } from '../../src/proto/gen/service_pb.js';
import { E2eeAddressSchema, type E2eeAddress } from '../../src/proto/gen/wire_pb.js';
import {
  cleanupDirs,
  connect,
  groupMsg,
  registerDevice,
  registerUser,
  ResponseCode,
  type RpcDevice,
  type ServerProcess,
  type ServiceClient,
  spawnServer,
  StreamReader,
  textOf,
} from '../support/index.js';

let server: ServerProcess;
let client: ServiceClient;

beforeAll(async () => {
  server = await spawnServer(['--rate-limit', '0']);
  client = connect(server.url);
});

afterAll(async () => {
  await server?.stop();
  cleanupDirs();
});

const devicesOf = (list: E2eeAddress[]): string[] => list.map((a) => (a.peer.case === 'user' ? `${a.peer.value.userId}/${a.peer.value.deviceId}` : '?')).sort();
const key = (d: RpcDevice): string => `${d.userId}/${d.deviceId}`;
const ofCase = (stream: StreamReader, kind: ProtoMsg['payload']['case']): ProtoMsg[] => stream.messages.filter((m) => m.payload.case === kind);

describe('groups', () => {
  it('create, add, remove, add device, leave, send — with epochs, roles and broadcasts', async () => {
    const alice = await registerUser(client);
    const bob = await registerUser(client);
    const carol = await registerUser(client);
    const dave = await registerUser(client);
    const streams = new Map([alice, bob, carol, dave].map((d) => [d.userId, new StreamReader(client, d)]));
    const s = (d: RpcDevice): StreamReader => streams.get(d.userId)!;

    // Unknown member → NOT_FOUND; the caller listed → BAD_REQUEST; duplicates → BAD_REQUEST.
    expect((await client.createGroup({ groupName: 'g', members: [{ userId: 'nobody' }] }, alice.auth)).code).toBe(ResponseCode.NOT_FOUND);
    expect((await client.createGroup({ groupName: 'g', members: [{ userId: alice.userId }] }, alice.auth)).code).toBe(ResponseCode.BAD_REQUEST);
    expect((await client.createGroup({ groupName: 'g', members: [{ userId: bob.userId }, { userId: bob.userId }] }, alice.auth)).code).toBe(ResponseCode.BAD_REQUEST);
    expect((await client.createGroup({ groupName: 'x'.repeat(257) }, alice.auth)).code).toBe(ResponseCode.BAD_REQUEST);

    const created = await client.createGroup({ groupName: 'friends', members: [{ userId: bob.userId, role: GroupRole.MEMBER }] }, alice.auth);
    expect(created.code).toBe(ResponseCode.CREATED);
    expect(created.epoch).toBe(0n);
    expect(devicesOf(created.memberDevices)).toEqual([key(alice), key(bob)].sort());
    const group = created.groupAddress!;
    for (const d of [alice, bob]) await s(d).until((r) => ofCase(r, 'createGroupMsg').length === 1);
    const createMsg = ofCase(s(bob), 'createGroupMsg')[0]!;
    // Broadcasts list the managers only and no devices (what one change queues stays linear).
    expect(createMsg.payload.case === 'createGroupMsg' && createMsg.payload.value.group?.members.map((m) => [m.userId, m.role])).toEqual([[alice.userId, GroupRole.MANAGER]]);
    expect(createMsg.payload.case === 'createGroupMsg' && createMsg.payload.value.group?.memberDevices).toEqual([]);

    // Only managers add; the epoch must match.
    expect((await client.addGroupMembers({ groupAddress: group, expectedEpoch: 0n, members: [{ userId: carol.userId }] }, bob.auth)).code).toBe(ResponseCode.FORBIDDEN);
    const stale = await client.addGroupMembers({ groupAddress: group, expectedEpoch: 5n, members: [{ userId: carol.userId }] }, alice.auth);
    expect(stale.code).toBe(ResponseCode.REQUEST_CONFLICT);
    expect(stale.reason).toMatch(/epoch 0/);
    expect((await client.addGroupMembers({ groupAddress: group, expectedEpoch: 0n, members: [{ userId: bob.userId }] }, alice.auth)).code).toBe(ResponseCode.REQUEST_CONFLICT);
    const added = await client.addGroupMembers({ groupAddress: group, expectedEpoch: 0n, members: [{ userId: carol.userId }, { userId: dave.userId }] }, alice.auth);
    expect(added.code).toBe(ResponseCode.OK);
    expect(added.epoch).toBe(1n);
    expect(devicesOf(added.memberDevices)).toEqual([key(alice), key(bob), key(carol), key(dave)].sort());
    for (const d of [alice, bob, carol, dave]) await s(d).until((r) => ofCase(r, 'addGroupMembersMsg').length === 1);

    // Concurrent changes from the same epoch: exactly one wins.
    const results = await Promise.all([
      client.removeGroupMembers({ groupAddress: group, expectedEpoch: 1n, userIds: [dave.userId] }, alice.auth),
      client.removeGroupMembers({ groupAddress: group, expectedEpoch: 1n, userIds: [dave.userId] }, alice.auth),
    ]);
    expect(results.map((r) => r.code).sort()).toEqual([ResponseCode.OK, ResponseCode.REQUEST_CONFLICT].sort());
    // Removed dave got the message too; he can no longer send.
    for (const d of [alice, bob, carol, dave]) await s(d).until((r) => ofCase(r, 'removeGroupMembersMsg').length === 1);
    expect((await client.sendGroupMsg({ msg: groupMsg(dave, group, 'x') }, dave.auth)).code).toBe(ResponseCode.FORBIDDEN);
    expect((await client.removeGroupMembers({ groupAddress: group, expectedEpoch: 2n, userIds: ['nobody'] }, alice.auth)).code).toBe(ResponseCode.NOT_FOUND);

    // Group message fan-out: every active member device except the sender's.
    const sent = await client.sendGroupMsg({ msg: groupMsg(bob, group, 'hello group') }, bob.auth);
    expect(sent.code).toBe(ResponseCode.OK);
    expect(sent.recipients).toBe(2);
    for (const d of [alice, carol]) await s(d).until((r) => r.messages.some((m) => textOf(m) === 'hello group'));
    const copy = s(carol).messages.find((m) => textOf(m) === 'hello group')!;
    expect(copy.from?.peer.value).toMatchObject({ userId: bob.userId, deviceId: bob.deviceId });
    expect(copy.to?.peer.value).toMatchObject({ userId: carol.userId, deviceId: carol.deviceId });
    // from must be the caller; unknown group; non-member.
    expect((await client.sendGroupMsg({ msg: groupMsg(alice, group, 'x') }, bob.auth)).code).toBe(ResponseCode.FORBIDDEN);
    const nowhere = create(E2eeAddressSchema, { domain: 'localhost', peer: { case: 'group', value: { groupId: 'no-such-group' } } });
    expect((await client.sendGroupMsg({ msg: groupMsg(bob, nowhere, 'x') }, bob.auth)).code).toBe(ResponseCode.NOT_FOUND);

    // A new device of bob joins: only bob may add it, with the current epoch.
    const bob2 = await registerDevice(client, bob);
    expect((await client.addGroupMemberDevice({ groupAddress: group, expectedEpoch: 2n, device: bob2.address }, alice.auth)).code).toBe(ResponseCode.FORBIDDEN);
    expect((await client.addGroupMemberDevice({ groupAddress: group, expectedEpoch: 2n, device: bob2.address }, dave.auth)).code).toBe(ResponseCode.FORBIDDEN);
    expect((await client.addGroupMemberDevice({ groupAddress: group, expectedEpoch: 1n, device: bob2.address }, bob.auth)).code).toBe(ResponseCode.REQUEST_CONFLICT);
    const withDevice = await client.addGroupMemberDevice({ groupAddress: group, expectedEpoch: 2n, device: bob2.address }, bob.auth);
    expect(withDevice.code).toBe(ResponseCode.OK);
    expect(withDevice.epoch).toBe(3n);
    expect(devicesOf(withDevice.memberDevices)).toContain(key(bob2));
    expect((await client.addGroupMemberDevice({ groupAddress: group, expectedEpoch: 3n, device: bob2.address }, bob.auth)).code).toBe(ResponseCode.REQUEST_CONFLICT);
    for (const d of [alice, carol]) await s(d).until((r) => ofCase(r, 'addGroupMemberDeviceMsg').length === 1);

    // The manager leaves: the earliest-joined remaining member (bob) becomes manager; others get LeaveGroupMsg.
    expect((await client.leaveGroup({ groupAddress: group }, dave.auth)).code).toBe(ResponseCode.FORBIDDEN);
    expect((await client.leaveGroup({ groupAddress: group }, alice.auth)).code).toBe(ResponseCode.OK);
    for (const d of [bob, carol]) await s(d).until((r) => ofCase(r, 'leaveGroupMsg').length === 1);
    expect((await client.sendGroupMsg({ msg: groupMsg(alice, group, 'x') }, alice.auth)).code).toBe(ResponseCode.FORBIDDEN);
    const afterLeave = await client.sendGroupMsg({ msg: groupMsg(carol, group, 'no alice') }, carol.auth);
    expect(afterLeave.recipients).toBe(2); // bob's two devices
    // Bob (now manager) removes the left member.
    expect((await client.removeGroupMembers({ groupAddress: group, expectedEpoch: 3n, userIds: [alice.userId] }, carol.auth)).code).toBe(ResponseCode.FORBIDDEN);
    const removed = await client.removeGroupMembers({ groupAddress: group, expectedEpoch: 3n, userIds: [alice.userId] }, bob.auth);
    expect(removed.code).toBe(ResponseCode.OK);
    expect(removed.epoch).toBe(4n);
    expect(devicesOf(removed.memberDevices)).toEqual([key(bob), key(bob2), key(carol)].sort());
    for (const st of streams.values()) st.close();
  });

  it('bad group addresses are BAD_REQUEST or NOT_FOUND, nothing changes', async () => {
    const alice = await registerUser(client);
    const userAddress = alice.address;
    expect((await client.addGroupMembers({ groupAddress: userAddress, expectedEpoch: 0n, members: [] }, alice.auth)).code).toBe(ResponseCode.BAD_REQUEST);
    expect((await client.leaveGroup({}, alice.auth)).code).toBe(ResponseCode.BAD_REQUEST);
    const unknown = create(E2eeAddressSchema, { domain: 'localhost', peer: { case: 'group', value: { groupId: 'nope' } } });
    expect((await client.leaveGroup({ groupAddress: unknown }, alice.auth)).code).toBe(ResponseCode.NOT_FOUND);
    expect((await client.removeGroupMembers({ groupAddress: unknown, expectedEpoch: 0n, userIds: ['x'] }, alice.auth)).code).toBe(ResponseCode.NOT_FOUND);
    expect((await client.addGroupMemberDevice({ groupAddress: unknown, expectedEpoch: 0n, device: alice.address }, alice.auth)).code).toBe(ResponseCode.NOT_FOUND);
  });
});
