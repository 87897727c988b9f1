/** Errors of the transport to the reference server. */
import { Pqe2eeError } from '../../bindings/errors.js';
import { ResponseCode } from '../proto/gen/service_pb.js';

/**
 * The server answered with a response code other than the success codes the call expects. `reason`
 * is the server's human-readable reason (it never contains secrets: the server holds none).
 */
export class ServerResponseError extends Pqe2eeError {
  readonly responseCode: ResponseCode;
  readonly rpc: string;
  readonly reason: string;

  constructor(rpc: string, responseCode: ResponseCode, reason: string) {
    super('ERR_SERVER_RESPONSE', `${rpc}: ${ResponseCode[responseCode] ?? responseCode} (${reason || 'no reason given'})`);
    this.rpc = rpc;
    this.responseCode = responseCode;
    this.reason = reason;
  }
}

/**
 * The request did not get a protocol answer: network failure, timeout, or a Connect-level error
 * (e.g. a request the server could not decode, reported as RESPONSE_CODE_BAD_REQUEST).
 */
export class TransportError extends Pqe2eeError {
  readonly responseCode: ResponseCode;
  readonly rpc: string;

  constructor(rpc: string, responseCode: ResponseCode, message: string) {
    super('ERR_TRANSPORT', `${rpc}: ${message}`);
    this.rpc = rpc;
    this.responseCode = responseCode;
  }
}
