/**
 * The reference E2EE server (Node only): `startServer(options)` serves E2eeService over Connect
 * (HTTP/1.1) with SQLite storage. See docs/server.md.
 */
import { withCors } from './cors.js';
import { setMaxListeners } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createContextValues } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { AuditService } from '../proto/gen/audit_pb.js';
import { E2eeService } from '../proto/gen/service_pb.js';
import { type AuditLogIdentity, type ServerAuditOptions, ServerAuditLog } from './audit/audit-log.js';
import type { E2eeAddress } from '../proto/gen/wire_pb.js';
import {
  DEFAULT_MAX_CONTACTS_PER_USER,
  DEFAULT_MAX_DEVICES_PER_USER,
  DEFAULT_MAX_STREAMS,
  DEFAULT_STREAM_STALL_MS,
  DEFAULT_STREAM_WRITE_BYTES,
  type ServiceConfig,
} from './context.js';
import { callConnectionKey, describeError, remoteAddressKey, type RpcErrorHook } from './rpc.js';
import { E2eeServer } from './service.js';
import type { RateLimit } from './rate-limit.js';
import { DEFAULT_GROUP_EPOCH_HISTORY, openSqliteStore } from './store/sqlite/index.js';
import type { ServerStore } from './store/types.js';

export type { RateLimit } from './rate-limit.js';
export type { RpcErrorHook } from './rpc.js';
export type { ServerStore } from './store/types.js';
export type { AuditLogIdentity, ServerAuditOptions } from './audit/audit-log.js';
export { openSqliteStore, SqliteUnavailableError, MIGRATIONS, type SqliteStoreOptions } from './store/sqlite/index.js';

/** Options of {@link startServer}; every field has a default. */
export interface ServerOptions {
  /** TCP port (default 8080); 0 picks a free one (see {@link RunningServer.port}). */
  port?: number;
  /** Interface to listen on (default '127.0.0.1'). */
  host?: string;
  /** SQLite file (default './pqe2ee.sqlite'); ':memory:' for a throwaway store. Ignored when `store` is given. */
  dbPath?: string;
  /** Use this store instead of opening SQLite (e.g. another backend). It is closed by `close()`. */
  store?: ServerStore;
  /** The server's domain, part of addresses and of the signed auth statement (default 'localhost'). */
  domain?: string;
  /** Interval of ServerHeartbeatMsg on open streams (default 15 000 ms). */
  heartbeatMs?: number;
  /** Time-to-live of undelivered messages (default 30 days). */
  ttlMs?: number;
  /** Lifetime of an auth token (default 24 h). Tokens live in memory: a restart invalidates them. */
  tokenTtlMs?: number;
  /** Validity of a challenge (default 60 000 ms). */
  challengeTtlMs?: number;
  /** A device with fewer one-time pre-keys than this gets one SupplyOpkMsg (default 10). */
  opkLowThreshold?: number;
  /** Most one-time pre-keys stored per device (default 1000). */
  maxOpksPerDevice?: number;
  /** Most queued messages per device before client messages to it are refused and server notices skip it (default 10 000; group state notices: twice this). */
  queueLimit?: number;
  /** Largest InviteMsg / AcceptMsg / E2eeMsg accepted, encoded (default 1 MiB). */
  maxMessageBytes?: number;
  /** Largest request body Connect reads (default 4 MiB). */
  maxRequestBytes?: number;
  /** Most members listed in one group request (default 1000). */
  maxGroupMembers?: number;
  /** Most devices per user (default 16): each new device notifies every watcher's devices. */
  maxDevicesPerUser?: number;
  /** Most users one user watches, and most watchers of one user (default 5000); see docs/server.md, "Limits". */
  maxContactsPerUser?: number;
  /** Newest epochs per group kept for GetGroupEpoch (default 32); for the SQLite store (a custom `store` keeps its own). */
  groupEpochHistory?: number;
  /** Open Subscribe streams at most, one per device (default 10 000); beyond it Subscribe fails with `resource_exhausted`. */
  maxStreams?: number;
  /** A stream blocked on a write whose connection sends nothing for this long is cut (default 120 000 ms). */
  streamStallMs?: number;
  /**
   * Bytes of messages being written on all streams together (default 128 MiB); beyond it the stream
   * that has been writing the longest is cut, its messages stay queued.
   */
  streamWriteBytes?: number;
  /** Per authenticated device (default 50/s, burst 100); perSecond 0 disables. */
  rateLimit?: RateLimit;
  /** Per remote address, for calls without a valid token (default 20/s, burst 100); perSecond 0 disables. */
  ipRateLimit?: RateLimit;
  /**
   * Origins allowed to call the server from a browser page (CORS), e.g. ['http://127.0.0.1:5173'];
   * ['*'] allows any. Default: none (same-origin pages and non-browser clients only).
   */
  corsOrigins?: string[];
  /** Receives one line per start and stop, and one per unexpected error (never secrets). Default: nothing is logged. */
  log?: (line: string) => void;
  /**
   * Receives every unexpected failure: a handler that threw (the caller got INTERNAL_SERVER_ERROR),
   * a stream that failed reading its queue, a failed periodic sweep. `rpc` names the method, or
   * 'sweep'. Default: one line through `log` with the error's class and message (no stack, nothing
   * of the request).
   */
  onError?: RpcErrorHook;
  /**
   * The security audit log (docs/audit.md): on by default for the SQLite store and for a custom
   * store that has `audit` storage; `false` turns it off (and with it key transparency for
   * bundles). See {@link ServerAuditOptions} for the TLM key file and intervals.
   */
  audit?: ServerAuditOptions | false;
}

