// Delivery against a real `pqe2ee server` process: one-to-one routing checks, the Subscribe
// stream's replay (in order, nothing lost or duplicated, also while messages arrive), consume,
// stream replacement, heartbeats, and restarts (SIGTERM and SIGKILL) losing nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanupDirs,
  connect,
  deviceAddress,
  one2one,
  registerUser,
  ResponseCode,
  type RpcDevice,
  type ServerProcess,
  type ServiceClient,
  sleep,
  spawnServer,
  StreamReader,
  tempDb,
  textOf,
} from '../support/index.js';

let server: ServerProcess;
let client: ServiceClient;
const servers: ServerProcess[] = [];

beforeAll(async () => {
  server = await spawnServer(['--heartbeat-ms', '300', '--rate-limit', '0']);
  servers.push(server);
  client = connect(server.url);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop('SIGKILL')));
  cleanupDirs();
});

async function send(c: ServiceClient, from: RpcDevice, to: RpcDevice, text: string): Promise<void> {
  const response = await c.sendOne2oneMsg({ msg: one2one(from, to.address, text) }, from.auth);
  expect(response.code, response.reason).toBe(ResponseCode.OK);
}

async function reauth(c: ServiceClient, device: RpcDevice): Promise<RpcDevice> {
  const challenge = await c.getChallenge({});
  const response = await c.authenticate({
    address: device.address,
    challengeId: challenge.challengeId,
    signature: device.account.signServerChallenge(challenge.domain, challenge.challenge, device.userId, device.deviceId),
  });
  expect(response.code).toBe(ResponseCode.OK);
  return { ...device, token: response.token, auth: { headers: { authorization: `Bearer ${response.token}` } } };
}

describe('one-to-one routing', () => {
  it('checks sender, recipient and payload', async () => {
    const alice = await registerUser(client);
    const bob = await registerUser(client);
    const carol = await registerUser(client);
    // from must be the authenticated device
    expect((await client.sendOne2oneMsg({ msg: one2one(carol, bob.address, 'x') }, alice.auth)).code).toBe(ResponseCode.FORBIDDEN);
    expect((await client.invite({ msg: { version: 1, suiteId: 2, from: carol.address, to: bob.address } }, alice.auth)).code).toBe(ResponseCode.FORBIDDEN);
    expect((await client.accept({ msg: { version: 1, suiteId: 2, from: carol.address, to: bob.address } }, alice.auth)).code).toBe(ResponseCode.FORBIDDEN);
    // unknown recipient device / user / domain
    for (const to of [deviceAddress('localhost', bob.userId, 'nope'), deviceAddress('localhost', 'nobody', 'nope'), deviceAddress('example.org', bob.userId, bob.deviceId)]) {
      expect((await client.sendOne2oneMsg({ msg: one2one(alice, to, 'x') }, alice.auth)).code).toBe(ResponseCode.NOT_FOUND);
      expect((await client.invite({ msg: { version: 1, suiteId: 2, from: alice.address, to } }, alice.auth)).code).toBe(ResponseCode.NOT_FOUND);
      expect((await client.accept({ msg: { version: 1, suiteId: 2, from: alice.address, to } }, alice.auth)).code).toBe(ResponseCode.NOT_FOUND);
    }
    // missing message, wrong payload kind, unknown suite
    expect((await client.sendOne2oneMsg({}, alice.auth)).code).toBe(ResponseCode.BAD_REQUEST);
    expect((await client.invite({}, alice.auth)).code).toBe(ResponseCode.BAD_REQUEST);
    expect((await client.accept({}, alice.auth)).code).toBe(ResponseCode.BAD_REQUEST);
    const noPayload = one2one(alice, bob.address, 'x');
    noPayload.payload = { case: undefined };
    expect((await client.sendOne2oneMsg({ msg: noPayload }, alice.auth)).code).toBe(ResponseCode.BAD_REQUEST);
    const badSuite = one2one(alice, bob.address, 'x');
    badSuite.suiteId = 77;
    expect((await client.sendOne2oneMsg({ msg: badSuite }, alice.auth)).code).toBe(ResponseCode.BAD_REQUEST);
    // Nothing was queued for bob by any of that; invite and accept arrive.
    expect((await client.invite({ msg: { version: 1, suiteId: 2, sessionId: 's', from: alice.address, to: bob.address } }, alice.auth)).code).toBe(ResponseCode.OK);
    expect((await client.accept({ msg: { version: 1, suiteId: 2, sessionId: 's', from: bob.address, to: alice.address } }, bob.auth)).code).toBe(ResponseCode.OK);
    const bobStream = new StreamReader(client, bob);
    const aliceStream = new StreamReader(client, alice);
    await bobStream.until((r) => r.heartbeats >= 1);
    await aliceStream.until((r) => r.heartbeats >= 1);
    expect(bobStream.messages.map((m) => m.payload.case)).toEqual(['inviteMsg']);
    expect(aliceStream.messages.map((m) => m.payload.case)).toEqual(['acceptMsg']);
    const invite = bobStream.messages[0]!;
    expect(invite.from?.peer.value).toMatchObject({ userId: alice.userId, deviceId: alice.deviceId });
    expect(invite.to?.peer.value).toMatchObject({ userId: bob.userId, deviceId: bob.deviceId });
    expect(Number(invite.timestamp)).toBeGreaterThan(Date.now() - 60_000);
    bobStream.close();
    aliceStream.close();
  });
});

