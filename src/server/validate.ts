/** Input checks shared by the RPC handlers: bounded strings, addresses, known suites and message sizes. */
import { toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { getSuite, type CipherSuite } from '../crypto/index.js';
import type { E2eeAddress } from '../proto/gen/wire_pb.js';

export const MAX_STRING_LENGTH = 256;

// No C0/C1 control characters (which also keeps NUL, used as a key separator, out), and no bidi
// controls or invisible formatting that let one name display as another.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]/u;

/** An id or name: at most 256 characters, no control characters; ids must not be empty. */
export function checkString(value: string, name: string, options: { allowEmpty?: boolean } = {}): string | undefined {
  if (value.length === 0) return options.allowEmpty ? undefined : `${name} must not be empty`;
  if (value.length > MAX_STRING_LENGTH) return `${name} is longer than ${MAX_STRING_LENGTH} characters`;
  if (CONTROL.test(value)) return `${name} contains control or bidi formatting characters`;
  return undefined;
}

export function suiteOf(suiteId: number): CipherSuite | undefined {
  try {
    return getSuite(suiteId);
  } catch {
    return undefined;
  }
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string; foreign?: boolean };

/** The user/device an address names; `foreign` when it names another domain. */
export function parseDeviceAddress(address: E2eeAddress | undefined, domain: string, name: string): Parsed<{ userId: string; deviceId: string }> {
  if (address?.peer.case !== 'user') return { ok: false, reason: `${name} must be a device address` };
  const { userId, deviceId } = address.peer.value;
  const bad = checkString(address.domain, `${name} domain`) ?? checkString(userId, `${name} user id`) ?? checkString(deviceId, `${name} device id`);
  if (bad) return { ok: false, reason: bad };
  if (address.domain !== domain) return { ok: false, reason: `${name} is in another domain (${address.domain})`, foreign: true };
  return { ok: true, value: { userId, deviceId } };
}

export function parseGroupAddress(address: E2eeAddress | undefined, domain: string, name: string): Parsed<string> {
  if (address?.peer.case !== 'group') return { ok: false, reason: `${name} must be a group address` };
  const groupId = address.peer.value.groupId;
  const bad = checkString(address.domain, `${name} domain`) ?? checkString(groupId, `${name} group id`);
  if (bad) return { ok: false, reason: bad };
  if (address.domain !== domain) return { ok: false, reason: `${name} is in another domain (${address.domain})`, foreign: true };
  return { ok: true, value: groupId };
}

/** The problem with a message larger than `maxBytes` once encoded (what the server would store), or undefined. */
export function checkEncodedSize<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>, name: string, maxBytes: number): string | undefined {
  const size = toBinary(schema, message).length;
  return size > maxBytes ? `${name} is ${size} bytes, more than the limit of ${maxBytes}` : undefined;
}
