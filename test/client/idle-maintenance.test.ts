// The runtime's once-a-second maintenance must not read what others made it store: disappearing
// messages (a sender decides how many) and copies waiting for a device that never accepts. While
// nothing is due it reads one small record per kind, whatever is stored.
import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/index.js';
import { createMemoryDatabase } from '../../src/store/index.js';
import { countingDatabase, drainInbound, until, useInProcessServer } from '../support/index.js';

const server = useInProcessServer({ heartbeatMs: 500, rateLimit: { perSecond: 0, burst: 1 } });

describe('idle maintenance', () => {
  it('reads no disappearing message and no waiting copy while none is due', async () => {
    const counting = countingDatabase(createMemoryDatabase());
    const bob = await server.started(createClient({ server: server.url, deviceId: 'bob', suite: 2, database: counting.db }));
    const carol = await server.start('carol');
    const carolOld = await server.link(carol, 'carol-old');
    await carolOld.stop();
    const alice = await server.start('alice');
    let received = 0;
    bob.on('one2one-message', () => void received++);
    let carolReceived = 0;
    carol.on('one2one-message', () => void carolReceived++);
    // 60 disappearing messages delivered to Bob (kept an hour), and 60 copies Bob keeps for a device
    // of Carol's that never accepts.
    for (let i = 0; i < 60; i++) await alice.sendMessage(bob.address.userId, `vanishes ${i}`, { expiresInMs: 3_600_000 });
    for (let i = 0; i < 60; i++) await bob.sendMessage(carol.address.userId, `waits ${i}`);
    expect(await until(() => received === 60 && carolReceived === 60, 30_000)).toBe(true);
    // Bob has processed everything sent to him (Carol's accept included) once a later sentinel arrives.
    await drainInbound(bob, alice);
    counting.rows.clear();
    // Three maintenance ticks: each reads the head of the waiting-copies queue once (so the ticks
    // demonstrably ran), and none of them may read a disappearing message or a waiting copy.
    expect(await until(() => (counting.rows.get('pending-queue') ?? 0) >= 3, 10_000)).toBe(true);
    expect(counting.rows.get('expiring') ?? 0).toBe(0);
    expect(counting.rows.get('pending') ?? 0).toBe(0);
    expect(counting.rows.get('messages') ?? 0).toBe(0);
  }, 60_000);
});