/** A running server. */
export interface RunningServer {
  /** Base URL for Connect clients, e.g. 'http://127.0.0.1:8080'. */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  readonly domain: string;
  /** The audit log's origin, key and admin token; undefined when the server keeps no log. */
  readonly audit: AuditLogIdentity | undefined;
  /** Stops accepting connections, ends open streams, closes the store. Idempotent. */
  close(): Promise<void>;
  /** Admin: queues a SystemManagerMsg to every device; returns how many were queued. */
  notifySystem(notice: string): Promise<number>;
  /** Admin: queues a GroupManagerMsg to every member device of a group; returns how many. */
  notifyGroup(groupId: string, notice: string): Promise<number>;
  /** Admin: queues a FriendManagerMsg about `about` to every device of `userId`; returns how many. */
  notifyFriend(userId: string, about: E2eeAddress, notice: string): Promise<number>;
  /** Deletes expired messages now (also runs periodically); returns how many. */
  sweep(): Promise<number>;
}

const DAY_MS = 24 * 60 * 60 * 1000;

function resolveConfig(
  options: ServerOptions,
): ServiceConfig & { maxRequestBytes: number; groupEpochHistory: number; maxStreams: number; streamStallMs: number; streamWriteBytes: number } {
  const config = {
    domain: options.domain ?? 'localhost',
    heartbeatMs: options.heartbeatMs ?? 15_000,
    ttlMs: options.ttlMs ?? 30 * DAY_MS,
    tokenTtlMs: options.tokenTtlMs ?? DAY_MS,
    challengeTtlMs: options.challengeTtlMs ?? 60_000,
    opkLowThreshold: options.opkLowThreshold ?? 10,
    maxOpksPerDevice: options.maxOpksPerDevice ?? 1000,
    queueLimit: options.queueLimit ?? 10_000,
    maxMessageBytes: options.maxMessageBytes ?? 1024 * 1024,
    maxRequestBytes: options.maxRequestBytes ?? 4 * 1024 * 1024,
    maxGroupMembers: options.maxGroupMembers ?? 1000,
    maxDevicesPerUser: options.maxDevicesPerUser ?? DEFAULT_MAX_DEVICES_PER_USER,
    maxContactsPerUser: options.maxContactsPerUser ?? DEFAULT_MAX_CONTACTS_PER_USER,
    groupEpochHistory: options.groupEpochHistory ?? DEFAULT_GROUP_EPOCH_HISTORY,
    maxStreams: options.maxStreams ?? DEFAULT_MAX_STREAMS,
    streamStallMs: options.streamStallMs ?? DEFAULT_STREAM_STALL_MS,
    streamWriteBytes: options.streamWriteBytes ?? DEFAULT_STREAM_WRITE_BYTES,
    rateLimit: options.rateLimit ?? { perSecond: 50, burst: 100 },
    ipRateLimit: options.ipRateLimit ?? { perSecond: 20, burst: 100 },
  };
  const positive = [
    'heartbeatMs',
    'ttlMs',
    'tokenTtlMs',
    'challengeTtlMs',
    'maxOpksPerDevice',
    'queueLimit',
    'maxMessageBytes',
    'maxRequestBytes',
    'maxGroupMembers',
    'maxDevicesPerUser',
    'maxContactsPerUser',
    'groupEpochHistory',
    'maxStreams',
    'streamStallMs',
    'streamWriteBytes',
  ] as const;
  for (const key of positive) {
    if (!Number.isSafeInteger(config[key]) || config[key] <= 0) throw new RangeError(`${key} must be a positive integer`);
  }
  if (!Number.isSafeInteger(config.opkLowThreshold) || config.opkLowThreshold < 0) throw new RangeError('opkLowThreshold must be a non-negative integer');
  for (const key of ['rateLimit', 'ipRateLimit'] as const) {
    const limit = config[key];
    if (!(limit.perSecond >= 0) || !(limit.burst >= 1)) throw new RangeError(`${key} needs perSecond >= 0 and burst >= 1`);
  }
  if (config.domain.length === 0 || config.domain.length > 256) throw new RangeError('domain must be 1 to 256 characters');
  return config;
}

/**
 * Drops a connection at once. A reset (not a FIN) also discards what the kernel still holds for a
 * peer that does not read, which would otherwise linger, unsent, for minutes after the close.
 */
