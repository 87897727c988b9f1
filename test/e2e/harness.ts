// Shared helpers for the end-to-end tests (test/e2e/*.test.ts): a real `pqe2ee server` process
// (started, stopped and restarted on the same SQLite file and port), E2eeClients in this process
// with a fresh memory or SQLite database, event collectors and bounded wait helpers.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createClient, type ClientOptions, type E2eeClient, type ReceivedMessage } from '../../src/client/index.js';
import { createMemoryDatabase } from '../../src/store/index.js';
import { openSqliteDatabase } from '../../src/store/node.js';
import { drainInbound, isSentinel, repoRoot } from '../support/index.js';

export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A temporary directory removed by {@link cleanupTempDirs}. */
const dirs: string[] = [];
export function tempDir(prefix = 'pqe2ee-e2e-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}
export function cleanupTempDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Polls `predicate` until it holds; throws `label` after `timeoutMs` (never more than 30 s). */
export async function waitUntil(predicate: () => boolean | Promise<boolean>, label: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + Math.min(timeoutMs, 30_000);
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${label}`);
    await sleep(20);
  }
}

// ---------------------------------------------------------------------------------------------
// Server process
// ---------------------------------------------------------------------------------------------

export interface ServerHandle {
  /** Fixed for the handle's lifetime: a restart listens on the same port. */
  url: string;
  port: number;
  dbPath: string;
  output(): string;
  running(): boolean;
  /** Sends `signal` and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the server again on the same database and port. */
  start(): Promise<void>;
}

const DEFAULT_SERVER_ARGS = ['--heartbeat-ms', '1000', '--ip-rate-limit', '0'];

async function spawnOnce(port: number, dbPath: string, args: string[]): Promise<{ child: ChildProcess; port: number; output: () => string; exited: Promise<void> }> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'dist/cli.js'), 'server', '--port', String(port), '--db', dbPath, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const actual = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start within 15 s: ${out}`));
    }, 15_000);
    const check = (): void => {
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        child.stdout?.off('data', check);
        resolve(Number(match[1]));
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`server exited before listening: ${out}`));
    });
  });
  return { child, port: actual, output: () => out, exited };
}

/** Starts `node dist/cli.js server --port 0 --db <dir>/server.sqlite --heartbeat-ms 1000`. */
export async function startServerProcess(extraArgs: string[] = [], dbPath = path.join(tempDir('pqe2ee-e2e-server-'), 'server.sqlite')): Promise<ServerHandle> {
  const args = [...DEFAULT_SERVER_ARGS, ...extraArgs];
  let current = await spawnOnce(0, dbPath, args);
  const port = current.port;
  let log = '';
  let alive = true;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dbPath,
    output: () => log + current.output(),
    running: () => alive,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (!alive) return;
      current.child.kill(signal);
      await Promise.race([current.exited, sleep(10_000)]);
      if (current.child.exitCode === null && current.child.signalCode === null) {
        current.child.kill('SIGKILL');
        await current.exited;
      }
      alive = false;
    },
    async start() {
      if (alive) return;
      log += current.output();
      // The port may take a moment to be free again after a kill.
      for (let attempt = 0; ; attempt++) {
        try {
          current = await spawnOnce(port, dbPath, args);
          break;
        } catch (error) {
          if (attempt >= 20) throw error;
          await sleep(100);
        }
      }
      alive = true;
    },
  };
}

/**
 * Registers the usual hooks of an e2e test file: beforeAll starts a server process, afterAll stops
 * every client made by {@link makeClient}, the server, and removes the temporary directories. The
 * returned handle forwards to that server (use it inside tests and hooks, once beforeAll has run).
 */
export function useServerProcess(): ServerHandle {
  let started: ServerHandle | undefined;
  const current = (): ServerHandle => {
    if (!started) throw new Error('the e2e server is not started yet (use it inside tests)');
    return started;
  };
  beforeAll(async () => {
    started = await startServerProcess();
  });
  afterAll(async () => {
    await stopAllClients();
    await started?.stop();
    cleanupTempDirs();
  });
  return {
    get url() {
      return current().url;
    },
    get port() {
      return current().port;
    },
    get dbPath() {
      return current().dbPath;
    },
    output: () => current().output(),
    running: () => current().running(),
    stop: (signal) => current().stop(signal),
    start: () => current().start(),
  };
}

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

