/**
 * A device's account (DESIGN.md §4 "Account"): identity key pairs, pre-keys (their renewal and
 * retirement rules are in pre-keys.ts), pre-key bundles, the address, and encrypted export.
 * Pure: time comes in as `now` (ms since the epoch); the app persists `serialize()` after changes.
 *
 * The identity secrets never leave this class: sessions and group sessions have it sign
 * ({@link Account.signWithIdentity}) and decapsulate ({@link Account.decapsulateIdentity}) for
 * them, so no other object holds, copies or persists them.
 */
import { create } from '@bufbuild/protobuf';
import { InvalidLengthError } from '../errors.js';
import { getSuite, randomBytes, type CipherSuite } from '../crypto/index.js';
import { AccountStateSchema, type AccountState, type OneTimePreKeyState, type SignedPreKeyState } from '../proto/gen/state_pb.js';
import {
  E2eeAddressSchema,
  IdentityKeyPublicSchema,
  OneTimePreKeyPublicSchema,
  PeerUserSchema,
  PreKeyBundleSchema,
  SignedPreKeyPublicSchema,
  type E2eeAddress,
  type IdentityKeyPublic,
  type OneTimePreKeyPublic,
  type SignedPreKeyPublic,
} from '../proto/gen/wire_pb.js';
import { deviceLinkStatement, MAX_CHALLENGE_BYTES, PROTOCOL_VERSION, serverAuthStatement } from '../wire/statements.js';
import { decode, encode, identityDigest, label, toHex } from './encoding.js';
import {
  addOneTimePreKeys,
  keyPairState,
  makeSignedPreKey,
  MAX_ONE_TIME_PRE_KEYS,
  ONE_TIME_PRE_KEY_BATCH,
  removeOneTimePreKey,
  renewSignedPreKey,
  retireUnusableOneTimePreKeys,
} from './pre-keys.js';
import { MalformedMessageError, SessionStateError } from '../errors.js';

export const ACCOUNT_STATE_VERSION = 1;
export {
  MAX_ONE_TIME_PRE_KEYS,
  ONE_TIME_PRE_KEY_BATCH,
  ONE_TIME_PRE_KEY_IN_FLIGHT_MAX,
  ONE_TIME_PRE_KEY_IN_FLIGHT_MS,
  SIGNED_PRE_KEY_GRACE_MS,
  SIGNED_PRE_KEY_LIFETIME_MS,
} from './pre-keys.js';
/**
 * Largest serialized account {@link Account.deserialize} reads. A suite-1 account at the
 * one-time pre-key bound is about 2 MB (every other state is bounded by MAX_HANDSHAKE_BYTES, 1 MiB).
 */
export const MAX_ACCOUNT_STATE_BYTES = 4 * 1024 * 1024;
const MAX_REQUEST_ID_LENGTH = 256;
/** How many accepted invites are remembered to refuse replays. */
export const MAX_REMEMBERED_INVITES = 1000;

const EXPORT_FORMAT = 1;
const EXPORT_ASSOCIATED_DATA = label('pqe2ee/v1/account-export');

/** Options of {@link Account.create}. */
export interface CreateAccountOptions {
  /** Suite id or name (default 1, post-quantum). */
  suite?: number | string;
  /** Current time in ms (stamps the signed pre-key). */
  now: number;
  /** This device's address, carried in bundles and invites. */
  address?: E2eeAddress;
}

/** Options of {@link Account.publishOneTimePreKeys} (all optional; the client runtime passes all three). */
export interface PublishOneTimePreKeysOptions {
  /** Current time in ms: handed-out keys past {@link ONE_TIME_PRE_KEY_IN_FLIGHT_MS} are retired. */
  now?: number;
  /**
   * How many one-time pre-keys the server still holds for this device (`SupplyOpkMsg.available`;
   * needs `now`). The server hands out the lowest id first, so of this account's keys the newest
   * `available` may still be there and the older ones were handed out.
   */
  available?: number;
  /**
   * Id of the request this answers (the SupplyOpkMsg's ProtoMsg id). Calling again with the same id
   * (a retry after a crash or a failed upload) does not take the keys the earlier attempts made for
   * handed out: the server may hold them.
   */
  requestId?: string;
}

/** Options of {@link Account.preKeyBundle}. */
export interface PreKeyBundleOptions {
  /** Include a one-time pre-key (default true, when one is left). */
  withOneTimePreKey?: boolean;
}

