// Helpers of the second review's client tests (the server comes from test/support/in-process-server.ts).
import type { E2eeClient } from '../../src/index.js';

export const text = (b: Uint8Array): string => new TextDecoder().decode(b);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Collects the bodies of every one-to-one / other-device / group message a client gets. */
export function collect(client: E2eeClient): { one2one: string[]; other: string[]; group: string[] } {
  const out = { one2one: [] as string[], other: [] as string[], group: [] as string[] };
  client.on('one2one-message', (e) => {
    out.one2one.push(text(e.message.body));
  });
  client.on('other-device-message', (e) => {
    out.other.push(text(e.message.body));
  });
  client.on('group-message', (e) => {
    out.group.push(text(e.message.body));
  });
  return out;
}

/** Polls `check` until it is true or `ms` pass; returns the last value. */
export async function until(check: () => boolean | Promise<boolean>, ms = 10_000, step = 50): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(step);
  }
  return check();
}

