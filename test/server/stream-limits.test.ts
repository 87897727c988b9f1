// Subscribe streams under attack (issue 11, attack 6), against an in-process server on 127.0.0.1:
// a client that opens Subscribe and never reads must not pin the server's memory (at most one
// message is read ahead), a new Subscribe of the same device really ends the stalled one (its
// connection is closed), a stream ends when its token expires or is retired, a stream that cannot
// be written for `streamStallMs` is cut, the bytes being written on all streams together are
// bounded (`streamWriteBytes`), and `maxStreams` bounds the open streams.
import { connect as netConnect, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { afterAll, describe, expect, it } from 'vitest';
import { E2eeMsgSchema } from '../../src/proto/gen/wire_pb.js';
import { DeliveryHub } from '../../src/server/delivery.js';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server/index.js';
import { connect, registerUser, ResponseCode, type RpcDevice, type ServiceClient, sleep, StreamReader } from '../support/index.js';

// A forced collection before each reading, so that garbage does not count as growth.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MiB = 1024 * 1024;
/** Ciphertext size of one attack message: just below the default 1 MiB message limit once encoded. */
const BIG = MiB - 4096;

const running: RunningServer[] = [];
afterAll(async () => {
  await Promise.all(running.map((s) => s.close()));
});

async function serve(options: ServerOptions = {}): Promise<{ server: RunningServer; client: ServiceClient }> {
  const server = await startServer({ port: 0, dbPath: ':memory:', heartbeatMs: 200, rateLimit: { perSecond: 0, burst: 1 }, ipRateLimit: { perSecond: 0, burst: 1 }, ...options });
  running.push(server);
  return { server, client: connect(server.url) };
}

/** Queues `count` messages of about 1 MiB from `from` to `to`. */
async function flood(client: ServiceClient, from: RpcDevice, to: RpcDevice, count: number): Promise<void> {
  const ciphertext = new Uint8Array(BIG).fill(0x5a);
  for (let i = 0; i < count; i++) {
    const msg = create(E2eeMsgSchema, {
      version: 1,
      suiteId: from.suite,
      sessionId: 'flood',
      from: from.address,
      to: to.address,
      payload: { case: 'one2oneMsg', value: { messageIndex: i, ciphertext } },
    });
    const response = await client.sendOne2oneMsg({ msg }, from.auth);
    expect(response.code, response.reason).toBe(ResponseCode.OK);
  }
}

/** Live server-side memory after a full collection (heap plus buffers outside it). */
function liveBytes(): { total: number; rss: number } {
  gc();
  gc();
  const usage = process.memoryUsage();
  return { total: usage.heapUsed + usage.external, rss: usage.rss };
}

async function settledBytes(): Promise<{ total: number; rss: number }> {
  await sleep(300);
  return liveBytes();
}

/**
 * Opens Subscribe with a hand-written Connect streaming POST and then never reads: the socket is
 * paused once the response has begun, so the kernel's receive window closes and the server's writes
 * stop draining.
 */
async function stalledSubscribe(url: string, token: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = netConnect(Number(port), hostname);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(
    `POST /pqe2ee.v1.E2eeService/Subscribe HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/connect+proto\r\n` +
      `Connect-Protocol-Version: 1\r\nAuthorization: Bearer ${token}\r\nContent-Length: 5\r\n\r\n`,
  );
  // One empty envelope: flags 0, length 0 (an empty SubscribeRequest).
  socket.write(Buffer.from([0, 0, 0, 0, 0]));
  socket.pause();
  // Wait for the first bytes of the response (without consuming them), so the stream is open.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no response to the stalled Subscribe')), 5000);
    socket.once('readable', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return socket;
}

/**
 * Whether the server closed the connection within `timeoutMs`, without reading from it: a paused
 * socket does not report the server's FIN or RST, but writing to a connection the server has
 * closed fails. The probe writes empty lines, which an HTTP/1.1 server skips between requests.
 */
function closedByServer(socket: Socket, timeoutMs: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (closed: boolean): void => {
      clearInterval(probe);
      clearTimeout(timer);
      socket.off('close', onClose);
      resolve(closed);
    };
    const onClose = (): void => done(true);
    socket.once('close', onClose);
    const probe = setInterval(() => {
      if (!socket.destroyed) socket.write('\r\n', () => undefined);
    }, 50);
    const timer = setTimeout(() => done(false), timeoutMs);
  });
}

