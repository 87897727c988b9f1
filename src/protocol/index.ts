/** The protocol layer: accounts, key agreement, the sparse KEM ratchet, one-to-one and group sessions. */
export {
  Account,
  type CreateAccountOptions,
  type PreKeyBundleOptions,
  type PublishOneTimePreKeysOptions,
  ONE_TIME_PRE_KEY_BATCH,
  MAX_ONE_TIME_PRE_KEYS,
  MAX_ACCOUNT_STATE_BYTES,
  ONE_TIME_PRE_KEY_IN_FLIGHT_MS,
  ONE_TIME_PRE_KEY_IN_FLIGHT_MAX,
  SIGNED_PRE_KEY_LIFETIME_MS,
  SIGNED_PRE_KEY_GRACE_MS,
} from './account.js';
export { Session, OutboundSession, InboundSession, sessionTagMatches, type SessionOptions } from './session.js';
export { DEFAULT_RATCHET_LIMITS, type RatchetLimits } from './sparse/sparse-ratchet.js';
export { fingerprint } from './fingerprint.js';
export { MAX_HANDSHAKE_BYTES, MAX_MESSAGE_BYTES, MAX_PLAINTEXT_BYTES } from './encoding.js';
export * from '../errors.js';
export { ready, type ReadyOptions } from '../../bindings/loader.js';
export {
  GroupSession,
  DEFAULT_GROUP_LIMITS,
  MAX_GROUP_STATE_BYTES,
  maxGroupStateBytes,
  type GroupLimits,
  type GroupMemberInfo,
  type MembershipChange,
  type EpochBundle,
  type ApplyBundleOptions,
  type GroupAuthMode,
  type GroupDecryptResult,
} from './group/group-session.js';
export { encryptForDevices, type DeviceTarget, type DeviceMessage } from './fan-out.js';
// The statements the server verifies too live below both layers; re-exported here for importers.
export { serverAuthStatement, deviceLinkStatement, MAX_CHALLENGE_BYTES } from '../wire/statements.js';
