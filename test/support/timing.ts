// Waiting in tests. Prefer a signal (an event, a counter, a drained queue) over a bare `sleep`:
// `until` polls a condition that must become true, so a test waits exactly as long as needed.
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it is true or `ms` pass; returns the last value. */
export async function until(check: () => boolean | Promise<boolean>, ms = 10_000, step = 50): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(step);
  }
  return check();
}
