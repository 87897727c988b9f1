/**
 * Group sessions (DESIGN.md §4 "Group sessions", §4.1): one random seed per epoch, sent to every
 * member device through one-to-one sessions in a signed GroupPreKeyBundle; each member device
 * derives its own sending chain and every other member's receiving chain from it; every message is
 * encrypted with the chain's message key and signed, and receivers verify the signature before
 * they derive any key. What signs is the group's auth mode, fixed at creation and carried in every
 * bundle: 'sender-key' (the default) signs with a per-epoch Ed25519 key of the sender, announced
 * under its identity key in its first message of the epoch (sender-key.ts); 'identity' signs every
 * message with the identity key, as protocol v1 did. What each protects: docs/protocol.md.
 *
 * Membership changes start a new epoch with a fresh seed made by the member who changes it; the
 * server orders concurrent changes and assigns epoch numbers (a change for a stale epoch is
 * refused by the server and re-made on top of the winner). A removed member never receives the new
 * seed; an added one never receives an old one. Old epochs stay readable for a grace period.
 *
 * This file is the state machine (which epoch, which chain, when to move on). The bundle and its
 * member-list rules are in epoch-bundle.ts, the message encodings in group-message.ts, the stored
 * state and its size bound in group-state.ts, and the chain itself in ../symmetric-chain.ts.
 */
import { create } from '@bufbuild/protobuf';
import { GroupAuthModeError, InvalidLengthError, InvalidSignatureError, InvalidTypeError, MissingSenderKeyError, SenderKeyConflictError } from '../../errors.js';
import { getSuite, randomBytes, type CipherSuite } from '../../crypto/index.js';
import {
  GroupChainStateSchema,
  GroupEpochStateSchema,
  GroupSenderKeyStateSchema,
  GroupSessionStateSchema,
  GroupSkippedKeyStateSchema,
  KeyPairStateSchema,
  type GroupChainState,
  type GroupEpochState,
  type GroupSessionState,
  type GroupSkippedKeyState,
} from '../../proto/gen/state_pb.js';
import { E2eeAddressSchema, GroupAuth, GroupMemberSchema, PeerGroupSchema, type E2eeAddress, type GroupMember, type GroupMsgPayload } from '../../proto/gen/wire_pb.js';
import type { Account } from '../account.js';
import { bytesEqual, concat, encode, label, lengthPrefixed, MAX_PLAINTEXT_BYTES } from '../encoding.js';
import { EpochConflictError, NotAMemberError, ReplayError, SessionStateError, SuiteMismatchError, TooManySkippedMessagesError, UnknownEpochError } from '../../errors.js';
import { CHAIN_KEY_BYTES, chainStep, walkChain, wipeWalk } from '../symmetric-chain.js';
import {
  bundleGroupAddress,
  memberInfo,
  memberKey,
  normaliseMembers,
  openEpochBundle,
  requireContinuity,
  requireGroupId,
  signEpochBundle,
  SEED_BYTES,
  type GroupMemberInfo,
} from './epoch-bundle.js';
import { messageStatement, openGroupMessage, readGroupMessage, sealGroupMessage, type GroupMessagePosition } from './group-message.js';
import {
  announceSenderKey,
  deriveMessageAuthKey,
  makeSenderKey,
  SENDER_SIGNATURE_BYTES,
  signWithSenderKey,
  verifySenderKeyAnnouncement,
  verifySenderKeySignature,
  type PreviousEpoch,
  type VerifiedAnnouncement,
} from './sender-key.js';
import { GROUP_STATE_VERSION, loadGroupState, requireLoadableLimits, resolveGroupLimits, wipeEpoch, type GroupLimits } from './group-state.js';

export { DEFAULT_GROUP_LIMITS, MAX_GROUP_STATE_BYTES, maxGroupStateBytes, type GroupLimits } from './group-state.js';
export type { GroupMemberInfo } from './epoch-bundle.js';

const ZERO_SALT = new Uint8Array(32);
const CHAIN_INFO = label('pqe2ee/v1/group-chain');
/** Largest epoch step a bundle may take at once (a member cannot push the group to epoch 2^64). */
const MAX_EPOCH_JUMP = 1_000_000n;
const MAX_EPOCH = (1n << 63n) - 1n;

/**
 * How a group authenticates its messages (fixed when the group is created):
 * - 'sender-key' (default): each member signs with an Ed25519 key of the epoch, announced once per
 *   epoch under its identity key. 64-byte signatures; a stolen group state can forge that member's
 *   messages until the group's next epoch.
 * - 'identity': every message is signed with the sender's identity key (4,627 bytes in suite 1); a
 *   stolen group state alone cannot forge any message.
 */
