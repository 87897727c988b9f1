/**
 * Processing of server-sent ProtoMsgs, one at a time, in the order DESIGN.md §5 requires:
 * decrypt → persist the new state (with the plaintext, marked undelivered) → hand it to the app →
 * mark delivered → consume at the server. The ProtoMsg id is recorded as processed in the same
 * transaction as the new state, so a replay after a crash changes nothing and delivers nothing
 * twice; undelivered messages are handed over again at start-up (history.ts).
 *
 * One handler per payload kind, in the table below; each is in its own file here.
 */
import type { ProtoMsg } from '../../proto/gen/service_pb.js';
import type { RuntimeContext } from '../context.js';
import type { ClientEvent } from '../events.js';
import { handleAccept } from './accept.js';
import { handleE2eeMsg } from './e2ee-message.js';
import { handleGroupChange } from './group-change.js';
import { processedOnly, type Handler, type Kind, type PayloadOf } from './handler.js';
import { handleInvite } from './invite.js';
import { handleLeaveGroup } from './leave-group.js';
import { handleNewUserDevice } from './new-user-device.js';
import { handleNotice } from './notice.js';
import { handleSupplyOpk } from './supply-opk.js';
import { handleUpdateUser } from './update-user.js';

const handlers: { [K in Kind]: Handler<K> } = {
  supplyOpkMsg: handleSupplyOpk,
  inviteMsg: handleInvite,
  acceptMsg: handleAccept,
  newUserDeviceMsg: handleNewUserDevice,
  e2eeMsg: handleE2eeMsg,
  createGroupMsg: handleGroupChange,
  addGroupMembersMsg: handleGroupChange,
  removeGroupMembersMsg: handleGroupChange,
  addGroupMemberDeviceMsg: handleGroupChange,
  leaveGroupMsg: handleLeaveGroup,
  serverHeartbeatMsg: processedOnly,
  updateUserMsg: handleUpdateUser,
  groupManagerMsg: handleNotice,
  systemManagerMsg: handleNotice,
  friendManagerMsg: handleNotice,
};

/** Handles one ProtoMsg; emits its events after its state is stored (messages are delivered separately). */
export async function handleProtoMsg(ctx: RuntimeContext, msg: ProtoMsg): Promise<void> {
  if (await ctx.transaction((r) => r.processed.has(msg.id))) return;
  const events: ClientEvent[] = [];
  const payload = msg.payload;
  if (payload.case === undefined) await processedOnly(ctx, msg);
  else await dispatch(ctx, msg, payload, events);
  for (const event of events) await ctx.events.emit(event);
}

/** The handler of the payload's kind (the table pairs each kind with its own, which TypeScript cannot follow through a union). */
function dispatch(ctx: RuntimeContext, msg: ProtoMsg, payload: PayloadOf<Kind>, events: ClientEvent[]): Promise<void> {
  const handler = handlers[payload.case] as Handler<Kind>;
  return handler(ctx, msg, payload, events);
}
