/**
 * Group sessions (DESIGN.md §4 "Group sessions"): one random seed per epoch, sent to every member
 * device through one-to-one sessions in a signed GroupPreKeyBundle; each member device derives its
 * own sending chain and every other member's receiving chain from it; every message is encrypted
 * with the chain's message key and signed by the sender's identity key, and receivers verify the
 * signature before decrypting.
 *
 * Membership changes start a new epoch with a fresh seed made by the member who changes it; the
 * server orders concurrent changes and assigns epoch numbers (a change for a stale epoch is
 * refused by the server and re-made on top of the winner). A removed member never receives the new
 * seed; an added one never receives an old one. Old epochs stay readable for a grace period.
 */
import { create } from '@bufbuild/protobuf';
import { InvalidLengthError, InvalidTypeError } from '../../bindings/errors.js';
import { getSuite, randomBytes, type CipherSuite } from '../crypto/index.js';
import {
  GroupChainStateSchema,
  GroupEpochStateSchema,
  GroupSessionStateSchema,
  GroupSkippedKeyStateSchema,
  type GroupChainState,
  type GroupEpochState,
  type GroupSessionState,
} from '../proto/gen/state_pb.js';
import {
  E2eeAddressSchema,
  E2eeMsgSchema,
  GroupMemberSchema,
  GroupMsgPayloadSchema,
  GroupPreKeyBundleSchema,
  PeerGroupSchema,
  type E2eeAddress,
  type GroupMember,
  type GroupPreKeyBundle,
} from '../proto/gen/wire_pb.js';
import type { Account } from './account.js';
import { decode, decodeCanonical, encode, MAX_MESSAGE_BYTES, MAX_PLAINTEXT_BYTES, requireLength } from './codec.js';
import { addressBytes, bytesEqual, concat, label, lengthPrefixed, PROTOCOL_VERSION, toHex, u32 } from './encoding.js';
import {
  EpochConflictError,
  MalformedMessageError,
  NotAMemberError,
  ReplayError,
  SessionStateError,
  SuiteMismatchError,
  TooManySkippedMessagesError,
  UnknownEpochError,
} from './errors.js';
import { InvalidSignatureError } from './errors.js';

export const GROUP_STATE_VERSION = 2;
/** Version 1 repeated the member's signature key in every chain and skipped key; it still loads. */
const GROUP_STATE_VERSION_KEYED_BY_SIGN_KEY = 1;
/**
 * Largest group session state that loads. The limits bound what a state can hold (see
 * {@link maxGroupStateBytes}); a session refuses limits whose worst case does not fit, so no
 * message, bundle or member can make a stored state unloadable.
 */
export const MAX_GROUP_STATE_BYTES = 32 * 1024 * 1024;
/** Longest user id, device id, group id or domain, in UTF-16 code units (as the API checks them). */
const MAX_NAME_LENGTH = 256;
const SEED_BYTES = 32;
const ZERO_SALT = new Uint8Array(32);
const EMPTY = new Uint8Array(0);
const CHAIN_INFO = label('pqe2ee/v1/group-chain');
const MESSAGE_KEYS_INFO = label('pqe2ee/v1/message-keys');

/** Limits of a group session (defaults follow the one-to-one ones). */
export interface GroupLimits {
  maxSkip: number;
  maxSkippedKeysPerEpoch: number;
  /** How long a superseded epoch still decrypts in-flight messages. */
  epochGraceMs: number;
  /** Superseded epochs kept at most, whatever their age. */
  maxOldEpochs: number;
  /** Members of one epoch (bounds bundle size and change cost). */
  maxMembers: number;
}

export const DEFAULT_GROUP_LIMITS: GroupLimits = Object.freeze({
  maxSkip: 1000,
  maxSkippedKeysPerEpoch: 2000,
  epochGraceMs: 60 * 60 * 1000,
  maxOldEpochs: 3,
  maxMembers: 1000,
});

/** A member device as the API takes and returns it. */
export interface GroupMemberInfo {
  userId: string;
  deviceId: string;
  signPublicKey: Uint8Array;
}

/** A membership change; the server-assigned `epoch` must be newer than the current one. */
export interface MembershipChange {
  add?: GroupMemberInfo[];
  /** Devices to remove; a user id without device id removes all of that user's devices. */
  remove?: Array<{ userId: string; deviceId?: string }>;
  epoch: number | bigint;
  now: number;
}

/** Options of {@link GroupSession.applyBundle}. */
export interface ApplyBundleOptions {
  /** The epoch number the server ordered for this change; a bundle for any other epoch is refused. */
  expectedEpoch?: number | bigint;
  /** @internal join(): the joining device has no current epoch to check the creator against. */
  allowUnknownCreator?: boolean;
}

