/**
 * One-to-one sessions in the runtime: opening sessions from the server's pre-key bundles, sending
 * (or queueing until the AcceptMsg) plaintexts per device, and the outbox that makes every send
 * survive a crash between encrypting and sending.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { OutboundSession, Session } from '../protocol/index.js';
import { bytesEqual } from '../protocol/encoding.js';
import { KnownDeviceSchema, type OutboxEntry } from '../proto/gen/client_pb.js';
import type { IdentityKeyPublic, PreKeyBundle } from '../proto/gen/wire_pb.js';
import { InviteRequestSchema, SendOne2oneMsgRequestSchema } from '../proto/gen/service_pb.js';
import { E2eeMsgSchema, InviteMsgSchema, PlaintextSchema, PreKeyBundleSchema, type Plaintext } from '../proto/gen/wire_pb.js';
import type { RuntimeContext } from './context.js';
import { GroupMembershipError, PeerIdentityChangedError, UnknownPeerError, asPqe2eeError } from '../errors.js';
import { TransportError } from '../errors.js';
import { requireLoggedBundles } from './key-transparency.js';
import { deviceKey, type PeerDevice, type Records } from './records.js';

/** Sessions kept per peer device (each accepted invite makes one; older ones are deleted). */
export const MAX_SESSIONS_PER_DEVICE = 5;

/**
 * Outcome of handing one plaintext to one device. 'dropped': the device's session is not accepted
 * and its backlog is full (ClientOptions.limits.maxPendingPerDevice), so this copy was not kept.
 */
export type DeviceSendResult = { status: 'sent'; bytes: number } | { status: 'pending' } | { status: 'dropped' };

/**
 * Opens an outbound session from a bundle the server returned (sends an InviteMsg through the
 * outbox). The bundle's address must be the device asked for.
 */
export async function openSession(ctx: RuntimeContext, records: Records, bundle: PreKeyBundle, options: { vouched?: boolean } = {}): Promise<void> {
  const user = bundle.address?.peer.case === 'user' ? bundle.address.peer.value : undefined;
  if (!user) throw new UnknownPeerError('the server returned a pre-key bundle without a device address');
  const previous = await records.devices.get(user.userId, user.deviceId);
  if (user.userId === ctx.self.userId && !options.vouched && !previous?.vouched) {
    // A device of this very user gets copies of everything: only one vouched for may have a session.
    throw new UnknownPeerError('the server lists a device of this user that no device vouched for');
  }
  if (previous?.identityKey && bundle.identityKey && !sameIdentity(previous.identityKey, bundle.identityKey) && !ctx.acceptIdentityChanges) {
    throw new PeerIdentityChangedError(`the server's bundle for device ${user.deviceId} of user ${user.userId} has another identity key than the one this device knows`);
  }
  const { session, invite } = OutboundSession.initiate(ctx.account, toBinary(PreKeyBundleSchema, bundle));
  await records.sessions.put(user, session.sessionId, session.serialize());
  await records.devices.putWithSession(
    create(KnownDeviceSchema, {
      userId: user.userId,
      deviceId: user.deviceId,
      ...(bundle.identityKey ? { identityKey: bundle.identityKey } : {}),
      // A ready session stays the sending one until this new one is accepted.
      sendingSessionId: previous?.sendingSessionId && (await isReady(records, user, previous.sendingSessionId)) ? previous.sendingSessionId : session.sessionId,
      vouched: options.vouched === true || previous?.vouched === true,
      sessionIds: previous?.sessionIds ?? [],
    }),
    session.sessionId,
    MAX_SESSIONS_PER_DEVICE,
  );
  await records.outbox.add({ case: 'invite', value: create(InviteRequestSchema, { msg: fromBinary(InviteMsgSchema, invite) }) });
}

function sameIdentity(a: IdentityKeyPublic | undefined, b: IdentityKeyPublic): boolean {
  return a !== undefined && bytesEqual(a.signPublicKey, b.signPublicKey) && bytesEqual(a.kemPublicKey, b.kemPublicKey);
}

async function isReady(records: Records, peer: PeerDevice, sessionId: string): Promise<boolean> {
  const bytes = await records.sessions.get(peer, sessionId);
  return bytes !== undefined && Session.deserialize(bytes).responded;
}

/**
 * Makes sure this device has a session (ready or pending) with every device of `userId` (except
 * itself) and returns those devices. Another user's devices are learnt from the server once; later
 * ones arrive as NewUserDeviceMsg. This user's own devices are taken from the server only at
 * registration (`vouch`); after that only devices announced with a verified device link count.
 */
