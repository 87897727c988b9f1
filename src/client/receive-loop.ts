/**
 * The running part of a started client: the server's message stream (each ProtoMsg handled,
 * delivered and consumed, DESIGN.md §5; reconnecting and signing in again with backoff) and the
 * once-a-second maintenance (expiry, stalled copies, the outbox, the signed pre-key).
 */
import { ConnectError } from '@connectrpc/connect';
import type { ProtoMsg } from '../proto/gen/service_pb.js';
import { sleep } from './common.js';
import type { RuntimeContext } from './context.js';
import { UnknownPeerError, asPqe2eeError } from '../errors.js';
import { deliverStored, purgeExpired } from './history.js';
import { handleProtoMsg } from './inbound/index.js';
import { flushOutbox, purgeStalledCopies } from './one2one.js';
import { reloadAccount, renewSignedPreKeyIfDue } from './registration.js';
import { isTransient } from './transient.js';

/** Processed ProtoMsg ids remembered after consuming (replays of recent messages are recognised). */
const PROCESSED_IDS_KEPT = 1000;
/** ProtoMsg ids the runtime accepts (the reference server's are decimal). */
const PROTO_MSG_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Receives and maintains while running; one per client (started at each start, stopped at stop). */
export class ReceiveLoop {
  private running = false;
  private streamAbort: AbortController | undefined;
  private streamDone: Promise<void> | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private processedSincePrune = 0;

  /** Starts the maintenance timer and the stream (after the start-up catch-up). */
  start(ctx: RuntimeContext): void {
    this.running = true;
    this.timer = setInterval(() => {
      void ctx
        .locked(async () => {
          await purgeExpired(ctx);
          await purgeStalledCopies(ctx);
          await ctx.reportDroppedCopies();
          await flushOutbox(ctx);
          await renewSignedPreKeyIfDue(ctx);
        })
        .catch((error: unknown) => ctx.events.emit({ type: 'error', error: asPqe2eeError(error), context: 'background maintenance' }));
    }, 1000);
    (this.timer as { unref?: () => void }).unref?.();
    this.streamDone = this.receive(ctx);
  }

  /** Stops the timer and the stream, and waits for the stream to end. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.streamAbort?.abort();
    await this.streamDone?.catch(() => undefined);
  }

  /** Receives the server's stream until stopped; reconnects (signing in again) with backoff. */
  private async receive(ctx: RuntimeContext): Promise<void> {
    let backoff = 100;
    let lastAuthFailure = '';
    while (this.running) {
      const abort = new AbortController();
      this.streamAbort = abort;
      try {
        for await (const msg of ctx.service.subscribe({}, { signal: abort.signal, timeoutMs: 0 })) {
          backoff = 100;
          if (msg.payload.case === 'serverHeartbeatMsg') continue;
          await ctx.locked(() => this.process(ctx, msg));
        }
      } catch (error) {
        if (!this.running) return;
        // A broken stream (server restart, network loss, expired token) is the normal case the loop
        // recovers from by reconnecting; only failures of the runtime itself are reported.
        if (!(error instanceof ConnectError) && !ctx.isRetryable(error)) await ctx.events.emit({ type: 'error', error: asPqe2eeError(error), context: 'message stream' });
      }
      if (!this.running) return;
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 5000);
      await ctx
        .locked(() => ctx.authenticate())
        .catch(async (error: unknown) => {
          // Unreachable servers are retried quietly; a refusal (e.g. the device is unknown to this
          // server) is told to the app, once per distinct reason, while the loop keeps trying.
          const reason = error instanceof Error ? error.message : String(error);
          if (ctx.isRetryable(error) || reason === lastAuthFailure) return;
          lastAuthFailure = reason;
          await ctx.events.emit({ type: 'error', error: asPqe2eeError(error), context: 'signing in again' });
        });
    }
  }

  /** One ProtoMsg: handled, delivered, consumed. A transient failure leaves it queued for the next attempt. */
  private async process(ctx: RuntimeContext, msg: ProtoMsg): Promise<void> {
    if (!PROTO_MSG_ID.test(msg.id)) {
      // The id becomes a storage key and the consume argument: one the store cannot take would make
      // this message fail for ever and block the stream behind it. Reported and skipped.
      await ctx.events.emit({
        type: 'error',
        error: new UnknownPeerError('the server sent a message with a malformed id'),
        context: `processing ${msg.payload.case ?? 'message'}`,
      });
      return;
    }
    try {
      await handleProtoMsg(ctx, msg);
    } catch (error) {
      await reloadAccount(ctx);
      if (isTransient(ctx, error)) throw error;
      // A message that can never be processed (forged, for a session this device never had) is
      // reported and dropped, so one bad message cannot block the queue.
      await ctx.events.emit({ type: 'error', error: asPqe2eeError(error), context: `processing ${msg.payload.case ?? 'message'} ${msg.id}` });
      await ctx.transaction((r) => r.processed.mark(msg.id));
    }
    await deliverStored(ctx);
    await ctx.reportDroppedCopies();
    await flushOutbox(ctx);
    await ctx.rpc('ConsumeProtoMsg', () => ctx.service.consumeProtoMsg({ protoMsgId: msg.id }));
    if (++this.processedSincePrune >= 100) {
      this.processedSincePrune = 0;
      await ctx.transaction((r) => r.processed.prune(PROCESSED_IDS_KEPT));
    }
  }
}
