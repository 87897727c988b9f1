// Forging protocol-v2 group messages the way an insider could: a member (who knows every chain key
// of the epoch) or a thief holding one member's serialized group state (but not its Account). The
// statements and encodings of src/protocol/group/ are written out here from their documented layout
// (docs/protocol.md "Group sessions"), not imported, so that a test cannot pass because the code
// under test agrees with itself. Every test that forges first checks the helper against a genuine
// message (Ed25519 is deterministic: forging a member's own next message from its state must give
// the exact bytes its session writes), so a helper that drifted from the implementation fails
// loudly instead of making refusal tests pass for the wrong reason.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ed25519, getSuite, type CipherSuite, type GroupSession } from './library.js';
import { GroupSessionStateSchema, type GroupEpochState, type GroupSessionState } from '../../src/proto/gen/state_pb.js';
import { E2eeMsgSchema, GroupSenderKeyAnnouncementSchema, type E2eeMsg, type GroupMsgPayload, type GroupSenderKeyAnnouncement } from '../../src/proto/gen/wire_pb.js';
import { concatBytes, utf8 } from './bytes.js';

/** The wire version of protocol v2 and the GroupAuth enum values (src/proto/wire.proto). */
export const V2 = 2;
export const AUTH = { senderKey: 0, identity: 1 } as const;

const u32 = (v: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v);
  return b;
};
const lengthPrefixed = (...parts: Uint8Array[]): Uint8Array => concatBytes(...parts.flatMap((p) => [u32(p.length), p]));

/** A group E2eeMsg decoded, to edit and re-encode (re-encoding keeps it canonical). */
export interface GroupWire {
  msg: E2eeMsg;
  payload: GroupMsgPayload;
}

export function readGroupWire(wire: Uint8Array): GroupWire {
  const msg = fromBinary(E2eeMsgSchema, wire);
  if (msg.payload.case !== 'groupMsg') throw new Error('not a group message');
  return { msg, payload: msg.payload.value };
}

/** `wire` with its group payload changed by `edit`. */
export function editGroupWire(wire: Uint8Array, edit: (payload: GroupMsgPayload, msg: E2eeMsg) => void): Uint8Array {
  const { msg, payload } = readGroupWire(wire);
  edit(payload, msg);
  return toBinary(E2eeMsgSchema, msg);
}

/** The stored state of a group session (what a thief of its serialized bytes holds). */
export function groupStateOf(session: GroupSession | Uint8Array): GroupSessionState {
  return fromBinary(GroupSessionStateSchema, session instanceof Uint8Array ? session : session.serialize());
}

export function groupIdOf(state: GroupSessionState): string {
  return state.groupAddress?.peer.case === 'group' ? state.groupAddress.peer.value.groupId : '';
}

/** What a group message's signature covers. */
export function messageStatement(
  suiteId: number,
  auth: number,
  at: { groupId: string; epoch: bigint; epochDigest: Uint8Array; memberIndex: number; index: number },
  ciphertext: Uint8Array,
): Uint8Array {
  return lengthPrefixed(
    utf8('pqe2ee/v2/group-message'),
    u32(V2),
    u32(suiteId),
    u32(auth),
    utf8(at.groupId),
    utf8(at.epoch.toString()),
    at.epochDigest,
    u32(at.memberIndex),
    u32(at.index),
    ciphertext,
  );
}

/**
 * What a signer signs for a message statement: in a 'sender-key' group the statement and an HMAC
 * of it under the epoch's message-authentication key (members only), in an 'identity' group the
 * statement itself.
 */
export function toBeSigned(suite: CipherSuite, auth: number, messageAuthKey: Uint8Array, statement: Uint8Array): Uint8Array {
  return auth === AUTH.senderKey ? lengthPrefixed(statement, suite.hmac(messageAuthKey, statement)) : statement;
}

/** What a sender-key announcement's identity signature covers (`previous`: the end of the owner's chain in its previous epoch). */
export function announcementStatement(
  suite: CipherSuite,
  owner: { groupId: string; epoch: bigint; epochDigest: Uint8Array; memberIndex: number; identityKey: Uint8Array },
  publicKey: Uint8Array,
  previous?: { epoch: bigint; messages: number },
): Uint8Array {
  return lengthPrefixed(
    utf8('pqe2ee/v2/group-sender-key'),
    u32(V2),
    u32(suite.params.id),
    utf8(owner.groupId),
    utf8(owner.epoch.toString()),
    owner.epochDigest,
    u32(owner.memberIndex),
    suite.hash(owner.identityKey),
    publicKey,
    u32(previous ? 1 : 0),
    utf8(previous ? previous.epoch.toString() : ''),
    u32(previous ? previous.messages : 0),
  );
}

/** The message key of `index` on a chain whose key at `fromIndex` is `chainKey` (the symmetric chain of DESIGN.md §4). */
export function messageKeyAt(suite: CipherSuite, chainKey: Uint8Array, fromIndex: number, index: number): Uint8Array {
  let key = chainKey;
  for (let i = fromIndex; i < index; i++) key = suite.hmac(key, new Uint8Array([2]));
  return suite.hkdf(suite.hmac(key, new Uint8Array([1])), new Uint8Array(0), utf8('pqe2ee/v1/message-keys'), 44);
}

/** AES-256-CTR under a message key, as group messages use it: AES-256-GCM's output without its 16-byte tag. */
export function keystreamXor(suite: CipherSuite, messageKey: Uint8Array, input: Uint8Array): Uint8Array {
  return suite.aead.encrypt(messageKey.subarray(0, 32), messageKey.subarray(32, 44), input, new Uint8Array(0)).slice(0, input.length);
}

