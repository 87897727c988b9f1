/**
 * One-to-one sessions (DESIGN.md §4): message encryption with the sparse KEM ratchet of protocol
 * v2 (sparse/sparse-ratchet.ts, docs/protocol.md) over a SessionState. `OutboundSession.initiate` and `InboundSession.accept` create sessions through the
 * key agreement (key-agreement.ts); `Session` is the type of both sides.
 */
import { create } from '@bufbuild/protobuf';
import { InvalidLengthError, InvalidTypeError, UnsupportedProtocolVersionError } from '../errors.js';
import { getSuite, type CipherSuite } from '../crypto/index.js';
import { SessionStateSchema, type SessionState } from '../proto/gen/state_pb.js';
import { E2eeMsgSchema, One2oneMsgPayloadSchema, type E2eeAddress, type E2eeMsg, type IdentityKeyPublic } from '../proto/gen/wire_pb.js';
import { PROTOCOL_VERSION } from '../wire/statements.js';
import type { Account } from './account.js';
import {
  decode,
  decodeCanonical,
  encode,
  identitiesDigest,
  identityDigest,
  label,
  lengthPrefixed,
  MAX_MESSAGE_BYTES,
  MAX_PLAINTEXT_BYTES,
  messageAssociatedData,
  requireIdentity,
  requireVersionAndSuite,
} from './encoding.js';
import { MalformedMessageError, SessionNotReadyError, SessionStateError } from '../errors.js';
import {
  acceptInvite,
  completeAgreement,
  forgetStoredIdentitySecret,
  initiateAgreement,
  SESSION_STATE_VERSION,
  validatePendingAgreement,
  type IdentityDigests,
} from './key-agreement.js';
import { nextSendStep, ratchetEpoch, receiveStep, resolveRatchetLimits, validateRatchetState, type RatchetContext, type RatchetLimits } from './sparse/sparse-ratchet.js';
import { openWithMessageKey, sealWithMessageKey } from './symmetric-chain.js';

/** Options when creating a session. */
export interface SessionOptions {
  /** Limits of the ratchet (defaults: DESIGN.md §4). Not persisted: pass them again after deserialize. */
  limits?: Partial<RatchetLimits>;
}

/**
 * Checks that a decoded session state hangs together, so that a damaged or hand-edited state fails
 * here with a typed error instead of deep inside encrypt/decrypt/complete.
 */
function validateSessionState(suite: CipherSuite, state: SessionState): void {
  if (state.responded) {
    if (!state.ratchet) throw new MalformedMessageError('session state has no ratchet');
    validateRatchetState(suite, state.ratchet);
  } else {
    validatePendingAgreement(suite, state);
  }
}

/**
 * Decodes an E2eeMsg canonically; a message of another protocol version (whose fields need not be
 * canonical v2 ones) gets UnsupportedProtocolVersionError rather than a complaint about its encoding.
 */
function decodeMessage(wire: Uint8Array): E2eeMsg {
  try {
    return decodeCanonical(E2eeMsgSchema, wire, 'E2eeMsg', MAX_MESSAGE_BYTES);
  } catch (error) {
    let version: number | undefined;
    try {
      version = decode(E2eeMsgSchema, wire, 'E2eeMsg', MAX_MESSAGE_BYTES).version;
    } catch {
      version = undefined;
    }
    if (version !== undefined && version !== PROTOCOL_VERSION)
      throw new UnsupportedProtocolVersionError(`E2eeMsg has protocol version ${version}; this library speaks ${PROTOCOL_VERSION} only`);
    throw error;
  }
}

/** Bytes of the session tag that names a session on the wire. */
export const SESSION_TAG_BYTES = 8;

/**
 * The tag v2 messages carry instead of the 64-character session id: its first 8 bytes. The
 * receiver looks the session up among those it has with the (server-authenticated) sender, so a
 * tag only has to tell apart one device's few sessions with one peer.
 */
export function sessionTag(sessionId: string): Uint8Array {
  const tag = new Uint8Array(SESSION_TAG_BYTES);
  for (let i = 0; i < SESSION_TAG_BYTES; i++) tag[i] = Number.parseInt(sessionId.slice(2 * i, 2 * i + 2), 16) || 0;
  return tag;
}