describe('a client that never reads its stream', () => {
  it('pins at most about one message of server memory, and superseded stalled streams release theirs', async () => {
    const { server, client } = await serve();
    const victim = await registerUser(client);
    const sender = await registerUser(client);
    await flood(client, sender, victim, 40);
    const before = await settledBytes();
    const sockets: Socket[] = [];
    const growth: number[] = [];
    // Each stalled stream of the same device supersedes the previous one, which must really end.
    for (let i = 0; i < 4; i++) {
      sockets.push(await stalledSubscribe(server.url, victim.token));
      growth.push((await settledBytes()).total - before.total);
    }
    const after = liveBytes();
    const perStream = (after.total - before.total) / sockets.length;
    // Reported in the test output: the growth after each stalled stream and per stream.
    process.stdout.write(
      `stalled streams: growth ${growth.map((g) => (g / MiB).toFixed(1)).join(', ')} MiB; ` +
        `${(perStream / MiB).toFixed(1)} MiB per stream; rss ${((after.rss - before.rss) / MiB).toFixed(1)} MiB\n`,
    );
    // Before the fix each stalled stream held its whole batch (40 MiB here) for ever. Now the live
    // one holds about one message (a few copies of it on its way out), the superseded ones nothing.
    expect(after.total - before.total).toBeLessThan(16 * MiB);
    for (const socket of sockets) socket.destroy();
  });

  it('a new Subscribe of the same device closes the stalled connection and receives every message', async () => {
    const { server, client } = await serve();
    const victim = await registerUser(client);
    const sender = await registerUser(client);
    await flood(client, sender, victim, 12);
    const stalled = await stalledSubscribe(server.url, victim.token);
    await sleep(200);
    const reader = new StreamReader(client, victim);
    expect(await closedByServer(stalled, 5000)).toBe(true);
    await reader.count(12, 10_000);
    expect(reader.messages.map((m) => Number(m.id))).toEqual([...reader.messages.map((m) => Number(m.id))].sort((a, b) => a - b));
    expect(new Set(reader.messages.map((m) => m.id)).size).toBe(12);
    reader.close();
    stalled.destroy();
  });

  it('a stream that cannot be written for streamStallMs is cut', async () => {
    const { server, client } = await serve({ streamStallMs: 1000 });
    const victim = await registerUser(client);
    const sender = await registerUser(client);
    await flood(client, sender, victim, 16);
    const stalled = await stalledSubscribe(server.url, victim.token);
    expect(await closedByServer(stalled, 6000)).toBe(true);
    stalled.destroy();
    // The messages are still queued: a reading client gets them all.
    const reader = new StreamReader(client, victim);
    await reader.count(16, 10_000);
    reader.close();
  });
});

describe('the bytes being written on all streams', () => {
  it('are bounded: past streamWriteBytes the stream writing longest is cut, and nothing is lost', async () => {
    const { server, client } = await serve({ streamWriteBytes: 2.5 * MiB });
    const sender = await registerUser(client);
    const victims: RpcDevice[] = [];
    for (let i = 0; i < 5; i++) {
      const victim = await registerUser(client);
      await flood(client, sender, victim, 8);
      victims.push(victim);
    }
    const before = await settledBytes();
    const sockets: Socket[] = [];
    for (const victim of victims) {
      sockets.push(await stalledSubscribe(server.url, victim.token));
      // Let it fill the kernel's buffers and block on a write before the next one opens.
      await sleep(200);
    }
    const after = await settledBytes();
    process.stdout.write(`5 stalled streams (write budget 2.5 MiB): growth ${((after.total - before.total) / MiB).toFixed(1)} MiB\n`);
    // Each stalled stream blocks on one message of about 1 MiB: two fit, so the three oldest were cut.
    for (const socket of sockets.slice(0, 3)) expect(await closedByServer(socket, 3000)).toBe(true);
    expect(after.total - before.total).toBeLessThan(12 * MiB);
    for (const socket of sockets) socket.destroy();
    // The cut streams lost nothing: a reading client gets every message.
    const reader = new StreamReader(client, victims[0]!);
    await reader.count(8, 10_000);
    expect(reader.messages.map((m) => Number(m.id))).toEqual([...reader.messages.map((m) => Number(m.id))].sort((a, b) => a - b));
    reader.close();
  });
});