/** A device's long-term keys and pre-keys. */
export class Account {
  /** @internal the persisted state; protocol code in this package reads and updates it. */
  readonly state: AccountState;
  readonly suite: CipherSuite;
  private bundleCursor = 0;
  /** {@link Account.identityDigest}, with the key arrays it was computed from. */
  /** {@link Account.hasAcceptedInvite}'s index over state.acceptedInvites, built on first use. */
  private acceptedInviteCounts: Map<string, number> | undefined;
  private cachedIdentityDigest: { sign: Uint8Array; kem: Uint8Array; digest: Uint8Array } | undefined;

  private constructor(state: AccountState) {
    this.state = state;
    this.suite = getSuite(state.suiteId);
  }

  /** Creates identity keys, a signed pre-key and 100 one-time pre-keys. */
  static create(options: CreateAccountOptions): Account {
    const suite = getSuite(options.suite ?? 1);
    requireTime(options.now);
    const state = create(AccountStateSchema, {
      version: ACCOUNT_STATE_VERSION,
      suiteId: suite.params.id,
      identitySignKey: keyPairState(suite.sig.keygen()),
      identityKemKey: keyPairState(suite.kem.keygen()),
      nextSpkId: 1,
      nextOpkId: 1,
      ...(options.address ? { address: options.address } : {}),
    });
    const account = new Account(state);
    state.signedPreKey = makeSignedPreKey(state, suite, (message) => account.signWithIdentity(message), options.now);
    addOneTimePreKeys(state, suite, ONE_TIME_PRE_KEY_BATCH);
    return account;
  }

  /** Restores an account from {@link serialize}. */
  static deserialize(bytes: Uint8Array): Account {
    const state = decode(AccountStateSchema, bytes, 'account state', MAX_ACCOUNT_STATE_BYTES);
    if (state.version !== ACCOUNT_STATE_VERSION) throw new SessionStateError(`account state version ${state.version} is not supported`);
    let suite: CipherSuite;
    try {
      suite = getSuite(state.suiteId);
    } catch {
      throw new MalformedMessageError('account state names an unknown suite');
    }
    const p = suite.params;
    const ok =
      state.identitySignKey?.publicKey.length === p.sigPublicKeyBytes &&
      state.identitySignKey.secretKey.length === p.sigSecretKeyBytes &&
      state.identityKemKey?.publicKey.length === p.kemPublicKeyBytes &&
      state.identityKemKey.secretKey.length === p.kemSecretKeyBytes &&
      state.signedPreKey?.keyPair?.publicKey.length === p.kemPublicKeyBytes &&
      [...state.previousSignedPreKeys, ...state.oneTimePreKeys].every(
        (k) => k.keyPair?.publicKey.length === p.kemPublicKeyBytes && k.keyPair.secretKey.length === p.kemSecretKeyBytes,
      );
    if (!ok) throw new MalformedMessageError('account state has keys of the wrong size');
    return new Account(state);
  }

  /** The account state as bytes. Contains secret keys: store it encrypted (see {@link exportEncrypted}). */
  serialize(): Uint8Array {
    return encode(AccountStateSchema, this.state);
  }

  /** The state encrypted with AES-256-GCM under a 32-byte key the app supplies. */
  exportEncrypted(key: Uint8Array): Uint8Array {
    requireKey(key);
    const nonce = randomBytes(12);
    const plaintext = this.serialize();
    const sealed = this.suite.aead.encrypt(key, nonce, plaintext, EXPORT_ASSOCIATED_DATA);
    plaintext.fill(0);
    const out = new Uint8Array(1 + 12 + sealed.length);
    out[0] = EXPORT_FORMAT;
    out.set(nonce, 1);
    out.set(sealed, 13);
    return out;
  }

  /** Restores an account from {@link exportEncrypted}; DecryptionFailedError for a wrong key or tampering. */
  static importEncrypted(bytes: Uint8Array, key: Uint8Array): Account {
    requireKey(key);
    if (!(bytes instanceof Uint8Array) || bytes.length < 1 + 12 + 16) throw new MalformedMessageError('encrypted account is too short');
    if (bytes[0] !== EXPORT_FORMAT) throw new MalformedMessageError(`encrypted account format ${bytes[0]} is not supported`);
    // The suite is inside the ciphertext; AES-256-GCM is the same in every suite.
    const plaintext = getSuite(1).aead.decrypt(key, bytes.subarray(1, 13), bytes.subarray(13), EXPORT_ASSOCIATED_DATA);
    try {
      return Account.deserialize(plaintext);
    } finally {
      plaintext.fill(0);
    }
  }

