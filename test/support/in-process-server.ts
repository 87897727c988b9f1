// An in-process reference server for client-level tests (test/client, test/group, test/server):
// started before a file's tests, stopped after them together with every client the tests made.
import { afterAll, beforeAll } from 'vitest';
import { createClient, type ClientOptions, type E2eeClient } from '../../src/index.js';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server/index.js';

export interface InProcessServer {
  /** Base URL and domain of the running server. */
  readonly url: string;
  readonly domain: string;
  /** The server's audit log identity (origin, log key, admin token); undefined with `audit: false`. */
  readonly audit: RunningServer['audit'];
  /** Stops `client` after the file's tests; returns it. */
  track(client: E2eeClient): E2eeClient;
  /** Starts `client` (tracked). */
  started(client: E2eeClient): Promise<E2eeClient>;
  /** A started suite-2 client of a new user. */
  start(deviceId: string, extra?: Partial<ClientOptions>): Promise<E2eeClient>;
  /** A started second device of `owner`'s user, approved by `owner`. */
  link(owner: E2eeClient, deviceId: string, extra?: Partial<ClientOptions>): Promise<E2eeClient>;
}

/** Registers the hooks; `options` go to startServer (defaults: free port, in-memory SQLite). */
export function useInProcessServer(options: ServerOptions = {}): InProcessServer {
  let server: RunningServer | undefined;
  const clients: E2eeClient[] = [];
  const running = (): RunningServer => {
    if (!server) throw new Error('the in-process server is not running (use it inside tests)');
    return server;
  };
  beforeAll(async () => {
    server = await startServer({ port: 0, dbPath: ':memory:', ...options });
  });
  afterAll(async () => {
    for (const client of clients) await client.stop().catch(() => undefined);
    await server?.close();
  });
  const handle: InProcessServer = {
    get url() {
      return running().url;
    },
    get domain() {
      return running().domain;
    },
    get audit() {
      return running().audit;
    },
    track(client) {
      clients.push(client);
      return client;
    },
    async started(client) {
      clients.push(client);
      await client.start();
      return client;
    },
    start(deviceId, extra = {}) {
      return handle.started(createClient({ server: running().url, deviceId, suite: 2, ...extra }));
    },
    link(owner, deviceId, extra = {}) {
      return handle.start(deviceId, { linkDevice: (request) => owner.approveDevice(request), ...extra });
    },
  };
  return handle;
}
