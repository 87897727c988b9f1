/**
 * Processing of server-sent ProtoMsgs, one at a time, in the order DESIGN.md §5 requires:
 * decrypt → persist the new state (with the plaintext, marked undelivered) → hand it to the app →
 * mark delivered → consume at the server. The ProtoMsg id is recorded as processed in the same
 * transaction as the new state, so a replay after a crash changes nothing and delivers nothing
 * twice; undelivered messages are handed over again at start-up.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Pqe2eeError } from '../../bindings/errors.js';
import { StorageError } from '../store/errors.js';
import { deviceLinkStatement, DuplicateInviteError, GroupSession, InboundSession, MalformedMessageError, ONE_TIME_PRE_KEY_BATCH, Session, UnknownEpochError } from '../protocol/index.js';
import { AcceptRequestSchema, type NewUserDeviceMsg, type ProtoMsg } from '../proto/gen/service_pb.js';
import { AppMessageSchema, HeldGroupMessageSchema, KnownDeviceSchema, StoredMessageSchema, type StoredMessage } from '../proto/gen/client_pb.js';
import {
  AcceptMsgSchema,
  E2eeAddressSchema,
  E2eeMsgSchema,
  InviteMsgSchema,
  OneTimePreKeyPublicSchema,
  PeerUserSchema,
  PlaintextSchema,
  type E2eeAddress,
  type GroupPreKeyBundle,
  type Plaintext,
} from '../proto/gen/wire_pb.js';
import type { RuntimeContext } from './context.js';
import type { ClientEvent, DeviceRef, ReceivedMessage } from './events.js';
import { ForgedRoutingError, GroupMembershipError, HeldMessageLimitError, PeerIdentityChangedError, UnknownPeerError } from './errors.js';
import {
  applyOrderedChange,
  fetchEpochRoster,
  HELD_LIFETIME_MS,
  isActingManagerDevice,
  isNewEpoch,
  loadGroup,
  orderedEpoch,
  HELD_LIMITS,
  MAX_UNJOINED_GROUP_RECORDS,
  noteGroupInfo,
  receiveBundle,
  requireOrderedAuthor,
  type EpochRoster,
} from './groups.js';
import { ensureSessionToDevice, flushPendingFor, MAX_SESSIONS_PER_DEVICE } from './one2one.js';
import type { HeldEviction, Records } from './records.js';

function deviceRef(address: E2eeAddress | undefined): DeviceRef {
  if (address?.peer.case !== 'user') throw new UnknownPeerError('a message without a device address');
  return { userId: address.peer.value.userId, deviceId: address.peer.value.deviceId };
}

function toReceived(m: StoredMessage): ReceivedMessage {
  return {
    messageId: m.messageId,
    from: deviceRef(m.from),
    body: m.body,
    sentAt: Number(m.sentAt),
    receivedAt: Number(m.receivedAt),
    expiresAt: Number(m.expiresAt),
  };
}

/** The event that hands a stored message to the app. */
export function messageEvent(m: StoredMessage): ClientEvent {
  const message = toReceived(m);
  if (m.kind === 'group') return { type: 'group-message', groupId: m.groupId, message };
  if (m.kind === 'other-device') return { type: 'other-device-message', message, conversationUserId: m.conversationUserId };
  return { type: 'one2one-message', message };
}

/** Hands stored, undelivered messages to the app and marks them delivered (at start-up and after each ProtoMsg). */
export async function deliverStored(ctx: RuntimeContext): Promise<void> {
  const rows = await ctx.transaction((r) => r.listUndelivered());
  for (const { key, value } of rows) {
    await ctx.events.emit(messageEvent(value));
    const deliveredAt = BigInt(ctx.common.now());
    // Until delivery expiresAt holds the relative expiry; from delivery on, the time to purge.
    value.expiresAt = value.expiresAt > 0n ? deliveredAt + value.expiresAt : 0n;
    await ctx.transaction((r) => r.markDelivered(key, value));
    ctx.crash('delivered');
  }
}

/** Deletes disappearing messages whose time is up, and held group messages whose bundle never came. */
export function purgeExpired(ctx: RuntimeContext): Promise<number> {
  const now = BigInt(ctx.common.now());
  return ctx.transaction(async (r) => (await r.purgeExpired(now)) + (await r.purgeHeld(now - BigInt(HELD_LIFETIME_MS))));
}

