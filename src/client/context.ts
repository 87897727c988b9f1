/**
 * What the runtime's parts share: the account, the four plugin handlers, this device's address,
 * and the one lock that serialises every state change (incoming messages and API calls).
 */
import type { Account } from '../protocol/index.js';
import type { DatabaseHandler, KeyValueTransaction } from '../store/database.js';
import { callRpc, isRetryable } from '../transport/call.js';
import { ServerResponseError } from '../transport/errors.js';
import type { E2eeServiceClient } from '../transport/protocol-handler.js';
import { ResponseCode } from '../proto/gen/service_pb.js';
import type { CommonHandler } from './common.js';
import type { DeviceRef, EventBus } from './events.js';
import { Records } from './records.js';

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

  crash(point: CrashPoint): void {
    this.crashHook?.(point);
  }

  isRetryable(error: unknown): boolean {
    return isRetryable(error);
  }
}