/** Largest epoch step a bundle may take at once (a member cannot push the group to epoch 2^64). */
const MAX_EPOCH_JUMP = 1_000_000n;
/** Decode limit for bundles: 1000 ML-DSA-87 members are about 2.7 MB. */
const MAX_GROUP_BUNDLE_BYTES = 8 * 1024 * 1024;
const MAX_EPOCH = (1n << 63n) - 1n;

/** A bundle to deliver (through one-to-one sessions) to each listed member device. */
export interface EpochBundle {
  bundle: Uint8Array;
  recipients: GroupMemberInfo[];
}

function memberInfo(member: GroupMember): GroupMemberInfo {
  return { userId: member.userId, deviceId: member.deviceId, signPublicKey: member.signPublicKey };
}

/** Unambiguous key of a member device (length-prefixed, so no user/device id pair can collide). */
function memberKey(member: { userId: string; deviceId: string }): string {
  return `${member.userId.length}:${member.userId}${member.deviceId}`;
}

function bundleSignedBytes(bundle: GroupPreKeyBundle, suite: CipherSuite): Uint8Array {
  const groupId = bundle.groupAddress?.peer.case === 'group' ? bundle.groupAddress.peer.value.groupId : '';
  return lengthPrefixed(
    label('pqe2ee/v1/group-pre-key-bundle'),
    u32(bundle.suiteId),
    addressBytes(bundle.groupAddress),
    label(groupId),
    label(bundle.epoch.toString()),
    suite.hash(concat(label('pqe2ee/v1/group-seed'), bundle.seedSecret)),
    ...bundle.members.flatMap((m) => [label(m.userId), label(m.deviceId), m.signPublicKey]),
    bundle.creatorSignPublicKey,
  );
}

function messageSignedBytes(suiteId: number, groupId: string, epoch: bigint, sender: Uint8Array, index: number, ciphertext: Uint8Array): Uint8Array {
  return lengthPrefixed(label('pqe2ee/v1/group-message'), u32(PROTOCOL_VERSION), u32(suiteId), label(groupId), label(epoch.toString()), sender, u32(index), ciphertext);
}

function chainStep(suite: CipherSuite, chainKey: Uint8Array): { messageKey: Uint8Array; nextChainKey: Uint8Array } {
  const seed = suite.hmac(chainKey, new Uint8Array([1]));
  const messageKey = suite.hkdf(seed, EMPTY, MESSAGE_KEYS_INFO, 44);
  seed.fill(0);
  return { messageKey, nextChainKey: suite.hmac(chainKey, new Uint8Array([2])) };
}

/** A group member device's session: the current epoch and, for a grace period, older ones. */
export class GroupSession {
  /** @internal */
  readonly state: GroupSessionState;
  readonly suite: CipherSuite;
  private readonly account: Account;
  private readonly limits: GroupLimits;
  /** Member positions by the hex SHA-256 of their signature key, per epoch (cache, not persisted). */
  private readonly membersByDigest = new Map<bigint, Map<string, number>>();

  private constructor(state: GroupSessionState, account: Account, limits: Partial<GroupLimits> = {}) {
    this.state = state;
    this.account = account;
    this.suite = getSuite(state.suiteId);
    this.limits = { ...DEFAULT_GROUP_LIMITS, ...limits };
    for (const [name, value] of Object.entries(this.limits)) {
      if (!Number.isSafeInteger(value) || value < 1) throw new InvalidLengthError(`group limit ${name} must be a positive integer`);
    }
    if (account.suite.params.id !== state.suiteId) throw new SuiteMismatchError('the account and the group session use different suites');
    const worstCase = maxGroupStateBytes(this.suite, this.limits);
    if (worstCase > MAX_GROUP_STATE_BYTES) {
      throw new InvalidLengthError(`these group limits allow a ${worstCase}-byte state, over the ${MAX_GROUP_STATE_BYTES}-byte limit a state must load within`);
    }
  }

  /** Creates a group with this device as creator; returns the session and the bundle for every other member device. */
  static create(
    account: Account,
    options: { groupId: string; domain?: string; members: GroupMemberInfo[]; epoch?: number | bigint; deviceId: string; userId: string; limits?: Partial<GroupLimits> },
  ): { session: GroupSession } & EpochBundle {
    const own = ownMember(account, options.userId, options.deviceId);
    requireGroupId(options.groupId);
    const state = create(GroupSessionStateSchema, {
      version: GROUP_STATE_VERSION,
      suiteId: account.suite.params.id,
      groupAddress: create(E2eeAddressSchema, { domain: options.domain ?? '', peer: { case: 'group', value: create(PeerGroupSchema, { groupId: options.groupId }) } }),
      ownMember: own,
    });
    const session = new GroupSession(state, account, options.limits);
    if (!Array.isArray(options.members)) throw new InvalidTypeError('members must be a list');
    const members = session.normaliseMembers([memberInfo(own), ...options.members]);
    const epochBundle = session.startEpoch(requireEpoch(options.epoch ?? 0), members, 0);
    return { session, ...epochBundle };
  }

