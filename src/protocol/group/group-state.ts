/**
 * The stored state of a group session and what bounds it: the limits a session runs under, the
 * worst-case serialized size those limits allow (a session refuses limits whose worst case would
 * not load again), the checks a loaded state must pass, and the upgrade of older states.
 */
import { InvalidLengthError } from '../../errors.js';
import type { CipherSuite } from '../../crypto/index.js';
import { GroupSessionStateSchema, type GroupEpochState, type GroupSessionState } from '../../proto/gen/state_pb.js';
import { GroupAuth } from '../../proto/gen/wire_pb.js';
import { bytesEqual, decode, toHex } from '../encoding.js';
import { MalformedMessageError, SessionStateError } from '../../errors.js';
import { CHAIN_KEY_BYTES, MESSAGE_KEY_BYTES } from '../symmetric-chain.js';
import { MAX_NAME_LENGTH } from './epoch-bundle.js';
import { MESSAGE_AUTH_KEY_BYTES, SENDER_KEY_PUBLIC_BYTES, SENDER_KEY_SECRET_BYTES } from './sender-key.js';

/**
 * 3: protocol v2 (the group's auth mode, per-epoch sender keys). States of protocol v1 (versions
 * 1 and 2) are migrated, not refused: v1 signed every message with the identity key, which is
 * v2's 'identity' mode, and the chains are the same, so they load as 'identity' groups and keep
 * that mode (every bundle of the group repeats it).
 */
export const GROUP_STATE_VERSION = 3;
/** Protocol v1, chains and skipped keys named by member position. */
const GROUP_STATE_VERSION_V1 = 2;
/** Protocol v1, and the member's signature key repeated in every chain and skipped key. */
const GROUP_STATE_VERSION_KEYED_BY_SIGN_KEY = 1;
/**
 * Largest group session state that loads. The limits bound what a state can hold (see
 * {@link maxGroupStateBytes}); a session refuses limits whose worst case does not fit, so no
 * message, bundle or member can make a stored state unloadable.
 */
export const MAX_GROUP_STATE_BYTES = 32 * 1024 * 1024;
const EMPTY = new Uint8Array(0);

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

/** Merges caller limits over the defaults; each must be a positive integer. */
export function resolveGroupLimits(limits: Partial<GroupLimits>): GroupLimits {
  const resolved = { ...DEFAULT_GROUP_LIMITS, ...limits };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new InvalidLengthError(`group limit ${name} must be a positive integer`);
  }
  return resolved;
}

