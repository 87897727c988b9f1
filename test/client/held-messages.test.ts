// Security issue 11, attacks 3 and 8: group messages held until their epoch's bundle arrives.
//
// Attack 3: one authentic group message whose plaintext does not decode, held before a new member's
// bundle, must not roll the bundle back (the member would never join); it is dropped and reported,
// and the same holds for such a message on the live path.
//
// Attack 8: a stranger creates a group listing the victim and floods it with group messages that
// can never decrypt (no bundle ever comes). The victim holds only a small allowance for groups it
// has not joined, and the work per message (database rows read) does not grow with the number held;
// the once-a-second purge reads no held message while nothing has expired.
import { describe, expect, it } from 'vitest';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { createClient, createServerTransport, type DatabaseHandler, type E2eeClient } from '../support/library.js';
import { Account, GroupSession } from '../../src/protocol/index.js';
import { createMemoryDatabase } from '../../src/store/index.js';
import { Records, type HeldEviction } from '../../src/client/records.js';
import { HELD_LIMITS, MAX_HELD_BYTES_PER_UNJOINED_GROUP, MAX_HELD_PER_UNJOINED_GROUP, MAX_HELD_UNJOINED_BYTES_TOTAL, MAX_HELD_UNJOINED_TOTAL } from '../../src/client/groups.js';
import { GroupRecordSchema, HeldGroupMessageSchema } from '../../src/proto/gen/client_pb.js';
import { ProtoMsgSchema } from '../../src/proto/gen/service_pb.js';
import { E2eeMsgSchema, PlaintextSchema, type E2eeAddress } from '../../src/proto/gen/wire_pb.js';
import type { ProtocolHandler } from '../../src/transport/protocol-handler.js';
import { collect, connect, countingDatabase, registerUser, ResponseCode, until, useInProcessServer } from '../support/index.js';

const server = useInProcessServer({ rateLimit: { perSecond: 0, burst: 1 }, ipRateLimit: { perSecond: 0, burst: 1 } });

/** A protocol handler whose message stream waits until `open()` (the device is "offline" until then). */
function gatedHandler(url: string): { handler: ProtocolHandler; open: () => void } {
  const inner = createServerTransport(url);
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const service = new Proxy(inner.service, {
    get(target, prop, receiver) {
      if (prop !== 'subscribe') return Reflect.get(target, prop, receiver);
      return async function* (request: Parameters<typeof target.subscribe>[0], options: Parameters<typeof target.subscribe>[1]) {
        // A stream the client stops (abort) must not wait for the gate.
        options?.signal?.addEventListener('abort', () => open());
        for await (const msg of target.subscribe(request, options)) {
          await gate;
          yield msg;
        }
      };
    },
  });
  return { handler: { service, setToken: (token) => inner.setToken(token) }, open: () => open() };
}

const isHeldNamespace = (namespace: string): boolean => namespace === 'held' || namespace.startsWith('held-');

/** Rows read so far: all (but the processed-id list, pruned every 100 messages by the runtime), and of the held-message namespaces. */
function rowsRead(rows: Map<string, number>): { all: number; held: number } {
  let all = 0;
  let held = 0;
  for (const [namespace, n] of rows) {
    if (namespace !== 'processed') all += n;
    if (isHeldNamespace(namespace)) held += n;
  }
  return { all, held };
}

/** Held messages (count and stored bytes) per group prefix, read from the raw database (not counted). */
async function heldIn(db: DatabaseHandler, groupId?: string): Promise<{ count: number; bytes: number }> {
  return db.transaction(async (tx) => {
    const rows = (await tx.list('held')).filter((r) => groupId === undefined || r.key.startsWith(`${encodeURIComponent(groupId)}/`));
    return { count: rows.length, bytes: rows.reduce((n, r) => n + r.value.length, 0) };
  });
}

function errorsOf(client: E2eeClient): Array<{ code: string; context: string }> {
  const out: Array<{ code: string; context: string }> = [];
  client.on('error', (e) => {
    out.push({ code: (e.error as { code?: string }).code ?? '', context: e.context });
  });
  return out;
}

