// A libsignal device for the bench: identity key, registration id, the in-memory stores, and a
// PQXDH pre-key bundle (signed EC pre-key + signed Kyber pre-key). The bundle carries no one-time
// EC pre-key by default, matching the OPK-less bundle pqe2ee's setup rows use; the Kyber pre-key is
// a last-resort key, so one bundle serves every setup.
import { makeStores } from './libsignal-stores.mjs';

const SIGNED_PRE_KEY_ID = 1;
const KYBER_PRE_KEY_ID = 1;
const ONE_TIME_PRE_KEY_ID = 1;
const DEVICE_ID = 1;

export function deviceFactory(S) {
  const stores = makeStores(S);
  let nextRegistrationId = 1000;

  return function device(name) {
    const identity = S.IdentityKeyPair.generate();
    const registrationId = nextRegistrationId++;
    const d = {
      name,
      address: S.ProtocolAddress.new(name, DEVICE_ID),
      identity,
      registrationId,
      sessions: new stores.Sessions(),
      identities: new stores.Identities(identity, registrationId),
      preKeys: new stores.PreKeys(),
      signedPreKeys: new stores.SignedPreKeys(),
      kyberPreKeys: new stores.KyberPreKeys(),
      senderKeys: new stores.SenderKeys(),
    };
    const now = Date.now();
    const spk = S.PrivateKey.generate();
    const spkSig = identity.privateKey.sign(spk.getPublicKey().serialize());
    const spkRecord = S.SignedPreKeyRecord.new(SIGNED_PRE_KEY_ID, now, spk.getPublicKey(), spk, spkSig);
    const kyber = S.KEMKeyPair.generate();
    const kyberSig = identity.privateKey.sign(kyber.getPublicKey().serialize());
    const kyberRecord = S.KyberPreKeyRecord.new(KYBER_PRE_KEY_ID, now, kyber, kyberSig);
    const opk = S.PrivateKey.generate();
    const ready = Promise.all([
      d.signedPreKeys.saveSignedPreKey(SIGNED_PRE_KEY_ID, spkRecord),
      d.kyberPreKeys.saveKyberPreKey(KYBER_PRE_KEY_ID, kyberRecord),
      d.preKeys.savePreKey(ONE_TIME_PRE_KEY_ID, S.PreKeyRecord.new(ONE_TIME_PRE_KEY_ID, opk.getPublicKey(), opk)),
    ]);
    d.ready = ready;
    /** The bundle a server would hand out; `withOneTimePreKey` adds the EC one-time pre-key. */
    d.bundle = ({ withOneTimePreKey = false } = {}) =>
      S.PreKeyBundle.new(
        registrationId,
        DEVICE_ID,
        withOneTimePreKey ? ONE_TIME_PRE_KEY_ID : null,
        withOneTimePreKey ? opk.getPublicKey() : null,
        SIGNED_PRE_KEY_ID,
        spk.getPublicKey(),
        spkSig,
        identity.publicKey,
        KYBER_PRE_KEY_ID,
        kyber.getPublicKey(),
        kyberSig,
      );
    // What the bundle costs to download, as the sum of its serialized keys and signatures (libsignal
    // has no bundle wire format; Signal's server sends these fields in JSON).
    d.bundleBytes = () => identity.publicKey.serialize().length + spk.getPublicKey().serialize().length + spkSig.length + kyber.getPublicKey().serialize().length + kyberSig.length;
    return d;
  };
}

/** libsignal's one-to-one operations for a sender/receiver pair of devices. */
export function pairOps(S, from, to) {
  return {
    /** PQXDH: the sender processes the receiver's bundle (no message yet). */
    process: (bundle) => S.processPreKeyBundle(bundle, to.address, from.address, from.sessions, from.identities),
    encrypt: (plaintext) => S.signalEncrypt(plaintext, to.address, from.address, from.sessions, from.identities),
    /** Decrypts at `to` a serialized CiphertextMessage of `type` sent by `from`. */
    decrypt: (type, bytes) =>
      type === S.CiphertextMessageType.PreKey
        ? S.signalDecryptPreKey(S.PreKeySignalMessage.deserialize(bytes), from.address, to.address, to.sessions, to.identities, to.preKeys, to.signedPreKeys, to.kyberPreKeys)
        : S.signalDecrypt(S.SignalMessage.deserialize(bytes), from.address, to.address, to.sessions, to.identities),
  };
}
