/**
 * What the runtime's parts share: the account, the four plugin handlers, this device's address,
 * and the one lock that serialises every state change (incoming messages and API calls).
 */
import type { Account } from '../protocol/index.js';
import type { DatabaseHandler, KeyValueTransaction } from '../store/database.js';
import { callRpc, isRetryable } from '../transport/call.js';
import { ServerResponseError } from '../errors.js';
import type { E2eeServiceClient } from '../transport/protocol-handler.js';
import { ResponseCode } from '../proto/gen/service_pb.js';
import type { CommonHandler } from './common.js';
import type { DeviceRef, EventBus } from './events.js';
import { Records } from './records.js';

/** Bounds on what the runtime keeps for other devices. */
export interface RuntimeLimits {
  /** Plaintexts kept per device whose session is not accepted yet; later copies are dropped (default 1000). */
  maxPendingPerDevice: number;
  /** How long such a plaintext is kept before it is dropped (default 30 days, the reference server's queue TTL). */
  pendingLifetimeMs: number;
}

export const DEFAULT_RUNTIME_LIMITS: RuntimeLimits = Object.freeze({ maxPendingPerDevice: 1000, pendingLifetimeMs: 30 * 24 * 60 * 60 * 1000 });

/** Points of the receive path where a test may stop the process (crash-safety tests). */
export type CrashPoint = 'decrypted' | 'persisted' | 'delivered';

export class RuntimeContext {
  account!: Account;
  self!: DeviceRef;
  domain = '';
  /** Accept a known device's new identity key (default false: refuse, emit peer-identity-changed). */
  acceptIdentityChanges = false;
  /** Outbox entries whose temporary refusal the app was already told about. */
  readonly reportedOutbox = new Set<string>();
  /** Bounds on what this device keeps for others (see ClientOptions.limits). */
  limits: RuntimeLimits = DEFAULT_RUNTIME_LIMITS;
  /** Copies dropped since the last report, per device; reported once per device until its backlog frees. */
  private readonly droppedCopies = new Map<string, { peer: DeviceRef; count: number; reason: 'backlog-full' | 'expired' }>();
  private readonly stalledReported = new Set<string>();
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    readonly db: DatabaseHandler,
    readonly service: E2eeServiceClient,
    readonly common: CommonHandler,
    readonly events: EventBus,
    readonly authenticate: () => Promise<void>,
    readonly crashHook?: (point: CrashPoint) => void,
  ) {}

  /** Runs fn after every earlier locked call has finished. */
  locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** One database transaction with typed records. */
  transaction<T>(fn: (records: Records, tx: KeyValueTransaction) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new Records(tx), tx));
  }

  /** An RPC; an UNAUTHORIZED answer (expired token, restarted server) re-authenticates and retries once. */
  async rpc<R extends { code: ResponseCode; reason: string }>(name: string, send: () => Promise<R>): Promise<R> {
    try {
      return await callRpc(name, send);
    } catch (error) {
      if (error instanceof ServerResponseError && error.responseCode === ResponseCode.UNAUTHORIZED) {
        await this.authenticate();
        return callRpc(name, send);
      }
      throw error;
    }
  }

  /** Notes copies for `peer` that were not kept (reported by {@link reportDroppedCopies}). */
  noteDroppedCopies(peer: DeviceRef, count: number, reason: 'backlog-full' | 'expired'): void {
    const key = `${peer.userId}\u0000${peer.deviceId}`;
    if (reason === 'expired') this.stalledReported.delete(key);
    else if (this.stalledReported.has(key)) return;
    const entry = this.droppedCopies.get(`${reason}\u0000${key}`) ?? { peer, count: 0, reason };
    entry.count += count;
    this.droppedCopies.set(`${reason}\u0000${key}`, entry);
  }

  /** A device's backlog was sent or freed: its next full backlog is reported again. */
  backlogFreed(peer: DeviceRef): void {
    this.stalledReported.delete(`${peer.userId}\u0000${peer.deviceId}`);
  }

  /** Emits one 'copies-dropped' event per device and reason noted since the last call. */
  async reportDroppedCopies(): Promise<void> {
    const entries = [...this.droppedCopies.values()];
    this.droppedCopies.clear();
    for (const { peer, count, reason } of entries) {
      if (reason === 'backlog-full') this.stalledReported.add(`${peer.userId}\u0000${peer.deviceId}`);
      await this.events.emit({ type: 'copies-dropped', peer, count, reason });
    }
  }

  crash(point: CrashPoint): void {
    this.crashHook?.(point);
  }

  isRetryable(error: unknown): boolean {
    return isRetryable(error);
  }
}