/** Longest message id or conversation user id accepted in an AppMessage. */
const MAX_APP_ID_LENGTH = 256;

/** Decodes an AppMessage plaintext into a stored (undelivered) message. */
/** `from` is the authenticated sender: the session's peer, or the group member whose signature verified. */
function storedFrom(ctx: RuntimeContext, protoMsg: ProtoMsg, from: E2eeAddress, kind: string, common: Uint8Array, groupId = ''): StoredMessage {
  let app: ReturnType<typeof fromBinary<typeof AppMessageSchema>>;
  try {
    app = fromBinary(AppMessageSchema, common);
  } catch {
    throw new MalformedMessageError('an authenticated message whose application message does not decode');
  }
  // The sender chose these strings: bounded like every id this runtime stores.
  if (app.messageId.length > MAX_APP_ID_LENGTH || app.conversationUserId.length > MAX_APP_ID_LENGTH) throw new MalformedMessageError('a message id or conversation user id is too long');
  const fromUser = from.peer.case === 'user' ? from.peer.value.userId : '';
  const effectiveKind = kind === 'one2one' && fromUser === ctx.self.userId && app.conversationUserId ? 'other-device' : kind;
  // Only this user's own (vouched) devices file a message under a conversation; from anyone else
  // the field would let a sender slip its message into this user's conversation with someone else.
  const conversationUserId = effectiveKind === 'other-device' ? app.conversationUserId : '';
  return create(StoredMessageSchema, {
    messageId: app.messageId,
    protoMsgId: protoMsg.id,
    kind: effectiveKind,
    from,
    groupId,
    conversationUserId,
    body: app.body,
    sentAt: app.sentAt,
    receivedAt: BigInt(ctx.common.now()),
    // Until delivery this holds the relative expiry; deliverStored turns it into a time.
    expiresAt: app.expiresInMs,
    delivered: false,
  });
}

