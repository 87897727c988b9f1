// Issue 11, attack 7: any registered user fetches a victim's pre-key bundles again and again without
// ever inviting. Every ~100 fetches the server sends the victim a SupplyOpkMsg and the victim makes
// 100 new one-time pre-keys. Before the fix the account kept every unused secret: at 10 000 keys
// publishOneTimePreKeys threw and the victim never resupplied again, and in suite 1 the account was
// over the 1 MiB the state decoder reads after ~2 rounds, so the victim's next start() failed.
// Now the account retires handed-out keys (by age and count, oldest first), stays within
// MAX_ONE_TIME_PRE_KEYS (docs/client.md, "Bounds"), and replenishment goes on.
//
// Both tests FAIL on the old code: the first runs past the old 10 000-key cap (110 rounds of 100
// fetches; the old code stops resupplying at round 100, and its account is far over the bound), the
// second restarts a suite-1 victim after 5 rounds (the old code cannot load its account).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { afterAll, describe, expect, it } from 'vitest';
import { createClient, createMemoryDatabase, type ClientEvent, type E2eeClient } from '../../src/index.js';
import { OutboundSession } from '../../src/protocol/index.js';
import { AccountStateSchema } from '../../src/proto/gen/state_pb.js';
import { InviteMsgSchema, PreKeyBundleSchema } from '../../src/proto/gen/wire_pb.js';
import type { DatabaseHandler } from '../../src/store/database.js';
import { openSqliteDatabase } from '../../src/store/node.js';
import { rawDevice, type RawDevice, useInProcessServer } from '../support/index.js';