/** Everything a forger decides; the rest comes from the group state it holds. */
export interface Forgery {
  /** The state the forger works from (its own, or one it stole). */
  state: GroupSessionState;
  /** Epoch number (default: the state's current epoch). */
  epoch?: bigint;
  /** The member the message claims as sender. */
  memberIndex: number;
  index: number;
  /** The claimed sender's chain key and the index it stands at (a member has every chain of the epoch). */
  chainKey: Uint8Array;
  chainIndex: number;
  /** Signs the bytes to be signed (a sender key, an identity key, or anything else the forger has). */
  sign: (toBeSigned: Uint8Array) => Uint8Array;
  /** Group auth mode written into the statement (default: the state's). */
  auth?: number;
  /** The message-authentication key the forger uses (default: the epoch's, from its state). */
  messageAuthKey?: Uint8Array;
  /** Sign the bare statement, without the HMAC (as if the code signed only that). */
  bareStatement?: boolean;
  announcement?: GroupSenderKeyAnnouncement;
  plaintext: Uint8Array;
}

export function epochOf(state: GroupSessionState, epoch?: bigint): GroupEpochState {
  const e = epoch === undefined ? state.epochs[0] : state.epochs.find((x) => x.epoch === epoch);
  if (!e) throw new Error(`no epoch ${epoch}`);
  return e;
}

/** A group message made from a forger's state: encrypted under the claimed sender's chain, signed with `sign`. */
export function forgeGroupMessage(f: Forgery): Uint8Array {
  const suite = getSuite(f.state.suiteId);
  const epoch = epochOf(f.state, f.epoch);
  const ciphertext = keystreamXor(suite, messageKeyAt(suite, f.chainKey, f.chainIndex, f.index), f.plaintext);
  const at = { groupId: groupIdOf(f.state), epoch: epoch.epoch, epochDigest: epoch.bundleDigest, memberIndex: f.memberIndex, index: f.index };
  const auth = f.auth ?? f.state.groupAuth;
  const statement = messageStatement(suite.params.id, auth, at, ciphertext);
  const signature = f.sign(f.bareStatement ? statement : toBeSigned(suite, auth, f.messageAuthKey ?? epoch.messageAuthKey, statement));
  return toBinary(
    E2eeMsgSchema,
    create(E2eeMsgSchema, {
      version: V2,
      suiteId: suite.params.id,
      to: f.state.groupAddress,
      payload: {
        case: 'groupMsg',
        value: { epoch: epoch.epoch, memberIndex: f.memberIndex, messageIndex: f.index, ciphertext, signature, ...(f.announcement ? { senderKey: f.announcement } : {}) },
      },
    }),
  );
}

/**
 * What a thief holding a member's serialized group state (and nothing else) sends as that member:
 * its next message in the current epoch, under its own sending chain, signed with the sender key
 * the state holds. Throws if the state has no sender key (an 'identity' group, or an epoch it no
 * longer sends in).
 */
export function forgeFromStolenState(stolen: Uint8Array, plaintext: Uint8Array, epoch?: bigint): Uint8Array {
  const state = groupStateOf(stolen);
  const e = epochOf(state, epoch);
  const chain = e.sendingChain;
  const key = e.ownSenderKey;
  if (!chain || !key) throw new Error('the stolen state holds no sending chain or sender key for that epoch');
  return forgeGroupMessage({
    state,
    epoch: e.epoch,
    memberIndex: chain.memberIndex,
    index: chain.nextIndex,
    chainKey: chain.chainKey,
    chainIndex: chain.nextIndex,
    sign: (statement) => ed25519.sign(key.secretKey, statement),
    plaintext,
  });
}

/** An announcement of `publicKey` for position `memberIndex` of the state's epoch, signed by `sign`. */
export function makeAnnouncement(
  state: GroupSessionState,
  memberIndex: number,
  identityKey: Uint8Array,
  publicKey: Uint8Array,
  sign: (statement: Uint8Array) => Uint8Array,
  epoch?: bigint,
  previous?: { epoch: bigint; messages: number },
): GroupSenderKeyAnnouncement {
  const suite = getSuite(state.suiteId);
  const e = epochOf(state, epoch);
  const statement = announcementStatement(suite, { groupId: groupIdOf(state), epoch: e.epoch, epochDigest: e.bundleDigest, memberIndex, identityKey }, publicKey, previous);
  return create(GroupSenderKeyAnnouncementSchema, {
    publicKey,
    identitySignature: sign(statement),
    ...(previous ? { previousEpoch: previous.epoch, previousEpochMessages: previous.messages } : {}),
  });
}

/** Whether a genuine message's announcement verifies under the statement written out here (checks the helper). */
export function announcementMatches(state: GroupSessionState, wire: Uint8Array, identityKey: Uint8Array): boolean {
  const { payload } = readGroupWire(wire);
  const a = payload.senderKey;
  if (!a) return false;
  const suite = getSuite(state.suiteId);
  const e = epochOf(state, payload.epoch);
  const previous = a.previousEpoch === undefined ? undefined : { epoch: a.previousEpoch, messages: a.previousEpochMessages };
  const statement = announcementStatement(
    suite,
    { groupId: groupIdOf(state), epoch: e.epoch, epochDigest: e.bundleDigest, memberIndex: payload.memberIndex, identityKey },
    a.publicKey,
    previous,
  );
  return suite.sig.verify(identityKey, statement, a.identitySignature);
}
