/**
 * The KEM double ratchet (DESIGN.md §4) over a RatchetState.
 *
 * Each ratchet public key carries the root key that the peer salts with when it encapsulates to
 * that key. A side starting a sending chain makes a fresh KEM key pair R, encapsulates to the
 * peer's latest key P, and derives (RK', CK) = HKDF(ss, salt = root(P)); R is announced with
 * root(R) = RK'. The receiver, holding P's secret and root(P), derives the same chain. Because the
 * salt is tied to the target key rather than to a single linear root chain, two sides that start
 * chains at the same time still agree (the white paper reuses the pre-keys for every step, which
 * gives no post-compromise security; a fresh key per turn does).
 *
 * Nothing here mutates the state until a message has authenticated: derivations go to locals and
 * are committed only after AES-GCM accepts.
 */
import { create } from '@bufbuild/protobuf';
import type { CipherSuite } from '../crypto/index.js';
import {
  OwnRatchetKeyStateSchema,
  PeerChainSeenSchema,
  PeerRatchetKeyStateSchema,
  ReceivingChainStateSchema,
  SendingChainStateSchema,
  SkippedKeyStateSchema,
  type OwnRatchetKeyState,
  type RatchetState,
  type ReceivingChainState,
  type SkippedKeyState,
} from '../proto/gen/state_pb.js';
import { RatchetHeaderSchema, type RatchetHeader } from '../proto/gen/wire_pb.js';
import { InvalidLengthError } from '../errors.js';
import { label } from './encoding.js';
import { ReplayError, SessionNotReadyError, TooManySkippedMessagesError, UnknownRatchetKeyError } from '../errors.js';
import { chainStep, walkChain, wipeWalk, type ChainWalk } from './symmetric-chain.js';

/** Limits of DESIGN.md §4 (configurable per session). */
export interface RatchetLimits {
  /** Message keys one chain may skip in one step. */
  maxSkip: number;
  /** Skipped message keys kept per session (oldest evicted). */
  maxSkippedKeys: number;
  /** Receiving chains kept (oldest evicted). */
  maxReceivingChains: number;
  /** Messages after which a sending chain starts a new ratchet step by itself. */
  maxSendingChainLength: number;
  /** Own ratchet key pairs kept for in-flight messages (oldest deleted). */
  maxOwnKeys: number;
}

export const DEFAULT_RATCHET_LIMITS: RatchetLimits = Object.freeze({
  maxSkip: 1000,
  maxSkippedKeys: 2000,
  maxReceivingChains: 5,
  maxSendingChainLength: 512,
  maxOwnKeys: 5,
});

/** Merges and checks caller-supplied limits: each must be a positive integer (typed error otherwise). */
export function resolveRatchetLimits(limits: Partial<RatchetLimits> | undefined): RatchetLimits {
  const resolved = { ...DEFAULT_RATCHET_LIMITS, ...limits };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 1) throw new InvalidLengthError(`ratchet limit ${name} must be a positive integer`);
  }
  return resolved;
}

/** Peer key ids of evicted chains remembered to refuse late new chains for them. */
const MAX_RETIRED_KEY_IDS = 64;
const RATCHET_INFO = label('pqe2ee/v1/ratchet');

function deriveChain(suite: CipherSuite, sharedSecret: Uint8Array, rootKey: Uint8Array): { rootKey: Uint8Array; chainKey: Uint8Array } {
  const out = suite.hkdf(sharedSecret, rootKey, RATCHET_INFO, 64);
  const result = { rootKey: out.slice(0, 32), chainKey: out.slice(32, 64) };
  out.fill(0);
  return result;
}