/** Handles one ProtoMsg; returns events to emit after its state is stored (messages are delivered separately). */
export async function handleProtoMsg(ctx: RuntimeContext, msg: ProtoMsg): Promise<void> {
  if (await ctx.transaction((r) => r.isProcessed(msg.id))) return;
  const events: ClientEvent[] = [];
  const payload = msg.payload;
  switch (payload.case) {
    case 'inviteMsg': {
      const inviteBytes = toBinary(InviteMsgSchema, payload.value);
      const peer = deviceRef(payload.value.from);
      requireSameDevice(peer, msg.from, 'InviteMsg');
      const known = await ctx.transaction((r) => r.getDevice(peer.userId, peer.deviceId));
      const offered = payload.value.initiatorIdentityKey?.signPublicKey ?? new Uint8Array(0);
      if (known?.identityKey && !samePublicKey(known.identityKey.signPublicKey, offered)) {
        // The device re-appeared with another identity (reinstall, or someone in the middle): the
        // app should have the user compare the new safety number before anything is sent to it.
        await ctx.events.emit({ type: 'peer-identity-changed', peer });
        if (!ctx.acceptIdentityChanges) throw new PeerIdentityChangedError(`device ${peer.deviceId} of user ${peer.userId} invited this device with a different identity key`);
      }
      await ctx.transaction(async (r) => {
        const { session, accept } = InboundSession.accept(ctx.account, inviteBytes);
        // Sessions are keyed by their peer, and an existing one is never replaced: the id is derived
        // from the invite, so the same id again means the same invite again.
        if (await r.getSession(peer, session.sessionId)) throw new DuplicateInviteError();
        await r.putAccount(ctx.account.serialize());
        await r.putSession(peer, session.sessionId, session.serialize());
        const previous = await r.getDevice(peer.userId, peer.deviceId);
        if (peer.userId === ctx.self.userId && !(previous?.vouched && previous.identityKey && samePublicKey(previous.identityKey.signPublicKey, session.peerIdentityKey.signPublicKey))) {
          // A device of this very user that none of its devices vouched for: refuse it, or it would
          // receive copies of everything this device sends.
          throw new UnknownPeerError('an invite from a device of this user that no device vouched for');
        }
        await r.putDeviceWithSession(
          create(KnownDeviceSchema, { userId: peer.userId, deviceId: peer.deviceId, identityKey: session.peerIdentityKey, sendingSessionId: session.sessionId, vouched: previous?.vouched === true, sessionIds: previous?.sessionIds ?? [] }),
          session.sessionId,
          MAX_SESSIONS_PER_DEVICE,
        );
        await r.addOutboxAccept(peer, { case: 'accept', value: create(AcceptRequestSchema, { msg: fromBinary(AcceptMsgSchema, accept) }) }, MAX_SESSIONS_PER_DEVICE);
        if (previous?.sendingSessionId !== session.sessionId) await flushPendingFor(ctx, r, peer.userId, peer.deviceId);
        await r.markProcessed(msg.id);
        events.push({ type: 'inbound-session-invited', peer, sessionId: session.sessionId }, { type: 'inbound-session-ready', peer, sessionId: session.sessionId });
      });
      break;
    }
    case 'acceptMsg': {
      const acceptBytes = toBinary(AcceptMsgSchema, payload.value);
      await ctx.transaction(async (r) => {
        // Looked up under the device the server says sent it: an accept can only ever complete a
        // session this device opened to that very device.
        const bytes = await r.getSession(deviceRef(msg.from), payload.value.sessionId);
        if (!bytes) throw new UnknownPeerError('an AcceptMsg for a session this device does not have with its sender');
        const session = Session.deserialize(bytes);
        // The peer is the one the session was opened to (its address is bound into the key
        // agreement), never the server's say-so; routing that disagrees is refused.
        const peer = deviceRef(session.peerAddress);
        requireSameDevice(peer, payload.value.from, 'AcceptMsg');
        requireSameDevice(peer, msg.from, 'AcceptMsg');
        session.complete(acceptBytes);
        await r.putSession(peer, session.sessionId, session.serialize());
        const known = await r.getDevice(peer.userId, peer.deviceId);
        await r.putDevice(create(KnownDeviceSchema, { userId: peer.userId, deviceId: peer.deviceId, identityKey: session.peerIdentityKey, sendingSessionId: session.sessionId, vouched: known?.vouched === true, sessionIds: known?.sessionIds ?? [] }));
        await flushPendingFor(ctx, r, peer.userId, peer.deviceId);
        await r.markProcessed(msg.id);
        events.push({ type: 'outbound-session-ready', peer, sessionId: session.sessionId });
      });
      break;
    }
    case 'e2eeMsg': {
      if (payload.value.payload.case === 'groupMsg') {
        // `from` on a group message is routing data for the server only (see groups.ts); the
        // signed group payload is what identifies the sender.
        payload.value.from = undefined;
      }
      const wire = toBinary(E2eeMsgSchema, payload.value);
      if (payload.value.payload.case === 'groupMsg') await receiveGroupMessage(ctx, msg, wire, payload.value.payload.value.groupId, events);
      else await receiveOne2one(ctx, msg, wire, payload.value.sessionId, events);
      break;
    }
    case 'supplyOpkMsg': {
      // The upload happens before the message counts as processed: a crash re-runs it (the same
      // request id, so the keys the first attempt made are not taken for handed out). Keys the
      // server no longer holds are retired past their in-flight grace, so the account stays within
      // MAX_ONE_TIME_PRE_KEYS however often others fetch this device's bundles (src/protocol/account.ts).
      const supplied = ctx.account.publishOneTimePreKeys(ONE_TIME_PRE_KEY_BATCH, { now: ctx.common.now(), available: payload.value.available, requestId: msg.id });
      await ctx.transaction((r) => r.putAccount(ctx.account.serialize()));
      await ctx.rpc('SupplyOpks', () => ctx.service.supplyOpks({ oneTimePreKeys: supplied.map((b) => fromBinary(OneTimePreKeyPublicSchema, b)) }));
      await ctx.transaction((r) => r.markProcessed(msg.id));
      events.push({ type: 'pre-keys-low', available: payload.value.available, supplied: supplied.length });
      break;
    }
    case 'newUserDeviceMsg': {
      const device = deviceRef(payload.value.userAddress);
      const vouched = await checkDeviceLink(ctx, device, payload.value);
      if (vouched === 'forged') {
        // Nobody this device knows signed for it: no session, and never into this user's groups.
        events.push({ type: 'error', error: new UnknownPeerError(`a new device of user ${device.userId} is not vouched for by a device this device knows`), context: 'new device' });
        await ctx.transaction((r) => r.markProcessed(msg.id));
        break;
      }
      if (vouched === 'verified' && device.userId === ctx.self.userId && payload.value.identityKey) {
        const identityKey = payload.value.identityKey;
        await ctx.transaction(async (r) => {
          const previous = await r.getDevice(device.userId, device.deviceId);
          await r.putDevice(create(KnownDeviceSchema, { userId: device.userId, deviceId: device.deviceId, identityKey, sendingSessionId: previous?.sendingSessionId ?? '', vouched: true, sessionIds: previous?.sessionIds ?? [] }));
        });
      }
      await ensureSessionToDevice(ctx, device.userId, device.deviceId, payload.value.identityKey);
      if (device.userId === ctx.self.userId && (await isLowestOwnDevice(ctx, device.deviceId))) {
        // This user's new device joins every group this device is in (the server requires a device of the same user to ask).
        for (const groupId of await ctx.transaction((r) => r.listGroupIds())) {
          try {
            const group = await ctx.transaction((r) => loadGroup(ctx, r, groupId));
            const expectedEpoch = await orderedEpoch(ctx, group);
            const response = await ctx.rpc('AddGroupMemberDevice', () =>
              ctx.service.addGroupMemberDevice({ groupAddress: group.state.groupAddress, expectedEpoch, device: payload.value.userAddress }),
            );
            await applyOrderedChange(ctx, groupId, response.epoch, response.memberDevices);
          } catch (error) {
            if (ctx.isRetryable(error)) throw error;
            events.push({ type: 'error', error: error as Error, context: `adding the new device to group ${groupId}` });
          }
        }
      }
      await ctx.transaction((r) => r.markProcessed(msg.id));
      break;
    }
    case 'createGroupMsg':
    case 'addGroupMembersMsg':
    case 'removeGroupMembersMsg':
    case 'addGroupMemberDeviceMsg': {
      const info = payload.value.group;
      const groupId = info?.groupAddress?.peer.case === 'group' ? info.groupAddress.peer.value.groupId : '';
      const stillMember = !(payload.case === 'removeGroupMembersMsg' && payload.value.removedUserIds.includes(ctx.self.userId));
      await ctx.transaction(async (r) => {
        reportForgottenGroups(events, await noteGroupInfo(r, info, payload.value.senderAddress), msg.id);
        if (!stillMember && (await r.getGroupSession(groupId))) {
          await r.deleteGroupSession(groupId);
          events.push({ type: 'group-left', groupId });
        }
        await r.markProcessed(msg.id);
      });
      const epoch = info?.epoch ?? 0n;
      if (payload.case === 'addGroupMembersMsg') events.push({ type: 'group-members-added', groupId, epoch, userIds: payload.value.added.map((m) => m.userId) });
      if (payload.case === 'removeGroupMembersMsg') events.push({ type: 'group-members-removed', groupId, epoch, userIds: payload.value.removedUserIds });
      break;
    }
    case 'leaveGroupMsg': {
      const groupId = payload.value.groupAddress?.peer.case === 'group' ? payload.value.groupAddress.peer.value.groupId : '';
      const leaver = deviceRef(payload.value.senderAddress);
      if (leaver.userId === ctx.self.userId) {
        // Another device of this user left: the user is out, so this device is too.
        await ctx.transaction(async (r) => {
          const hadSession = (await r.getGroupSession(groupId)) !== undefined;
          await r.deleteGroupSession(groupId);
          const record = await r.getGroup(groupId);
          if (record) {
            record.left = true;
            await r.putGroup(groupId, record);
          }
          await r.markProcessed(msg.id);
          if (hadSession) events.push({ type: 'group-left', groupId });
        });
        break;
      }
      // The server's view after the leave decides who acts (it may have promoted a new manager).
      const record = await ctx.transaction(async (r) => {
        reportForgottenGroups(events, await noteGroupInfo(r, payload.value.group), msg.id);
        return r.getGroup(groupId);
      });
      if (record?.info && (await isActingManagerDevice(ctx, record.info, leaver.userId))) {
        try {
          const group = await ctx.transaction((r) => loadGroup(ctx, r, groupId));
          const expectedEpoch = await orderedEpoch(ctx, group);
          const response = await ctx.rpc('RemoveGroupMembers', () =>
            ctx.service.removeGroupMembers({ groupAddress: group.state.groupAddress, expectedEpoch, userIds: [leaver.userId] }),
          );
          await applyOrderedChange(ctx, groupId, response.epoch, response.memberDevices);
        } catch (error) {
          if (ctx.isRetryable(error)) throw error;
          events.push({ type: 'error', error: error as Error, context: `removing a member who left group ${groupId}` });
        }
      }
      await ctx.transaction((r) => r.markProcessed(msg.id));
      break;
    }
    case 'updateUserMsg': {
      events.push({ type: 'user-updated', userId: deviceRefOrUser(payload.value.userAddress), userName: payload.value.userName });
      await ctx.transaction((r) => r.markProcessed(msg.id));
      break;
    }
    case 'groupManagerMsg':
    case 'systemManagerMsg':
    case 'friendManagerMsg': {
      const kind = payload.case === 'groupManagerMsg' ? 'group' : payload.case === 'systemManagerMsg' ? 'system' : 'friend';
      events.push({ type: 'notice', kind, text: payload.value.notice });
      await ctx.transaction((r) => r.markProcessed(msg.id));
      break;
    }
    default:
      await ctx.transaction((r) => r.markProcessed(msg.id));
  }
  for (const event of events) await ctx.events.emit(event);
}

