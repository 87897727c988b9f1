/**
 * Received messages after they are stored: handing them to the app (then marking them delivered,
 * DESIGN.md §5), deleting disappearing ones when their time is up, and the history messages()
 * returns.
 */
import type { StoredMessage } from '../proto/gen/client_pb.js';
import { deviceRef } from './addresses.js';
import type { RuntimeContext } from './context.js';
import type { ClientEvent, ClientEventOf, ReceivedMessage } from './events.js';
import { HELD_LIFETIME_MS } from './groups.js';

function toReceived(m: StoredMessage): ReceivedMessage {
  return {
    messageId: m.messageId,
    from: deviceRef(m.from),
    body: m.body,
    sentAt: Number(m.sentAt),
    receivedAt: Number(m.receivedAt),
    expiresAt: Number(m.expiresAt),
  };
}

/** The event that hands a stored message to the app. */
function messageEvent(m: StoredMessage): ClientEvent {
  const message = toReceived(m);
  if (m.kind === 'group') return { type: 'group-message', groupId: m.groupId, message };
  if (m.kind === 'other-device') return { type: 'other-device-message', message, conversationUserId: m.conversationUserId };
  return { type: 'one2one-message', message };
}

/** Hands stored, undelivered messages to the app and marks them delivered (at start-up and after each ProtoMsg). */
export async function deliverStored(ctx: RuntimeContext): Promise<void> {
  const rows = await ctx.transaction((r) => r.messages.listUndelivered());
  for (const { key, value } of rows) {
    await ctx.events.emit(messageEvent(value));
    const deliveredAt = BigInt(ctx.common.now());
    // Until delivery expiresAt holds the relative expiry; from delivery on, the time to purge.
    value.expiresAt = value.expiresAt > 0n ? deliveredAt + value.expiresAt : 0n;
    await ctx.transaction((r) => r.messages.markDelivered(key, value));
    ctx.crash('delivered');
  }
}

/** Deletes disappearing messages whose time is up, and held group messages whose bundle never came. */
export function purgeExpired(ctx: RuntimeContext): Promise<number> {
  const now = BigInt(ctx.common.now());
  return ctx.transaction(async (r) => (await r.messages.purgeExpired(now)) + (await r.held.purge(now - BigInt(HELD_LIFETIME_MS))));
}

/** Messages received and kept (disappearing ones until they expire), oldest first. */
export async function storedMessages(
  ctx: RuntimeContext,
): Promise<Array<ClientEventOf<'one2one-message'>['message'] & { kind: string; groupId: string; conversationUserId: string }>> {
  const rows = await ctx.locked(() => ctx.transaction((r) => r.messages.list()));
  const now = BigInt(ctx.common.now());
  return rows
    .filter(({ value }) => value.delivered && (value.expiresAt === 0n || value.expiresAt > now))
    .map(({ value }) => ({
      messageId: value.messageId,
      from: value.from?.peer.case === 'user' ? { userId: value.from.peer.value.userId, deviceId: value.from.peer.value.deviceId } : { userId: '', deviceId: '' },
      body: value.body,
      sentAt: Number(value.sentAt),
      receivedAt: Number(value.receivedAt),
      expiresAt: Number(value.expiresAt),
      kind: value.kind,
      groupId: value.groupId,
      conversationUserId: value.conversationUserId,
    }));
}
