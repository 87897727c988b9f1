/**
 * The invite/accept key agreement (DESIGN.md §4): the initiator encapsulates to the responder's
 * identity, signed and one-time pre-keys (c2..c4) and sends an InviteMsg; the responder
 * decapsulates them, encapsulates to the initiator's identity (c1) and answers with an AcceptMsg
 * carrying a key confirmation; the initiator decapsulates c1 and checks the confirmation. All four
 * secrets and the whole transcript go into the root key the ratchet starts from.
 *
 * These functions build and finish the SessionState; `session.ts` wraps it in a Session. Identity
 * secrets never leave the Account: it decapsulates c1/c2 itself, and a pending outbound session
 * asks it again in complete() rather than keeping a copy of the identity KEM secret.
 */
import { create } from '@bufbuild/protobuf';
import { InvalidTypeError } from '../errors.js';
import type { CipherSuite } from '../crypto/index.js';
import { KeyPairStateSchema, PendingAgreementStateSchema, SessionStateSchema, type SessionState } from '../proto/gen/state_pb.js';
import { AcceptMsgSchema, InviteMsgSchema, PreKeyBundleSchema, type E2eeAddress, type InviteMsg } from '../proto/gen/wire_pb.js';
import { PROTOCOL_VERSION, signedPreKeyMessage } from '../wire/statements.js';
import { Account } from './account.js';
import {
  addressBytes,
  bytesEqual,
  concat,
  decodeCanonical,
  encode,
  identityDigest,
  label,
  lengthPrefixed,
  requireIdentity,
  requireLength,
  requireVersionAndSuite,
  samePublicBytes,
  toHex,
  u32,
} from './encoding.js';
import { DuplicateInviteError, InvalidSignatureError, MalformedMessageError, SessionStateError, UnknownPreKeyError } from '../errors.js';
import { initialRatchetState } from './sparse/sparse-ratchet.js';

/** 2: the sparse ratchet of protocol v2. Version 1 states (the v1 KEM double ratchet) are refused. */
export const SESSION_STATE_VERSION = 2;
const ROOT_INFO = label('pqe2ee/v1/root');
const ACCEPT_CONFIRMATION_LABEL = label('pqe2ee/v1/accept-confirmation');
const SESSION_ID_LABEL = label('pqe2ee/v2/session-id');
const INVITE_CIPHERTEXTS_LABEL = label('pqe2ee/v2/invite-ciphertexts');
const INVITE_REPLAY_LABEL = label('pqe2ee/v2/invite');
const ZERO_SALT = new Uint8Array(32);
const EMPTY = new Uint8Array(0);

/** The key-agreement transcript bound into the root key (DESIGN.md §4). */
interface Transcript {
  suiteId: number;
  sessionId: string;
  from: E2eeAddress | undefined;
  to: E2eeAddress | undefined;
  /** encoding.ts identityDigest of each side's identity. */
  identities: IdentityDigests;
  signedPreKey: Uint8Array;
  oneTimePreKey: Uint8Array;
  c1: Uint8Array;
  initiatorEpochKey: Uint8Array;
  responderEpochKey: Uint8Array;
  /** {@link inviteCiphertextsDigest} of c2..c4. */
  inviteCiphertexts: Uint8Array;
}

/** The two identities' digests, by role. */
export interface IdentityDigests {
  initiator: Uint8Array;
  responder: Uint8Array;
}

/**
 * What the responder remembers of an accepted invite to refuse a replay: a hash of c2 and c3. Not
 * of c4, so that a copy with another one-time pre-key ciphertext is a replay too.
 */
function inviteReplayDigest(suite: CipherSuite, c2: Uint8Array, c3: Uint8Array): Uint8Array {
  return suite.hash(lengthPrefixed(INVITE_REPLAY_LABEL, c2, c3));
}

/**
 * One hash over the invite's three ciphertexts (through {@link inviteReplayDigest}, so c2 and c3
 * are hashed once per side), which both the session id and the transcript bind.
 */
function inviteCiphertextsDigest(suite: CipherSuite, replayDigest: Uint8Array, c4: Uint8Array): Uint8Array {
  return suite.hash(lengthPrefixed(INVITE_CIPHERTEXTS_LABEL, replayDigest, c4));
}

/** {@link inviteCiphertextsDigest} of an InviteMsg. */
function inviteCiphertextsOf(suite: CipherSuite, invite: InviteMsg): Uint8Array {
  return inviteCiphertextsDigest(suite, inviteReplayDigest(suite, invite.identityCiphertext, invite.signedPreKeyCiphertext), invite.oneTimePreKeyCiphertext);
}

