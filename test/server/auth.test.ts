// Registration and authentication against a real `pqe2ee server` process: every suite, device
// links, replayed/expired challenges, bad signatures, wrong-size keys, tokens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Account } from '../../src/protocol/account.js';
import { getSuite } from '../../src/crypto/index.js';
import {
  bearer,
  cleanupDirs,
  connect,
  deviceAddress,
  randomId,
  registerDevice,
  registerUser,
  ResponseCode,
  type ServerProcess,
  type ServiceClient,
  spawnServer,
  StreamReader,
} from '../support/index.js';

const u8 = (b: Uint8Array | undefined): Uint8Array => Uint8Array.from(b ?? []);

let server: ServerProcess;
let client: ServiceClient;

beforeAll(async () => {
  server = await spawnServer();
  client = connect(server.url);
});

afterAll(async () => {
  await server?.stop();
  cleanupDirs();
});

async function registrationRequest(account: Account, suite: number, userId = '', deviceId = randomId('device')) {
  const challenge = await client.getChallenge({});
  return {
    challenge,
    request: {
      suiteId: suite,
      userId,
      deviceId,
      userName: 'someone',
      identityKey: account.identityPublicKey,
      signedPreKey: account.signedPreKeyPublic(),
      oneTimePreKeys: account.oneTimePreKeyPublics(),
      challengeId: challenge.challengeId,
      challengeSignature: account.signServerChallenge(challenge.domain, challenge.challenge, userId, deviceId),
    },
  };
}

describe('register, authenticate, fetch a bundle', () => {
  for (const suite of [1, 2, 3]) {
    it(`suite ${suite}`, async () => {
      const alice = await registerUser(client, suite);
      expect(alice.address.domain).toBe('localhost');
      expect(alice.userId).toMatch(/^[0-9a-f]{32}$/);
      expect(Buffer.from(alice.token, 'base64url')).toHaveLength(32);

      const challenge = await client.getChallenge({});
      expect(challenge.code).toBe(ResponseCode.OK);
      expect(challenge.challenge).toHaveLength(32);
      const signature = alice.account.signServerChallenge(challenge.domain, challenge.challenge, alice.userId, alice.deviceId);
      const auth = await client.authenticate({ address: alice.address, challengeId: challenge.challengeId, signature });
      expect(auth.code).toBe(ResponseCode.OK);
      expect(Number(auth.expiresAt)).toBeGreaterThan(Date.now() + 23 * 3600 * 1000);

      const bob = await registerUser(client, 2);
      const bundles = await client.getPreKeyBundle({ userId: alice.userId, deviceId: '' }, bearer(auth.token));
      expect(bundles.code).toBe(ResponseCode.OK);
      expect(bundles.preKeyBundles).toHaveLength(1);
      const bundle = bundles.preKeyBundles[0]!;
      expect(bundle.version).toBe(2);
      expect(bundle.suiteId).toBe(suite);
      expect(bundle.address?.peer.case === 'user' && bundle.address.peer.value.deviceId).toBe(alice.deviceId);
      expect(u8(bundle.identityKey?.signPublicKey)).toEqual(alice.account.identityPublicKey.signPublicKey);
      expect(u8(bundle.signedPreKey?.publicKey)).toEqual(alice.account.signedPreKeyPublic().publicKey);
      expect(bundle.oneTimePreKey?.publicKey).toHaveLength(getSuite(suite).params.kemPublicKeyBytes);
      // Bob (another user) can fetch it too.
      const again = await client.getPreKeyBundle({ userId: alice.userId, deviceId: alice.deviceId }, bob.auth);
      expect(again.code).toBe(ResponseCode.OK);
      expect(again.preKeyBundles[0]!.oneTimePreKey?.opkId).not.toBe(bundle.oneTimePreKey?.opkId);
    });
  }
});