describe('Subscribe', () => {
  it('replays everything unconsumed in order after a reconnect, then streams live; consumed messages stay gone', async () => {
    const alice = await registerUser(client);
    const bob = await registerUser(client);
    for (let i = 0; i < 30; i++) await send(client, alice, bob, `m${i}`);
    let stream = new StreamReader(client, bob);
    await stream.count(30);
    expect(stream.messages.map(textOf)).toEqual(Array.from({ length: 30 }, (_, i) => `m${i}`));
    const ids = stream.messages.map((m) => BigInt(m.id));
    expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
    // Consume the first ten, disconnect, send more, reconnect.
    for (const msg of stream.messages.slice(0, 10)) expect((await client.consumeProtoMsg({ protoMsgId: msg.id }, bob.auth)).code).toBe(ResponseCode.OK);
    stream.close();
    await sleep(50);
    for (let i = 30; i < 40; i++) await send(client, alice, bob, `m${i}`);
    stream = new StreamReader(client, bob);
    await stream.until((r) => r.heartbeats >= 1 && r.messages.length >= 30);
    expect(stream.messages.map(textOf)).toEqual(Array.from({ length: 30 }, (_, i) => `m${i + 10}`));
    // Live messages after the replay.
    await send(client, alice, bob, 'live');
    await stream.count(31);
    expect(textOf(stream.messages[30]!)).toBe('live');
    stream.close();
  });

  it('messages queued during the replay are delivered exactly once, in order', async () => {
    const alice = await registerUser(client);
    const bob = await registerUser(client);
    for (let i = 0; i < 250; i++) await send(client, alice, bob, `a${i}`);
    const stream = new StreamReader(client, bob);
    const sending = (async () => {
      for (let i = 250; i < 300; i++) await send(client, alice, bob, `a${i}`);
    })();
    await sending;
    await stream.count(300, 10_000);
    // A sentinel queued after them: once it arrives, any repeat of an earlier message would have too.
    await send(client, alice, bob, 'sentinel');
    await stream.until((r) => r.messages.some((m) => textOf(m) === 'sentinel'), 10_000);
    expect(stream.messages.map(textOf)).toEqual([...Array.from({ length: 300 }, (_, i) => `a${i}`), 'sentinel']);
    expect(new Set(stream.messages.map((m) => m.id)).size).toBe(301);
    stream.close();
  });

  it("consume is idempotent and cannot touch another device's queue", async () => {
    const alice = await registerUser(client);
    const bob = await registerUser(client);
    await send(client, alice, bob, 'one');
    const stream = new StreamReader(client, bob);
    await stream.count(1);
    const id = stream.messages[0]!.id;
    // Alice cannot consume bob's message.
    expect((await client.consumeProtoMsg({ protoMsgId: id }, alice.auth)).code).toBe(ResponseCode.NO_CONTENT);
    expect((await client.consumeProtoMsg({ protoMsgId: id }, bob.auth)).code).toBe(ResponseCode.OK);
    expect((await client.consumeProtoMsg({ protoMsgId: id }, bob.auth)).code).toBe(ResponseCode.NO_CONTENT);
    expect((await client.consumeProtoMsg({ protoMsgId: '999999999' }, bob.auth)).code).toBe(ResponseCode.NO_CONTENT);
    expect((await client.consumeProtoMsg({ protoMsgId: '' }, bob.auth)).code).toBe(ResponseCode.NO_CONTENT);
    expect((await client.consumeProtoMsg({ protoMsgId: 'abc' }, bob.auth)).code).toBe(ResponseCode.BAD_REQUEST);
    stream.close();
    // Alice's attempt did not remove it before bob did: a message alice cannot consume stays for bob.
    await send(client, alice, bob, 'two');
    const again = new StreamReader(client, bob);
    await again.until((r) => r.heartbeats >= 1);
    expect(again.messages.map(textOf)).toEqual(['two']);
    const twoId = again.messages[0]!.id;
    expect((await client.consumeProtoMsg({ protoMsgId: twoId }, alice.auth)).code).toBe(ResponseCode.NO_CONTENT);
    again.close();
    const third = new StreamReader(client, bob);
    await third.until((r) => r.heartbeats >= 1);
    expect(third.messages.map(textOf)).toEqual(['two']);
    third.close();
  });

  it('a new Subscribe of the same device ends the older stream; heartbeats arrive at the interval', async () => {
    const alice = await registerUser(client);
    const bob = await registerUser(client);
    const first = new StreamReader(client, bob);
    await first.until((r) => r.heartbeats >= 3, 3000); // 1 after the replay + 2 at 300 ms
    const second = new StreamReader(client, bob);
    await first.until((r) => r.ended, 3000);
    expect(first.error).toBeUndefined();
    await send(client, alice, bob, 'after');
    await second.count(1);
    expect(first.messages).toHaveLength(0);
    expect(textOf(second.messages[0]!)).toBe('after');
    second.close();
  });
});

