// Issue 11, attack 4: a device that never answers its invite must not stop sending to its user's
// other devices. Its copies are bounded, expire and are reported.
import { describe, expect, it } from 'vitest';
import { createClient, type ClientEventOf } from '../../src/index.js';
import { text, until, useInProcessServer } from '../support/index.js';

const server = useInProcessServer({ heartbeatMs: 500, rateLimit: { perSecond: 0, burst: 1 } });

describe('attack 4: a device that never accepts its invite', () => {
  it("past the pending bound, sends still reach the user's ready devices; the stalled copies are dropped and reported", async () => {
    const bobPhone = await server.start('bob-phone');
    // Bob's second device registers, then is never seen again: it never accepts an invite.
    const bobOld = await server.link(bobPhone, 'bob-old');
    await bobOld.stop();
    const alice = await server.start('alice');
    const dropped: Array<ClientEventOf<'copies-dropped'>> = [];
    alice.on('copies-dropped', (e) => void dropped.push(e));

    const got = new Set<string>();
    bobPhone.on('one2one-message', (e) => void got.add(text(e.message.body)));
    const total = 1010;
    let last: Awaited<ReturnType<typeof alice.sendMessage>> | undefined;
    for (let i = 0; i < total; i++) last = await alice.sendMessage(bobPhone.address.userId, `m${i}`);
    expect(last?.sent).toBe(1);
    expect(last?.pending).toBe(0);
    expect(last?.dropped).toBe(1);
    expect(await until(() => got.size === total, 60_000)).toBe(true);
    expect(dropped.length).toBeGreaterThan(0);
    expect(dropped[0]).toMatchObject({ peer: { userId: bobPhone.address.userId, deviceId: 'bob-old' }, reason: 'backlog-full' });
  }, 120_000);

  it('stalled copies expire after the pending lifetime and are reported', async () => {
    let offset = 0;
    const clock = { now: () => Date.now() + offset, randomUuid: () => crypto.randomUUID() };
    const bob = await server.start('bob-2');
    const bobOld = await server.link(bob, 'bob-2-old');
    await bobOld.stop();
    const alice = await server.started(createClient({ server: server.url, deviceId: 'alice-2', suite: 2, common: clock, limits: { pendingLifetimeMs: 60_000 } }));
    const atBob = bob.waitFor('one2one-message');
    await alice.sendMessage(bob.address.userId, 'hello');
    await atBob;
    const first = await alice.sendMessage(bob.address.userId, 'waits for bob-2-old');
    expect(first).toMatchObject({ sent: 1, pending: 1 });
    const expired = alice.waitFor('copies-dropped', (e) => e.reason === 'expired', 10_000);
    offset = 61_000;
    const event = await expired;
    expect(event).toMatchObject({ peer: { userId: bob.address.userId, deviceId: 'bob-2-old' }, count: 2 });
    // The backlog is free again: the next copy waits instead of being dropped.
    const next = await alice.sendMessage(bob.address.userId, 'again');
    expect(next.pending).toBe(1);
  }, 60_000);
});