/** Whether a message's tag names the session `sessionId`. */
export function sessionTagMatches(sessionId: string, tag: Uint8Array): boolean {
  const own = sessionTag(sessionId);
  return tag.length === own.length && own.every((byte, i) => byte === tag[i]);
}

/** A one-to-one session (either side). */
export class Session {
  /** @internal persisted state */
  readonly state: SessionState;
  readonly suite: CipherSuite;
  private readonly limits: RatchetLimits;
  /** Both identities' digests by role (from the key agreement, or computed once from the state). */
  private roleDigests: IdentityDigests | undefined;
  /** identitiesDigest for associated data, by direction (cached). */
  private readonly directionDigests: { sending?: Uint8Array; receiving?: Uint8Array } = {};
  private ratchetContext: RatchetContext | undefined;

  /** The invite's ciphertext digest, from initiate() until complete() (a deserialized pending session hashes it again). */
  private pendingInviteCiphertexts: Uint8Array | undefined;

  /** @internal `known`: digests the key agreement already computed for this state. */
  constructor(state: SessionState, options: SessionOptions = {}, known: { identities?: IdentityDigests; inviteCiphertexts?: Uint8Array } = {}) {
    this.state = state;
    this.suite = getSuite(state.suiteId);
    this.limits = resolveRatchetLimits(options.limits);
    this.roleDigests = known.identities;
    this.pendingInviteCiphertexts = known.inviteCiphertexts;
  }

  /** Same on both sides. */
  get sessionId(): string {
    return this.state.sessionId;
  }

  /**
   * The newest ratchet epoch whose root this side holds: 0 after the key agreement, one more for
   * every KEM epoch completed (docs/protocol.md "Healing"). For diagnostics, tests and benches.
   */
  get ratchetEpoch(): number {
    return this.state.ratchet ? ratchetEpoch(this.state.ratchet) : 0;
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
    if (state.version === 1) throw new UnsupportedProtocolVersionError('a protocol v1 session state (KEM double ratchet): open a new session');
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
    forgetStoredIdentitySecret(state);
    return new Session(state, options);
  }

  /** The session state as bytes. Contains secret keys: store it encrypted. */
  serialize(): Uint8Array {
    return encode(SessionStateSchema, this.state);
  }

  /**
   * Initiator: finishes the key agreement with the responder's AcceptMsg. `account` is the one that
   * initiated the session: it decapsulates the AcceptMsg's ciphertext to its identity key (the
   * pending session holds no copy of that secret). A forged AcceptMsg changes nothing.
   */
  complete(account: Account, acceptBytes: Uint8Array): void {
    completeAgreement(account, this.state, acceptBytes, this.identityDigests(), this.pendingInviteCiphertexts);
    this.pendingInviteCiphertexts = undefined;
  }

  /** Encrypts `plaintext` into a serialized E2eeMsg. */
  encrypt(plaintext: Uint8Array): Uint8Array {
    if (!(plaintext instanceof Uint8Array)) throw new InvalidTypeError('plaintext must be a Uint8Array');
    if (plaintext.length > MAX_PLAINTEXT_BYTES) throw new InvalidLengthError(`plaintext is over the ${MAX_PLAINTEXT_BYTES}-byte limit of one message`);
    if (!this.state.responded) throw new SessionNotReadyError();
    const ratchet = this.state.ratchet as NonNullable<SessionState['ratchet']>;
    const { header, messageKey } = nextSendStep(this.context(), ratchet);
    const ad = messageAssociatedData(
      {
        suiteId: this.suite.params.id,
        sessionId: this.state.sessionId,
        from: this.state.ownAddress,
        to: this.state.peerAddress,
        identities: this.identities('sending'),
      },
      header,
    );
    const ciphertext = sealWithMessageKey(this.suite, messageKey, plaintext, ad);
    messageKey.fill(0);
    return encode(
      E2eeMsgSchema,
      create(E2eeMsgSchema, {
        version: PROTOCOL_VERSION,
        suiteId: this.suite.params.id,
        sessionTag: sessionTag(this.state.sessionId),
        ...(this.state.ownAddress ? { from: this.state.ownAddress } : {}),
        ...(this.state.peerAddress ? { to: this.state.peerAddress } : {}),
        payload: { case: 'one2oneMsg', value: create(One2oneMsgPayloadSchema, { ...header, ciphertext }) },
      }),
    );
  }

