/**
 * What a device signs to prove to the reference server that it holds its identity signature key
 * (DESIGN.md §5), and what an existing device signs to let a new device join its user. Both are
 * length-prefixed encodings with their own labels, so neither can be replayed as an SPK signature,
 * a group bundle or a group message, nor as each other.
 */
import { lengthPrefixed, label, u32 } from './encoding.js';

const encoder = new TextEncoder();

/** Longest server challenge accepted for signing (the server makes 32 bytes). */
export const MAX_CHALLENGE_BYTES = 64;

/**
 * The statement signed in answer to a server challenge: the server's domain, the challenge nonce,
 * and the device that answers, so an answer for one server or device is useless at another.
 */
export function serverAuthStatement(domain: string, challenge: Uint8Array, userId: string, deviceId: string): Uint8Array {
  return lengthPrefixed(label('pqe2ee/v1/server-auth'), encoder.encode(domain), challenge, encoder.encode(userId), encoder.encode(deviceId));
}

/**
 * The statement an existing device of `userId` signs to vouch for a new device: both halves of
 * the new device's identity key (suite `suiteId`), so neither can be swapped after approval.
 */
export function deviceLinkStatement(domain: string, userId: string, newDeviceId: string, suiteId: number, newDeviceSignPublicKey: Uint8Array, newDeviceKemPublicKey: Uint8Array): Uint8Array {
  return lengthPrefixed(
    label('pqe2ee/v1/device-link'),
    encoder.encode(domain),
    encoder.encode(userId),
    encoder.encode(newDeviceId),
    u32(suiteId),
    newDeviceSignPublicKey,
    newDeviceKemPublicKey,
  );
}
