/**
 * The two encodings of the protocol layer, side by side so that every byte that enters or leaves
 * it goes through this module:
 * - protobuf, only as the container on the wire and in stored state: decoded with a size bound and
 *   typed errors, and (for wire messages) only in the one encoding our encoder writes;
 * - canonical byte encodings for everything that is signed, hashed or used as associated data.
 *   Never protobuf (whose encodings are not unique): each field is a 4-byte big-endian length
 *   followed by its bytes, and every encoding starts with a label naming protocol, version and
 *   purpose. Statements the server verifies too are in src/wire/statements.ts.
 */
import { fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { InvalidTypeError } from '../errors.js';
import { concatBytes, label, lengthPrefixed, samePublicBytes, u32 } from '../crypto/bytes.js';
import type { CipherSuite } from '../crypto/index.js';
import type { E2eeAddress, IdentityKeyPublic } from '../proto/gen/wire_pb.js';
import { PROTOCOL_VERSION } from '../wire/statements.js';
import { MalformedMessageError, SuiteMismatchError, UnsupportedProtocolVersionError } from '../errors.js';

/** The byte helpers every encoding here is built from (plain concatenation only for fixed-length secrets). */
export { label, lengthPrefixed, samePublicBytes, u32, concatBytes as concat };

// ---- Protobuf: bounded, typed decoding ----

/** Upper bound for handshake messages and stored state (bundles, invites, accepts, accounts, sessions). */
export const MAX_HANDSHAKE_BYTES = 1024 * 1024;
/** Upper bound for one E2eeMsg. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Largest plaintext one message may carry (leaves room for header and tag within MAX_MESSAGE_BYTES). */
export const MAX_PLAINTEXT_BYTES = MAX_MESSAGE_BYTES - 64 * 1024;

/** Decodes `bytes` as `schema`, turning every failure into MalformedMessageError. */
export function decode<Desc extends DescMessage>(schema: Desc, bytes: unknown, what: string, limit = MAX_HANDSHAKE_BYTES): MessageShape<Desc> {
  if (!(bytes instanceof Uint8Array)) throw new InvalidTypeError(`${what} must be a Uint8Array`);
  if (bytes.length > limit) throw new MalformedMessageError(`${what} is ${bytes.length} bytes, over the ${limit}-byte limit`);
  try {
    // Decoded bytes fields are views into the input; decode a private copy so that zeroising
    // secrets in the state never writes into the caller's buffer (and the caller's later writes
    // never change the state).
    return fromBinary(schema, bytes.slice());
  } catch {
    throw new MalformedMessageError(`${what} does not decode`);
  }
}

/**
 * Decodes a wire message and insists on the one encoding our encoder produces: unknown fields,
 * duplicated or reordered fields and other re-encodings of the same content are refused, so a
 * changed bit anywhere in a message is an error even where it would not change the meaning.
 */
export function decodeCanonical<Desc extends DescMessage>(schema: Desc, bytes: unknown, what: string, limit = MAX_HANDSHAKE_BYTES): MessageShape<Desc> {
  const message = decode(schema, bytes, what, limit);
  // Unknown fields are left out of the re-encoding, so any input carrying them differs and fails.
  const reencoded = toBinary(schema, message, { writeUnknownFields: false });
  if (!samePublicBytes(reencoded, bytes as Uint8Array)) throw new MalformedMessageError(`${what} is not canonically encoded`);
  return message;
}

/** Encodes a message. */
export function encode<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Uint8Array {
  return toBinary(schema, message);
}

// ---- Checks on decoded fields (typed errors before any key is used) ----

/** Throws MalformedMessageError unless `bytes` has exactly `length` bytes. */
export function requireLength(bytes: Uint8Array, length: number, what: string): Uint8Array {
  if (bytes.length !== length) throw new MalformedMessageError(`${what} must be ${length} bytes, got ${bytes.length}`);
  return bytes;
}

/**
 * Checks the version and suite fields every one-to-one message carries (bundle, invite, accept,
 * E2eeMsg): UnsupportedProtocolVersionError for another protocol version, then SuiteMismatchError unless
 * it is for `suite`, the suite of this account or session.
 */
export function requireVersionAndSuite(message: { version: number; suiteId: number }, suite: CipherSuite, what: string): void {
  if (message.version !== PROTOCOL_VERSION)
    throw new UnsupportedProtocolVersionError(`${what} has protocol version ${message.version}; this library speaks ${PROTOCOL_VERSION} only`);
  if (message.suiteId !== suite.params.id) {
    throw new SuiteMismatchError(`${what} is for suite ${message.suiteId}, this account uses suite ${suite.params.id}`);
  }
}

/** An identity with both public keys of the suite's sizes (MalformedMessageError otherwise). */
export function requireIdentity(suite: CipherSuite, identity: IdentityKeyPublic | undefined, what: string): IdentityKeyPublic {
  if (!identity) throw new MalformedMessageError(`${what} is missing`);
  requireLength(identity.signPublicKey, suite.params.sigPublicKeyBytes, `${what} signature key`);
  requireLength(identity.kemPublicKey, suite.params.kemPublicKeyBytes, `${what} KEM key`);
  return identity;
}

// ---- Canonical encodings ----

/** Encoding of an identity's two public keys. */
export function identityBytes(identity: IdentityKeyPublic): Uint8Array {
  return lengthPrefixed(identity.signPublicKey, identity.kemPublicKey);
}

/** Canonical encoding of an optional address (absent, user device, or group). */
export function addressBytes(address: E2eeAddress | undefined): Uint8Array {
  if (!address) return lengthPrefixed(label('none'));
  const peer = address.peer;
  if (peer.case === 'user') return lengthPrefixed(label('user'), label(address.domain), label(peer.value.userId), label(peer.value.deviceId));
  if (peer.case === 'group') return lengthPrefixed(label('group'), label(address.domain), label(peer.value.groupId));
  return lengthPrefixed(label('domain'), label(address.domain));
}

/** Everything of an E2eeMsg besides the ciphertext that the AEAD authenticates. */
export interface MessageContext {
  suiteId: number;
  sessionId: string;
  from: E2eeAddress | undefined;
  to: E2eeAddress | undefined;
  /** {@link identitiesDigest} of sender and receiver, in that order. */
  identities: Uint8Array;
}

/**
 * SHA-256 of one identity's two public keys. It stands for the identity wherever one is bound (the
 * session id, the key-agreement transcript, every message's associated data), so the 4 KiB of a
 * suite-1 identity are hashed once per identity rather than once per binding.
 */
export function identityDigest(suite: CipherSuite, identity: IdentityKeyPublic): Uint8Array {
  return suite.hash(lengthPrefixed(label('pqe2ee/v2/identity'), identityBytes(identity)));
}

/** Both identities' {@link identityDigest}s, sender first, as one 32-byte value for associated data. */
export function identitiesDigest(suite: CipherSuite, senderDigest: Uint8Array, receiverDigest: Uint8Array): Uint8Array {
  return suite.hash(lengthPrefixed(label('pqe2ee/v2/identities'), senderDigest, receiverDigest));
}

/**
 * Associated data of a one-to-one message: session, addresses, both identities (sender first) and
 * every header field, so that no bit of an E2eeMsg outside the ciphertext can change unnoticed.
 */
export function messageAssociatedData(
  context: MessageContext,
  header: { epoch: number; messageIndex: number; epochChunk: Uint8Array; previousChainLength: number; oneWayStep: number; oneWayChunk: Uint8Array },
): Uint8Array {
  return lengthPrefixed(
    label('pqe2ee/v2/message'),
    u32(PROTOCOL_VERSION),
    u32(context.suiteId),
    label(context.sessionId),
    addressBytes(context.from),
    addressBytes(context.to),
    context.identities,
    u32(header.epoch),
    u32(header.messageIndex),
    header.epochChunk,
    u32(header.previousChainLength),
    u32(header.oneWayStep),
    header.oneWayChunk,
  );
}

const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lower-case hex of bytes (table-driven: group member lists hex hundreds of multi-KB keys). */
export function toHex(bytes: Uint8Array): string {
  const parts = new Array<string>(bytes.length);
  for (let i = 0; i < bytes.length; i++) parts[i] = HEX_BYTE[bytes[i] as number] as string;
  return parts.join('');
}

/** Constant-time equality of two byte arrays of public length. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= (a[i] as number) ^ (b[i] as number);
  return difference === 0;
}