/** Encrypts `plaintext` with the member's own group state (read from and written back to its database) and sends it. */
async function sendRawGroupMessage(db: DatabaseHandler, transport: ProtocolHandler, groupId: string, plaintext: Uint8Array): Promise<void> {
  const { wire, from } = await db.transaction(async (tx) => {
    const records = new Records(tx);
    const account = Account.deserialize((await records.account.get()) as Uint8Array);
    const group = GroupSession.deserialize((await records.groups.getSession(groupId)) as Uint8Array, account);
    const wire = group.encrypt(plaintext);
    await records.groups.putSession(groupId, group.serialize());
    return { wire, from: account.address as E2eeAddress };
  });
  const msg = fromBinary(E2eeMsgSchema, wire);
  msg.from = from;
  const sent = await transport.service.sendGroupMsg({ msg });
  expect(sent.code).toBe(ResponseCode.OK);
}

describe('held group messages (issue 11)', () => {
  it('attack 3: an authentic held message whose plaintext does not decode is dropped and reported; the bundle still applies', async () => {
    const alice = await server.start('alice');
    const malloryDb = createMemoryDatabase();
    const malloryTransport = createServerTransport(server.url);
    const mallory = await server.start('mallory', { server: malloryTransport, database: malloryDb });
    const gated = gatedHandler(server.url);
    const bobDb = createMemoryDatabase();
    const bob = await server.start('bob', { server: gated.handler, database: bobDb });
    const bobErrors = errorsOf(bob);
    const bobGot = collect(bob);
    const bobJoined = bob.waitFor('group-created', () => true, 20_000);

    const malloryJoined = mallory.waitFor('group-created', () => true, 15_000);
    const { groupId } = await alice.createGroup('g', [mallory.address.userId]);
    await malloryJoined;
    // Bob is "offline" (his stream waits): his bundle can only go out once he accepts alice's invite.
    await alice.addGroupMembers(groupId, [bob.address.userId]);
    expect(await until(async () => (await mallory.groupInfo(groupId)).epoch === 1n, 10_000)).toBe(true);

    // Mallory, a member, sends epoch-1 messages before bob's bundle: two authentic ones that do not
    // decode (not a Plaintext; a Plaintext whose app message is not one), then a good one.
    await sendRawGroupMessage(malloryDb, malloryTransport, groupId, new Uint8Array([0xff, 0xff, 0xff, 0xff]));
    await sendRawGroupMessage(
      malloryDb,
      malloryTransport,
      groupId,
      toBinary(PlaintextSchema, create(PlaintextSchema, { version: 1, payload: { case: 'commonMsg', value: new Uint8Array([0xff, 0xff, 0xff]) } })),
    );
    await mallory.sendGroupMessage(groupId, 'held-good');
    gated.open();

    await bobJoined;
    expect((await bob.groupInfo(groupId)).epoch).toBe(1n);
    expect(await until(() => bobGot.group.includes('held-good'), 10_000)).toBe(true);
    const malformed = () => bobErrors.filter((e) => e.code === 'ERR_MALFORMED_MESSAGE');
    expect(await until(() => malformed().length >= 2, 5_000)).toBe(true);

    // The live path: the same kind of message is reported as a typed error, and what follows decrypts.
    await sendRawGroupMessage(malloryDb, malloryTransport, groupId, new Uint8Array([0xff, 0xff]));
    await mallory.sendGroupMessage(groupId, 'live-good');
    await alice.sendGroupMessage(groupId, 'from-alice');
    expect(await until(() => bobGot.group.includes('live-good') && bobGot.group.includes('from-alice'), 10_000)).toBe(true);
    expect(await until(() => malformed().length >= 3, 5_000)).toBe(true);
    expect(bobGot.group.sort()).toEqual(['from-alice', 'held-good', 'live-good']);
    // Nothing waits any more.
    expect((await heldIn(bobDb)).count).toBe(0);
  }, 60_000);

  it("attack 8: a stranger's group is held only within a small allowance, at constant work per message, and the idle purge reads no held message", async () => {
    const inner = createMemoryDatabase();
    const counting = countingDatabase(inner);
    const victim = await server.started(createClient({ server: server.url, deviceId: 'victim', suite: 2, database: counting.db }));
    const errors = errorsOf(victim);
    const limitErrors = (): number => errors.filter((e) => e.code === 'ERR_HELD_LIMIT').length;
    const rpc = connect(server.url);
    const attacker = await registerUser(rpc, 2);

    const newGroup = async (name: string): Promise<{ groupId: string; to: E2eeAddress }> => {
      const created = await rpc.createGroup({ groupName: name, members: [{ userId: victim.address.userId }] }, attacker.auth);
      expect(created.code).toBe(ResponseCode.CREATED);
      const to = created.groupAddress as E2eeAddress;
      const groupId = to.peer.case === 'group' ? to.peer.value.groupId : '';
      // The victim learns of the group (the server announces epoch 0, so its messages are held).
      expect(await until(() => inner.transaction(async (tx) => (await tx.get('groups', groupId)) !== undefined), 10_000)).toBe(true);
      return { groupId, to };
    };
    const flood = async (group: { groupId: string; to: E2eeAddress }, n: number, bodyBytes: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const msg = create(E2eeMsgSchema, {
          version: 2,
          suiteId: 2,
          from: attacker.address,
          to: group.to,
          payload: { case: 'groupMsg', value: { epoch: 0n, messageIndex: i, ciphertext: new Uint8Array(bodyBytes).fill(i & 0xff) } },
        });
        const sent = await rpc.sendGroupMsg({ msg }, attacker.auth);
        expect(sent.code).toBe(ResponseCode.OK);
      }
    };
    const settle = async (done: () => Promise<boolean>): Promise<void> => {
      await until(done, 15_000, 20);
    };

    // Three batches of 16 small messages into one group: filling to 16, filling to 32, over the allowance.
    const a = await newGroup('spam-a');
    const batch = 16;
    const perMessage: Array<{ all: number; held: number }> = [];
    for (let round = 0; round < 3; round++) {
      const before = rowsRead(counting.rows);
      const errorsBefore = limitErrors();
      const heldBefore = (await heldIn(inner, a.groupId)).count;
      await flood(a, batch, 200);
      await settle(async () => (await heldIn(inner, a.groupId)).count - heldBefore + (limitErrors() - errorsBefore) >= batch);
      const after = rowsRead(counting.rows);
      perMessage.push({ all: (after.all - before.all) / batch, held: (after.held - before.held) / batch });
    }
    const heldA = await heldIn(inner, a.groupId);
    const summary = `rows read per processed message by batch: ${JSON.stringify(perMessage)}; held in group a: ${heldA.count}`;
    // The work per message does not grow with the number held (it would be about 2 rows per held message).
    for (const round of perMessage) {
      expect(round.all, summary).toBeLessThanOrEqual((perMessage[0] as { all: number }).all + 2);
      expect(round.held, summary).toBeLessThanOrEqual(4);
    }
    expect(heldA.count, summary).toBe(MAX_HELD_PER_UNJOINED_GROUP);
    expect(limitErrors(), summary).toBe(3 * batch - MAX_HELD_PER_UNJOINED_GROUP);

    // Large messages: the byte bound of a not-joined group.
    const b = await newGroup('spam-b');
    const large = 200 * 1024;
    const sentLarge = Math.ceil((2 * MAX_HELD_BYTES_PER_UNJOINED_GROUP) / large);
    const errorsBeforeB = limitErrors();
    await flood(b, sentLarge, large);
    await settle(async () => (await heldIn(inner, b.groupId)).count + (limitErrors() - errorsBeforeB) >= sentLarge);
    const heldB = await heldIn(inner, b.groupId);
    expect(heldB.bytes).toBeLessThanOrEqual(MAX_HELD_BYTES_PER_UNJOINED_GROUP);
    expect(heldB.count).toBeGreaterThan(0);
    expect(heldB.count + (limitErrors() - errorsBeforeB)).toBe(sentLarge);

    // More stranger groups: all not-joined groups together stay within their allowance.
    const more = [await newGroup('spam-c'), await newGroup('spam-d'), await newGroup('spam-e'), await newGroup('spam-f')];
    const errorsBeforeMore = limitErrors();
    const heldBeforeMore = (await heldIn(inner)).count;
    for (const g of more) await flood(g, MAX_HELD_PER_UNJOINED_GROUP, 200);
    const sentMore = more.length * MAX_HELD_PER_UNJOINED_GROUP;
    await settle(async () => (await heldIn(inner)).count - heldBeforeMore + (limitErrors() - errorsBeforeMore) >= sentMore);
    const total = await heldIn(inner);
    expect(total.count).toBeLessThanOrEqual(MAX_HELD_UNJOINED_TOTAL);
    expect(total.bytes).toBeLessThanOrEqual(MAX_HELD_UNJOINED_BYTES_TOTAL);
    expect(total.count - heldBeforeMore + (limitErrors() - errorsBeforeMore)).toBe(sentMore);

    // Idle: the purge timer runs every second and nothing has expired, so it reads no held message.
    // Each tick reads the all-groups tally (meta:held) once, which counts the ticks that ran.
    const ticks = (): number => counting.keys.get('meta:held') ?? 0;
    const idleBefore = rowsRead(counting.rows);
    const ticksBefore = ticks();
    expect(await until(() => ticks() - ticksBefore >= 2, 10_000, 20), 'two maintenance ticks ran').toBe(true);
    const idleAfter = rowsRead(counting.rows);
    const ran = ticks() - ticksBefore;
    expect(idleAfter.held - idleBefore.held, `rows of held-message namespaces read in ${ran} idle ticks (${total.count} held)`).toBe(0);
    expect(idleAfter.all - idleBefore.all, `rows read in ${ran} idle ticks`).toBeLessThanOrEqual(ran * 4);
  }, 60_000);
});

