/** Decoding untrusted bytes into protobuf messages: bounded size, typed errors only. */
import { fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { InvalidTypeError } from '../../bindings/errors.js';
import { MalformedMessageError } from './errors.js';

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
  const input = bytes as Uint8Array;
  let same = reencoded.length === input.length;
  for (let i = 0; same && i < input.length; i++) same = reencoded[i] === input[i];
  if (!same) throw new MalformedMessageError(`${what} is not canonically encoded`);
  return message;
}

/** Encodes a message. */
export function encode<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Uint8Array {
  return toBinary(schema, message);
}

/** Throws MalformedMessageError unless `bytes` has exactly `length` bytes. */
export function requireLength(bytes: Uint8Array, length: number, what: string): Uint8Array {
  if (bytes.length !== length) throw new MalformedMessageError(`${what} must be ${length} bytes, got ${bytes.length}`);
  return bytes;
}