describe('challenges', () => {
  it('a challenge is single use: replaying it is UNAUTHORIZED', async () => {
    const alice = await registerUser(client);
    const challenge = await client.getChallenge({});
    const signature = alice.account.signServerChallenge(challenge.domain, challenge.challenge, alice.userId, alice.deviceId);
    expect((await client.authenticate({ address: alice.address, challengeId: challenge.challengeId, signature })).code).toBe(ResponseCode.OK);
    const replay = await client.authenticate({ address: alice.address, challengeId: challenge.challengeId, signature });
    expect(replay.code).toBe(ResponseCode.UNAUTHORIZED);
    expect(replay.token).toBe('');
  });

  it('a registration challenge cannot be reused', async () => {
    const account = Account.create({ suite: 2, now: Date.now() });
    const { request } = await registrationRequest(account, 2);
    expect((await client.registerUser(request)).code).toBe(ResponseCode.CREATED);
    const replay = await client.registerUser({ ...request, deviceId: request.deviceId });
    expect(replay.code).toBe(ResponseCode.UNAUTHORIZED);
  });

  it('unknown challenge id, wrong signature, wrong device and unknown device are UNAUTHORIZED', async () => {
    const alice = await registerUser(client);
    const bob = await registerUser(client);
    let challenge = await client.getChallenge({});
    const good = alice.account.signServerChallenge(challenge.domain, challenge.challenge, alice.userId, alice.deviceId);
    expect((await client.authenticate({ address: alice.address, challengeId: 'nope', signature: good })).code).toBe(ResponseCode.UNAUTHORIZED);
    // Signed by bob's key for alice's address.
    challenge = await client.getChallenge({});
    const bobs = bob.account.signServerChallenge(challenge.domain, challenge.challenge, alice.userId, alice.deviceId);
    expect((await client.authenticate({ address: alice.address, challengeId: challenge.challengeId, signature: bobs })).code).toBe(ResponseCode.UNAUTHORIZED);
    // Alice's signature for another domain.
    challenge = await client.getChallenge({});
    const otherDomain = alice.account.signServerChallenge('example.org', challenge.challenge, alice.userId, alice.deviceId);
    expect((await client.authenticate({ address: alice.address, challengeId: challenge.challengeId, signature: otherDomain })).code).toBe(ResponseCode.UNAUTHORIZED);
    // Unknown device.
    challenge = await client.getChallenge({});
    const unknown = alice.account.signServerChallenge(challenge.domain, challenge.challenge, alice.userId, 'no-such-device');
    const res = await client.authenticate({ address: deviceAddress('localhost', alice.userId, 'no-such-device'), challengeId: challenge.challengeId, signature: unknown });
    expect(res.code).toBe(ResponseCode.UNAUTHORIZED);
  });
});

describe('registration input checks (nothing stored)', () => {
  it('unknown suite, wrong-length keys, bad SPK signature, bad strings are BAD_REQUEST', async () => {
    const account = Account.create({ suite: 2, now: Date.now() });
    const cases: [string, (r: Awaited<ReturnType<typeof registrationRequest>>['request']) => void][] = [
      ['unknown suite', (r) => (r.suiteId = 99)],
      ['suite 0', (r) => (r.suiteId = 0)],
      ['short sign key', (r) => (r.identityKey = { ...r.identityKey, signPublicKey: r.identityKey.signPublicKey.subarray(1) } as typeof r.identityKey)],
      ['long kem key', (r) => (r.identityKey = { ...r.identityKey, kemPublicKey: new Uint8Array(r.identityKey.kemPublicKey.length + 1) } as typeof r.identityKey)],
      ['short spk', (r) => (r.signedPreKey = { ...r.signedPreKey, publicKey: r.signedPreKey.publicKey.subarray(2) } as typeof r.signedPreKey)],
      [
        'spk signature flipped',
        (r) => {
          const sig = Uint8Array.from(r.signedPreKey.signature);
          sig[0]! ^= 1;
          r.signedPreKey = { ...r.signedPreKey, signature: sig } as typeof r.signedPreKey;
        },
      ],
      ['spk id changed', (r) => (r.signedPreKey = { ...r.signedPreKey, spkId: r.signedPreKey.spkId + 1 } as typeof r.signedPreKey)],
      ['wrong-size opk', (r) => (r.oneTimePreKeys = [{ ...r.oneTimePreKeys[0]!, publicKey: new Uint8Array(5) } as (typeof r.oneTimePreKeys)[0]])],
      ['duplicate opk ids', (r) => (r.oneTimePreKeys = [r.oneTimePreKeys[0]!, r.oneTimePreKeys[0]!])],
      ['empty device id', (r) => (r.deviceId = '')],
      ['long device id', (r) => (r.deviceId = 'x'.repeat(257))],
      ['control character in name', (r) => (r.userName = 'a\u0000b')],
      ['long user name', (r) => (r.userName = 'n'.repeat(300))],
    ];
    for (const [name, mutate] of cases) {
      const { request } = await registrationRequest(account, 2);
      mutate(request);
      const response = await client.registerUser(request);
      expect(response.code, name).toBe(ResponseCode.BAD_REQUEST);
      expect(response.reason, name).not.toBe('');
      expect(response.token, name).toBe('');
    }
    // The challenge was not consumed by those refusals? Not promised; a fresh registration works.
    const { request } = await registrationRequest(account, 2);
    expect((await client.registerUser(request)).code).toBe(ResponseCode.CREATED);
  });

  it('a challenge signed for another device id is UNAUTHORIZED', async () => {
    const account = Account.create({ suite: 2, now: Date.now() });
    const { request } = await registrationRequest(account, 2);
    const response = await client.registerUser({ ...request, deviceId: 'other-device' });
    expect(response.code).toBe(ResponseCode.UNAUTHORIZED);
  });
});

