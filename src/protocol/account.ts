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
/** Upper bound on stored one-time pre-keys (an attacker-driven or buggy replenish loop cannot grow state without end). */
export const MAX_ONE_TIME_PRE_KEYS = 10_000;
export const SIGNED_PRE_KEY_LIFETIME_MS = 7 * 24 * 60 * 60 * 1000;
/** How long a replaced signed pre-key still accepts invites made from old bundles. */
export const SIGNED_PRE_KEY_GRACE_MS = 7 * 24 * 60 * 60 * 1000;
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
    const state = decode(AccountStateSchema, bytes, 'account state');
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

  /** How many one-time pre-keys are left. */
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

  /** Makes `count` new one-time pre-keys and returns their serialized public halves (for the server). */
  publishOneTimePreKeys(count: number = ONE_TIME_PRE_KEY_BATCH): Uint8Array[] {
    if (!Number.isInteger(count) || count < 1 || count > MAX_ONE_TIME_PRE_KEYS) {
      throw new InvalidLengthError(`count must be an integer between 1 and ${MAX_ONE_TIME_PRE_KEYS}`);
    }
    return this.addOneTimePreKeys(count).map((opk) =>
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

  private addOneTimePreKeys(count: number): OneTimePreKeyState[] {
    if (this.state.oneTimePreKeys.length + count > MAX_ONE_TIME_PRE_KEYS) {
      throw new InvalidLengthError(`an account holds at most ${MAX_ONE_TIME_PRE_KEYS} one-time pre-keys`);
    }
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