function transcriptHash(suite: CipherSuite, t: Transcript): Uint8Array {
  return suite.hash(
    lengthPrefixed(
      label('pqe2ee/v2/transcript'),
      u32(t.suiteId),
      label(t.sessionId),
      addressBytes(t.from),
      addressBytes(t.to),
      t.identities.initiator,
      t.identities.responder,
      t.signedPreKey,
      t.oneTimePreKey,
      t.c1,
      t.inviteCiphertexts,
      t.initiatorEpochKey,
      t.responderEpochKey,
    ),
  );
}

/** Both sides hash the same transcript: the invite's fields, the responder's pre-keys, c1 and both epoch-0 keys. */
function inviteTranscript(
  suite: CipherSuite,
  invite: InviteMsg,
  identities: IdentityDigests,
  inviteCiphertexts: Uint8Array,
  responder: { signedPreKey: Uint8Array; oneTimePreKey: Uint8Array; c1: Uint8Array; epochKey: Uint8Array },
): Uint8Array {
  return transcriptHash(suite, {
    suiteId: invite.suiteId,
    sessionId: invite.sessionId,
    from: invite.from,
    to: invite.to,
    identities,
    signedPreKey: responder.signedPreKey,
    oneTimePreKey: responder.oneTimePreKey,
    c1: responder.c1,
    inviteCiphertexts,
    initiatorEpochKey: invite.epochPublicKey,
    responderEpochKey: responder.epochKey,
  });
}

/**
 * Root key from the four KEM secrets and the transcript (DESIGN.md §4): the first half of the
 * 64-byte HKDF output. The second half keys the AcceptMsg's key confirmation, so the initiator can
 * tell a genuine AcceptMsg (whose sender decapsulated c2..c4) from a forged one before acting on it.
 */
function deriveRootKey(suite: CipherSuite, secrets: Uint8Array, transcript: Uint8Array): { rootKey: Uint8Array; confirmation: Uint8Array } {
  const out = suite.hkdf(secrets, ZERO_SALT, concat(ROOT_INFO, transcript), 64);
  const rootKey = out.slice(0, 32);
  const confirmation = suite.hmac(out.subarray(32, 64), concat(ACCEPT_CONFIRMATION_LABEL, transcript));
  out.fill(0);
  return { rootKey, confirmation };
}

/**
 * The session id: a hash of everything the initiator put into the invite that names the two parties
 * and the key material. Nobody chooses it, so another account cannot make an invite whose id
 * collides with an existing session (its identity key is part of the hash); the responder
 * recomputes it and refuses an invite that carries another id.
 */
function deriveSessionId(
  suite: CipherSuite,
  fields: {
    identities: IdentityDigests;
    inviteCiphertexts: Uint8Array;
    spkId: number;
    opkId: number;
    hasOneTimePreKey: boolean;
  },
): string {
  const ids = new Uint8Array(9);
  const view = new DataView(ids.buffer);
  view.setUint32(0, fields.spkId >>> 0);
  view.setUint32(4, fields.opkId >>> 0);
  ids[8] = fields.hasOneTimePreKey ? 1 : 0;
  return toHex(suite.hash(lengthPrefixed(SESSION_ID_LABEL, ids, fields.identities.initiator, fields.identities.responder, fields.inviteCiphertexts)));
}

/** Throws unless `account` is the Account of the state's own side (same suite and identity). */
function requireOwnAccount(account: unknown, state: SessionState): Account {
  if (!(account instanceof Account)) throw new InvalidTypeError('complete() needs the Account that initiated the session');
  const own = account.identityPublicKey;
  const identity = state.ownIdentityKey;
  if (
    account.suite.params.id !== state.suiteId ||
    !identity ||
    !samePublicBytes(own.signPublicKey, identity.signPublicKey) ||
    !samePublicBytes(own.kemPublicKey, identity.kemPublicKey)
  ) {
    throw new SessionStateError('the session belongs to another account');
  }
  return account;
}

/**
 * Initiator, first step: checks the bundle's signed pre-key signature, encapsulates to the
 * identity, signed and one-time pre-keys, and returns the pending state and the InviteMsg bytes.
 */
