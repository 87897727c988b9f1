/**
 * RecordStorageStatement: a client's own statement for the audit log that it seals what it stores
 * (docs/audit.md, STORAGE_SEALED). The address comes from the caller's token, never from the
 * request; the counts are the device's claim, recorded as such.
 */
import { AuditCategory } from '../../audit/categories.js';
import { ResponseCode } from '../../proto/gen/service_pb.js';
import type { ServiceContext } from '../context.js';
import { fail, ok, unary, type HandlerGroup } from '../rpc.js';

export function storageStatements(ctx: ServiceContext): HandlerGroup<'recordStorageStatement'> {
  return {
    recordStorageStatement: unary(ctx.gate, async (request, caller) => {
      if (!ctx.audit) return fail(ResponseCode.NO_CONTENT, 'the server keeps no audit log');
      if (request.recordsWritten > BigInt(Number.MAX_SAFE_INTEGER)) return fail(ResponseCode.BAD_REQUEST, 'records_written beyond 2^53');
      await ctx.audit.record({
        mask: AuditCategory.STORAGE_SEALED,
        event: { type: 'storage-sealed', by: `${caller.userId}/${caller.deviceId}`, sealed: request.sealed, recordsWritten: Number(request.recordsWritten) },
      });
      return ok('recorded');
    }),
  };
}