export type GroupAuthMode = 'sender-key' | 'identity';

const AUTH_OF_MODE: Record<GroupAuthMode, GroupAuth> = { 'sender-key': GroupAuth.SENDER_KEY, identity: GroupAuth.IDENTITY };

/** What {@link GroupSession.decrypt} returns. */
export interface GroupDecryptResult {
  plaintext: Uint8Array;
  /** The member at the message's position, whose key signed it. */
  sender: GroupMemberInfo;
  /** The epoch the message was sent in. */
  epoch: bigint;
  /** The message carried its sender's key announcement for the epoch, now stored: messages of that sender held for it (MissingSenderKeyError) can be decrypted. */
  senderKeyAnnounced: boolean;
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

/** A bundle to deliver (through one-to-one sessions) to each listed member device. */
export interface EpochBundle {
  bundle: Uint8Array;
  recipients: GroupMemberInfo[];
}

/** A group member device's session: the current epoch and, for a grace period, older ones. */
export class GroupSession {
  /** @internal */
  readonly state: GroupSessionState;
  readonly suite: CipherSuite;
  private readonly account: Account;
  private readonly limits: GroupLimits;

  private constructor(state: GroupSessionState, account: Account, limits: Partial<GroupLimits> = {}) {
    this.state = state;
    this.account = account;
    this.suite = getSuite(state.suiteId);
    this.limits = resolveGroupLimits(limits);
    if (account.suite.params.id !== state.suiteId) throw new SuiteMismatchError('the account and the group session use different suites');
    requireLoadableLimits(this.suite, this.limits);
  }

  /** Creates a group with this device as creator; returns the session and the bundle for every other member device. */
  static create(
    account: Account,
    options: {
      groupId: string;
      domain?: string;
      members: GroupMemberInfo[];
      epoch?: number | bigint;
      deviceId: string;
      userId: string;
      limits?: Partial<GroupLimits>;
      /** How the group authenticates messages, for all its epochs (default 'sender-key'). */
      groupAuth?: GroupAuthMode;
    },
  ): { session: GroupSession } & EpochBundle {
    const own = ownMember(account, options.userId, options.deviceId);
    requireGroupId(options.groupId);
    const groupAuth = options.groupAuth ?? 'sender-key';
    if (!Object.hasOwn(AUTH_OF_MODE, groupAuth)) throw new InvalidTypeError("groupAuth must be 'sender-key' or 'identity'");
    const state = create(GroupSessionStateSchema, {
      version: GROUP_STATE_VERSION,
      suiteId: account.suite.params.id,
      groupAddress: create(E2eeAddressSchema, { domain: options.domain ?? '', peer: { case: 'group', value: create(PeerGroupSchema, { groupId: options.groupId }) } }),
      ownMember: own,
      groupAuth: AUTH_OF_MODE[groupAuth],
    });
    const session = new GroupSession(state, account, options.limits);
    if (!Array.isArray(options.members)) throw new InvalidTypeError('members must be a list');
    const members = normaliseMembers(session.suite, [memberInfo(own), ...options.members], session.limits.maxMembers);
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
    const { groupAddress, groupAuth } = bundleGroupAddress(bundleBytes);
    const state = create(GroupSessionStateSchema, {
      version: GROUP_STATE_VERSION,
      suiteId: account.suite.params.id,
      groupAddress,
      ownMember: own,
      // The joiner takes the group's mode from the bundle (whose signature applyBundle checks next).
      groupAuth,
    });
    const session = new GroupSession(state, account, options.limits);
    session.applyBundle(bundleBytes, options.now, { allowUnknownCreator: true, ...(options.expectedEpoch !== undefined ? { expectedEpoch: options.expectedEpoch } : {}) });
    return session;
  }

