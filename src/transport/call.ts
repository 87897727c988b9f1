/** One RPC with its response code checked: the only place the runtime turns answers into errors. */
import { Code, ConnectError } from '@connectrpc/connect';
import { ResponseCode } from '../proto/gen/service_pb.js';
import { ServerResponseError, TransportError } from '../errors.js';

/** Codes that mean the request did what was asked. */
export const SUCCESS_CODES: readonly ResponseCode[] = [ResponseCode.OK, ResponseCode.CREATED, ResponseCode.ACCEPTED, ResponseCode.NO_CONTENT];

function responseCodeOf(code: Code): ResponseCode {
  switch (code) {
    case Code.InvalidArgument:
    case Code.ResourceExhausted:
    case Code.OutOfRange:
      return ResponseCode.BAD_REQUEST;
    case Code.Unauthenticated:
      return ResponseCode.UNAUTHORIZED;
    case Code.PermissionDenied:
      return ResponseCode.FORBIDDEN;
    case Code.NotFound:
    case Code.Unimplemented:
      return ResponseCode.NOT_FOUND;
    case Code.DeadlineExceeded:
      return ResponseCode.REQUEST_TIMEOUT;
    case Code.Internal:
      return ResponseCode.INTERNAL_SERVER_ERROR;
    default:
      return ResponseCode.SERVICE_UNAVAILABLE;
  }
}

/**
 * Runs `send` and returns the response if its code is a success code; throws ServerResponseError
 * for other codes and TransportError when there was no protocol answer.
 */
export async function callRpc<R extends { code: ResponseCode; reason: string }>(rpc: string, send: () => Promise<R>): Promise<R> {
  let response: R;
  try {
    response = await send();
  } catch (error) {
    if (error instanceof ConnectError) throw new TransportError(rpc, responseCodeOf(error.code), error.rawMessage);
    throw new TransportError(rpc, ResponseCode.SERVICE_UNAVAILABLE, error instanceof Error ? error.message : String(error));
  }
  if (!SUCCESS_CODES.includes(response.code)) throw new ServerResponseError(rpc, response.code, ResponseCode[response.code] ?? String(response.code), response.reason);
  return response;
}

/** Whether a failed request may succeed later unchanged (so it should be kept and retried). */
export function isRetryable(error: unknown): boolean {
  if (error instanceof TransportError) return error.responseCode !== ResponseCode.BAD_REQUEST;
  if (error instanceof ServerResponseError) {
    return [ResponseCode.SERVICE_UNAVAILABLE, ResponseCode.REQUEST_TIMEOUT, ResponseCode.INTERNAL_SERVER_ERROR, ResponseCode.UNAUTHORIZED].includes(error.responseCode);
  }
  return false;
}
