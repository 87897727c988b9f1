// Coverage the existing suites lack (these pass today and guard behaviour that is
// easy to break): own-device copies across three devices, and plaintexts queued for a session
// that is not accepted yet surviving a restart of the sender, delivered once and in order.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/index.js';
import { openSqliteDatabase } from '../../src/store/node.js';
import { collect, drainInbound, isSentinel, sleep, until, useInProcessServer } from '../support/index.js';

const server = useInProcessServer();
const dir = mkdtempSync(join(tmpdir(), 'pqe2ee-multi-device-'));

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('multi-device and restarts', () => {
  it('three devices: every device gets every message exactly once, copies as other-device-message', async () => {
    const phone = await server.start('phone');
    const laptop = await server.link(phone, 'laptop');
    const tablet = await server.link(phone, 'tablet');
    const bob = await server.start('bob');
    const got = { phone: collect(phone), laptop: collect(laptop), tablet: collect(tablet), bob: collect(bob) };
    const conversations: string[] = [];
    for (const d of [laptop, tablet])
      d.on('other-device-message', (e) => {
        conversations.push(e.conversationUserId);
      });
    // Let the devices' own sessions settle (invites and accepts between them).
    await sleep(500);
    for (let i = 0; i < 3; i++) await phone.sendMessage(bob.address.userId, `p${i}`);
    await until(() => got.bob.one2one.length >= 3 && got.laptop.other.length >= 3 && got.tablet.other.length >= 3);
    for (let i = 0; i < 2; i++) await bob.sendMessage(phone.address.userId, `b${i}`);
    await tablet.sendMessage(bob.address.userId, 't0');
    await until(
      () =>
        got.phone.one2one.length >= 2 &&
        got.laptop.one2one.length >= 2 &&
        got.tablet.one2one.length >= 2 &&
        got.bob.one2one.length >= 4 &&
        got.phone.other.length >= 1 &&
        got.laptop.other.length >= 4,
    );
    // Every device has processed all it was sent (no late duplicate can still come) once a later sentinel arrives.
    const probe = await server.start('probe');
    for (const d of [bob, phone, laptop, tablet]) await drainInbound(d, probe);
    expect(got.bob.one2one).toEqual(['p0', 'p1', 'p2', 't0']);
    expect(got.laptop.other).toEqual(['p0', 'p1', 'p2', 't0']);
    expect(got.tablet.other).toEqual(['p0', 'p1', 'p2']);
    expect(got.phone.other).toEqual(['t0']);
    for (const d of [got.phone, got.laptop, got.tablet]) expect(d.one2one).toEqual(['b0', 'b1']);
    expect(new Set(conversations)).toEqual(new Set([bob.address.userId]));
  }, 30_000);

  it('messages queued for an unaccepted session survive a restart of the sender; delivered once, in order', async () => {
    const alicePath = join(dir, 'alice.sqlite');
    const aliceOptions = async () => ({ server: server.url, deviceId: 'alice', suite: 2, database: await openSqliteDatabase(alicePath) });
    const bobPath = join(dir, 'bob.sqlite');
    let alice = createClient(await aliceOptions());
    await alice.start();
    let bob = createClient({ server: server.url, deviceId: 'bob', suite: 2, database: await openSqliteDatabase(bobPath) });
    await bob.start();
    const bobId = bob.address.userId;
    await bob.stop();

    for (let i = 0; i < 5; i++) expect((await alice.sendMessage(bobId, `m${i}`)).pending).toBe(1);
    await alice.stop();
    alice = createClient(await aliceOptions());
    server.track(alice);
    await alice.start();
    for (let i = 5; i < 10; i++) expect((await alice.sendMessage(bobId, `m${i}`)).pending).toBe(1);

    bob = createClient({ server: server.url, deviceId: 'bob', suite: 2, database: await openSqliteDatabase(bobPath) });
    server.track(bob);
    const got = collect(bob);
    await bob.start();
    await until(() => got.one2one.length >= 10);
    // Restart bob too: nothing is handed over twice.
    await bob.stop();
    bob = createClient({ server: server.url, deviceId: 'bob', suite: 2, database: await openSqliteDatabase(bobPath) });
    server.track(bob);
    const again = collect(bob);
    await bob.start();
    // The restarted Bob has processed its whole queue once a later sentinel arrives.
    await drainInbound(bob, await server.start('probe2'));
    expect(got.one2one).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
    expect(again.one2one).toEqual([]);
    expect((await bob.messages()).map((m) => new TextDecoder().decode(m.body)).filter((body) => !isSentinel(body))).toEqual(got.one2one);
  }, 30_000);
});
