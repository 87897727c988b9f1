/**
 * Per-epoch sender keys of 'sender-key' groups (DESIGN.md §4.1, docs/protocol.md "Group
 * sessions"). Each member device makes an Ed25519 key pair when it enters an epoch and signs its
 * messages of that epoch with it: 64 bytes per message instead of an identity signature (4,627
 * bytes with ML-DSA-87, and a group encrypt about 6x faster). The public key reaches the other
 * members once per epoch, in the sender's first message (message index 0), signed with the
 * sender's identity key; this module builds and checks that announcement. Ed25519 for every
 * suite: the key lives one epoch and only authenticates members to each other (confidentiality
 * comes from the epoch seed, which travels post-quantum), and a post-quantum per-epoch key would
 * put kilobytes back into every message.
 */
import { create } from '@bufbuild/protobuf';
import { ed25519, type CipherSuite } from '../../crypto/index.js';
import { InvalidSignatureError, MalformedMessageError } from '../../errors.js';
import { GroupSenderKeyAnnouncementSchema, type GroupSenderKeyAnnouncement } from '../../proto/gen/wire_pb.js';
import { PROTOCOL_VERSION } from '../../wire/statements.js';
import type { Account } from '../account.js';
import { concat, label, lengthPrefixed, requireLength, u32 } from '../encoding.js';

/** Bytes of a sender key's public half, secret half (libsodium's seed ‖ public key) and signature. */
export const SENDER_KEY_PUBLIC_BYTES = ed25519.publicKeyBytes;
export const SENDER_KEY_SECRET_BYTES = ed25519.secretKeyBytes;
export const SENDER_SIGNATURE_BYTES = ed25519.signatureBytes;

/** Whose key an announcement is: a member, by its position in an epoch's member list and its identity key. */
export interface SenderKeyOwner {
  groupId: string;
  epoch: bigint;
  /** SHA-256 of the epoch's bundle (see GroupMessagePosition.epochDigest). */
  epochDigest: Uint8Array;
  memberIndex: number;
  /** The member's identity signature public key, from the epoch's member list. */
  identityKey: Uint8Array;
}

/**
 * What the identity key signs. Every field that says whose key it is and where it counts is in the
 * statement, so an announcement cannot be moved to another group, epoch (or another bundle of the
 * same epoch number), member position or suite,
 * and no other signature of the identity key (pre-keys, bundles, identity-mode messages) reads as
 * one: the label is this statement's alone.
 */
function announcementStatement(suite: CipherSuite, owner: SenderKeyOwner, publicKey: Uint8Array, previous: PreviousEpoch | undefined): Uint8Array {
  return lengthPrefixed(
    label('pqe2ee/v2/group-sender-key'),
    u32(PROTOCOL_VERSION),
    u32(suite.params.id),
    label(owner.groupId),
    label(owner.epoch.toString()),
    owner.epochDigest,
    u32(owner.memberIndex),
    suite.hash(owner.identityKey),
    publicKey,
    u32(previous ? 1 : 0),
    label(previous ? previous.epoch.toString() : ''),
    u32(previous ? previous.messages : 0),
  );
}

/** The epoch a member was in before this one and how many messages it sent there. */
export interface PreviousEpoch {
  epoch: bigint;
  messages: number;
}

/** A fresh sender key pair for one epoch. */
export function makeSenderKey(): { publicKey: Uint8Array; secretKey: Uint8Array } {
  return ed25519.keygen();
}

/**
 * The announcement of `publicKey` as `owner`'s sender key, signed with `account`'s identity key,
 * with the end of the owner's sending chain in its previous epoch, if it had one.
 */
export function announceSenderKey(account: Account, owner: SenderKeyOwner, publicKey: Uint8Array, previous?: PreviousEpoch): GroupSenderKeyAnnouncement {
  const identitySignature = account.signWithIdentity(announcementStatement(account.suite, owner, publicKey, previous));
  return create(GroupSenderKeyAnnouncementSchema, {
    publicKey,
    identitySignature,
    ...(previous ? { previousEpoch: previous.epoch, previousEpochMessages: previous.messages } : {}),
  });
}