/** Throws unless the worst-case state under `limits` loads (checked once the suite is known to match). */
export function requireLoadableLimits(suite: CipherSuite, limits: GroupLimits): void {
  const worstCase = maxGroupStateBytes(suite, limits);
  if (worstCase > MAX_GROUP_STATE_BYTES) {
    throw new InvalidLengthError(`these group limits allow a ${worstCase}-byte state, over the ${MAX_GROUP_STATE_BYTES}-byte limit a state must load within`);
  }
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
 * skipped key, and every member's sender key. Members are the only part that grows with the
 * signature key; chains, skipped keys and sender keys name their member by position, so a sender
 * skipping indexes adds 60 bytes per key, and an announcement at most 40 bytes once per epoch.
 */
export function maxGroupStateBytes(suite: CipherSuite, limits: GroupLimits): number {
  const name = fieldBytes(3 * MAX_NAME_LENGTH);
  const varint = 11; // tag + a 64-bit varint
  const member = fieldBytes(2 * name + fieldBytes(suite.params.sigPublicKeyBytes));
  const chain = fieldBytes(varint + fieldBytes(CHAIN_KEY_BYTES) + varint + varint);
  const skippedKey = fieldBytes(varint + fieldBytes(MESSAGE_KEY_BYTES) + varint);
  const ownSenderKey = fieldBytes(fieldBytes(SENDER_KEY_PUBLIC_BYTES) + fieldBytes(SENDER_KEY_SECRET_BYTES));
  const senderKey = fieldBytes(varint + fieldBytes(SENDER_KEY_PUBLIC_BYTES));
  const epoch = fieldBytes(
    varint +
      limits.maxMembers * member +
      chain +
      limits.maxMembers * chain +
      limits.maxSkippedKeysPerEpoch * skippedKey +
      varint +
      fieldBytes(64) +
      2 +
      ownSenderKey +
      limits.maxMembers * senderKey +
      varint +
      fieldBytes(MESSAGE_AUTH_KEY_BYTES),
  );
  const address = fieldBytes(name + fieldBytes(name));
  return 3 * varint + address + member + (limits.maxOldEpochs + 1) * epoch;
}

/**
 * Decodes a stored state (upgrading older versions) and checks that it belongs to the device whose
 * signature key is `ownSignPublicKey` and hangs together, so a damaged state fails here with a
 * typed error and not inside encrypt or decrypt.
 */
export function loadGroupState(bytes: Uint8Array, ownSignPublicKey: Uint8Array): GroupSessionState {
  const state = decode(GroupSessionStateSchema, bytes, 'group session state', MAX_GROUP_STATE_BYTES);
  if (state.version === GROUP_STATE_VERSION_KEYED_BY_SIGN_KEY) upgradeFromVersion1(state);
  if (state.version === GROUP_STATE_VERSION_V1) upgradeFromProtocolV1(state);
  else if (state.version !== GROUP_STATE_VERSION) throw new SessionStateError(`group session state version ${state.version} is not supported`);
  if (state.groupAuth !== GroupAuth.SENDER_KEY && state.groupAuth !== GroupAuth.IDENTITY) throw new MalformedMessageError('group session state has an unknown auth mode');
  if (!state.ownMember || state.epochs.length === 0 || state.groupAddress?.peer.case !== 'group') throw new MalformedMessageError('group session state is incomplete');
  if (!bytesEqual(state.ownMember.signPublicKey, ownSignPublicKey)) throw new SessionStateError('the group session belongs to another account');
  // (The current epoch may lack a sending chain after abandonProposal(); encrypt then says so.)
  const valid = state.epochs.every((e) => {
    const inRange = (i: number): boolean => i < e.members.length;
    return (
      e.members.length > 0 &&
      e.bundleDigest.length === 32 &&
      e.receivingChains.every((c) => c.chainKey.length === CHAIN_KEY_BYTES && inRange(c.memberIndex)) &&
      (!e.sendingChain || e.sendingChain.chainKey.length === CHAIN_KEY_BYTES) &&
      e.skippedKeys.every((k) => k.messageKey.length === MESSAGE_KEY_BYTES && inRange(k.memberIndex)) &&
      senderKeysValid(e, state.groupAuth)
    );
  });
  if (!valid) throw new MalformedMessageError('group session state is damaged');
  return state;
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
  state.version = GROUP_STATE_VERSION_V1;
}

/** A state of protocol v1 becomes an 'identity' group (what every v1 group was). */
function upgradeFromProtocolV1(state: GroupSessionState): void {
  state.groupAuth = GroupAuth.IDENTITY;
  state.version = GROUP_STATE_VERSION;
}

/**
 * Sender keys only in 'sender-key' groups; at most one stored per member, each for a member of the
 * epoch, so a state holds at most one announcement per member per epoch.
 */
function senderKeysValid(epoch: GroupEpochState, auth: GroupAuth): boolean {
  if (auth === GroupAuth.IDENTITY) return epoch.ownSenderKey === undefined && epoch.senderKeys.length === 0 && epoch.messageAuthKey.length === 0;
  if (epoch.messageAuthKey.length !== MESSAGE_AUTH_KEY_BYTES) return false;
  const seen = new Set<number>();
  for (const k of epoch.senderKeys) {
    if (k.memberIndex >= epoch.members.length || seen.has(k.memberIndex) || k.publicKey.length !== SENDER_KEY_PUBLIC_BYTES) return false;
    seen.add(k.memberIndex);
  }
  const own = epoch.ownSenderKey;
  return own === undefined || (own.publicKey.length === SENDER_KEY_PUBLIC_BYTES && own.secretKey.length === SENDER_KEY_SECRET_BYTES);
}

/** Zeroes every key of an epoch that is being dropped. */
export function wipeEpoch(epoch: GroupEpochState): void {
  epoch.ownSenderKey?.secretKey.fill(0);
  epoch.messageAuthKey.fill(0);
  epoch.sendingChain?.chainKey.fill(0);
  for (const c of epoch.receivingChains) c.chainKey.fill(0);
  for (const k of epoch.skippedKeys) k.messageKey.fill(0);
}
