// Resource exhaustion an authenticated user controls on the
// reference server. These tests FAIL while the problems exist.
import { afterEach, describe, expect, it } from 'vitest';
import { createRouterTransport, createClient as createConnectClient, createContextValues } from '@connectrpc/connect';
import { startServer, openSqliteStore, type RunningServer, type ServerStore } from '../../src/server/index.js';
import { E2eeServer, remoteAddressKey } from '../../src/server/service.js';
import { E2eeService } from '../../src/proto/gen/service_pb.js';
import { bearer, connect, registerUser, ResponseCode, type RpcDevice, type ServiceClient, StreamReader } from '../support/index.js';

const running: RunningServer[] = [];
const readers: StreamReader[] = [];
afterEach(async () => {
  for (const r of readers.splice(0)) r.close();
  for (const s of running.splice(0)) await s.close();
});

const noLimits = { rateLimit: { perSecond: 0, burst: 1 }, ipRateLimit: { perSecond: 0, burst: 1 } };

async function registerMany(client: ServiceClient, n: number): Promise<RpcDevice[]> {
  const out: RpcDevice[] = [];
  for (let i = 0; i < n; i++) out.push(await registerUser(client, 2));
  return out;
}

describe('server: queue limit and group-notice amplification', () => {
  it("group notices cannot grow a stranger's queue past twice --queue-limit", async () => {
    const server = await startServer({ port: 0, dbPath: ':memory:', queueLimit: 5, ...noLimits });
    running.push(server);
    const client = connect(server.url);
    const [attacker, victim] = (await registerMany(client, 2)) as [RpcDevice, RpcDevice];
    // The victim never agreed to anything: CreateGroup may list any existing user.
    const codes: ResponseCode[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await client.createGroup({ groupName: `spam-${i}`, members: [{ userId: victim.userId }] }, attacker.auth);
      codes.push(res.code);
    }
    // Group notices may pass the limit (group state must reach members), but a user whose queue
    // holds twice the limit can no longer be added to groups by others.
    expect(codes.filter((c) => c === ResponseCode.CREATED)).toHaveLength(10);
    expect(codes.slice(10).every((c) => c === ResponseCode.SERVICE_UNAVAILABLE)).toBe(true);
    const reader = new StreamReader(client, victim);
    readers.push(reader);
    await reader.until((r) => r.heartbeats >= 1, 5000);
    expect(reader.messages.length).toBeLessThanOrEqual(10);
  }, 20_000);

  it('what one CreateGroup request queues grows linearly with the group size', async () => {
    let queuedBytes = 0;
    const inner = await openSqliteStore(':memory:');
    const store = new Proxy(inner, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'createGroup' && typeof value === 'function') {
          return (group: unknown, messages: Array<{ body: Uint8Array }>) => {
            for (const m of messages) queuedBytes += m.body.length;
            return (value as (...a: unknown[]) => unknown).call(target, group, messages);
          };
        }
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    }) as ServerStore;
    const server = await startServer({ port: 0, store, ...noLimits });
    running.push(server);
    const client = connect(server.url);
    const users = await registerMany(client, 81);
    const creator = users[0] as RpcDevice;

    const measure = async (n: number): Promise<number> => {
      queuedBytes = 0;
      const res = await client.createGroup({ groupName: 'g', members: users.slice(1, 1 + n).map((u) => ({ userId: u.userId })) }, creator.auth);
      expect(res.code).toBe(ResponseCode.CREATED);
      return queuedBytes;
    };
    const small = await measure(20);
    const large = await measure(80);
    // 4x the members: linear storage would be ~4x; the current fan-out is ~16x. With the default
    // --max-group-members 1000 one request (~40 KB) queues on the order of 100 MB, at 50 requests/s.
    expect(large / small).toBeLessThan(8);
  }, 60_000);
});

describe('server: in-memory auth state', () => {
  it('one device cannot mint an unbounded number of live tokens: the oldest are retired', async () => {
    const store = await openSqliteStore(':memory:');
    const e2ee = new E2eeServer(store, {
      domain: 'localhost',
      heartbeatMs: 15_000,
      ttlMs: 86_400_000,
      tokenTtlMs: 86_400_000,
      challengeTtlMs: 60_000,
      opkLowThreshold: 10,
      maxOpksPerDevice: 1000,
      queueLimit: 10_000,
      maxMessageBytes: 1 << 20,
      maxGroupMembers: 1000,
      rateLimit: { perSecond: 0, burst: 1 },
      ipRateLimit: { perSecond: 0, burst: 1 },
    });
    const transport = createRouterTransport((router) => router.service(E2eeService, e2ee.implementation()), {
      router: { contextValues: () => createContextValues().set(remoteAddressKey, '192.0.2.1') },
    } as never);
    const client = createConnectClient(E2eeService, transport) as unknown as ServiceClient;
    const device = await registerUser(client, 2);
    const minted: string[] = [];
    for (let i = 0; i < 300; i++) {
      const ch = await client.getChallenge({});
      const res = await client.authenticate({
        address: device.address,
        challengeId: ch.challengeId,
        signature: device.account.signServerChallenge(ch.domain, ch.challenge, device.userId, device.deviceId),
      });
      expect(res.code).toBe(ResponseCode.OK);
      minted.push(res.token);
    }
    // Signing in again retires the device's oldest tokens (at most 8 live per device).
    expect((await client.updateUser({ userName: 'x' }, bearer(minted[0] as string))).code).toBe(ResponseCode.UNAUTHORIZED);
    expect((await client.updateUser({ userName: 'x' }, bearer(minted[292] as string))).code).toBe(ResponseCode.OK);
    expect((await client.updateUser({ userName: 'y' }, bearer(minted[299] as string))).code).toBe(ResponseCode.OK);
    const tokens = (e2ee.auth as unknown as { tokens: Map<string, unknown> }).tokens;
    // 301 live tokens for one device; an attacker at the per-address rate (10 auths/s) reaches
    // ~864 000 per address per day, and GetChallenge walks the whole map on every call (prune).
    expect(tokens.size).toBeLessThanOrEqual(16);
    await store.close();
  }, 60_000);
});