  /** Restores a group session from {@link serialize}, bound to this device's account. */
  static deserialize(bytes: Uint8Array, account: Account, limits: Partial<GroupLimits> = {}): GroupSession {
    const state = loadGroupState(bytes, account.identityPublicKey.signPublicKey);
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

  /** How this group authenticates its messages (fixed when it was created). */
  get groupAuth(): GroupAuthMode {
    return this.state.groupAuth === GroupAuth.IDENTITY ? 'identity' : 'sender-key';
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
    return this.startEpoch(epoch, normaliseMembers(this.suite, [...kept, ...(change.add ?? [])], this.limits.maxMembers), change.now);
  }

  /**
   * Drops this device's own epoch proposal (made by changeMembers) after the server refused the
   * change: the session returns to the previous epoch, ready for the winner's bundle.
   */
  abandonProposal(): void {
    const proposal = this.current;
    if (!proposal.proposedBySelf || this.state.epochs.length < 2) throw new SessionStateError('there is no unconfirmed proposal to abandon');
    wipeEpoch(proposal);
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
    const bundle = openEpochBundle(this.suite, bundleBytes, this.groupId, this.limits.maxMembers);
    // Every epoch keeps the group's mode: a bundle may not move a group to the other one.
    if (bundle.groupAuth !== this.state.groupAuth) throw new GroupAuthModeError(`a bundle for epoch ${bundle.epoch} changes the group's auth mode from '${this.groupAuth}'`);
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

  /**
   * Encrypts and signs a message to the group's current epoch; returns a serialized E2eeMsg. In a
   * 'sender-key' group the first message of each epoch also carries this device's sender-key
   * announcement (one identity signature per epoch).
   */
  encrypt(plaintext: Uint8Array): Uint8Array {
    if (!(plaintext instanceof Uint8Array)) throw new InvalidTypeError('plaintext must be a Uint8Array');
    if (plaintext.length > MAX_PLAINTEXT_BYTES) throw new InvalidLengthError('plaintext is over the per-message limit');
    const epoch = this.current;
    const chain = epoch.sendingChain;
    if (!chain) throw new SessionStateError('this device cannot send in the current epoch (its own change was abandoned): apply the next epoch first');
    const at: GroupMessagePosition = { groupId: this.groupId, epoch: epoch.epoch, epochDigest: epoch.bundleDigest, memberIndex: chain.memberIndex, index: chain.nextIndex };
    let sign: (statement: Uint8Array) => Uint8Array;
    let announcement: ReturnType<typeof announceSenderKey> | undefined;
    if (this.state.groupAuth === GroupAuth.SENDER_KEY) {
      const own = epoch.ownSenderKey;
      if (!own) throw new SessionStateError('this device has no sender key for the current epoch');
      sign = (statement) => signWithSenderKey(this.suite, own.secretKey, epoch.messageAuthKey, statement);
      if (at.index === 0) announcement = announceSenderKey(this.account, { ...at, identityKey: this.ownInfo.signPublicKey }, own.publicKey, this.previousEpoch());
    } else {
      sign = (statement) => this.account.signWithIdentity(statement);
    }
    const { messageKey, nextChainKey } = chainStep(this.suite, chain.chainKey);
    chain.chainKey.fill(0);
    chain.chainKey = nextChainKey;
    chain.nextIndex += 1;
    try {
      return sealGroupMessage({ suite: this.suite, auth: this.state.groupAuth, groupAddress: this.groupAddress, at, messageKey, sign, announcement }, plaintext);
    } finally {
      messageKey.fill(0);
    }
  }

  /**
   * Verifies the message's signature as the group's mode requires, then decrypts; returns the
   * plaintext and the sending member. Nothing changes unless the signature verified and the message
   * decrypted. In a 'sender-key' group, a message whose sender's announcement this device has not
   * received yet throws MissingSenderKeyError (hold it and try again after the announcement).
   */
  decrypt(wire: Uint8Array): GroupDecryptResult {
    const payload = readGroupMessage(this.suite, wire, this.groupAddress);
    const epoch = this.state.epochs.find((e) => e.epoch === payload.epoch);
    if (!epoch) throw new UnknownEpochError(`no keys for epoch ${payload.epoch} (not a member then, or already deleted)`);
    const memberIndex = payload.memberIndex;
    const sender = epoch.members[memberIndex];
    if (!sender) throw new NotAMemberError(`member index ${memberIndex} is not in epoch ${epoch.epoch} (${epoch.members.length} members)`);
    if (bytesEqual(sender.signPublicKey, this.ownInfo.signPublicKey)) throw new ReplayError('a device cannot decrypt its own group messages');
    const index = payload.messageIndex;
    const at: GroupMessagePosition = { groupId: this.groupId, epoch: epoch.epoch, epochDigest: epoch.bundleDigest, memberIndex, index };
    // A chain whose end its sender announced (in a later epoch) takes no further indexes.
    const end = epoch.receivingChains.find((c) => c.memberIndex === memberIndex)?.endIndex;
    if (end !== undefined && index >= end) {
      throw new SenderKeyConflictError(`${sender.userId}/${sender.deviceId} announced that it sent ${end} messages in epoch ${epoch.epoch}: index ${index} is refused`);
    }
    const announced = this.verifySignature(epoch, sender, payload, at);

    const skippedAt = epoch.skippedKeys.findIndex((k) => k.messageIndex === index && k.memberIndex === memberIndex);
    let plaintext: Uint8Array;
    if (skippedAt >= 0) {
      const key = (epoch.skippedKeys[skippedAt] as GroupSkippedKeyState).messageKey;
      plaintext = openGroupMessage(this.suite, payload, key);
      epoch.skippedKeys.splice(skippedAt, 1);
      key.fill(0);
    } else {
      const chain = epoch.receivingChains.find((c) => c.memberIndex === memberIndex);
      if (!chain) throw new NotAMemberError('no chain for this sender');
      if (index < chain.nextIndex) throw new ReplayError();
      if (index - chain.nextIndex > this.limits.maxSkip) throw new TooManySkippedMessagesError(`group message index ${index} skips more than ${this.limits.maxSkip} keys`);
      const walk = walkChain(this.suite, chain.chainKey, chain.nextIndex, index);
      try {
        plaintext = openGroupMessage(this.suite, payload, walk.messageKey);
      } catch (error) {
        wipeWalk(walk);
        throw error;
      }
      walk.messageKey.fill(0);
      chain.chainKey.fill(0);
      chain.chainKey = walk.nextChainKey;
      chain.nextIndex = index + 1;
      for (const s of walk.skipped) {
        epoch.skippedKeys.push(create(GroupSkippedKeyStateSchema, { memberIndex, messageIndex: s.index, messageKey: s.messageKey }));
      }
      while (epoch.skippedKeys.length > this.limits.maxSkippedKeysPerEpoch) epoch.skippedKeys.shift()?.messageKey.fill(0);
    }
    // Stored only now that a message signed with it went through: one key per member and epoch.
    if (announced) {
      epoch.senderKeys.push(create(GroupSenderKeyStateSchema, { memberIndex, publicKey: announced.publicKey.slice() }));
      if (announced.previous) this.endChain(sender, announced.previous);
    }
    return { plaintext, sender: memberInfo(sender), epoch: epoch.epoch, senderKeyAnnounced: announced !== undefined };
  }

  /**
   * A member announced how many messages it sent in its previous epoch: its receiving chain there
   * takes no index from that count on, and skipped keys beyond it (which no genuine message can
   * use) are erased. Only the member itself can say so (the count is in its identity-signed
   * announcement), and messages sent before it, however late they arrive, still decrypt.
   */
  private endChain(sender: GroupMember, previous: PreviousEpoch): void {
    const epoch = this.state.epochs.find((e) => e.epoch === previous.epoch);
    const memberIndex = epoch ? epoch.members.findIndex((m) => bytesEqual(m.signPublicKey, sender.signPublicKey)) : -1;
    const chain = epoch?.receivingChains.find((c) => c.memberIndex === memberIndex);
    if (!epoch || !chain) return;
    chain.endIndex = Math.min(chain.endIndex ?? previous.messages, previous.messages);
    const end = chain.endIndex;
    epoch.skippedKeys = epoch.skippedKeys.filter((k) => {
      if (k.memberIndex !== memberIndex || k.messageIndex < end) return true;
      k.messageKey.fill(0);
      return false;
    });
  }

  /**
   * Checks the message's signature under the group's mode (throwing, with nothing changed, if it
   * does not verify). Returns the sender key the message announced if this device did not hold it
   * yet, for the caller to store once the message has been accepted.
   */
  private verifySignature(epoch: GroupEpochState, sender: GroupMember, payload: GroupMsgPayload, at: GroupMessagePosition): VerifiedAnnouncement | undefined {
    const auth = this.state.groupAuth;
    const statement = messageStatement(this.suite.params.id, auth, at, payload.ciphertext);
    // A message shaped for the other mode is named as such (the statement holds the mode, so it
    // could not verify anyway); any other bad signature is one that does not verify.
    const identityBytes = this.suite.params.signatureBytes;
    if (auth === GroupAuth.IDENTITY) {
      if (payload.senderKey !== undefined || (payload.signature.length === SENDER_SIGNATURE_BYTES && identityBytes !== SENDER_SIGNATURE_BYTES)) {
        throw new GroupAuthModeError("a sender-key message in an 'identity' group: every message of this group must be signed with its sender's identity key");
      }
      if (!this.suite.sig.verify(sender.signPublicKey, statement, payload.signature)) throw new InvalidSignatureError('group message signature does not verify');
      return undefined;
    }
    if (payload.signature.length === identityBytes && identityBytes !== SENDER_SIGNATURE_BYTES) {
      throw new GroupAuthModeError("an identity-signed message in a 'sender-key' group: its messages are signed with the sender's Ed25519 key of the epoch");
    }
    const stored = epoch.senderKeys.find((k) => k.memberIndex === at.memberIndex)?.publicKey;
    let key = stored;
    let announced: VerifiedAnnouncement | undefined;
    if (payload.senderKey !== undefined) {
      // Checked against the identity key the epoch's member list gives this position, so a
      // member can only ever announce a key for its own position.
      announced = verifySenderKeyAnnouncement(this.suite, payload.senderKey, { ...at, identityKey: sender.signPublicKey });
      if (stored && !bytesEqual(stored, announced.publicKey)) {
        throw new SenderKeyConflictError(`member ${at.memberIndex} announced a second, different sender key for epoch ${at.epoch}`);
      }
      key = announced.publicKey;
    }
    if (!key) {
      throw new MissingSenderKeyError(
        `no sender key of member ${at.memberIndex} (${sender.userId}/${sender.deviceId}) for epoch ${at.epoch} yet: it comes with that member's first message of the epoch`,
      );
    }
    if (!verifySenderKeySignature(this.suite, key, epoch.messageAuthKey, statement, payload.signature)) throw new InvalidSignatureError('group message signature does not verify');
    return stored ? undefined : announced;
  }

  /** Deletes superseded epochs older than the grace period (call it periodically with the current time). */
  pruneEpochs(now: number): void {
    const [current, ...older] = this.state.epochs;
    const kept = older.filter((e, i) => i < this.limits.maxOldEpochs && now - Number(e.supersededAtMs) < this.limits.epochGraceMs);
    for (const e of older) {
      if (!kept.includes(e)) wipeEpoch(e);
    }
    this.state.epochs = [current as GroupEpochState, ...kept];
  }

  /** The epoch this device was in before the current one, and how many messages it sent there (if still kept). */
  private previousEpoch(): PreviousEpoch | undefined {
    const previous = this.state.epochs[1];
    return previous ? { epoch: previous.epoch, messages: previous.sentMessages } : undefined;
  }

  private get ownInfo(): GroupMemberInfo {
    return memberInfo(this.state.ownMember as GroupMember);
  }

  private startEpoch(epoch: bigint, members: GroupMember[], now: number): EpochBundle {
    const seed = randomBytes(SEED_BYTES);
    const bundleBytes = signEpochBundle(this.account, { groupAddress: this.state.groupAddress, epoch, seed, members, groupAuth: this.state.groupAuth });
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
        chainKey: this.suite.hkdf(seed, ZERO_SALT, concat(CHAIN_INFO, lengthPrefixed(label(this.groupId), label(epoch.toString()), m.signPublicKey)), CHAIN_KEY_BYTES),
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
    if (this.state.groupAuth === GroupAuth.SENDER_KEY) {
      state.messageAuthKey = deriveMessageAuthKey(this.suite, seed, this.groupId, epoch);
      // A fresh sender key per epoch: a key stolen with the state stops working at the next epoch.
      if (self) state.ownSenderKey = create(KeyPairStateSchema, makeSenderKey());
    }
    // The previous epoch stops sending at once (its chain and sender key are erased) and keeps
    // decrypting for the grace period.
    for (const old of this.state.epochs) {
      if (old.supersededAtMs === 0n) old.supersededAtMs = BigInt(now);
      if (old.sendingChain) old.sentMessages = old.sendingChain.nextIndex;
      old.sendingChain?.chainKey.fill(0);
      old.sendingChain = undefined;
      old.ownSenderKey?.secretKey.fill(0);
      old.ownSenderKey = undefined;
    }
    this.state.epochs = [state, ...this.state.epochs].sort((a, b) => (a.epoch > b.epoch ? -1 : a.epoch < b.epoch ? 1 : 0));
    this.pruneEpochs(now);
  }
}

/** An epoch number from the API: a safe integer or bigint in 0..2^63-1. */
function requireEpoch(epoch: unknown): bigint {
  if ((typeof epoch !== 'number' || !Number.isSafeInteger(epoch)) && typeof epoch !== 'bigint') throw new InvalidTypeError('epoch must be an integer');
  const value = BigInt(epoch);
  if (value < 0n || value > MAX_EPOCH) throw new InvalidLengthError('epoch out of range');
  return value;
}

/** This device as a member: its names and the account's identity signature key. */
function ownMember(account: Account, userId: string, deviceId: string): GroupMember {
  if (typeof userId !== 'string' || userId.length === 0 || typeof deviceId !== 'string') throw new InvalidLengthError('userId and deviceId are required');
  return create(GroupMemberSchema, { userId, deviceId, signPublicKey: account.identityPublicKey.signPublicKey });
}
