/**
 * The encodings of one group message (DESIGN.md §4 "Group sessions"): an E2eeMsg whose groupMsg
 * payload carries the epoch, a digest naming the sender, the message index, the AES-GCM ciphertext
 * under the sender chain's message key, and the sender's identity signature over all of it.
 * Receivers verify the signature before they derive or use any key, so a member cannot make its
 * messages look like another's, and nobody outside the group can make a receiver walk its chains.
 * Which keys to use is the session's business (group-session.ts); this module only encodes.
 */
import { create } from '@bufbuild/protobuf';
import type { CipherSuite } from '../../crypto/index.js';
import { E2eeMsgSchema, GroupMsgPayloadSchema, type E2eeAddress, type GroupMsgPayload } from '../../proto/gen/wire_pb.js';
import { PROTOCOL_VERSION } from '../../wire/statements.js';
import type { Account } from '../account.js';
import { addressBytes, bytesEqual, decodeCanonical, encode, label, lengthPrefixed, MAX_MESSAGE_BYTES, u32 } from '../encoding.js';
import { InvalidSignatureError, MalformedMessageError, SuiteMismatchError } from '../../errors.js';
import { openWithMessageKey, sealWithMessageKey } from '../symmetric-chain.js';

const EMPTY = new Uint8Array(0);

/** Where a message stands: its group, epoch, sender (signature key) and index in the sender's chain. */
export interface GroupMessagePosition {
  groupId: string;
  epoch: bigint;
  sender: Uint8Array;
  index: number;
}

/**
 * The signed statement of a message. With an empty ciphertext it is also the AEAD's associated
 * data, so the ciphertext is bound to its position twice: by the key and by the signature.
 */
function messageSignedBytes(suiteId: number, at: GroupMessagePosition, ciphertext: Uint8Array): Uint8Array {
  return lengthPrefixed(label('pqe2ee/v1/group-message'), u32(PROTOCOL_VERSION), u32(suiteId), label(at.groupId), label(at.epoch.toString()), at.sender, u32(at.index), ciphertext);
}

/**
 * Encrypts `plaintext` under `messageKey`, signs the result with `sender`'s identity key, and
 * returns the serialized E2eeMsg addressed to `groupAddress` (no session id and no sender address:
 * the sender is named inside the payload, where the signature covers it).
 */
export function sealGroupMessage(sender: Account, groupAddress: E2eeAddress, at: GroupMessagePosition, messageKey: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const suite = sender.suite;
  const ciphertext = sealWithMessageKey(suite, messageKey, plaintext, messageSignedBytes(suite.params.id, at, EMPTY));
  const signature = sender.signWithIdentity(messageSignedBytes(suite.params.id, at, ciphertext));
  const payload = create(GroupMsgPayloadSchema, { groupId: at.groupId, epoch: at.epoch, senderKeyDigest: suite.hash(at.sender), messageIndex: at.index, ciphertext, signature });
  return encode(
    E2eeMsgSchema,
    create(E2eeMsgSchema, {
      version: PROTOCOL_VERSION,
      suiteId: suite.params.id,
      to: groupAddress,
      payload: { case: 'groupMsg', value: payload },
    }),
  );
}

/**
 * Decodes a group message for `groupAddress` (group `groupId`) and returns its payload. The routing
 * fields are not signed, so they must be exactly what {@link sealGroupMessage} writes.
 */
export function readGroupMessage(suite: CipherSuite, wire: Uint8Array, groupId: string, groupAddress: E2eeAddress): GroupMsgPayload {
  const message = decodeCanonical(E2eeMsgSchema, wire, 'E2eeMsg', MAX_MESSAGE_BYTES);
  if (message.version !== PROTOCOL_VERSION) throw new MalformedMessageError(`E2eeMsg version ${message.version}`);
  if (message.suiteId !== suite.params.id) throw new SuiteMismatchError('group message of another suite');
  if (message.payload.case !== 'groupMsg') throw new MalformedMessageError('E2eeMsg carries no group payload');
  const payload = message.payload.value;
  if (payload.groupId !== groupId) throw new MalformedMessageError('group message for another group');
  if (message.sessionId !== '' || message.from !== undefined || !bytesEqual(addressBytes(message.to), addressBytes(groupAddress))) {
    throw new MalformedMessageError('group message with unexpected routing fields');
  }
  return payload;
}

/** Throws InvalidSignatureError unless the sender at `at` signed this payload's ciphertext. */
export function verifyGroupMessage(suite: CipherSuite, payload: GroupMsgPayload, at: GroupMessagePosition): void {
  if (!suite.sig.verify(at.sender, messageSignedBytes(suite.params.id, at, payload.ciphertext), payload.signature)) {
    throw new InvalidSignatureError('group message signature does not verify');
  }
}

/** Decrypts a verified payload with the message key of its position (DecryptionFailedError if altered). */
export function openGroupMessage(suite: CipherSuite, payload: GroupMsgPayload, at: GroupMessagePosition, messageKey: Uint8Array): Uint8Array {
  return openWithMessageKey(suite, messageKey, payload.ciphertext, messageSignedBytes(suite.params.id, at, EMPTY));
}
