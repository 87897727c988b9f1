/**
 * The rules of group membership as pure functions of a {@link GroupRecord}: who may change a group,
 * what a change makes of it and who is told. No RPC, no store, no clock: groups.ts reads the record,
 * applies these and saves the result with a compare-and-set, so every rule here can be tested on
 * plain records (test/server/group-rules.test.ts). A change never mutates the record it is given.
 */
import type { GroupDeviceRecord, GroupMemberRecord, GroupRecord } from './store/types.js';

export type MemberRole = GroupMemberRecord['role'];

/** A user joining a group with a role (validated by the caller). */
export interface NewMember {
  userId: string;
  role: MemberRole;
}

/** Why a change is refused; groups.ts maps each kind to a response code. */
export type GroupRefusalKind =
  /** The caller's user is not an active member. */
  | 'not-member'
  /** The caller is an active member but the change needs a manager. */
  | 'not-manager'
  /** The request names an epoch other than the current one (optimistic concurrency). */
  | 'stale-epoch'
  /** A user to add is already an active member. */
  | 'already-member'
  /** A user to remove was never a member (active or left). */
  | 'not-listed'
  /** The device to add is already one of the group's devices. */
  | 'device-present'
  /** The change would leave more active members than allowed. */
  | 'too-large';

export interface GroupRefusal {
  refused: GroupRefusalKind;
  reason: string;
}

const refuse = (refused: GroupRefusalKind, reason: string): GroupRefusal => ({ refused, reason });

const sameDevice = (a: GroupDeviceRecord, b: GroupDeviceRecord): boolean => a.userId === b.userId && a.deviceId === b.deviceId;

function activeUserIds(group: GroupRecord): Set<string> {
  return new Set(group.members.filter((m) => m.state === 'active').map((m) => m.userId));
}

// ---- queries ----

/** Devices that receive group traffic: the devices of active members, in the group's order. */
export function routedDevices(group: GroupRecord): GroupDeviceRecord[] {
  const active = activeUserIds(group);
  return group.devices.filter((d) => active.has(d.userId));
}

export function isActiveMember(group: GroupRecord, userId: string): boolean {
  return group.members.some((m) => m.userId === userId && m.state === 'active');
}

/** Active managers: what group change messages list (never every member, see groups.ts). */
export function activeManagers(group: GroupRecord): GroupMemberRecord[] {
  return group.members.filter((m) => m.state === 'active' && m.role === 'manager');
}

/** Who gets a group message from `sender`: every routed device except the sending one. */
export function messageRecipients(group: GroupRecord, sender: GroupDeviceRecord): GroupDeviceRecord[] {
  return routedDevices(group).filter((d) => !sameDevice(d, sender));
}

// ---- checks (undefined: allowed) ----

/** The caller's user must be an active member, and a manager if `role` says so. */
export function requireRole(group: GroupRecord, userId: string, role: MemberRole): GroupRefusal | undefined {
  const member = group.members.find((m) => m.userId === userId && m.state === 'active');
  if (!member) return refuse('not-member', 'not a member of the group');
  if (role === 'manager' && member.role !== 'manager') return refuse('not-manager', 'needs the manager role');
  return undefined;
}

/** Membership changes name the epoch they were made against; any other one is stale. */
export function requireEpoch(group: GroupRecord, expected: bigint): GroupRefusal | undefined {
  return BigInt(group.epoch) === expected ? undefined : refuse('stale-epoch', `the group is at epoch ${group.epoch}`);
}

/** A group never has more than `maxMembers` active members, however many requests added them. */
export function checkGroupSize(group: GroupRecord, maxMembers: number): GroupRefusal | undefined {
  const active = group.members.filter((m) => m.state === 'active').length;
  return active > maxMembers ? refuse('too-large', `a group has at most ${maxMembers} members`) : undefined;
}

/** Users to add must not be active members (a member who left may be added again). */
export function refuseActiveMembers(group: GroupRecord, userIds: readonly string[]): GroupRefusal | undefined {
  for (const userId of userIds) if (isActiveMember(group, userId)) return refuse('already-member', `${userId} is already a member`);
  return undefined;
}

/** Users to remove must be members, active or left. */
export function refuseNonMembers(group: GroupRecord, userIds: Iterable<string>): GroupRefusal | undefined {
  for (const userId of userIds) if (!group.members.some((m) => m.userId === userId)) return refuse('not-listed', `${userId} is not a member`);
  return undefined;
}