describe('new devices of a user', () => {
  it('a linked device registers; peers who invited the user and own devices get NewUserDeviceMsg', async () => {
    const alice = await registerUser(client);
    const bob = await registerUser(client);
    // Bob invites alice: bob now watches alice.
    const invite = await client.invite({ msg: { version: 1, suiteId: 2, sessionId: 's1', from: bob.address, to: alice.address } }, bob.auth);
    expect(invite.code).toBe(ResponseCode.OK);
    const bobStream = new StreamReader(client, bob);
    const aliceStream = new StreamReader(client, alice);
    const alice2 = await registerDevice(client, alice);
    expect(alice2.userId).toBe(alice.userId);
    await bobStream.until((r) => r.messages.some((m) => m.payload.case === 'newUserDeviceMsg'));
    await aliceStream.until((r) => r.messages.some((m) => m.payload.case === 'newUserDeviceMsg'));
    const notice = bobStream.messages.find((m) => m.payload.case === 'newUserDeviceMsg')!;
    expect(notice.payload.case === 'newUserDeviceMsg' && notice.payload.value.userAddress?.peer.value).toMatchObject({ userId: alice.userId, deviceId: alice2.deviceId });
    // The new device can fetch its sibling's bundle and the user's bundles now list two devices.
    const bundles = await client.getPreKeyBundle({ userId: alice.userId, deviceId: '' }, bob.auth);
    expect(bundles.preKeyBundles.map((b) => b.address?.peer.case === 'user' && b.address.peer.value.deviceId).sort()).toEqual([alice.deviceId, alice2.deviceId].sort());
    // UpdateUser reaches bob (watcher) and alice's other device.
    expect((await client.updateUser({ userName: 'Alice' }, alice2.auth)).code).toBe(ResponseCode.OK);
    await bobStream.until((r) => r.messages.some((m) => m.payload.case === 'updateUserMsg' && m.payload.value.userName === 'Alice'));
    await aliceStream.until((r) => r.messages.some((m) => m.payload.case === 'updateUserMsg'));
    bobStream.close();
    aliceStream.close();
  });

  it('refuses missing or forged device links, unknown users and duplicate device ids', async () => {
    const alice = await registerUser(client);
    const mallory = await registerUser(client);
    const account = Account.create({ suite: 2, now: Date.now() });
    const deviceId = randomId('device');
    let { request, challenge } = await registrationRequest(account, 2, alice.userId, deviceId);
    expect((await client.registerUser(request)).code).toBe(ResponseCode.UNAUTHORIZED); // no link
    ({ request, challenge } = await registrationRequest(account, 2, alice.userId, deviceId));
    const forged = mallory.account.signDeviceLink(challenge.domain, alice.userId, deviceId, account.identityPublicKey);
    expect((await client.registerUser({ ...request, deviceLink: { linkingDeviceId: alice.deviceId, signature: forged } })).code).toBe(ResponseCode.UNAUTHORIZED);
    ({ request, challenge } = await registrationRequest(account, 2, 'no-such-user', deviceId));
    const link = alice.account.signDeviceLink(challenge.domain, 'no-such-user', deviceId, account.identityPublicKey);
    expect((await client.registerUser({ ...request, deviceLink: { linkingDeviceId: alice.deviceId, signature: link } })).code).toBe(ResponseCode.NOT_FOUND);
    // Linking with the device id of an existing device is a conflict.
    ({ request, challenge } = await registrationRequest(account, 2, alice.userId, alice.deviceId));
    const dup = alice.account.signDeviceLink(challenge.domain, alice.userId, alice.deviceId, account.identityPublicKey);
    expect((await client.registerUser({ ...request, deviceLink: { linkingDeviceId: alice.deviceId, signature: dup } })).code).toBe(ResponseCode.REQUEST_CONFLICT);
    // None of this added a device.
    const bundles = await client.getPreKeyBundle({ userId: alice.userId, deviceId: '' }, mallory.auth);
    expect(bundles.preKeyBundles).toHaveLength(1);
  });
});

describe('tokens', () => {
  it('missing, malformed and unknown tokens are UNAUTHORIZED responses', async () => {
    const alice = await registerUser(client);
    const calls = [
      (o?: object) => client.getPreKeyBundle({ userId: alice.userId }, o),
      (o?: object) => client.updateUser({ userName: 'x' }, o),
      (o?: object) => client.consumeProtoMsg({ protoMsgId: '1' }, o),
      (o?: object) => client.supplyOpks({}, o),
      (o?: object) => client.createGroup({ groupName: 'g' }, o),
    ];
    for (const call of calls) {
      expect((await call()).code).toBe(ResponseCode.UNAUTHORIZED);
      expect((await call(bearer('A'.repeat(43)))).code).toBe(ResponseCode.UNAUTHORIZED);
      expect((await call({ headers: { authorization: `Basic ${alice.token}` } })).code).toBe(ResponseCode.UNAUTHORIZED);
      expect((await call(alice.auth)).code).not.toBe(ResponseCode.UNAUTHORIZED);
    }
  });

  it('Subscribe without a token fails with a Connect error', async () => {
    const stream = client.subscribe({});
    await expect(
      (async () => {
        for await (const _ of stream) return;
      })(),
    ).rejects.toThrow(/token/);
  });
});