export async function ensureSessionsToUser(ctx: RuntimeContext, userId: string, options: { vouch?: boolean } = {}): Promise<Array<{ userId: string; deviceId: string }>> {
  const isSelf = (d: { userId: string; deviceId: string }) => d.userId === ctx.self.userId && d.deviceId === ctx.self.deviceId;
  const { known, listed } = await ctx.transaction(async (r) => ({ known: await r.devices.list(userId), listed: (await r.meta.get(`devices-listed/${userId}`)) === '1' }));
  if (userId === ctx.self.userId && !options.vouch) {
    const vouched = known.filter((d) => d.vouched && !isSelf(d));
    for (const d of vouched) if (!d.sendingSessionId) await ensureSessionToDevice(ctx, d.userId, d.deviceId, d.identityKey);
    return vouched.map((d) => ({ userId: d.userId, deviceId: d.deviceId }));
  }
  // Devices learnt from invites may be only some of the user's: the full list is asked for once.
  if (listed && known.every((d) => d.sendingSessionId !== '')) return known.filter((d) => !isSelf(d)).map((d) => ({ userId: d.userId, deviceId: d.deviceId }));
  const response = await ctx.rpc('GetPreKeyBundle', () => ctx.service.getPreKeyBundle({ userId }));
  // With ClientOptions.auditLogKey, nothing of a response whose keys are not proved logged is used.
  await requireLoggedBundles(ctx, response);
  await ctx.transaction(async (r) => {
    for (const bundle of response.preKeyBundles) {
      const user = bundle.address?.peer.case === 'user' ? bundle.address.peer.value : undefined;
      if (!user || user.userId !== userId || isSelf(user)) continue;
      const device = await r.devices.get(user.userId, user.deviceId);
      if (device?.sendingSessionId) {
        if (options.vouch && !device.vouched) {
          device.vouched = true;
          await r.devices.put(device);
        }
        continue;
      }
      await openSession(ctx, r, bundle, { vouched: options.vouch === true });
    }
    await r.meta.put(`devices-listed/${userId}`, '1');
  });
  return (await ctx.transaction((r) => r.devices.list(userId))).filter((d) => !isSelf(d)).map((d) => ({ userId: d.userId, deviceId: d.deviceId }));
}

/** Opens a session to one named device (e.g. after NewUserDeviceMsg), unless one exists. */
export async function ensureSessionToDevice(ctx: RuntimeContext, userId: string, deviceId: string, expectedIdentity?: IdentityKeyPublic): Promise<void> {
  if (userId === ctx.self.userId && deviceId === ctx.self.deviceId) return;
  const existing = await ctx.transaction((r) => r.devices.get(userId, deviceId));
  if (existing?.sendingSessionId) return;
  if (userId === ctx.self.userId && !existing?.vouched) throw new GroupMembershipError('the server lists a device of this user that no device vouched for');
  const response = await ctx.rpc('GetPreKeyBundle', () => ctx.service.getPreKeyBundle({ userId, deviceId }));
  await requireLoggedBundles(ctx, response);
  const bundle = response.preKeyBundles.find((b) => b.address?.peer.case === 'user' && b.address.peer.value.userId === userId && b.address.peer.value.deviceId === deviceId);
  if (!bundle) throw new UnknownPeerError(`the server has no pre-key bundle for that device of user ${userId}`);
  if (expectedIdentity && !sameIdentity(bundle.identityKey, expectedIdentity)) {
    throw new UnknownPeerError(`the server's bundle for a device of user ${userId} has another identity key than the one vouched for`);
  }
  await ctx.transaction((r) => openSession(ctx, r, bundle));
}

/**
 * Encrypts `plaintext` for one device into the outbox, or queues it until that device's session is
 * accepted. Runs inside the caller's transaction.
 */