// Rate limits off: the attacker makes about 11 000 calls as one device.
const server = useInProcessServer({ opkLowThreshold: 10, rateLimit: { perSecond: 0, burst: 1 }, ipRateLimit: { perSecond: 0, burst: 1 }, heartbeatMs: 500 });
const dir = mkdtempSync(path.join(tmpdir(), 'pqe2ee-opk-exhaustion-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The documented bound (docs/client.md, "Bounds"): one-time pre-keys an account holds at most. */
const DOCUMENTED_BOUND = 400;
/** The documented size bound of a suite-1 account (docs/client.md, "Bounds"). */
const SUITE1_ACCOUNT_BYTES = 2_000_000;
const PER_ROUND = 100;
const CONCURRENCY = 20;

interface AccountWrite {
  count: number;
  bytes: number;
}

/** Wraps a database handler to record every account state the runtime writes. */
function watched(inner: DatabaseHandler, writes: AccountWrite[]): DatabaseHandler {
  return {
    close: () => inner.close(),
    transaction: (fn) =>
      inner.transaction((tx) =>
        fn({
          get: (ns, key) => tx.get(ns, key),
          list: (ns) => tx.list(ns),
          delete: (ns, key) => tx.delete(ns, key),
          put(ns, key, value) {
            // Counted without the account's own size limit, so the old code's states are measured too.
            if (ns === 'account') writes.push({ count: fromBinary(AccountStateSchema, value).oneTimePreKeys.length, bytes: value.length });
            return tx.put(ns, key, value);
          },
        }),
      ),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The attacker: fetches the victim's bundles, never invites. */
class Attacker {
  supplies = 0;
  readonly errors: ClientEvent[] = [];
  constructor(
    readonly mallory: RawDevice,
    readonly victimId: string,
  ) {}

  watch(victim: E2eeClient): void {
    victim.on('pre-keys-low', () => void this.supplies++);
    victim.on('error', (e) => void this.errors.push(e));
  }

  /** Fetches one bundle of the victim; true if it carried a one-time pre-key. */
  async fetchOne(): Promise<boolean> {
    const response = await this.mallory.service.getPreKeyBundle({ userId: this.victimId });
    return response.preKeyBundles[0]?.oneTimePreKey !== undefined;
  }

  /** 100 fetches, then waits for the victim to answer the SupplyOpkMsg they caused. */
  async round(round: number, expectedSupplies: number): Promise<void> {
    for (let done = 0; done < PER_ROUND; done += CONCURRENCY) await Promise.all(Array.from({ length: CONCURRENCY }, () => this.fetchOne()));
    const deadline = Date.now() + 10_000;
    while (this.supplies < expectedSupplies && Date.now() < deadline) await sleep(5);
    if (this.supplies < expectedSupplies) {
      const errors = this.errors.map((e) => (e.type === 'error' ? e.error.message : e.type)).join('; ');
      throw new Error(`the victim stopped resupplying at round ${round} (${this.supplies} supplies; errors: ${errors})`);
    }
  }
}

/** An honest user's invite, made from a bundle fetched now and sent later. */
async function delayedInvite(honest: RawDevice, victimId: string): Promise<() => Promise<void>> {
  const bundle = (await honest.service.getPreKeyBundle({ userId: victimId })).preKeyBundles[0];
  if (!bundle?.oneTimePreKey) throw new Error('the honest user got no one-time pre-key');
  const { invite } = OutboundSession.initiate(honest.account, toBinary(PreKeyBundleSchema, bundle));
  const opkId = bundle.oneTimePreKey.opkId;
  return async () => {
    const accepted = honest.received.filter((m) => m.payload.case === 'acceptMsg').length;
    expect((await honest.service.invite({ msg: fromBinary(InviteMsgSchema, invite) })).code).toBe(200);
    const deadline = Date.now() + 10_000;
    while (honest.received.filter((m) => m.payload.case === 'acceptMsg').length === accepted && Date.now() < deadline) await sleep(10);
    expect(honest.received.filter((m) => m.payload.case === 'acceptMsg').length, `the invite with one-time pre-key ${opkId}, made before a replenishment, was accepted`).toBe(
      accepted + 1,
    );
  };
}

async function honestMessageArrives(victim: E2eeClient, victimId: string, name: string, suite = 2): Promise<void> {
  const sender = await server.start(name, { suite });
  const got = victim.waitFor('one2one-message', () => true, 15_000);
  await sender.sendMessage(victimId, 'still reachable');
  expect(new TextDecoder().decode((await got).message.body)).toBe('still reachable');
}

describe('attack 7: one-time pre-key exhaustion by fetching bundles without inviting', () => {
  it('the victim keeps resupplying through 110 rounds (past the old 10 000 cap), stays within the bound, and invites (also in flight) still work', async () => {
    const writes: AccountWrite[] = [];
    const victim = await server.start('victim', { database: watched(createMemoryDatabase(), writes) });
    const attacker = new Attacker(await rawDevice(server.url, 'mallory'), victim.address.userId);
    attacker.watch(victim);
    const honest = await rawDevice(server.url, 'honest');
    honest.listen();

    const started = Date.now();
    let sendLater: (() => Promise<void>) | undefined;
    for (let round = 1; round <= 110; round++) {
      // An honest user fetches a bundle and makes its invite, but sends it only after the next
      // round of the attack (and the replenishment it causes) has happened.
      if (round === 60) sendLater = await delayedInvite(honest, attacker.victimId);
      await attacker.round(round, round);
      if (round === 61) await sendLater?.();
    }
    const elapsedMs = Date.now() - started;

    expect(attacker.supplies).toBeGreaterThanOrEqual(110);
    expect(attacker.errors).toEqual([]);
    expect(await attacker.fetchOne()).toBe(true); // the server still has one-time pre-keys for the victim
    const maxCount = Math.max(...writes.map((w) => w.count));
    const maxBytes = Math.max(...writes.map((w) => w.bytes));
    expect(maxCount).toBeLessThanOrEqual(DOCUMENTED_BOUND);
    await honestMessageArrives(victim, attacker.victimId, 'alice');
    attacker.mallory.close();
    honest.close();
    console.info(`attack 7 (suite 2): 110 rounds in ${elapsedMs} ms, ${attacker.supplies} supplies, ${writes.length} account writes, at most ${maxCount} OPKs / ${maxBytes} B`);
  }, 120_000);

  it('a suite-1 victim under attack keeps an account it can load: it restarts, resupplies, and stays within the documented size', async () => {
    const writes: AccountWrite[] = [];
    const file = path.join(dir, 'victim1.sqlite');
    const first = createClient({ server: server.url, deviceId: 'victim1', suite: 1, database: watched(await openSqliteDatabase(file), writes) });
    await server.started(first);
    const attacker = new Attacker(await rawDevice(server.url, 'mallory1'), first.address.userId);
    attacker.watch(first);
    const started = Date.now();
    for (let round = 1; round <= 5; round++) await attacker.round(round, round);
    await first.stop();

    // The victim's next start loads the account it stored under attack.
    const second = createClient({ server: server.url, deviceId: 'victim1', suite: 1, database: watched(await openSqliteDatabase(file), writes) });
    await server.started(second);
    attacker.watch(second);
    for (let round = 6; round <= 12; round++) await attacker.round(round, round);
    const elapsedMs = Date.now() - started;

    expect(attacker.errors).toEqual([]);
    expect(await attacker.fetchOne()).toBe(true);
    const maxCount = Math.max(...writes.map((w) => w.count));
    const maxBytes = Math.max(...writes.map((w) => w.bytes));
    expect(maxCount).toBeLessThanOrEqual(DOCUMENTED_BOUND);
    expect(maxBytes).toBeLessThanOrEqual(SUITE1_ACCOUNT_BYTES);
    await honestMessageArrives(second, attacker.victimId, 'alice1', 1);
    attacker.mallory.close();
    console.info(`attack 7 (suite 1): 12 rounds and a restart in ${elapsedMs} ms, ${attacker.supplies} supplies, at most ${maxCount} OPKs / ${maxBytes} B`);
  }, 60_000);
});
