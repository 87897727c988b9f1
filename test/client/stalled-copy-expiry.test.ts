// Red team 3: expiry of copies waiting for a device that never accepts its session
// (Records.purgePending in src/client/records.ts). While nothing is due the once-a-second check
// reads one record, but as soon as one copy is due it lists and decodes the whole backlog (every
// device's), and sets the next due time to the next copy: copies queued over time then expire one
// per tick, and each tick reads the whole backlog again (work quadratic in the backlog; a stalled
// user with 16 devices is 16 000 copies read every second for as long as they trickle out).
import { describe, expect, it } from 'vitest';
import { createMemoryDatabase } from '../../src/store/index.js';
import { countingDatabase, rawDevice, sleep, until, useInProcessServer } from '../support/index.js';

const server = useInProcessServer({ rateLimit: { perSecond: 100_000, burst: 100_000 } });

describe('expiry of stalled copies', () => {
  it('dropping an expired copy reads about what it drops, not the whole backlog', async () => {
    const { db, rows } = countingDatabase(createMemoryDatabase());
    let now = Date.now();
    const lifetime = 60_000;
    const victim = await server.start('victim', { database: db, common: { now: () => now, randomUuid: () => crypto.randomUUID() }, limits: { pendingLifetimeMs: lifetime } });
    const dropped: number[] = [];
    victim.on('copies-dropped', (e) => {
      dropped.push(e.count);
    });
    // A device that never answers its invite: every copy to it waits.
    const stalled = await rawDevice(server.url, 'never', 2);
    const backlog = 300;
    const first = now + 10;
    for (let i = 0; i < backlog; i++) {
      now += 10;
      const sent = await victim.sendMessage(stalled.userId, `copy ${i}`);
      expect(sent.pending).toBe(1);
    }
    const pendingRowsForOneTick = async (): Promise<number> => {
      const before = rows.get('pending') ?? 0;
      const seen = dropped.length;
      expect(await until(() => dropped.length > seen, 5000, 20)).toBe(true);
      await sleep(50);
      return (rows.get('pending') ?? 0) - before;
    };
    // One copy due, then the next one.
    now = first + lifetime + 1;
    await pendingRowsForOneTick();
    now += 10;
    const secondTick = await pendingRowsForOneTick();
    expect(dropped.slice(0, 2)).toEqual([1, 1]);
    expect(secondTick, `pending rows read to drop one copy of ${backlog}`).toBeLessThanOrEqual(10);
  }, 60_000);
});