export function initiateAgreement(
  account: Account,
  bundleBytes: Uint8Array,
): { state: SessionState; invite: Uint8Array; identities: IdentityDigests; inviteCiphertexts: Uint8Array } {
  const suite = account.suite;
  const bundle = decodeCanonical(PreKeyBundleSchema, bundleBytes, 'PreKeyBundle');
  requireVersionAndSuite(bundle, suite, 'PreKeyBundle');
  const responderIdentity = requireIdentity(suite, bundle.identityKey, 'bundle identity key');
  const spk = bundle.signedPreKey;
  if (!spk) throw new MalformedMessageError('bundle has no signed pre-key');
  requireLength(spk.publicKey, suite.params.kemPublicKeyBytes, 'signed pre-key');
  if (!suite.sig.verify(responderIdentity.signPublicKey, signedPreKeyMessage(suite.params.id, spk.spkId, spk.publicKey), spk.signature)) {
    throw new InvalidSignatureError('the signed pre-key signature does not verify');
  }
  const opk = bundle.oneTimePreKey;
  if (opk) requireLength(opk.publicKey, suite.params.kemPublicKeyBytes, 'one-time pre-key');

  const toIdentity = suite.kem.encaps(responderIdentity.kemPublicKey);
  const toSignedPreKey = suite.kem.encaps(spk.publicKey);
  const toOneTimePreKey = opk ? suite.kem.encaps(opk.publicKey) : undefined;
  const epochKeyPair = suite.kem.keygen();
  const identities: IdentityDigests = { initiator: account.identityDigest, responder: identityDigest(suite, responderIdentity) };
  const inviteCiphertexts = inviteCiphertextsDigest(suite, inviteReplayDigest(suite, toIdentity.ciphertext, toSignedPreKey.ciphertext), toOneTimePreKey?.ciphertext ?? EMPTY);
  const sessionId = deriveSessionId(suite, {
    identities,
    inviteCiphertexts,
    spkId: spk.spkId,
    opkId: opk?.opkId ?? 0,
    hasOneTimePreKey: opk !== undefined,
  });

  const ownAddress = account.address;
  const invite = create(InviteMsgSchema, {
    version: PROTOCOL_VERSION,
    suiteId: suite.params.id,
    sessionId,
    ...(ownAddress ? { from: ownAddress } : {}),
    ...(bundle.address ? { to: bundle.address } : {}),
    initiatorIdentityKey: account.identityPublicKey,
    responderIdentityKey: responderIdentity,
    identityCiphertext: toIdentity.ciphertext,
    signedPreKeyCiphertext: toSignedPreKey.ciphertext,
    oneTimePreKeyCiphertext: toOneTimePreKey?.ciphertext ?? EMPTY,
    spkId: spk.spkId,
    hasOneTimePreKey: opk !== undefined,
    opkId: opk?.opkId ?? 0,
    epochPublicKey: epochKeyPair.publicKey,
  });
  const responderSecrets = concat(toIdentity.sharedSecret, toSignedPreKey.sharedSecret, toOneTimePreKey?.sharedSecret ?? EMPTY);
  toIdentity.sharedSecret.fill(0);
  toSignedPreKey.sharedSecret.fill(0);
  toOneTimePreKey?.sharedSecret.fill(0);

  const state = create(SessionStateSchema, {
    version: SESSION_STATE_VERSION,
    suiteId: suite.params.id,
    sessionId,
    ...(ownAddress ? { ownAddress } : {}),
    ...(bundle.address ? { peerAddress: bundle.address } : {}),
    ownIdentityKey: account.identityPublicKey,
    peerIdentityKey: responderIdentity,
    initiator: true,
    responded: false,
    // No own_identity_kem_secret_key: complete() has the account decapsulate c1.
    pending: create(PendingAgreementStateSchema, {
      invite,
      responderSecrets,
      responderSignedPreKey: spk.publicKey,
      responderOneTimePreKey: opk?.publicKey ?? EMPTY,
      ownEpochKey: create(KeyPairStateSchema, epochKeyPair),
    }),
  });
  return { state, invite: encode(InviteMsgSchema, invite), identities, inviteCiphertexts };
}

/**
 * Responder: decapsulates the invite with the identity, signed and one-time pre-keys, deletes the
 * one-time pre-key from `account` (only once nothing can fail), and returns the ready state and
 * the AcceptMsg bytes. A replayed invite throws DuplicateInviteError.
 */
