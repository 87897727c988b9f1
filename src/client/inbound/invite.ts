/**
 * InviteMsg: another device opens a session with this one. It is accepted automatically (the OPK is
 * consumed in the same transaction as the new session), the AcceptMsg is queued, and what waited
 * for that device is sent. Refused: routing that names another device, a known device with another
 * identity key (unless ClientOptions.acceptIdentityChanges), the same invite twice, a device of
 * this user that no device vouched for, and (with ClientOptions.auditLogKey) a device whose keys are
 * new to this one and not proved to be in the audit log.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { bytesEqual } from '../../protocol/encoding.js';
import { DuplicateInviteError, InboundSession } from '../../protocol/index.js';
import { KnownDeviceSchema } from '../../proto/gen/client_pb.js';
import { AcceptRequestSchema } from '../../proto/gen/service_pb.js';
import { AcceptMsgSchema, InviteMsgSchema, type IdentityKeyPublic } from '../../proto/gen/wire_pb.js';
import { deviceRef, requireSameDevice } from '../addresses.js';
import { PeerIdentityChangedError, UnknownPeerError } from '../../errors.js';
import { requireLoggedDevice } from '../key-transparency.js';
import { flushPendingFor, MAX_SESSIONS_PER_DEVICE } from '../one2one.js';
import type { Handler } from './handler.js';

export const handleInvite: Handler<'inviteMsg'> = async (ctx, msg, payload, events) => {
  const inviteBytes = toBinary(InviteMsgSchema, payload.value);
  const peer = deviceRef(payload.value.from);
  requireSameDevice(peer, msg.from, 'InviteMsg');
  const known = await ctx.transaction((r) => r.devices.get(peer.userId, peer.deviceId));
  const offered = payload.value.initiatorIdentityKey?.signPublicKey ?? new Uint8Array(0);
  if (known?.identityKey && !bytesEqual(known.identityKey.signPublicKey, offered)) {
    // The device re-appeared with another identity (reinstall, or someone in the middle): the
    // app should have the user compare the new safety number before anything is sent to it.
    await ctx.events.emit({ type: 'peer-identity-changed', peer });
    if (!ctx.acceptIdentityChanges) throw new PeerIdentityChangedError(`device ${peer.deviceId} of user ${peer.userId} invited this device with a different identity key`);
  }
  const offeredKeys = payload.value.initiatorIdentityKey;
  const alreadyTrusted = known?.identityKey && offeredKeys && sameIdentity(known.identityKey, offeredKeys);
  if (!alreadyTrusted) {
    // Keys met first in an invite were never in a bundle, so never checked against the log: a
    // server could otherwise invent a device that invites this one (and then gets every later
    // message to its user). Before the transaction: the check may ask the server. A refusal is
    // thrown, so the receive loop reports and drops the invite with nothing stored.
    const keys = offeredKeys ?? { signPublicKey: new Uint8Array(0), kemPublicKey: new Uint8Array(0) };
    await requireLoggedDevice(ctx, { ...peer, suiteId: payload.value.suiteId, signPublicKey: keys.signPublicKey, kemPublicKey: keys.kemPublicKey });
  }
  await ctx.transaction(async (r) => {
    const { session, accept } = InboundSession.accept(ctx.account, inviteBytes);
    // The session's peer keys are decoded from the same bytes that were checked; kept explicit so
    // that a change in how they are derived cannot trust keys that skipped the log check.
    if (!offeredKeys || !sameIdentity(session.peerIdentityKey, offeredKeys)) {
      throw new UnknownPeerError('the invite opens a session under other keys than it names');
    }
    // Sessions are keyed by their peer, and an existing one is never replaced: the id is derived
    // from the invite, so the same id again means the same invite again.
    if (await r.sessions.get(peer, session.sessionId)) throw new DuplicateInviteError();
    await r.account.put(ctx.account.serialize());
    await r.sessions.put(peer, session.sessionId, session.serialize());
    const previous = await r.devices.get(peer.userId, peer.deviceId);
    if (peer.userId === ctx.self.userId && !(previous?.vouched && previous.identityKey && bytesEqual(previous.identityKey.signPublicKey, session.peerIdentityKey.signPublicKey))) {
      // A device of this very user that none of its devices vouched for: refuse it, or it would
      // receive copies of everything this device sends.
      throw new UnknownPeerError('an invite from a device of this user that no device vouched for');
    }
    await r.devices.putWithSession(
      create(KnownDeviceSchema, {
        userId: peer.userId,
        deviceId: peer.deviceId,
        identityKey: session.peerIdentityKey,
        sendingSessionId: session.sessionId,
        vouched: previous?.vouched === true,
        sessionIds: previous?.sessionIds ?? [],
      }),
      session.sessionId,
      MAX_SESSIONS_PER_DEVICE,
    );
    await r.outbox.addAccept(peer, { case: 'accept', value: create(AcceptRequestSchema, { msg: fromBinary(AcceptMsgSchema, accept) }) }, MAX_SESSIONS_PER_DEVICE);
    if (previous?.sendingSessionId !== session.sessionId) await flushPendingFor(ctx, r, peer.userId, peer.deviceId);
    await r.processed.mark(msg.id);
    events.push({ type: 'inbound-session-invited', peer, sessionId: session.sessionId }, { type: 'inbound-session-ready', peer, sessionId: session.sessionId });
  });
};

function sameIdentity(a: IdentityKeyPublic, b: IdentityKeyPublic): boolean {
  return bytesEqual(a.signPublicKey, b.signPublicKey) && bytesEqual(a.kemPublicKey, b.kemPublicKey);
}
