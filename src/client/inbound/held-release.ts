/** Held group messages released when their epoch's bundle has been applied. */
import { toBinary } from '@bufbuild/protobuf';
import { asPqe2eeError } from '../../errors.js';
import { UnknownEpochError, type GroupSession } from '../../protocol/index.js';
import { E2eeMsgSchema } from '../../proto/gen/wire_pb.js';
import type { RuntimeContext } from '../context.js';
import type { ClientEvent } from '../events.js';
import { loadGroup } from '../groups.js';
import type { Records } from '../records.js';
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
  const held = await r.held.list(groupId);
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