/** Sets up the state both sides start from after key agreement. */
export function initialRatchetState(state: RatchetState, rootKey: Uint8Array, ownInitialKey: { publicKey: Uint8Array; secretKey: Uint8Array }, peerInitialKey: Uint8Array): void {
  state.ownKeys = [create(OwnRatchetKeyStateSchema, { keyId: 0, publicKey: ownInitialKey.publicKey, secretKey: ownInitialKey.secretKey, rootKey: rootKey.slice() })];
  state.peerKey = create(PeerRatchetKeyStateSchema, { keyId: 0, publicKey: peerInitialKey, rootKey: rootKey.slice() });
  state.nextOwnKeyId = 1;
  state.peerChainWatermark = 1;
  state.peerChainsAboveWatermark = [];
}

/** Bound on peer chains tracked above the watermark (a peer that skips ids cannot grow the state). */
const MAX_TRACKED_PEER_CHAINS = 64;

/**
 * Records that the peer's chain `peerKeyId` (encapsulated to our key `targetKeyId`) has arrived and
 * deletes own ratchet secrets no future message can need. The peer always encapsulates to the newest
 * of our keys it has seen, so its chains target non-decreasing key ids in creation (= id) order:
 * once every peer chain up to some id has arrived, own keys older than the newest target among
 * them are never needed again. (Without this, a stolen state could still decapsulate chains that
 * were already read, for as long as maxOwnKeys keeps their keys.)
 */
function notePeerChain(state: RatchetState, peerKeyId: number, targetKeyId: number): void {
  if (state.peerChainWatermark === 0) state.peerChainWatermark = 1;
  if (peerKeyId < state.peerChainWatermark || state.peerChainsAboveWatermark.some((c) => c.peerKeyId === peerKeyId)) return;
  state.peerChainsAboveWatermark.push(create(PeerChainSeenSchema, { peerKeyId, targetKeyId }));
  let newestTarget = -1;
  for (;;) {
    const next = state.peerChainsAboveWatermark.findIndex((c) => c.peerKeyId === state.peerChainWatermark);
    if (next < 0) break;
    const [seen] = state.peerChainsAboveWatermark.splice(next, 1);
    newestTarget = Math.max(newestTarget, seen?.targetKeyId ?? -1);
    state.peerChainWatermark += 1;
  }
  if (state.peerChainsAboveWatermark.length > MAX_TRACKED_PEER_CHAINS) {
    // Too many gaps: give up on the oldest missing chains (their messages become undecryptable,
    // like keys past the skip limit) by moving the watermark past the oldest tracked chain.
    state.peerChainsAboveWatermark.sort((a, b) => a.peerKeyId - b.peerKeyId);
    const oldest = state.peerChainsAboveWatermark.shift() as { peerKeyId: number; targetKeyId: number };
    state.peerChainWatermark = oldest.peerKeyId + 1;
    newestTarget = Math.max(newestTarget, oldest.targetKeyId);
  }
  if (newestTarget > 0) {
    const kept: OwnRatchetKeyState[] = [];
    for (const key of state.ownKeys) {
      if (key.keyId >= newestTarget) kept.push(key);
      else {
        key.secretKey.fill(0);
        key.rootKey.fill(0);
      }
    }
    state.ownKeys = kept;
  }
}

/** A message key to encrypt with, and the header to send. The state has already advanced. */
export interface SendStep {
  header: RatchetHeader;
  messageKey: Uint8Array;
}

