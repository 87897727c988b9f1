// Pre-keys against a real `pqe2ee server` process: one-time pre-keys handed out once (also under
// 50 parallel fetches), exhaustion, one SupplyOpkMsg per low period, SupplyOpks and PublishSpk checks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBinary } from '@bufbuild/protobuf';
import { OneTimePreKeyPublicSchema } from '../../src/proto/gen/wire_pb.js';
import { cleanupDirs, connect, one2one, registerUser, ResponseCode, type ServerProcess, type ServiceClient, spawnServer, StreamReader, textOf } from '../support/index.js';

let server: ServerProcess;
let client: ServiceClient;

beforeAll(async () => {
  server = await spawnServer(['--rate-limit', '0', '--max-opks', '150']);
  client = connect(server.url);
});

afterAll(async () => {
  await server?.stop();
  cleanupDirs();
});

describe('one-time pre-keys', () => {
  it('50 parallel bundle fetches never hand out one key twice', async () => {
    const alice = await registerUser(client);
    const fetchers = await Promise.all(Array.from({ length: 5 }, () => registerUser(client)));
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => client.getPreKeyBundle({ userId: alice.userId, deviceId: alice.deviceId }, fetchers[i % 5]!.auth)));
    const ids = responses.map((r) => {
      expect(r.code).toBe(ResponseCode.OK);
      return r.preKeyBundles[0]!.oneTimePreKey!.opkId;
    });
    expect(new Set(ids).size).toBe(50);
    const known = new Set(alice.account.oneTimePreKeyPublics().map((k) => k.opkId));
    expect(ids.every((id) => known.has(id))).toBe(true);
  });

  it('runs out, queues exactly one SupplyOpkMsg until resupplied, then again after the next low', async () => {
    const alice = await registerUser(client);
    const bob = await registerUser(client);
    const fetch = () => client.getPreKeyBundle({ userId: alice.userId, deviceId: '' }, bob.auth);
    // 100 keys: fetch 91 → 9 left (< 10) → one SupplyOpkMsg.
    for (let i = 0; i < 91; i++) await fetch();
    const stream = new StreamReader(client, alice);
    await stream.until((r) => r.heartbeats >= 1);
    expect(stream.messages.map((m) => m.payload.case)).toEqual(['supplyOpkMsg']);
    const notice = stream.messages[0]!;
    expect(notice.payload.case === 'supplyOpkMsg' && notice.payload.value.available).toBe(9);
    for (let i = 0; i < 9; i++) expect((await fetch()).preKeyBundles[0]!.oneTimePreKey).toBeDefined();
    const empty = await fetch();
    expect(empty.code).toBe(ResponseCode.OK);
    expect(empty.preKeyBundles[0]!.oneTimePreKey).toBeUndefined();
    expect(empty.preKeyBundles[0]!.signedPreKey?.publicKey.length).toBeGreaterThan(0);
    // A message queued after those fetches: once it arrives, a second notice would have too.
    expect((await client.sendOne2oneMsg({ msg: one2one(bob, alice.address, 'sentinel') }, bob.auth)).code).toBe(ResponseCode.OK);
    await stream.until((r) => r.messages.some((m) => textOf(m) === 'sentinel'));
    expect(stream.messages.filter((m) => m.payload.case === 'supplyOpkMsg')).toHaveLength(1);

    // Resupply 20 (fresh ids), then going low again queues a second notice.
    const more = alice.account.publishOneTimePreKeys(20).map(decodeOpk);
    const supplied = await client.supplyOpks({ oneTimePreKeys: more }, alice.auth);
    expect(supplied.code).toBe(ResponseCode.OK);
    expect(supplied.available).toBe(20);
    // Same ids again → REQUEST_CONFLICT, nothing added.
    const dup = await client.supplyOpks({ oneTimePreKeys: more.slice(0, 1) }, alice.auth);
    expect(dup.code).toBe(ResponseCode.REQUEST_CONFLICT);
    expect(dup.available).toBe(20);
    for (let i = 0; i < 11; i++) await fetch();
    await stream.until((r) => r.messages.filter((m) => m.payload.case === 'supplyOpkMsg').length === 2);
    stream.close();
  });

  it('SupplyOpks refuses wrong sizes, duplicates within the request and more than the per-device maximum', async () => {
    const alice = await registerUser(client);
    const fresh = alice.account.publishOneTimePreKeys(60).map(decodeOpk);
    expect((await client.supplyOpks({ oneTimePreKeys: [{ opkId: 100000, publicKey: new Uint8Array(31) }] }, alice.auth)).code).toBe(ResponseCode.BAD_REQUEST);
    expect((await client.supplyOpks({ oneTimePreKeys: [fresh[0]!, fresh[0]!] }, alice.auth)).code).toBe(ResponseCode.BAD_REQUEST);
    // 100 stored + 60 > 150.
    const tooMany = await client.supplyOpks({ oneTimePreKeys: fresh }, alice.auth);
    expect(tooMany.code).toBe(ResponseCode.BAD_REQUEST);
    expect(tooMany.available).toBe(100);
    const ok = await client.supplyOpks({ oneTimePreKeys: fresh.slice(0, 50) }, alice.auth);
    expect(ok.code).toBe(ResponseCode.OK);
    expect(ok.available).toBe(150);
  });
});