describe('restarts', () => {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`${signal}: queued messages survive; tokens do not`, async () => {
      const db = tempDb();
      let own = await spawnServer([], db);
      servers.push(own);
      let c = connect(own.url);
      const alice = await registerUser(c);
      const bob = await registerUser(c);
      for (let i = 0; i < 20; i++) await send(c, alice, bob, `r${i}`);
      const code = await own.stop(signal);
      if (signal === 'SIGTERM') {
        expect(code).toBe(0);
        expect(own.output()).toMatch(/pqe2ee server stopped/);
      }
      own = await spawnServer([], db);
      servers.push(own);
      c = connect(own.url);
      // The old token is gone after a restart: UNAUTHORIZED, then re-authenticate.
      expect((await c.updateUser({ userName: 'b' }, bob.auth)).code).toBe(ResponseCode.UNAUTHORIZED);
      const bob2 = await reauth(c, bob);
      const stream = new StreamReader(c, bob2);
      await stream.until((r) => r.heartbeats >= 1 && r.messages.length >= 20);
      expect(stream.messages.map(textOf)).toEqual(Array.from({ length: 20 }, (_, i) => `r${i}`));
      stream.close();
      await own.stop('SIGTERM');
    });
  }

  it('a graceful stop ends open streams and exits 0', async () => {
    const own = await spawnServer();
    servers.push(own);
    const c = connect(own.url);
    const bob = await registerUser(c);
    const stream = new StreamReader(c, bob);
    await stream.until((r) => r.heartbeats >= 1);
    const started = Date.now();
    expect(await own.stop('SIGINT')).toBe(0);
    expect(Date.now() - started).toBeLessThan(3000);
    await stream.until((r) => r.ended, 3000);
  });
});
