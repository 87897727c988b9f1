/**
 * Group sessions in the runtime: the server orders membership changes (optimistic concurrency on
 * the epoch), the device that made the change builds the new epoch from the server's member-device
 * list and sends the bundle through one-to-one sessions (queued until sessions are accepted).
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { GroupSession, type GroupAuthMode, type GroupMemberInfo, type Session } from '../protocol/index.js';
import { bytesEqual } from '../protocol/encoding.js';
import { EpochAuthorSchema, GroupRecordSchema } from '../proto/gen/client_pb.js';
import { GroupInfoSchema, GroupRole, SendGroupMsgRequestSchema, type GroupInfo, type ResponseCode } from '../proto/gen/service_pb.js';
import {
  E2eeAddressSchema,
  E2eeMsgSchema,
  GroupPreKeyBundleSchema,
  PeerGroupSchema,
  PlaintextSchema,
  type E2eeAddress,
  type GroupPreKeyBundle,
  type Plaintext,
} from '../proto/gen/wire_pb.js';
import type { RuntimeContext } from './context.js';
import { GroupMembershipError, UnknownPeerError } from '../errors.js';
import type { PublishedDevice } from '../audit/key-transparency.js';
import { keyTransparencyEnabled, requireLoggedDevice } from './key-transparency.js';
import { ensureSessionToDevice, ensureSessionsToUser, sendPlaintextToDevice } from './one2one.js';
import type { Records } from './records.js';

// Group messages that arrive before their epoch's bundle are held (records/held.ts, docs/client.md).
// Anyone may create a group that lists this user, so a group this device has not joined yet (no
// group session: a new group, possibly a stranger's) gets a small allowance; a group it is in (and
// whose next epoch's bundle is on its way) the full one. Sizes are of the stored message (the
// ProtoMsg as received, about the ciphertext plus 200 bytes). A message over an allowance is dropped
// with an 'error' event (HeldMessageLimitError). When the pool of all not-joined groups is full, a
// not-joined group's message within its own group's allowance evicts the oldest held messages of
// other not-joined groups instead (each reported the same way), so a stranger who filled the pool
// once does not make the first messages of the next new group be dropped. A held message whose
// epoch the group has reached or passed without its keys (its bundle never came) is dropped when
// the next bundle is applied.
const MiB = 1024 * 1024;
/** Group messages held per group this device is in, waiting for a later epoch's bundle. */
export const MAX_HELD_PER_GROUP = 1000;
export const MAX_HELD_BYTES_PER_GROUP = 8 * MiB;
/** Per group this device has not joined: enough for the first messages of a new group (one of the largest, 1 MiB, fits). */
export const MAX_HELD_PER_UNJOINED_GROUP = 32;
export const MAX_HELD_BYTES_PER_UNJOINED_GROUP = 2 * MiB;
/** All not-joined groups together (when full, the oldest messages of other not-joined groups make room). */
export const MAX_HELD_UNJOINED_TOTAL = 128;
export const MAX_HELD_UNJOINED_BYTES_TOTAL = 8 * MiB;
/** Group messages held in all groups together. */
export const MAX_HELD_TOTAL = 2000;
export const MAX_HELD_BYTES_TOTAL = 32 * MiB;
/** The allowances above, as HeldRecords.hold (records/held.ts) takes them. */
export const HELD_LIMITS = Object.freeze({
  group: Object.freeze({ count: MAX_HELD_PER_GROUP, bytes: MAX_HELD_BYTES_PER_GROUP }),
  unjoinedGroup: Object.freeze({ count: MAX_HELD_PER_UNJOINED_GROUP, bytes: MAX_HELD_BYTES_PER_UNJOINED_GROUP }),
  unjoined: Object.freeze({ count: MAX_HELD_UNJOINED_TOTAL, bytes: MAX_HELD_UNJOINED_BYTES_TOTAL }),
  total: Object.freeze({ count: MAX_HELD_TOTAL, bytes: MAX_HELD_BYTES_TOTAL }),
});
/** A held message whose bundle has not come within this time is dropped. */
export const HELD_LIFETIME_MS = 7 * 24 * 60 * 60 * 1000;
/**
 * Records of groups this device has not joined (no group session, not left) kept at most: anyone
 * may create groups listing this user, each announced by a CreateGroupMsg. Beyond it the oldest
 * such record is forgotten with its held messages (a bundle for it is then refused as not ordered).
 * Joined groups are never counted nor evicted.
 */
