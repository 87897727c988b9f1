// Shared set-up of the second review's client tests: an in-process server and suite-2 clients.
import { afterAll, beforeAll } from 'vitest';
import { createClient, type ClientOptions, type E2eeClient } from '../../src/index.js';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server/index.js';

export const text = (b: Uint8Array): string => new TextDecoder().decode(b);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Pool {
  readonly clients: E2eeClient[] = [];
  constructor(private readonly url: () => string) {}

  async start(deviceId: string, extra: Partial<ClientOptions> = {}): Promise<E2eeClient> {
    const client = createClient({ server: this.url(), deviceId, suite: 2, ...extra });
    this.clients.push(client);
    await client.start();
    return client;
  }

  /** A second device of `owner`'s user, approved by `owner`. */
  link(owner: E2eeClient, deviceId: string, extra: Partial<ClientOptions> = {}): Promise<E2eeClient> {
    return this.start(deviceId, { linkDevice: (r) => owner.approveDevice(r), ...extra });
  }

  async stopAll(): Promise<void> {
    for (const c of this.clients) await c.stop().catch(() => undefined);
  }
}

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

/**
 * Registers hooks that start an in-process server (rate limits off) before the file's tests and
 * stop every pooled client and the server after them.
 */
export function useServer(options: ServerOptions = {}): { pool: Pool; server: () => RunningServer } {
  let server: RunningServer | undefined;
  const pool = new Pool(() => (server as RunningServer).url);
  beforeAll(async () => {
    server = await startServer({ port: 0, dbPath: ':memory:', rateLimit: { perSecond: 0, burst: 1 }, ...options });
  });
  afterAll(async () => {
    await pool.stopAll();
    await server?.close();
  });
  return { pool, server: () => server as RunningServer };
}
