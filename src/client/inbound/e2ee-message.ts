/** E2eeMsg: a one-to-one message (one2one-message.ts) or a group message (group-message.ts). */
import { toBinary } from '@bufbuild/protobuf';
import { E2eeMsgSchema, type E2eeAddress } from '../../proto/gen/wire_pb.js';
import { receiveGroupMessage } from './group-message.js';
import type { Handler } from './handler.js';
import { receiveOne2one } from './one2one-message.js';

/** A v2 group message names its group once, in `to` (the address the server routed it by). */
const groupIdOf = (to: E2eeAddress | undefined): string => (to?.peer.case === 'group' ? to.peer.value.groupId : '');

export const handleE2eeMsg: Handler<'e2eeMsg'> = async (ctx, msg, payload, events) => {
  if (payload.value.payload.case === 'groupMsg') {
    // `from` on a group message is routing data for the server only (see groups.ts); the
    // signed group payload is what identifies the sender.
    payload.value.from = undefined;
  }
  const wire = toBinary(E2eeMsgSchema, payload.value);
  if (payload.value.payload.case === 'groupMsg') await receiveGroupMessage(ctx, msg, wire, groupIdOf(payload.value.to), events);
  else await receiveOne2one(ctx, msg, wire, payload.value.sessionTag, events);
};