export const MAX_UNJOINED_GROUP_RECORDS = 256;

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
  const record = await ctx.transaction((r) => r.groups.get(group.groupId));
  const announced = record?.info?.epoch ?? 0n;
  return announced > group.epoch ? announced : group.epoch;
}

export async function loadGroup(ctx: RuntimeContext, records: Records, groupId: string): Promise<GroupSession> {
  const bytes = await records.groups.getSession(groupId);
  if (!bytes) throw new GroupMembershipError(`this device is not in group ${groupId}`);
  return GroupSession.deserialize(bytes, ctx.account);
}

/** Identity signature keys of the listed devices, opening sessions to devices not yet known. */
async function memberInfos(ctx: RuntimeContext, devices: DeviceAddress[]): Promise<GroupMemberInfo[]> {
  // Checked before any session is opened: a device of this user the server lists but no device
  // vouched for must not even be stored.
  const unvouched = await ctx.transaction(async (r) => {
    for (const d of devices) {
      if (d.userId !== ctx.self.userId || d.deviceId === ctx.self.deviceId) continue;
      if (!(await r.devices.get(d.userId, d.deviceId))?.vouched) return true;
    }
    return false;
  });
  if (unvouched) throw new GroupMembershipError('the server lists a device of this user that no device vouched for');
  const users = [...new Set(devices.map((d) => d.userId))];
  for (const userId of users) await ensureSessionsToUser(ctx, userId);
  for (const d of devices) await ensureSessionToDevice(ctx, d.userId, d.deviceId);
  return ctx.transaction(async (r) => {
    const infos: GroupMemberInfo[] = [];
    for (const d of devices) {
      if (d.userId === ctx.self.userId && d.deviceId === ctx.self.deviceId) continue;
      const known = await r.devices.get(d.userId, d.deviceId);
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
export async function createGroup(
  ctx: RuntimeContext,
  groupName: string,
  userIds: string[],
  managers: readonly string[] = [],
  groupAuth: GroupAuthMode = 'sender-key',
): Promise<{ groupId: string; epoch: bigint }> {
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
      groupAuth,
    });
    await r.groups.putSession(groupId, session.serialize());
    const info = create(GroupInfoSchema, {
      ...(response.groupAddress ? { groupAddress: response.groupAddress } : {}),
      groupName,
      epoch: response.epoch,
      members: [{ userId: ctx.self.userId, role: GroupRole.MANAGER }, ...userIds.map((userId) => ({ userId, role: roleOf(userId) }))],
      memberDevices: response.memberDevices,
    });
    await r.groups.put(groupId, create(GroupRecordSchema, { info }));
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
    await r.groups.putSession(groupId, group.serialize());
    const record = (await r.groups.get(groupId)) ?? create(GroupRecordSchema, {});
    if (record.info) {
      record.info.epoch = epoch;
      record.info.memberDevices = memberDevices;
    }
    await r.groups.put(groupId, record);
    await distribute(ctx, r, bundle, recipients);
  });
}

/**
 * A membership change this device asks the server for (`send`, the RPC `rpcName`), named on top of
 * the newest epoch this device knows of (orderedEpoch); then builds and distributes the epoch the
 * server ordered (applyOrderedChange). Returns that epoch.
 */
export async function orderChange(
  ctx: RuntimeContext,
  groupId: string,
  rpcName: string,
  send: (groupAddress: E2eeAddress | undefined, expectedEpoch: bigint) => Promise<{ code: ResponseCode; reason: string; epoch: bigint; memberDevices: E2eeAddress[] }>,
): Promise<bigint> {
  const group = await ctx.transaction((r) => loadGroup(ctx, r, groupId));
  const expectedEpoch = await orderedEpoch(ctx, group);
  const response = await ctx.rpc(rpcName, () => send(group.state.groupAddress, expectedEpoch));
  await applyOrderedChange(ctx, groupId, response.epoch, response.memberDevices);
  return response.epoch;
}

