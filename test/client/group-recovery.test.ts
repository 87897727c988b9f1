// A membership change the server ordered but whose bundle never went out (the author crashed, or
// lost the response, between the RPC and the distribution) must not wedge the group: the next
// change names the epoch the server announced and builds on top of it.
import { describe, expect, it } from 'vitest';
import { createClient, createServerTransport, type ProtocolHandler } from '../support/library.js';
import { useInProcessServer } from '../support/index.js';

const server = useInProcessServer();
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A handler whose first AddGroupMembers reaches the server but whose answer is lost. */
function losingFirstAddAnswer(url: string): ProtocolHandler {
  const inner = createServerTransport(url);
  let lost = false;
  const service = new Proxy(inner.service, {
    get(target, prop, receiver) {
      if (prop !== 'addGroupMembers') return Reflect.get(target, prop, receiver);
      return async (...args: Parameters<typeof target.addGroupMembers>) => {
        const response = await target.addGroupMembers(...args);
        if (!lost) {
          lost = true;
          throw new Error('connection lost before the answer arrived');
        }
        return response;
      };
    },
  });
  return { service, setToken: (token) => inner.setToken(token) };
}

describe('group recovery', () => {
  it('an epoch whose bundle was never sent is skipped by the next change; everyone converges', async () => {
    const alice = await server.started(createClient({ server: losingFirstAddAnswer(server.url), deviceId: 'alice', suite: 2 }));
    const bob = await server.started(createClient({ server: server.url, deviceId: 'bob', suite: 2 }));
    const carol = await server.started(createClient({ server: server.url, deviceId: 'carol', suite: 2 }));
    const dave = await server.started(createClient({ server: server.url, deviceId: 'dave', suite: 2 }));
    const bobJoins = bob.waitFor('group-created');
    const { groupId } = await alice.createGroup('g', [bob.address.userId]);
    await bobJoins;

    // The server orders epoch 1 (carol added), but alice never learns it and sends no bundle.
    await expect(alice.addGroupMembers(groupId, [carol.address.userId])).rejects.toThrow(/connection lost/);
    expect((await alice.groupInfo(groupId)).epoch).toBe(0n);

    // The next change names epoch 1 (announced to alice by the server) and makes epoch 2 with
    // every member the server lists, carol included.
    const carolJoins = carol.waitFor('group-created', () => true, 15_000);
    const daveJoins = dave.waitFor('group-created', () => true, 15_000);
    const next = await alice.addGroupMembers(groupId, [dave.address.userId]);
    expect(next.epoch).toBe(2n);
    await Promise.all([carolJoins, daveJoins]);
    for (const member of [bob, carol, dave]) {
      const deadline = Date.now() + 15_000;
      while ((await member.groupInfo(groupId)).epoch < 2n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect((await member.groupInfo(groupId)).epoch).toBe(2n);
    }
    const arrivals = [bob, carol, dave].map((m) => m.waitFor('group-message', () => true, 15_000));
    await alice.sendGroupMessage(groupId, 'after the lost epoch');
    for (const arrival of arrivals) expect(text((await arrival).message.body)).toBe('after the lost epoch');
    expect((await alice.groupInfo(groupId)).members.map((m) => m.deviceId).sort()).toEqual(['alice', 'bob', 'carol', 'dave']);
  }, 60_000);
});

describe('concurrent membership changes through the runtime', () => {
  it('two managers add members at the same time: the loser retries on top of the winner, all converge', async () => {
    const alice = await server.started(createClient({ server: server.url, deviceId: 'alice', suite: 2 }));
    const bob = await server.started(createClient({ server: server.url, deviceId: 'bob', suite: 2 }));
    const carol = await server.started(createClient({ server: server.url, deviceId: 'carol', suite: 2 }));
    const dave = await server.started(createClient({ server: server.url, deviceId: 'dave', suite: 2 }));
    const bobJoins = bob.waitFor('group-created');
    const { groupId } = await alice.createGroup('g', [bob.address.userId], { managers: [bob.address.userId] });
    await bobJoins;

    const joins = [carol, dave].map((m) => m.waitFor('group-created', () => true, 15_000));
    const [byAlice, byBob] = await Promise.all([alice.addGroupMembers(groupId, [carol.address.userId]), bob.addGroupMembers(groupId, [dave.address.userId])]);
    expect([byAlice.epoch, byBob.epoch].sort()).toEqual([1n, 2n]);
    await Promise.all(joins);

    const everyone = [alice, bob, carol, dave];
    for (const member of everyone) {
      const deadline = Date.now() + 15_000;
      while ((await member.groupInfo(groupId)).epoch < 2n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect((await member.groupInfo(groupId)).members.map((m) => m.deviceId).sort()).toEqual(['alice', 'bob', 'carol', 'dave']);
    }
    const arrivals = [alice, bob, dave].map((m) => m.waitFor('group-message', () => true, 15_000));
    await carol.sendGroupMessage(groupId, 'after the race');
    for (const arrival of arrivals) expect(text((await arrival).message.body)).toBe('after the race');
  }, 60_000);
});
