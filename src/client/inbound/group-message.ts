/**
 * A group E2eeMsg: decrypted with this device's group session, attributed to the member whose
 * signature verified. One for an epoch whose bundle has not arrived yet, or (in a 'sender-key'
 * group) from a sender whose key announcement for the epoch has not arrived yet, is held, only for
 * an epoch the server announced to this device and within the allowances (groups.ts HELD_LIMITS),
 * and released by held-release.ts when the bundle or the announcement comes.
 */
import { create } from '@bufbuild/protobuf';
import { GroupSession, MissingSenderKeyError, UnknownEpochError, type GroupDecryptResult } from '../../protocol/index.js';
import { HeldGroupMessageSchema } from '../../proto/gen/client_pb.js';
import type { ProtoMsg } from '../../proto/gen/service_pb.js';
import type { RuntimeContext } from '../context.js';
import { GroupMembershipError, HeldMessageLimitError } from '../../errors.js';
import type { ClientEvent } from '../events.js';
import { HELD_LIMITS } from '../groups.js';
import type { HeldEviction } from '../records.js';
import { retryHeld } from './held-release.js';
import { decodeGroupPlaintext } from './plaintext.js';

export async function receiveGroupMessage(ctx: RuntimeContext, msg: ProtoMsg, wire: Uint8Array, groupId: string, events: ClientEvent[]): Promise<void> {
  await ctx.transaction(async (r) => {
    const bytes = await r.groups.getSession(groupId);
    let group: GroupSession | undefined = bytes ? GroupSession.deserialize(bytes, ctx.account) : undefined;
    let decrypted: GroupDecryptResult | undefined;
    if (group) {
      try {
        decrypted = group.decrypt(wire);
      } catch (error) {
        const ahead =
          error instanceof UnknownEpochError &&
          msg.payload.case === 'e2eeMsg' &&
          msg.payload.value.payload.case === 'groupMsg' &&
          msg.payload.value.payload.value.epoch > group.epoch;
        // Server delivery is first-in first-out per device, so a sender's first message of an
        // epoch (which carries its key) arrives before its others, and when both wait for the
        // epoch's bundle, retryHeld takes the announcement first. A message still without its
        // sender's key is held like one without its bundle: if the announcement was lost (the
        // server skips a message for a device whose queue is full), it waits until its epoch is
        // deleted or the held lifetime passes.
        if (!ahead && !(error instanceof MissingSenderKeyError)) throw error;
        group = undefined;
      }
    }
    if (!decrypted) {
      // Its epoch's bundle (which travels through a one-to-one session) or its sender's key
      // announcement has not arrived yet: hold it, but only for an epoch the server announced to
      // this device, and within the allowances
      // (groups.ts: small for a group this device has not joined, such as a stranger's), so nobody
      // can fill this device's storage with messages for groups or epochs that will never come.
      // Holding reads two small tallies, never the held messages. Over an allowance, the message
      // is dropped and reported (the thrown error), and the stream goes on.
      const epoch = msg.payload.case === 'e2eeMsg' && msg.payload.value.payload.case === 'groupMsg' ? msg.payload.value.payload.value.epoch : -1n;
      const record = await r.groups.get(groupId);
      if (!record?.info || record.left || epoch < 0n || epoch > record.info.epoch)
        throw new GroupMembershipError(`a message for an epoch of group ${groupId} the server did not announce to this device`);
      // When the pool of all not-joined groups is full, the oldest held messages of other
      // not-joined groups make room (HeldRecords.hold); each is reported like a refused one.
      const evicted: HeldEviction[] = [];
      const refused = await r.held.hold(groupId, create(HeldGroupMessageSchema, { protoMsg: msg, heldAt: BigInt(ctx.common.now()) }), bytes !== undefined, HELD_LIMITS, evicted);
      if (refused) throw new HeldMessageLimitError(`group message ${msg.id} of group ${groupId} was dropped: ${refused}`);
      for (const dropped of evicted) {
        const why = dropped.unjoined
          ? `the allowance of all groups this device has not joined (${HELD_LIMITS.unjoined.count} messages, ${HELD_LIMITS.unjoined.bytes} bytes) is used up, and the oldest held message of another such group makes room`
          : `the pool of all held messages (${HELD_LIMITS.total.count} messages, ${HELD_LIMITS.total.bytes} bytes) is full, and a group holding more than its share gives up its oldest`;
        events.push({
          type: 'error',
          error: new HeldMessageLimitError(
            `a message held since ${dropped.heldAt} for group ${dropped.groupId} was dropped for group message ${msg.id} of group ${groupId}: ${why}`,
          ),
          context: `holding group message ${msg.id}`,
        });
      }
      await r.processed.mark(msg.id);
      return;
    }
    ctx.crash('decrypted');
    try {
      // The group state moves on even when the plaintext does not decode (its key is used up).
      const stored = decodeGroupPlaintext(ctx, msg, decrypted, groupId, events, `processing group message ${msg.id}`);
      await r.groups.putSession(groupId, (group as GroupSession).serialize());
      if (stored) await r.messages.put(stored);
      await r.processed.mark(msg.id);
    } finally {
      decrypted.plaintext.fill(0);
    }
    // The message brought its sender's key for the epoch: messages of that sender held for it can
    // be read now (one list read when nothing is held).
    if (decrypted.senderKeyAnnounced) await retryHeld(ctx, r, group as GroupSession, events);
  });
  ctx.crash('persisted');
}
