/**
 * Pre-keys: a device renews its signed pre-key (PublishSpk) and tops up its one-time pre-keys
 * (SupplyOpks); anyone signed in fetches a user's pre-key bundles (GetPreKeyBundle). Each one-time
 * pre-key is handed out at most once, and a device running low is asked once for more.
 */
import { AuditCategory } from '../audit/categories.js';
import type { CipherSuite } from '../crypto/index.js';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { type KeyInclusionSchema, ResponseCode } from '../proto/gen/service_pb.js';
import { PROTOCOL_VERSION } from '../wire/statements.js';
import { deviceAddress, serverAddress } from './addresses.js';
import { publishedDevice } from './audit/audit-log.js';
import type { ServiceContext } from './context.js';
import { checkOneTimePreKeys, checkSignedPreKey, MISSING_SIGNED_PRE_KEY } from './key-checks.js';
import { noticeBound } from './notices.js';
import { fail, ok, unary, type HandlerGroup } from './rpc.js';
import type { DeviceRecord } from './store/types.js';
import { checkString, suiteOf } from './validate.js';

export function prekeys(ctx: ServiceContext): HandlerGroup<'publishSpk' | 'supplyOpks' | 'getPreKeyBundle'> {
  const { store, config, gate, outbox, audit } = ctx;
  const { domain } = config;

  /**
   * Key transparency (docs/audit.md): the checkpoint and, per device, the public entry that
   * published its identity keys with its inclusion proof. A device without one (registered before
   * the server kept a log) gets it now: whatever the server hands out is in the log.
   */
  async function keyEvidence(devices: DeviceRecord[]): Promise<{ checkpoint: string; keyInclusions: MessageInitShape<typeof KeyInclusionSchema>[] } | undefined> {
    if (!audit) return undefined;
    let needed = 0;
    for (const d of devices) {
      const index = await audit.keyEntryFor(publishedDevice(d));
      needed = Math.max(needed, index + 1);
    }
    // Covering the key entries is enough; a newer one is signed at most once per checkpoint interval.
    const { note, size } = await audit.checkpointCovering(needed);
    const keyInclusions = [];
    for (const d of devices) {
      const inclusion = await audit.keyInclusion(d.userId, d.deviceId, size);
      if (!inclusion) throw new Error('a key entry recorded for a bundle is not in the checkpoint');
      keyInclusions.push({ entry: inclusion.entry, index: BigInt(inclusion.index), proof: [...inclusion.proof] });
    }
    return { checkpoint: note, keyInclusions };
  }

  /** The caller's own device and suite: its keys are checked against the identity it registered. */
  async function ownDevice(userId: string, deviceId: string): Promise<{ device: DeviceRecord; suite: CipherSuite } | undefined> {
    const device = await store.getDevice(userId, deviceId);
    const suite = device && suiteOf(device.suiteId);
    return device && suite ? { device, suite } : undefined;
  }

  return {
    publishSpk: unary(gate, async (request, caller) => {
      const own = await ownDevice(caller.userId, caller.deviceId);
      if (!own) return fail(ResponseCode.NOT_FOUND, 'unknown device');
      const spk = request.signedPreKey;
      if (!spk) return fail(ResponseCode.BAD_REQUEST, MISSING_SIGNED_PRE_KEY);
      const problem = checkSignedPreKey(own.suite, own.device.signPublicKey, spk);
      if (problem) return fail(ResponseCode.BAD_REQUEST, problem);
      await audit?.record({ mask: AuditCategory.KEY_PUBLICATION, event: { type: 'signed-pre-key', user: caller.userId, device: caller.deviceId, spkId: spk.spkId } });
      await store.replaceSignedPreKey(caller.userId, caller.deviceId, { spkId: spk.spkId, publicKey: spk.publicKey, signature: spk.signature });
      return ok('signed pre-key replaced');
    }),

    supplyOpks: unary(gate, async (request, caller) => {
      const own = await ownDevice(caller.userId, caller.deviceId);
      if (!own) return fail(ResponseCode.NOT_FOUND, 'unknown device');
      const problem = checkOneTimePreKeys(own.suite, request.oneTimePreKeys, config.maxOpksPerDevice);
      if (problem) return fail(ResponseCode.BAD_REQUEST, problem);
      const opks = request.oneTimePreKeys.map((o) => ({ opkId: o.opkId, publicKey: o.publicKey }));
      // All or none, checked against what is stored in the same transaction (ids and the maximum).
      const result = await store.addOneTimePreKeys(caller.userId, caller.deviceId, opks, config.maxOpksPerDevice, config.opkLowThreshold);
      if (!result.ok) {
        return result.reason === 'duplicate'
          ? { ...fail(ResponseCode.REQUEST_CONFLICT, 'a one-time pre-key id is already stored'), available: result.available }
          : { ...fail(ResponseCode.BAD_REQUEST, `a device may store at most ${config.maxOpksPerDevice} one-time pre-keys`), available: result.available };
      }
      // After the store: the event states the count that is now stored. A failed record fails the
      // call; the keys stay stored and a retry is refused as a duplicate, which the client handles.
      await audit?.record({
        mask: AuditCategory.KEY_PUBLICATION,
        event: { type: 'one-time-pre-keys', user: caller.userId, device: caller.deviceId, added: opks.length, available: result.available },
      });
      return { ...ok(`${opks.length} one-time pre-keys added`), available: result.available };
    }),

    getPreKeyBundle: unary(gate, async (request, caller, now) => {
      const bad = checkString(request.userId, 'user_id') ?? (request.deviceId !== '' ? checkString(request.deviceId, 'device_id') : undefined);
      if (bad) return fail(ResponseCode.BAD_REQUEST, bad);
      let devices: DeviceRecord[];
      if (request.deviceId !== '') {
        const device = await store.getDevice(request.userId, request.deviceId);
        if (!device) return fail(ResponseCode.NOT_FOUND, 'unknown device');
        devices = [device];
      } else {
        devices = await store.listDevices(request.userId);
        if (devices.length === 0) return fail(ResponseCode.NOT_FOUND, 'unknown user');
      }
      const bundles = [];
      const withOpk: string[] = [];
      for (const device of devices) {
        const address = deviceAddress(domain, device.userId, device.deviceId);
        // The SupplyOpkMsg is queued in the same transaction that marks the device as asked, so a
        // crash cannot lose it and the device is asked once, not at every bundle.
        const taken = await store.takeOneTimePreKey(device.userId, device.deviceId, config.opkLowThreshold, (remaining) =>
          outbox.skippable(device, serverAddress(domain), { case: 'supplyOpkMsg', value: { userAddress: address, available: remaining } }, now, noticeBound(config.queueLimit)),
        );
        outbox.delivered(taken.queued);
        if (taken.opk) withOpk.push(device.deviceId);
        bundles.push({
          version: PROTOCOL_VERSION,
          suiteId: device.suiteId,
          address,
          identityKey: { signPublicKey: device.signPublicKey, kemPublicKey: device.kemPublicKey },
          signedPreKey: device.signedPreKey,
          ...(taken.opk ? { oneTimePreKey: taken.opk } : {}),
        });
      }
      await audit?.record({
        mask: AuditCategory.BUNDLE_HANDOUT,
        event: { type: 'bundle', by: `${caller.userId}/${caller.deviceId}`, of: request.userId, devices: devices.map((d) => d.deviceId), withOneTimePreKey: withOpk },
      });
      const evidence = await keyEvidence(devices);
      return { ...ok(), preKeyBundles: bundles, ...evidence };
    }),
  };
}
