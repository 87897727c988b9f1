/**
 * The E2eeService (src/proto/service.proto) put together: authentication, pre-keys, routing of
 * opaque messages, groups and the message stream, each a slice of handlers in its own file, over
 * one shared {@link ServiceContext}. It only ever handles public keys and ciphertexts. Storage goes
 * through `ServerStore`; live delivery through {@link DeliveryHub}.
 */
import type { E2eeService } from '../proto/gen/service_pb.js';
import type { E2eeAddress } from '../proto/gen/wire_pb.js';
import type { ServiceImpl } from '@connectrpc/connect';
import type { AuditService } from '../proto/gen/audit_pb.js';
import { accounts } from './accounts.js';
import type { ServerAuditLog } from './audit/audit-log.js';
import { auditService } from './audit/audit-service.js';
import { storageStatements } from './audit/storage-statements.js';
import { AuthState } from './auth.js';
import { resolveServiceConfig, type ResolvedServiceConfig, type ServiceConfig, type ServiceContext } from './context.js';
import { DeliveryHub } from './delivery.js';
import { direct } from './direct.js';
import { groups } from './groups.js';
import { KeyedLock } from './keyed-lock.js';
import { adminNotices, type AdminNotices } from './notices.js';
import { Outbox } from './outbox.js';
import { prekeys } from './prekeys.js';
import { RateLimiter } from './rate-limit.js';
import type { RpcGate } from './rpc.js';
import type { ServerStore } from './store/types.js';
import { stream } from './stream.js';

// What a caller building its own router needs besides the class (the defaults are in context.ts).
export type { ServiceConfig } from './context.js';
export { callConnectionKey, remoteAddressKey, type RpcErrorHook } from './rpc.js';

/** Outstanding sign-in challenges kept at most (the oldest are dropped first). */
const MAX_CHALLENGES = 100_000;

export class E2eeServer {
  readonly auth: AuthState;
  readonly hub: DeliveryHub;
  readonly config: ResolvedServiceConfig;
  private readonly context: ServiceContext;
  private readonly admin: AdminNotices;
  private closing = false;

  constructor(
    readonly store: ServerStore,
    config: ServiceConfig,
    /** The audit log the handlers record to and AuditService serves (none: nothing is recorded). */
    readonly audit?: ServerAuditLog,
  ) {
    this.config = resolveServiceConfig(config);
    const resolved = this.config;
    this.auth = new AuthState({ challengeTtlMs: resolved.challengeTtlMs, tokenTtlMs: resolved.tokenTtlMs, maxChallenges: MAX_CHALLENGES });
    this.hub = new DeliveryHub({ maxStreams: resolved.maxStreams, stallMs: resolved.streamStallMs, maxWriteBytes: resolved.streamWriteBytes });
    const gate: RpcGate = {
      auth: this.auth,
      deviceLimiter: new RateLimiter(resolved.rateLimit),
      ipLimiter: new RateLimiter(resolved.ipRateLimit),
      onError: config.onError ?? (() => undefined),
    };
    this.context = {
      store,
      config: resolved,
      auth: this.auth,
      hub: this.hub,
      outbox: new Outbox(store, this.hub, resolved),
      gate,
      groupLock: new KeyedLock(),
      audit,
      isClosing: () => this.closing,
    };
    this.admin = adminNotices(this.context);
  }

  /** Every RPC of the service; the compiler checks that the slices together cover all of them. */
  implementation(): ServiceImpl<typeof E2eeService> {
    const context = this.context;
    return {
      ...accounts(context),
      ...prekeys(context),
      ...direct(context),
      ...groups(context),
      ...stream(context),
      ...storageStatements(context),
    };
  }

  /** AuditService over the audit log, or undefined when the server keeps none. */
  auditImplementation(): ServiceImpl<typeof AuditService> | undefined {
    return this.audit ? auditService(this.context.gate, this.audit, this.store) : undefined;
  }

  /** Ends every stream; later Subscribe calls end at once. */
  shutdown(): void {
    this.closing = true;
    this.hub.endAll();
  }

  /** Periodic housekeeping: expired messages, challenges, tokens and idle rate buckets. */
  async sweep(now = Date.now()): Promise<number> {
    const { gate } = this.context;
    this.auth.prune(now);
    gate.deviceLimiter.prune(now);
    gate.ipLimiter.prune(now);
    return this.store.deleteExpired(now);
  }

  // Admin notices (server API, not RPCs); see notices.ts.

  notifySystem(notice: string): Promise<number> {
    return this.admin.notifySystem(notice);
  }

  notifyGroup(groupId: string, notice: string): Promise<number> {
    return this.admin.notifyGroup(groupId, notice);
  }

  notifyFriend(userId: string, about: E2eeAddress, notice: string): Promise<number> {
    return this.admin.notifyFriend(userId, about, notice);
  }
}
