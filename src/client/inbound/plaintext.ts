/**
 * Authenticated plaintexts as stored messages: the AppMessage a one-to-one or group message carries
 * becomes a StoredMessage (undelivered), attributed to its authenticated sender.
 */
import { create, fromBinary } from '@bufbuild/protobuf';
import { MalformedMessageError } from '../../protocol/index.js';
import { AppMessageSchema, StoredMessageSchema, type StoredMessage } from '../../proto/gen/client_pb.js';
import type { ProtoMsg } from '../../proto/gen/service_pb.js';
import { PlaintextSchema, type E2eeAddress } from '../../proto/gen/wire_pb.js';
import { memberAddress } from '../addresses.js';
import type { RuntimeContext } from '../context.js';
import type { ClientEvent } from '../events.js';

/** Longest message id or conversation user id accepted in an AppMessage. */
const MAX_APP_ID_LENGTH = 256;

/** Decodes an AppMessage plaintext into a stored (undelivered) message. */
/** `from` is the authenticated sender: the session's peer, or the group member whose signature verified. */
export function storedFrom(ctx: RuntimeContext, protoMsg: ProtoMsg, from: E2eeAddress, kind: string, common: Uint8Array, groupId = ''): StoredMessage {
  let app: ReturnType<typeof fromBinary<typeof AppMessageSchema>>;
  try {
    app = fromBinary(AppMessageSchema, common);
  } catch {
    throw new MalformedMessageError('an authenticated message whose application message does not decode');
  }
  // The sender chose these strings: bounded like every id this runtime stores.
  if (app.messageId.length > MAX_APP_ID_LENGTH || app.conversationUserId.length > MAX_APP_ID_LENGTH)
    throw new MalformedMessageError('a message id or conversation user id is too long');
  const fromUser = from.peer.case === 'user' ? from.peer.value.userId : '';
  const effectiveKind = kind === 'one2one' && fromUser === ctx.self.userId && app.conversationUserId ? 'other-device' : kind;
  // Only this user's own (vouched) devices file a message under a conversation; from anyone else
  // the field would let a sender slip its message into this user's conversation with someone else.
  const conversationUserId = effectiveKind === 'other-device' ? app.conversationUserId : '';
  return create(StoredMessageSchema, {
    messageId: app.messageId,
    protoMsgId: protoMsg.id,
    kind: effectiveKind,
    from,
    groupId,
    conversationUserId,
    body: app.body,
    sentAt: app.sentAt,
    receivedAt: BigInt(ctx.common.now()),
    // Until delivery this holds the relative expiry; deliverStored turns it into a time.
    expiresAt: app.expiresInMs,
    delivered: false,
  });
}

/**
 * The stored message an authenticated group plaintext carries (undefined for other payloads). A
 * plaintext that does not decode (it was encrypted and signed by a member, so only that member can
 * have made it so) is reported as an 'error' event with a MalformedMessageError and gives nothing:
 * it must not roll back the state that decrypted it. Decoded bytes are views into the plaintext,
 * which the caller zeroes once the message is stored.
 */
export function decodeGroupPlaintext(
  ctx: RuntimeContext,
  protoMsg: ProtoMsg,
  decrypted: { plaintext: Uint8Array; sender: { userId: string; deviceId: string } },
  groupId: string,
  events: ClientEvent[],
  context: string,
): StoredMessage | undefined {
  try {
    const plaintext = fromBinary(PlaintextSchema, decrypted.plaintext);
    if (plaintext.payload.case !== 'commonMsg') return undefined;
    return storedFrom(ctx, protoMsg, memberAddress(ctx, decrypted.sender), 'group', plaintext.payload.value, groupId);
  } catch (error) {
    const reason = error instanceof MalformedMessageError ? error.message : 'its plaintext does not decode';
    const sender = `${decrypted.sender.userId}/${decrypted.sender.deviceId}`;
    events.push({ type: 'error', error: new MalformedMessageError(`group message ${protoMsg.id} of group ${groupId} from ${sender}: ${reason}`), context });
    return undefined;
  }
}
