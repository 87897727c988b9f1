/**
 * The encodings of one group message of protocol v2 (docs/protocol.md "Group sessions"): an
 * E2eeMsg addressed to the group whose groupMsg payload carries the epoch, the sender's position
 * in the epoch's member list, the message index, the ciphertext under the sender chain's message
 * key, a signature over all of it, and (in a 'sender-key' group, in the sender's first message of
 * the epoch) the announcement of the sender's key. Receivers verify the signature before they
 * derive or use any key, so a member cannot make its messages look like another's, and nobody
 * outside the group can make a receiver walk its chains. Which keys to use is the session's
 * business (group-session.ts); this module only encodes.
 *
 * Only what the receiver cannot know is sent: the group id travels once (in E2eeMsg.to, which the
 * server routes by), the sender is a member index instead of a key digest, and the protocol
 * version, suite, group id and auth mode enter the signed statement from the receiver's own state
 * instead of from the payload. A suite-1 message with a 100-byte body is under 200 bytes.
 */
import { create } from '@bufbuild/protobuf';
import type { CipherSuite } from '../../crypto/index.js';
import { MalformedMessageError, SuiteMismatchError, UnsupportedProtocolVersionError } from '../../errors.js';
import {
  E2eeMsgSchema,
  GroupMsgPayloadSchema,
  type E2eeAddress,
  type E2eeMsg,
  type GroupAuth,
  type GroupMsgPayload,
  type GroupSenderKeyAnnouncement,
} from '../../proto/gen/wire_pb.js';
import { PROTOCOL_VERSION } from '../../wire/statements.js';
import { addressBytes, bytesEqual, decode, decodeCanonical, encode, label, lengthPrefixed, MAX_MESSAGE_BYTES, u32 } from '../encoding.js';

const EMPTY = new Uint8Array(0);
const AEAD_KEY_BYTES = 32;
const AEAD_NONCE_BYTES = 12;

/** Where a message stands: its group, epoch, sender (position in the epoch's member list) and index in the sender's chain. */
export interface GroupMessagePosition {
  groupId: string;
  epoch: bigint;
  /**
   * SHA-256 of the bundle that started the epoch, which every member of it holds: it tells apart
   * two epochs with the same number (a proposal the server refused and the change that won), so a
   * message signed in one never verifies in the other. Without a tag, nothing else would notice
   * that the receiver derived its key from another seed.
   */
  epochDigest: Uint8Array;
  memberIndex: number;
  index: number;
}

/**
 * The signed statement of a message: everything the receiver acts on (the epoch instance, the
 * sender's position, the index, the ciphertext) and the context it takes from its own state
 * (protocol version, suite, auth mode, group id). The auth mode is in it, so a signature made for
 * one mode never verifies in the other, and the label is this statement's alone, so it cannot be
 * confused with the sender-key announcement (sender-key.ts) or any other statement of the identity key.
 */
export function messageStatement(suiteId: number, auth: GroupAuth, at: GroupMessagePosition, ciphertext: Uint8Array): Uint8Array {
  return lengthPrefixed(
    label('pqe2ee/v2/group-message'),
    u32(PROTOCOL_VERSION),
    u32(suiteId),
    u32(auth),
    label(at.groupId),
    label(at.epoch.toString()),
    at.epochDigest,
    u32(at.memberIndex),
    u32(at.index),
    ciphertext,
  );
}

/**
 * AES-256 in counter mode under a message key (its first 32 bytes the key, the last 12 the nonce):
 * the keystream part of AES-256-GCM (counter blocks nonce ‖ 2, nonce ‖ 3, …), without the tag.
 * XOR with the keystream is its own inverse, so the same call encrypts and decrypts; the tag the
 * GCM call computes on the way is zeroed and never leaves this function.
 *
 * Why no tag: every group message is signed (Ed25519 sender key or identity key) over its
 * ciphertext and the signature is checked before the message key is even derived. The GCM tag
 * could only stop someone who knows the chain key, which every member of the epoch does: it adds
 * nothing the signature does not, and costs 16 of the 200 bytes a message may take. (libsignal's
 * sender-key messages are AES-CBC without a MAC for the same reason.) Against a non-member who can
 * forge Ed25519 signatures (a quantum computer against the announced key) the sender-key signature
 * also covers an HMAC under a secret of the epoch (sender-key.ts). Each message key is used for
 * exactly one message, so a keystream never repeats.
 */