  /** This device's identity public keys. */
  get identityPublicKey(): IdentityKeyPublic {
    return create(IdentityKeyPublicSchema, {
      signPublicKey: this.state.identitySignKey?.publicKey ?? new Uint8Array(0),
      kemPublicKey: this.state.identityKemKey?.publicKey ?? new Uint8Array(0),
    });
  }

  /**
   * @internal The identity's digest (encoding.ts identityDigest), which every session of this
   * account binds; computed once, since hashing a suite-1 identity's 4 KiB per session is a
   * measurable share of a session setup.
   */
  get identityDigest(): Uint8Array {
    const sign = this.state.identitySignKey?.publicKey ?? new Uint8Array(0);
    const kem = this.state.identityKemKey?.publicKey ?? new Uint8Array(0);
    const cached = this.cachedIdentityDigest;
    if (cached?.sign === sign && cached.kem === kem) return cached.digest.slice();
    const digest = identityDigest(this.suite, this.identityPublicKey);
    this.cachedIdentityDigest = { sign, kem, digest };
    return digest.slice();
  }

  /** How many one-time pre-keys this account holds (on the server, or handed out and kept for invites in flight). */
  get oneTimePreKeyCount(): number {
    return this.state.oneTimePreKeys.length;
  }

  /** The current signed pre-key's id. */
  get signedPreKeyId(): number {
    return this.state.signedPreKey?.spkId ?? 0;
  }

  /**
   * A serialized PreKeyBundle: identity keys, the signed pre-key and (by default) one one-time
   * pre-key. The account keeps the one-time pre-key until an invite uses it; successive calls rotate
   * through the available ones (in deployment the server hands each out once).
   */
  preKeyBundle(options: PreKeyBundleOptions = {}): Uint8Array {
    const spk = this.state.signedPreKey as SignedPreKeyState;
    const opks = this.state.oneTimePreKeys;
    const wantOpk = (options.withOneTimePreKey ?? true) && opks.length > 0;
    const opk = wantOpk ? opks[this.bundleCursor++ % opks.length] : undefined;
    const bundle = create(PreKeyBundleSchema, {
      version: PROTOCOL_VERSION,
      suiteId: this.suite.params.id,
      identityKey: this.identityPublicKey,
      signedPreKey: create(SignedPreKeyPublicSchema, {
        spkId: spk.spkId,
        publicKey: spk.keyPair?.publicKey ?? new Uint8Array(0),
        signature: spk.signature,
      }),
      ...(this.state.address ? { address: this.state.address } : {}),
      ...(opk ? { oneTimePreKey: create(OneTimePreKeyPublicSchema, { opkId: opk.opkId, publicKey: opk.keyPair?.publicKey ?? new Uint8Array(0) }) } : {}),
    });
    return encode(PreKeyBundleSchema, bundle);
  }

  /** This device's address (set at creation or by {@link setAddress} after the server registered it). */
  get address(): E2eeAddress | undefined {
    return this.state.address;
  }

  /**
   * Sets this device's address once the server has assigned its user id. An address already set
   * cannot be changed: sessions and bundles made under it would no longer match.
   */
  setAddress(domain: string, userId: string, deviceId: string): void {
    for (const [name, value] of [
      ['domain', domain],
      ['userId', userId],
      ['deviceId', deviceId],
    ] as const) {
      if (typeof value !== 'string' || value.length === 0 || value.length > 256) throw new InvalidLengthError(`${name} must be a string of 1 to 256 characters`);
    }
    const current = this.state.address;
    if (current) {
      const user = current.peer.case === 'user' ? current.peer.value : undefined;
      if (current.domain === domain && user?.userId === userId && user.deviceId === deviceId) return;
      throw new SessionStateError('this account already has another address');
    }
    this.state.address = create(E2eeAddressSchema, { domain, peer: { case: 'user', value: create(PeerUserSchema, { userId, deviceId }) } });
  }

