/**
 * The GroupPreKeyBundle of one group epoch (DESIGN.md §4 "Group sessions"): the epoch's seed and
 * member list, signed by the member who made the epoch. This module builds, signs, decodes and
 * verifies bundles and holds the rules every member list obeys; what a session does with a
 * verified bundle (epoch order, continuity with its current epoch) is in group-session.ts.
 */
import { create } from '@bufbuild/protobuf';
import { InvalidLengthError, InvalidTypeError } from '../../errors.js';
import type { CipherSuite } from '../../crypto/index.js';
import { GroupAuth, GroupMemberSchema, GroupPreKeyBundleSchema, type E2eeAddress, type GroupMember, type GroupPreKeyBundle } from '../../proto/gen/wire_pb.js';
import { PROTOCOL_VERSION } from '../../wire/statements.js';
import type { Account } from '../account.js';
import { addressBytes, bytesEqual, concat, decodeCanonical, encode, label, lengthPrefixed, requireLength, toHex, u32 } from '../encoding.js';
import { InvalidSignatureError, MalformedMessageError, NotAMemberError, SuiteMismatchError, UnsupportedProtocolVersionError } from '../../errors.js';

/** Longest user id, device id, group id or domain, in UTF-16 code units (as the API checks them). */
export const MAX_NAME_LENGTH = 256;
/** Bytes of an epoch seed. */
export const SEED_BYTES = 32;
/** Decode limit for bundles: 1000 ML-DSA-87 members are about 2.7 MB. */
const MAX_GROUP_BUNDLE_BYTES = 8 * 1024 * 1024;

/** A member device as the API takes and returns it. */
export interface GroupMemberInfo {
  userId: string;
  deviceId: string;
  signPublicKey: Uint8Array;
}

export function memberInfo(member: GroupMember): GroupMemberInfo {
  return { userId: member.userId, deviceId: member.deviceId, signPublicKey: member.signPublicKey };
}

/** Unambiguous key of a member device (length-prefixed, so no user/device id pair can collide). */
export function memberKey(member: { userId: string; deviceId: string }): string {
  return `${member.userId.length}:${member.userId}${member.deviceId}`;
}

/** True if `name` has between `min` and MAX_NAME_LENGTH UTF-16 code units. */
export function nameFits(name: string, min: number): boolean {
  return name.length >= min && name.length <= MAX_NAME_LENGTH;
}

export function requireGroupId(groupId: unknown): void {
  if (typeof groupId !== 'string' || !nameFits(groupId, 1)) throw new InvalidLengthError('groupId must be a non-empty string of at most 256 characters');
}

/**
 * Every member device must have its own identity key and appear once: a list with one key under two
 * names would let its author make one member's messages look like another's.
 */