/** Epoch authors remembered per group (enough for bursts of changes whose bundles arrive late). */
const MAX_EPOCH_AUTHORS = 16;

/**
 * Records what the server says a group looks like now (from a server-sent group message), and which
 * device made that epoch. The record of a group this device has not joined is counted against
 * MAX_UNJOINED_GROUP_RECORDS (two small reads, no scan); returns the groups forgotten to stay within
 * it, with how many held messages went with each.
 */
export async function noteGroupInfo(records: Records, info: GroupInfo | undefined, author?: E2eeAddress): Promise<Array<{ groupId: string; heldDropped: number }>> {
  const groupId = info?.groupAddress?.peer.case === 'group' ? info.groupAddress.peer.value.groupId : undefined;
  if (!info || !groupId) return [];
  const record = (await records.groups.get(groupId)) ?? create(GroupRecordSchema, {});
  if (!record.info || record.info.epoch <= info.epoch) record.info = info;
  if (author?.peer.case === 'user') {
    const { userId, deviceId } = author.peer.value;
    record.authors = [...record.authors.filter((a) => a.epoch !== info.epoch), create(EpochAuthorSchema, { epoch: info.epoch, userId, deviceId })]
      .sort((a, b) => (a.epoch < b.epoch ? -1 : 1))
      .slice(-MAX_EPOCH_AUTHORS);
  }
  await records.groups.put(groupId, record);
  // A group this device left keeps its record (its history); one it is in is never counted.
  if (record.left || (await records.groups.getSession(groupId)) !== undefined) return [];
  return records.groups.noteUnjoined(groupId, MAX_UNJOINED_GROUP_RECORDS);
}

/** The member devices the server placed in a group at one epoch, with the identity keys it registered for them. */
export interface EpochRoster {
  epoch: bigint;
  devices: GroupMemberInfo[];
}

function groupIdOf(bundle: GroupPreKeyBundle): string {
  return bundle.groupAddress?.peer.case === 'group' ? bundle.groupAddress.peer.value.groupId : '';
}

/**
 * Checks that a bundle comes from the device the server named as the author of its epoch, through
 * that device's own session (read-only; receiveBundle checks it again in its transaction).
 */
export async function requireOrderedAuthor(records: Records, from: Session, bundle: GroupPreKeyBundle): Promise<void> {
  if (!bytesEqual(bundle.creatorSignPublicKey, from.peerIdentityKey.signPublicKey)) {
    throw new GroupMembershipError('a group bundle arrived through a session with another device than its creator');
  }
  const groupId = groupIdOf(bundle);
  const record = await records.groups.get(groupId);
  // The server orders membership changes; a bundle counts only for an epoch it ordered, and only
  // from the device it names as the author (so a member being removed cannot race the remover).
  const author = record?.authors.find((a) => a.epoch === bundle.epoch);
  const sender = from.peerAddress?.peer.case === 'user' ? from.peerAddress.peer.value : undefined;
  if (!author || !sender || author.userId !== sender.userId || author.deviceId !== sender.deviceId) {
    throw new GroupMembershipError(`a bundle for epoch ${bundle.epoch} of group ${groupId} that the server did not order from its sender`);
  }
}

