// Retirement of one-time pre-keys (issue 11, attack 7; docs/protocol.md "Account", docs/client.md
// "Bounds"): anyone may fetch a device's bundles without inviting, so each SupplyOpkMsg the device
// answers must retire the keys nobody can still use, keep those still on the server and those whose
// invite may be in flight, and the account must stay within MAX_ONE_TIME_PRE_KEYS for ever.
// The server is modelled as the reference server behaves: it hands out the lowest id first and asks
// for more (with the number it still holds) once it holds fewer than 10.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import {
  Account,
  InboundSession,
  InvalidLengthError,
  MAX_ACCOUNT_STATE_BYTES,
  MAX_ONE_TIME_PRE_KEYS,
  ONE_TIME_PRE_KEY_IN_FLIGHT_MAX,
  ONE_TIME_PRE_KEY_IN_FLIGHT_MS,
  OutboundSession,
  UnknownPreKeyError,
} from '../support/library.js';
import { KeyPairStateSchema, OneTimePreKeyStateSchema } from '../../src/proto/gen/state_pb.js';
import { OneTimePreKeyPublicSchema, PreKeyBundleSchema, type OneTimePreKeyPublic } from '../../src/proto/gen/wire_pb.js';
import { DAY, expectThrow, newAccount, type SuiteNo, T0 } from '../support/index.js';

const LOW_THRESHOLD = 10;
const BATCH = 100;
/** The documented bound on a suite-1 account's serialized size (docs/client.md, "Bounds"). */
const SUITE1_ACCOUNT_BYTES = 2_000_000;

/** The reference server's one-time pre-key store for one device, in memory. */
class ModelServer {
  held: OneTimePreKeyPublic[] = [];
  private supplyRequested = false;
  private nextRequest = 1;
  /** SupplyOpkMsgs not yet answered: their id and `available`. */
  readonly notices: { id: string; available: number }[] = [];
  handedOut = 0;

  constructor(readonly device: Account) {
    this.held = device.oneTimePreKeyPublics();
  }

  upload(serialized: Uint8Array[]): void {
    for (const bytes of serialized) this.held.push(fromBinary(OneTimePreKeyPublicSchema, bytes));
    this.held.sort((x, y) => x.opkId - y.opkId);
    if (this.held.length >= LOW_THRESHOLD) this.supplyRequested = false;
  }

  /** What GetPreKeyBundle does to the store: the lowest-id one-time pre-key is deleted and handed out. */
  take(): OneTimePreKeyPublic | undefined {
    const opk = this.held.shift();
    if (opk) this.handedOut++;
    if (this.held.length < LOW_THRESHOLD && !this.supplyRequested) {
      this.supplyRequested = true;
      this.notices.push({ id: String(this.nextRequest++), available: this.held.length });
    }
    return opk;
  }

  /** GetPreKeyBundle: the device's bundle with the one-time pre-key {@link take} hands out. */
  bundle(): { bundle: Uint8Array; opkId: number | undefined } {
    const opk = this.take();
    const bundle = fromBinary(PreKeyBundleSchema, this.device.preKeyBundle({ withOneTimePreKey: false }));
    if (opk) bundle.oneTimePreKey = opk;
    return { bundle: toBinary(PreKeyBundleSchema, bundle), opkId: opk?.opkId };
  }

  /** The device answers every SupplyOpkMsg as the client runtime does. */
  supply(now: number): void {
    for (const notice of this.notices.splice(0)) {
      this.upload(this.device.publishOneTimePreKeys(BATCH, { now, available: notice.available, requestId: notice.id }));
    }
  }
}

/** An honest peer's invite from `bundle` is accepted (or throws what accept throws). */
function inviteWorks(device: Account, bundle: Uint8Array, suite: SuiteNo): void {
  const peer = newAccount(suite);
  const { session: a, invite } = OutboundSession.initiate(peer, bundle);
  const { session: b, accept } = InboundSession.accept(device, invite);
  a.complete(peer, accept);
  expect(b.decrypt(a.encrypt(new Uint8Array([1, 2, 3])))).toEqual(new Uint8Array([1, 2, 3]));
}

const isZero = (bytes: Uint8Array): boolean => bytes.every((b) => b === 0);