function resetConnection(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    // Not a TCP handle (e.g. TLS or a pipe): an ordinary close.
    socket.destroy();
  }
}

/** Starts the server; resolves once it listens. */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const config = resolveConfig(options);
  const host = options.host ?? '127.0.0.1';
  const requestedPort = options.port ?? 8080;
  if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) throw new RangeError('port must be 0 to 65535');
  const store = options.store ?? (await openSqliteStore(options.dbPath ?? './pqe2ee.sqlite', { groupEpochHistory: config.groupEpochHistory }));
  const onError: RpcErrorHook = options.onError ?? ((error, rpc) => options.log?.(`pqe2ee server: unexpected error in ${rpc}: ${describeError(error)}`));
  let audit: ServerAuditLog | undefined;
  try {
    audit = await openAuditLog(options, store, config.domain, onError);
  } catch (error) {
    await store.close();
    throw error;
  }
  const server = new E2eeServer(store, { ...config, onError }, audit);
  const auditImplementation = server.auditImplementation();
  const shutdown = new AbortController();
  // Connect links every open call to this signal (one abort listener per call): thousands of open
  // streams are normal here, not a leak, so Node's default warning at 11 listeners is lifted.
  setMaxListeners(0, shutdown.signal);
  const handler = connectNodeAdapter({
    routes: (router) => {
      router.service(E2eeService, server.implementation());
      if (auditImplementation) router.service(AuditService, auditImplementation);
    },
    readMaxBytes: config.maxRequestBytes,
    shutdownSignal: shutdown.signal,
    contextValues: (req) =>
      createContextValues()
        .set(remoteAddressKey, req.socket.remoteAddress ?? 'unknown')
        .set(callConnectionKey, {
          close: () => resetConnection(req.socket),
          // Bytes the kernel has taken: what Node still buffers (writableLength) is not sent yet.
          sentBytes: () => req.socket.bytesWritten - req.socket.writableLength,
        }),
  });
  const http: Server = createServer(withCors(options.corsOrigins ?? [], handler));
  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(requestedPort, host, () => {
        http.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await audit?.close();
    await store.close();
    throw error;
  }
  const port = (http.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  // A failed sweep (e.g. the database busy) is reported and retried at the next tick; expired
  // messages are never delivered in the meantime, since reads filter on expiry.
  const sweepTimer = setInterval(
    () =>
      void server.sweep().catch((error: unknown) => {
        try {
          onError(error, 'sweep');
        } catch {
          // A failing logger must not become an unhandled rejection.
        }
      }),
    Math.min(config.ttlMs, 60_000),
  );
  sweepTimer.unref();
  options.log?.(`pqe2ee server listening on ${url} (db ${options.store ? 'custom store' : (options.dbPath ?? './pqe2ee.sqlite')})`);

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      clearInterval(sweepTimer);
      const stopped = new Promise<void>((resolve) => http.close(() => resolve()));
      server.shutdown();
      shutdown.abort();
      http.closeIdleConnections();
      // Streams end on their own once woken; give them a moment, then cut what is left.
      const timer = setTimeout(() => http.closeAllConnections(), 1000);
      await stopped;
      clearTimeout(timer);
      await audit?.close();
      await store.close();
      options.log?.('pqe2ee server stopped');
    })();
    return closed;
  };

  return {
    url,
    port,
    host,
    domain: config.domain,
    audit: audit?.identity,
    close,
    notifySystem: (notice) => server.notifySystem(notice),
    notifyGroup: (groupId, notice) => server.notifyGroup(groupId, notice),
    notifyFriend: (userId, about, notice) => server.notifyFriend(userId, about, notice),
    sweep: () => server.sweep(),
  };
}

/**
 * The audit log of this server, or undefined when it is turned off or the custom store keeps
 * none. The TLM's key file sits next to the SQLite file by default; a throwaway store gets a
 * throwaway TLM in memory.
 */
async function openAuditLog(options: ServerOptions, store: ServerStore, domain: string, onError: RpcErrorHook): Promise<ServerAuditLog | undefined> {
  if (options.audit === false) return undefined;
  if (!store.audit) {
    if (options.audit !== undefined) throw new RangeError('audit needs a store with audit storage (ServerStore.audit)');
    return undefined;
  }
  const dbPath = options.dbPath ?? './pqe2ee.sqlite';
  const keyFile = options.audit?.keyFile ?? (options.store || dbPath === ':memory:' ? undefined : `${dbPath}.tlm.json`);
  return ServerAuditLog.open(store.audit, {
    origin: `${domain}/audit`,
    keyFile,
    ...(options.audit?.heartbeatMs !== undefined ? { heartbeatMs: options.audit.heartbeatMs } : {}),
    ...(options.audit?.checkpointIntervalMs !== undefined ? { checkpointIntervalMs: options.audit.checkpointIntervalMs } : {}),
    onError: (error) => onError(error, 'audit-heartbeat'),
  });
}
