/**
 * Accounts: signing in (GetChallenge, Authenticate), registering a user or another device of one
 * (RegisterUser) and renaming (UpdateUser). The server stores public keys only, so every sign-in is
 * a signature over a fresh single-use challenge, checked with the stored identity key
 * (docs/server.md, "Authentication").
 */
import { randomBytes } from 'node:crypto';
import { ResponseCode, type RegisterUserRequest } from '../proto/gen/service_pb.js';
import type { E2eeAddress, IdentityKeyPublic } from '../proto/gen/wire_pb.js';
import { deviceLinkStatement, serverAuthStatement } from '../wire/statements.js';
import type { CipherSuite } from '../crypto/index.js';
import { deviceAddress } from './addresses.js';
import { publishedDevice } from './audit/audit-log.js';
import type { ServiceContext } from './context.js';
import { checkOneTimePreKeys, checkSignedPreKey, MISSING_SIGNED_PRE_KEY, verifySignature } from './key-checks.js';
import { noticeBound, watcherDevices } from './notices.js';
import type { ProtoPayload } from './outbox.js';
import { fail, ok, publicUnary, unary, type HandlerGroup, type Outcome } from './rpc.js';
import type { DeviceRecord, OneTimePreKeyRecord } from './store/types.js';
import { checkString, parseDeviceAddress, suiteOf } from './validate.js';

/** Longest signature accepted before checking the suite's exact size (all suites are below this). */
const MAX_SIGNATURE_BYTES = 16 * 1024;

/** What RegisterUser answers on success (CREATED, or OK for a repeated registration). */
interface Registered extends Outcome {
  address: E2eeAddress;
  token: string;
  expiresAt: bigint;
  otherDevices: E2eeAddress[];
}

