/**
 * LeaveGroupMsg: a user left a group. When it is this user (another of its devices left), this
 * device is out too; otherwise the acting manager's device (groups.ts isActingManagerDevice, from
 * the server's view after the leave) removes that user, starting a new epoch.
 */
import { deviceRef } from '../addresses.js';
import { asPqe2eeError } from '../../errors.js';
import { isActingManagerDevice, noteGroupInfo, orderChange } from '../groups.js';
import { reportForgottenGroups } from './group-change.js';
import type { Handler } from './handler.js';

export const handleLeaveGroup: Handler<'leaveGroupMsg'> = async (ctx, msg, payload, events) => {
  const groupId = payload.value.groupAddress?.peer.case === 'group' ? payload.value.groupAddress.peer.value.groupId : '';
  const leaver = deviceRef(payload.value.senderAddress);
  if (leaver.userId === ctx.self.userId) {
    // Another device of this user left: the user is out, so this device is too.
    await ctx.transaction(async (r) => {
      const hadSession = await r.groups.markLeft(groupId);
      await r.processed.mark(msg.id);
      if (hadSession) events.push({ type: 'group-left', groupId });
    });
    return;
  }
  // The server's view after the leave decides who acts (it may have promoted a new manager).
  const record = await ctx.transaction(async (r) => {
    reportForgottenGroups(events, await noteGroupInfo(r, payload.value.group), msg.id);
    return r.groups.get(groupId);
  });
  if (record?.info && (await isActingManagerDevice(ctx, record.info, leaver.userId))) {
    try {
      await orderChange(ctx, groupId, 'RemoveGroupMembers', (groupAddress, expectedEpoch) =>
        ctx.service.removeGroupMembers({ groupAddress, expectedEpoch, userIds: [leaver.userId] }),
      );
    } catch (error) {
      if (ctx.isRetryable(error)) throw error;
      events.push({ type: 'error', error: asPqe2eeError(error), context: `removing a member who left group ${groupId}` });
    }
  }
  await ctx.transaction((r) => r.processed.mark(msg.id));
};
