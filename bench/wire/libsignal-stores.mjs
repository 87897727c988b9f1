// In-memory implementations of the store interfaces libsignal's Node binding asks for. libsignal
// keeps no state of its own: every call reads and writes sessions, identities and pre-keys through
// these. Maps keyed by the address string are the cheapest honest stores, so the measured rates
// are libsignal's work plus a Map lookup, as close to its best case as an app can get.

/** Builds the store classes from the loaded module (they must extend its abstract classes). */
export function makeStores(S) {
  const key = (address) => `${address.name()}.${address.deviceId()}`;

  class Sessions extends S.SessionStore {
    map = new Map();
    async saveSession(address, record) {
      this.map.set(key(address), record);
    }
    async getSession(address) {
      return this.map.get(key(address)) ?? null;
    }
    async getExistingSessions(addresses) {
      return addresses.map((a) => {
        const record = this.map.get(key(a));
        if (!record) throw new Error(`no session for ${key(a)}`);
        return record;
      });
    }
    forget(address) {
      this.map.delete(key(address));
    }
  }

  // Trust on first use, as Signal clients do; the bench never changes an identity.
  class Identities extends S.IdentityKeyStore {
    known = new Map();
    constructor(identity, registrationId) {
      super();
      this.identity = identity;
      this.registrationId = registrationId;
    }
    async getIdentityKey() {
      return this.identity.privateKey;
    }
    async getLocalRegistrationId() {
      return this.registrationId;
    }
    async saveIdentity(address, publicKey) {
      const old = this.known.get(key(address));
      this.known.set(key(address), publicKey);
      return old && !old.equals(publicKey) ? S.IdentityChange.ReplacedExisting : S.IdentityChange.NewOrUnchanged;
    }
    async isTrustedIdentity(address, publicKey) {
      const old = this.known.get(key(address));
      return !old || old.equals(publicKey);
    }
    async getIdentity(address) {
      return this.known.get(key(address)) ?? null;
    }
  }

  class PreKeys extends S.PreKeyStore {
    map = new Map();
    async savePreKey(id, record) {
      this.map.set(id, record);
    }
    async getPreKey(id) {
      const record = this.map.get(id);
      if (!record) throw new Error(`no pre-key ${id}`);
      return record;
    }
    async removePreKey(id) {
      this.map.delete(id);
    }
  }

  class SignedPreKeys extends S.SignedPreKeyStore {
    map = new Map();
    async saveSignedPreKey(id, record) {
      this.map.set(id, record);
    }
    async getSignedPreKey(id) {
      const record = this.map.get(id);
      if (!record) throw new Error(`no signed pre-key ${id}`);
      return record;
    }
  }

  // The bench uses one last-resort Kyber pre-key for every setup (like pqe2ee's OPK-less bundle),
  // so "used" is recorded but the key stays.
  class KyberPreKeys extends S.KyberPreKeyStore {
    map = new Map();
    used = 0;
    async saveKyberPreKey(id, record) {
      this.map.set(id, record);
    }
    async getKyberPreKey(id) {
      const record = this.map.get(id);
      if (!record) throw new Error(`no kyber pre-key ${id}`);
      return record;
    }
    async markKyberPreKeyUsed() {
      this.used++;
    }
  }

  class SenderKeys extends S.SenderKeyStore {
    map = new Map();
    async saveSenderKey(sender, distributionId, record) {
      this.map.set(`${key(sender)}/${distributionId}`, record);
    }
    async getSenderKey(sender, distributionId) {
      return this.map.get(`${key(sender)}/${distributionId}`) ?? null;
    }
  }

  return { Sessions, Identities, PreKeys, SignedPreKeys, KyberPreKeys, SenderKeys };
}
