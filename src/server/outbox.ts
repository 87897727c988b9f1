/**
 * Putting messages into device queues. Two kinds, because the store treats them differently:
 * - refusable: a client-sent message (Invite, Accept, one-to-one E2eeMsg). If a recipient's queue
 *   is at `queueLimit` the whole batch is refused and the sender is told (SERVICE_UNAVAILABLE);
 * - skippable: a server notice or a group message copy, queued only while the recipient's queue
 *   is below its `queueCap` and otherwise skipped, so the request that caused it still succeeds.
 * Every successful insert wakes the recipients' streams.
 */
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { ProtoMsgSchema, ResponseCode } from '../proto/gen/service_pb.js';
import type { E2eeAddress } from '../proto/gen/wire_pb.js';
import { deviceAddress } from './addresses.js';
import type { DeliveryHub } from './delivery.js';
import { fail, type Outcome } from './rpc.js';
import type { EnqueueResult, GroupDeviceRecord, NewQueuedMessage, QueuedRef, ServerStore } from './store/types.js';

/** The payload of a ProtoMsg (which kind of message, and the message). */
export type ProtoPayload = MessageInitShape<typeof ProtoMsgSchema>['payload'];

/** How a skippable message is bounded: see {@link NewQueuedMessage.queueCap} and `coalesceKey`. */
export interface QueueBound {
  queueCap: number;
  coalesceKey?: string;
}

export interface OutboxConfig {
  domain: string;
  /** Time-to-live of a queued message. */
  ttlMs: number;
  queueLimit: number;
}

export class Outbox {
  constructor(
    private readonly store: ServerStore,
    private readonly hub: DeliveryHub,
    private readonly config: OutboxConfig,
  ) {}

  /** A client-sent message for `to`: refused (with its batch) when `to`'s queue is full. */
  refusable(to: GroupDeviceRecord, from: E2eeAddress | undefined, payload: ProtoPayload, now: number): NewQueuedMessage {
    return this.build(to, from, payload, now, true, {});
  }

  /** A message for `to` that is skipped when `to`'s queue holds `bound.queueCap` messages. */
  skippable(to: GroupDeviceRecord, from: E2eeAddress | undefined, payload: ProtoPayload, now: number, bound: QueueBound): NewQueuedMessage {
    return this.build(to, from, payload, now, false, bound);
  }

  /** Queues messages as the store's rules say; wakes the recipients of what was queued. */
  async enqueue(messages: NewQueuedMessage[], now: number): Promise<EnqueueResult> {
    const result = await this.store.enqueue(messages, { queueLimit: this.config.queueLimit, now });
    if (result.ok) this.delivered(result.queued);
    return result;
  }

  /** Queues refusable messages, all or nothing: SERVICE_UNAVAILABLE if a recipient's queue is full. */
  async sendAllOrNothing(messages: NewQueuedMessage[], now: number): Promise<Outcome | undefined> {
    if (messages.length === 0) return undefined;
    const result = await this.enqueue(messages, now);
    return result.ok ? undefined : fail(ResponseCode.SERVICE_UNAVAILABLE, 'recipient queue full');
  }

  /** Queues skippable messages; returns how many were queued (the others' queues were full). */
  async sendSkipping(messages: NewQueuedMessage[], now: number): Promise<number> {
    if (messages.length === 0) return 0;
    const result = await this.enqueue(messages, now);
    return result.ok ? result.queued.length : 0;
  }

  /** Wakes the streams of messages another store call has just queued (groups, devices, pre-keys). */
  delivered(queued: QueuedRef[]): void {
    for (const ref of queued) this.hub.notify(ref.userId, ref.deviceId);
  }

  private build(to: GroupDeviceRecord, from: E2eeAddress | undefined, payload: ProtoPayload, now: number, limited: boolean, bound: Partial<QueueBound>): NewQueuedMessage {
    const proto = create(ProtoMsgSchema, {
      to: deviceAddress(this.config.domain, to.userId, to.deviceId),
      timestamp: BigInt(now),
      payload,
      ...(from ? { from } : {}),
    });
    return { userId: to.userId, deviceId: to.deviceId, body: toBinary(ProtoMsgSchema, proto), queuedAt: now, expiresAt: now + this.config.ttlMs, limited, ...bound };
  }
}
