/**
 * Runs async work one at a time per key (here: per group), in call order. Membership changes of a
 * group read, change and save its record; without this, two concurrent changes would both read
 * the same version and one would fail its compare-and-set for no reason the caller could fix.
 * The store's compare-and-set stays the real guard (another server process, a custom store).
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    // Runs after the previous holder whether it succeeded or failed.
    const run = previous.then(work, work);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, settled);
    try {
      return await run;
    } finally {
      // The last holder of a key removes it, so the map holds only groups being changed now.
      if (this.tails.get(key) === settled) this.tails.delete(key);
    }
  }
}