describe('one-time pre-key retirement', () => {
  it('the bound holds through 2000 rounds of bundles fetched without inviting; the server never runs dry', () => {
    const device = newAccount(2);
    const server = new ModelServer(device);
    let now = T0;
    let maxCount = 0;
    let emptyBundles = 0;
    for (let round = 0; round < 2000; round++) {
      for (let i = 0; i < BATCH; i++) {
        if (server.take() === undefined) emptyBundles++;
      }
      now += round % 100 === 0 ? DAY : 60_000;
      server.supply(now);
      maxCount = Math.max(maxCount, device.oneTimePreKeyCount);
      // The newest keys, which the server still holds, are all kept.
      if (round % 50 === 0) for (const opk of server.held) expect(device.findOneTimePreKey(opk.opkId)).toBeDefined();
    }
    expect(server.handedOut).toBe(2000 * BATCH);
    expect(emptyBundles).toBe(0);
    expect(maxCount).toBeLessThanOrEqual(MAX_ONE_TIME_PRE_KEYS);
    // Steady state: the keys still on the server, the in-flight grace, the new batch.
    expect(maxCount).toBe(LOW_THRESHOLD - 1 + ONE_TIME_PRE_KEY_IN_FLIGHT_MAX + BATCH);
    // The state survives a round trip and keeps working.
    const restored = Account.deserialize(device.serialize());
    inviteWorks(restored, server.bundle().bundle, 2);
  }, 60_000);

  // Documented in docs/client.md, "Bounds": the serialized account at the hard bound, per suite.
  for (const [suite, documentedBytes] of [
    [1, SUITE1_ACCOUNT_BYTES],
    [2, 70_000],
    [3, 600_000],
  ] as const) {
    it(`a suite-${suite} account stays under the documented size, also at the hard bound with every other list full`, () => {
      const device = Account.create({ suite, now: T0 });
      const server = new ModelServer(device);
      for (let round = 0; round < 12; round++) {
        for (let i = 0; i < BATCH; i++) server.take();
        server.supply(T0 + round * 60_000);
      }
      const underAttack = device.serialize().length;
      expect(device.oneTimePreKeyCount).toBe(LOW_THRESHOLD - 1 + ONE_TIME_PRE_KEY_IN_FLIGHT_MAX + BATCH);
      // Worst case: a replaced signed pre-key in its grace period, 1000 remembered invites, and the
      // hard bound of one-time pre-keys (publishing without telling the account what the server holds).
      device.renewSignedPreKeyIfDue(T0 + 8 * DAY);
      for (let i = 0; i < 1000; i++) device.rememberAcceptedInvite(new Uint8Array(32).fill(i & 0xff));
      for (let i = 0; i < 5; i++) device.publishOneTimePreKeys(BATCH);
      expect(device.oneTimePreKeyCount).toBe(MAX_ONE_TIME_PRE_KEYS);
      const worst = device.serialize().length;
      expect(underAttack).toBeLessThan(worst);
      expect(worst).toBeLessThanOrEqual(documentedBytes);
      expect(worst).toBeLessThan(MAX_ACCOUNT_STATE_BYTES);
      expect(Account.deserialize(device.serialize()).oneTimePreKeyCount).toBe(MAX_ONE_TIME_PRE_KEYS);
      console.info(
        `suite-${suite} account: ${underAttack} B under attack (${LOW_THRESHOLD - 1 + ONE_TIME_PRE_KEY_IN_FLIGHT_MAX + BATCH} OPKs), ${worst} B at the bound (${MAX_ONE_TIME_PRE_KEYS} OPKs)`,
      );
    }, 60_000);
  }

  for (const suite of [1, 2] as const) {
    it(`suite ${suite}: an invite made from a bundle fetched just before a replenishment still succeeds`, () => {
      const device = newAccount(suite);
      const server = new ModelServer(device);
      let now = T0;
      // Honest users fetch bundles; one sends its invite at once, others only later.
      const early = server.bundle();
      const delayed = [server.bundle(), server.bundle()];
      inviteWorks(device, early.bundle, suite);
      // The attacker drains the rest: the device replenishes, learning that the honest users' keys
      // were handed out; they stay for the in-flight grace.
      for (let i = 0; i < BATCH - 3; i++) server.bundle();
      server.supply((now += 60_000));
      expect(device.findOneTimePreKey(delayed[0]?.opkId ?? -1)?.handedOutAtMs).toBe(BigInt(T0 + 60_000));
      inviteWorks(device, delayed[0]?.bundle as Uint8Array, suite);
      // Six days and another replenishment later, still.
      now += 6 * DAY;
      for (let i = 0; i < BATCH; i++) server.bundle();
      server.supply(now);
      inviteWorks(device, delayed[1]?.bundle as Uint8Array, suite);
    }, 60_000);
  }

  it('a handed-out key is retired once its grace is over (7 days) or 200 newer handed-out keys are kept, and its secret is zeroed', () => {
    const device = newAccount(2);
    const server = new ModelServer(device);
    const byAge = server.bundle();
    for (let i = 0; i < BATCH; i++) server.bundle();
    server.supply(T0);
    const secret = device.findOneTimePreKey(byAge.opkId ?? -1)?.keyPair?.secretKey as Uint8Array;
    expect(isZero(secret)).toBe(false);
    // Just before the grace ends the key is kept; at the next replenishment after it, retired.
    for (let i = 0; i < BATCH; i++) server.bundle();
    server.supply(T0 + ONE_TIME_PRE_KEY_IN_FLIGHT_MS - 1);
    expect(device.findOneTimePreKey(byAge.opkId ?? -1)).toBeDefined();
    for (let i = 0; i < BATCH; i++) server.bundle();
    server.supply(T0 + ONE_TIME_PRE_KEY_IN_FLIGHT_MS);
    expect(device.findOneTimePreKey(byAge.opkId ?? -1)).toBeUndefined();
    expect(isZero(secret)).toBe(true);
    expect(() => inviteWorks(device, byAge.bundle, 2)).toThrow(UnknownPreKeyError);

    // By count: within a minute, more than 200 later keys are handed out.
    const byCount = server.bundle();
    const countSecret = device.findOneTimePreKey(byCount.opkId ?? -1)?.keyPair?.secretKey as Uint8Array;
    let now = T0 + ONE_TIME_PRE_KEY_IN_FLIGHT_MS;
    let newerHandedOut = 0;
    while (device.findOneTimePreKey(byCount.opkId ?? -1)) {
      server.bundle();
      newerHandedOut++;
      server.supply((now += 100));
    }
    // Retired at the replenishment that first had more than 200 newer handed-out keys to keep.
    expect(newerHandedOut).toBeGreaterThanOrEqual(ONE_TIME_PRE_KEY_IN_FLIGHT_MAX);
    expect(newerHandedOut).toBeLessThanOrEqual(ONE_TIME_PRE_KEY_IN_FLIGHT_MAX + BATCH + LOW_THRESHOLD);
    expect(isZero(countSecret)).toBe(true);
  });

  it('every retired key has its secret zeroed', () => {
    const device = newAccount(2);
    const server = new ModelServer(device);
    const secrets = new Map<number, Uint8Array>();
    for (let round = 0; round < 30; round++) {
      for (const opk of device.state.oneTimePreKeys) secrets.set(opk.opkId, opk.keyPair?.secretKey as Uint8Array);
      for (let i = 0; i < BATCH; i++) server.bundle();
      server.supply(T0 + round * 3 * DAY);
    }
    const kept = new Set(device.state.oneTimePreKeys.map((opk) => opk.opkId));
    let retired = 0;
    for (const [opkId, secret] of secrets) {
      if (kept.has(opkId)) continue;
      retired++;
      expect(isZero(secret), `secret of retired key ${opkId}`).toBe(true);
    }
    expect(retired).toBeGreaterThan(2000);
  });

  it('keys still on the server are kept however old: a quiet account answers invites a year later', () => {
    const device = newAccount(2);
    const server = new ModelServer(device);
    // Over a year, 91 bundles are fetched (and used at once); the 92nd... are still on the server.
    let now = T0;
    for (let i = 0; i < 91; i++) {
      inviteWorks(device, server.bundle().bundle, 2);
      now += 4 * DAY;
    }
    server.supply(now);
    now += 365 * DAY;
    for (let i = 0; i < 91; i++) server.bundle();
    server.supply(now);
    // Keys 92..100 were on the server for two years: handed out only now, they work.
    const late: { bundle: Uint8Array; opkId: number | undefined }[] = [];
    for (let i = 0; i < 20; i++) late.push(server.bundle());
    expect(late[0]?.opkId).toBeLessThanOrEqual(200);
    now += 3 * DAY;
    server.supply(now);
    for (const { bundle } of late) inviteWorks(device, bundle, 2);
  });

  it('a retry of the same request does not take the keys its first attempt made for handed out', () => {
    const device = newAccount(2);
    const server = new ModelServer(device);
    for (let i = 0; i < 91; i++) server.bundle(); // the server holds ids 92..100 and asks for more
    const notice = server.notices.splice(0)[0] as { id: string; available: number };
    expect(notice.available).toBe(9);
    // First attempt: the keys are made (and stored) but the upload is lost.
    device.publishOneTimePreKeys(BATCH, { now: T0, available: notice.available, requestId: notice.id });
    // The retry: the server still holds 92..100 only; the first attempt's keys are not handed out.
    server.upload(device.publishOneTimePreKeys(BATCH, { now: T0 + 1000, available: notice.available, requestId: notice.id }));
    const marked = device.state.oneTimePreKeys.filter((opk) => opk.handedOutAtMs > 0n).map((opk) => opk.opkId);
    expect(marked).toEqual(Array.from({ length: 91 }, (_, i) => i + 1));
    // A later request classifies them: the first attempt's keys (never on the server) are handed out now.
    for (let i = 0; i < 100; i++) server.bundle();
    server.supply(T0 + 2000);
    for (const opk of server.held) expect(device.findOneTimePreKey(opk.opkId)?.handedOutAtMs).toBe(0n);
    expect(device.findOneTimePreKey(150)?.handedOutAtMs).toBe(BigInt(T0 + 2000));
    // Without the request id the retry would have marked 92..100, which the server still held.
    const other = newAccount(2);
    other.publishOneTimePreKeys(BATCH, { now: T0, available: 9, requestId: 'a' });
    other.publishOneTimePreKeys(BATCH, { now: T0, available: 9, requestId: 'b' });
    expect(other.findOneTimePreKey(95)?.handedOutAtMs).toBe(BigInt(T0));
  });

  it('publishOneTimePreKeys never fails because keys accumulated, with or without options', () => {
    const device = newAccount(2);
    for (let i = 0; i < 50; i++) {
      expect(device.publishOneTimePreKeys()).toHaveLength(BATCH);
      expect(device.oneTimePreKeyCount).toBeLessThanOrEqual(MAX_ONE_TIME_PRE_KEYS);
    }
    expect(device.oneTimePreKeyCount).toBe(MAX_ONE_TIME_PRE_KEYS);
    // The oldest went first.
    expect(Math.min(...device.state.oneTimePreKeys.map((opk) => opk.opkId))).toBe(100 + 50 * BATCH - MAX_ONE_TIME_PRE_KEYS + 1);
    expect(device.publishOneTimePreKeys(MAX_ONE_TIME_PRE_KEYS, { now: T0 })).toHaveLength(MAX_ONE_TIME_PRE_KEYS);
    expectThrow(() => device.publishOneTimePreKeys(MAX_ONE_TIME_PRE_KEYS + 1), InvalidLengthError);
    expectThrow(() => device.publishOneTimePreKeys(1, { available: 5 }), InvalidLengthError); // available needs now
    expectThrow(() => device.publishOneTimePreKeys(1, { now: T0, available: -1 }), InvalidLengthError);
    expectThrow(() => device.publishOneTimePreKeys(1, { now: -5 }), InvalidLengthError);
    expectThrow(() => device.publishOneTimePreKeys(1, { now: T0, requestId: '' }), InvalidLengthError);
  });

  it('an account state written before retirement existed (more keys, no hand-out times) loads and is brought within the bound', () => {
    const device = newAccount(2);
    // As the old code left it after an attack: 2000 keys, none with a hand-out time.
    for (let i = 0; i < 1900; i++) {
      const pair = device.suite.kem.keygen();
      device.state.oneTimePreKeys.push(create(OneTimePreKeyStateSchema, { opkId: device.state.nextOpkId++, keyPair: create(KeyPairStateSchema, pair) }));
    }
    const old = device.serialize();
    const restored = Account.deserialize(old);
    expect(restored.oneTimePreKeyCount).toBe(2000);
    expect(restored.state.oneTimePreKeys.every((opk) => opk.handedOutAtMs === 0n)).toBe(true);
    const oldest = restored.findOneTimePreKey(1)?.keyPair?.secretKey as Uint8Array;
    restored.publishOneTimePreKeys(BATCH, { now: T0, available: 5, requestId: '1' });
    expect(restored.oneTimePreKeyCount).toBe(5 + ONE_TIME_PRE_KEY_IN_FLIGHT_MAX + BATCH);
    expect(isZero(oldest)).toBe(true);
    // The five the server still holds are the newest old ones.
    for (let id = 1996; id <= 2000; id++) expect(restored.findOneTimePreKey(id)?.handedOutAtMs).toBe(0n);
  });
});
