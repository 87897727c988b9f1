/**
 * The client's STORAGE_SEALED statements (docs/audit.md): the runtime counts the records it writes
 * through its database handler and tells the server's audit log, at start, every few minutes and at
 * stop, how many it wrote and whether they were sealed (encryption at rest, ClientOptions.storage).
 * It is this device's own claim: the log shows what the device said, which an auditor compares with
 * how the app is meant to be configured.
 */
import type { DatabaseHandler } from '../store/database.js';

/** Interval of the statements while the client runs. */
export const STORAGE_STATEMENT_INTERVAL_MS = 10 * 60 * 1000;
/** How long stop() waits for the last statement. */
const STOP_WAIT_MS = 2000;

/** A handler that counts every put of its transactions (committed or not: a claim of writes attempted). */
export function countingDatabase(inner: DatabaseHandler): { database: DatabaseHandler; take(): number; giveBack(count: number): void } {
  let count = 0;
  return {
    database: {
      transaction: (fn) =>
        inner.transaction((tx) =>
          fn({
            get: (namespace, key) => tx.get(namespace, key),
            list: (namespace) => tx.list(namespace),
            delete: (namespace, key) => tx.delete(namespace, key),
            put: (namespace, key, value) => {
              count++;
              return tx.put(namespace, key, value);
            },
          }),
        ),
      close: () => inner.close(),
    },
    take() {
      const taken = count;
      count = 0;
      return taken;
    },
    giveBack(taken) {
      count += taken;
    },
  };
}

/** Sends one statement; resolves false when the server keeps no log (stop sending). */
export type SendStorageStatement = (recordsWritten: number, sealed: boolean) => Promise<boolean>;

/** Sends the statements on a timer; a failed send keeps its count for the next one. */
export class StorageStatementReporter {
  private timer: ReturnType<typeof setInterval> | undefined;
  private serverLogs = true;
  private sending: Promise<void> = Promise.resolve();

  constructor(
    private readonly counter: { take(): number; giveBack(count: number): void },
    private readonly sealed: boolean,
    private readonly send: SendStorageStatement,
    private readonly intervalMs = STORAGE_STATEMENT_INTERVAL_MS,
  ) {}

  /** Sends the first statement now (in the background) and the next ones every interval. */
  start(): void {
    void this.report();
    this.timer = setInterval(() => void this.report(), this.intervalMs);
    // Never keeps a process alive on its own.
    (this.timer as { unref?: () => void }).unref?.();
  }

  /**
   * Stops the timer and sends what was written since the last statement: best effort, waiting at
   * most `stopWaitMs` so that stopping an offline client is not held up by the transport timeout.
   */
  async stop(stopWaitMs = STOP_WAIT_MS): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, stopWaitMs);
    });
    await Promise.race([this.report(), waited]);
    clearTimeout(timer);
  }

  private report(): Promise<void> {
    this.sending = this.sending.then(async () => {
      if (!this.serverLogs) return;
      const count = this.counter.take();
      try {
        this.serverLogs = await this.send(count, this.sealed);
      } catch {
        // Offline or refused: the count goes into the next statement.
        this.counter.giveBack(count);
      }
    });
    return this.sending;
  }
}
