/**
 * The protocol handler plugin (white paper): how the client runtime reaches the server. The
 * runtime only needs the typed service client and a way to set the bearer token, so a custom
 * handler (another transport, a test double, a proxy) implements this interface.
 */
import type { Client } from '@connectrpc/connect';
import type { E2eeService } from '../proto/gen/service_pb.js';

/** Typed client of every RPC in src/proto/service.proto. */
export type E2eeServiceClient = Client<typeof E2eeService>;

export interface ProtocolHandler {
  /** Calls go through this client; authenticated RPCs carry the token last given to setToken. */
  readonly service: E2eeServiceClient;
  /** Sets (or clears) the bearer token sent with every request. */
  setToken(token: string | undefined): void;
}
