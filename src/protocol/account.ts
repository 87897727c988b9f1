/**
 * A device's account (DESIGN.md §4 "Account"): identity key pairs, the signed pre-key with its
 * renewal and grace period, one-time pre-keys, pre-key bundles, and encrypted export.
 * Pure: time comes in as `now` (ms since the epoch); the app persists `serialize()` after changes.
 */
import { create } from '@bufbuild/protobuf';
import { InvalidLengthError } from '../../bindings/errors.js';
import { getSuite, randomBytes, type CipherSuite } from '../crypto/index.js';
import {
  AccountStateSchema,
  KeyPairStateSchema,
  OneTimePreKeyStateSchema,
  SignedPreKeyStateSchema,
  type AccountState,
  type KeyPairState,
  type OneTimePreKeyState,
  type SignedPreKeyState,
} from '../proto/gen/state_pb.js';
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
import { decode, encode } from './codec.js';
import { label, PROTOCOL_VERSION, signedPreKeyMessage } from './encoding.js';
import { deviceLinkStatement, MAX_CHALLENGE_BYTES, serverAuthStatement } from './server-auth.js';
import { MalformedMessageError, SessionStateError } from './errors.js';

export const ACCOUNT_STATE_VERSION = 1;
/** One-time pre-keys made at creation and by default on each replenishment. */
export const ONE_TIME_PRE_KEY_BATCH = 100;
/**
 * The most one-time pre-keys an account holds after {@link Account.publishOneTimePreKeys} (and so
 * a bound on its serialized size: about 4.8 KB per key in suite 1, see docs/client.md "Bounds").
 * Anyone may fetch a device's bundles without inviting, so the number of keys handed out is not in
 * the device's hands: past this bound the oldest keys are retired (never an error).
 */
export const MAX_ONE_TIME_PRE_KEYS = 400;
/**
 * Largest serialized account {@link Account.deserialize} reads. A suite-1 account at the
 * one-time pre-key bound is about 2 MB (every other state is bounded by MAX_HANDSHAKE_BYTES, 1 MiB).
 */
export const MAX_ACCOUNT_STATE_BYTES = 4 * 1024 * 1024;
export const SIGNED_PRE_KEY_LIFETIME_MS = 7 * 24 * 60 * 60 * 1000;
/** How long a replaced signed pre-key still accepts invites made from old bundles. */
export const SIGNED_PRE_KEY_GRACE_MS = 7 * 24 * 60 * 60 * 1000;
/**
 * How long a one-time pre-key the server handed out is kept for an invite made from it that has not
 * arrived yet (counted from when this device learned of the hand-out). The same as the signed
 * pre-key's grace: an invite older than that may name a signed pre-key that is gone anyway.
 */
export const ONE_TIME_PRE_KEY_IN_FLIGHT_MS = SIGNED_PRE_KEY_GRACE_MS;
/** The most handed-out (not yet used) one-time pre-keys kept for invites in flight; older ones are retired first. */
export const ONE_TIME_PRE_KEY_IN_FLIGHT_MAX = 200;
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

function keyPairState(pair: { publicKey: Uint8Array; secretKey: Uint8Array }): KeyPairState {
  return create(KeyPairStateSchema, { publicKey: pair.publicKey, secretKey: pair.secretKey });
}