/** Asks the server which devices it placed in the group at `epoch` (GetGroupEpoch). */
export async function fetchEpochRoster(ctx: RuntimeContext, groupId: string, epoch: bigint): Promise<EpochRoster> {
  const groupAddress = create(E2eeAddressSchema, { domain: ctx.domain, peer: { case: 'group', value: create(PeerGroupSchema, { groupId }) } });
  const response = await ctx.rpc('GetGroupEpoch', () => ctx.service.getGroupEpoch({ groupAddress, epoch }));
  if (response.epoch !== epoch) throw new GroupMembershipError(`the server answered for epoch ${response.epoch} of group ${groupId}, not ${epoch}`);
  const devices: GroupMemberInfo[] = [];
  const keys: PublishedDevice[] = [];
  for (const d of response.devices) {
    if (d.address?.peer.case !== 'user' || !d.identityKey) throw new GroupMembershipError(`the server's member list of group ${groupId} has a device without address or key`);
    const { userId, deviceId } = d.address.peer.value;
    const { signPublicKey, kemPublicKey } = d.identityKey;
    devices.push({ userId, deviceId, signPublicKey });
    // A group's members all use this device's suite (a bundle's member keys are checked against it).
    keys.push({ userId, deviceId, suiteId: ctx.account.suite.params.id, signPublicKey, kemPublicKey });
  }
  if (keyTransparencyEnabled(ctx)) await requireLoggedMembers(ctx, keys);
  return { epoch, devices };
}

/**
 * A member this device holds no key for is checked against the server's registered key alone
 * (requireServerMembership): with ClientOptions.auditLogKey, that key must be proved logged, or a
 * server could slip a device of its own into the group's member list. Devices already known were
 * checked when first met, and this device is itself. Runs before the bundle's transaction: each
 * check may ask the server.
 */
async function requireLoggedMembers(ctx: RuntimeContext, members: PublishedDevice[]): Promise<void> {
  const unknown = await ctx.transaction(async (r) => {
    const found: PublishedDevice[] = [];
    for (const m of members) {
      if (m.userId === ctx.self.userId && m.deviceId === ctx.self.deviceId) continue;
      if (!(await r.devices.get(m.userId, m.deviceId))?.identityKey) found.push(m);
    }
    return found;
  });
  for (const device of unknown) await requireLoggedDevice(ctx, device);
}

/**
 * The member list is written by whichever member made the epoch, so it is checked against what
 * this device can know independently: it must name exactly the devices the server placed in the
 * group at that epoch (no invented, foreign or missing device), each under the identity key this
 * device already holds for it, or else the key the server registered for it; this device's own
 * entry must carry its own key, and devices of this device's own user must be ones it vouched for.
 */
async function requireServerMembership(ctx: RuntimeContext, records: Records, bundle: GroupPreKeyBundle, roster: EpochRoster): Promise<void> {
  const groupId = groupIdOf(bundle);
  const refuse = (why: string): never => {
    throw new GroupMembershipError(`the bundle for epoch ${bundle.epoch} of group ${groupId} ${why}`);
  };
  if (roster.epoch !== bundle.epoch) refuse(`was checked against epoch ${roster.epoch}`);
  const placed = new Map(roster.devices.map((d) => [memberKey(d), d.signPublicKey]));
  if (placed.size !== roster.devices.length) refuse('was checked against a server list naming a device twice');
  if (bundle.members.length !== placed.size) refuse(`lists ${bundle.members.length} devices, the server placed ${placed.size}`);
  for (const member of bundle.members) {
    const registered = placed.get(memberKey(member));
    if (!registered) refuse(`lists a device of user ${member.userId} that the server did not place in the group`);
    const isSelf = member.userId === ctx.self.userId && member.deviceId === ctx.self.deviceId;
    if (isSelf) {
      if (!bytesEqual(member.signPublicKey, ctx.account.identityPublicKey.signPublicKey)) refuse("gives this device another device's key");
      continue;
    }
    const known = await records.devices.get(member.userId, member.deviceId);
    const reference = known?.identityKey?.signPublicKey ?? (registered as Uint8Array);
    if (!bytesEqual(member.signPublicKey, reference) || !bytesEqual(member.signPublicKey, registered as Uint8Array)) {
      refuse(`gives a device of user ${member.userId} another identity key than the one this device knows or the server registered`);
    }
    if (member.userId === ctx.self.userId && !known?.vouched) refuse('lists a device of this user that no device of it vouched for');
  }
}

const memberKey = (d: { userId: string; deviceId: string }): string => `${d.userId.length}:${d.userId}${d.deviceId}`;

