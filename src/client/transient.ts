/** Which failures of the receive path are retried (the ProtoMsg stays queued) rather than reported and dropped. */
import { Pqe2eeError, TRANSIENT_ERROR_CODES } from '../errors.js';
import type { RuntimeContext } from './context.js';

/** Whether an error while handling a ProtoMsg means "try again later" rather than "drop it". */
export function isTransient(ctx: RuntimeContext, error: unknown): boolean {
  return ctx.isRetryable(error) || (error instanceof Pqe2eeError && TRANSIENT_ERROR_CODES.has(error.code));
}
