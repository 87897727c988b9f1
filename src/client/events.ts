/**
 * The event handler plugin (white paper): what the runtime tells the app. Events are plain typed
 * objects; the app passes an {@link EventHandler} to createClient and/or subscribes with
 * `client.on(type, listener)`.
 *
 * Delivery of messages is at-least-once across crashes: a message event is emitted after the
 * message is stored, and marked delivered after every listener has returned. A crash inside a
 * listener re-emits the message on restart with the same `messageId`, so apps that must not show
 * a message twice de-duplicate by it.
 */
import { asPqe2eeError, type Pqe2eeError } from '../errors.js';

/** A device address as the runtime reports it. */
export interface DeviceRef {
  userId: string;
  deviceId: string;
}

/** A received application message. */
export interface ReceivedMessage {
  messageId: string;
  from: DeviceRef;
  body: Uint8Array;
  sentAt: number;
  receivedAt: number;
  /** 0 = kept until the app deletes it; otherwise when the runtime purges it (ms since the epoch). */
  expiresAt: number;
}

export type ClientEvent =
  | { type: 'registered'; address: DeviceRef }
  | { type: 'inbound-session-invited'; peer: DeviceRef; sessionId: string }
  | { type: 'inbound-session-ready'; peer: DeviceRef; sessionId: string }
  | { type: 'outbound-session-ready'; peer: DeviceRef; sessionId: string }
  /** A known device invited this one with a different identity key: compare the new fingerprint. */
  | { type: 'peer-identity-changed'; peer: DeviceRef }
  | { type: 'one2one-message'; message: ReceivedMessage }
  /** A copy of what this user's other device sent to `conversationUserId`. */
  | { type: 'other-device-message'; message: ReceivedMessage; conversationUserId: string }
  | { type: 'group-message'; groupId: string; message: ReceivedMessage }
  | { type: 'group-created'; groupId: string; groupName: string; epoch: bigint }
  | { type: 'group-members-added'; groupId: string; epoch: bigint; userIds: string[] }
  | { type: 'group-members-removed'; groupId: string; epoch: bigint; userIds: string[] }
  /** This device is no longer in the group (it left, or was removed). */
  | { type: 'group-left'; groupId: string }
  /**
   * Copies for a device whose session was never accepted were not kept: its backlog was full
   * ('backlog-full', the copy was not queued) or they waited longer than the pending lifetime
   * ('expired'). The user's other devices are not affected.
   */
  | { type: 'copies-dropped'; peer: DeviceRef; count: number; reason: 'backlog-full' | 'expired' }
  | { type: 'pre-keys-low'; available: number; supplied: number }
  | { type: 'user-updated'; userId: string; userName: string }
  | { type: 'notice'; kind: 'group' | 'system' | 'friend'; text: string }
  /**
   * Something failed in the background (a message that could not be processed, a send refused).
   * `error` is always a Pqe2eeError: switch on `error.code`; anything else arrives wrapped as
   * `ERR_UNEXPECTED` with the original as `cause`.
   */
  | { type: 'error'; error: Pqe2eeError; context: string };

export type ClientEventType = ClientEvent['type'];
export type ClientEventOf<T extends ClientEventType> = Extract<ClientEvent, { type: T }>;

export interface EventHandler {
  /** Called for every event, in order; the runtime awaits it before marking messages delivered. */
  handle(event: ClientEvent): void | Promise<void>;
}

/** Fans events out to the plugin and to `on()` listeners. Listener errors become 'error' events. */
export class EventBus {
  private readonly listeners = new Map<ClientEventType, Set<(event: ClientEvent) => void | Promise<void>>>();

  constructor(private readonly plugin?: EventHandler) {}

  on<T extends ClientEventType>(type: T, listener: (event: ClientEventOf<T>) => void | Promise<void>): () => void {
    const set = this.listeners.get(type) ?? new Set();
    const wrapped = listener as (event: ClientEvent) => void | Promise<void>;
    set.add(wrapped);
    this.listeners.set(type, set);
    return () => set.delete(wrapped);
  }

  async emit(event: ClientEvent): Promise<void> {
    const targets: Array<(event: ClientEvent) => void | Promise<void>> = [];
    if (this.plugin) targets.push((e) => this.plugin?.handle(e));
    for (const listener of this.listeners.get(event.type) ?? []) targets.push(listener);
    for (const target of targets) {
      try {
        await target(event);
      } catch (error) {
        // A failing listener must not stop the runtime; it is reported, not rethrown.
        if (event.type !== 'error') await this.emit({ type: 'error', error: asPqe2eeError(error), context: `listener of ${event.type}` });
      }
    }
  }
}
