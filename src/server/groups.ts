/**
 * Group RPCs: membership changes (CreateGroup, AddGroupMembers, RemoveGroupMembers,
 * AddGroupMemberDevice, LeaveGroup), group messages (SendGroupMsg) and the epoch history
 * (GetGroupEpoch). The rules themselves are pure functions in group-rules.ts; this file validates
 * requests, reads and saves records (one change at a time per group, then a compare-and-set in the
 * store) and tells the member devices.
 */
import { randomBytes } from 'node:crypto';
import { AuditCategory } from '../audit/categories.js';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { type GroupInfoSchema, GroupRole, ResponseCode, type GroupMemberUser } from '../proto/gen/service_pb.js';
import { E2eeMsgSchema, type E2eeAddress } from '../proto/gen/wire_pb.js';
import { deviceAddress, groupAddress } from './addresses.js';
import type { DeviceIdentity } from './auth.js';
import type { ServiceContext } from './context.js';
import * as rules from './group-rules.js';
import type { GroupRefusal, GroupRefusalKind, MemberRole, NewMember } from './group-rules.js';
import { groupNoticeBound } from './notices.js';
import type { ProtoPayload } from './outbox.js';
import { fail, ok, unary, type HandlerGroup, type Outcome } from './rpc.js';
import type { GroupDeviceRecord, GroupRecord, NewQueuedMessage } from './store/types.js';
import { checkEncodedSize, checkString, parseDeviceAddress, parseGroupAddress, suiteOf } from './validate.js';

const REFUSAL_CODES: Record<GroupRefusalKind, ResponseCode> = {
  'not-member': ResponseCode.FORBIDDEN,
  'not-manager': ResponseCode.FORBIDDEN,
  'stale-epoch': ResponseCode.REQUEST_CONFLICT,
  'already-member': ResponseCode.REQUEST_CONFLICT,
  'not-listed': ResponseCode.NOT_FOUND,
  'device-present': ResponseCode.REQUEST_CONFLICT,
  'too-large': ResponseCode.BAD_REQUEST,
};

const refusal = (refused: GroupRefusal | undefined): Outcome | undefined => refused && fail(REFUSAL_CODES[refused.refused], refused.reason);

const wireRole = (role: MemberRole): GroupRole => (role === 'manager' ? GroupRole.MANAGER : GroupRole.MEMBER);

/** What a membership change answers: the new epoch and every routed device (the caller's to tell). */
type ChangeAnswer = Outcome & { epoch?: bigint; memberDevices?: E2eeAddress[] };

type Result<T> = { ok: true; value: T } | { ok: false; outcome: Outcome };

