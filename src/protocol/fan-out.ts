/**
 * Multi-device fan-out (DESIGN.md §4 "Multiple devices"): a message to a user is one E2eeMsg per
 * device session of that user, plus one per session to the sender's own other devices, so every
 * device of both users sees the conversation.
 */
import type { E2eeAddress } from '../proto/gen/wire_pb.js';
import { InvalidTypeError } from '../errors.js';
import { Session } from './session.js';

/** One device to deliver to, and the one-to-one session with it. */
export interface DeviceTarget {
  session: Session;
  /** Where the transport delivers it (defaults to the session's peer address). */
  address?: E2eeAddress;
  /** True for the sender's own other devices (copies of what it sent). */
  ownDevice?: boolean;
}

/** One encrypted copy for one device. */
export interface DeviceMessage {
  address: E2eeAddress | undefined;
  sessionId: string;
  ownDevice: boolean;
  wire: Uint8Array;
}

/**
 * Encrypts `plaintext` once per device session. Sessions that are not ready yet (no AcceptMsg) are
 * returned in `pending` instead of failing the whole fan-out, so the caller can queue for them.
 */
export function encryptForDevices(targets: DeviceTarget[], plaintext: Uint8Array): { messages: DeviceMessage[]; pending: DeviceTarget[] } {
  const messages: DeviceMessage[] = [];
  const pending: DeviceTarget[] = [];
  if (!Array.isArray(targets)) throw new InvalidTypeError('targets must be a list of { session }');
  for (const target of targets) {
    if (!(target?.session instanceof Session)) throw new InvalidTypeError('each target needs a session');
    if (!target.session.responded) {
      pending.push(target);
      continue;
    }
    messages.push({
      address: target.address ?? target.session.peerAddress,
      sessionId: target.session.sessionId,
      ownDevice: target.ownDevice ?? false,
      wire: target.session.encrypt(plaintext),
    });
  }
  return { messages, pending };
}
