/**
 * Device linking: a new device of an existing user registers with the approval of one of that
 * user's devices (ClientOptions.linkDevice carries the request there, approveDevice signs it), and
 * a NewUserDeviceMsg is believed only with a link signed by a device this device knows.
 */
import { deviceLinkStatement, type Account } from '../protocol/index.js';
import type { NewUserDeviceMsg } from '../proto/gen/service_pb.js';
import type { RuntimeContext } from './context.js';
import { InvalidClientInputError } from '../errors.js';
import type { DeviceRef } from './events.js';
import { DEVICE_ID } from './input.js';

/** What a new device asks an existing device of the same user to sign (see {@link E2eeClient.approveDevice}). */
export interface DeviceLinkRequest {
  deviceId: string;
  suiteId: number;
  /** The new device's identity public keys. */
  signPublicKey: Uint8Array;
  kemPublicKey: Uint8Array;
}

/** An existing device's approval of a new device. */
export interface DeviceLinkGrant {
  userId: string;
  linkingDeviceId: string;
  signature: Uint8Array;
}

/** Asks an existing device of the user, through the app's `linkDevice`, to approve this new device's identity keys. */
export function askForDeviceLink(linkDevice: (request: DeviceLinkRequest) => Promise<DeviceLinkGrant>, account: Account, deviceId: string): Promise<DeviceLinkGrant> {
  return linkDevice({ deviceId, suiteId: account.suite.params.id, signPublicKey: account.identityPublicKey.signPublicKey, kemPublicKey: account.identityPublicKey.kemPublicKey });
}

/** Approves a new device of this user (see ClientOptions.linkDevice): signs its identity key. */
export function approveDevice(ctx: RuntimeContext, request: DeviceLinkRequest): DeviceLinkGrant {
  if (!request || typeof request.deviceId !== 'string' || !DEVICE_ID.test(request.deviceId)) throw new InvalidClientInputError('the request needs a valid deviceId');
  if (request.suiteId !== ctx.account.suite.params.id) throw new InvalidClientInputError('the new device must use the same suite');
  const signature = ctx.account.signDeviceLink(ctx.domain, ctx.self.userId, request.deviceId, { signPublicKey: request.signPublicKey, kemPublicKey: request.kemPublicKey });
  return { userId: ctx.self.userId, linkingDeviceId: ctx.self.deviceId, signature };
}

/**
 * Checks the device link carried by a NewUserDeviceMsg: the signature of an existing device of the
 * same user over the new device's identity key. 'verified' when the linking device is known and
 * signed it; 'unknown' when this device does not know the linking device (only acceptable for other
 * users: trust on first use); 'forged' otherwise.
 */
export async function checkDeviceLink(ctx: RuntimeContext, device: DeviceRef, msg: NewUserDeviceMsg): Promise<'verified' | 'unknown' | 'forged'> {
  const link = msg.deviceLink;
  const identity = msg.identityKey;
  if (!link || !identity || msg.suiteId !== ctx.account.suite.params.id) return 'forged';
  let linkingKey: Uint8Array | undefined;
  if (device.userId === ctx.self.userId && link.linkingDeviceId === ctx.self.deviceId) linkingKey = ctx.account.identityPublicKey.signPublicKey;
  else {
    const linking = await ctx.transaction((r) => r.devices.get(device.userId, link.linkingDeviceId));
    // For this user, only a device already vouched for may vouch for another: a record the server
    // got stored (a bundle it handed out) is not proof that the device is this user's.
    if (device.userId !== ctx.self.userId || linking?.vouched) linkingKey = linking?.identityKey?.signPublicKey;
  }
  if (!linkingKey) return device.userId === ctx.self.userId ? 'forged' : 'unknown';
  const statement = deviceLinkStatement(ctx.domain, device.userId, device.deviceId, msg.suiteId, identity.signPublicKey, identity.kemPublicKey);
  return ctx.account.suite.sig.verify(linkingKey, statement, link.signature) ? 'verified' : 'forged';
}