export function groups(
  ctx: ServiceContext,
): HandlerGroup<'createGroup' | 'addGroupMembers' | 'removeGroupMembers' | 'addGroupMemberDevice' | 'leaveGroup' | 'sendGroupMsg' | 'getGroupEpoch'> {
  const { store, config, gate, outbox, groupLock } = ctx;
  const { domain } = config;
  const stateBound = groupNoticeBound(config.queueLimit);

  /**
   * The group as server-sent messages describe it: its managers only and no device list. Every
   * member device gets one such message per change, so anything listing all members would make one
   * request queue storage growing with the square of the group size; the device that made the
   * change gets the full device list in its response instead.
   */
  function groupInfo(group: GroupRecord): MessageInitShape<typeof GroupInfoSchema> {
    return {
      groupAddress: groupAddress(domain, group.groupId),
      groupName: group.groupName,
      epoch: BigInt(group.epoch),
      members: rules.activeManagers(group).map((m) => ({ userId: m.userId, role: wireRole(m.role) })),
    };
  }

  const memberDevices = (group: GroupRecord): E2eeAddress[] => rules.routedDevices(group).map((d) => deviceAddress(domain, d.userId, d.deviceId));

  /** One group state notice per recipient, from the calling device. */
  function stateNotices(recipients: GroupDeviceRecord[], sender: E2eeAddress, payload: ProtoPayload, now: number): NewQueuedMessage[] {
    return recipients.map((d) => outbox.skippable(d, sender, payload, now, stateBound));
  }

  /** The listed users with their roles: bounded, valid ids, no duplicates, never the caller. */
  function parseMembers(members: GroupMemberUser[], callerUserId: string): Result<NewMember[]> {
    const refuse = (reason: string): Result<NewMember[]> => ({ ok: false, outcome: fail(ResponseCode.BAD_REQUEST, reason) });
    if (members.length > config.maxGroupMembers) return refuse(`more than ${config.maxGroupMembers} members`);
    const seen = new Set<string>();
    const out: NewMember[] = [];
    for (const m of members) {
      const bad = checkString(m.userId, 'member user id');
      if (bad) return refuse(bad);
      if (m.userId === callerUserId) return refuse('the caller cannot be listed as a member');
      if (seen.has(m.userId)) return refuse(`member ${m.userId} listed twice`);
      seen.add(m.userId);
      if (m.role !== GroupRole.MANAGER && m.role !== GroupRole.MEMBER && m.role !== GroupRole.UNSPECIFIED) return refuse(`unknown role ${m.role as number}`);
      out.push({ userId: m.userId, role: m.role === GroupRole.MANAGER ? 'manager' : 'member' });
    }
    return { ok: true, value: out };
  }

  /** Every device of the listed users; NOT_FOUND if a user does not exist. */
  async function devicesOf(userIds: string[]): Promise<Result<GroupDeviceRecord[]>> {
    const out: GroupDeviceRecord[] = [];
    for (const userId of userIds) {
      const devices = await store.listDevices(userId);
      if (devices.length === 0) return { ok: false, outcome: fail(ResponseCode.NOT_FOUND, `unknown user ${userId}`) };
      for (const d of devices) out.push({ userId: d.userId, deviceId: d.deviceId });
    }
    return { ok: true, value: out };
  }

  /**
   * Group notices are queued even past `queueLimit` (group state must reach members), so a user
   * could flood a stranger's queue by adding them to many groups: users whose devices already hold
   * twice the limit cannot be added until they catch up.
   */
  async function checkNewMembersQueues(devices: GroupDeviceRecord[], now: number): Promise<Outcome | undefined> {
    for (const d of devices) {
      if ((await store.countQueued(d.userId, d.deviceId, now)) >= 2 * config.queueLimit) return fail(ResponseCode.SERVICE_UNAVAILABLE, `the queue of user ${d.userId} is full`);
    }
    return undefined;
  }

  /**
   * Records a membership change in the audit log (sealed, GROUP) before it is stored: who changed
   * which group to which epoch, and how many users and devices it then has.
   */
  async function recordGroupChange(change: string, group: GroupRecord, by: DeviceIdentity): Promise<void> {
    await ctx.audit?.record({
      mask: AuditCategory.GROUP,
      event: { type: 'group', change, group: group.groupId, epoch: group.epoch, by: `${by.userId}/${by.deviceId}`, members: group.members.length, devices: group.devices.length },
    });
  }

  /** Saves a change that assigns a new epoch (compare-and-set) and sends its notices. */
  async function commitEpoch(change: string, by: DeviceIdentity, next: GroupRecord, expectedVersion: number, messages: NewQueuedMessage[]): Promise<ChangeAnswer> {
    await recordGroupChange(change, next, by);
    const saved = await store.saveGroup(next, expectedVersion, messages);
    if (!saved.ok) return fail(ResponseCode.REQUEST_CONFLICT, `the group is at epoch ${saved.current?.epoch ?? 'unknown'}`);
    outbox.delivered(saved.queued);
    return { ...ok(`epoch ${next.epoch}`), epoch: BigInt(next.epoch), memberDevices: memberDevices(next) };
  }

  /**
   * A change to an existing group: one at a time per group; the group must exist and the caller
   * hold `role` (and, for changes that assign an epoch, name the current one).
   */
  function changeGroup<T extends Outcome>(
    groupId: string,
    caller: DeviceIdentity,
    role: MemberRole,
    expectedEpoch: bigint | undefined,
    change: (group: GroupRecord) => Promise<T | Outcome>,
  ): Promise<T | Outcome> {
    return groupLock.run(groupId, async () => {
      const group = await store.getGroup(groupId);
      if (!group) return fail(ResponseCode.NOT_FOUND, 'unknown group');
      const denied = rules.requireRole(group, caller.userId, role) ?? (expectedEpoch === undefined ? undefined : rules.requireEpoch(group, expectedEpoch));
      return refusal(denied) ?? change(group);
    });
  }

  /** A group address in a request: another domain's group is unknown here. */
  function targetGroup(address: E2eeAddress | undefined): Result<string> {
    const target = parseGroupAddress(address, domain, 'group_address');
    return target.ok ? target : { ok: false, outcome: fail(target.foreign ? ResponseCode.NOT_FOUND : ResponseCode.BAD_REQUEST, target.reason) };
  }

  return {
    createGroup: unary(gate, async (request, caller, now) => {
      const bad = checkString(request.groupName, 'group_name', { allowEmpty: true });
      if (bad) return fail(ResponseCode.BAD_REQUEST, bad);
      const members = parseMembers(request.members, caller.userId);
      if (!members.ok) return members.outcome;
      const devices = await devicesOf([caller.userId, ...members.value.map((m) => m.userId)]);
      if (!devices.ok) return devices.outcome;
      const groupId = randomBytes(16).toString('hex');
      const group = rules.createdGroup({ groupId, groupName: request.groupName, creatorUserId: caller.userId, members: members.value, devices: devices.value, now });
      const tooLarge =
        refusal(rules.checkGroupSize(group, config.maxGroupMembers)) ??
        (await checkNewMembersQueues(
          devices.value.filter((d) => d.userId !== caller.userId),
          now,
        ));
      if (tooLarge) return tooLarge;
      const sender = deviceAddress(domain, caller.userId, caller.deviceId);
      const messages = stateNotices(rules.routedDevices(group), sender, { case: 'createGroupMsg', value: { senderAddress: sender, group: groupInfo(group) } }, now);
      await recordGroupChange('create', group, caller);
      const created = await store.createGroup(group, messages);
      if (!created.ok) return fail(ResponseCode.INTERNAL_SERVER_ERROR, 'group id collision, try again');
      outbox.delivered(created.queued);
      return { code: ResponseCode.CREATED, reason: 'group created', groupAddress: groupAddress(domain, groupId), epoch: 0n, memberDevices: memberDevices(group) };
    }),

    addGroupMembers: unary(gate, async (request, caller, now) => {
      const target = targetGroup(request.groupAddress);
      if (!target.ok) return target.outcome;
      const members = parseMembers(request.members, caller.userId);
      if (!members.ok) return members.outcome;
      if (members.value.length === 0) return fail(ResponseCode.BAD_REQUEST, 'no members to add');
      return changeGroup(target.value, caller, 'manager', request.expectedEpoch, async (group) => {
        const present = refusal(
          rules.refuseActiveMembers(
            group,
            members.value.map((m) => m.userId),
          ),
        );
        if (present) return present;
        const devices = await devicesOf(members.value.map((m) => m.userId));
        if (!devices.ok) return devices.outcome;
        const next = rules.withMembersAdded(group, members.value, devices.value);
        const tooLarge = refusal(rules.checkGroupSize(next, config.maxGroupMembers)) ?? (await checkNewMembersQueues(devices.value, now));
        if (tooLarge) return tooLarge;
        const sender = deviceAddress(domain, caller.userId, caller.deviceId);
        const added = members.value.map((m) => ({ userId: m.userId, role: wireRole(m.role) }));
        const payload: ProtoPayload = { case: 'addGroupMembersMsg', value: { senderAddress: sender, group: groupInfo(next), added } };
        return commitEpoch('add-members', caller, next, group.version, stateNotices(rules.routedDevices(next), sender, payload, now));
      });
    }),

    removeGroupMembers: unary(gate, async (request, caller, now) => {
      const target = targetGroup(request.groupAddress);
      if (!target.ok) return target.outcome;
      if (request.userIds.length === 0) return fail(ResponseCode.BAD_REQUEST, 'no members to remove');
      if (request.userIds.length > config.maxGroupMembers) return fail(ResponseCode.BAD_REQUEST, `more than ${config.maxGroupMembers} members`);
      for (const userId of request.userIds) {
        const bad = checkString(userId, 'user id');
        if (bad) return fail(ResponseCode.BAD_REQUEST, bad);
      }
      const removing = new Set(request.userIds);
      if (removing.size !== request.userIds.length) return fail(ResponseCode.BAD_REQUEST, 'a user id is listed twice');
      // Leaving keeps the epoch and tells the leaver's other devices; removing oneself would not.
      if (removing.has(caller.userId)) return fail(ResponseCode.BAD_REQUEST, 'use LeaveGroup to leave a group');
      return changeGroup(target.value, caller, 'manager', request.expectedEpoch, async (group) => {
        const absent = refusal(rules.refuseNonMembers(group, removing));
        if (absent) return absent;
        const next = rules.withMembersRemoved(group, removing);
        const sender = deviceAddress(domain, caller.userId, caller.deviceId);
        const payload: ProtoPayload = { case: 'removeGroupMembersMsg', value: { senderAddress: sender, group: groupInfo(next), removedUserIds: [...removing] } };
        return commitEpoch('remove-members', caller, next, group.version, stateNotices(rules.removalRecipients(group, next, removing), sender, payload, now));
      });
    }),

    addGroupMemberDevice: unary(gate, async (request, caller, now) => {
      const target = targetGroup(request.groupAddress);
      if (!target.ok) return target.outcome;
      const device = parseDeviceAddress(request.device, domain, 'device');
      if (!device.ok) return fail(device.foreign ? ResponseCode.FORBIDDEN : ResponseCode.BAD_REQUEST, device.reason);
      // A member brings its own later devices; nobody can place a device of another user.
      if (device.value.userId !== caller.userId) return fail(ResponseCode.FORBIDDEN, "the device must belong to the caller's user");
      return changeGroup(target.value, caller, 'member', request.expectedEpoch, async (group) => {
        if (!(await store.getDevice(device.value.userId, device.value.deviceId))) return fail(ResponseCode.NOT_FOUND, 'unknown device');
        const present = refusal(rules.refuseDevicePresent(group, device.value));
        if (present) return present;
        const next = rules.withDeviceAdded(group, device.value);
        const sender = deviceAddress(domain, caller.userId, caller.deviceId);
        const added = deviceAddress(domain, device.value.userId, device.value.deviceId);
        const payload: ProtoPayload = { case: 'addGroupMemberDeviceMsg', value: { senderAddress: sender, group: groupInfo(next), device: added } };
        return commitEpoch('add-device', caller, next, group.version, stateNotices(rules.routedDevices(next), sender, payload, now));
      });
    }),

    leaveGroup: unary(gate, async (request, caller, now) => {
      const target = targetGroup(request.groupAddress);
      if (!target.ok) return target.outcome;
      return changeGroup(target.value, caller, 'member', undefined, async (group) => {
        const next = rules.withMemberLeft(group, caller.userId);
        const sender = deviceAddress(domain, caller.userId, caller.deviceId);
        const payload: ProtoPayload = { case: 'leaveGroupMsg', value: { senderAddress: sender, groupAddress: groupAddress(domain, group.groupId), group: groupInfo(next) } };
        await recordGroupChange('leave', next, caller);
        // No new epoch: the version alone guards against a concurrent change.
        const saved = await store.saveGroup(next, group.version, stateNotices(rules.leaveRecipients(group, next, caller), sender, payload, now));
        if (!saved.ok) return fail(ResponseCode.REQUEST_CONFLICT, 'the group changed concurrently, try again');
        outbox.delivered(saved.queued);
        return ok('left the group');
      });
    }),

    sendGroupMsg: unary(gate, async (request, caller, now) => {
      const msg = request.msg;
      if (!msg) return fail(ResponseCode.BAD_REQUEST, 'msg is missing');
      if (msg.payload.case !== 'groupMsg') return fail(ResponseCode.BAD_REQUEST, 'msg must carry a group_msg payload');
      const tooBig = checkEncodedSize(E2eeMsgSchema, msg, 'message', config.maxMessageBytes);
      if (tooBig) return fail(ResponseCode.BAD_REQUEST, tooBig);
      if (!suiteOf(msg.suiteId)) return fail(ResponseCode.BAD_REQUEST, `unknown suite ${msg.suiteId}`);
      const sender = parseDeviceAddress(msg.from, domain, 'from');
      if (!sender.ok) return fail(sender.foreign ? ResponseCode.FORBIDDEN : ResponseCode.BAD_REQUEST, sender.reason);
      if (sender.value.userId !== caller.userId || sender.value.deviceId !== caller.deviceId) return fail(ResponseCode.FORBIDDEN, 'from must be the authenticated device');
      const target = parseGroupAddress(msg.to, domain, 'to');
      if (!target.ok) return fail(target.foreign ? ResponseCode.NOT_FOUND : ResponseCode.BAD_REQUEST, target.reason);
      // The payload is opaque to the server: since protocol v2 it names the group only through
      // `to` (checked above), and receivers bind the group id into the signature they verify.
      const group = await store.getGroup(target.value);
      if (!group) return fail(ResponseCode.NOT_FOUND, 'unknown group');
      const denied = refusal(rules.requireRole(group, caller.userId, 'member'));
      if (denied) return denied;
      // A member whose queue is full misses this message (its group chain skips the index);
      // refusing the whole message would let one long-offline member stop the group. The store
      // checks each queue in the same transaction as the insert, so concurrent sends cannot
      // overfill it.
      const copies = rules.messageRecipients(group, caller).map((d) => outbox.skippable(d, msg.from, { case: 'e2eeMsg', value: msg }, now, { queueCap: config.queueLimit }));
      const result = await outbox.enqueue(copies, now);
      if (!result.ok) return fail(ResponseCode.SERVICE_UNAVAILABLE, 'recipient queue full');
      const skipped = result.skipped.length;
      return { ...ok(skipped > 0 ? `message queued; ${skipped} member device(s) with a full queue skipped` : 'message queued'), recipients: result.queued.length };
    }),

    getGroupEpoch: unary(gate, async (request, caller) => {
      const target = parseGroupAddress(request.groupAddress, domain, 'group_address');
      if (!target.ok) return fail(target.foreign ? ResponseCode.FORBIDDEN : ResponseCode.BAD_REQUEST, target.reason);
      // One answer for an unknown group, a group the caller is not in and an epoch a non-member
      // was not placed in: strangers learn nothing about which groups or epochs exist.
      const refused = fail(ResponseCode.FORBIDDEN, 'not a member of the group at that epoch');
      const group = await store.getGroup(target.value);
      if (!group) return refused;
      const memberNow = rules.isActiveMember(group, caller.userId);
      const record = request.epoch <= BigInt(Number.MAX_SAFE_INTEGER) ? await store.getGroupEpoch(group.groupId, Number(request.epoch)) : undefined;
      const placed = record?.devices.some((d) => d.userId === caller.userId && d.deviceId === caller.deviceId) ?? false;
      if (!memberNow && !placed) return refused;
      if (!record) return fail(ResponseCode.NOT_FOUND, `epoch ${request.epoch} of the group is unknown or no longer kept`);
      await ctx.audit?.record({
        mask: AuditCategory.METADATA_READ,
        event: { type: 'group-epoch-read', by: `${caller.userId}/${caller.deviceId}`, group: group.groupId, epoch: record.epoch, devices: record.devices.length },
      });
      return {
        ...ok(),
        epoch: BigInt(record.epoch),
        devices: record.devices.map((d) => ({
          address: deviceAddress(domain, d.userId, d.deviceId),
          identityKey: { signPublicKey: d.signPublicKey, kemPublicKey: d.kemPublicKey },
        })),
      };
    }),
  };
}