export function acceptInvite(account: Account, inviteBytes: Uint8Array): { state: SessionState; accept: Uint8Array; identities: IdentityDigests } {
  const suite = account.suite;
  const invite = decodeCanonical(InviteMsgSchema, inviteBytes, 'InviteMsg');
  requireVersionAndSuite(invite, suite, 'InviteMsg');
  const initiatorIdentity = requireIdentity(suite, invite.initiatorIdentityKey, 'initiator identity key');
  const responderIdentity = requireIdentity(suite, invite.responderIdentityKey, 'responder identity key');
  const ownIdentity = account.identityPublicKey;
  if (!samePublicBytes(responderIdentity.signPublicKey, ownIdentity.signPublicKey) || !samePublicBytes(responderIdentity.kemPublicKey, ownIdentity.kemPublicKey)) {
    throw new UnknownPreKeyError('the invite is addressed to another identity');
  }
  const ct = suite.params.kemCiphertextBytes;
  requireLength(invite.identityCiphertext, ct, 'invite identity ciphertext');
  requireLength(invite.signedPreKeyCiphertext, ct, 'invite signed pre-key ciphertext');
  requireLength(invite.oneTimePreKeyCiphertext, invite.hasOneTimePreKey ? ct : 0, 'invite one-time pre-key ciphertext');
  requireLength(invite.epochPublicKey, suite.params.kemPublicKeyBytes, 'invite epoch key');
  const identities: IdentityDigests = { initiator: identityDigest(suite, initiatorIdentity), responder: account.identityDigest };
  const inviteDigest = inviteReplayDigest(suite, invite.identityCiphertext, invite.signedPreKeyCiphertext);
  const inviteCiphertexts = inviteCiphertextsDigest(suite, inviteDigest, invite.oneTimePreKeyCiphertext);
  const derivedId = deriveSessionId(suite, {
    identities,
    inviteCiphertexts,
    spkId: invite.spkId,
    opkId: invite.opkId,
    hasOneTimePreKey: invite.hasOneTimePreKey,
  });
  if (invite.sessionId !== derivedId) throw new MalformedMessageError('the invite session id is not derived from its contents');

  if (account.hasAcceptedInvite(inviteDigest)) throw new DuplicateInviteError();
  const spk = account.findSignedPreKey(invite.spkId);
  if (!spk?.keyPair) throw new UnknownPreKeyError(`no signed pre-key ${invite.spkId} (unknown or past its grace period)`);
  const opk = invite.hasOneTimePreKey ? account.findOneTimePreKey(invite.opkId) : undefined;
  if (invite.hasOneTimePreKey && !opk?.keyPair) throw new UnknownPreKeyError(`no one-time pre-key ${invite.opkId} (unknown or already used)`);

  const k2 = account.decapsulateIdentity(invite.identityCiphertext);
  const k3 = suite.kem.decaps(spk.keyPair.secretKey, invite.signedPreKeyCiphertext);
  const k4 = opk?.keyPair ? suite.kem.decaps(opk.keyPair.secretKey, invite.oneTimePreKeyCiphertext) : EMPTY;
  const toInitiator = suite.kem.encaps(initiatorIdentity.kemPublicKey);
  const secrets = concat(toInitiator.sharedSecret, k2, k3, k4);
  const epochKeyPair = suite.kem.keygen();
  const transcript = inviteTranscript(suite, invite, identities, inviteCiphertexts, {
    signedPreKey: spk.keyPair.publicKey,
    oneTimePreKey: opk?.keyPair?.publicKey ?? EMPTY,
    c1: toInitiator.ciphertext,
    epochKey: epochKeyPair.publicKey,
  });
  const { rootKey, confirmation } = deriveRootKey(suite, secrets, transcript);
  for (const secret of [k2, k3, k4, toInitiator.sharedSecret, secrets]) secret.fill(0);

  const ratchet = initialRatchetState(suite, rootKey, false, { own: epochKeyPair, peer: invite.epochPublicKey });
  rootKey.fill(0);
  epochKeyPair.secretKey.fill(0);

  const acceptMessage = create(AcceptMsgSchema, {
    version: PROTOCOL_VERSION,
    suiteId: suite.params.id,
    sessionId: invite.sessionId,
    ...(invite.to ? { from: invite.to } : {}),
    ...(invite.from ? { to: invite.from } : {}),
    initiatorIdentityCiphertext: toInitiator.ciphertext,
    keyConfirmation: confirmation,
    epochPublicKey: epochKeyPair.publicKey,
  });
  const state = create(SessionStateSchema, {
    version: SESSION_STATE_VERSION,
    suiteId: suite.params.id,
    sessionId: invite.sessionId,
    ...(invite.to ? { ownAddress: invite.to } : {}),
    ...(invite.from ? { peerAddress: invite.from } : {}),
    ownIdentityKey: ownIdentity,
    peerIdentityKey: initiatorIdentity,
    initiator: false,
    responded: true,
    ratchet,
  });
  // Only now, with nothing left to fail, change the account.
  if (opk) account.removeOneTimePreKey(opk.opkId);
  account.rememberAcceptedInvite(inviteDigest);
  return { state, accept: encode(AcceptMsgSchema, acceptMessage), identities };
}

