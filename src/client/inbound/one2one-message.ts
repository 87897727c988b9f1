/**
 * A one-to-one E2eeMsg: decrypted with the session this device has with its sender (the one among
 * that device's sessions whose id the message's tag names), then the new session state, the content (an application message, or a group
 * bundle that joins or moves a group: groups.ts receiveBundle) and the processed id commit in one
 * transaction. Content that does not check out is reported; the session's used key still commits.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { Pqe2eeError } from '../../errors.js';
import { StorageError } from '../../errors.js';
import { GroupSession, MalformedMessageError, Session, sessionTagMatches } from '../../protocol/index.js';
import type { ProtoMsg } from '../../proto/gen/service_pb.js';
import { PlaintextSchema, type E2eeAddress, type GroupPreKeyBundle, type Plaintext } from '../../proto/gen/wire_pb.js';
import { deviceRef, requireSameDevice } from '../addresses.js';
import type { RuntimeContext } from '../context.js';
import { UnknownPeerError } from '../../errors.js';
import type { ClientEvent } from '../events.js';
import { fetchEpochRoster, isNewEpoch, receiveBundle, requireOrderedAuthor, type EpochRoster } from '../groups.js';
import type { Records } from '../records.js';
import { isTransient } from '../transient.js';
import { releaseHeld } from './held-release.js';
import { storedFrom } from './plaintext.js';

export async function receiveOne2one(ctx: RuntimeContext, msg: ProtoMsg, wire: Uint8Array, sessionTag: Uint8Array, events: ClientEvent[]): Promise<void> {
  const sender = deviceRef(msg.from);
  const bytes = await ctx.transaction(async (r) => {
    // Only the sender's own sessions are candidates: a tag can name no session with anyone else.
    const device = await r.devices.get(sender.userId, sender.deviceId);
    const sessionId = device ? [device.sendingSessionId, ...device.sessionIds].find((id) => id !== '' && sessionTagMatches(id, sessionTag)) : undefined;
    return sessionId === undefined ? undefined : r.sessions.get(sender, sessionId);
  });
  if (!bytes) throw new UnknownPeerError('a message for a session this device does not have with its sender');
  const session = Session.deserialize(bytes);
  requireSameDevice(deviceRef(session.peerAddress), msg.from, 'E2eeMsg');
  const plaintextBytes = session.decrypt(wire);
  ctx.crash('decrypted');
  try {
    // From here the message is authentic: whatever is wrong with its content, the session's new
    // state (the used key) commits with the processed id, and the problem is reported.
    // Decoded bytes fields are views into plaintextBytes: it is zeroed only once they are stored.
    let content: { plaintext: Plaintext; roster: EpochRoster | undefined } | { refused: Pqe2eeError };
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
    const bytes = await r.groups.getSession(groupId);
    return bytes ? GroupSession.deserialize(bytes, ctx.account) : undefined;
  });
  return isNewEpoch(current, bundle) ? fetchEpochRoster(ctx, groupId, bundle.epoch) : undefined;
}

async function storeOne2one(
  ctx: RuntimeContext,
  msg: ProtoMsg,
  session: Session,
  content: { plaintext: Plaintext; roster: EpochRoster | undefined } | { refused: Pqe2eeError },
  events: ClientEvent[],
): Promise<void> {
  const context = `processing ${msg.payload.case ?? 'message'} ${msg.id}`;
  await ctx.transaction(async (r) => {
    await r.sessions.put(deviceRef(session.peerAddress), session.sessionId, session.serialize());
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
    await r.processed.mark(msg.id);
  });
}

async function storeContent(
  ctx: RuntimeContext,
  r: Records,
  msg: ProtoMsg,
  session: Session,
  plaintext: Plaintext,
  roster: EpochRoster | undefined,
  events: ClientEvent[],
): Promise<void> {
  if (plaintext.payload.case === 'commonMsg') {
    await r.messages.put(storedFrom(ctx, msg, session.peerAddress as E2eeAddress, 'one2one', plaintext.payload.value));
  } else if (plaintext.payload.case === 'groupPreKeyBundle') {
    const result = await receiveBundle(ctx, r, session, plaintext.payload.value, roster);
    if (result.applied) await releaseHeld(ctx, r, result.groupId, events);
    if (result.joined) {
      const record = await r.groups.get(result.groupId);
      events.push({ type: 'group-created', groupId: result.groupId, groupName: record?.info?.groupName ?? '', epoch: plaintext.payload.value.epoch });
    }
  }
}