/** Advances the sending side by one message, starting a new ratchet step when due. */
export function nextSendStep(suite: CipherSuite, state: RatchetState, limits: RatchetLimits): SendStep {
  const peer = state.peerKey;
  if (!peer) throw new SessionNotReadyError();
  let chain = state.sendingChain;
  if (!chain || chain.targetKeyId !== peer.keyId || chain.nextIndex >= limits.maxSendingChainLength) {
    const pair = suite.kem.keygen();
    const { ciphertext, sharedSecret } = suite.kem.encaps(peer.publicKey);
    const derived = deriveChain(suite, sharedSecret, peer.rootKey);
    sharedSecret.fill(0);
    const own = create(OwnRatchetKeyStateSchema, { keyId: state.nextOwnKeyId++, publicKey: pair.publicKey, secretKey: pair.secretKey, rootKey: derived.rootKey });
    state.ownKeys.push(own);
    while (state.ownKeys.length > limits.maxOwnKeys) {
      const evicted = state.ownKeys.shift();
      evicted?.secretKey.fill(0);
      evicted?.rootKey.fill(0);
    }
    const previousChainLength = chain?.nextIndex ?? 0;
    chain?.chainKey.fill(0);
    chain = create(SendingChainStateSchema, {
      ownKeyId: own.keyId,
      chainKey: derived.chainKey,
      nextIndex: 0,
      kemCiphertext: ciphertext,
      targetKeyId: peer.keyId,
      previousChainLength,
    });
    state.sendingChain = chain;
  }
  const own = state.ownKeys.find((key) => key.keyId === chain.ownKeyId) as OwnRatchetKeyState;
  const { messageKey, nextChainKey } = chainStep(suite, chain.chainKey);
  const header = create(RatchetHeaderSchema, {
    ratchetPublicKey: own.publicKey,
    ratchetKeyId: own.keyId,
    kemCiphertext: chain.kemCiphertext,
    targetKeyId: chain.targetKeyId,
    previousChainLength: chain.previousChainLength,
    messageIndex: chain.nextIndex,
  });
  chain.chainKey.fill(0);
  chain.chainKey = nextChainKey;
  chain.nextIndex += 1;
  return { header, messageKey };
}

/** What decrypting one message needs committed once the AEAD has accepted it. */
export interface ReceiveStep {
  messageKey: Uint8Array;
  commit(): void;
  discard(): void;
}

/** Walks a chain to `toIndex`, refusing a walk past the skip limit before deriving anything. */
function walkWithinLimit(suite: CipherSuite, chainKey: Uint8Array, fromIndex: number, toIndex: number, limits: RatchetLimits): ChainWalk {
  if (toIndex - fromIndex > limits.maxSkip) {
    throw new TooManySkippedMessagesError(`message index ${toIndex} would skip ${toIndex - fromIndex} keys (limit ${limits.maxSkip})`);
  }
  return walkChain(suite, chainKey, fromIndex, toIndex);
}

function storeSkipped(state: RatchetState, peerKeyId: number, keys: ChainWalk['skipped'], limits: RatchetLimits): void {
  for (const { index, messageKey } of keys) {
    state.skippedKeys.push(create(SkippedKeyStateSchema, { peerKeyId, messageIndex: index, messageKey }));
  }
  while (state.skippedKeys.length > limits.maxSkippedKeys) state.skippedKeys.shift()?.messageKey.fill(0);
}

