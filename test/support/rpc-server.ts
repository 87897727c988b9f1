// Server fixtures (test/server and the client tests that speak raw RPC): start the real `pqe2ee server`
// process, talk to it with a Connect client, register real Accounts.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { create } from '@bufbuild/protobuf';
import { createClient, type Client } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { E2eeService, ResponseCode, type ProtoMsg } from '../../src/proto/gen/service_pb.js';
import { E2eeAddressSchema, E2eeMsgSchema, type E2eeAddress, type E2eeMsg } from '../../src/proto/gen/wire_pb.js';
import { Account } from '../../src/protocol/account.js';
import { repoRoot } from './paths.js';

export type ServiceClient = Client<typeof E2eeService>;
export { ResponseCode };

export interface ServerProcess {
  url: string;
  port: number;
  dbPath: string;
  process: ChildProcess;
  output: () => string;
  /** Sends `signal` and waits for the exit; resolves with the exit code (null if killed). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** A fresh temporary directory (removed by `cleanupDirs`). */
const dirs: string[] = [];
export function tempDb(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'pqe2ee-server-test-'));
  dirs.push(dir);
  return path.join(dir, 'server.sqlite');
}
export function cleanupDirs(): void {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Starts `node dist/cli.js server --port 0` and waits for its start line. */
export async function spawnServer(args: string[] = [], dbPath = tempDb()): Promise<ServerProcess> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'dist/cli.js'), 'server', '--port', '0', '--db', dbPath, '--ip-rate-limit', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${output}`)), 15_000);
    const check = (): void => {
      const match = /listening on (http:\/\/[^\s]+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout.off('data', check);
        resolve(match[1] as string);
      }
    };
    child.stdout.on('data', check);
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`server exited: ${output}`));
    });
  });
  return {
    url,
    port: Number(new URL(url).port),
    dbPath,
    process: child,
    output: () => output,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export function connect(url: string): ServiceClient {
  return createClient(E2eeService, createConnectTransport({ baseUrl: url, httpVersion: '1.1' }));
}

export const bearer = (token: string): { headers: Record<string, string> } => ({ headers: { authorization: `Bearer ${token}` } });

export interface RpcDevice {
  account: Account;
  suite: number;
  userId: string;
  deviceId: string;
  token: string;
  address: E2eeAddress;
  auth: { headers: Record<string, string> };
}

export const randomId = (prefix: string): string => `${prefix}-${randomBytes(6).toString('hex')}`;

export function deviceAddress(domain: string, userId: string, deviceId: string): E2eeAddress {
  return create(E2eeAddressSchema, { domain, peer: { case: 'user', value: { userId, deviceId } } });
}

/** Registers a new user with a fresh Account; throws unless the server answers CREATED. */
export async function registerUser(client: ServiceClient, suite = 2, userName = 'user'): Promise<RpcDevice> {
  const account = Account.create({ suite, now: Date.now() });
  const deviceId = randomId('device');
  const challenge = await client.getChallenge({});
  const response = await client.registerUser({
    suiteId: suite,
    userId: '',
    deviceId,
    userName,
    identityKey: account.identityPublicKey,
    signedPreKey: account.signedPreKeyPublic(),
    oneTimePreKeys: account.oneTimePreKeyPublics(),
    challengeId: challenge.challengeId,
    challengeSignature: account.signServerChallenge(challenge.domain, challenge.challenge, '', deviceId),
  });
  if (response.code !== ResponseCode.CREATED || !response.address || response.address.peer.case !== 'user') {
    throw new Error(`registration failed: ${response.code} ${response.reason}`);
  }
  const userId = response.address.peer.value.userId;
  account.setAddress(challenge.domain, userId, deviceId);
  return { account, suite, userId, deviceId, token: response.token, address: response.address, auth: bearer(response.token) };
}

/** Registers another device of `owner`'s user, vouched for by `owner`. */
export async function registerDevice(client: ServiceClient, owner: RpcDevice, suite = owner.suite): Promise<RpcDevice> {
  const account = Account.create({ suite, now: Date.now() });
  const deviceId = randomId('device');
  const challenge = await client.getChallenge({});
  const response = await client.registerUser({
    suiteId: suite,
    userId: owner.userId,
    deviceId,
    userName: 'user',
    identityKey: account.identityPublicKey,
    signedPreKey: account.signedPreKeyPublic(),
    oneTimePreKeys: account.oneTimePreKeyPublics(),
    challengeId: challenge.challengeId,
    challengeSignature: account.signServerChallenge(challenge.domain, challenge.challenge, owner.userId, deviceId),
    deviceLink: { linkingDeviceId: owner.deviceId, signature: owner.account.signDeviceLink(challenge.domain, owner.userId, deviceId, account.identityPublicKey) },
  });
  if (response.code !== ResponseCode.CREATED || !response.address) throw new Error(`device registration failed: ${response.code} ${response.reason}`);
  return { account, suite, userId: owner.userId, deviceId, token: response.token, address: response.address, auth: bearer(response.token) };
}

/** An opaque one-to-one E2eeMsg (the server never reads the ciphertext). */
export function one2one(from: RpcDevice, to: E2eeAddress, text: string): E2eeMsg {
  return create(E2eeMsgSchema, {
    version: 1,
    suiteId: from.suite,
    sessionId: 'session',
    from: from.address,
    to,
    payload: { case: 'one2oneMsg', value: { messageIndex: 0, ciphertext: new TextEncoder().encode(text) } },
  });
}

export function groupMsg(from: RpcDevice, group: E2eeAddress, text: string): E2eeMsg {
  return create(E2eeMsgSchema, {
    version: 1,
    suiteId: from.suite,
    sessionId: 'group-session',
    from: from.address,
    to: group,
    payload: { case: 'groupMsg', value: { epoch: 0n, ciphertext: new TextEncoder().encode(text) } },
  });
}

export const textOf = (msg: ProtoMsg): string =>
  msg.payload.case === 'e2eeMsg' && msg.payload.value.payload.case !== undefined ? new TextDecoder().decode(msg.payload.value.payload.value.ciphertext) : '';

/** Reads a Subscribe stream in the background; heartbeats are kept apart. */
export class StreamReader {
  readonly messages: ProtoMsg[] = [];
  heartbeats = 0;
  ended = false;
  error: unknown;
  private readonly controller = new AbortController();
  private wake: (() => void) | undefined;

  constructor(client: ServiceClient, device: RpcDevice) {
    void (async () => {
      try {
        for await (const msg of client.subscribe({}, { ...device.auth, signal: this.controller.signal })) {
          if (msg.payload.case === 'serverHeartbeatMsg') this.heartbeats++;
          else this.messages.push(msg);
          this.wake?.();
        }
      } catch (error) {
        this.error = error;
      } finally {
        this.ended = true;
        this.wake?.();
      }
    })();
  }

  /** Waits until `predicate` holds (checked after every message); throws after `timeoutMs`. */
  async until(predicate: (reader: StreamReader) => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      if (Date.now() > deadline)
        throw new Error(`stream condition not met in ${timeoutMs} ms (${this.messages.length} messages, ${this.heartbeats} heartbeats, ended ${this.ended})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Waits for `n` non-heartbeat messages. */
  count(n: number, timeoutMs?: number): Promise<void> {
    return this.until((r) => r.messages.length >= n, timeoutMs);
  }

  close(): void {
    this.controller.abort();
  }
}