export interface TestClient {
  name: string;
  client: E2eeClient;
  userId: string;
  deviceId: string;
  /** Every one2one-message body (and id) in arrival order. */
  one2one: ReceivedMessage[];
  /** Every other-device-message (copies of what this user's other devices sent). */
  otherDevice: Array<{ message: ReceivedMessage; conversationUserId: string }>;
  /** Every group-message, with its group. */
  group: Array<{ groupId: string; message: ReceivedMessage }>;
  /** Every group-left event's group id. */
  groupsLeft: string[];
  /** Every group-created event's group id (this device joined or created). */
  groupsJoined: string[];
  errors: Array<{ context: string; message: string }>;
  /** Bodies of one2one messages received (text). */
  one2oneTexts(): string[];
  groupTexts(groupId?: string): string[];
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface MakeClientOptions {
  deviceId?: string;
  suite?: number;
  /** 'memory' (default) or a SQLite file path. */
  database?: 'memory' | string;
  /** A device of the same user that approves this new device. */
  linkTo?: TestClient;
  /** Do not call start(). */
  noStart?: boolean;
  crashHook?: ClientOptions['crashHook'];
  storage?: ClientOptions['storage'];
}

const all: TestClient[] = [];
let counter = 0;

/** Creates (and starts) a client against `server` with a fresh database; it is stopped by {@link stopAllClients}. */
export async function makeClient(server: ServerHandle | string, name: string, options: MakeClientOptions = {}): Promise<TestClient> {
  const url = typeof server === 'string' ? server : server.url;
  const deviceId = options.deviceId ?? `${name.replace(/[^A-Za-z0-9._-]/g, '-')}-${++counter}`;
  const dbSpec = options.database ?? 'memory';
  // A memory database lives in the handler: restarting a client keeps it, so keep the handler.
  const memory = dbSpec === 'memory' ? createMemoryDatabase() : undefined;
  const openDb = async () => (memory ? memory : await openSqliteDatabase(dbSpec));
  const build = async (): Promise<E2eeClient> =>
    createClient({
      server: url,
      deviceId,
      suite: options.suite ?? 2,
      userName: name,
      database: await openDb(),
      ...(options.storage ? { storage: options.storage } : {}),
      ...(options.crashHook ? { crashHook: options.crashHook } : {}),
      ...(options.linkTo ? { linkDevice: (request) => (options.linkTo as TestClient).client.approveDevice(request) } : {}),
    });
  let started = false;
  const tc: TestClient = {
    name,
    client: await build(),
    userId: '',
    deviceId,
    one2one: [],
    otherDevice: [],
    group: [],
    groupsLeft: [],
    groupsJoined: [],
    errors: [],
    one2oneTexts: () => tc.one2one.map((m) => text(m.body)),
    groupTexts: (groupId?: string) => tc.group.filter((g) => groupId === undefined || g.groupId === groupId).map((g) => text(g.message.body)),
    stop: async () => {
      await tc.client.stop();
    },
    start: async () => {
      // A stopped client closed its database (a memory one is gone); a SQLite one gets a new handler and client.
      if (started) {
        if (memory) throw new Error(`${name}: a client with a memory database cannot start again`);
        tc.client = await build();
        attach(tc);
      }
      started = true;
      await tc.client.start();
      tc.userId = tc.client.address.userId;
    },
  };
  attach(tc);
  all.push(tc);
  if (!options.noStart) await tc.start();
  return tc;
}

function attach(tc: TestClient): void {
  const c = tc.client;
  // Drain sentinels (see drained) are not messages of the test.
  c.on('one2one-message', (e) => void (isSentinel(text(e.message.body)) || tc.one2one.push(e.message)));
  c.on('other-device-message', (e) => void tc.otherDevice.push({ message: e.message, conversationUserId: e.conversationUserId }));
  c.on('group-message', (e) => void tc.group.push({ groupId: e.groupId, message: e.message }));
  c.on('group-left', (e) => void tc.groupsLeft.push(e.groupId));
  c.on('group-created', (e) => void tc.groupsJoined.push(e.groupId));
  c.on('error', (e) => void tc.errors.push({ context: e.context, message: e.error.message }));
}

/** Stops every client made by {@link makeClient} (errors ignored). */
export async function stopAllClients(): Promise<void> {
  for (const tc of all.splice(0)) await tc.client.stop().catch(() => undefined);
}

/**
 * Resolves once each of `clients` has processed everything queued for it so far: a fresh probe
 * client sends each a sentinel and waits until it is delivered (test/support/drain.ts). Checks that
 * nothing more arrives (no duplicate, no late message) come after this, not after a sleep.
 */
export async function drained(server: ServerHandle, ...clients: TestClient[]): Promise<void> {
  // One probe per suite: a client opens sessions only with peers of its own suite.
  const probes = new Map<number, TestClient>();
  for (const tc of clients) {
    const suite = tc.client.suiteId;
    let probe = probes.get(suite);
    if (!probe) probes.set(suite, (probe = await makeClient(server, 'probe', { suite })));
    await drainInbound(tc.client, probe.client);
  }
}

/** Errors collected on these clients, formatted (for `expect(...).toEqual([])`). */
export function errorsOf(...clients: TestClient[]): string[] {
  return clients.flatMap((c) => c.errors.map((e) => `${c.name}: ${e.context}: ${e.message}`));
}

/** Waits until `client` holds group `groupId` at `epoch` or later. */
export async function waitForEpoch(tc: TestClient, groupId: string, epoch: bigint, timeoutMs = 20_000): Promise<void> {
  await waitUntil(
    async () => {
      const info = await tc.client.groupInfo(groupId).catch(() => undefined);
      return info !== undefined && info.epoch >= epoch;
    },
    `${tc.name} reaching epoch ${epoch} of group ${groupId}`,
    timeoutMs,
  );
}

/** Members of a group as "userId/deviceId", sorted. */
export async function memberKeys(tc: TestClient, groupId: string): Promise<string[]> {
  const info = await tc.client.groupInfo(groupId);
  return info.members.map((m) => `${m.userId}/${m.deviceId}`).sort();
}

export const key = (tc: TestClient): string => `${tc.userId}/${tc.deviceId}`;

/** Sorted copy. */
export const sorted = <T>(values: T[]): T[] => [...values].sort();
