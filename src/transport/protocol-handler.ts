/**
 * The protocol handler plugin (white paper): how the client runtime reaches the server. The
 * runtime only needs the typed service client and a way to set the bearer token, so a custom
 * handler (another transport, a test double, a proxy) implements this interface.
 */
import type { Client } from '@connectrpc/connect';
import type { AuditService } from '../proto/gen/audit_pb.js';
import type { E2eeService } from '../proto/gen/service_pb.js';

/** Typed client of every RPC in src/proto/service.proto. */
export type E2eeServiceClient = Client<typeof E2eeService>;

/** Typed client of the audit log's RPCs (src/proto/audit.proto). */
export type AuditServiceClient = Client<typeof AuditService>;

export interface ProtocolHandler {
  /** Calls go through this client; authenticated RPCs carry the token last given to setToken. */
  readonly service: E2eeServiceClient;
  /**
   * The server's audit log, for key transparency (ClientOptions.auditLogKey): the runtime asks it
   * for consistency proofs between checkpoints and for the key entry of a device met without a
   * bundle (GetKeyInclusion). Optional, so handlers written before the audit log keep working; a
   * client with `auditLogKey` set needs it.
   */
  readonly audit?: AuditServiceClient;
  /** Sets (or clears) the bearer token sent with every request. */
  setToken(token: string | undefined): void;
}
