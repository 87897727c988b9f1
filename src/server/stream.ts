/**
 * The server-sent message stream (Subscribe) and its acknowledgement (ConsumeProtoMsg). A message
 * stays queued until its device consumes it, so a stream that breaks anywhere loses nothing: the
 * next Subscribe replays whatever was not consumed. Live delivery and the stream limits (one stream
 * per device, --max-streams, stalled writes, the write budget) are DeliveryHub's (delivery.ts).
 */
import { create, fromBinary } from '@bufbuild/protobuf';
import { Code, ConnectError, type HandlerContext } from '@connectrpc/connect';
import { ProtoMsgSchema, ResponseCode, type ProtoMsg } from '../proto/gen/service_pb.js';
import { deviceAddress, serverAddress } from './addresses.js';
import type { DeviceIdentity } from './auth.js';
import type { ServiceContext } from './context.js';
import { addressBucket, bearerToken, callConnectionKey, deviceBucket, fail, ok, reportError, unary, type HandlerGroup } from './rpc.js';

export function stream(ctx: ServiceContext): HandlerGroup<'subscribe' | 'consumeProtoMsg'> {
  const { store, config, auth, hub, gate } = ctx;

  const heartbeat = (caller: DeviceIdentity): ProtoMsg =>
    create(ProtoMsgSchema, {
      id: '',
      from: serverAddress(config.domain),
      to: deviceAddress(config.domain, caller.userId, caller.deviceId),
      timestamp: BigInt(Date.now()),
      payload: { case: 'serverHeartbeatMsg', value: { serverTime: BigInt(Date.now()) } },
    });

  /**
   * The device's next queued message after `afterSeq` (its id is the queue's sequence number).
   * A failure here is the server's own (the store, a stored body): it is reported to the error
   * hook and ends the stream; the client subscribes again and nothing is lost.
   */
  async function nextQueued(caller: DeviceIdentity, afterSeq: number, rpc: string): Promise<{ seq: number; bytes: number; msg: ProtoMsg } | undefined> {
    try {
      const [item] = await store.listQueued(caller.userId, caller.deviceId, afterSeq, Date.now(), 1);
      if (!item) return undefined;
      const msg = fromBinary(ProtoMsgSchema, item.body);
      msg.id = String(item.seq);
      return { seq: item.seq, bytes: item.body.byteLength, msg };
    } catch (error) {
      reportError(gate, error, rpc);
      throw error;
    }
  }

  /**
   * Subscribe: the replay, then live delivery and heartbeats. At most one message is read ahead:
   * each is read from the store only once the previous one has drained to the connection, so a
   * client that stops reading holds one message of server memory, not a batch. The stream lasts
   * only as long as the token that opened it (checked at every wake, and woken at its expiry).
   * A stream cannot answer with a response code, so refusals are Connect errors.
   */
  async function* subscribe(call: HandlerContext): AsyncGenerator<ProtoMsg> {
    const now = Date.now();
    const token = bearerToken(call);
    const caller = token === undefined ? undefined : auth.verifyToken(token, now);
    if (token === undefined || !caller) {
      // Charged to the address like any call without a valid token (token guessing), but a stream
      // is refused the same way whether or not the bucket was empty.
      gate.ipLimiter.take(addressBucket(call), now);
      throw new ConnectError('missing, unknown or expired token', Code.Unauthenticated);
    }
    if (!gate.deviceLimiter.take(deviceBucket(caller), now)) throw new ConnectError('rate limit exceeded', Code.ResourceExhausted);
    if (ctx.isClosing()) return;
    const registered = hub.subscribe(caller.userId, caller.deviceId, call.values.get(callConnectionKey));
    if (!registered) throw new ConnectError('too many open streams', Code.ResourceExhausted);
    const { subscription, unsubscribe } = registered;
    const onAbort = (): void => unsubscribe();
    call.signal.addEventListener('abort', onAbort);
    try {
      let lastSeq = 0;
      let replaying = true;
      let nextHeartbeat = Date.now() + config.heartbeatMs;
      while (!subscription.ended && !call.signal.aborted) {
        // The token may have expired or been retired (newer sign-ins) since the last wake.
        const current = auth.verifyToken(token, Date.now());
        if (!current || current.userId !== caller.userId || current.deviceId !== caller.deviceId) {
          throw new ConnectError('the token of this stream expired or was retired', Code.Unauthenticated);
        }
        subscription.takePending();
        let next: ProtoMsg;
        let bytes = 0;
        const queued = await nextQueued(caller, lastSeq, call.method.name);
        if (queued) {
          lastSeq = queued.seq;
          bytes = queued.bytes;
          next = queued.msg;
        } else if (replaying || nextHeartbeat <= Date.now()) {
          // Right after the replay one heartbeat says the queue has been sent up to here.
          replaying = false;
          nextHeartbeat = Date.now() + config.heartbeatMs;
          next = heartbeat(caller);
        } else {
          await subscription.wait(Math.min(nextHeartbeat, current.expiresAt) - Date.now());
          continue;
        }
        if (subscription.ended) return;
        // Suspended here until Connect has written the message out (it awaits 'drain'): a
        // superseded or stalled stream is cut by closing its connection, see DeliveryHub.
        subscription.beginWrite(bytes);
        try {
          yield next;
        } finally {
          subscription.endWrite();
        }
      }
    } finally {
      call.signal.removeEventListener('abort', onAbort);
      unsubscribe();
    }
  }

  return {
    subscribe: (_request, call) => subscribe(call),

    consumeProtoMsg: unary(gate, async (request, caller) => {
      const id = request.protoMsgId;
      // Heartbeats have id "": consuming one is harmless, not an error.
      if (id === '') return fail(ResponseCode.NO_CONTENT, 'nothing to consume');
      if (!/^[0-9]{1,15}$/.test(id)) return fail(ResponseCode.BAD_REQUEST, 'malformed proto_msg_id');
      // Scoped to the caller's own queue: another device's id answers the same as an unknown one.
      const deleted = await store.consume(caller.userId, caller.deviceId, Number(id));
      return deleted ? ok('consumed') : fail(ResponseCode.NO_CONTENT, 'already consumed or unknown');
    }),
  };
}