function applyKeystream(suite: CipherSuite, messageKey: Uint8Array, input: Uint8Array): Uint8Array {
  const sealed = suite.aead.encrypt(messageKey.subarray(0, AEAD_KEY_BYTES), messageKey.subarray(AEAD_KEY_BYTES, AEAD_KEY_BYTES + AEAD_NONCE_BYTES), input, EMPTY);
  const output = sealed.slice(0, input.length);
  sealed.fill(0);
  return output;
}

/** What {@link sealGroupMessage} needs besides the plaintext. */
export interface GroupMessageSealing {
  suite: CipherSuite;
  auth: GroupAuth;
  groupAddress: E2eeAddress;
  at: GroupMessagePosition;
  messageKey: Uint8Array;
  /** Signs a statement: with the sender key of the epoch or with the identity key, as the group's mode says. */
  sign: (statement: Uint8Array) => Uint8Array;
  announcement?: GroupSenderKeyAnnouncement | undefined;
}

/**
 * Encrypts `plaintext`, signs the result and returns the serialized E2eeMsg addressed to the group
 * (no session id and no sender address: the sender is named inside the payload, where the
 * signature covers it).
 */
export function sealGroupMessage(sealing: GroupMessageSealing, plaintext: Uint8Array): Uint8Array {
  const { suite, at } = sealing;
  const ciphertext = applyKeystream(suite, sealing.messageKey, plaintext);
  const signature = sealing.sign(messageStatement(suite.params.id, sealing.auth, at, ciphertext));
  const payload = create(GroupMsgPayloadSchema, {
    epoch: at.epoch,
    memberIndex: at.memberIndex,
    messageIndex: at.index,
    ciphertext,
    signature,
    ...(sealing.announcement ? { senderKey: sealing.announcement } : {}),
  });
  return encode(
    E2eeMsgSchema,
    create(E2eeMsgSchema, {
      version: PROTOCOL_VERSION,
      suiteId: suite.params.id,
      to: sealing.groupAddress,
      payload: { case: 'groupMsg', value: payload },
    }),
  );
}

/**
 * Decodes a group message for `groupAddress` and returns its payload. The routing fields are not
 * signed, so they must be exactly what {@link sealGroupMessage} writes. A message of protocol v1
 * (or any other version) is refused with UnsupportedProtocolVersionError: v1 messages carry fields
 * v2 no longer has, so the version is read before the canonical-encoding check refuses them.
 */
export function readGroupMessage(suite: CipherSuite, wire: Uint8Array, groupAddress: E2eeAddress): GroupMsgPayload {
  let message: E2eeMsg;
  try {
    message = decodeCanonical(E2eeMsgSchema, wire, 'E2eeMsg', MAX_MESSAGE_BYTES);
  } catch (error) {
    if (error instanceof MalformedMessageError) requireVersion(peekVersion(wire));
    throw error;
  }
  requireVersion(message.version);
  if (message.suiteId !== suite.params.id) throw new SuiteMismatchError('group message of another suite');
  if (message.payload.case !== 'groupMsg') throw new MalformedMessageError('E2eeMsg carries no group payload');
  if (message.sessionId !== '' || message.sessionTag.length !== 0 || message.from !== undefined || !bytesEqual(addressBytes(message.to), addressBytes(groupAddress))) {
    throw new MalformedMessageError('group message with unexpected routing fields');
  }
  return message.payload.value;
}

function peekVersion(wire: Uint8Array): number | undefined {
  try {
    return decode(E2eeMsgSchema, wire, 'E2eeMsg', MAX_MESSAGE_BYTES).version;
  } catch {
    return undefined;
  }
}

function requireVersion(version: number | undefined): void {
  if (version !== undefined && version !== PROTOCOL_VERSION) {
    throw new UnsupportedProtocolVersionError(`group message of protocol version ${version}; this library speaks ${PROTOCOL_VERSION} only`);
  }
}

/** Decrypts a payload whose signature verified, with the message key of its position. */
export function openGroupMessage(suite: CipherSuite, payload: GroupMsgPayload, messageKey: Uint8Array): Uint8Array {
  return applyKeystream(suite, messageKey, payload.ciphertext);
}