/**
 * Checks the device link carried by a NewUserDeviceMsg: the signature of an existing device of the
 * same user over the new device's identity key. 'verified' when the linking device is known and
 * signed it; 'unknown' when this device does not know the linking device (only acceptable for other
 * users: trust on first use); 'forged' otherwise.
 */
async function checkDeviceLink(ctx: RuntimeContext, device: DeviceRef, msg: NewUserDeviceMsg): Promise<'verified' | 'unknown' | 'forged'> {
  const link = msg.deviceLink;
  const identity = msg.identityKey;
  if (!link || !identity || msg.suiteId !== ctx.account.suite.params.id) return 'forged';
  let linkingKey: Uint8Array | undefined;
  if (device.userId === ctx.self.userId && link.linkingDeviceId === ctx.self.deviceId) linkingKey = ctx.account.identityPublicKey.signPublicKey;
  else {
    const linking = await ctx.transaction((r) => r.getDevice(device.userId, link.linkingDeviceId));
    // For this user, only a device already vouched for may vouch for another: a record the server
    // got stored (a bundle it handed out) is not proof that the device is this user's.
    if (device.userId !== ctx.self.userId || linking?.vouched) linkingKey = linking?.identityKey?.signPublicKey;
  }
  if (!linkingKey) return device.userId === ctx.self.userId ? 'forged' : 'unknown';
  const statement = deviceLinkStatement(ctx.domain, device.userId, device.deviceId, msg.suiteId, identity.signPublicKey, identity.kemPublicKey);
  return ctx.account.suite.sig.verify(linkingKey, statement, link.signature) ? 'verified' : 'forged';
}