/**
 * Initiator, last step: `account` decapsulates c1 from the AcceptMsg, the key confirmation is
 * checked, and only then is the pending state turned into a ready ratchet. A forged or misrouted
 * AcceptMsg leaves `state` unchanged.
 */
export function completeAgreement(account: Account, state: SessionState, acceptBytes: Uint8Array, identities: IdentityDigests, inviteCiphertexts: Uint8Array | undefined): void {
  const suite = requireOwnAccount(account, state).suite;
  if (!state.initiator) throw new SessionStateError('only the initiator completes a session');
  if (state.responded) throw new SessionStateError('the session is already complete');
  const accept = decodeCanonical(AcceptMsgSchema, acceptBytes, 'AcceptMsg');
  requireVersionAndSuite(accept, suite, 'AcceptMsg');
  if (accept.sessionId !== state.sessionId) throw new SessionStateError('AcceptMsg is for another session');
  const c1 = requireLength(accept.initiatorIdentityCiphertext, suite.params.kemCiphertextBytes, 'AcceptMsg ciphertext');
  requireLength(accept.epochPublicKey, suite.params.kemPublicKeyBytes, 'AcceptMsg epoch key');
  const pending = state.pending;
  if (!pending?.invite) throw new SessionStateError('session has no pending key agreement');

  const k1 = account.decapsulateIdentity(c1);
  const secrets = concat(k1, pending.responderSecrets);
  const invite = pending.invite;
  const transcript = inviteTranscript(suite, invite, identities, inviteCiphertexts ?? inviteCiphertextsOf(suite, invite), {
    signedPreKey: pending.responderSignedPreKey,
    oneTimePreKey: pending.responderOneTimePreKey,
    c1,
    epochKey: accept.epochPublicKey,
  });
  const { rootKey, confirmation } = deriveRootKey(suite, secrets, transcript);
  k1.fill(0);
  secrets.fill(0);
  if (!bytesEqual(confirmation, accept.keyConfirmation)) {
    rootKey.fill(0);
    // Nothing has changed: a forged AcceptMsg cannot break the session.
    throw new InvalidSignatureError('AcceptMsg key confirmation does not verify (forged, or for another invite)');
  }

  const ownEpochKey = pending.ownEpochKey as { publicKey: Uint8Array; secretKey: Uint8Array };
  state.ratchet = initialRatchetState(suite, rootKey, true, { own: ownEpochKey, peer: accept.epochPublicKey });
  rootKey.fill(0);
  ownEpochKey.secretKey.fill(0);
  pending.responderSecrets.fill(0);
  state.pending = undefined;
  state.responded = true;
}

/** Checks the pending part of a loaded state, so a damaged one fails here and not in complete(). */
export function validatePendingAgreement(suite: CipherSuite, state: SessionState): void {
  const p = suite.params;
  const pending = state.pending;
  const invite = pending?.invite;
  if (!pending || !invite || !state.initiator) throw new MalformedMessageError('session state is incomplete');
  requireIdentity(suite, invite.initiatorIdentityKey, 'pending invite initiator identity');
  requireIdentity(suite, invite.responderIdentityKey, 'pending invite responder identity');
  const secrets = pending.responderSecrets.length;
  if (secrets !== 2 * p.sharedSecretBytes && secrets !== 3 * p.sharedSecretBytes) throw new MalformedMessageError('session state has malformed pending secrets');
  requireLength(pending.responderSignedPreKey, p.kemPublicKeyBytes, 'pending signed pre-key');
  requireLength(pending.ownEpochKey?.publicKey ?? EMPTY, p.kemPublicKeyBytes, 'pending epoch key');
  requireLength(pending.ownEpochKey?.secretKey ?? EMPTY, p.kemSecretKeyBytes, 'pending epoch secret key');
}

/**
 * Pending outbound states written before the account decapsulated c1 itself carry a copy of the
 * identity KEM secret (SessionState field 12). It is never used: zeroed and dropped on load, so
 * the next serialize() writes the state without it. Such states still load and complete.
 */
export function forgetStoredIdentitySecret(state: SessionState): void {
  if (state.ownIdentityKemSecretKey.length === 0) return;
  state.ownIdentityKemSecretKey.fill(0);
  state.ownIdentityKemSecretKey = EMPTY;
}
