/**
 * Held group messages released when what they waited for has come: their epoch's bundle
 * (releaseHeld), or, in a 'sender-key' group, their sender's key announcement for the epoch
 * (retryHeld, after a message that carried one was decrypted).
 */
import { toBinary } from '@bufbuild/protobuf';
import { asPqe2eeError } from '../../errors.js';
import { MissingSenderKeyError, UnknownEpochError, type GroupSession } from '../../protocol/index.js';
import { E2eeMsgSchema, type GroupMsgPayload } from '../../proto/gen/wire_pb.js';
import type { RuntimeContext } from '../context.js';
import type { ClientEvent } from '../events.js';
import { loadGroup } from '../groups.js';
import type { HeldEntry, Records } from '../records.js';
import { decodeGroupPlaintext } from './plaintext.js';

/**
 * Decrypts group messages that waited for the bundle just applied; those for a later epoch wait on.
 * One for an epoch the group has reached or passed without having its keys (its bundle never came,
 * and the group moved past it, or it predates this device's membership) can never be decrypted: it
 * is dropped and reported, so it neither keeps using the group's allowance nor is re-read by every
 * later bundle.
 */
export async function releaseHeld(ctx: RuntimeContext, r: Records, groupId: string, events: ClientEvent[]): Promise<void> {
  // This device has the group's session now: what still waits (for a later epoch) gets the full
  // allowance, and its record no longer counts among those of groups not joined.
  await r.held.markJoined(groupId);
  await r.groups.forgetUnjoined(groupId);
  if ((await r.held.count(groupId)) === 0) return;
  await retryHeld(ctx, r, await loadGroup(ctx, r, groupId), events);
}

/** The group payload of a held message, if it has one. */
function groupPayloadOf(item: HeldEntry): GroupMsgPayload | undefined {
  const proto = item.value.protoMsg;
  return proto?.payload.case === 'e2eeMsg' && proto.payload.value.payload.case === 'groupMsg' ? proto.payload.value.payload.value : undefined;
}

/**
 * The order to retry held messages in: by epoch, and within an epoch those carrying a sender-key
 * announcement first (each unlocks its sender's other messages of the epoch), otherwise as held.
 * Older epochs first, as the server delivered them: a sender's message of a newer epoch makes its
 * later messages of older ones refused.
 */
function retryOrder(held: HeldEntry[]): HeldEntry[] {
  const rank = (item: HeldEntry): [bigint, number] => {
    const payload = groupPayloadOf(item);
    return [payload?.epoch ?? -1n, payload?.senderKey !== undefined ? 0 : 1];
  };
  return held
    .map((item, position) => ({ item, position, rank: rank(item) }))
    .sort((a, b) => (a.rank[0] !== b.rank[0] ? (a.rank[0] < b.rank[0] ? -1 : 1) : a.rank[1] - b.rank[1] || a.position - b.position))
    .map((x) => x.item);
}

/**
 * Tries every held message of `group` again and stores the group session, in {@link retryOrder},
 * so one pass releases the messages that waited for an announcement however they were held. A message still without keys waits on: for an epoch ahead of the
 * group's, or for a sender-key announcement in an epoch the group still holds (it is dropped once
 * that epoch is deleted, or by the held-message lifetime). Anything else (forged, replayed, or an
 * epoch passed without keys) is dropped and reported, as it would have been on arrival.
 */
export async function retryHeld(ctx: RuntimeContext, r: Records, group: GroupSession, events: ClientEvent[]): Promise<void> {
  const groupId = group.groupId;
  const held = await r.held.list(groupId);
  if (held.length === 0) return;
  const done: typeof held = [];
  for (const item of retryOrder(held)) {
    const proto = item.value.protoMsg;
    if (proto?.payload.case !== 'e2eeMsg') {
      done.push(item);
      continue;
    }
    let decrypted: ReturnType<GroupSession['decrypt']>;
    try {
      decrypted = group.decrypt(toBinary(E2eeMsgSchema, proto.payload.value));
    } catch (error) {
      const epoch = proto.payload.value.payload.case === 'groupMsg' ? proto.payload.value.payload.value.epoch : -1n;
      if ((error instanceof UnknownEpochError && epoch > group.epoch) || error instanceof MissingSenderKeyError) continue;
      done.push(item);
      const reported =
        error instanceof UnknownEpochError
          ? new UnknownEpochError(
              `held group message ${proto.id} of group ${groupId} is for epoch ${epoch}, which the group has reached or passed (now ${group.epoch}) without its keys: dropped`,
            )
          : asPqe2eeError(error);
      events.push({ type: 'error', error: reported, context: `processing held group message ${proto.id}` });
      continue;
    }
    done.push(item);
    // A plaintext that does not decode is this message's problem only: it is dropped and reported,
    // and the bundle and the other messages still commit. Storage failures propagate: the
    // transaction then keeps the bundle and every held message for the next attempt.
    try {
      const stored = decodeGroupPlaintext(ctx, proto, decrypted, groupId, events, `processing held group message ${proto.id}`);
      if (stored) await r.messages.put(stored);
    } finally {
      decrypted.plaintext.fill(0);
    }
  }
  await r.held.drop(groupId, done);
  await r.groups.putSession(groupId, group.serialize());
}
