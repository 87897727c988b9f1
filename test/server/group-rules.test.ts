// The group membership rules of src/server/group-rules.ts on plain records: no server, no store,
// no RPC. Each rule is also exercised end to end by groups.test.ts and notices-and-epochs.test.ts.
import { describe, expect, it } from 'vitest';
import {
  activeManagers,
  checkGroupSize,
  createdGroup,
  isActiveMember,
  leaveRecipients,
  messageRecipients,
  refuseActiveMembers,
  refuseDevicePresent,
  refuseNonMembers,
  removalRecipients,
  requireEpoch,
  requireRole,
  routedDevices,
  withDeviceAdded,
  withManager,
  withMemberLeft,
  withMembersAdded,
  withMembersRemoved,
} from '../../src/server/group-rules.js';
import type { GroupDeviceRecord, GroupMemberRecord, GroupRecord } from '../../src/server/store/types.js';

const dev = (userId: string, deviceId = 'd1'): GroupDeviceRecord => ({ userId, deviceId });
const names = (devices: GroupDeviceRecord[]): string[] => devices.map((d) => `${d.userId}/${d.deviceId}`);

/** alice (creator, manager) with two devices, bob and carol as members. */
function sample(): GroupRecord {
  return createdGroup({
    groupId: 'g1',
    groupName: 'team',
    creatorUserId: 'alice',
    members: [
      { userId: 'bob', role: 'member' },
      { userId: 'carol', role: 'member' },
    ],
    devices: [dev('alice'), dev('alice', 'd2'), dev('bob'), dev('carol')],
    now: 1000,
  });
}

/** Deep copy, to check that no rule mutates the record it is given. */
const snapshot = (group: GroupRecord): GroupRecord => structuredClone(group);

describe('createdGroup', () => {
  it('starts at epoch 0, version 1, the creator as manager first, then members in request order', () => {
    const group = sample();
    expect(group).toMatchObject({ groupId: 'g1', groupName: 'team', epoch: 0, version: 1, createdAt: 1000 });
    expect(group.members).toEqual([
      { userId: 'alice', role: 'manager', state: 'active', joinedOrder: 0 },
      { userId: 'bob', role: 'member', state: 'active', joinedOrder: 1 },
      { userId: 'carol', role: 'member', state: 'active', joinedOrder: 2 },
    ]);
    expect(names(routedDevices(group))).toEqual(['alice/d1', 'alice/d2', 'bob/d1', 'carol/d1']);
  });
});

describe('checks', () => {
  it('requireRole: active members only; manager changes need a manager', () => {
    const group = sample();
    expect(requireRole(group, 'alice', 'manager')).toBeUndefined();
    expect(requireRole(group, 'bob', 'member')).toBeUndefined();
    expect(requireRole(group, 'bob', 'manager')?.refused).toBe('not-manager');
    expect(requireRole(group, 'mallory', 'member')?.refused).toBe('not-member');
    const left = withMemberLeft(group, 'bob');
    expect(requireRole(left, 'bob', 'member')?.refused).toBe('not-member');
  });

  it('requireEpoch: only the current epoch; the reason names it', () => {
    const group = { ...sample(), epoch: 4 };
    expect(requireEpoch(group, 4n)).toBeUndefined();
    expect(requireEpoch(group, 3n)).toEqual({ refused: 'stale-epoch', reason: 'the group is at epoch 4' });
    expect(requireEpoch(group, 5n)?.refused).toBe('stale-epoch');
  });

  it('checkGroupSize counts active members only', () => {
    const group = sample();
    expect(checkGroupSize(group, 3)).toBeUndefined();
    expect(checkGroupSize(group, 2)).toEqual({ refused: 'too-large', reason: 'a group has at most 2 members' });
    expect(checkGroupSize(withMemberLeft(group, 'carol'), 2)).toBeUndefined();
  });

  it('refuseActiveMembers lets a member who left be added again; refuseNonMembers counts left members as members', () => {
    const group = withMemberLeft(sample(), 'carol');
    expect(refuseActiveMembers(group, ['dave', 'carol'])).toBeUndefined();
    expect(refuseActiveMembers(group, ['dave', 'bob'])).toEqual({ refused: 'already-member', reason: 'bob is already a member' });
    expect(refuseNonMembers(group, ['carol', 'bob'])).toBeUndefined();
    expect(refuseNonMembers(group, ['bob', 'dave'])).toEqual({ refused: 'not-listed', reason: 'dave is not a member' });
  });

  it('refuseDevicePresent compares user and device id', () => {
    const group = sample();
    expect(refuseDevicePresent(group, dev('alice', 'd2'))?.refused).toBe('device-present');
    expect(refuseDevicePresent(group, dev('bob', 'd2'))).toBeUndefined();
  });
});

