/**
 * Direct routing: Invite, Accept and SendOne2oneMsg. All three carry one opaque message from the
 * calling device to one device and differ only in the message type, an optional payload check and
 * whether the sender starts watching the recipient, so one handler serves them, described by a
 * {@link DirectRoute} each. The server reads only the addresses, the suite and the size.
 */
import type { Message } from '@bufbuild/protobuf';
import type { GenMessage } from '@bufbuild/protobuf/codegenv2';
import type { HandlerContext } from '@connectrpc/connect';
import { AuditCategory } from '../audit/categories.js';
import { ResponseCode } from '../proto/gen/service_pb.js';
import { AcceptMsgSchema, E2eeMsgSchema, InviteMsgSchema, type AcceptMsg, type E2eeAddress, type E2eeMsg, type InviteMsg } from '../proto/gen/wire_pb.js';
import type { DeviceIdentity } from './auth.js';
import type { ServiceContext } from './context.js';
import type { ProtoPayload } from './outbox.js';
import { fail, ok, unary, type HandlerGroup, type Outcome } from './rpc.js';
import type { DeviceRecord } from './store/types.js';
import { checkEncodedSize, parseDeviceAddress, suiteOf } from './validate.js';

/** What the server reads of a routed message. */
type RoutedMessage = Message & { suiteId: number; from?: E2eeAddress | undefined; to?: E2eeAddress | undefined };

/** How one kind of direct message is checked and queued. */
interface DirectRoute<M extends RoutedMessage> {
  schema: GenMessage<M>;
  /** Names the message in the size error ("invite is N bytes, …"). */
  label: string;
  /** A problem with the payload kind, checked first (E2eeMsg can also carry a group message). */
  payloadProblem?: (msg: M) => string | undefined;
  /** The message as a ProtoMsg payload for the recipient's queue. */
  payload: (msg: M) => ProtoPayload;
  /**
   * Whether the sender's user starts watching the recipient's user (learns of its new devices and
   * names). Invites and accepts do: both sides of a session hear of each other's new devices.
   */
  watches: boolean;
  /** The reason of the OK answer. */
  queued: string;
  /** Set for messages that set up a session: the audit log records its suite (SESSION_SUITE). */
  sessionStep?: 'invite' | 'accept';
}

const INVITE: DirectRoute<InviteMsg> = {
  schema: InviteMsgSchema,
  label: 'invite',
  payload: (msg) => ({ case: 'inviteMsg', value: msg }),
  watches: true,
  queued: 'invite queued',
  sessionStep: 'invite',
};

const ACCEPT: DirectRoute<AcceptMsg> = {
  schema: AcceptMsgSchema,
  label: 'accept',
  payload: (msg) => ({ case: 'acceptMsg', value: msg }),
  watches: true,
  queued: 'accept queued',
  sessionStep: 'accept',
};

const ONE_TO_ONE: DirectRoute<E2eeMsg> = {
  schema: E2eeMsgSchema,
  label: 'message',
  payloadProblem: (msg) => (msg.payload.case === 'one2oneMsg' ? undefined : 'msg must carry a one2one_msg payload'),
  payload: (msg) => ({ case: 'e2eeMsg', value: msg }),
  watches: false,
  queued: 'message queued',
};

export function direct(ctx: ServiceContext): HandlerGroup<'invite' | 'accept' | 'sendOne2oneMsg'> {
  const { store, config, gate, outbox } = ctx;

  /**
   * The sender must be the signed-in device (FORBIDDEN otherwise, also for another domain) and the
   * recipient a registered device of this domain (NOT_FOUND otherwise).
   */
  async function recipientOf(caller: DeviceIdentity, msg: RoutedMessage): Promise<{ ok: true; to: DeviceRecord } | { ok: false; outcome: Outcome }> {
    const sender = parseDeviceAddress(msg.from, config.domain, 'from');
    if (!sender.ok) return { ok: false, outcome: fail(sender.foreign ? ResponseCode.FORBIDDEN : ResponseCode.BAD_REQUEST, sender.reason) };
    if (sender.value.userId !== caller.userId || sender.value.deviceId !== caller.deviceId) {
      return { ok: false, outcome: fail(ResponseCode.FORBIDDEN, 'from must be the authenticated device') };
    }
    const recipient = parseDeviceAddress(msg.to, config.domain, 'to');
    if (!recipient.ok) return { ok: false, outcome: fail(recipient.foreign ? ResponseCode.NOT_FOUND : ResponseCode.BAD_REQUEST, recipient.reason) };
    const device = await store.getDevice(recipient.value.userId, recipient.value.deviceId);
    if (!device) return { ok: false, outcome: fail(ResponseCode.NOT_FOUND, 'unknown recipient device') };
    return { ok: true, to: device };
  }

  /** The one handler: checks in a fixed order, then queues the message all or nothing. */
  function route<M extends RoutedMessage>(kind: DirectRoute<M>): (request: { msg?: M | undefined }, context: HandlerContext) => Promise<Outcome> {
    return unary(gate, async (request: { msg?: M | undefined }, caller, now) => {
      const msg = request.msg;
      if (!msg) return fail(ResponseCode.BAD_REQUEST, 'msg is missing');
      const problem = kind.payloadProblem?.(msg) ?? checkEncodedSize(kind.schema, msg, kind.label, config.maxMessageBytes);
      if (problem) return fail(ResponseCode.BAD_REQUEST, problem);
      if (!suiteOf(msg.suiteId)) return fail(ResponseCode.BAD_REQUEST, `unknown suite ${msg.suiteId}`);
      const checked = await recipientOf(caller, msg);
      if (!checked.ok) return checked.outcome;
      if (kind.sessionStep) {
        // Before it is queued: a session the log does not show never starts. A refused (full) queue
        // leaves an entry for a step that was tried, which over-reports, never under-reports.
        await ctx.audit?.record({
          mask: AuditCategory.SESSION_SUITE,
          event: { type: kind.sessionStep, from: `${caller.userId}/${caller.deviceId}`, to: `${checked.to.userId}/${checked.to.deviceId}`, suite: msg.suiteId },
        });
      }
      // A client message is refused when the recipient's queue is full: the sender is told and
      // may retry, instead of the recipient's queue growing without bound.
      const full = await outbox.sendAllOrNothing([outbox.refusable(checked.to, msg.from, kind.payload(msg), now)], now);
      if (full) return full;
      // Recorded only once the message is queued; the store bounds contacts both ways, past the
      // bound the message still goes out but no contact is recorded (docs/server.md, "Delivery").
      if (kind.watches && checked.to.userId !== caller.userId) await store.addContact(caller.userId, checked.to.userId, now, config.maxContactsPerUser);
      return ok(kind.queued);
    });
  }

  return {
    invite: route(INVITE),
    accept: route(ACCEPT),
    sendOne2oneMsg: route(ONE_TO_ONE),
  };
}
