/**
 * Canonical byte encodings for everything that is signed, hashed or used as associated data.
 * Never protobuf (whose encodings are not unique): each field is a 4-byte big-endian length followed
 * by its bytes, and every encoding starts with a label naming the protocol, version and purpose.
 */
import type { CipherSuite } from '../crypto/index.js';
import type { E2eeAddress, IdentityKeyPublic, RatchetHeader } from '../proto/gen/wire_pb.js';
import { lengthPrefixed } from '../crypto/bytes.js';

export const PROTOCOL_VERSION = 1;

const textEncoder = new TextEncoder();

/** ASCII/UTF-8 bytes of a label. */
export function label(text: string): Uint8Array {
  return textEncoder.encode(text);
}

/** 4-byte big-endian unsigned integer. */
export function u32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0);
  return out;
}

/** Concatenation of each part prefixed with its 4-byte big-endian length. */
export { lengthPrefixed };

/** Plain concatenation (for secrets of fixed, known lengths). */
export { concatBytes as concat } from '../crypto/bytes.js';

/** What the identity signature key signs to certify a signed pre-key. */
export function signedPreKeyMessage(suiteId: number, spkId: number, publicKey: Uint8Array): Uint8Array {
  return lengthPrefixed(label('pqe2ee/v1/signed-pre-key'), u32(suiteId), u32(spkId), publicKey);
}

/** Encoding of an identity's two public keys. */
export function identityBytes(identity: IdentityKeyPublic): Uint8Array {
  return lengthPrefixed(identity.signPublicKey, identity.kemPublicKey);
}

/** The key-agreement transcript bound into the root key (DESIGN.md §4). */
export interface Transcript {
  suiteId: number;
  sessionId: string;
  from: E2eeAddress | undefined;
  to: E2eeAddress | undefined;
  initiatorIdentity: IdentityKeyPublic;
  responderIdentity: IdentityKeyPublic;
  signedPreKey: Uint8Array;
  oneTimePreKey: Uint8Array;
  baseKey: Uint8Array;
  c1: Uint8Array;
  c2: Uint8Array;
  c3: Uint8Array;
  c4: Uint8Array;
}

export function transcriptHash(suite: CipherSuite, t: Transcript): Uint8Array {
  return suite.hash(
    lengthPrefixed(
      label('pqe2ee/v1/transcript'),
      u32(t.suiteId),
      label(t.sessionId),
      addressBytes(t.from),
      addressBytes(t.to),
      identityBytes(t.initiatorIdentity),
      identityBytes(t.responderIdentity),
      t.signedPreKey,
      t.oneTimePreKey,
      t.baseKey,
      t.c1,
      t.c2,
      t.c3,
      t.c4,
    ),
  );
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
 * SHA-256 over both identities (sender first): binds them into every message at 32 bytes instead
 * of the 8 KiB the ML-DSA-87 and ML-KEM-1024 public keys would add to each AEAD call.
 */
export function identitiesDigest(suite: CipherSuite, sender: IdentityKeyPublic, receiver: IdentityKeyPublic): Uint8Array {
  return suite.hash(lengthPrefixed(label('pqe2ee/v1/identities'), identityBytes(sender), identityBytes(receiver)));
}

/**
 * Associated data of a one-to-one message: session, addresses, both identities (sender first) and
 * every header field, so that no bit of an E2eeMsg outside the ciphertext can change unnoticed.
 */
export function messageAssociatedData(context: MessageContext, header: RatchetHeader): Uint8Array {
  return lengthPrefixed(
    label('pqe2ee/v1/message'),
    u32(PROTOCOL_VERSION),
    u32(context.suiteId),
    label(context.sessionId),
    addressBytes(context.from),
    addressBytes(context.to),
    context.identities,
    header.ratchetPublicKey,
    u32(header.ratchetKeyId),
    header.kemCiphertext,
    u32(header.targetKeyId),
    u32(header.previousChainLength),
    u32(header.messageIndex),
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
