/**
 * Addresses in the runtime: a wire address as the device it names, the address of a group member
 * as its signed member list names it, and the check of the server's routing data against the
 * device a message authenticates.
 */
import { create } from '@bufbuild/protobuf';
import { E2eeAddressSchema, PeerUserSchema, type E2eeAddress } from '../proto/gen/wire_pb.js';
import type { RuntimeContext } from './context.js';
import { ForgedRoutingError, UnknownPeerError } from '../errors.js';
import type { DeviceRef } from './events.js';

export function deviceRef(address: E2eeAddress | undefined): DeviceRef {
  if (address?.peer.case !== 'user') throw new UnknownPeerError('a message without a device address');
  return { userId: address.peer.value.userId, deviceId: address.peer.value.deviceId };
}

/** A group member's address as the signed member list names it. */
export function memberAddress(ctx: RuntimeContext, member: { userId: string; deviceId: string }): E2eeAddress {
  return create(E2eeAddressSchema, { domain: ctx.domain, peer: { case: 'user', value: create(PeerUserSchema, { userId: member.userId, deviceId: member.deviceId }) } });
}

/** Refuses routing data (set by the server) that names another device than the authenticated one. */
export function requireSameDevice(expected: DeviceRef, claimed: E2eeAddress | undefined, what: string): void {
  if (claimed?.peer.case !== 'user' || claimed.peer.value.userId !== expected.userId || claimed.peer.value.deviceId !== expected.deviceId) {
    throw new ForgedRoutingError(`${what} routed as coming from another device than the one it authenticates`);
  }
}
