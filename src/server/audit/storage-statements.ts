/**
 * RecordStorageStatement: a client's own statement for the audit log that it seals what it stores
 * (docs/audit.md, STORAGE_SEALED). The address comes from the caller's token, never from the
 * request; the counts are the device's claim, recorded as such.
 */
import { AuditCategory } from '../../audit/categories.js';
import { ResponseCode } from '../../proto/gen/service_pb.js';
import type { ServiceContext } from '../context.js';
import { RateLimiter } from '../rate-limit.js';
import { deviceBucket, fail, ok, unary, type HandlerGroup } from '../rpc.js';

/**
 * Statements one device may add to the log: a burst of 10 (restarts), then one a minute. A client
 * states every 10 minutes; the general per-device limit alone would let one device write 50
 * entries a second into everybody's audit log.
 */
const STATEMENT_LIMIT = { perSecond: 1 / 60, burst: 10 };

export function storageStatements(ctx: ServiceContext): HandlerGroup<'recordStorageStatement'> {
  const limiter = new RateLimiter(STATEMENT_LIMIT);
  return {
    recordStorageStatement: unary(ctx.gate, async (request, caller, now) => {
      if (!ctx.audit) return fail(ResponseCode.NO_CONTENT, 'the server keeps no audit log');
      // Retryable: the client keeps the count for its next statement.
      if (!limiter.take(deviceBucket(caller), now)) return fail(ResponseCode.SERVICE_UNAVAILABLE, 'storage statements are limited to one a minute per device');
      if (request.recordsWritten > BigInt(Number.MAX_SAFE_INTEGER)) return fail(ResponseCode.BAD_REQUEST, 'records_written beyond 2^53');
      await ctx.audit.record({
        mask: AuditCategory.STORAGE_SEALED,
        event: { type: 'storage-sealed', by: `${caller.userId}/${caller.deviceId}`, sealed: request.sealed, recordsWritten: Number(request.recordsWritten) },
      });
      return ok('recorded');
    }),
  };
}