/**
 * A GroupPreKeyBundle that arrived through the one-to-one session `from`: joins the group or moves
 * to the bundle's epoch. The bundle must be made by the device the server named as the epoch's
 * author, and list exactly the server's devices of that epoch (`roster`, from fetchEpochRoster).
 * Returns whether this device joined (new group) and the group id.
 */
export async function receiveBundle(
  ctx: RuntimeContext,
  records: Records,
  from: Session,
  bundle: GroupPreKeyBundle,
  roster: EpochRoster | undefined,
): Promise<{ groupId: string; joined: boolean; applied: boolean }> {
  await requireOrderedAuthor(records, from, bundle);
  const groupId = groupIdOf(bundle);
  const bytes = toBinary(GroupPreKeyBundleSchema, bundle);
  const record = await records.groups.get(groupId);
  const expected = { expectedEpoch: bundle.epoch };
  const existing = await records.groups.getSession(groupId);
  const now = ctx.common.now();
  // A bundle for an epoch this device already has (or passed) changes nothing.
  if (existing && !isNewEpoch(GroupSession.deserialize(existing, ctx.account), bundle)) return { groupId, joined: false, applied: false };
  if (!roster) throw new GroupMembershipError(`the bundle for epoch ${bundle.epoch} of group ${groupId} was not checked against the server's member list`);
  await requireServerMembership(ctx, records, bundle, roster);
  if (existing) {
    const group = GroupSession.deserialize(existing, ctx.account);
    group.applyBundle(bytes, now, expected);
    group.pruneEpochs(now);
    await records.groups.putSession(groupId, group.serialize());
    return { groupId, joined: false, applied: true };
  }
  const group = GroupSession.join(ctx.account, bytes, { userId: ctx.self.userId, deviceId: ctx.self.deviceId, now, ...expected });
  await records.groups.putSession(groupId, group.serialize());
  if (record?.left) {
    record.left = false;
    await records.groups.put(groupId, record);
  }
  return { groupId, joined: true, applied: true };
}

/** Whether `bundle` would move `group` forward (a bundle for a current or passed epoch changes nothing). */
export function isNewEpoch(group: GroupSession | undefined, bundle: GroupPreKeyBundle): boolean {
  return group === undefined || bundle.epoch > group.epoch;
}

/** Encrypts a group message into the outbox. */
export async function sendGroupPlaintext(ctx: RuntimeContext, groupId: string, plaintext: Plaintext): Promise<number> {
  return ctx.transaction(async (r) => {
    const group = await loadGroup(ctx, r, groupId);
    group.pruneEpochs(ctx.common.now());
    const bytes = toBinary(PlaintextSchema, plaintext);
    const wire = group.encrypt(bytes);
    bytes.fill(0);
    await r.groups.putSession(groupId, group.serialize());
    const msg = fromBinary(E2eeMsgSchema, wire);
    // The sender's address is routing data for the server (it checks it against the signed-in
    // device); receivers identify the sender by the signed member index, not by this field.
    if (ctx.account.address) msg.from = ctx.account.address;
    await r.outbox.add({ case: 'group', value: create(SendGroupMsgRequestSchema, { msg }) });
    return wire.length;
  });
}

/**
 * Whether this device is the one that acts on a LeaveGroupMsg: the lowest user id among the
 * remaining managers, and of that user's devices the lowest device id this device knows of.
 */
export async function isActingManagerDevice(ctx: RuntimeContext, info: GroupInfo, leaverUserId: string): Promise<boolean> {
  const managers = info.members
    .filter((m) => m.role === GroupRole.MANAGER && m.userId !== leaverUserId)
    .map((m) => m.userId)
    .sort();
  if (managers[0] !== ctx.self.userId) return false;
  const own = await ctx.transaction((r) => r.devices.list(ctx.self.userId));
  const ids = [ctx.self.deviceId, ...own.filter((d) => d.vouched).map((d) => d.deviceId)].sort();
  return ids[0] === ctx.self.deviceId;
}