  /** Joins a group from a GroupPreKeyBundle received through a one-to-one session. */
  static join(
    account: Account,
    bundleBytes: Uint8Array,
    options: { userId: string; deviceId: string; now: number; expectedEpoch?: number | bigint; limits?: Partial<GroupLimits> },
  ): GroupSession {
    const own = ownMember(account, options.userId, options.deviceId);
    const bundle = decodeCanonical(GroupPreKeyBundleSchema, bundleBytes, 'GroupPreKeyBundle', MAX_GROUP_BUNDLE_BYTES);
    if (bundle.groupAddress?.peer.case !== 'group') throw new MalformedMessageError('GroupPreKeyBundle has no group address');
    if (!nameFits(bundle.groupAddress.peer.value.groupId, 1) || !nameFits(bundle.groupAddress.domain, 0)) throw new MalformedMessageError('GroupPreKeyBundle group id or domain out of range');
    const state = create(GroupSessionStateSchema, {
      version: GROUP_STATE_VERSION,
      suiteId: account.suite.params.id,
      groupAddress: bundle.groupAddress,
      ownMember: own,
    });
    const session = new GroupSession(state, account, options.limits);
    session.applyBundle(bundleBytes, options.now, { allowUnknownCreator: true, ...(options.expectedEpoch !== undefined ? { expectedEpoch: options.expectedEpoch } : {}) });
    return session;
  }

  /** Restores a group session from {@link serialize}, bound to this device's account. */
  static deserialize(bytes: Uint8Array, account: Account, limits: Partial<GroupLimits> = {}): GroupSession {
    const state = decode(GroupSessionStateSchema, bytes, 'group session state', MAX_GROUP_STATE_BYTES);
    if (state.version === GROUP_STATE_VERSION_KEYED_BY_SIGN_KEY) upgradeFromVersion1(state);
    else if (state.version !== GROUP_STATE_VERSION) throw new SessionStateError(`group session state version ${state.version} is not supported`);
    if (!state.ownMember || state.epochs.length === 0 || state.groupAddress?.peer.case !== 'group') throw new MalformedMessageError('group session state is incomplete');
    if (!bytesEqual(state.ownMember.signPublicKey, account.identityPublicKey.signPublicKey)) throw new SessionStateError('the group session belongs to another account');
    // (The current epoch may lack a sending chain after abandonProposal(); encrypt then says so.)
    const valid = state.epochs.every((e) => {
      const inRange = (i: number): boolean => i < e.members.length;
      return (
        e.members.length > 0 &&
        e.receivingChains.every((c) => c.chainKey.length === 32 && inRange(c.memberIndex)) &&
        (!e.sendingChain || e.sendingChain.chainKey.length === 32) &&
        e.skippedKeys.every((k) => k.messageKey.length === 44 && inRange(k.memberIndex))
      );
    });
    if (!valid) throw new MalformedMessageError('group session state is damaged');
    return new GroupSession(state, account, limits);
  }

  /** The state as bytes (contains chain keys: store it encrypted). */
  serialize(): Uint8Array {
    return encode(GroupSessionStateSchema, this.state);
  }

  get groupId(): string {
    return this.state.groupAddress?.peer.case === 'group' ? this.state.groupAddress.peer.value.groupId : '';
  }

  get groupAddress(): E2eeAddress {
    return this.state.groupAddress as E2eeAddress;
  }

  /** The current epoch number. */
  get epoch(): bigint {
    return this.current.epoch;
  }

  /** Member devices of the current epoch. */
  get members(): GroupMemberInfo[] {
    return this.current.members.map(memberInfo);
  }

  /** Epoch numbers this session can still decrypt, newest first. */
  get epochs(): bigint[] {
    return this.state.epochs.map((e) => e.epoch);
  }

  private get current(): GroupEpochState {
    return this.state.epochs[0] as GroupEpochState;
  }