  /** The current signed pre-key's public half with its signature (for publishing to the server). */
  signedPreKeyPublic(): SignedPreKeyPublic {
    const spk = this.state.signedPreKey as SignedPreKeyState;
    return create(SignedPreKeyPublicSchema, { spkId: spk.spkId, publicKey: spk.keyPair?.publicKey ?? new Uint8Array(0), signature: spk.signature });
  }

  /** Public halves of every unused one-time pre-key (for the first upload to the server). */
  oneTimePreKeyPublics(): OneTimePreKeyPublic[] {
    return this.state.oneTimePreKeys.map((opk) => create(OneTimePreKeyPublicSchema, { opkId: opk.opkId, publicKey: opk.keyPair?.publicKey ?? new Uint8Array(0) }));
  }

  /**
   * @internal Signs `message` with the identity signature key. For the protocol layer only: callers
   * pass a labelled, length-prefixed statement, never bytes someone else chose, so a signature for
   * one purpose cannot be passed off as another.
   */
  signWithIdentity(message: Uint8Array): Uint8Array {
    return this.suite.sig.sign(this.state.identitySignKey?.secretKey as Uint8Array, message);
  }

  /**
   * @internal Decapsulates a KEM ciphertext made to the identity KEM key (c2 of an invite, c1 of an
   * accept) and returns the shared secret, which the caller zeroes after use.
   */
  decapsulateIdentity(ciphertext: Uint8Array): Uint8Array {
    return this.suite.kem.decaps(this.state.identityKemKey?.secretKey as Uint8Array, ciphertext);
  }

  /**
   * Signs a server's authentication challenge with the identity signature key. The statement binds
   * the server domain and this device (see src/wire/statements.ts).
   */
  signServerChallenge(domain: string, challenge: Uint8Array, userId: string, deviceId: string): Uint8Array {
    if (!(challenge instanceof Uint8Array) || challenge.length < 16 || challenge.length > MAX_CHALLENGE_BYTES) {
      throw new InvalidLengthError(`a challenge must be 16 to ${MAX_CHALLENGE_BYTES} bytes`);
    }
    return this.signWithIdentity(serverAuthStatement(domain, challenge, userId, deviceId));
  }

  /**
   * Vouches, as an existing device of `userId`, for a new device of the same user and suite with
   * identity key `newDevice`: the new device passes the returned signature to the server when it
   * registers, and the user's other devices check it when the server announces the device.
   */
  signDeviceLink(domain: string, userId: string, newDeviceId: string, newDevice: Pick<IdentityKeyPublic, 'signPublicKey' | 'kemPublicKey'>): Uint8Array {
    const p = this.suite.params;
    if (!(newDevice?.signPublicKey instanceof Uint8Array) || newDevice.signPublicKey.length !== p.sigPublicKeyBytes) {
      throw new InvalidLengthError(`the new device's signature key must be ${p.sigPublicKeyBytes} bytes`);
    }
    if (!(newDevice.kemPublicKey instanceof Uint8Array) || newDevice.kemPublicKey.length !== p.kemPublicKeyBytes) {
      throw new InvalidLengthError(`the new device's KEM key must be ${p.kemPublicKeyBytes} bytes`);
    }
    return this.signWithIdentity(deviceLinkStatement(domain, userId, newDeviceId, p.id, newDevice.signPublicKey, newDevice.kemPublicKey));
  }