describe('signed pre-keys', () => {
  it('PublishSpk replaces the SPK after checking its signature', async () => {
    const alice = await registerUser(client);
    const bob = await registerUser(client);
    const later = Date.now() + 8 * 24 * 3600 * 1000;
    expect(alice.account.renewSignedPreKeyIfDue(later)).toBe(true);
    const spk = alice.account.signedPreKeyPublic();
    const flipped = Uint8Array.from(spk.signature);
    flipped[3]! ^= 1;
    expect((await client.publishSpk({ signedPreKey: { ...spk, signature: flipped } }, alice.auth)).code).toBe(ResponseCode.BAD_REQUEST);
    expect((await client.publishSpk({ signedPreKey: { ...spk, publicKey: spk.publicKey.subarray(1) } }, alice.auth)).code).toBe(ResponseCode.BAD_REQUEST);
    expect((await client.publishSpk({}, alice.auth)).code).toBe(ResponseCode.BAD_REQUEST);
    // Bob's SPK signed by bob is not valid for alice.
    expect((await client.publishSpk({ signedPreKey: bob.account.signedPreKeyPublic() }, alice.auth)).code).toBe(ResponseCode.BAD_REQUEST);
    expect((await client.publishSpk({ signedPreKey: spk }, alice.auth)).code).toBe(ResponseCode.OK);
    const bundle = await client.getPreKeyBundle({ userId: alice.userId }, bob.auth);
    expect(bundle.preKeyBundles[0]!.signedPreKey?.spkId).toBe(spk.spkId);
    expect(Uint8Array.from(bundle.preKeyBundles[0]!.signedPreKey!.publicKey)).toEqual(Uint8Array.from(spk.publicKey));
  });

  it('GetPreKeyBundle of unknown users or devices is NOT_FOUND', async () => {
    const alice = await registerUser(client);
    expect((await client.getPreKeyBundle({ userId: 'nobody' }, alice.auth)).code).toBe(ResponseCode.NOT_FOUND);
    expect((await client.getPreKeyBundle({ userId: alice.userId, deviceId: 'nope' }, alice.auth)).code).toBe(ResponseCode.NOT_FOUND);
    expect((await client.getPreKeyBundle({ userId: '' }, alice.auth)).code).toBe(ResponseCode.BAD_REQUEST);
  });
});

function decodeOpk(bytes: Uint8Array) {
  return fromBinary(OneTimePreKeyPublicSchema, bytes);
}