/** A verified announcement: the sender key and the end of the sender's previous chain. */
export interface VerifiedAnnouncement {
  publicKey: Uint8Array;
  previous: PreviousEpoch | undefined;
}

/**
 * Returns the announced key (and previous-epoch end) if `owner`'s identity key signed it for that
 * group, epoch and position; throws InvalidSignatureError otherwise (MalformedMessageError for a
 * wrong-sized key, or a previous epoch that is not older).
 */
export function verifySenderKeyAnnouncement(suite: CipherSuite, announcement: GroupSenderKeyAnnouncement, owner: SenderKeyOwner): VerifiedAnnouncement {
  requireLength(announcement.publicKey, SENDER_KEY_PUBLIC_BYTES, 'announced sender key');
  const previous = announcement.previousEpoch === undefined ? undefined : { epoch: announcement.previousEpoch, messages: announcement.previousEpochMessages };
  if (previous === undefined && announcement.previousEpochMessages !== 0) throw new MalformedMessageError('a previous-epoch message count without its epoch');
  if (previous && previous.epoch >= owner.epoch)
    throw new MalformedMessageError(`a sender-key announcement of epoch ${owner.epoch} names epoch ${previous.epoch} as its previous one`);
  if (!suite.sig.verify(owner.identityKey, announcementStatement(suite, owner, announcement.publicKey, previous), announcement.identitySignature)) {
    throw new InvalidSignatureError(`the sender-key announcement of member ${owner.memberIndex} in epoch ${owner.epoch} is not signed by that member's identity key`);
  }
  return { publicKey: announcement.publicKey, previous };
}

/** Bytes of the epoch's message-authentication key. */
export const MESSAGE_AUTH_KEY_BYTES = 32;
const MESSAGE_AUTH_INFO = label('pqe2ee/v2/group-message-auth');

/** The epoch's message-authentication key, from its seed (every member derives the same one). */
export function deriveMessageAuthKey(suite: CipherSuite, seed: Uint8Array, groupId: string, epoch: bigint): Uint8Array {
  return suite.hkdf(seed, new Uint8Array(32), concat(MESSAGE_AUTH_INFO, lengthPrefixed(label(groupId), label(epoch.toString()))), MESSAGE_AUTH_KEY_BYTES);
}

/**
 * What a sender key signs: the message statement and an HMAC of it under the epoch's
 * message-authentication key. Group messages carry no AEAD tag (group-message.ts), so without the
 * HMAC their integrity against non-members would rest on Ed25519 alone, which a quantum computer
 * breaks from the announced public key: such a forger could then alter ciphertexts and sign them
 * anew. With the HMAC inside the signed bytes it also needs a secret of the epoch, which travels
 * post-quantum in suites 1 and 3; members know it, and against them Ed25519 is what counts. The
 * HMAC takes no bytes on the wire: each side computes it, and it costs one HMAC, no chain step.
 */
function senderKeySignedBytes(suite: CipherSuite, authKey: Uint8Array, statement: Uint8Array): Uint8Array {
  return lengthPrefixed(statement, suite.hmac(authKey, statement));
}

/** Signs a message statement with a sender key (under the epoch's message-authentication key). */
export function signWithSenderKey(suite: CipherSuite, secretKey: Uint8Array, authKey: Uint8Array, statement: Uint8Array): Uint8Array {
  return ed25519.sign(secretKey, senderKeySignedBytes(suite, authKey, statement));
}

/** Whether `signature` over `statement` verifies under sender key `publicKey` (and the epoch's message-authentication key). */
export function verifySenderKeySignature(suite: CipherSuite, publicKey: Uint8Array, authKey: Uint8Array, statement: Uint8Array, signature: Uint8Array): boolean {
  return ed25519.verify(publicKey, senderKeySignedBytes(suite, authKey, statement), signature);
}
