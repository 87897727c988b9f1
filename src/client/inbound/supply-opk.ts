/** SupplyOpkMsg: the server is running low on this device's one-time pre-keys; 100 fresh ones are uploaded. */
import { fromBinary } from '@bufbuild/protobuf';
import { ONE_TIME_PRE_KEY_BATCH } from '../../protocol/index.js';
import { OneTimePreKeyPublicSchema } from '../../proto/gen/wire_pb.js';
import type { Handler } from './handler.js';

export const handleSupplyOpk: Handler<'supplyOpkMsg'> = async (ctx, msg, payload, events) => {
  // The upload happens before the message counts as processed: a crash re-runs it (the same
  // request id, so the keys the first attempt made are not taken for handed out). Keys the
  // server no longer holds are retired past their in-flight grace, so the account stays within
  // MAX_ONE_TIME_PRE_KEYS however often others fetch this device's bundles (src/protocol/account.ts).
  const supplied = ctx.account.publishOneTimePreKeys(ONE_TIME_PRE_KEY_BATCH, { now: ctx.common.now(), available: payload.value.available, requestId: msg.id });
  await ctx.transaction((r) => r.account.put(ctx.account.serialize()));
  await ctx.rpc('SupplyOpks', () => ctx.service.supplyOpks({ oneTimePreKeys: supplied.map((b) => fromBinary(OneTimePreKeyPublicSchema, b)) }));
  await ctx.transaction((r) => r.processed.mark(msg.id));
  events.push({ type: 'pre-keys-low', available: payload.value.available, supplied: supplied.length });
};