  /**
   * Starts a new epoch with a fresh seed for the changed membership; this device moves to it at
   * once. Deliver the returned bundle to every listed recipient through one-to-one sessions.
   */
  changeMembers(change: MembershipChange): EpochBundle {
    const epoch = requireEpoch(change.epoch);
    if (change.remove !== undefined && (!Array.isArray(change.remove) || change.remove.some((r) => typeof r?.userId !== 'string'))) {
      throw new InvalidTypeError('remove must be a list of { userId, deviceId? }');
    }
    if (change.add !== undefined && !Array.isArray(change.add)) throw new InvalidTypeError('add must be a list of members');
    if (epoch <= this.current.epoch) throw new EpochConflictError(`epoch ${epoch} is not newer than the current epoch ${this.current.epoch}`);
    const removed = change.remove ?? [];
    const kept = this.members.filter((m) => !removed.some((r) => r.userId === m.userId && (r.deviceId === undefined || r.deviceId === m.deviceId)));
    if (!kept.some((m) => memberKey(m) === memberKey(this.ownInfo))) throw new NotAMemberError('a member cannot remove itself: ask another member to remove this device (leave)');
    return this.startEpoch(epoch, this.normaliseMembers([...kept, ...(change.add ?? [])]), change.now);
  }

  /**
   * Drops this device's own epoch proposal (made by changeMembers) after the server refused the
   * change: the session returns to the previous epoch, ready for the winner's bundle.
   */
  abandonProposal(): void {
    const proposal = this.current;
    if (!proposal.proposedBySelf || this.state.epochs.length < 2) throw new SessionStateError('there is no unconfirmed proposal to abandon');
    wipeEpoch(proposal);
    this.membersByDigest.delete(proposal.epoch);
    this.state.epochs = this.state.epochs.slice(1);
    // The previous epoch becomes current again, but its sending chain was deleted when the proposal
    // was made: this device can read it, and sends again once the winner's epoch is applied.
    (this.state.epochs[0] as GroupEpochState).supersededAtMs = 0n;
  }

  /**
   * Moves to the epoch of a GroupPreKeyBundle made by another member. Pass the epoch the server
   * ordered (`expectedEpoch`): bundles travel inside one-to-one sessions, so only that cross-check
   * ties a bundle to the server's order. A bundle for an epoch already applied is ignored if
   * identical; an older, conflicting or discontinuous one (a device changing its key, a key
   * changing its name) throws.
   */
  applyBundle(bundleBytes: Uint8Array, now: number, options: ApplyBundleOptions = {}): void {
    const bundle = decodeCanonical(GroupPreKeyBundleSchema, bundleBytes, 'GroupPreKeyBundle', MAX_GROUP_BUNDLE_BYTES);
    if (bundle.version !== PROTOCOL_VERSION) throw new MalformedMessageError(`GroupPreKeyBundle version ${bundle.version}`);
    if (bundle.suiteId !== this.suite.params.id) throw new SuiteMismatchError('GroupPreKeyBundle is for another suite');
    if (bundle.groupAddress?.peer.case !== 'group' || bundle.groupAddress.peer.value.groupId !== this.groupId) throw new MalformedMessageError('GroupPreKeyBundle is for another group');
    requireLength(bundle.seedSecret, SEED_BYTES, 'group seed');
    if (bundle.members.length === 0 || bundle.members.length > this.limits.maxMembers) throw new MalformedMessageError('GroupPreKeyBundle member count out of range');
    for (const member of bundle.members) {
      requireLength(member.signPublicKey, this.suite.params.sigPublicKeyBytes, 'member signature key');
      if (!nameFits(member.userId, 1) || !nameFits(member.deviceId, 0)) throw new MalformedMessageError('GroupPreKeyBundle member user id or device id out of range');
    }
    requireDistinctMembers(bundle.members);
    const creator = bundle.members.find((m) => bytesEqual(m.signPublicKey, bundle.creatorSignPublicKey));
    if (!creator) throw new NotAMemberError('the bundle creator is not a member of its epoch');
    if (!this.suite.sig.verify(bundle.creatorSignPublicKey, bundleSignedBytes(bundle, this.suite), bundle.signature)) {
      throw new InvalidSignatureError('GroupPreKeyBundle signature does not verify');
    }
    if (!bundle.members.some((m) => memberKey(m) === memberKey(this.ownInfo) && bytesEqual(m.signPublicKey, this.ownInfo.signPublicKey))) {
      throw new NotAMemberError('this device is not a member of the bundle epoch');
    }
    const digest = this.suite.hash(bundleBytes);
    if (options.expectedEpoch !== undefined && bundle.epoch !== BigInt(options.expectedEpoch)) {
      throw new EpochConflictError(`bundle is for epoch ${bundle.epoch}, the server ordered epoch ${options.expectedEpoch}`);
    }
    const existing = this.state.epochs.find((e) => e.epoch === bundle.epoch);
    if (existing) {
      if (bytesEqual(existing.bundleDigest, digest)) {
        existing.proposedBySelf = false; // our own bundle, confirmed once the server ordered it
        return;
      }
      throw new EpochConflictError(
        `a different bundle for epoch ${bundle.epoch} was already applied` +
          (existing.proposedBySelf ? ' (if the server refused your own change for this epoch, call abandonProposal() first)' : ''),
      );
    }
    if (this.state.epochs.length > 0) {
      const current = this.current;
      if (bundle.epoch < current.epoch) throw new EpochConflictError(`epoch ${bundle.epoch} is older than the current epoch ${current.epoch}`);
      if (bundle.epoch - current.epoch > MAX_EPOCH_JUMP) throw new EpochConflictError(`epoch ${bundle.epoch} is implausibly far ahead of ${current.epoch}`);
      if (!options.allowUnknownCreator && !current.members.some((m) => bytesEqual(m.signPublicKey, bundle.creatorSignPublicKey))) {
        throw new NotAMemberError('the bundle creator is not a member of the current epoch');
      }
      requireContinuity(current.members, bundle.members);
    }
    this.installEpoch(bundle.epoch, bundle.members, bundle.seedSecret, digest, now);
    bundle.seedSecret.fill(0);
  }

