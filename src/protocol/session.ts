/**
 * One-to-one sessions: the invite/accept key agreement (DESIGN.md §4) and message encryption with
 * the KEM double ratchet. `OutboundSession.initiate` and `InboundSession.accept` create sessions;
 * `Session` is the type of both.
 */
import { create } from '@bufbuild/protobuf';
import { InvalidLengthError, InvalidTypeError } from '../../bindings/errors.js';
import { getSuite, type CipherSuite } from '../crypto/index.js';
import { PendingAgreementStateSchema, RatchetStateSchema, SessionStateSchema, type SessionState } from '../proto/gen/state_pb.js';
import {
  AcceptMsgSchema,
  E2eeMsgSchema,
  InviteMsgSchema,
  One2oneMsgPayloadSchema,
  PreKeyBundleSchema,
  type E2eeAddress,
  type IdentityKeyPublic,
  type InviteMsg,
} from '../proto/gen/wire_pb.js';
import type { Account } from './account.js';
import { decode, decodeCanonical, encode, MAX_MESSAGE_BYTES, MAX_PLAINTEXT_BYTES, requireLength } from './codec.js';
import { concat, identitiesDigest, identityBytes, label, lengthPrefixed, messageAssociatedData, PROTOCOL_VERSION, signedPreKeyMessage, toHex, transcriptHash, bytesEqual } from './encoding.js';
import {
  DuplicateInviteError,
  InvalidSignatureError,
  MalformedMessageError,
  SessionNotReadyError,
  SessionStateError,
  SuiteMismatchError,
  UnknownPreKeyError,
} from './errors.js';
import { initialRatchetState, nextSendStep, receiveStep, resolveRatchetLimits, type RatchetLimits } from './ratchet.js';

export const SESSION_STATE_VERSION = 1;
const ROOT_INFO = label('pqe2ee/v1/root');
const ACCEPT_CONFIRMATION_LABEL = label('pqe2ee/v1/accept-confirmation');
const SESSION_ID_LABEL = label('pqe2ee/v1/session-id');
const ZERO_SALT = new Uint8Array(32);
const EMPTY = new Uint8Array(0);

/** Options when creating a session. */
export interface SessionOptions {
  /** Limits of the ratchet (defaults: DESIGN.md §4). Not persisted: pass them again after deserialize. */
  limits?: Partial<RatchetLimits>;
}

function requireSuite(expected: CipherSuite, suiteId: number, what: string): void {
  if (suiteId !== expected.params.id) {
    throw new SuiteMismatchError(`${what} is for suite ${suiteId}, this account uses suite ${expected.params.id}`);
  }
}

function requireVersion(version: number, what: string): void {
  if (version !== PROTOCOL_VERSION) throw new MalformedMessageError(`${what} has protocol version ${version}, expected ${PROTOCOL_VERSION}`);
}

