/** GroupManagerMsg, SystemManagerMsg, FriendManagerMsg: a notice from the server, handed to the app. */
import type { ProtoMsg } from '../../proto/gen/service_pb.js';
import type { RuntimeContext } from '../context.js';
import type { ClientEvent } from '../events.js';
import type { PayloadOf } from './handler.js';

export async function handleNotice(
  ctx: RuntimeContext,
  msg: ProtoMsg,
  payload: PayloadOf<'groupManagerMsg' | 'systemManagerMsg' | 'friendManagerMsg'>,
  events: ClientEvent[],
): Promise<void> {
  const kind = payload.case === 'groupManagerMsg' ? 'group' : payload.case === 'systemManagerMsg' ? 'system' : 'friend';
  events.push({ type: 'notice', kind, text: payload.value.notice });
  await ctx.transaction((r) => r.processed.mark(msg.id));
}