  /** Encrypts and signs a message to the group's current epoch; returns a serialized E2eeMsg. */
  encrypt(plaintext: Uint8Array): Uint8Array {
    if (!(plaintext instanceof Uint8Array)) throw new InvalidTypeError('plaintext must be a Uint8Array');
    if (plaintext.length > MAX_PLAINTEXT_BYTES) throw new InvalidLengthError('plaintext is over the per-message limit');
    const epoch = this.current;
    const chain = epoch.sendingChain;
    if (!chain) throw new SessionStateError('this device cannot send in the current epoch (its own change was abandoned): apply the next epoch first');
    const { messageKey, nextChainKey } = chainStep(this.suite, chain.chainKey);
    const index = chain.nextIndex;
    chain.chainKey.fill(0);
    chain.chainKey = nextChainKey;
    chain.nextIndex += 1;
    const sender = this.ownInfo.signPublicKey;
    const ad = messageSignedBytes(this.suite.params.id, this.groupId, epoch.epoch, sender, index, EMPTY);
    const ciphertext = this.suite.aead.encrypt(messageKey.subarray(0, 32), messageKey.subarray(32, 44), plaintext, ad);
    messageKey.fill(0);
    const signature = this.suite.sig.sign(this.account.state.identitySignKey?.secretKey as Uint8Array, messageSignedBytes(this.suite.params.id, this.groupId, epoch.epoch, sender, index, ciphertext));
    const payload = create(GroupMsgPayloadSchema, { groupId: this.groupId, epoch: epoch.epoch, senderKeyDigest: this.suite.hash(sender), messageIndex: index, ciphertext, signature });
    return encode(
      E2eeMsgSchema,
      create(E2eeMsgSchema, {
        version: PROTOCOL_VERSION,
        suiteId: this.suite.params.id,
        to: this.groupAddress,
        payload: { case: 'groupMsg', value: payload },
      }),
    );
  }