function requireIdentity(suite: CipherSuite, identity: IdentityKeyPublic | undefined, what: string): IdentityKeyPublic {
  if (!identity) throw new MalformedMessageError(`${what} is missing`);
  requireLength(identity.signPublicKey, suite.params.sigPublicKeyBytes, `${what} signature key`);
  requireLength(identity.kemPublicKey, suite.params.kemPublicKeyBytes, `${what} KEM key`);
  return identity;
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

function inviteTranscript(suite: CipherSuite, invite: InviteMsg, signedPreKey: Uint8Array, oneTimePreKey: Uint8Array, c1: Uint8Array): Uint8Array {
  return transcriptHash(suite, {
    suiteId: invite.suiteId,
    sessionId: invite.sessionId,
    from: invite.from,
    to: invite.to,
    initiatorIdentity: invite.initiatorIdentityKey as IdentityKeyPublic,
    responderIdentity: invite.responderIdentityKey as IdentityKeyPublic,
    signedPreKey,
    oneTimePreKey,
    baseKey: invite.basePublicKey,
    c1,
    c2: invite.identityCiphertext,
    c3: invite.signedPreKeyCiphertext,
    c4: invite.oneTimePreKeyCiphertext,
  });
}

/**
 * The session id: a hash of everything the initiator put into the invite that names the two parties
 * and the key material. Nobody chooses it, so another account cannot make an invite whose id
 * collides with an existing session (its identity key is part of the hash); the responder
 * recomputes it and refuses an invite that carries another id.
 */
function deriveSessionId(
  suite: CipherSuite,
  fields: { initiator: IdentityKeyPublic; responder: IdentityKeyPublic; baseKey: Uint8Array; c2: Uint8Array; c3: Uint8Array; c4: Uint8Array; spkId: number; opkId: number; hasOneTimePreKey: boolean },
): string {
  const ids = new Uint8Array(9);
  const view = new DataView(ids.buffer);
  view.setUint32(0, fields.spkId >>> 0);
  view.setUint32(4, fields.opkId >>> 0);
  ids[8] = fields.hasOneTimePreKey ? 1 : 0;
  return toHex(
    suite.hash(
      lengthPrefixed(SESSION_ID_LABEL, ids, identityBytes(fields.initiator), identityBytes(fields.responder), fields.baseKey, fields.c2, fields.c3, fields.c4),
    ),
  );
}

/**
 * Checks that a decoded session state hangs together, so that a damaged or hand-edited state fails
 * here with a typed error instead of deep inside encrypt/decrypt/complete.
 */
function validateSessionState(suite: CipherSuite, state: SessionState): void {
  const p = suite.params;
  const ratchet = state.ratchet;
  if (!ratchet || ratchet.ownKeys.length === 0) throw new MalformedMessageError('session state has no ratchet keys');
  for (const key of ratchet.ownKeys) {
    if (key.publicKey.length !== p.kemPublicKeyBytes || key.secretKey.length !== p.kemSecretKeyBytes || key.rootKey.length !== 32) {
      throw new MalformedMessageError('session state has a malformed ratchet key');
    }
  }
  if (state.responded) {
    const peer = ratchet.peerKey;
    if (!peer || peer.publicKey.length !== p.kemPublicKeyBytes || peer.rootKey.length !== 32) throw new MalformedMessageError('session state has no valid peer ratchet key');
    const chain = ratchet.sendingChain;
    if (chain && (chain.chainKey.length !== 32 || !ratchet.ownKeys.some((k) => k.keyId === chain.ownKeyId) || chain.kemCiphertext.length !== p.kemCiphertextBytes)) {
      throw new MalformedMessageError('session state has a malformed sending chain');
    }
    if (ratchet.receivingChains.some((c) => c.chainKey.length !== 32) || ratchet.skippedKeys.some((k) => k.messageKey.length !== 44)) {
      throw new MalformedMessageError('session state has a malformed receiving chain');
    }
  } else {
    const pending = state.pending;
    const invite = pending?.invite;
    if (!pending || !invite || !state.initiator) throw new MalformedMessageError('session state is incomplete');
    requireIdentity(suite, invite.initiatorIdentityKey, 'pending invite initiator identity');
    requireIdentity(suite, invite.responderIdentityKey, 'pending invite responder identity');
    const secrets = pending.responderSecrets.length;
    if (secrets !== 2 * p.sharedSecretBytes && secrets !== 3 * p.sharedSecretBytes) throw new MalformedMessageError('session state has malformed pending secrets');
    requireLength(pending.responderSignedPreKey, p.kemPublicKeyBytes, 'pending signed pre-key');
    requireLength(state.ownIdentityKemSecretKey, p.kemSecretKeyBytes, 'pending identity secret');
  }
}

/** A one-to-one session (either side). */
export class Session {
  /** @internal persisted state */
  readonly state: SessionState;
  readonly suite: CipherSuite;
  private readonly limits: RatchetLimits;
  /** Identity digests for associated data (derived from the state, cached). */
  private sendingIdentities: Uint8Array | undefined;
  private receivingIdentities: Uint8Array | undefined;

  /** @internal */
  constructor(state: SessionState, options: SessionOptions = {}) {
    this.state = state;
    this.suite = getSuite(state.suiteId);
    this.limits = resolveRatchetLimits(options.limits);
  }

  /** Same on both sides. */
  get sessionId(): string {
    return this.state.sessionId;
  }

  /** False for an outbound session until complete(accept). */
  get responded(): boolean {
    return this.state.responded;
  }

  /** True on the side that sent the invite. */
  get initiator(): boolean {
    return this.state.initiator;
  }

  /** The peer's identity public keys. */
  get peerIdentityKey(): IdentityKeyPublic {
    return this.state.peerIdentityKey as IdentityKeyPublic;
  }

  /** The peer's address, when the bundle or invite carried one. */
  get peerAddress(): E2eeAddress | undefined {
    return this.state.peerAddress;
  }

  /** Restores a session from {@link serialize}. */
  static deserialize(bytes: Uint8Array, options: SessionOptions = {}): Session {
    const state = decode(SessionStateSchema, bytes, 'session state');
    if (state.version !== SESSION_STATE_VERSION) throw new SessionStateError(`session state version ${state.version} is not supported`);
    let suite: CipherSuite;
    try {
      suite = getSuite(state.suiteId);
    } catch {
      throw new MalformedMessageError('session state names an unknown suite');
    }
    requireIdentity(suite, state.ownIdentityKey, 'own identity key');
    requireIdentity(suite, state.peerIdentityKey, 'peer identity key');
    validateSessionState(suite, state);
    return new Session(state, options);
  }

  /** The session state as bytes. Contains secret keys: store it encrypted. */
  serialize(): Uint8Array {
    return encode(SessionStateSchema, this.state);
  }

  /** Initiator: finishes the key agreement with the responder's AcceptMsg. */
  complete(acceptBytes: Uint8Array): void {
    if (!this.state.initiator) throw new SessionStateError('only the initiator completes a session');
    if (this.state.responded) throw new SessionStateError('the session is already complete');
    const accept = decodeCanonical(AcceptMsgSchema, acceptBytes, 'AcceptMsg');
    requireVersion(accept.version, 'AcceptMsg');
    requireSuite(this.suite, accept.suiteId, 'AcceptMsg');
    if (accept.sessionId !== this.state.sessionId) throw new SessionStateError('AcceptMsg is for another session');
    const c1 = requireLength(accept.initiatorIdentityCiphertext, this.suite.params.kemCiphertextBytes, 'AcceptMsg ciphertext');
    const pending = this.state.pending;
    if (!pending?.invite) throw new SessionStateError('session has no pending key agreement');

    const k1 = this.suite.kem.decaps(this.state.ownIdentityKemSecretKey, c1);
    const secrets = concat(k1, pending.responderSecrets);
    const transcript = inviteTranscript(this.suite, pending.invite, pending.responderSignedPreKey, pending.responderOneTimePreKey, c1);
    const { rootKey, confirmation } = deriveRootKey(this.suite, secrets, transcript);
    k1.fill(0);
    secrets.fill(0);
    if (!bytesEqual(confirmation, accept.keyConfirmation)) {
      rootKey.fill(0);
      // Nothing has changed: a forged AcceptMsg cannot break the session.
      throw new InvalidSignatureError('AcceptMsg key confirmation does not verify (forged, or for another invite)');
    }

    const ratchet = this.state.ratchet ?? create(RatchetStateSchema);
    const baseKey = ratchet.ownKeys[0];
    if (!baseKey) throw new SessionStateError('session lost its base key');
    initialRatchetState(ratchet, rootKey, { publicKey: baseKey.publicKey, secretKey: baseKey.secretKey }, pending.responderSignedPreKey);
    rootKey.fill(0);
    pending.responderSecrets.fill(0);
    this.state.pending = undefined;
    this.state.ownIdentityKemSecretKey.fill(0);
    this.state.ownIdentityKemSecretKey = EMPTY;
    this.state.responded = true;
  }

  /** Encrypts `plaintext` into a serialized E2eeMsg. */
  encrypt(plaintext: Uint8Array): Uint8Array {
    if (!(plaintext instanceof Uint8Array)) throw new InvalidTypeError('plaintext must be a Uint8Array');
    if (plaintext.length > MAX_PLAINTEXT_BYTES) throw new InvalidLengthError(`plaintext is over the ${MAX_PLAINTEXT_BYTES}-byte limit of one message`);
    if (!this.state.responded) throw new SessionNotReadyError();
    const ratchet = this.state.ratchet as NonNullable<SessionState['ratchet']>;
    const { header, messageKey } = nextSendStep(this.suite, ratchet, this.limits);
    const ad = messageAssociatedData(
      {
        suiteId: this.suite.params.id,
        sessionId: this.state.sessionId,
        from: this.state.ownAddress,
        to: this.state.peerAddress,
        identities: (this.sendingIdentities ??= identitiesDigest(this.suite, this.state.ownIdentityKey as IdentityKeyPublic, this.peerIdentityKey)),
      },
      header,
    );
    const ciphertext = this.suite.aead.encrypt(messageKey.subarray(0, 32), messageKey.subarray(32, 44), plaintext, ad);
    messageKey.fill(0);
    return encode(
      E2eeMsgSchema,
      create(E2eeMsgSchema, {
        version: PROTOCOL_VERSION,
        suiteId: this.suite.params.id,
        sessionId: this.state.sessionId,
        ...(this.state.ownAddress ? { from: this.state.ownAddress } : {}),
        ...(this.state.peerAddress ? { to: this.state.peerAddress } : {}),
        payload: { case: 'one2oneMsg', value: create(One2oneMsgPayloadSchema, { header, ciphertext }) },
      }),
    );
  }

  /** Decrypts a serialized E2eeMsg of this session. The state changes only if it authenticates. */
  decrypt(wire: Uint8Array): Uint8Array {
    const message = decodeCanonical(E2eeMsgSchema, wire, 'E2eeMsg', MAX_MESSAGE_BYTES);
    requireVersion(message.version, 'E2eeMsg');
    requireSuite(this.suite, message.suiteId, 'E2eeMsg');
    if (message.sessionId !== this.state.sessionId) throw new SessionStateError('E2eeMsg belongs to another session');
    if (message.payload.case !== 'one2oneMsg' || !message.payload.value.header) throw new MalformedMessageError('E2eeMsg carries no one-to-one payload');
    if (!this.state.responded) throw new SessionNotReadyError();
    const { header, ciphertext } = message.payload.value;
    const ratchet = this.state.ratchet as NonNullable<SessionState['ratchet']>;
    const step = receiveStep(this.suite, ratchet, header, this.limits);
    // The addresses as carried by the message: altering or dropping them in transit fails authentication.
    const ad = messageAssociatedData(
      {
        suiteId: this.suite.params.id,
        sessionId: this.state.sessionId,
        from: message.from,
        to: message.to,
        identities: (this.receivingIdentities ??= identitiesDigest(this.suite, this.peerIdentityKey, this.state.ownIdentityKey as IdentityKeyPublic)),
      },
      header,
    );
    let plaintext: Uint8Array;
    try {
      plaintext = this.suite.aead.decrypt(step.messageKey.subarray(0, 32), step.messageKey.subarray(32, 44), ciphertext, ad);
    } catch (error) {
      step.discard();
      throw error;
    }
    step.commit();
    return plaintext;
  }
}

/** Creating sessions as the initiator. */
export const OutboundSession = {
  /**
   * Starts a session to the owner of `bundleBytes` (a serialized PreKeyBundle): checks the signed
   * pre-key's signature, encapsulates to the identity, signed and one-time pre-keys, and returns the
   * session (not ready until `complete(accept)`) with the InviteMsg to send.
   */
  initiate(account: Account, bundleBytes: Uint8Array, options: SessionOptions = {}): { session: Session; invite: Uint8Array } {
    const suite = account.suite;
    const bundle = decodeCanonical(PreKeyBundleSchema, bundleBytes, 'PreKeyBundle');
    requireVersion(bundle.version, 'PreKeyBundle');
    requireSuite(suite, bundle.suiteId, 'PreKeyBundle');
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
    const baseKey = suite.kem.keygen();
    const sessionId = deriveSessionId(suite, {
      initiator: account.identityPublicKey,
      responder: responderIdentity,
      baseKey: baseKey.publicKey,
      c2: toIdentity.ciphertext,
      c3: toSignedPreKey.ciphertext,
      c4: toOneTimePreKey?.ciphertext ?? EMPTY,
      spkId: spk.spkId,
      opkId: opk?.opkId ?? 0,
      hasOneTimePreKey: opk !== undefined,
    });

    const invite = create(InviteMsgSchema, {
      version: PROTOCOL_VERSION,
      suiteId: suite.params.id,
      sessionId,
      ...(account.state.address ? { from: account.state.address } : {}),
      ...(bundle.address ? { to: bundle.address } : {}),
      initiatorIdentityKey: account.identityPublicKey,
      responderIdentityKey: responderIdentity,
      basePublicKey: baseKey.publicKey,
      identityCiphertext: toIdentity.ciphertext,
      signedPreKeyCiphertext: toSignedPreKey.ciphertext,
      oneTimePreKeyCiphertext: toOneTimePreKey?.ciphertext ?? EMPTY,
      spkId: spk.spkId,
      hasOneTimePreKey: opk !== undefined,
      opkId: opk?.opkId ?? 0,
    });
    const responderSecrets = concat(toIdentity.sharedSecret, toSignedPreKey.sharedSecret, toOneTimePreKey?.sharedSecret ?? EMPTY);
    toIdentity.sharedSecret.fill(0);
    toSignedPreKey.sharedSecret.fill(0);
    toOneTimePreKey?.sharedSecret.fill(0);

    const ratchet = create(RatchetStateSchema, { nextOwnKeyId: 1 });
    ratchet.ownKeys = [];
    // The base key is the initiator's ratchet key 0; its root is set by complete().
    initialRatchetState(ratchet, new Uint8Array(32), baseKey, spk.publicKey);
    ratchet.peerKey = undefined;
    const state = create(SessionStateSchema, {
      version: SESSION_STATE_VERSION,
      suiteId: suite.params.id,
      sessionId,
      ...(account.state.address ? { ownAddress: account.state.address } : {}),
      ...(bundle.address ? { peerAddress: bundle.address } : {}),
      ownIdentityKey: account.identityPublicKey,
      peerIdentityKey: responderIdentity,
      initiator: true,
      responded: false,
      ratchet,
      pending: create(PendingAgreementStateSchema, {
        invite,
        responderSecrets,
        responderSignedPreKey: spk.publicKey,
        responderOneTimePreKey: opk?.publicKey ?? EMPTY,
      }),
      ownIdentityKemSecretKey: (account.state.identityKemKey?.secretKey as Uint8Array).slice(),
    });
    return { session: new Session(state, options), invite: encode(InviteMsgSchema, invite) };
  },
};

/** Creating sessions as the responder. */
export const InboundSession = {
  /**
   * Accepts an InviteMsg: decapsulates with the identity, signed and one-time pre-keys, deletes the
   * one-time pre-key from `account` (persist the account afterwards), and returns the session (ready
   * to encrypt) with the AcceptMsg to send back. A replayed invite throws DuplicateInviteError.
   */
  accept(account: Account, inviteBytes: Uint8Array, options: SessionOptions = {}): { session: Session; accept: Uint8Array } {
    const suite = account.suite;
    const invite = decodeCanonical(InviteMsgSchema, inviteBytes, 'InviteMsg');
    requireVersion(invite.version, 'InviteMsg');
    requireSuite(suite, invite.suiteId, 'InviteMsg');
    const initiatorIdentity = requireIdentity(suite, invite.initiatorIdentityKey, 'initiator identity key');
    const responderIdentity = requireIdentity(suite, invite.responderIdentityKey, 'responder identity key');
    const ownIdentity = account.identityPublicKey;
    if (!bytesEqual(responderIdentity.signPublicKey, ownIdentity.signPublicKey) || !bytesEqual(responderIdentity.kemPublicKey, ownIdentity.kemPublicKey)) {
      throw new UnknownPreKeyError('the invite is addressed to another identity');
    }
    const ct = suite.params.kemCiphertextBytes;
    requireLength(invite.basePublicKey, suite.params.kemPublicKeyBytes, 'invite base key');
    requireLength(invite.identityCiphertext, ct, 'invite identity ciphertext');
    requireLength(invite.signedPreKeyCiphertext, ct, 'invite signed pre-key ciphertext');
    requireLength(invite.oneTimePreKeyCiphertext, invite.hasOneTimePreKey ? ct : 0, 'invite one-time pre-key ciphertext');
    const derivedId = deriveSessionId(suite, {
      initiator: initiatorIdentity,
      responder: responderIdentity,
      baseKey: invite.basePublicKey,
      c2: invite.identityCiphertext,
      c3: invite.signedPreKeyCiphertext,
      c4: invite.oneTimePreKeyCiphertext,
      spkId: invite.spkId,
      opkId: invite.opkId,
      hasOneTimePreKey: invite.hasOneTimePreKey,
    });
    if (invite.sessionId !== derivedId) throw new MalformedMessageError('the invite session id is not derived from its contents');

    const inviteDigest = suite.hash(concat(label('pqe2ee/v1/invite'), invite.identityCiphertext, invite.signedPreKeyCiphertext));
    if (account.hasAcceptedInvite(inviteDigest)) throw new DuplicateInviteError();
    const spk = account.findSignedPreKey(invite.spkId);
    if (!spk?.keyPair) throw new UnknownPreKeyError(`no signed pre-key ${invite.spkId} (unknown or past its grace period)`);
    const opk = invite.hasOneTimePreKey ? account.findOneTimePreKey(invite.opkId) : undefined;
    if (invite.hasOneTimePreKey && !opk?.keyPair) throw new UnknownPreKeyError(`no one-time pre-key ${invite.opkId} (unknown or already used)`);

    const k2 = suite.kem.decaps(account.state.identityKemKey?.secretKey as Uint8Array, invite.identityCiphertext);
    const k3 = suite.kem.decaps(spk.keyPair.secretKey, invite.signedPreKeyCiphertext);
    const k4 = opk?.keyPair ? suite.kem.decaps(opk.keyPair.secretKey, invite.oneTimePreKeyCiphertext) : EMPTY;
    const toInitiator = suite.kem.encaps(initiatorIdentity.kemPublicKey);
    const secrets = concat(toInitiator.sharedSecret, k2, k3, k4);
    const transcript = inviteTranscript(suite, invite, spk.keyPair.publicKey, opk?.keyPair?.publicKey ?? EMPTY, toInitiator.ciphertext);
    const { rootKey, confirmation } = deriveRootKey(suite, secrets, transcript);
    for (const secret of [k2, k3, k4, toInitiator.sharedSecret, secrets]) secret.fill(0);

    const ratchet = create(RatchetStateSchema);
    // The responder's ratchet key 0 is its signed pre-key (a copy), the initiator's is the base key.
    initialRatchetState(ratchet, rootKey, { publicKey: spk.keyPair.publicKey.slice(), secretKey: spk.keyPair.secretKey.slice() }, invite.basePublicKey.slice());
    rootKey.fill(0);

    const acceptMessage = create(AcceptMsgSchema, {
      version: PROTOCOL_VERSION,
      suiteId: suite.params.id,
      sessionId: invite.sessionId,
      ...(invite.to ? { from: invite.to } : {}),
      ...(invite.from ? { to: invite.from } : {}),
      initiatorIdentityCiphertext: toInitiator.ciphertext,
      keyConfirmation: confirmation,
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
    return { session: new Session(state, options), accept: encode(AcceptMsgSchema, acceptMessage) };
  },
};