/** A group member's address as the signed member list names it. */
function memberAddress(ctx: RuntimeContext, member: { userId: string; deviceId: string }): E2eeAddress {
  return create(E2eeAddressSchema, { domain: ctx.domain, peer: { case: 'user', value: create(PeerUserSchema, { userId: member.userId, deviceId: member.deviceId }) } });
}

/** Refuses routing data (set by the server) that names another device than the authenticated one. */
function requireSameDevice(expected: DeviceRef, claimed: E2eeAddress | undefined, what: string): void {
  if (claimed?.peer.case !== 'user' || claimed.peer.value.userId !== expected.userId || claimed.peer.value.deviceId !== expected.deviceId) {
    throw new ForgedRoutingError(`${what} routed as coming from another device than the one it authenticates`);
  }
}

function samePublicKey(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function deviceRefOrUser(address: E2eeAddress | undefined): string {
  return address?.peer.case === 'user' ? address.peer.value.userId : '';
}

async function isLowestOwnDevice(ctx: RuntimeContext, newDeviceId: string): Promise<boolean> {
  const own = await ctx.transaction((r) => r.listDevices(ctx.self.userId));
  const ids = [ctx.self.deviceId, ...own.map((d) => d.deviceId)].filter((id) => id !== newDeviceId).sort();
  return ids[0] === ctx.self.deviceId;
}

async function receiveOne2one(ctx: RuntimeContext, msg: ProtoMsg, wire: Uint8Array, sessionId: string, events: ClientEvent[]): Promise<void> {
  const sender = deviceRef(msg.from);
  const bytes = await ctx.transaction((r) => r.getSession(sender, sessionId));
  if (!bytes) throw new UnknownPeerError('a message for a session this device does not have with its sender');
  const session = Session.deserialize(bytes);
  requireSameDevice(deviceRef(session.peerAddress), msg.from, 'E2eeMsg');
  const plaintextBytes = session.decrypt(wire);
  ctx.crash('decrypted');
  try {
    // From here the message is authentic: whatever is wrong with its content, the session's new
    // state (the used key) commits with the processed id, and the problem is reported.
    // Decoded bytes fields are views into plaintextBytes: it is zeroed only once they are stored.
    let content: { plaintext: Plaintext; roster: EpochRoster | undefined } | { refused: Error };
    try {
      const plaintext = fromBinary(PlaintextSchema, plaintextBytes);
      const roster = plaintext.payload.case === 'groupPreKeyBundle' ? await rosterFor(ctx, session, plaintext.payload.value) : undefined;
      content = { plaintext, roster };
    } catch (error) {
      // A network failure asking for the roster is retried with the whole message later.
      if (isTransient(ctx, error)) throw error;
      content = { refused: error instanceof Pqe2eeError ? error : new MalformedMessageError('an authenticated message whose plaintext does not decode') };
    }
    await storeOne2one(ctx, msg, session, content, events);
  } finally {
    plaintextBytes.fill(0);
  }
  ctx.crash('persisted');
}

/**
 * The server's member list for a bundle's epoch, fetched before the bundle's transaction (an RPC
 * must not hold the database), and only for a bundle from the ordered author that would move this
 * device forward, so a stranger's bundles cost no request.
 */
async function rosterFor(ctx: RuntimeContext, session: Session, bundle: GroupPreKeyBundle): Promise<EpochRoster | undefined> {
  const groupId = bundle.groupAddress?.peer.case === 'group' ? bundle.groupAddress.peer.value.groupId : '';
  const current = await ctx.transaction(async (r) => {
    await requireOrderedAuthor(r, session, bundle);
    const bytes = await r.getGroupSession(groupId);
    return bytes ? GroupSession.deserialize(bytes, ctx.account) : undefined;
  });
  return isNewEpoch(current, bundle) ? fetchEpochRoster(ctx, groupId, bundle.epoch) : undefined;
}

async function storeOne2one(
  ctx: RuntimeContext,
  msg: ProtoMsg,
  session: Session,
  content: { plaintext: Plaintext; roster: EpochRoster | undefined } | { refused: Error },
  events: ClientEvent[],
): Promise<void> {
  const context = `processing ${msg.payload.case ?? 'message'} ${msg.id}`;
  await ctx.transaction(async (r) => {
    await r.putSession(deviceRef(session.peerAddress), session.sessionId, session.serialize());
    if ('refused' in content) {
      events.push({ type: 'error', error: content.refused, context });
    } else {
      try {
        await storeContent(ctx, r, msg, session, content.plaintext, content.roster, events);
      } catch (error) {
        // Storage failures roll the whole message back (retried later); a refused content
        // (a bundle that does not check out, a malformed application message) is this
        // message's problem only.
        if (error instanceof StorageError || !(error instanceof Pqe2eeError)) throw error;
        events.push({ type: 'error', error, context });
      }
    }
    await r.markProcessed(msg.id);
  });
}

async function storeContent(ctx: RuntimeContext, r: Records, msg: ProtoMsg, session: Session, plaintext: Plaintext, roster: EpochRoster | undefined, events: ClientEvent[]): Promise<void> {
  if (plaintext.payload.case === 'commonMsg') {
    await r.putMessage(storedFrom(ctx, msg, session.peerAddress as E2eeAddress, 'one2one', plaintext.payload.value));
  } else if (plaintext.payload.case === 'groupPreKeyBundle') {
    const result = await receiveBundle(ctx, r, session, plaintext.payload.value, roster);
    if (result.applied) await releaseHeld(ctx, r, result.groupId, events);
    if (result.joined) {
      const record = await r.getGroup(result.groupId);
      events.push({ type: 'group-created', groupId: result.groupId, groupName: record?.info?.groupName ?? '', epoch: plaintext.payload.value.epoch });
    }
  }
}

/**
 * Decrypts group messages that waited for the bundle just applied; those for a later epoch wait on.
 * One for an epoch the group has reached or passed without having its keys (its bundle never came,
 * and the group moved past it, or it predates this device's membership) can never be decrypted: it
 * is dropped and reported, so it neither keeps using the group's allowance nor is re-read by every
 * later bundle.
 */
async function releaseHeld(ctx: RuntimeContext, r: Records, groupId: string, events: ClientEvent[]): Promise<void> {
  // This device has the group's session now: what still waits (for a later epoch) gets the full
  // allowance, and its record no longer counts among those of groups not joined.
  await r.markHeldJoined(groupId);
  await r.forgetUnjoinedGroup(groupId);
  const held = await r.listHeld(groupId);
  if (held.length === 0) return;
  const group = await loadGroup(ctx, r, groupId);
  const done: typeof held = [];
  for (const item of held) {
    const proto = item.value.protoMsg;
    if (proto?.payload.case !== 'e2eeMsg') {
      done.push(item);
      continue;
    }
    let decrypted: ReturnType<GroupSession['decrypt']>;
    try {
      decrypted = group.decrypt(toBinary(E2eeMsgSchema, proto.payload.value));
    } catch (error) {
      // No keys for its epoch yet, and the epoch is still ahead: it waits on. Anything else
      // (forged, replayed, or an epoch passed without keys) is dropped and reported, as it would
      // have been on arrival.
      const epoch = proto.payload.value.payload.case === 'groupMsg' ? proto.payload.value.payload.value.epoch : -1n;
      if (error instanceof UnknownEpochError && epoch > group.epoch) continue;
      done.push(item);
      const reported = error instanceof UnknownEpochError ? new UnknownEpochError(`held group message ${proto.id} of group ${groupId} is for epoch ${epoch}, which the group has reached or passed (now ${group.epoch}) without its keys: dropped`) : (error as Error);
      events.push({ type: 'error', error: reported, context: `processing held group message ${proto.id}` });
      continue;
    }
    done.push(item);
    // A plaintext that does not decode is this message's problem only: it is dropped and reported,
    // and the bundle and the other messages still commit. Storage failures propagate: the
    // transaction then keeps the bundle and every held message for the next attempt.
    try {
      const stored = decodeGroupPlaintext(ctx, proto, decrypted, groupId, events, `processing held group message ${proto.id}`);
      if (stored) await r.putMessage(stored);
    } finally {
      decrypted.plaintext.fill(0);
    }
  }
  await r.dropHeld(groupId, done);
  await r.putGroupSession(groupId, group.serialize());
}

/**
 * The stored message an authenticated group plaintext carries (undefined for other payloads). A
 * plaintext that does not decode (it was encrypted and signed by a member, so only that member can
 * have made it so) is reported as an 'error' event with a MalformedMessageError and gives nothing:
 * it must not roll back the state that decrypted it. Decoded bytes are views into the plaintext,
 * which the caller zeroes once the message is stored.
 */
function decodeGroupPlaintext(
  ctx: RuntimeContext,
  protoMsg: ProtoMsg,
  decrypted: { plaintext: Uint8Array; sender: { userId: string; deviceId: string } },
  groupId: string,
  events: ClientEvent[],
  context: string,
): StoredMessage | undefined {
  try {
    const plaintext = fromBinary(PlaintextSchema, decrypted.plaintext);
    if (plaintext.payload.case !== 'commonMsg') return undefined;
    return storedFrom(ctx, protoMsg, memberAddress(ctx, decrypted.sender), 'group', plaintext.payload.value, groupId);
  } catch (error) {
    const reason = error instanceof MalformedMessageError ? error.message : 'its plaintext does not decode';
    const sender = `${decrypted.sender.userId}/${decrypted.sender.deviceId}`;
    events.push({ type: 'error', error: new MalformedMessageError(`group message ${protoMsg.id} of group ${groupId} from ${sender}: ${reason}`), context });
    return undefined;
  }
}

async function receiveGroupMessage(ctx: RuntimeContext, msg: ProtoMsg, wire: Uint8Array, groupId: string, events: ClientEvent[]): Promise<void> {
  await ctx.transaction(async (r) => {
    const bytes = await r.getGroupSession(groupId);
    let group: GroupSession | undefined = bytes ? GroupSession.deserialize(bytes, ctx.account) : undefined;
    let decrypted: { plaintext: Uint8Array; epoch: bigint; sender: { userId: string; deviceId: string } } | undefined;
    if (group) {
      try {
        decrypted = group.decrypt(wire);
      } catch (error) {
        if (!(error instanceof UnknownEpochError) || (msg.payload.case === 'e2eeMsg' && msg.payload.value.payload.case === 'groupMsg' && msg.payload.value.payload.value.epoch <= group.epoch)) throw error;
        group = undefined;
      }
    }
    if (!decrypted) {
      // Its epoch's bundle has not arrived yet (it travels through a one-to-one session): hold it,
      // but only for an epoch the server announced to this device, and within the allowances
      // (groups.ts: small for a group this device has not joined, such as a stranger's), so nobody
      // can fill this device's storage with messages for groups or epochs that will never come.
      // Holding reads two small tallies, never the held messages. Over an allowance, the message
      // is dropped and reported (the thrown error), and the stream goes on.
      const epoch = msg.payload.case === 'e2eeMsg' && msg.payload.value.payload.case === 'groupMsg' ? msg.payload.value.payload.value.epoch : -1n;
      const record = await r.getGroup(groupId);
      if (!record?.info || record.left || epoch < 0n || epoch > record.info.epoch) throw new GroupMembershipError(`a message for an epoch of group ${groupId} the server did not announce to this device`);
      // When the pool of all not-joined groups is full, the oldest held messages of other
      // not-joined groups make room (Records.hold); each is reported like a refused one.
      const evicted: HeldEviction[] = [];
      const refused = await r.hold(groupId, create(HeldGroupMessageSchema, { protoMsg: msg, heldAt: BigInt(ctx.common.now()) }), bytes !== undefined, HELD_LIMITS, evicted);
      if (refused) throw new HeldMessageLimitError(`group message ${msg.id} of group ${groupId} was dropped: ${refused}`);
      for (const dropped of evicted) {
        const why = dropped.unjoined
          ? `the allowance of all groups this device has not joined (${HELD_LIMITS.unjoined.count} messages, ${HELD_LIMITS.unjoined.bytes} bytes) is used up, and the oldest held message of another such group makes room`
          : `the pool of all held messages (${HELD_LIMITS.total.count} messages, ${HELD_LIMITS.total.bytes} bytes) is full, and a group holding more than its share gives up its oldest`;
        events.push({ type: 'error', error: new HeldMessageLimitError(`a message held since ${dropped.heldAt} for group ${dropped.groupId} was dropped for group message ${msg.id} of group ${groupId}: ${why}`), context: `holding group message ${msg.id}` });
      }
      await r.markProcessed(msg.id);
      return;
    }
    ctx.crash('decrypted');
    try {
      // The group state moves on even when the plaintext does not decode (its key is used up).
      const stored = decodeGroupPlaintext(ctx, msg, decrypted, groupId, events, `processing group message ${msg.id}`);
      await r.putGroupSession(groupId, (group as GroupSession).serialize());
      if (stored) await r.putMessage(stored);
      await r.markProcessed(msg.id);
    } finally {
      decrypted.plaintext.fill(0);
    }
  });
  ctx.crash('persisted');
}

/** Whether an error while handling a ProtoMsg means "try again later" rather than "drop it". */
export function isTransient(ctx: RuntimeContext, error: unknown): boolean {
  return ctx.isRetryable(error) || (error instanceof Pqe2eeError && error.code.startsWith('ERR_STORAGE'));
}

/**
 * Reports the records of not-joined groups forgotten to stay within MAX_UNJOINED_GROUP_RECORDS
 * (their held messages went with them), so an app can tell a flood of strangers' groups happened.
 */
function reportForgottenGroups(events: ClientEvent[], forgotten: Array<{ groupId: string; heldDropped: number }>, messageId: string): void {
  for (const { groupId, heldDropped } of forgotten) {
    events.push({
      type: 'error',
      error: new HeldMessageLimitError(`the record of group ${groupId} (not joined) was forgotten, with ${heldDropped} held messages, to keep at most ${MAX_UNJOINED_GROUP_RECORDS} records of groups this device has not joined`),
      context: `processing server message ${messageId}`,
    });
  }
}
