/**
 * Live delivery: one subscription per device. Enqueuing wakes the device's subscription, which
 * reads its queue from the store after the last id it sent, so a message queued during the replay
 * is neither lost nor sent twice. A new subscription of the same device ends the older one.
 */
export interface Subscription {
  /** Resolves when woken (new messages, heartbeat due or the end); call again after each wake. */
  wait(timeoutMs: number): Promise<void>;
  /** True once replaced, unsubscribed or the server is closing. */
  readonly ended: boolean;
}

class DeviceSubscription implements Subscription {
  ended = false;
  private pending = false;
  private resolve: (() => void) | undefined;

  wake(): void {
    this.pending = true;
    const resolve = this.resolve;
    this.resolve = undefined;
    resolve?.();
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  /** Whether a wake arrived since the last call (clears it). */
  takePending(): boolean {
    const pending = this.pending;
    this.pending = false;
    return pending;
  }

  wait(timeoutMs: number): Promise<void> {
    if (this.pending || this.ended) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        if (this.resolve === done) this.resolve = undefined;
        resolve();
      }, Math.max(0, timeoutMs));
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.resolve = done;
    });
  }
}

const deviceKey = (userId: string, deviceId: string): string => `${userId}\u0000${deviceId}`;

export class DeliveryHub {
  private readonly subscriptions = new Map<string, DeviceSubscription>();

  /** Registers a device's subscription, ending the device's previous one. */
  subscribe(userId: string, deviceId: string): { subscription: Subscription & { takePending(): boolean }; unsubscribe(): void } {
    const key = deviceKey(userId, deviceId);
    this.subscriptions.get(key)?.end();
    const subscription = new DeviceSubscription();
    this.subscriptions.set(key, subscription);
    return {
      subscription,
      unsubscribe: () => {
        subscription.end();
        if (this.subscriptions.get(key) === subscription) this.subscriptions.delete(key);
      },
    };
  }

  notify(userId: string, deviceId: string): void {
    this.subscriptions.get(deviceKey(userId, deviceId))?.wake();
  }

  get size(): number {
    return this.subscriptions.size;
  }

  /** Ends every subscription (server shutdown). */
  endAll(): void {
    for (const subscription of this.subscriptions.values()) subscription.end();
    this.subscriptions.clear();
  }
}
