export type { ProtocolHandler, E2eeServiceClient, AuditServiceClient } from './protocol-handler.js';
export { createServerTransport, type ServerTransportOptions } from './server-transport.js';
export { ServerResponseError, TransportError } from '../errors.js';
export { callRpc, isRetryable, SUCCESS_CODES } from './call.js';
