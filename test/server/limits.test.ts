// Bad input and limits against a real `pqe2ee server` process: malformed protobuf and oversized
// requests (Connect errors, the server keeps serving), message size, queue limit (all or nothing
// for group fan-out), rate limits per device and per address.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectError } from '@connectrpc/connect';
import {
  cleanupDirs,
  connect,
  groupMsg,
  one2one,
  registerUser,
  ResponseCode,
  type ServerProcess,
  type ServiceClient,
  sleep,
  spawnServer,
  StreamReader,
  textOf,
} from '../support/index.js';

let server: ServerProcess;
let client: ServiceClient;

beforeAll(async () => {
  server = await spawnServer(['--rate-limit', '0', '--queue-limit', '5', '--max-message-bytes', '2000', '--max-request-bytes', '65536']);
  client = connect(server.url);
});

afterAll(async () => {
  await server?.stop();
  cleanupDirs();
});

describe('malformed and oversized requests', () => {
  it('a malformed protobuf body is a Connect error and the server keeps serving', async () => {
    for (const method of ['RegisterUser', 'Authenticate', 'SendOne2oneMsg']) {
      const response = await fetch(`${server.url}/pqe2ee.v1.E2eeService/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/proto' },
        body: new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]),
      });
      expect(response.status).toBeGreaterThanOrEqual(400);
      const body = (await response.json()) as { code?: string };
      expect(body.code).toBeTruthy();
    }
    const json = await fetch(`${server.url}/pqe2ee.v1.E2eeService/GetChallenge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"nope":' });
    expect(json.status).toBeGreaterThanOrEqual(400);
    expect((await client.getChallenge({})).code).toBe(ResponseCode.OK);
  });

  it('a request above the read limit is a Connect error; a message above the message limit is BAD_REQUEST', async () => {
    const alice = await registerUser(client);
    const bob = await registerUser(client);
    const huge = one2one(alice, bob.address, 'x'.repeat(100_000));
    await expect(client.sendOne2oneMsg({ msg: huge }, alice.auth)).rejects.toBeInstanceOf(ConnectError);
    const big = one2one(alice, bob.address, 'x'.repeat(3000));
    const response = await client.sendOne2oneMsg({ msg: big }, alice.auth);
    expect(response.code).toBe(ResponseCode.BAD_REQUEST);
    expect(response.reason).toMatch(/limit/);
    // Nothing was queued for bob.
    const stream = new StreamReader(client, bob);
    await stream.until((r) => r.heartbeats >= 1);
    expect(stream.messages).toHaveLength(0);
    stream.close();
    expect((await client.getChallenge({})).code).toBe(ResponseCode.OK);
  });
});

describe('queue limit', () => {
  it('a full recipient queue refuses with SERVICE_UNAVAILABLE; a group fan-out skips only the full recipient', async () => {
    const alice = await registerUser(client);
    const bob = await registerUser(client);
    const carol = await registerUser(client);
    const group = await client.createGroup({ groupName: 'g', members: [{ userId: bob.userId }, { userId: carol.userId }] }, alice.auth);
    // bob's queue now holds the CreateGroupMsg; fill it to 5.
    for (let i = 0; i < 4; i++) expect((await client.sendOne2oneMsg({ msg: one2one(alice, bob.address, `q${i}`) }, alice.auth)).code).toBe(ResponseCode.OK);
    const refused = await client.sendOne2oneMsg({ msg: one2one(alice, bob.address, 'too many') }, alice.auth);
    expect(refused.code).toBe(ResponseCode.SERVICE_UNAVAILABLE);
    expect(refused.reason).toBe('recipient queue full');
    // One long-offline member must not stop the group: carol gets it, bob (full) is skipped.
    const fanOut = await client.sendGroupMsg({ msg: groupMsg(alice, group.groupAddress!, 'to all') }, alice.auth);
    expect(fanOut.code).toBe(ResponseCode.OK);
    expect(fanOut.recipients).toBe(1);
    expect(fanOut.reason).toMatch(/1 member device\(s\) with a full queue skipped/);
    const carolStream = new StreamReader(client, carol);
    await carolStream.until((r) => r.messages.some((m) => textOf(m) === 'to all'));
    expect(carolStream.messages.map((m) => m.payload.case)).toEqual(['createGroupMsg', 'e2eeMsg']);
    // Once bob consumes, there is room again and he gets the next one.
    const bobStream = new StreamReader(client, bob);
    await bobStream.count(5);
    expect(bobStream.messages.some((m) => textOf(m) === 'to all')).toBe(false);
    for (const m of bobStream.messages) await client.consumeProtoMsg({ protoMsgId: m.id }, bob.auth);
    const again = await client.sendGroupMsg({ msg: groupMsg(alice, group.groupAddress!, 'to all, again') }, alice.auth);
    expect(again.recipients).toBe(2);
    await bobStream.until((r) => r.messages.some((m) => textOf(m) === 'to all, again'));
    carolStream.close();
    bobStream.close();
  });
});

describe('rate limits', () => {
  let limited: ServerProcess;
  afterAll(async () => {
    await limited?.stop();
  });

  it('per device and per address: SERVICE_UNAVAILABLE beyond the burst, then recovers', async () => {
    limited = await spawnServer(['--rate-limit', '5', '--rate-burst', '10', '--ip-rate-limit', '5', '--ip-rate-burst', '8']);
    const c = connect(limited.url);
    const alice = await registerUser(c); // 2 unauthenticated calls
    const codes = [];
    for (let i = 0; i < 20; i++) codes.push((await c.updateUser({ userName: 'a' }, alice.auth)).code);
    expect(codes.filter((x) => x === ResponseCode.OK).length).toBeGreaterThanOrEqual(10);
    expect(codes.filter((x) => x === ResponseCode.OK).length).toBeLessThan(15);
    expect(codes.at(-1)).toBe(ResponseCode.SERVICE_UNAVAILABLE);
    const ipCodes = [];
    for (let i = 0; i < 12; i++) ipCodes.push((await c.getChallenge({})).code);
    expect(ipCodes).toContain(ResponseCode.SERVICE_UNAVAILABLE);
    expect(ipCodes.slice(0, 4).every((x) => x === ResponseCode.OK)).toBe(true);
    await sleep(1100);
    expect((await c.updateUser({ userName: 'a' }, alice.auth)).code).toBe(ResponseCode.OK);
    expect((await c.getChallenge({})).code).toBe(ResponseCode.OK);
  });
});
