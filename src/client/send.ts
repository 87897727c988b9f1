/**
 * What an app's message becomes: the AppMessage plaintext (sent now, by the common handler's
 * clock), and for a one-to-one message the copies for every device of the peer and of this user.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { AppMessageSchema } from '../proto/gen/client_pb.js';
import { PlaintextSchema, type Plaintext } from '../proto/gen/wire_pb.js';
import type { RuntimeContext } from './context.js';
import { UnknownPeerError } from '../errors.js';
import { ensureSessionsToUser, sendPlaintextToDevice } from './one2one.js';

/** Options of a sent message. */
export interface SendOptions {
  /** Disappearing message: receivers delete it this long after delivery. */
  expiresInMs?: number;
}

/** What a one-to-one send did. */
export interface SendResult {
  messageId: string;
  /** Device copies encrypted and sent now. */
  sent: number;
  /** Device copies waiting for their session's AcceptMsg (sent automatically when it arrives). */
  pending: number;
  /** Device copies not kept: that device never accepted its session and its backlog is full (see 'copies-dropped'). */
  dropped: number;
  /** Bytes of the largest encrypted copy. */
  wireBytes: number;
}

/** The plaintext of an application message sent now (`conversationUserId`: set on this user's own copies of a message to that user). */
export function appPlaintext(ctx: RuntimeContext, fields: { messageId: string; expiresInMs: bigint; body: Uint8Array; conversationUserId: string }): Plaintext {
  return create(PlaintextSchema, {
    version: 1,
    payload: {
      case: 'commonMsg',
      value: toAppBytes({
        messageId: fields.messageId,
        sentAt: BigInt(ctx.common.now()),
        expiresInMs: fields.expiresInMs,
        body: fields.body,
        conversationUserId: fields.conversationUserId,
      }),
    },
  });
}

/**
 * Sends `bytes` to every device of `userId`, and a copy to this user's other devices. Devices
 * whose session is not accepted yet get it when their AcceptMsg arrives.
 */
export async function sendDirectMessage(ctx: RuntimeContext, userId: string, bytes: Uint8Array, expiresInMs: bigint): Promise<SendResult> {
  const peers = await ensureSessionsToUser(ctx, userId);
  if (peers.length === 0) throw new UnknownPeerError(`user ${userId} has no devices`);
  const own = userId === ctx.self.userId ? [] : await ensureSessionsToUser(ctx, ctx.self.userId);
  const messageId = ctx.common.randomUuid();
  const app = (copyFor: string) => appPlaintext(ctx, { messageId, expiresInMs, body: bytes, conversationUserId: copyFor });
  const result: SendResult = { messageId, sent: 0, pending: 0, dropped: 0, wireBytes: 0 };
  await ctx.transaction(async (r) => {
    const targets = [...peers.map((d) => ({ d, copyFor: '' })), ...own.map((d) => ({ d, copyFor: userId }))];
    for (const { d, copyFor } of targets) {
      const sent = await sendPlaintextToDevice(ctx, r, d.userId, d.deviceId, app(copyFor));
      if (sent.status === 'sent') {
        result.sent++;
        result.wireBytes = Math.max(result.wireBytes, sent.bytes);
      } else if (sent.status === 'pending') result.pending++;
      else result.dropped++;
    }
  });
  return result;
}

function toAppBytes(fields: { messageId: string; sentAt: bigint; expiresInMs: bigint; body: Uint8Array; conversationUserId: string }): Uint8Array {
  return toBinary(AppMessageSchema, create(AppMessageSchema, fields));
}