describe('held-message records (counters, queue, rebuild)', () => {
  const heldMessage = (id: string, heldAt: number, size = 100) =>
    create(HeldGroupMessageSchema, {
      protoMsg: create(ProtoMsgSchema, {
        id,
        payload: { case: 'e2eeMsg', value: create(E2eeMsgSchema, { version: 2, payload: { case: 'groupMsg', value: { ciphertext: new Uint8Array(size) } } }) },
      }),
      heldAt: BigInt(heldAt),
    });
  const run = <T>(db: DatabaseHandler, fn: (r: Records) => Promise<T>): Promise<T> => db.transaction((tx) => fn(new Records(tx)));

  it('purges in the order held, reading one record while nothing is due, and skips the gaps released messages leave', async () => {
    const counting = countingDatabase(createMemoryDatabase());
    const db = counting.db;
    for (const [group, id, at] of [
      ['a', '1', 100],
      ['b', '2', 200],
      ['a', '3', 300],
      ['b', '4', 400],
    ] as const) {
      expect(await run(db, (r) => r.held.hold(group, heldMessage(id, at), true, HELD_LIMITS))).toBeUndefined();
    }
    expect(await run(db, (r) => r.held.countAll())).toBe(4);
    // Group a's messages are released (its bundle came): gaps at the head and in the middle.
    await run(db, async (r) => r.held.drop('a', await r.held.list('a')));
    expect(await run(db, (r) => r.held.count('a'))).toBe(0);
    // The first purge after that finds the new head (b's first message); later ones read only the tally.
    let before = rowsRead(counting.rows).all;
    expect(await run(db, (r) => r.held.purge(150n))).toBe(0);
    expect(rowsRead(counting.rows).all - before).toBe(2);
    before = rowsRead(counting.rows).all;
    expect(await run(db, (r) => r.held.purge(150n))).toBe(0);
    expect(rowsRead(counting.rows).all - before, 'rows read by a purge with nothing due').toBe(1);
    expect(await run(db, (r) => r.held.purge(250n))).toBe(1);
    expect((await run(db, (r) => r.held.list('b'))).map((e) => e.value.protoMsg?.id)).toEqual(['4']);
    const after = rowsRead(counting.rows).all;
    expect(await run(db, (r) => r.held.purge(250n))).toBe(0);
    expect(rowsRead(counting.rows).all - after).toBe(1);
    expect(await run(db, (r) => r.held.purge(1000n))).toBe(1);
    expect(await run(db, (r) => r.held.usage())).toEqual({ count: 0, bytes: 0n, unjoinedCount: 0, unjoinedBytes: 0n });
  });

  it('keeps the not-joined allowance apart, and moves a group out of it when it is joined', async () => {
    const db = createMemoryDatabase();
    const limits = { ...HELD_LIMITS, unjoinedGroup: { count: 2, bytes: 1 << 20 }, unjoined: { count: 3, bytes: 1 << 20 } };
    expect(await run(db, (r) => r.held.hold('s1', heldMessage('1', 1), false, limits))).toBeUndefined();
    expect(await run(db, (r) => r.held.hold('s1', heldMessage('2', 1), false, limits))).toBeUndefined();
    expect(await run(db, (r) => r.held.hold('s1', heldMessage('3', 1), false, limits))).toMatch(/not joined/);
    expect(await run(db, (r) => r.held.hold('s2', heldMessage('4', 1), false, limits))).toBeUndefined();
    // The pool of all not-joined groups is full: a new group's message evicts the oldest of another group's.
    const evicted: HeldEviction[] = [];
    expect(await run(db, (r) => r.held.hold('s3', heldMessage('5', 1), false, limits, evicted))).toBeUndefined();
    expect(evicted.map((e) => e.groupId)).toEqual(['s1']);
    expect((await run(db, (r) => r.held.list('s1'))).map((e) => e.value.protoMsg?.id)).toEqual(['2']);
    // A group this device is in is not held against the not-joined allowance.
    expect(await run(db, (r) => r.held.hold('mine', heldMessage('6', 1), true, limits))).toBeUndefined();
    await run(db, (r) => r.held.markJoined('s1'));
    const usage = await run(db, (r) => r.held.usage());
    expect([usage.count, usage.unjoinedCount]).toEqual([4, 2]);
    expect(await run(db, (r) => r.held.hold('s1', heldMessage('7', 1), true, limits))).toBeUndefined();
    expect(await run(db, (r) => r.held.hold('s3', heldMessage('8', 1), false, limits))).toBeUndefined();
    // Full again (s2, s3, s3): a group's own messages never make room for it, and joined groups' are never evicted.
    evicted.length = 0;
    expect(await run(db, (r) => r.held.hold('s3', heldMessage('9', 1), false, { ...limits, unjoinedGroup: { count: 3, bytes: 1 << 20 } }, evicted))).toBeUndefined();
    expect(evicted.map((e) => e.groupId)).toEqual(['s2']);
    expect(await run(db, (r) => r.held.hold('s3', heldMessage('10', 1), false, { ...limits, unjoinedGroup: { count: 4, bytes: 1 << 20 } }))).toMatch(
      /all groups this device has not joined/,
    );
    expect((await run(db, (r) => r.held.list('s1'))).map((e) => e.value.protoMsg?.id)).toEqual(['2', '7']);
    expect((await run(db, (r) => r.held.list('mine'))).length).toBe(1);
    expect(await run(db, (r) => r.held.usage())).toMatchObject({ count: 6, unjoinedCount: 3 });
    // Byte bounds count the stored message.
    const small = { ...HELD_LIMITS, unjoinedGroup: { count: 100, bytes: 1000 } };
    expect(await run(db, (r) => r.held.hold('big', heldMessage('9', 1, 2000), false, small))).toMatch(/used up/);
  });

  it('rebuilds counters and index from held messages stored without them (older databases)', async () => {
    const db = createMemoryDatabase();
    await db.transaction(async (tx) => {
      // The layout before counters: held/<group>/<shared sequence>, nothing else.
      await tx.put('held', 'g%2F1/00000000000000000007', toBinary(HeldGroupMessageSchema, heldMessage('a', 300)));
      await tx.put('held', 'g%2F1/00000000000000000003', toBinary(HeldGroupMessageSchema, heldMessage('b', 100)));
      await tx.put('held', 'h/00000000000000000005', toBinary(HeldGroupMessageSchema, heldMessage('c', 200)));
    });
    expect(await run(db, (r) => r.held.countAll())).toBe(3);
    expect(await run(db, (r) => r.held.count('g/1'))).toBe(2);
    expect((await run(db, (r) => r.held.list('g/1'))).map((e) => e.value.protoMsg?.id)).toEqual(['b', 'a']);
    expect((await run(db, (r) => r.held.usage())).unjoinedCount).toBe(3);
    expect(await run(db, (r) => r.held.purge(250n))).toBe(2);
    expect((await run(db, (r) => r.held.list('g/1'))).map((e) => e.value.protoMsg?.id)).toEqual(['a']);
    expect(await run(db, (r) => r.held.count('h'))).toBe(0);
  });

  it('rebuilds the index of not-joined messages when it is missing, before evicting from it', async () => {
    const db = createMemoryDatabase();
    const limits = { ...HELD_LIMITS, unjoinedGroup: { count: 2, bytes: 1 << 20 }, unjoined: { count: 2, bytes: 1 << 20 } };
    expect(await run(db, (r) => r.held.hold('s1', heldMessage('1', 1), false, limits))).toBeUndefined();
    expect(await run(db, (r) => r.held.hold('s2', heldMessage('2', 2), false, limits))).toBeUndefined();
    // A database written before the index existed: tallies, but no held-unjoined rows.
    await db.transaction(async (tx) => {
      for (const { key } of await tx.list('held-unjoined')) await tx.delete('held-unjoined', key);
    });
    const evicted: HeldEviction[] = [];
    expect(await run(db, (r) => r.held.hold('s3', heldMessage('3', 3), false, limits, evicted))).toBeUndefined();
    expect(evicted.map((e) => e.groupId)).toEqual(['s1']);
    expect(await run(db, (r) => r.held.usage())).toMatchObject({ count: 2, unjoinedCount: 2 });
  });

  it('keeps at most a bound of records of groups not joined, forgetting the oldest with its held messages, never a joined one', async () => {
    const counting = countingDatabase(createMemoryDatabase());
    const db = counting.db;
    const note = async (groupId: string, max = 2): Promise<string[]> =>
      run(db, async (r) => {
        await r.groups.put(groupId, create(GroupRecordSchema, {}));
        return (await r.groups.noteUnjoined(groupId, max)).map((f) => f.groupId);
      });
    const groups = async (): Promise<string[]> => db.transaction(async (tx) => (await tx.list('groups')).map((row) => row.key));
    expect(await note('a')).toEqual([]);
    expect(await run(db, (r) => r.held.hold('a', heldMessage('1', 1), false, HELD_LIMITS))).toBeUndefined();
    expect(await note('b')).toEqual([]);
    expect(await note('b')).toEqual([]);
    expect(await run(db, (r) => r.groups.countUnjoined())).toBe(2);
    // Over the bound: the oldest (a) goes, with its held message.
    expect(await note('c')).toEqual(['a']);
    expect(await groups()).toEqual(['b', 'c']);
    expect(await run(db, (r) => r.held.usage())).toMatchObject({ count: 0, unjoinedCount: 0 });
    // b is joined: it leaves the count (a gap the next eviction skips once) and is never forgotten.
    await run(db, async (r) => {
      await r.groups.putSession('b', new Uint8Array([1]));
      await r.groups.forgetUnjoined('b');
    });
    expect(await run(db, (r) => r.groups.countUnjoined())).toBe(1);
    expect(await note('d')).toEqual([]);
    const before = rowsRead(counting.rows).all;
    expect(await note('e')).toEqual(['c']);
    expect(rowsRead(counting.rows).all - before, 'rows read by a notice that evicts one').toBeLessThanOrEqual(10);
    expect(await groups()).toEqual(['b', 'd', 'e']);
    // A group that got a session without being taken off the count is only taken off, never deleted.
    await run(db, (r) => r.groups.putSession('d', new Uint8Array([1])));
    expect(await note('f')).toEqual([]);
    expect(await groups()).toEqual(['b', 'd', 'e', 'f']);
    expect(await run(db, (r) => r.groups.countUnjoined())).toBe(2);
  });
});
