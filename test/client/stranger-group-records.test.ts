// Red team 3: state a stranger makes the victim keep. Anyone may create a group that lists the
// victim; each CreateGroupMsg makes the victim's runtime store a group record (noteGroupInfo in
// src/client/groups.ts) that is never deleted, whether or not a bundle ever comes. One stranger can
// create groups without limit (the server bounds group size, not groups per creator), so the
// victim's store grows with the stranger's patience: docs/security.md §1 says resource use is
// bounded "by bytes and counts, not by the attacker's patience". (The bound asserted, 1000 records
// for groups never joined, is this test's choice; any fixed bound with eviction would do.)
import { describe, expect, it } from 'vitest';
import { createMemoryDatabase } from '../../src/store/index.js';
import { rawDevice, until, useInProcessServer } from '../support/index.js';

const server = useInProcessServer({ rateLimit: { perSecond: 100_000, burst: 100_000 } });

describe('groups a stranger makes the victim remember', () => {
  it('records of groups the victim never joined stay bounded however many a stranger creates', async () => {
    const db = createMemoryDatabase();
    const victim = await server.start('victim', { database: db });
    const stranger = await rawDevice(server.url, 'mallory', 2);
    stranger.listen();
    const groups = 1500;
    let consumed = 0;
    for (let g = 0; g < groups; g++) {
      const created = await stranger.service.createGroup({ groupName: `g${g}`, members: [{ userId: victim.address.userId }] });
      expect(created.code).toBe(201);
    }
    const records = (): Promise<number> => db.transaction(async (tx) => (await tx.list('groups')).length);
    // Wait until the victim has processed the stream (its count stops moving).
    let last = -1;
    await until(
      async () => {
        const now = await records();
        const settled = now === last;
        last = now;
        consumed = now;
        return settled && now > 0;
      },
      30_000,
      500,
    );
    stranger.close();
    expect(consumed).toBeLessThanOrEqual(1000);
  }, 60_000);
});
