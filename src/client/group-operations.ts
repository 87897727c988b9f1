/**
 * The client's group calls (add and remove members, leave, send, info) on top of groups.ts, and
 * the retry of a membership change when another change won the epoch. Each runs inside the
 * client's lock (E2eeClient.run), except the retry, which waits outside it.
 */
import { ServerResponseError } from '../errors.js';
import type { GroupAuthMode } from '../protocol/index.js';
import { GroupRole, ResponseCode } from '../proto/gen/service_pb.js';
import { sleep } from './common.js';
import type { RuntimeContext } from './context.js';
import { GroupMembershipError } from '../errors.js';
import type { DeviceRef } from './events.js';
import { loadGroup, orderChange, sendGroupPlaintext } from './groups.js';
import { ensureSessionsToUser } from './one2one.js';
import { appPlaintext } from './send.js';

/** Adds users to a group (needs the manager role): a new epoch that they can read and earlier ones they cannot. */
export async function addMembers(ctx: RuntimeContext, groupId: string, userIds: string[]): Promise<{ epoch: bigint }> {
  for (const userId of userIds) await ensureSessionsToUser(ctx, userId);
  const epoch = await orderChange(ctx, groupId, 'AddGroupMembers', (groupAddress, expectedEpoch) =>
    ctx.service.addGroupMembers({ groupAddress, expectedEpoch, members: userIds.map((userId) => ({ userId, role: GroupRole.MEMBER })) }),
  );
  return { epoch };
}

/** Removes users from a group (needs the manager role): they cannot read the new epoch. */
export async function removeMembers(ctx: RuntimeContext, groupId: string, userIds: string[]): Promise<{ epoch: bigint }> {
  if (userIds.includes(ctx.self.userId)) throw new GroupMembershipError('to leave a group use leaveGroup()');
  const epoch = await orderChange(ctx, groupId, 'RemoveGroupMembers', (groupAddress, expectedEpoch) => ctx.service.removeGroupMembers({ groupAddress, expectedEpoch, userIds }));
  return { epoch };
}

/**
 * Runs a membership change; when another change won the epoch (REQUEST_CONFLICT), waits briefly
 * for the server's announcement of it to be processed (outside the lock, so the stream can run)
 * and tries again on top of it, at most 3 times. The wait is measured by the common handler's clock.
 */
export async function retryOnConflict<T>(context: () => RuntimeContext, groupId: string, change: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await change();
    } catch (error) {
      if (!(error instanceof ServerResponseError) || error.responseCode !== ResponseCode.REQUEST_CONFLICT || attempt >= 3) throw error;
      const ctx = context();
      const before = (await ctx.locked(() => ctx.transaction((r) => r.groups.get(groupId))))?.info?.epoch ?? 0n;
      const deadline = ctx.common.now() + 2000;
      while (ctx.common.now() < deadline) {
        await sleep(25);
        const now = (await ctx.locked(() => ctx.transaction((r) => r.groups.get(groupId))))?.info?.epoch ?? 0n;
        if (now > before) break;
      }
    }
  }
}

/** Leaves a group: the server stops routing it here, and a manager's device starts a new epoch without this user. */
export async function leave(ctx: RuntimeContext, groupId: string): Promise<void> {
  const group = await ctx.transaction((r) => loadGroup(ctx, r, groupId));
  await ctx.rpc('LeaveGroup', () => ctx.service.leaveGroup({ groupAddress: group.state.groupAddress }));
  await ctx.transaction((r) => r.groups.markLeft(groupId));
}

/** Sends `bytes` to a group's current epoch. */
export async function sendToGroup(ctx: RuntimeContext, groupId: string, bytes: Uint8Array, expiresInMs: bigint): Promise<{ messageId: string; wireBytes: number }> {
  const messageId = ctx.common.randomUuid();
  const plaintext = appPlaintext(ctx, { messageId, expiresInMs, body: bytes, conversationUserId: '' });
  const wireBytes = await sendGroupPlaintext(ctx, groupId, plaintext);
  return { messageId, wireBytes };
}

/** The group's epoch and member devices as this device holds them. */
export function groupInfo(ctx: RuntimeContext, groupId: string): Promise<{ epoch: bigint; members: DeviceRef[]; groupAuth: GroupAuthMode }> {
  return ctx.locked(async () => {
    const group = await ctx.transaction((r) => loadGroup(ctx, r, groupId));
    return { epoch: group.epoch, members: group.members.map((m) => ({ userId: m.userId, deviceId: m.deviceId })), groupAuth: group.groupAuth };
  });
}
