/**
 * Live delivery: one subscription per device. Enqueuing wakes the device's subscription, which
 * reads its queue from the store after the last id it sent, so a message queued during the replay
 * is neither lost nor sent twice. A new subscription of the same device ends the older one.
 *
 * A stream's generator can be blocked on a `yield` for ever: Connect asks for the next message
 * only once the previous one has drained to the socket (it awaits 'drain'), and a client that never
 * reads never drains it. A flag checked between yields cannot end such a stream, so each
 * subscription holds its connection and closes it when the stream is ended while a message is
 * being written. The same happens to a write that makes no progress for the stall limit, and to
 * the write that has been going on longest once the messages being written on all streams together
 * exceed the hub's byte budget. Each stream reads one message ahead, so that budget bounds what
 * stalled streams hold.
 */

/** Longest delay `setTimeout` takes; beyond it Node fires after 1 ms instead. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The connection a stream is written to (the node adapter provides it; see `callConnectionKey`). */
export interface StreamConnection {
  /** Drops the connection at once, whatever is buffered on it. */
  close(): void;
  /** Bytes handed to the network so far: it grows while the peer reads, however slowly. */
  sentBytes(): number;
}

export interface Subscription {
  /** Resolves when woken (new messages, heartbeat due or the end); call again after each wake. */
  wait(timeoutMs: number): Promise<void>;
  /** Whether a wake arrived since the last call (clears it). */
  takePending(): boolean;
  /**
   * Brackets each message handed to the transport (`bytes`: its stored size). While it is being
   * written, ending the stream closes its connection, see {@link DeliveryHub}.
   */
  beginWrite(bytes: number): void;
  endWrite(): void;
  /** True once replaced, unsubscribed, cut or the server is closing. */
  readonly ended: boolean;
}

export interface DeliveryOptions {
  /** Open streams at most, over all devices; a device replacing its own stream is not counted twice. */
  maxStreams: number;
  /** A write whose connection sends nothing for this long ends the stream (its connection is closed). */
  stallMs: number;
  /**
   * Bytes of messages being written on all streams together; beyond it the stream that has been
   * writing the longest is cut (a single message larger than this is still written alone).
   */
  maxWriteBytes: number;
}

/** The hub's account of messages being written, in the order their writes began. */
interface WriteLedger {
  started(subscription: DeviceSubscription, bytes: number): void;
  finished(subscription: DeviceSubscription, bytes: number): void;
}

class DeviceSubscription implements Subscription {
  ended = false;
  private pending = false;
  private resolve: (() => void) | undefined;
  /** Set while a message is being written: its size and the stall check. */
  private writing: { bytes: number; stallTimer: ReturnType<typeof setTimeout> } | undefined;

  constructor(
    private readonly options: DeliveryOptions,
    private readonly ledger: WriteLedger,
    private readonly connection: StreamConnection,
    /** Called once when the stream ends for good, to free its slot in the hub. */
    private readonly release: () => void,
  ) {}

  wake(): void {
    this.pending = true;
    const resolve = this.resolve;
    this.resolve = undefined;
    resolve?.();
  }

  end(): void {
    if (!this.ended) {
      this.ended = true;
      this.release();
    }
    // Blocked on a write that may never drain: only closing the connection frees the stream and
    // the message it holds. An idle stream is woken and ends normally instead.
    if (this.writing) {
      this.endWrite();
      this.connection.close();
    }
    this.wake();
  }

  takePending(): boolean {
    const pending = this.pending;
    this.pending = false;
    return pending;
  }

  beginWrite(bytes: number): void {
    this.endWrite();
    this.writing = { bytes, stallTimer: this.stallCheck(this.connection.sentBytes()) };
    this.ledger.started(this, bytes);
  }

  endWrite(): void {
    if (!this.writing) return;
    clearTimeout(this.writing.stallTimer);
    this.ledger.finished(this, this.writing.bytes);
    this.writing = undefined;
  }

  wait(timeoutMs: number): Promise<void> {
    if (this.pending || this.ended) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(
        () => {
          if (this.resolve === done) this.resolve = undefined;
          resolve();
        },
        Math.min(Math.max(0, timeoutMs), MAX_TIMER_MS),
      );
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.resolve = done;
    });
  }

  /**
   * Cuts the stream if its connection sends nothing for the stall limit. A peer that reads, even
   * slowly, is not stalled (a large message may take long); the write budget bounds those.
   */
  private stallCheck(sentBefore: number): ReturnType<typeof setTimeout> {
    const timer = setTimeout(
      () => {
        if (!this.writing) return;
        const sent = this.connection.sentBytes();
        if (sent > sentBefore) this.writing.stallTimer = this.stallCheck(sent);
        else this.end();
      },
      Math.min(this.options.stallMs, MAX_TIMER_MS),
    );
    timer.unref();
    return timer;
  }
}

const deviceKey = (userId: string, deviceId: string): string => `${userId}\u0000${deviceId}`;

export class DeliveryHub {
  private readonly subscriptions = new Map<string, DeviceSubscription>();
  /** Streams writing a message, in the order their writes began (a Set keeps insertion order). */
  private readonly writers = new Set<DeviceSubscription>();
  private writeBytes = 0;
  private readonly ledger: WriteLedger = {
    started: (subscription, bytes) => {
      this.writers.add(subscription);
      this.writeBytes += bytes;
      // Healthy writes drain in moments; the oldest one is the likeliest to be a client that stopped
      // reading. Cutting it frees its message (its unconsumed messages stay queued).
      for (const oldest of this.writers) {
        if (this.writeBytes <= this.options.maxWriteBytes || oldest === subscription) break;
        oldest.end();
      }
    },
    finished: (subscription, bytes) => {
      this.writers.delete(subscription);
      this.writeBytes -= bytes;
    },
  };

  constructor(private readonly options: DeliveryOptions) {}

  /**
   * Registers a device's subscription, ending the device's previous one (closing its connection if
   * it is blocked on a write). `undefined` when `maxStreams` other devices already have a stream.
   */
  subscribe(userId: string, deviceId: string, connection: StreamConnection): { subscription: Subscription; unsubscribe(): void } | undefined {
    const key = deviceKey(userId, deviceId);
    const previous = this.subscriptions.get(key);
    if (previous === undefined && this.subscriptions.size >= this.options.maxStreams) return undefined;
    previous?.end();
    const subscription = new DeviceSubscription(this.options, this.ledger, connection, () => {
      if (this.subscriptions.get(key) === subscription) this.subscriptions.delete(key);
    });
    this.subscriptions.set(key, subscription);
    return { subscription, unsubscribe: () => subscription.end() };
  }

  notify(userId: string, deviceId: string): void {
    this.subscriptions.get(deviceKey(userId, deviceId))?.wake();
  }

  /** Open streams (one per device at most). */
  get size(): number {
    return this.subscriptions.size;
  }

  /** Bytes of the messages being written on all streams. */
  get writingBytes(): number {
    return this.writeBytes;
  }

  /** Ends every subscription (server shutdown). */
  endAll(): void {
    for (const subscription of [...this.subscriptions.values()]) subscription.end();
    this.subscriptions.clear();
  }
}
