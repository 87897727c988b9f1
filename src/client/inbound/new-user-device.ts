/**
 * NewUserDeviceMsg: a user has a new device. Only one whose device link a device this one knows
 * signed is taken (for this user: a vouched device); peers open a session to it, and the lowest-id
 * device of the same user adds it to every group (a new epoch each). With ClientOptions.auditLogKey,
 * its keys are checked against the log before anything of it is stored (a failure is thrown: the
 * receive loop reports it and drops the announcement).
 */
import { create } from '@bufbuild/protobuf';
import { KnownDeviceSchema } from '../../proto/gen/client_pb.js';
import { deviceRef } from '../addresses.js';
import type { RuntimeContext } from '../context.js';
import { checkDeviceLink } from '../device-link.js';
import { UnknownPeerError, asPqe2eeError } from '../../errors.js';
import { orderChange } from '../groups.js';
import { requireLoggedDevice } from '../key-transparency.js';
import { ensureSessionToDevice } from '../one2one.js';
import type { Handler } from './handler.js';

export const handleNewUserDevice: Handler<'newUserDeviceMsg'> = async (ctx, msg, payload, events) => {
  const device = deviceRef(payload.value.userAddress);
  const vouched = await checkDeviceLink(ctx, device, payload.value);
  if (vouched === 'forged') {
    // Nobody this device knows signed for it: no session, and never into this user's groups.
    events.push({ type: 'error', error: new UnknownPeerError(`a new device of user ${device.userId} is not vouched for by a device this device knows`), context: 'new device' });
    await ctx.transaction((r) => r.processed.mark(msg.id));
    return;
  }
  if (vouched === 'verified' && device.userId === ctx.self.userId && payload.value.identityKey) {
    const identityKey = payload.value.identityKey;
    // Stored here its keys count as known (an invite from it is accepted without a bundle), so with
    // ClientOptions.auditLogKey they must be proved logged first, as a bundle's would be.
    await requireLoggedDevice(ctx, { ...device, suiteId: payload.value.suiteId, signPublicKey: identityKey.signPublicKey, kemPublicKey: identityKey.kemPublicKey });
    await ctx.transaction(async (r) => {
      const previous = await r.devices.get(device.userId, device.deviceId);
      await r.devices.put(
        create(KnownDeviceSchema, {
          userId: device.userId,
          deviceId: device.deviceId,
          identityKey,
          sendingSessionId: previous?.sendingSessionId ?? '',
          vouched: true,
          sessionIds: previous?.sessionIds ?? [],
        }),
      );
    });
  }
  await ensureSessionToDevice(ctx, device.userId, device.deviceId, payload.value.identityKey);
  if (device.userId === ctx.self.userId && (await isLowestOwnDevice(ctx, device.deviceId))) {
    // This user's new device joins every group this device is in (the server requires a device of the same user to ask).
    for (const groupId of await ctx.transaction((r) => r.groups.listIds())) {
      try {
        await orderChange(ctx, groupId, 'AddGroupMemberDevice', (groupAddress, expectedEpoch) =>
          ctx.service.addGroupMemberDevice({ groupAddress, expectedEpoch, device: payload.value.userAddress }),
        );
      } catch (error) {
        if (ctx.isRetryable(error)) throw error;
        events.push({ type: 'error', error: asPqe2eeError(error), context: `adding the new device to group ${groupId}` });
      }
    }
  }
  await ctx.transaction((r) => r.processed.mark(msg.id));
};

async function isLowestOwnDevice(ctx: RuntimeContext, newDeviceId: string): Promise<boolean> {
  const own = await ctx.transaction((r) => r.devices.list(ctx.self.userId));
  const ids = [ctx.self.deviceId, ...own.map((d) => d.deviceId)].filter((id) => id !== newDeviceId).sort();
  return ids[0] === ctx.self.deviceId;
}
