// The same traffic as the client runtime sends it: createClient (dist/index.js) against an
// in-process reference server (startServer from dist/node.js, in-memory SQLite, loopback port).
// The byte count is SendResult.wireBytes / sendGroupMessage().wireBytes: the serialized E2eeMsg of
// one device copy, whose plaintext is the runtime's Plaintext + AppMessage wrapper (message id,
// sent-at time, expiry, body) around the 100-byte body, so it is larger than the protocol rows by
// that wrapper. Transport framing (Connect/HTTP) is not counted. Each user has one device, so a
// one-to-one send makes exactly one copy.
import { sizeStats } from './stats.mjs';
import { body } from './conversation.mjs';

async function withServer(N, fn) {
  const server = await N.startServer({ port: 0, host: '127.0.0.1', dbPath: ':memory:', domain: 'wire.local', log: () => undefined });
  const clients = [];
  try {
    return await fn(server, clients);
  } finally {
    for (const c of clients) await c.stop().catch(() => undefined);
    await server.close();
  }
}

/** Sends one message from `from` to `to` and waits until `to` has it; returns wireBytes. */
async function deliver(from, to) {
  const got = to.waitFor('one2one-message');
  const sent = await from.sendMessage(to.address.userId, body());
  await got;
  return sent.wireBytes;
}

export async function clientRuntimeRows(I, N, suite, n) {
  return withServer(N, async (server, clients) => {
    const client = async (deviceId) => {
      const c = I.createClient({ server: server.url, deviceId, suite });
      clients.push(c);
      await c.start();
      return c;
    };
    const [alice, bob, carol] = [await client('alice'), await client('bob'), await client('carol')];
    // The first send goes out as an InviteMsg; its copy waits for the AcceptMsg (wireBytes 0).
    await deliver(alice, bob);
    await deliver(bob, alice);
    const burst = [];
    for (let i = 0; i < n; i++) burst.push(await deliver(alice, bob));
    const pingPong = [];
    for (let i = 0; i < n; i++) pingPong.push(i % 2 ? await deliver(bob, alice) : await deliver(alice, bob));

    const joined = [bob, carol].map((c) => c.waitFor('group-created'));
    const { groupId } = await alice.createGroup('wire', [bob.address.userId, carol.address.userId]);
    await Promise.all(joined);
    const group = [];
    for (let i = 0; i < n; i++) {
      const got = [bob, carol].map((c) => c.waitFor('group-message'));
      group.push((await alice.sendGroupMessage(groupId, body())).wireBytes);
      await Promise.all(got);
    }
    return { burst: sizeStats(burst), pingPong: sizeStats(pingPong), group: sizeStats(group) };
  });
}