/** Finds or derives the key for a received header, without changing `state` until commit(). */
export function receiveStep(suite: CipherSuite, state: RatchetState, header: RatchetHeader, limits: RatchetLimits): ReceiveStep {
  const peerKeyId = header.ratchetKeyId;
  const index = header.messageIndex;

  const skippedAt = state.skippedKeys.findIndex((key) => key.peerKeyId === peerKeyId && key.messageIndex === index);
  if (skippedAt >= 0) {
    const messageKey = (state.skippedKeys[skippedAt] as SkippedKeyState).messageKey.slice();
    return {
      messageKey,
      commit() {
        const at = state.skippedKeys.findIndex((key) => key.peerKeyId === peerKeyId && key.messageIndex === index);
        if (at >= 0) state.skippedKeys.splice(at, 1)[0]?.messageKey.fill(0);
        messageKey.fill(0);
      },
      discard: () => messageKey.fill(0),
    };
  }

  const existing = state.receivingChains.find((chain) => chain.peerKeyId === peerKeyId);
  if (existing) {
    if (index < existing.nextIndex) throw new ReplayError();
    const derived = walkWithinLimit(suite, existing.chainKey, existing.nextIndex, index, limits);
    return {
      messageKey: derived.messageKey,
      commit() {
        existing.chainKey.fill(0);
        existing.chainKey = derived.nextChainKey;
        existing.nextIndex = index + 1;
        storeSkipped(state, peerKeyId, derived.skipped, limits);
        derived.messageKey.fill(0);
      },
      discard: () => wipeWalk(derived),
    };
  }

  // A new chain from the peer. Every chain below the watermark, and every one tracked above it,
  // has arrived before: a "new" chain with such an id is a replay of a chain whose keys are gone.
  if (state.retiredPeerKeyIds.includes(peerKeyId) || peerKeyId < Math.max(1, state.peerChainWatermark) || state.peerChainsAboveWatermark.some((c) => c.peerKeyId === peerKeyId)) {
    throw new ReplayError('message of a chain whose keys were deleted');
  }
  const target = state.ownKeys.find((key) => key.keyId === header.targetKeyId);
  if (!target) throw new UnknownRatchetKeyError(`no ratchet key ${header.targetKeyId} (deleted or never made)`);
  if (header.ratchetPublicKey.length !== suite.params.kemPublicKeyBytes || header.kemCiphertext.length !== suite.params.kemCiphertextBytes) {
    throw new UnknownRatchetKeyError('ratchet key or KEM ciphertext of the wrong size');
  }
  const sharedSecret = suite.kem.decaps(target.secretKey, header.kemCiphertext);
  const chainRoot = deriveChain(suite, sharedSecret, target.rootKey);
  sharedSecret.fill(0);
  let derived: ChainWalk;
  try {
    derived = walkWithinLimit(suite, chainRoot.chainKey, 0, index, limits);
  } finally {
    chainRoot.chainKey.fill(0);
  }
  return {
    messageKey: derived.messageKey,
    commit() {
      // Keys of the sender's previous chain that never arrived stay decryptable (bounded).
      const previous = state.receivingChains.find((chain) => chain.peerKeyId === peerKeyId - 1);
      if (previous && header.previousChainLength > previous.nextIndex) {
        const end = Math.min(header.previousChainLength, previous.nextIndex + limits.maxSkip);
        const tail = walkWithinLimit(suite, previous.chainKey, previous.nextIndex, end - 1, limits);
        storeSkipped(state, previous.peerKeyId, [...tail.skipped, { index: end - 1, messageKey: tail.messageKey }], limits);
        previous.chainKey.fill(0);
        previous.chainKey = tail.nextChainKey;
        previous.nextIndex = end;
      }
      const chain: ReceivingChainState = create(ReceivingChainStateSchema, { peerKeyId, chainKey: derived.nextChainKey, nextIndex: index + 1 });
      state.receivingChains.push(chain);
      state.receivingChains.sort((a, b) => a.peerKeyId - b.peerKeyId);
      while (state.receivingChains.length > limits.maxReceivingChains) {
        const evicted = state.receivingChains.shift() as ReceivingChainState;
        evicted.chainKey.fill(0);
        state.retiredPeerKeyIds.push(evicted.peerKeyId);
        if (state.retiredPeerKeyIds.length > MAX_RETIRED_KEY_IDS) state.retiredPeerKeyIds.shift();
      }
      storeSkipped(state, peerKeyId, derived.skipped, limits);
      notePeerChain(state, peerKeyId, header.targetKeyId);
      if (!state.peerKey || peerKeyId > state.peerKey.keyId) {
        state.peerKey?.rootKey.fill(0);
        state.peerKey = create(PeerRatchetKeyStateSchema, { keyId: peerKeyId, publicKey: header.ratchetPublicKey.slice(), rootKey: chainRoot.rootKey });
      } else {
        chainRoot.rootKey.fill(0);
      }
      derived.messageKey.fill(0);
    },
    discard() {
      wipeWalk(derived);
      chainRoot.rootKey.fill(0);
    },
  };
}