export function accounts(ctx: ServiceContext): HandlerGroup<'getChallenge' | 'authenticate' | 'registerUser' | 'updateUser'> {
  const { store, config, auth, gate, outbox, audit } = ctx;
  const { domain } = config;

  /** A token for the device and the addresses of its user's other devices. */
  async function signedIn(code: ResponseCode, reason: string, userId: string, deviceId: string, now: number): Promise<Registered> {
    const others = (await store.listDevices(userId)).filter((d) => d.deviceId !== deviceId);
    const { token, expiresAt } = auth.issueToken({ userId, deviceId }, now);
    return {
      code,
      reason,
      address: deviceAddress(domain, userId, deviceId),
      token,
      expiresAt: BigInt(expiresAt),
      otherDevices: others.map((d) => deviceAddress(domain, userId, d.deviceId)),
    };
  }

  /**
   * Another device of an existing user: an existing device of that user must have signed the link
   * (so a server alone cannot add devices unnoticed: the NewUserDeviceMsg carries the link for the
   * user's other devices to check), and each user has a bounded number of devices, since every
   * new one notifies each watcher's devices.
   */
  async function addLinkedDevice(
    request: RegisterUserRequest,
    identity: IdentityKeyPublic,
    suite: CipherSuite,
    device: DeviceRecord,
    opks: OneTimePreKeyRecord[],
    now: number,
  ): Promise<Outcome | undefined> {
    const { userId } = device;
    const link = request.deviceLink;
    if (!link) return fail(ResponseCode.UNAUTHORIZED, 'a new device of an existing user needs a device_link');
    const linkBad = checkString(link.linkingDeviceId, 'linking_device_id');
    if (linkBad) return fail(ResponseCode.BAD_REQUEST, linkBad);
    if (!(await store.getUser(userId))) return fail(ResponseCode.NOT_FOUND, 'unknown user');
    const linking = await store.getDevice(userId, link.linkingDeviceId);
    if (!linking) return fail(ResponseCode.UNAUTHORIZED, 'unknown linking device');
    const linkingSuite = suiteOf(linking.suiteId);
    const statement = deviceLinkStatement(domain, userId, request.deviceId, suite.params.id, identity.signPublicKey, identity.kemPublicKey);
    if (!linkingSuite || !verifySignature(linkingSuite, linking.signPublicKey, statement, link.signature)) {
      return fail(ResponseCode.UNAUTHORIZED, 'invalid device link signature');
    }
    if (await store.getDevice(userId, request.deviceId)) return fail(ResponseCode.REQUEST_CONFLICT, 'device id already registered');
    const tooMany = fail(ResponseCode.BAD_REQUEST, `a user has at most ${config.maxDevicesPerUser} devices`);
    if ((await store.listDevices(userId)).length >= config.maxDevicesPerUser) return tooMany;
    const newAddress = deviceAddress(domain, userId, request.deviceId);
    const notice: ProtoPayload = { case: 'newUserDeviceMsg', value: { userAddress: newAddress, suiteId: suite.params.id, identityKey: identity, deviceLink: link } };
    const messages = (await watcherDevices(store, userId, request.deviceId)).map((d) => outbox.skippable(d, newAddress, notice, now, noticeBound(config.queueLimit)));
    // In the log before it is stored (key transparency): a device the log does not show never exists.
    await audit?.recordKeyPublication(publishedDevice(device), link.linkingDeviceId);
    const added = await store.addDevice(device, opks, messages, { maxDevices: config.maxDevicesPerUser });
    if (!added.ok) return added.reason === 'too-many' ? tooMany : fail(ResponseCode.REQUEST_CONFLICT, 'device id already registered');
    outbox.delivered(added.queued);
    return undefined;
  }

  return {
    getChallenge: publicUnary(gate, async (_request, now) => {
      const { challengeId, challenge } = auth.issueChallenge(now);
      return { ...ok(), challengeId, challenge, domain };
    }),

    authenticate: publicUnary(gate, async (request, now) => {
      const bad = checkString(request.challengeId, 'challenge_id');
      if (bad) return fail(ResponseCode.BAD_REQUEST, bad);
      if (request.signature.length > MAX_SIGNATURE_BYTES) return fail(ResponseCode.BAD_REQUEST, 'signature too long');
      const address = parseDeviceAddress(request.address, domain, 'address');
      if (!address.ok) return fail(address.foreign ? ResponseCode.UNAUTHORIZED : ResponseCode.BAD_REQUEST, address.reason);
      // Taken before anything else can fail: a challenge is single use whatever the outcome.
      const challenge = auth.takeChallenge(request.challengeId, now);
      if (!challenge) return fail(ResponseCode.UNAUTHORIZED, 'unknown, used or expired challenge');
      const { userId, deviceId } = address.value;
      const device = await store.getDevice(userId, deviceId);
      // Same answer as a bad signature: an unauthenticated caller learns nothing about which devices exist.
      if (!device) return fail(ResponseCode.UNAUTHORIZED, 'authentication failed');
      const suite = suiteOf(device.suiteId);
      if (!suite || !verifySignature(suite, device.signPublicKey, serverAuthStatement(domain, challenge, userId, deviceId), request.signature)) {
        return fail(ResponseCode.UNAUTHORIZED, 'authentication failed');
      }
      const { token, expiresAt } = auth.issueToken({ userId, deviceId }, now);
      return { ...ok(), token, expiresAt: BigInt(expiresAt) };
    }),

    registerUser: publicUnary(gate, async (request, now) => {
      const suite = suiteOf(request.suiteId);
      if (!suite) return fail(ResponseCode.BAD_REQUEST, `unknown suite ${request.suiteId}`);
      const bad =
        checkString(request.deviceId, 'device_id') ??
        checkString(request.userName, 'user_name', { allowEmpty: true }) ??
        checkString(request.challengeId, 'challenge_id') ??
        (request.userId !== '' ? checkString(request.userId, 'user_id') : undefined);
      if (bad) return fail(ResponseCode.BAD_REQUEST, bad);
      const identity = request.identityKey;
      const p = suite.params;
      if (!identity || identity.signPublicKey.length !== p.sigPublicKeyBytes || identity.kemPublicKey.length !== p.kemPublicKeyBytes) {
        return fail(ResponseCode.BAD_REQUEST, `identity keys must be ${p.sigPublicKeyBytes} (signature) and ${p.kemPublicKeyBytes} (KEM) bytes for suite ${p.id}`);
      }
      if (request.challengeSignature.length !== p.signatureBytes) return fail(ResponseCode.BAD_REQUEST, `challenge_signature must be ${p.signatureBytes} bytes for suite ${p.id}`);
      const spk = request.signedPreKey;
      if (!spk) return fail(ResponseCode.BAD_REQUEST, MISSING_SIGNED_PRE_KEY);
      const keyProblem = checkSignedPreKey(suite, identity.signPublicKey, spk) ?? checkOneTimePreKeys(suite, request.oneTimePreKeys, config.maxOpksPerDevice);
      if (keyProblem) return fail(ResponseCode.BAD_REQUEST, keyProblem);
      const challenge = auth.takeChallenge(request.challengeId, now);
      if (!challenge) return fail(ResponseCode.UNAUTHORIZED, 'unknown, used or expired challenge');
      // A new user signs with user_id "": the statement binds the challenge to the new key alone.
      if (!verifySignature(suite, identity.signPublicKey, serverAuthStatement(domain, challenge, request.userId, request.deviceId), request.challengeSignature)) {
        return fail(ResponseCode.UNAUTHORIZED, 'invalid challenge signature');
      }
      // The same identity key registering again (the client stored its keys, then crashed before
      // it stored the server's answer): it gets its existing address back instead of a second
      // user. The challenge signature above proved it holds the key.
      const existing = await store.findDeviceBySignKey(identity.signPublicKey);
      if (existing) {
        const sameDevice =
          existing.deviceId === request.deviceId &&
          existing.suiteId === p.id &&
          Buffer.from(existing.kemPublicKey).equals(identity.kemPublicKey) &&
          (request.userId === '' || request.userId === existing.userId);
        if (!sameDevice) return fail(ResponseCode.REQUEST_CONFLICT, 'this identity key is registered to another device');
        // Registered before the server kept a log, or the first attempt failed to record: log it now.
        if (audit && (await audit.keyEntryIndex(existing.userId, existing.deviceId)) === undefined) await audit.recordKeyPublication(publishedDevice(existing));
        return signedIn(ResponseCode.OK, 'already registered', existing.userId, existing.deviceId, now);
      }
      const opks: OneTimePreKeyRecord[] = request.oneTimePreKeys.map((o) => ({ opkId: o.opkId, publicKey: o.publicKey }));
      const makeDevice = (userId: string): DeviceRecord => ({
        userId,
        deviceId: request.deviceId,
        suiteId: p.id,
        signPublicKey: identity.signPublicKey,
        kemPublicKey: identity.kemPublicKey,
        signedPreKey: { spkId: spk.spkId, publicKey: spk.publicKey, signature: spk.signature },
        createdAt: now,
      });

      if (request.userId === '') {
        const userId = randomBytes(16).toString('hex');
        const device = makeDevice(userId);
        await audit?.recordKeyPublication(publishedDevice(device));
        const created = await store.createUser({ userId, userName: request.userName, createdAt: now }, device, opks);
        if (!created) return fail(ResponseCode.INTERNAL_SERVER_ERROR, 'user id collision, try again');
        const { token, expiresAt } = auth.issueToken({ userId, deviceId: request.deviceId }, now);
        return {
          code: ResponseCode.CREATED,
          reason: 'registered',
          address: deviceAddress(domain, userId, request.deviceId),
          token,
          expiresAt: BigInt(expiresAt),
          otherDevices: [],
        };
      }
      const refused = await addLinkedDevice(request, identity, suite, makeDevice(request.userId), opks, now);
      if (refused) return refused;
      return signedIn(ResponseCode.CREATED, 'registered', request.userId, request.deviceId, now);
    }),

    updateUser: unary(gate, async (request, caller, now) => {
      const bad = checkString(request.userName, 'user_name', { allowEmpty: true });
      if (bad) return fail(ResponseCode.BAD_REQUEST, bad);
      await store.setUserName(caller.userId, request.userName);
      const address = deviceAddress(domain, caller.userId, caller.deviceId);
      const recipients = await watcherDevices(store, caller.userId, caller.deviceId);
      // One unconsumed UpdateUserMsg per (recipient device, user it is about): the newest name
      // replaces an older notice, so renaming over and over cannot fill anybody's queue.
      const bound = { ...noticeBound(config.queueLimit), coalesceKey: `update-user:${caller.userId}` };
      const notice: ProtoPayload = { case: 'updateUserMsg', value: { userAddress: address, userName: request.userName } };
      await outbox.sendSkipping(
        recipients.map((d) => outbox.skippable(d, address, notice, now, bound)),
        now,
      );
      return ok('user updated');
    }),
  };
}
