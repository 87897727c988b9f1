/** The addresses the server writes into responses and messages (wire form, E2eeAddress). */
import { create } from '@bufbuild/protobuf';
import { E2eeAddressSchema, type E2eeAddress } from '../proto/gen/wire_pb.js';

export function deviceAddress(domain: string, userId: string, deviceId: string): E2eeAddress {
  return create(E2eeAddressSchema, { domain, peer: { case: 'user', value: { userId, deviceId } } });
}

export function groupAddress(domain: string, groupId: string): E2eeAddress {
  return create(E2eeAddressSchema, { domain, peer: { case: 'group', value: { groupId } } });
}

/** The `from` of server notices and heartbeats: the server's domain, no peer. */
export function serverAddress(domain: string): E2eeAddress {
  return create(E2eeAddressSchema, { domain });
}