  /** Verifies the sender's signature, then decrypts; returns the plaintext and the sending member. */
  decrypt(wire: Uint8Array): { plaintext: Uint8Array; sender: GroupMemberInfo; epoch: bigint } {
    const message = decodeCanonical(E2eeMsgSchema, wire, 'E2eeMsg', MAX_MESSAGE_BYTES);
    if (message.version !== PROTOCOL_VERSION) throw new MalformedMessageError(`E2eeMsg version ${message.version}`);
    if (message.suiteId !== this.suite.params.id) throw new SuiteMismatchError('group message of another suite');
    if (message.payload.case !== 'groupMsg') throw new MalformedMessageError('E2eeMsg carries no group payload');
    const payload = message.payload.value;
    if (payload.groupId !== this.groupId) throw new MalformedMessageError('group message for another group');
    // The routing fields are not signed: insist they are exactly what encrypt() writes.
    if (message.sessionId !== '' || message.from !== undefined || !bytesEqual(addressBytes(message.to), addressBytes(this.groupAddress))) {
      throw new MalformedMessageError('group message with unexpected routing fields');
    }
    const epoch = this.state.epochs.find((e) => e.epoch === payload.epoch);
    if (!epoch) throw new UnknownEpochError(`no keys for epoch ${payload.epoch} (not a member then, or already deleted)`);
    const senderIndex = this.memberIndexByDigest(epoch, payload.senderKeyDigest);
    const sender = senderIndex === undefined ? undefined : epoch.members[senderIndex];
    if (senderIndex === undefined || !sender) throw new NotAMemberError('the sender is not a member of that epoch');
    if (bytesEqual(sender.signPublicKey, this.ownInfo.signPublicKey)) throw new ReplayError('a device cannot decrypt its own group messages');
    const signed = messageSignedBytes(this.suite.params.id, this.groupId, epoch.epoch, sender.signPublicKey, payload.messageIndex, payload.ciphertext);
    if (!this.suite.sig.verify(sender.signPublicKey, signed, payload.signature)) throw new InvalidSignatureError('group message signature does not verify');

    const index = payload.messageIndex;
    const skippedAt = epoch.skippedKeys.findIndex((k) => k.messageIndex === index && k.memberIndex === senderIndex);
    const ad = messageSignedBytes(this.suite.params.id, this.groupId, epoch.epoch, sender.signPublicKey, index, EMPTY);
    if (skippedAt >= 0) {
      const key = (epoch.skippedKeys[skippedAt]?.messageKey as Uint8Array).slice();
      const plaintext = this.suite.aead.decrypt(key.subarray(0, 32), key.subarray(32, 44), payload.ciphertext, ad);
      key.fill(0);
      epoch.skippedKeys.splice(skippedAt, 1)[0]?.messageKey.fill(0);
      return { plaintext, sender: memberInfo(sender), epoch: epoch.epoch };
    }
    const chain = epoch.receivingChains.find((c) => c.memberIndex === senderIndex);
    if (!chain) throw new NotAMemberError('no chain for this sender');
    if (index < chain.nextIndex) throw new ReplayError();
    if (index - chain.nextIndex > this.limits.maxSkip) throw new TooManySkippedMessagesError(`group message index ${index} skips more than ${this.limits.maxSkip} keys`);
    const skipped: Array<{ index: number; messageKey: Uint8Array }> = [];
    let key = chain.chainKey;
    for (let i = chain.nextIndex; i < index; i++) {
      const step = chainStep(this.suite, key);
      if (key !== chain.chainKey) key.fill(0);
      skipped.push({ index: i, messageKey: step.messageKey });
      key = step.nextChainKey;
    }
    const last = chainStep(this.suite, key);
    if (key !== chain.chainKey) key.fill(0);
    let plaintext: Uint8Array;
    try {
      plaintext = this.suite.aead.decrypt(last.messageKey.subarray(0, 32), last.messageKey.subarray(32, 44), payload.ciphertext, ad);
    } catch (error) {
      for (const s of skipped) s.messageKey.fill(0);
      last.nextChainKey.fill(0);
      throw error;
    } finally {
      last.messageKey.fill(0);
    }
    chain.chainKey.fill(0);
    chain.chainKey = last.nextChainKey;
    chain.nextIndex = index + 1;
    for (const s of skipped) {
      epoch.skippedKeys.push(create(GroupSkippedKeyStateSchema, { memberIndex: senderIndex, messageIndex: s.index, messageKey: s.messageKey }));
    }
    while (epoch.skippedKeys.length > this.limits.maxSkippedKeysPerEpoch) epoch.skippedKeys.shift()?.messageKey.fill(0);
    return { plaintext, sender: memberInfo(sender), epoch: epoch.epoch };
  }

  /** Deletes superseded epochs older than the grace period (call it periodically with the current time). */
  pruneEpochs(now: number): void {
    const [current, ...older] = this.state.epochs;
    const kept = older.filter((e, i) => i < this.limits.maxOldEpochs && now - Number(e.supersededAtMs) < this.limits.epochGraceMs);
    for (const e of older) {
      if (!kept.includes(e)) {
        wipeEpoch(e);
        this.membersByDigest.delete(e.epoch);
      }
    }
    this.state.epochs = [current as GroupEpochState, ...kept];
  }

  private memberIndexByDigest(epoch: GroupEpochState, digest: Uint8Array): number | undefined {
    let index = this.membersByDigest.get(epoch.epoch);
    if (!index) {
      index = new Map(epoch.members.map((m, i) => [toHex(this.suite.hash(m.signPublicKey)), i]));
      this.membersByDigest.set(epoch.epoch, index);
    }
    return index.get(toHex(digest));
  }

  private get ownInfo(): GroupMemberInfo {
    return memberInfo(this.state.ownMember as GroupMember);
  }