describe('changes', () => {
  it('withMembersAdded: next epoch, joins after everyone (a rejoining member at the end), devices replaced', () => {
    const group = withMemberLeft(sample(), 'bob');
    const before = snapshot(group);
    const next = withMembersAdded(
      group,
      [
        { userId: 'dave', role: 'manager' },
        { userId: 'bob', role: 'member' },
      ],
      [dev('dave'), dev('bob', 'd9')],
    );
    expect(group).toEqual(before);
    expect(next.epoch).toBe(1);
    expect(next.version).toBe(group.version);
    expect(next.members.map((m) => [m.userId, m.role, m.state, m.joinedOrder])).toEqual([
      ['alice', 'manager', 'active', 0],
      ['carol', 'member', 'active', 2],
      ['dave', 'manager', 'active', 3],
      ['bob', 'member', 'active', 4],
    ]);
    expect(names(next.devices)).toEqual(['alice/d1', 'alice/d2', 'carol/d1', 'dave/d1', 'bob/d9']);
  });

  it('withMembersRemoved: next epoch, members and devices gone, the earliest-joined active member promoted if no manager is left', () => {
    const group = withMembersAdded(sample(), [{ userId: 'dave', role: 'member' }], [dev('dave')]);
    const before = snapshot(group);
    const next = withMembersRemoved(group, new Set(['alice', 'carol']));
    expect(group).toEqual(before);
    expect(next.epoch).toBe(2);
    expect(next.members.map((m) => [m.userId, m.role])).toEqual([
      ['bob', 'manager'],
      ['dave', 'member'],
    ]);
    expect(names(next.devices)).toEqual(['bob/d1', 'dave/d1']);
  });

  it('withDeviceAdded: next epoch, the device appended', () => {
    const group = sample();
    const next = withDeviceAdded(group, dev('bob', 'd2'));
    expect(next.epoch).toBe(1);
    expect(names(next.devices)).toEqual(['alice/d1', 'alice/d2', 'bob/d1', 'carol/d1', 'bob/d2']);
    expect(group.devices).toHaveLength(4);
  });

  it('withMemberLeft: same epoch, the member marked left and no longer routed; the last manager leaving hands over', () => {
    const group = sample();
    const before = snapshot(group);
    const next = withMemberLeft(group, 'alice');
    expect(group).toEqual(before);
    expect(next.epoch).toBe(0);
    expect(next.members.find((m) => m.userId === 'alice')?.state).toBe('left');
    expect(isActiveMember(next, 'alice')).toBe(false);
    expect(activeManagers(next).map((m) => m.userId)).toEqual(['bob']);
    // Devices stay recorded (a manager removes the member later), but nothing is routed to them.
    expect(next.devices).toHaveLength(4);
    expect(names(routedDevices(next))).toEqual(['bob/d1', 'carol/d1']);
  });

  it('withManager promotes by join order, not by list order, and changes nothing while a manager is active', () => {
    const members: GroupMemberRecord[] = [
      { userId: 'late', role: 'member', state: 'active', joinedOrder: 7 },
      { userId: 'gone', role: 'manager', state: 'left', joinedOrder: 0 },
      { userId: 'early', role: 'member', state: 'active', joinedOrder: 2 },
    ];
    const promoted = withManager(members);
    expect(promoted.map((m) => m.role)).toEqual(['member', 'manager', 'manager']);
    expect(members[2]?.role).toBe('member');
    expect(withManager(promoted)).toBe(promoted);
    const nobody: GroupMemberRecord[] = [{ userId: 'gone', role: 'member', state: 'left', joinedOrder: 0 }];
    expect(withManager(nobody)).toBe(nobody);
  });
});

describe('who is told', () => {
  it('a group message goes to every routed device but the sending one', () => {
    expect(names(messageRecipients(sample(), dev('alice')))).toEqual(['alice/d2', 'bob/d1', 'carol/d1']);
  });

  it('a removal reaches the remaining devices and the removed ones', () => {
    const group = sample();
    const removing = new Set(['carol']);
    expect(names(removalRecipients(group, withMembersRemoved(group, removing), removing))).toEqual(['alice/d1', 'alice/d2', 'bob/d1', 'carol/d1']);
  });

  it("a leave reaches the remaining devices and the leaver's other devices, not the leaving one", () => {
    const group = sample();
    const next = withMemberLeft(group, 'alice');
    expect(names(leaveRecipients(group, next, dev('alice')))).toEqual(['bob/d1', 'carol/d1', 'alice/d2']);
  });

  it('a removal of a member who had left does not reach its devices', () => {
    const group = withMemberLeft(sample(), 'carol');
    const removing = new Set(['carol']);
    expect(names(removalRecipients(group, withMembersRemoved(group, removing), removing))).toEqual(['alice/d1', 'alice/d2', 'bob/d1']);
  });
});