export function refuseDevicePresent(group: GroupRecord, device: GroupDeviceRecord): GroupRefusal | undefined {
  return group.devices.some((d) => sameDevice(d, device)) ? refuse('device-present', 'the device is already in the group') : undefined;
}

// ---- changes ----

/**
 * If no active manager is left, the earliest-joined active member becomes one, so a group can
 * always be managed. Returns `members` itself when nothing changes.
 */
export function withManager(members: GroupMemberRecord[]): GroupMemberRecord[] {
  const active = members.filter((m) => m.state === 'active').sort((a, b) => a.joinedOrder - b.joinedOrder);
  const heir = active[0];
  if (!heir || active.some((m) => m.role === 'manager')) return members;
  return members.map((m) => (m === heir ? { ...m, role: 'manager' } : m));
}

/**
 * A new group at epoch 0: the creator is its first manager (join order 0), then the listed members
 * in request order. `devices`: every device of these users now.
 */
export function createdGroup(init: { groupId: string; groupName: string; creatorUserId: string; members: NewMember[]; devices: GroupDeviceRecord[]; now: number }): GroupRecord {
  return {
    groupId: init.groupId,
    groupName: init.groupName,
    epoch: 0,
    version: 1,
    createdAt: init.now,
    members: [
      { userId: init.creatorUserId, role: 'manager', state: 'active', joinedOrder: 0 },
      ...init.members.map((m, i) => ({ userId: m.userId, role: m.role, state: 'active' as const, joinedOrder: i + 1 })),
    ],
    devices: [...init.devices],
  };
}

/**
 * The next epoch with `added` as active members after everyone who joined before (a member who had
 * left rejoins at the end), and their `devices` (every device of theirs now) replacing any they had.
 */
export function withMembersAdded(group: GroupRecord, added: NewMember[], devices: GroupDeviceRecord[]): GroupRecord {
  const adding = new Set(added.map((m) => m.userId));
  let order = Math.max(0, ...group.members.map((m) => m.joinedOrder)) + 1;
  return {
    ...group,
    epoch: group.epoch + 1,
    members: [...group.members.filter((m) => !adding.has(m.userId)), ...added.map((m) => ({ userId: m.userId, role: m.role, state: 'active' as const, joinedOrder: order++ }))],
    devices: [...group.devices.filter((d) => !adding.has(d.userId)), ...devices],
  };
}

/** The next epoch without these users and their devices; a manager is appointed if none is left. */
export function withMembersRemoved(group: GroupRecord, removing: ReadonlySet<string>): GroupRecord {
  return {
    ...group,
    epoch: group.epoch + 1,
    members: withManager(group.members.filter((m) => !removing.has(m.userId))),
    devices: group.devices.filter((d) => !removing.has(d.userId)),
  };
}

/** The next epoch with one more device of an existing member (a device it registered later). */
export function withDeviceAdded(group: GroupRecord, device: GroupDeviceRecord): GroupRecord {
  return { ...group, epoch: group.epoch + 1, devices: [...group.devices, { userId: device.userId, deviceId: device.deviceId }] };
}

/**
 * The member marked left; the epoch does not change (a manager removes it with a new epoch later).
 * Nothing is routed to it any more, and a manager is appointed if it was the last one.
 */
export function withMemberLeft(group: GroupRecord, userId: string): GroupRecord {
  return { ...group, members: withManager(group.members.map((m) => (m.userId === userId ? { ...m, state: 'left' } : m))) };
}

// ---- who is told of a change ----

/** A removal is told to the routed devices after it and to the removed users' routed devices. */
export function removalRecipients(before: GroupRecord, after: GroupRecord, removing: ReadonlySet<string>): GroupDeviceRecord[] {
  return [...routedDevices(after), ...routedDevices(before).filter((d) => removing.has(d.userId))];
}

/** A leave is told to the remaining routed devices and to the leaver's other devices (they leave too). */
export function leaveRecipients(before: GroupRecord, after: GroupRecord, leaver: GroupDeviceRecord): GroupDeviceRecord[] {
  return [...routedDevices(after), ...before.devices.filter((d) => d.userId === leaver.userId && d.deviceId !== leaver.deviceId)];
}