export async function sendPlaintextToDevice(ctx: RuntimeContext, records: Records, userId: string, deviceId: string, plaintext: Plaintext): Promise<DeviceSendResult> {
  const device = await records.devices.get(userId, deviceId);
  const peer = { userId, deviceId };
  const sessionBytes = device?.sendingSessionId ? await records.sessions.get(peer, device.sendingSessionId) : undefined;
  const session = sessionBytes ? Session.deserialize(sessionBytes) : undefined;
  if (!session?.responded) {
    // A device that never accepts must not stop sending to the user's other devices, nor grow this
    // store: past its bound a copy is dropped (and reported), the rest of the send goes on.
    if ((await records.pending.count(userId, deviceId)) >= ctx.limits.maxPendingPerDevice) {
      ctx.noteDroppedCopies(peer, 1, 'backlog-full');
      return { status: 'dropped' };
    }
    await records.pending.add({ userId, deviceId, plaintext, queuedAt: BigInt(ctx.common.now()) });
    return { status: 'pending' };
  }
  const bytes = toBinary(PlaintextSchema, plaintext);
  const wire = session.encrypt(bytes);
  bytes.fill(0);
  await records.sessions.put(peer, session.sessionId, session.serialize());
  await records.outbox.add({ case: 'one2one', value: create(SendOne2oneMsgRequestSchema, { msg: fromBinary(E2eeMsgSchema, wire) }) });
  return { status: 'sent', bytes: wire.length };
}

/** Sends what waited for this device's session (after its AcceptMsg, or an accepted invite from it). */
export async function flushPendingFor(ctx: RuntimeContext, records: Records, userId: string, deviceId: string): Promise<number> {
  const pending = await records.pending.take(userId, deviceId);
  ctx.backlogFreed({ userId, deviceId });
  for (const item of pending) {
    if (item.plaintext) await sendPlaintextToDevice(ctx, records, userId, deviceId, item.plaintext);
  }
  return pending.length;
}

async function sendOutboxEntry(ctx: RuntimeContext, request: OutboxEntry['request']): Promise<void> {
  switch (request.case) {
    case 'invite':
      await ctx.rpc('Invite', () => ctx.service.invite(request.value));
      return;
    case 'accept':
      await ctx.rpc('Accept', () => ctx.service.accept(request.value));
      return;
    case 'one2one':
      await ctx.rpc('SendOne2oneMsg', () => ctx.service.sendOne2oneMsg(request.value));
      return;
    case 'group':
      await ctx.rpc('SendGroupMsg', () => ctx.service.sendGroupMsg(request.value));
      return;
    default:
      return;
  }
}

/** Where an outbox entry goes: order is kept per destination, not across destinations. */
function destinationOf(request: OutboxEntry['request']): string {
  const to = request.value?.msg?.to;
  if (!to) return 'unknown';
  return to.peer.case === 'user' ? `device:${deviceKey(to.peer.value.userId, to.peer.value.deviceId)}` : to.peer.case === 'group' ? `group:${to.peer.value.groupId}` : 'unknown';
}

/**
 * Sends the outbox, oldest first. An entry is deleted once the server took it, or when the server
 * refused it for good (reported as an 'error' event). When the server refuses an entry for now
 * (a full recipient queue, a rate limit), later entries to the same destination wait behind it but
 * other destinations go on, so one unreachable recipient cannot silence the client; the app hears
 * of it once. A network failure stops the flush. Returns false if entries remain.
 */
export async function flushOutbox(ctx: RuntimeContext): Promise<boolean> {
  const entries = await ctx.transaction((r) => r.outbox.list());
  const waiting = new Set<string>();
  for (const { key, value } of entries) {
    const destination = destinationOf(value.request);
    if (waiting.has(destination)) continue;
    try {
      await sendOutboxEntry(ctx, value.request);
    } catch (error) {
      if (error instanceof TransportError && ctx.isRetryable(error)) return false;
      if (ctx.isRetryable(error)) {
        waiting.add(destination);
        if (!ctx.reportedOutbox.has(key)) {
          ctx.reportedOutbox.add(key);
          await ctx.events.emit({ type: 'error', error: asPqe2eeError(error), context: `sending ${value.request.case ?? 'request'} (kept, retried every second)` });
        }
        continue;
      }
      await ctx.events.emit({ type: 'error', error: asPqe2eeError(error), context: `sending ${value.request.case ?? 'request'}` });
    }
    ctx.reportedOutbox.delete(key);
    await ctx.transaction((r) => r.outbox.delete(key));
  }
  return waiting.size === 0;
}

/** Drops plaintexts that waited longer than the pending lifetime for a session that never became ready. */
export async function purgeStalledCopies(ctx: RuntimeContext): Promise<void> {
  const before = BigInt(ctx.common.now() - ctx.limits.pendingLifetimeMs);
  const dropped = await ctx.transaction((r) => r.pending.purge(before));
  for (const d of dropped) ctx.noteDroppedCopies({ userId: d.userId, deviceId: d.deviceId }, d.count, 'expired');
}
