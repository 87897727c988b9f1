/**
 * CreateGroupMsg, AddGroupMembersMsg, RemoveGroupMembersMsg, AddGroupMemberDeviceMsg: the server
 * ordered a membership change. What the server says the group now looks like, and which device made
 * the epoch, is noted (groups.ts noteGroupInfo: the bundle that follows is taken only from that
 * device); a removal of this user ends this device's group session.
 */
import type { ProtoMsg } from '../../proto/gen/service_pb.js';
import type { RuntimeContext } from '../context.js';
import { HeldMessageLimitError } from '../../errors.js';
import type { ClientEvent } from '../events.js';
import { MAX_UNJOINED_GROUP_RECORDS, noteGroupInfo } from '../groups.js';
import type { PayloadOf } from './handler.js';

/** The payload kinds of a membership change. */
type GroupChangeKind = 'createGroupMsg' | 'addGroupMembersMsg' | 'removeGroupMembersMsg' | 'addGroupMemberDeviceMsg';

export async function handleGroupChange(ctx: RuntimeContext, msg: ProtoMsg, payload: PayloadOf<GroupChangeKind>, events: ClientEvent[]): Promise<void> {
  const info = payload.value.group;
  const groupId = info?.groupAddress?.peer.case === 'group' ? info.groupAddress.peer.value.groupId : '';
  const stillMember = !(payload.case === 'removeGroupMembersMsg' && payload.value.removedUserIds.includes(ctx.self.userId));
  await ctx.transaction(async (r) => {
    reportForgottenGroups(events, await noteGroupInfo(r, info, payload.value.senderAddress), msg.id);
    if (!stillMember && (await r.groups.getSession(groupId))) {
      await r.groups.deleteSession(groupId);
      events.push({ type: 'group-left', groupId });
    }
    await r.processed.mark(msg.id);
  });
  const epoch = info?.epoch ?? 0n;
  if (payload.case === 'addGroupMembersMsg') events.push({ type: 'group-members-added', groupId, epoch, userIds: payload.value.added.map((m) => m.userId) });
  if (payload.case === 'removeGroupMembersMsg') events.push({ type: 'group-members-removed', groupId, epoch, userIds: payload.value.removedUserIds });
}

/**
 * Reports the records of not-joined groups forgotten to stay within MAX_UNJOINED_GROUP_RECORDS
 * (their held messages went with them), so an app can tell a flood of strangers' groups happened.
 */
export function reportForgottenGroups(events: ClientEvent[], forgotten: Array<{ groupId: string; heldDropped: number }>, messageId: string): void {
  for (const { groupId, heldDropped } of forgotten) {
    events.push({
      type: 'error',
      error: new HeldMessageLimitError(
        `the record of group ${groupId} (not joined) was forgotten, with ${heldDropped} held messages, to keep at most ${MAX_UNJOINED_GROUP_RECORDS} records of groups this device has not joined`,
      ),
      context: `processing server message ${messageId}`,
    });
  }
}