/** A device's long-term keys and pre-keys. */
export class Account {
  /** @internal the persisted state; protocol code in this package reads and updates it. */
  readonly state: AccountState;
  readonly suite: CipherSuite;
  private bundleCursor = 0;

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
    account.state.signedPreKey = account.makeSignedPreKey(options.now);
    account.addOneTimePreKeys(ONE_TIME_PRE_KEY_BATCH);
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
    for (const [name, value] of [['domain', domain], ['userId', userId], ['deviceId', deviceId]] as const) {
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
   * Signs a server's authentication challenge with the identity signature key. The statement binds
   * the server domain and this device (see src/protocol/server-auth.ts).
   */
  signServerChallenge(domain: string, challenge: Uint8Array, userId: string, deviceId: string): Uint8Array {
    if (!(challenge instanceof Uint8Array) || challenge.length < 16 || challenge.length > MAX_CHALLENGE_BYTES) {
      throw new InvalidLengthError(`a challenge must be 16 to ${MAX_CHALLENGE_BYTES} bytes`);
    }
    return this.suite.sig.sign(this.state.identitySignKey?.secretKey as Uint8Array, serverAuthStatement(domain, challenge, userId, deviceId));
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
    return this.suite.sig.sign(
      this.state.identitySignKey?.secretKey as Uint8Array,
      deviceLinkStatement(domain, userId, newDeviceId, p.id, newDevice.signPublicKey, newDevice.kemPublicKey),
    );
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
    if (available !== undefined && now !== undefined) this.markHandedOut(now, available, retry ? this.state.lastSupplyFirstOpkId : undefined);
    if (now !== undefined) this.retireHandedOut(now);
    this.retireOldest(this.state.oneTimePreKeys.length + count - MAX_ONE_TIME_PRE_KEYS);
    const added = this.addOneTimePreKeys(count);
    if (requestId !== undefined && !retry) {
      this.state.lastSupplyRequestId = requestId;
      this.state.lastSupplyFirstOpkId = added[0]?.opkId ?? 0;
    }
    return added.map((opk) =>
      encode(OneTimePreKeyPublicSchema, create(OneTimePreKeyPublicSchema, { opkId: opk.opkId, publicKey: opk.keyPair?.publicKey ?? new Uint8Array(0) })),
    );
  }

  /**
   * Renews the signed pre-key when it is older than 7 days, keeping the old one for a 7-day grace
   * period, and drops replaced keys whose grace period is over. Returns true if it renewed.
   */
  renewSignedPreKeyIfDue(now: number): boolean {
    requireTime(now);
    const current = this.state.signedPreKey as SignedPreKeyState;
    let renewed = false;
    if (now - Number(current.createdAtMs) >= SIGNED_PRE_KEY_LIFETIME_MS) {
      current.replacedAtMs = BigInt(now);
      this.state.previousSignedPreKeys.push(current);
      this.state.signedPreKey = this.makeSignedPreKey(now);
      renewed = true;
    }
    const kept: SignedPreKeyState[] = [];
    for (const old of this.state.previousSignedPreKeys) {
      if (now - Number(old.replacedAtMs) < SIGNED_PRE_KEY_GRACE_MS) kept.push(old);
      else old.keyPair?.secretKey.fill(0);
    }
    this.state.previousSignedPreKeys = kept;
    return renewed;
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
    const index = this.state.oneTimePreKeys.findIndex((opk) => opk.opkId === opkId);
    if (index < 0) return;
    const [removed] = this.state.oneTimePreKeys.splice(index, 1);
    removed?.keyPair?.secretKey.fill(0);
  }

  /** @internal whether an invite with this digest was accepted before. */
  hasAcceptedInvite(digest: Uint8Array): boolean {
    return this.state.acceptedInvites.some((seen) => seen.length === digest.length && seen.every((byte, i) => byte === digest[i]));
  }

  /** @internal remembers an accepted invite (bounded, oldest forgotten first). */
  rememberAcceptedInvite(digest: Uint8Array): void {
    this.state.acceptedInvites.push(digest);
    if (this.state.acceptedInvites.length > MAX_REMEMBERED_INVITES) this.state.acceptedInvites.shift();
  }

  private makeSignedPreKey(now: number): SignedPreKeyState {
    const spkId = this.state.nextSpkId++;
    const pair = this.suite.kem.keygen();
    const signature = this.suite.sig.sign(
      this.state.identitySignKey?.secretKey as Uint8Array,
      signedPreKeyMessage(this.suite.params.id, spkId, pair.publicKey),
    );
    return create(SignedPreKeyStateSchema, { spkId, keyPair: keyPairState(pair), signature, createdAtMs: BigInt(now) });
  }

  /**
   * Marks the keys the server no longer holds. It hands out the lowest id first and holds at most
   * `available`, so those are among the newest `available` keys made before the request (keys made
   * by earlier attempts of the same request, from `retryFromId` on, are left alone); every older key
   * was handed out. A key stays marked with the time it was first marked.
   */
  private markHandedOut(now: number, available: number, retryFromId: number | undefined): void {
    const before = this.state.oneTimePreKeys.filter((opk) => retryFromId === undefined || opk.opkId < retryFromId).sort((x, y) => y.opkId - x.opkId);
    for (const opk of before.slice(available)) {
      if (opk.handedOutAtMs <= 0n) opk.handedOutAtMs = BigInt(now);
    }
  }

  /** Retires handed-out keys past the in-flight grace, and the oldest beyond the in-flight count. */
  private retireHandedOut(now: number): void {
    const handedOut = this.state.oneTimePreKeys.filter((opk) => opk.handedOutAtMs > 0n).sort((x, y) => y.opkId - x.opkId);
    const retired = new Set<OneTimePreKeyState>();
    handedOut.forEach((opk, newestFirst) => {
      if (newestFirst >= ONE_TIME_PRE_KEY_IN_FLIGHT_MAX || now - Number(opk.handedOutAtMs) >= ONE_TIME_PRE_KEY_IN_FLIGHT_MS) retired.add(opk);
    });
    this.retire(retired);
  }

  /** Retires the `excess` oldest keys, whatever their state (the last resort that bounds the account). */
  private retireOldest(excess: number): void {
    if (excess <= 0) return;
    const oldestFirst = [...this.state.oneTimePreKeys].sort((x, y) => x.opkId - y.opkId);
    this.retire(new Set(oldestFirst.slice(0, excess)));
  }

  private retire(keys: Set<OneTimePreKeyState>): void {
    if (keys.size === 0) return;
    for (const opk of keys) opk.keyPair?.secretKey.fill(0);
    this.state.oneTimePreKeys = this.state.oneTimePreKeys.filter((opk) => !keys.has(opk));
  }

  private addOneTimePreKeys(count: number): OneTimePreKeyState[] {
    const added: OneTimePreKeyState[] = [];
    for (let i = 0; i < count; i++) {
      const opk = create(OneTimePreKeyStateSchema, { opkId: this.state.nextOpkId++, keyPair: keyPairState(this.suite.kem.keygen()) });
      this.state.oneTimePreKeys.push(opk);
      added.push(opk);
    }
    return added;
  }
}

function requireTime(now: unknown): void {
  if (typeof now !== 'number' || !Number.isFinite(now) || now < 0) throw new InvalidLengthError('now must be a time in milliseconds since the epoch');
}

function requireKey(key: unknown): void {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new InvalidLengthError('the export key must be a 32-byte Uint8Array');
}
