/** A promise-chain mutex: tasks run one at a time, in the order they were queued. */

/** Runs async tasks strictly one after another. */
export interface SerialQueue {
  /** Queues task; resolves or rejects with its outcome. A failing task does not stop the queue. */
  run<T>(task: () => Promise<T>): Promise<T>;
  /** Resolves once every task queued so far has settled. */
  drain(): Promise<void>;
}

/** Creates an empty queue. */
export function createSerialQueue(): SerialQueue {
  let tail: Promise<void> = Promise.resolve();
  const settled = (): void => undefined;
  return {
    run<T>(task: () => Promise<T>): Promise<T> {
      const result = tail.then(task);
      tail = result.then(settled, settled);
      return result;
    },
    drain(): Promise<void> {
      return tail;
    },
  };
}
