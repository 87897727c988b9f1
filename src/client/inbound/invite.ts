/**
 * InviteMsg: another device opens a session with this one. It is accepted automatically (the OPK is
 * consumed in the same transaction as the new session), the AcceptMsg is queued, and what waited
 * for that device is sent. Refused: routing that names another device, a known device with another
 * identity key (unless ClientOptions.acceptIdentityChanges), the same invite twice, and a device of
 * this user that no device vouched for.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { bytesEqual } from '../../protocol/encoding.js';
import { DuplicateInviteError, InboundSession } from '../../protocol/index.js';
import { KnownDeviceSchema } from '../../proto/gen/client_pb.js';
import { AcceptRequestSchema } from '../../proto/gen/service_pb.js';
import { AcceptMsgSchema, InviteMsgSchema } from '../../proto/gen/wire_pb.js';
import { deviceRef, requireSameDevice } from '../addresses.js';
import { PeerIdentityChangedError, UnknownPeerError } from '../../errors.js';
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
  await ctx.transaction(async (r) => {
    const { session, accept } = InboundSession.accept(ctx.account, inviteBytes);
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
