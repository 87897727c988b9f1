// Pre-key upkeep by the runtime: the signed pre-key is renewed and published at start-up when older
// than 7 days (time from the common handler), and a SupplyOpkMsg is answered with 100 fresh one-time
// pre-keys that the server then hands out. In-process server, SQLite device database.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createClient, createServerTransport, defaultCommonHandler } from '../support/library.js';
import { openSqliteDatabase } from '../../src/store/node.js';
import { useInProcessServer } from '../support/index.js';

const DAY = 24 * 60 * 60 * 1000;
// Rate limits off: the test fetches a few hundred bundles as one device.
const server = useInProcessServer({ opkLowThreshold: 10, rateLimit: { perSecond: 0, burst: 1 } });
const dir = mkdtempSync(path.join(tmpdir(), 'pqe2ee-prekeys-'));

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
});

/** The SPK id and whether an OPK came with the bundle, as another user sees them. */
async function bundleOf(userId: string): Promise<{ spkId: number; hasOpk: boolean }> {
  const transport = createServerTransport(server.url);
  // A throwaway registered peer fetches the bundle (every RPC but registration needs a token).
  const peer = createClient({ server: transport, deviceId: `peer${Math.floor(Math.random() * 1e9)}`, suite: 2 });
  server.track(peer);
  await peer.start();
  const response = await transport.service.getPreKeyBundle({ userId });
  const bundle = response.preKeyBundles[0];
  return { spkId: bundle?.signedPreKey?.spkId ?? 0, hasOpk: bundle?.oneTimePreKey !== undefined };
}

describe('pre-key upkeep', () => {
  it('renews and publishes the signed pre-key at start-up once it is older than 7 days', async () => {
    let now = Date.now();
    const common = { ...defaultCommonHandler, now: () => now };
    const file = path.join(dir, 'spk.sqlite');
    const first = createClient({ server: server.url, deviceId: 'phone', suite: 2, common, database: await openSqliteDatabase(file) });
    await first.start();
    const userId = first.address.userId;
    await first.stop();
    expect((await bundleOf(userId)).spkId).toBe(1);

    now += 6 * DAY; // not yet due
    const second = createClient({ server: server.url, deviceId: 'phone', suite: 2, common, database: await openSqliteDatabase(file) });
    await second.start();
    await second.stop();
    expect((await bundleOf(userId)).spkId).toBe(1);

    now += 2 * DAY; // 8 days after creation
    const third = createClient({ server: server.url, deviceId: 'phone', suite: 2, common, database: await openSqliteDatabase(file) });
    server.track(third);
    await third.start();
    expect((await bundleOf(userId)).spkId).toBe(2);
  }, 30_000);

  it('answers SupplyOpkMsg with 100 fresh one-time pre-keys', async () => {
    const file = path.join(dir, 'opk.sqlite');
    const target = createClient({ server: server.url, deviceId: 'tablet', suite: 2, database: await openSqliteDatabase(file) });
    await target.start();
    const userId = target.address.userId;
    await target.stop();

    // Drain the 100 one-time pre-keys the device registered with while it is offline.
    const drain = createServerTransport(server.url);
    const drainer = createClient({ server: drain, deviceId: 'drainer', suite: 2 });
    server.track(drainer);
    await drainer.start();
    for (let i = 0; i < 100; i++) {
      const response = await drain.service.getPreKeyBundle({ userId });
      expect(response.preKeyBundles[0]?.oneTimePreKey).toBeDefined();
    }
    expect((await drain.service.getPreKeyBundle({ userId })).preKeyBundles[0]?.oneTimePreKey).toBeUndefined();

    const restarted = createClient({ server: server.url, deviceId: 'tablet', suite: 2, database: await openSqliteDatabase(file) });
    server.track(restarted);
    const low = restarted.waitFor('pre-keys-low', () => true, 15_000);
    await restarted.start();
    const event = await low;
    expect(event.supplied).toBe(100);
    // Offline again (a running client would answer the next SupplyOpkMsg): the server hands out
    // exactly the 100 new ones, then none.
    await restarted.stop();
    const seen = new Set<number>();
    for (let i = 0; i < 100; i++) {
      const response = await drain.service.getPreKeyBundle({ userId });
      const opk = response.preKeyBundles[0]?.oneTimePreKey;
      if (!opk) throw new Error(`bundle ${i}: ${response.code} ${response.reason} ${response.preKeyBundles.length}`);
      seen.add(opk?.opkId ?? -1);
    }
    expect(seen.size).toBe(100);
    expect(Math.min(...seen)).toBeGreaterThan(100);
    expect((await drain.service.getPreKeyBundle({ userId })).preKeyBundles[0]?.oneTimePreKey).toBeUndefined();
  }, 60_000);
});
