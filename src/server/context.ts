/**
 * The service's configuration and what each group of handlers is given to work with. Handler files
 * take a {@link ServiceContext} and return their slice of the service, so none of them reaches
 * into another's state and each can be read (and replaced) on its own.
 */
import type { ServerAuditLog } from './audit/audit-log.js';
import type { AuthState } from './auth.js';
import type { DeliveryHub } from './delivery.js';
import type { KeyedLock } from './keyed-lock.js';
import type { Outbox } from './outbox.js';
import type { RateLimit } from './rate-limit.js';
import type { RpcErrorHook, RpcGate } from './rpc.js';
import type { ServerStore } from './store/types.js';

/** Everything the service needs to know; see `ServerOptions` in src/server/index.ts for defaults. */
export interface ServiceConfig {
  domain: string;
  heartbeatMs: number;
  ttlMs: number;
  tokenTtlMs: number;
  challengeTtlMs: number;
  opkLowThreshold: number;
  maxOpksPerDevice: number;
  queueLimit: number;
  maxMessageBytes: number;
  maxGroupMembers: number;
  /** Devices per user at most (default {@link DEFAULT_MAX_DEVICES_PER_USER}). */
  maxDevicesPerUser?: number;
  /** Users one user watches at most, and watchers of one user at most (default {@link DEFAULT_MAX_CONTACTS_PER_USER}). */
  maxContactsPerUser?: number;
  /** Open Subscribe streams at most, one per device (default {@link DEFAULT_MAX_STREAMS}). */
  maxStreams?: number;
  /** A stream blocked on a write whose connection sends nothing for this long is cut (default {@link DEFAULT_STREAM_STALL_MS}). */
  streamStallMs?: number;
  /** Bytes of messages being written on all streams together before the longest-writing one is cut (default {@link DEFAULT_STREAM_WRITE_BYTES}). */
  streamWriteBytes?: number;
  rateLimit: RateLimit;
  ipRateLimit: RateLimit;
  /** Receives unexpected handler failures (see {@link RpcErrorHook}); default: ignored. */
  onError?: RpcErrorHook;
}

export const DEFAULT_MAX_DEVICES_PER_USER = 16;
export const DEFAULT_MAX_CONTACTS_PER_USER = 5000;
export const DEFAULT_MAX_STREAMS = 10_000;
export const DEFAULT_STREAM_STALL_MS = 120_000;
export const DEFAULT_STREAM_WRITE_BYTES = 128 * 1024 * 1024;

/** The configuration with every optional limit filled in. */
export type ResolvedServiceConfig = Required<Omit<ServiceConfig, 'onError'>>;

export function resolveServiceConfig(config: ServiceConfig): ResolvedServiceConfig {
  const { onError: _onError, ...rest } = config;
  return {
    ...rest,
    maxDevicesPerUser: config.maxDevicesPerUser ?? DEFAULT_MAX_DEVICES_PER_USER,
    maxContactsPerUser: config.maxContactsPerUser ?? DEFAULT_MAX_CONTACTS_PER_USER,
    maxStreams: config.maxStreams ?? DEFAULT_MAX_STREAMS,
    streamStallMs: config.streamStallMs ?? DEFAULT_STREAM_STALL_MS,
    streamWriteBytes: config.streamWriteBytes ?? DEFAULT_STREAM_WRITE_BYTES,
  };
}

/** Shared by every handler group; built once per server by `E2eeServer`. */
export interface ServiceContext {
  readonly store: ServerStore;
  readonly config: ResolvedServiceConfig;
  readonly auth: AuthState;
  readonly hub: DeliveryHub;
  /** Builds and queues messages, and wakes the recipients' streams. */
  readonly outbox: Outbox;
  /** Token and rate-limit checks, and the error hook, for `unary`. */
  readonly gate: RpcGate;
  /** One membership change at a time per group id (in this process). */
  readonly groupLock: KeyedLock;
  /**
   * The security audit log (docs/audit.md), if the server keeps one. Handlers record before they
   * answer, and a failed record fails the call: nothing the log should show happens unlogged.
   */
  readonly audit: ServerAuditLog | undefined;
  /** True once the server is shutting down: new streams end at once. */
  isClosing(): boolean;
}