  private normaliseMembers(members: GroupMemberInfo[]): GroupMember[] {
    const byKey = new Map<string, GroupMember>();
    for (const m of members) {
      if (typeof m !== 'object' || m === null) throw new InvalidTypeError('a member must be { userId, deviceId, signPublicKey }');
      if (typeof m.userId !== 'string' || typeof m.deviceId !== 'string' || m.userId.length === 0 || m.userId.length > 256 || m.deviceId.length > 256) {
        throw new InvalidLengthError('member user id / device id must be non-empty strings of at most 256 characters');
      }
      if (!(m.signPublicKey instanceof Uint8Array) || m.signPublicKey.length !== this.suite.params.sigPublicKeyBytes) {
        throw new InvalidLengthError(`member signature key must be ${this.suite.params.sigPublicKeyBytes} bytes`);
      }
      byKey.set(memberKey(m), create(GroupMemberSchema, { userId: m.userId, deviceId: m.deviceId, signPublicKey: m.signPublicKey.slice() }));
    }
    if (byKey.size > this.limits.maxMembers) throw new InvalidLengthError(`a group epoch has at most ${this.limits.maxMembers} member devices`);
    requireDistinctMembers([...byKey.values()]);
    // A canonical order makes every member's bundle encoding (and its signature) unambiguous.
    return [...byKey.values()].sort((a, b) => (memberKey(a) < memberKey(b) ? -1 : memberKey(a) > memberKey(b) ? 1 : 0));
  }

  private startEpoch(epoch: bigint, members: GroupMember[], now: number): EpochBundle {
    const seed = randomBytes(SEED_BYTES);
    const bundle = create(GroupPreKeyBundleSchema, {
      version: PROTOCOL_VERSION,
      suiteId: this.suite.params.id,
      groupAddress: this.state.groupAddress,
      epoch,
      seedSecret: seed,
      members,
      creatorSignPublicKey: this.ownInfo.signPublicKey,
    });
    bundle.signature = this.suite.sig.sign(this.account.state.identitySignKey?.secretKey as Uint8Array, bundleSignedBytes(bundle, this.suite));
    const bundleBytes = encode(GroupPreKeyBundleSchema, bundle);
    this.installEpoch(epoch, members, seed, this.suite.hash(bundleBytes), now);
    (this.state.epochs[0] as GroupEpochState).proposedBySelf = this.state.epochs.length > 1;
    seed.fill(0);
    const own = memberKey(this.ownInfo);
    return { bundle: bundleBytes, recipients: members.filter((m) => memberKey(m) !== own).map(memberInfo) };
  }

  private installEpoch(epoch: bigint, members: GroupMember[], seed: Uint8Array, digest: Uint8Array, now: number): void {
    const chainFor = (m: GroupMember, memberIndex: number): GroupChainState =>
      create(GroupChainStateSchema, {
        memberIndex,
        chainKey: this.suite.hkdf(seed, ZERO_SALT, concat(CHAIN_INFO, lengthPrefixed(label(this.groupId), label(epoch.toString()), m.signPublicKey)), 32),
        nextIndex: 0,
      });
    const own = this.ownInfo.signPublicKey;
    const ownIndex = members.findIndex((m) => bytesEqual(m.signPublicKey, own));
    const state = create(GroupEpochStateSchema, {
      epoch,
      members,
      bundleDigest: digest,
      receivingChains: members.flatMap((m, i) => (i === ownIndex ? [] : [chainFor(m, i)])),
    });
    const self = members[ownIndex];
    if (self) state.sendingChain = chainFor(self, ownIndex);
    // The previous epoch stops sending at once and keeps decrypting for the grace period.
    for (const old of this.state.epochs) {
      if (old.supersededAtMs === 0n) old.supersededAtMs = BigInt(now);
      old.sendingChain?.chainKey.fill(0);
      old.sendingChain = undefined;
    }
    this.state.epochs = [state, ...this.state.epochs].sort((a, b) => (a.epoch > b.epoch ? -1 : a.epoch < b.epoch ? 1 : 0));
    this.pruneEpochs(now);
  }
}

/**
 * Every member device must have its own identity key and appear once: a list with one key under two
 * names would let its author make one member's messages look like another's.
 */
function requireDistinctMembers(members: GroupMember[]): void {
  const keys = new Set<string>();
  const names = new Set<string>();
  for (const m of members) {
    const key = toHex(m.signPublicKey);
    const name = memberKey(m);
    if (keys.has(key) || names.has(name)) throw new MalformedMessageError('a group member list names a device or an identity key twice');
    keys.add(key);
    names.add(name);
  }
}

/**
 * Between epochs a device keeps its identity key and a key keeps its device name: otherwise a
 * bundle's creator could relabel its own key as another member, or slip in a "device" of someone
 * else under a key it controls.
 */