  /**
   * Makes `count` new one-time pre-keys and returns their serialized public halves (for the server).
   * First retires unused keys nobody can still use (their secrets zeroed), oldest first:
   * - with `available` (and `now`): keys older than the newest `available` are marked handed out;
   * - with `now`: handed-out keys are kept {@link ONE_TIME_PRE_KEY_IN_FLIGHT_MS} after they were
   *   marked, and at most the newest {@link ONE_TIME_PRE_KEY_IN_FLIGHT_MAX} of them;
   * - always: the oldest keys go until the new ones fit in {@link MAX_ONE_TIME_PRE_KEYS}.
   * So it never fails because keys accumulated. Keys that may still be on the server are retired
   * only by the last rule, which the reference server (it asks for more below 10 and the runtime
   * uploads 100) never reaches.
   */
  publishOneTimePreKeys(count: number = ONE_TIME_PRE_KEY_BATCH, options: PublishOneTimePreKeysOptions = {}): Uint8Array[] {
    if (!Number.isInteger(count) || count < 1 || count > MAX_ONE_TIME_PRE_KEYS) {
      throw new InvalidLengthError(`count must be an integer between 1 and ${MAX_ONE_TIME_PRE_KEYS}`);
    }
    const { now, available, requestId } = options;
    if (now !== undefined) requireTime(now);
    if (available !== undefined && (!Number.isSafeInteger(available) || available < 0 || now === undefined)) {
      throw new InvalidLengthError('available must be a non-negative integer, given with now');
    }
    if (requestId !== undefined && (typeof requestId !== 'string' || requestId.length === 0 || requestId.length > MAX_REQUEST_ID_LENGTH)) {
      throw new InvalidLengthError(`requestId must be a string of 1 to ${MAX_REQUEST_ID_LENGTH} characters`);
    }
    const retry = requestId !== undefined && requestId === this.state.lastSupplyRequestId;
    retireUnusableOneTimePreKeys(this.state, count, now, available, retry ? this.state.lastSupplyFirstOpkId : undefined);
    const added = addOneTimePreKeys(this.state, this.suite, count);
    if (requestId !== undefined && !retry) {
      this.state.lastSupplyRequestId = requestId;
      this.state.lastSupplyFirstOpkId = added[0]?.opkId ?? 0;
    }
    return added.map((opk) => encode(OneTimePreKeyPublicSchema, create(OneTimePreKeyPublicSchema, { opkId: opk.opkId, publicKey: opk.keyPair?.publicKey ?? new Uint8Array(0) })));
  }

  /**
   * Renews the signed pre-key when it is older than 7 days, keeping the old one for a 7-day grace
   * period, and drops replaced keys whose grace period is over. Returns true if it renewed.
   */
  renewSignedPreKeyIfDue(now: number): boolean {
    requireTime(now);
    return renewSignedPreKey(this.state, this.suite, (message) => this.signWithIdentity(message), now);
  }

  /** @internal the signed pre-key (current or still in its grace period) with this id. */
  findSignedPreKey(spkId: number): SignedPreKeyState | undefined {
    if (this.state.signedPreKey?.spkId === spkId) return this.state.signedPreKey;
    return this.state.previousSignedPreKeys.find((spk) => spk.spkId === spkId);
  }

  /** @internal the one-time pre-key with this id, if unused. */
  findOneTimePreKey(opkId: number): OneTimePreKeyState | undefined {
    return this.state.oneTimePreKeys.find((opk) => opk.opkId === opkId);
  }

  /** @internal deletes a used one-time pre-key (its secret is zeroed). */
  removeOneTimePreKey(opkId: number): void {
    removeOneTimePreKey(this.state, opkId);
  }

  /** @internal whether an invite with this digest was accepted before. */
  hasAcceptedInvite(digest: Uint8Array): boolean {
    return this.acceptedInviteIndex().has(toHex(digest));
  }

  /**
   * How often each remembered invite digest (hex) occurs in state.acceptedInvites, built once per
   * Account: a linear scan of up to 1000 digests per accept showed in setup profiles.
   */
  private acceptedInviteIndex(): Map<string, number> {
    if (!this.acceptedInviteCounts) {
      this.acceptedInviteCounts = new Map();
      for (const seen of this.state.acceptedInvites) countInvite(this.acceptedInviteCounts, toHex(seen), 1);
    }
    return this.acceptedInviteCounts;
  }

  /** @internal remembers an accepted invite (bounded, oldest forgotten first). */
  rememberAcceptedInvite(digest: Uint8Array): void {
    const index = this.acceptedInviteIndex();
    this.state.acceptedInvites.push(digest);
    countInvite(index, toHex(digest), 1);
    while (this.state.acceptedInvites.length > MAX_REMEMBERED_INVITES) countInvite(index, toHex(this.state.acceptedInvites.shift() as Uint8Array), -1);
  }
}

function countInvite(counts: Map<string, number>, digestHex: string, change: 1 | -1): void {
  const count = (counts.get(digestHex) ?? 0) + change;
  if (count > 0) counts.set(digestHex, count);
  else counts.delete(digestHex);
}

function requireTime(now: unknown): void {
  if (typeof now !== 'number' || !Number.isFinite(now) || now < 0) throw new InvalidLengthError('now must be a time in milliseconds since the epoch');
}

function requireKey(key: unknown): void {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new InvalidLengthError('the export key must be a 32-byte Uint8Array');
}
