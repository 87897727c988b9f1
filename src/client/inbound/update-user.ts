/** UpdateUserMsg: a user this device invited has a new display name. */
import type { E2eeAddress } from '../../proto/gen/wire_pb.js';
import type { Handler } from './handler.js';

export const handleUpdateUser: Handler<'updateUserMsg'> = async (ctx, msg, payload, events) => {
  events.push({ type: 'user-updated', userId: deviceRefOrUser(payload.value.userAddress), userName: payload.value.userName });
  await ctx.transaction((r) => r.processed.mark(msg.id));
};

function deviceRefOrUser(address: E2eeAddress | undefined): string {
  return address?.peer.case === 'user' ? address.peer.value.userId : '';
}