describe('DeliveryHub stall check', () => {
  it('cuts a write whose connection sends nothing, not one whose peer reads slowly', async () => {
    const hub = new DeliveryHub({ maxStreams: 10, stallMs: 100, maxWriteBytes: 10 * MiB });
    let slowSent = 0;
    let slowClosed = false;
    let stuckClosed = false;
    const slow = hub.subscribe('u', 'slow', { close: () => (slowClosed = true), sentBytes: () => slowSent })!;
    const stuck = hub.subscribe('u', 'stuck', { close: () => (stuckClosed = true), sentBytes: () => 0 })!;
    slow.subscription.beginWrite(MiB);
    stuck.subscription.beginWrite(MiB);
    expect(hub.writingBytes).toBe(2 * MiB);
    for (let i = 0; i < 8; i++) {
      await sleep(40);
      slowSent += 1000;
    }
    expect(stuckClosed).toBe(true);
    expect(stuck.subscription.ended).toBe(true);
    expect(slowClosed).toBe(false);
    expect(slow.subscription.ended).toBe(false);
    expect(hub.size).toBe(1);
    expect(hub.writingBytes).toBe(MiB);
    slow.subscription.endWrite();
    expect(hub.writingBytes).toBe(0);
    slow.unsubscribe();
    expect(hub.size).toBe(0);
  });
});

describe('tokens of long streams', () => {
  it('a stream ends (unauthenticated) when its token expires', async () => {
    const { client } = await serve({ tokenTtlMs: 1500 });
    const device = await registerUser(client);
    const reader = new StreamReader(client, device);
    await reader.until((r) => r.heartbeats >= 1);
    await reader.until((r) => r.ended, 6000);
    expect(reader.error).toBeInstanceOf(ConnectError);
    expect((reader.error as ConnectError).code).toBe(Code.Unauthenticated);
  });

  it('a stream ends when its token is retired by newer sign-ins', async () => {
    const { client } = await serve();
    const device = await registerUser(client);
    const reader = new StreamReader(client, device);
    await reader.until((r) => r.heartbeats >= 1);
    // Eight newer tokens retire the one the stream was opened with.
    for (let i = 0; i < 8; i++) {
      const challenge = await client.getChallenge({});
      const response = await client.authenticate({
        address: device.address,
        challengeId: challenge.challengeId,
        signature: device.account.signServerChallenge(challenge.domain, challenge.challenge, device.userId, device.deviceId),
      });
      expect(response.code).toBe(ResponseCode.OK);
    }
    await reader.until((r) => r.ended, 3000);
    expect((reader.error as ConnectError).code).toBe(Code.Unauthenticated);
  });
});

describe('maxStreams', () => {
  it('bounds the open streams; a device replacing its own stream is not refused', async () => {
    const { client } = await serve({ maxStreams: 2 });
    const [a, b, c] = [await registerUser(client), await registerUser(client), await registerUser(client)];
    const streamA = new StreamReader(client, a);
    const streamB = new StreamReader(client, b);
    await streamA.until((r) => r.heartbeats >= 1);
    await streamB.until((r) => r.heartbeats >= 1);
    const streamC = new StreamReader(client, c);
    await streamC.until((r) => r.ended);
    expect(streamC.error).toBeInstanceOf(ConnectError);
    expect((streamC.error as ConnectError).code).toBe(Code.ResourceExhausted);
    // At the limit, a device may still replace its own stream (the old one ends).
    const streamA2 = new StreamReader(client, a);
    await streamA2.until((r) => r.heartbeats >= 1);
    await streamA.until((r) => r.ended);
    // Once a stream closes, its slot is free again.
    streamB.close();
    await streamB.until((r) => r.ended);
    await sleep(200);
    const streamC2 = new StreamReader(client, c);
    await streamC2.until((r) => r.heartbeats >= 1);
    streamA2.close();
    streamC2.close();
  });
});
