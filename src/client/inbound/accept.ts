/**
 * AcceptMsg: a device this one invited accepted. It completes only the session this device opened
 * to that very device (looked up under it), and what waited for that device is sent.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { Session } from '../../protocol/index.js';
import { KnownDeviceSchema } from '../../proto/gen/client_pb.js';
import { AcceptMsgSchema } from '../../proto/gen/wire_pb.js';
import { deviceRef, requireSameDevice } from '../addresses.js';
import { UnknownPeerError } from '../../errors.js';
import { flushPendingFor } from '../one2one.js';
import type { Handler } from './handler.js';

export const handleAccept: Handler<'acceptMsg'> = async (ctx, msg, payload, events) => {
  const acceptBytes = toBinary(AcceptMsgSchema, payload.value);
  await ctx.transaction(async (r) => {
    // Looked up under the device the server says sent it: an accept can only ever complete a
    // session this device opened to that very device.
    const bytes = await r.sessions.get(deviceRef(msg.from), payload.value.sessionId);
    if (!bytes) throw new UnknownPeerError('an AcceptMsg for a session this device does not have with its sender');
    const session = Session.deserialize(bytes);
    // The peer is the one the session was opened to (its address is bound into the key
    // agreement), never the server's say-so; routing that disagrees is refused.
    const peer = deviceRef(session.peerAddress);
    requireSameDevice(peer, payload.value.from, 'AcceptMsg');
    requireSameDevice(peer, msg.from, 'AcceptMsg');
    session.complete(ctx.account, acceptBytes);
    await r.sessions.put(peer, session.sessionId, session.serialize());
    const known = await r.devices.get(peer.userId, peer.deviceId);
    await r.devices.put(
      create(KnownDeviceSchema, {
        userId: peer.userId,
        deviceId: peer.deviceId,
        identityKey: session.peerIdentityKey,
        sendingSessionId: session.sessionId,
        vouched: known?.vouched === true,
        sessionIds: known?.sessionIds ?? [],
      }),
    );
    await flushPendingFor(ctx, r, peer.userId, peer.deviceId);
    await r.processed.mark(msg.id);
    events.push({ type: 'outbound-session-ready', peer, sessionId: session.sessionId });
  });
};
