/**
 * Group sessions in the runtime: the server orders membership changes (optimistic concurrency on
 * the epoch), the device that made the change builds the new epoch from the server's member-device
 * list and sends the bundle through one-to-one sessions (queued until sessions are accepted).
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { GroupSession, type GroupMemberInfo, type Session } from '../protocol/index.js';
import { EpochAuthorSchema, GroupRecordSchema } from '../proto/gen/client_pb.js';
import { GroupInfoSchema, GroupRole, SendGroupMsgRequestSchema, type GroupInfo } from '../proto/gen/service_pb.js';
import { E2eeMsgSchema, GroupPreKeyBundleSchema, PlaintextSchema, type E2eeAddress, type GroupPreKeyBundle, type Plaintext } from '../proto/gen/wire_pb.js';
import type { RuntimeContext } from './context.js';
import { GroupMembershipError, UnknownPeerError } from './errors.js';
import { ensureSessionToDevice, ensureSessionsToUser, sendPlaintextToDevice } from './one2one.js';
import type { Records } from './records.js';

/** Equality of public values (no constant-time need). */
function bytesEqualPublic(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Group messages held while waiting for their epoch's bundle, per group. */
export const MAX_HELD_PER_GROUP = 1000;
/** Group messages held in all groups together. */
export const MAX_HELD_TOTAL = 2000;
/** A held message whose bundle has not come within this time is dropped. */
export const HELD_LIFETIME_MS = 7 * 24 * 60 * 60 * 1000;

type DeviceAddress = { userId: string; deviceId: string };

export function devicesOf(addresses: E2eeAddress[]): DeviceAddress[] {
  const out: DeviceAddress[] = [];
  for (const a of addresses) if (a.peer.case === 'user') out.push({ userId: a.peer.value.userId, deviceId: a.peer.value.deviceId });
  return out;
}

/**
 * The epoch to name as `expected_epoch` in a change: the newest the server announced to this device,
 * or the session's own if newer. When a change was ordered but its author never delivered the bundle
 * (it crashed in between), the group can still move on: the next change builds on the session's
 * epoch and jumps over the lost one.
 */
export async function orderedEpoch(ctx: RuntimeContext, group: GroupSession): Promise<bigint> {
  const record = await ctx.transaction((r) => r.getGroup(group.groupId));
  const announced = record?.info?.epoch ?? 0n;
  return announced > group.epoch ? announced : group.epoch;
}

export async function loadGroup(ctx: RuntimeContext, records: Records, groupId: string): Promise<GroupSession> {
  const bytes = await records.getGroupSession(groupId);
  if (!bytes) throw new GroupMembershipError(`this device is not in group ${groupId}`);
  return GroupSession.deserialize(bytes, ctx.account);
}

/** Identity signature keys of the listed devices, opening sessions to devices not yet known. */
async function memberInfos(ctx: RuntimeContext, devices: DeviceAddress[]): Promise<GroupMemberInfo[]> {
  const users = [...new Set(devices.map((d) => d.userId))];
  for (const userId of users) await ensureSessionsToUser(ctx, userId);
  for (const d of devices) await ensureSessionToDevice(ctx, d.userId, d.deviceId);
  return ctx.transaction(async (r) => {
    const infos: GroupMemberInfo[] = [];
    for (const d of devices) {
      if (d.userId === ctx.self.userId && d.deviceId === ctx.self.deviceId) continue;
      const known = await r.getDevice(d.userId, d.deviceId);
      if (!known?.identityKey) throw new UnknownPeerError(`no identity key known for a device of user ${d.userId}`);
      if (d.userId === ctx.self.userId && !known.vouched) throw new GroupMembershipError('the server lists a device of this user that no device vouched for');
      infos.push({ userId: d.userId, deviceId: d.deviceId, signPublicKey: known.identityKey.signPublicKey });
    }
    return infos;
  });
}

function bundlePlaintext(bundle: Uint8Array): Plaintext {
  return create(PlaintextSchema, { version: 1, payload: { case: 'groupPreKeyBundle', value: fromBinary(GroupPreKeyBundleSchema, bundle) } });
}

async function distribute(ctx: RuntimeContext, records: Records, bundle: Uint8Array, recipients: GroupMemberInfo[]): Promise<void> {
  for (const recipient of recipients) await sendPlaintextToDevice(ctx, records, recipient.userId, recipient.deviceId, bundlePlaintext(bundle));
}

/** Creates a group on the server and distributes epoch 0. */
export async function createGroup(ctx: RuntimeContext, groupName: string, userIds: string[], managers: readonly string[] = []): Promise<{ groupId: string; epoch: bigint }> {
  const roleOf = (userId: string) => (managers.includes(userId) ? GroupRole.MANAGER : GroupRole.MEMBER);
  const response = await ctx.rpc('CreateGroup', () => ctx.service.createGroup({ groupName, members: userIds.map((userId) => ({ userId, role: roleOf(userId) })) }));
  const groupId = response.groupAddress?.peer.case === 'group' ? response.groupAddress.peer.value.groupId : '';
  if (!groupId) throw new UnknownPeerError('the server created a group without an address');
  const members = await memberInfos(ctx, devicesOf(response.memberDevices));
  await ctx.transaction(async (r) => {
    const { session, bundle, recipients } = GroupSession.create(ctx.account, {
      groupId,
      domain: ctx.domain,
      members,
      epoch: response.epoch,
      userId: ctx.self.userId,
      deviceId: ctx.self.deviceId,
    });
    await r.putGroupSession(groupId, session.serialize());
    const info = create(GroupInfoSchema, {
      ...(response.groupAddress ? { groupAddress: response.groupAddress } : {}),
      groupName,
      epoch: response.epoch,
      members: [{ userId: ctx.self.userId, role: GroupRole.MANAGER }, ...userIds.map((userId) => ({ userId, role: roleOf(userId) }))],
      memberDevices: response.memberDevices,
    });
    await r.putGroup(groupId, create(GroupRecordSchema, { info }));
    await distribute(ctx, r, bundle, recipients);
  });
  return { groupId, epoch: response.epoch };
}

/**
 * After the server ordered epoch `epoch` with `memberDevices`, moves this device's group session
 * there: members the server lists but the session lacks are added, the others removed.
 */
export async function applyOrderedChange(ctx: RuntimeContext, groupId: string, epoch: bigint, memberDevices: E2eeAddress[]): Promise<void> {
  const target = devicesOf(memberDevices);
  const infos = await memberInfos(ctx, target);
  await ctx.transaction(async (r) => {
    const group = await loadGroup(ctx, r, groupId);
    const now = ctx.common.now();
    const key = (d: DeviceAddress) => `${d.userId}\u0000${d.deviceId}`;
    const current = new Set(group.members.map(key));
    const wanted = new Set(target.map(key));
    const add = infos.filter((m) => !current.has(key(m)));
    const remove = group.members.filter((m) => !wanted.has(key(m))).map((m) => ({ userId: m.userId, deviceId: m.deviceId }));
    const { bundle, recipients } = group.changeMembers({ add, remove, epoch, now });
    // The server already ordered this epoch: confirm it at once.
    group.applyBundle(bundle, now, { expectedEpoch: epoch });
    await r.putGroupSession(groupId, group.serialize());
    const record = (await r.getGroup(groupId)) ?? create(GroupRecordSchema, {});
    if (record.info) {
      record.info.epoch = epoch;
      record.info.memberDevices = memberDevices;
    }
    await r.putGroup(groupId, record);
    await distribute(ctx, r, bundle, recipients);
  });
}

/** Epoch authors remembered per group (enough for bursts of changes whose bundles arrive late). */
const MAX_EPOCH_AUTHORS = 16;

/**
 * Records what the server says a group looks like now (from a server-sent group message), and which
 * device made that epoch.
 */
export async function noteGroupInfo(records: Records, info: GroupInfo | undefined, author?: E2eeAddress): Promise<void> {
  const groupId = info?.groupAddress?.peer.case === 'group' ? info.groupAddress.peer.value.groupId : undefined;
  if (!info || !groupId) return;
  const record = (await records.getGroup(groupId)) ?? create(GroupRecordSchema, {});
  if (!record.info || record.info.epoch <= info.epoch) record.info = info;
  if (author?.peer.case === 'user') {
    const { userId, deviceId } = author.peer.value;
    record.authors = [...record.authors.filter((a) => a.epoch !== info.epoch), create(EpochAuthorSchema, { epoch: info.epoch, userId, deviceId })]
      .sort((a, b) => (a.epoch < b.epoch ? -1 : 1))
      .slice(-MAX_EPOCH_AUTHORS);
  }
  await records.putGroup(groupId, record);
}

/**
 * A GroupPreKeyBundle that arrived through the one-to-one session `from`: joins the group or moves
 * to the bundle's epoch. The bundle must be made by the device that sent it. Returns whether this
 * device joined (new group) and the group id.
 */
export async function receiveBundle(ctx: RuntimeContext, records: Records, from: Session, bundle: GroupPreKeyBundle): Promise<{ groupId: string; joined: boolean; applied: boolean }> {
  if (!bytesEqualPublic(bundle.creatorSignPublicKey, from.peerIdentityKey.signPublicKey)) {
    throw new GroupMembershipError('a group bundle arrived through a session with another device than its creator');
  }
  const groupId = bundle.groupAddress?.peer.case === 'group' ? bundle.groupAddress.peer.value.groupId : '';
  const bytes = toBinary(GroupPreKeyBundleSchema, bundle);
  const record = await records.getGroup(groupId);
  // The server orders membership changes; a bundle counts only for an epoch it ordered, and only
  // from the device it names as the author (so a member being removed cannot race the remover).
  const author = record?.authors.find((a) => a.epoch === bundle.epoch);
  const sender = from.peerAddress?.peer.case === 'user' ? from.peerAddress.peer.value : undefined;
  if (!author || !sender || author.userId !== sender.userId || author.deviceId !== sender.deviceId) {
    throw new GroupMembershipError(`a bundle for epoch ${bundle.epoch} of group ${groupId} that the server did not order from its sender`);
  }
  const expected = { expectedEpoch: bundle.epoch };
  const existing = await records.getGroupSession(groupId);
  const now = ctx.common.now();
  if (existing) {
    const group = GroupSession.deserialize(existing, ctx.account);
    // A bundle for an epoch this device already has (or passed) changes nothing.
    if (bundle.epoch <= group.epoch) return { groupId, joined: false, applied: false };
    group.applyBundle(bytes, now, expected);
    group.pruneEpochs(now);
    await records.putGroupSession(groupId, group.serialize());
    return { groupId, joined: false, applied: true };
  }
  const group = GroupSession.join(ctx.account, bytes, { userId: ctx.self.userId, deviceId: ctx.self.deviceId, now, ...expected });
  await records.putGroupSession(groupId, group.serialize());
  if (record?.left) {
    record.left = false;
    await records.putGroup(groupId, record);
  }
  return { groupId, joined: true, applied: true };
}

/** Encrypts a group message into the outbox. */
export async function sendGroupPlaintext(ctx: RuntimeContext, groupId: string, plaintext: Plaintext): Promise<number> {
  return ctx.transaction(async (r) => {
    const group = await loadGroup(ctx, r, groupId);
    group.pruneEpochs(ctx.common.now());
    const bytes = toBinary(PlaintextSchema, plaintext);
    const wire = group.encrypt(bytes);
    bytes.fill(0);
    await r.putGroupSession(groupId, group.serialize());
    const msg = fromBinary(E2eeMsgSchema, wire);
    // The sender's address is routing data for the server (it checks it against the signed-in
    // device); receivers identify the sender by the signed key digest, not by this field.
    if (ctx.account.address) msg.from = ctx.account.address;
    await r.addOutbox({ case: 'group', value: create(SendGroupMsgRequestSchema, { msg }) });
    return wire.length;
  });
}

/**
 * Whether this device is the one that acts on a LeaveGroupMsg: the lowest user id among the
 * remaining managers, and of that user's devices the lowest device id this device knows of.
 */
export async function isActingManagerDevice(ctx: RuntimeContext, info: GroupInfo, leaverUserId: string): Promise<boolean> {
  const managers = info.members.filter((m) => m.role === GroupRole.MANAGER && m.userId !== leaverUserId).map((m) => m.userId).sort();
  if (managers[0] !== ctx.self.userId) return false;
  const own = await ctx.transaction((r) => r.listDevices(ctx.self.userId));
  const ids = [ctx.self.deviceId, ...own.filter((d) => d.vouched).map((d) => d.deviceId)].sort();
  return ids[0] === ctx.self.deviceId;
}
