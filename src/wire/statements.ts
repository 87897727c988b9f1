/**
 * The statements an identity key signs that a party other than the protocol layer verifies: the
 * reference server checks signed pre-keys when they are uploaded, answers to its sign-in challenge,
 * and one device's approval of another. Signer (src/protocol/) and verifier (src/server/) must
 * produce the same bytes, so the encodings live here, below both layers, and neither imports the
 * other for them. Only src/crypto/bytes.ts is imported.
 *
 * Each statement is a length-prefixed encoding that starts with its own label, so none of them can
 * be replayed as another, nor as a group bundle or group message (whose labels differ too).
 */
import { label, lengthPrefixed, u32 } from '../crypto/bytes.js';

/**
 * The protocol version every wire message and bundle carries (the server checks it on upload).
 * 2: the sparse KEM ratchet and per-epoch group sender keys (docs/protocol.md); 1 is refused.
 */
export const PROTOCOL_VERSION = 2;

/** Longest server challenge accepted for signing (the server makes 32 bytes). */
export const MAX_CHALLENGE_BYTES = 64;

/** What the identity signature key signs to certify a signed pre-key. */
export function signedPreKeyMessage(suiteId: number, spkId: number, publicKey: Uint8Array): Uint8Array {
  return lengthPrefixed(label('pqe2ee/v1/signed-pre-key'), u32(suiteId), u32(spkId), publicKey);
}

/**
 * The statement signed in answer to a server challenge: the server's domain, the challenge nonce,
 * and the device that answers, so an answer for one server or device is useless at another.
 */
export function serverAuthStatement(domain: string, challenge: Uint8Array, userId: string, deviceId: string): Uint8Array {
  return lengthPrefixed(label('pqe2ee/v1/server-auth'), label(domain), challenge, label(userId), label(deviceId));
}

/**
 * The statement an existing device of `userId` signs to vouch for a new device: both halves of
 * the new device's identity key (suite `suiteId`), so neither can be swapped after approval.
 */
export function deviceLinkStatement(
  domain: string,
  userId: string,
  newDeviceId: string,
  suiteId: number,
  newDeviceSignPublicKey: Uint8Array,
  newDeviceKemPublicKey: Uint8Array,
): Uint8Array {
  return lengthPrefixed(label('pqe2ee/v1/device-link'), label(domain), label(userId), label(newDeviceId), u32(suiteId), newDeviceSignPublicKey, newDeviceKemPublicKey);
}
