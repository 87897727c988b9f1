/**
 * One-to-one sessions (DESIGN.md §4): message encryption with the KEM double ratchet over a
 * SessionState. `OutboundSession.initiate` and `InboundSession.accept` create sessions through the
 * key agreement (key-agreement.ts); `Session` is the type of both sides.
 */
import { create } from '@bufbuild/protobuf';
import { InvalidLengthError, InvalidTypeError } from '../errors.js';
import { getSuite, type CipherSuite } from '../crypto/index.js';
import { SessionStateSchema, type SessionState } from '../proto/gen/state_pb.js';
import { E2eeMsgSchema, One2oneMsgPayloadSchema, type E2eeAddress, type IdentityKeyPublic } from '../proto/gen/wire_pb.js';
import { PROTOCOL_VERSION } from '../wire/statements.js';
import type { Account } from './account.js';
import {
  decode,
  decodeCanonical,
  encode,
  identitiesDigest,
  MAX_MESSAGE_BYTES,
  MAX_PLAINTEXT_BYTES,
  messageAssociatedData,
  requireIdentity,
  requireVersionAndSuite,
} from './encoding.js';
import { MalformedMessageError, SessionNotReadyError, SessionStateError } from '../errors.js';
import { acceptInvite, completeAgreement, forgetStoredIdentitySecret, initiateAgreement, SESSION_STATE_VERSION, validatePendingAgreement } from './key-agreement.js';
import { nextSendStep, receiveStep, resolveRatchetLimits, type RatchetLimits } from './ratchet.js';
import { CHAIN_KEY_BYTES, MESSAGE_KEY_BYTES, openWithMessageKey, sealWithMessageKey } from './symmetric-chain.js';

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
    if (chain && (chain.chainKey.length !== CHAIN_KEY_BYTES || !ratchet.ownKeys.some((k) => k.keyId === chain.ownKeyId) || chain.kemCiphertext.length !== p.kemCiphertextBytes)) {
      throw new MalformedMessageError('session state has a malformed sending chain');
    }
    if (ratchet.receivingChains.some((c) => c.chainKey.length !== CHAIN_KEY_BYTES) || ratchet.skippedKeys.some((k) => k.messageKey.length !== MESSAGE_KEY_BYTES)) {
      throw new MalformedMessageError('session state has a malformed receiving chain');
    }
  } else {
    validatePendingAgreement(suite, state);
  }
}

/** A one-to-one session (either side). */
export class Session {
  /** @internal persisted state */
  readonly state: SessionState;
  readonly suite: CipherSuite;
  private readonly limits: RatchetLimits;
  /** Identity digests for associated data, by direction (derived from the state, cached). */
  private readonly identityDigests: { sending?: Uint8Array; receiving?: Uint8Array } = {};

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
    completeAgreement(account, this.state, acceptBytes);
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
    requireVersionAndSuite(message, this.suite, 'E2eeMsg');
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
    step.commit();
    return plaintext;
  }

  /** {@link identitiesDigest} with the sender first: this side when sending, the peer when receiving. */
  private identities(direction: 'sending' | 'receiving'): Uint8Array {
    const cached = this.identityDigests[direction];
    if (cached) return cached;
    const own = this.state.ownIdentityKey as IdentityKeyPublic;
    const digest = direction === 'sending' ? identitiesDigest(this.suite, own, this.peerIdentityKey) : identitiesDigest(this.suite, this.peerIdentityKey, own);
    this.identityDigests[direction] = digest;
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
    const { state, invite } = initiateAgreement(account, bundleBytes);
    return { session: new Session(state, options), invite };
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
    const { state, accept } = acceptInvite(account, inviteBytes);
    return { session: new Session(state, options), accept };
  },
};
