// Red team 3: the outbox as a buffer keyed by attacker input. Every invite is accepted
// automatically and its AcceptMsg goes to the outbox; when the server refuses it "for now"
// (SERVICE_UNAVAILABLE: the inviter's queue is full, which the inviter arranges by never reading
// it), it stays in the outbox for ever (flushOutbox in src/client/one2one.ts keeps such entries).
// The stranger sends invite after invite (one pre-key bundle without its one-time key serves them
// all), and after every ProtoMsg the victim processes, flushOutbox lists the whole outbox: the
// victim's work per message grows with what the stranger queued, and its store without bound.
import { toBinary, fromBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { OutboundSession } from '../../src/protocol/index.js';
import { createMemoryDatabase } from '../../src/store/index.js';
import { InviteMsgSchema, PreKeyBundleSchema } from '../../src/proto/gen/wire_pb.js';
import { countingDatabase, rawDevice, sleep, until, useInProcessServer } from '../support/index.js';

const server = useInProcessServer({ queueLimit: 20, rateLimit: { perSecond: 100_000, burst: 100_000 } });

describe('outbox growth from a stranger', () => {
  it("the victim's work per processed message does not grow with the accepts a stranger leaves undeliverable", async () => {
    const { db, rows } = countingDatabase(createMemoryDatabase());
    const victim = await server.start('victim', { database: db });
    let ready = 0;
    victim.on('inbound-session-ready', () => {
      ready++;
    });
    // The stranger never reads its stream: after 20 accepts its queue is full.
    const stranger = await rawDevice(server.url, 'mallory', 2);
    const response = await stranger.service.getPreKeyBundle({ userId: victim.address.userId });
    const bundle = response.preKeyBundles[0];
    if (!bundle) throw new Error('no bundle');
    bundle.oneTimePreKey = undefined;
    const bundleBytes = toBinary(PreKeyBundleSchema, bundle);
    const invite = async (n: number): Promise<void> => {
      const target = ready + n;
      for (let i = 0; i < n; i++) {
        const { invite: bytes } = OutboundSession.initiate(stranger.account, bundleBytes);
        for (;;) {
          const res = await stranger.service.invite({ msg: fromBinary(InviteMsgSchema, bytes) });
          if (res.code === 200) break;
          await sleep(20); // the victim's own queue (limit 20) is full for a moment
        }
      }
      expect(await until(() => ready >= target, 30_000, 20)).toBe(true);
      await sleep(200);
    };
    const outboxRowsFor = async (n: number): Promise<number> => {
      const before = rows.get('outbox') ?? 0;
      await invite(n);
      return (rows.get('outbox') ?? 0) - before;
    };
    await invite(40);
    const early = await outboxRowsFor(10);
    await invite(300);
    const late = await outboxRowsFor(10);
    const stored = await db.transaction(async (tx) => (await tx.list('outbox')).length);
    // Per processed message the outbox reads must not scale with the stranger's stuck entries
    // (nor the outbox grow with them without bound).
    expect(late, `outbox rows read for 10 messages: ${early} with 40 invites behind, ${late} with 340`).toBeLessThanOrEqual(2 * early + 50);
    expect(stored, 'outbox entries kept for one stranger').toBeLessThanOrEqual(100);
  }, 90_000);
});