function requireContinuity(previous: GroupMember[], next: GroupMember[]): void {
  const keyByName = new Map(previous.map((m) => [memberKey(m), toHex(m.signPublicKey)]));
  const nameByKey = new Map(previous.map((m) => [toHex(m.signPublicKey), memberKey(m)]));
  for (const m of next) {
    const key = toHex(m.signPublicKey);
    const name = memberKey(m);
    const knownKey = keyByName.get(name);
    const knownName = nameByKey.get(key);
    if ((knownKey !== undefined && knownKey !== key) || (knownName !== undefined && knownName !== name)) {
      throw new NotAMemberError('the bundle changes the identity key of an existing member device');
    }
  }
}

/** True if `name` has between `min` and MAX_NAME_LENGTH UTF-16 code units. */
function nameFits(name: string, min: number): boolean {
  return name.length >= min && name.length <= MAX_NAME_LENGTH;
}

/** Bytes of a length-delimited protobuf field (tag, length, content) with `n` bytes of content. */
function fieldBytes(n: number): number {
  return 1 + varintBytes(n) + n;
}

function varintBytes(n: number): number {
  let bytes = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    bytes += 1;
  }
  return bytes;
}

/**
 * Upper bound of a serialized group session state under `limits`: every epoch kept full of members
 * with the longest names (a UTF-16 code unit is at most 3 UTF-8 bytes), every chain, and every
 * skipped key. Members are the only part that grows with the signature key; chains and skipped
 * keys name their member by position, so a sender skipping indexes adds 60 bytes per key.
 */
export function maxGroupStateBytes(suite: CipherSuite, limits: GroupLimits): number {
  const name = fieldBytes(3 * MAX_NAME_LENGTH);
  const varint = 11; // tag + a 64-bit varint
  const member = fieldBytes(2 * name + fieldBytes(suite.params.sigPublicKeyBytes));
  const chain = fieldBytes(varint + fieldBytes(32) + varint);
  const skippedKey = fieldBytes(varint + fieldBytes(44) + varint);
  const epoch = fieldBytes(
    varint + limits.maxMembers * member + chain + limits.maxMembers * chain + limits.maxSkippedKeysPerEpoch * skippedKey + varint + fieldBytes(64) + 2,
  );
  const address = fieldBytes(name + fieldBytes(name));
  return 2 * varint + address + member + (limits.maxOldEpochs + 1) * epoch;
}

/** Rewrites a version 1 state (chains and skipped keys keyed by signature key) to member positions. */
function upgradeFromVersion1(state: GroupSessionState): void {
  for (const epoch of state.epochs) {
    const position = new Map(epoch.members.map((m, i) => [toHex(m.signPublicKey), i]));
    const indexOf = (key: Uint8Array): number => {
      const index = position.get(toHex(key));
      if (index === undefined) throw new MalformedMessageError('group session state is damaged');
      return index;
    };
    for (const chain of [...epoch.receivingChains, ...(epoch.sendingChain ? [epoch.sendingChain] : [])]) {
      chain.memberIndex = indexOf(chain.signPublicKey);
      chain.signPublicKey = EMPTY;
    }
    for (const key of epoch.skippedKeys) {
      key.memberIndex = indexOf(key.signPublicKey);
      key.signPublicKey = EMPTY;
    }
  }
  state.version = GROUP_STATE_VERSION;
}

function wipeEpoch(epoch: GroupEpochState): void {
  epoch.sendingChain?.chainKey.fill(0);
  for (const c of epoch.receivingChains) c.chainKey.fill(0);
  for (const k of epoch.skippedKeys) k.messageKey.fill(0);
}

function requireEpoch(epoch: unknown): bigint {
  if ((typeof epoch !== 'number' || !Number.isSafeInteger(epoch)) && typeof epoch !== 'bigint') throw new InvalidTypeError('epoch must be an integer');
  const value = BigInt(epoch);
  if (value < 0n || value > MAX_EPOCH) throw new InvalidLengthError('epoch out of range');
  return value;
}

function requireGroupId(groupId: unknown): void {
  if (typeof groupId !== 'string' || groupId.length === 0 || groupId.length > 256) throw new InvalidLengthError('groupId must be a non-empty string of at most 256 characters');
}

function ownMember(account: Account, userId: string, deviceId: string): GroupMember {
  if (typeof userId !== 'string' || userId.length === 0 || typeof deviceId !== 'string') throw new InvalidLengthError('userId and deviceId are required');
  return create(GroupMemberSchema, { userId, deviceId, signPublicKey: account.identityPublicKey.signPublicKey });
}
