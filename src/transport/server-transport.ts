/**
 * Protocol handler for the reference server over Connect (binary protobuf over HTTP, fetch-based,
 * so the same code runs in browsers and in Node ≥ 18).
 */
import { createClient, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-web';
import { AuditService } from '../proto/gen/audit_pb.js';
import { E2eeService } from '../proto/gen/service_pb.js';
import type { ProtocolHandler } from './protocol-handler.js';

/** Options of {@link createServerTransport}. */
export interface ServerTransportOptions {
  /** Custom fetch (default: globalThis.fetch). */
  fetch?: typeof globalThis.fetch;
  /** Default timeout of each call in ms (default 30 000); pass `{ timeoutMs: 0 }` per call for none (the runtime does for Subscribe). */
  timeoutMs?: number;
}

/**
 * A protocol handler talking to the server at `baseUrl` (e.g. `http://127.0.0.1:8080`): its
 * E2eeService and, at the same base URL, its AuditService.
 */
export function createServerTransport(baseUrl: string, options: ServerTransportOptions = {}): ProtocolHandler {
  let token: string | undefined;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const authorize: Interceptor = (next) => async (request) => {
    if (token !== undefined) request.header.set('authorization', `Bearer ${token}`);
    return next(request);
  };
  const common = { baseUrl, useBinaryFormat: true, ...(options.fetch ? { fetch: options.fetch } : {}), defaultTimeoutMs: timeoutMs };
  const transport = createConnectTransport({ ...common, interceptors: [authorize] });
  // The audit RPCs are public (audit.proto): they go without the bearer token, which they do not need.
  const auditTransport = createConnectTransport(common);
  return {
    service: createClient(E2eeService, transport),
    audit: createClient(AuditService, auditTransport),
    setToken(next: string | undefined): void {
      token = next;
    },
  };
}