  /** Decrypts a serialized E2eeMsg of this session. The state changes only if it authenticates. */
  decrypt(wire: Uint8Array): Uint8Array {
    const message = decodeMessage(wire);
    requireVersionAndSuite(message, this.suite, 'E2eeMsg');
    if (message.sessionId !== '' || !sessionTagMatches(this.state.sessionId, message.sessionTag)) throw new SessionStateError('E2eeMsg belongs to another session');
    if (message.payload.case !== 'one2oneMsg') throw new MalformedMessageError('E2eeMsg carries no one-to-one payload');
    if (!this.state.responded) throw new SessionNotReadyError();
    const { ciphertext, ...header } = message.payload.value;
    const ratchet = this.state.ratchet as NonNullable<SessionState['ratchet']>;
    const step = receiveStep(this.context(), ratchet, header);
    // The addresses as carried by the message: altering or dropping them in transit fails authentication.
    const ad = messageAssociatedData(
      {
        suiteId: this.suite.params.id,
        sessionId: this.state.sessionId,
        from: message.from,
        to: message.to,
        identities: this.identities('receiving'),
      },
      header,
    );
    let plaintext: Uint8Array;
    try {
      plaintext = openWithMessageKey(this.suite, step.messageKey, ciphertext, ad);
    } catch (error) {
      step.discard();
      throw error;
    }
    try {
      step.commit();
    } catch (error) {
      plaintext.fill(0);
      step.discard();
      throw error;
    }
    return plaintext;
  }

  /** Both identities' digests by role; hashed from the state only for a deserialized session. */
  private identityDigests(): IdentityDigests {
    if (!this.roleDigests) {
      const own = identityDigest(this.suite, this.state.ownIdentityKey as IdentityKeyPublic);
      const peer = identityDigest(this.suite, this.peerIdentityKey);
      this.roleDigests = this.state.initiator ? { initiator: own, responder: peer } : { initiator: peer, responder: own };
    }
    return this.roleDigests;
  }

  /** What the ratchet binds every epoch to: the session id and both identities, initiator first. */
  private context(): RatchetContext {
    if (!this.ratchetContext) {
      const { initiator, responder } = this.identityDigests();
      const transcript = lengthPrefixed(label('pqe2ee/v2/ratchet-transcript'), label(this.state.sessionId), identitiesDigest(this.suite, initiator, responder));
      this.ratchetContext = { suite: this.suite, transcript, initiator: this.state.initiator, limits: this.limits };
    }
    return this.ratchetContext;
  }

  /** {@link identitiesDigest} with the sender first: this side when sending, the peer when receiving. */
  private identities(direction: 'sending' | 'receiving'): Uint8Array {
    const cached = this.directionDigests[direction];
    if (cached) return cached;
    const { initiator, responder } = this.identityDigests();
    const initiatorSends = (direction === 'sending') === this.state.initiator;
    const digest = initiatorSends ? identitiesDigest(this.suite, initiator, responder) : identitiesDigest(this.suite, responder, initiator);
    this.directionDigests[direction] = digest;
    return digest;
  }
}

/** Creating sessions as the initiator. */
export const OutboundSession = {
  /**
   * Starts a session to the owner of `bundleBytes` (a serialized PreKeyBundle): checks the signed
   * pre-key's signature, encapsulates to the identity, signed and one-time pre-keys, and returns the
   * session (not ready until `complete(account, accept)`) with the InviteMsg to send.
   */
  initiate(account: Account, bundleBytes: Uint8Array, options: SessionOptions = {}): { session: Session; invite: Uint8Array } {
    const { state, invite, identities, inviteCiphertexts } = initiateAgreement(account, bundleBytes);
    return { session: new Session(state, options, { identities, inviteCiphertexts }), invite };
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
    const { state, accept, identities } = acceptInvite(account, inviteBytes);
    return { session: new Session(state, options, { identities }), accept };
  },
};