export function requireDistinctMembers(members: GroupMember[]): void {
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
export function requireContinuity(previous: GroupMember[], next: GroupMember[]): void {
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

/**
 * The member list of a new epoch from what the API was given: checked, deduplicated by device (the
 * last entry wins), copied, and in a canonical order, so that every member's bundle encoding (and
 * its signature) is unambiguous.
 */
export function normaliseMembers(suite: CipherSuite, members: GroupMemberInfo[], maxMembers: number): GroupMember[] {
  const byKey = new Map<string, GroupMember>();
  for (const m of members) {
    if (typeof m !== 'object' || m === null) throw new InvalidTypeError('a member must be { userId, deviceId, signPublicKey }');
    if (typeof m.userId !== 'string' || typeof m.deviceId !== 'string' || !nameFits(m.userId, 1) || !nameFits(m.deviceId, 0)) {
      throw new InvalidLengthError('member user id / device id must be non-empty strings of at most 256 characters');
    }
    if (!(m.signPublicKey instanceof Uint8Array) || m.signPublicKey.length !== suite.params.sigPublicKeyBytes) {
      throw new InvalidLengthError(`member signature key must be ${suite.params.sigPublicKeyBytes} bytes`);
    }
    byKey.set(memberKey(m), create(GroupMemberSchema, { userId: m.userId, deviceId: m.deviceId, signPublicKey: m.signPublicKey.slice() }));
  }
  if (byKey.size > maxMembers) throw new InvalidLengthError(`a group epoch has at most ${maxMembers} member devices`);
  requireDistinctMembers([...byKey.values()]);
  return [...byKey.values()].sort((a, b) => (memberKey(a) < memberKey(b) ? -1 : memberKey(a) > memberKey(b) ? 1 : 0));
}

/**
 * What the creator signs: every field of the bundle but the signature. The seed enters as a hash,
 * so the signed statement never contains the secret itself.
 */
function bundleSignedBytes(bundle: GroupPreKeyBundle, suite: CipherSuite): Uint8Array {
  const groupId = bundle.groupAddress?.peer.case === 'group' ? bundle.groupAddress.peer.value.groupId : '';
  return lengthPrefixed(
    label('pqe2ee/v2/group-pre-key-bundle'),
    u32(bundle.version),
    u32(bundle.suiteId),
    // The group's auth mode: signed, so no one between the creator and a member can switch a
    // group to the weaker mode (GroupSession refuses a bundle whose mode differs from the group's).
    u32(bundle.groupAuth),
    addressBytes(bundle.groupAddress),
    label(groupId),
    label(bundle.epoch.toString()),
    suite.hash(concat(label('pqe2ee/v1/group-seed'), bundle.seedSecret)),
    ...bundle.members.flatMap((m) => [label(m.userId), label(m.deviceId), m.signPublicKey]),
    bundle.creatorSignPublicKey,
  );
}

/** Builds and signs (with `creator`'s identity key) the bundle of a new epoch; returns its bytes. */
export function signEpochBundle(
  creator: Account,
  fields: { groupAddress: E2eeAddress | undefined; epoch: bigint; seed: Uint8Array; members: GroupMember[]; groupAuth: GroupAuth },
): Uint8Array {
  const suite = creator.suite;
  const bundle = create(GroupPreKeyBundleSchema, {
    version: PROTOCOL_VERSION,
    suiteId: suite.params.id,
    groupAddress: fields.groupAddress,
    epoch: fields.epoch,
    seedSecret: fields.seed,
    members: fields.members,
    creatorSignPublicKey: creator.identityPublicKey.signPublicKey,
    groupAuth: fields.groupAuth,
  });
  bundle.signature = creator.signWithIdentity(bundleSignedBytes(bundle, suite));
  return encode(GroupPreKeyBundleSchema, bundle);
}

/**
 * Decodes a bundle far enough to learn which group it is for and the group's auth mode (joining
 * starts from it; openEpochBundle checks the signature over both right after).
 */
export function bundleGroupAddress(bundleBytes: Uint8Array): { groupAddress: E2eeAddress; groupAuth: GroupAuth } {
  const bundle = decodeCanonical(GroupPreKeyBundleSchema, bundleBytes, 'GroupPreKeyBundle', MAX_GROUP_BUNDLE_BYTES);
  if (bundle.groupAddress?.peer.case !== 'group') throw new MalformedMessageError('GroupPreKeyBundle has no group address');
  if (!nameFits(bundle.groupAddress.peer.value.groupId, 1) || !nameFits(bundle.groupAddress.domain, 0))
    throw new MalformedMessageError('GroupPreKeyBundle group id or domain out of range');
  return { groupAddress: bundle.groupAddress, groupAuth: bundle.groupAuth };
}

/**
 * Decodes a bundle of group `groupId` and checks everything it says about itself: version, suite,
 * sizes, a valid member list with at most `maxMembers` devices, a creator among them, and the
 * creator's signature. The caller still decides whether it may follow its current epoch.
 */
export function openEpochBundle(suite: CipherSuite, bundleBytes: Uint8Array, groupId: string, maxMembers: number): GroupPreKeyBundle {
  const bundle = decodeCanonical(GroupPreKeyBundleSchema, bundleBytes, 'GroupPreKeyBundle', MAX_GROUP_BUNDLE_BYTES);
  if (bundle.version !== PROTOCOL_VERSION)
    throw new UnsupportedProtocolVersionError(`GroupPreKeyBundle of protocol version ${bundle.version}; this library speaks ${PROTOCOL_VERSION} only`);
  if (bundle.suiteId !== suite.params.id) throw new SuiteMismatchError('GroupPreKeyBundle is for another suite');
  if (bundle.groupAddress?.peer.case !== 'group' || bundle.groupAddress.peer.value.groupId !== groupId) throw new MalformedMessageError('GroupPreKeyBundle is for another group');
  requireLength(bundle.seedSecret, SEED_BYTES, 'group seed');
  if (bundle.groupAuth !== GroupAuth.SENDER_KEY && bundle.groupAuth !== GroupAuth.IDENTITY)
    throw new MalformedMessageError(`GroupPreKeyBundle group auth mode ${bundle.groupAuth} is unknown`);
  if (bundle.members.length === 0 || bundle.members.length > maxMembers) throw new MalformedMessageError('GroupPreKeyBundle member count out of range');
  for (const member of bundle.members) {
    requireLength(member.signPublicKey, suite.params.sigPublicKeyBytes, 'member signature key');
    if (!nameFits(member.userId, 1) || !nameFits(member.deviceId, 0)) throw new MalformedMessageError('GroupPreKeyBundle member user id or device id out of range');
  }
  requireDistinctMembers(bundle.members);
  const creator = bundle.members.find((m) => bytesEqual(m.signPublicKey, bundle.creatorSignPublicKey));
  if (!creator) throw new NotAMemberError('the bundle creator is not a member of its epoch');
  if (!suite.sig.verify(bundle.creatorSignPublicKey, bundleSignedBytes(bundle, suite), bundle.signature)) {
    throw new InvalidSignatureError('GroupPreKeyBundle signature does not verify');
  }
  return bundle;
}
