/**
 * What every handler of a server-sent ProtoMsg has: the payload kind it takes, and the events it
 * leaves to be emitted once its state is stored (messages themselves are delivered separately,
 * history.ts). A handler records the ProtoMsg as processed in the transaction that stores what it
 * did, so a replay after a crash changes nothing.
 */
import type { ProtoMsg } from '../../proto/gen/service_pb.js';
import type { RuntimeContext } from '../context.js';
import type { ClientEvent } from '../events.js';

/** The kinds of payload a ProtoMsg carries. */
export type Kind = NonNullable<ProtoMsg['payload']['case']>;

/** The payload of one kind (its `case` and `value`). */
export type PayloadOf<K extends Kind> = Extract<ProtoMsg['payload'], { case: K }>;

/** Handles a ProtoMsg whose payload is of kind `K`; pushes the events to emit onto `events`. */
export type Handler<K extends Kind> = (ctx: RuntimeContext, msg: ProtoMsg, payload: PayloadOf<K>, events: ClientEvent[]) => Promise<void>;

/** A payload the runtime has nothing to do with: only recorded as processed. */
export async function processedOnly(ctx: RuntimeContext, msg: ProtoMsg): Promise<void> {
  await ctx.transaction((r) => r.processed.mark(msg.id));
}
