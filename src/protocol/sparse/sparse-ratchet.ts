/**
 * The sparse KEM ratchet of protocol v2 (docs/protocol.md) over a SparseRatchetState.
 *
 * Per-message forward secrecy comes from the symmetric chains (symmetric-chain.ts): one per epoch
 * and direction, both derived from the epoch's root. Post-compromise security comes from KEM
 * epochs, one at a time: the side that opens epoch e+1 (roles alternate, kem-epoch.ts) makes a
 * fresh key pair and sends its public key in erasure-coded chunks, one per message; the other
 * side, once any k chunks are in, encapsulates, holds RK_{e+1}, and sends the ciphertext back the
 * same way; the opening side decapsulates, holds RK_{e+1}, and moves its sending chain to epoch
 * e+1 at once. The answering side moves its own when the first message of epoch e+1 authenticates
 * (before that it cannot know the peer has the root), and then opens epoch e+2.
 *
 * A message of sending epoch s carries, if anything, a chunk of epoch s+1: its public key when
 * the sender opens s+1, its ciphertext otherwise. So a chunk needs one byte (its index) besides
 * its payload. Chunks are the AEAD's associated data and are acted on only after the message
 * authenticated, and nothing is committed until everything the message causes (decoding,
 * encapsulating, deriving) has been computed without error.
 */
import { create } from '@bufbuild/protobuf';
import { wipe } from '../../crypto/bytes.js';
import type { CipherSuite } from '../../crypto/index.js';
import { InvalidLengthError, MalformedMessageError, ReplayError, SessionStateError, TooManySkippedMessagesError, UnknownRatchetKeyError } from '../../errors.js';
import {
  EpochSetupStateSchema,
  RatchetChainStateSchema,
  SkippedMessageKeyStateSchema,
  SparseRatchetStateSchema,
  type EpochKeyState,
  type EpochSetupState,
  type RatchetChainState,
  type SparseRatchetState,
} from '../../proto/gen/state_pb.js';
import { chainStep, walkChain, wipeWalk, type ChainWalk } from '../symmetric-chain.js';
import { chunkField, decoderWith, nextChunkIndex, parseChunkField, withChunk, type HeaderChunk } from './epoch-chunks.js';
import { MAX_CHUNKS, type ChunkLayout } from './erasure-code.js';
import { epochKeys, epochLayouts, epochRoot, opensEpoch, type ChainDirection, type EpochBinding } from './kem-epoch.js';
import { carriesOwnStep, epochKey, keepEpochKey, oneWayReceiveEffect, oneWaySend, type OneWayEffect } from './one-way-step.js';

/** Limits of DESIGN.md §4 (configurable per session). */
export interface RatchetLimits {
  /** Message keys one chain may skip in one step. */
  maxSkip: number;
  /** Skipped message keys kept per session (oldest evicted). */
  maxSkippedKeys: number;
  /** Receiving chains (one per epoch and one-way step) kept for late messages (oldest evicted). */
  maxReceivingChains: number;
}

export const DEFAULT_RATCHET_LIMITS: RatchetLimits = Object.freeze({
  maxSkip: 1000,
  maxSkippedKeys: 2000,
  maxReceivingChains: 32,
});

/** Merges and checks caller-supplied limits: each must be a positive integer (typed error otherwise). */
export function resolveRatchetLimits(limits: Partial<RatchetLimits> | undefined): RatchetLimits {
  const resolved = { ...DEFAULT_RATCHET_LIMITS, ...limits };
  for (const [name, value] of Object.entries(resolved)) {
    if (!(name in DEFAULT_RATCHET_LIMITS)) throw new InvalidLengthError(`unknown ratchet limit ${name}`);
    if (!Number.isSafeInteger(value) || value < 1) throw new InvalidLengthError(`ratchet limit ${name} must be a positive integer`);
  }
  return resolved;
}

/** What every step needs besides the state. */
export interface RatchetContext extends EpochBinding {
  readonly initiator: boolean;
  readonly limits: RatchetLimits;
}

/** The header fields a message carries (all authenticated as associated data). */
export interface SparseHeader {
  epoch: number;
  messageIndex: number;
  /** Empty, or one byte of chunk index followed by one chunk. */
  epochChunk: Uint8Array;
  /** In a chain's first {@link PREVIOUS_LENGTH_MESSAGES} messages: the length of the sender's previous chain (else 0). */
  previousChainLength: number;
  /** The one-way step of the sender's chain (one-way-step.ts), and optionally a chunk of its next step. */
  oneWayStep: number;
  oneWayChunk: Uint8Array;
}

/** How many messages at the start of a sending chain carry the previous chain's length. */
export const PREVIOUS_LENGTH_MESSAGES = 8;

const EMPTY = new Uint8Array(0);
const MAX_INDEX = 0xffff_ffff;

function direction(initiator: boolean, sending: boolean): ChainDirection {
  return initiator === sending ? 0 : 1;
}

/** An epoch's chains, this side's view: the one it sends on and the one it receives on. */
interface EpochChains {
  sending: RatchetChainState;
  receiving: RatchetChainState;
  nextSalt: Uint8Array;
}

/** Derives epoch `epoch`'s chains from its root and erases the root. */
function openChains(suite: CipherSuite, epoch: number, root: Uint8Array, initiator: boolean): EpochChains {
  const keys = epochKeys(suite, epoch, root);
  wipe(root);
  const chain = (dir: ChainDirection) => create(RatchetChainStateSchema, { epoch, chainKey: keys.chainKeys[dir], oneWaySalt: keys.oneWaySalts[dir] });
  return { sending: chain(direction(initiator, true)), receiving: chain(direction(initiator, false)), nextSalt: keys.nextSalt };
}

/**
 * The state both sides start from: epoch 0 under the key agreement's root key (not kept), with
 * the epoch-0 keys the invite and accept exchanged for one-way steps (copied).
 */
export function initialRatchetState(
  suite: CipherSuite,
  rootKey: Uint8Array,
  initiator: boolean,
  epochZero: { own: { publicKey: Uint8Array; secretKey: Uint8Array }; peer: Uint8Array },
): SparseRatchetState {
  const chains = openChains(suite, 0, rootKey.slice(), initiator);
  return create(SparseRatchetStateSchema, {
    rootEpoch: 0,
    rootKey: chains.nextSalt,
    sendingChain: chains.sending,
    receivingChains: [chains.receiving],
    ownEpochKeys: [epochKey(0, epochZero.own.publicKey, epochZero.own.secretKey)],
    peerEpochKeys: [epochKey(0, epochZero.peer)],
  });
}

/**
 * Checks a decoded state's shape (sizes of every key, chunks within their layouts), so that a
 * damaged state fails with a typed error here instead of deep inside a step.
 */
export function validateRatchetState(suite: CipherSuite, state: SparseRatchetState): void {
  const bad = (what: string) => new MalformedMessageError(`session state has a malformed ${what}`);
  if (state.rootKey.length !== 32) throw bad('root key');
  const chains = [state.sendingChain, ...state.receivingChains, state.setup?.nextSendingChain, state.oneWayStep?.nextChain].filter((c) => c !== undefined);
  if (!state.sendingChain || chains.some((c) => c.chainKey.length !== 32 || c.oneWaySalt.length !== 32)) throw bad('chain');
  if (state.skippedKeys.some((k) => k.messageKey.length !== 44)) throw bad('skipped key');
  const p = suite.params;
  const layouts = epochLayouts(suite);
  if (state.ownEpochKeys.some((k) => k.publicKey.length !== p.kemPublicKeyBytes || k.secretKey.length !== p.kemSecretKeyBytes)) throw bad('kept epoch key');
  if (state.peerEpochKeys.some((k) => k.publicKey.length !== p.kemPublicKeyBytes || k.secretKey.length !== 0)) throw bad('peer epoch key');
  const step = state.oneWayStep;
  if (step && (step.ciphertext.length !== p.kemCiphertextBytes || (!step.switched && !step.nextChain) || step.nextChunkIndex >= MAX_CHUNKS)) throw bad('one-way step');
  if (state.setup && state.setup.nextChunkIndex >= MAX_CHUNKS) throw bad('epoch setup');
  const collecting = state.oneWayReceive?.received ?? [];
  if (collecting.length > layouts.ciphertext.dataChunks || collecting.some((c) => c.index >= MAX_CHUNKS || c.chunk.length !== layouts.ciphertext.chunkBytes))
    throw bad('one-way chunk');
  const setup = state.setup;
  if (setup) {
    if (setup.epoch !== state.rootEpoch + 1 && setup.epoch !== state.rootEpoch) throw bad('epoch setup');
    if (
      setup.ownPublicKey.length !== 0 &&
      (setup.ownPublicKey.length !== p.kemPublicKeyBytes || (setup.ownSecretKey.length !== 0 && setup.ownSecretKey.length !== p.kemSecretKeyBytes))
    )
      throw bad('epoch key');
    if (setup.ciphertext.length !== 0 && setup.ciphertext.length !== p.kemCiphertextBytes) throw bad('epoch ciphertext');
    const layout = setup.ownPublicKey.length !== 0 ? layouts.ciphertext : layouts.publicKey;
    if (setup.received.length > layout.dataChunks || setup.received.some((c) => c.index >= MAX_CHUNKS || c.chunk.length !== layout.chunkBytes)) throw bad('epoch chunk');
  }
}

/** A message key to encrypt with, and the header to send. The state has already advanced. */
export interface SendStep {
  header: SparseHeader;
  messageKey: Uint8Array;
}

/** The chunk to attach, if any; opens this side's epoch (a KEM key generation) when it is due. */
function nextChunk(ctx: RatchetContext, state: SparseRatchetState): Uint8Array {
  const sending = state.sendingChain as RatchetChainState;
  const layouts = epochLayouts(ctx.suite);
  let payload: Uint8Array | undefined;
  let layout: ChunkLayout;
  if (state.rootEpoch === sending.epoch && opensEpoch(ctx.initiator, sending.epoch + 1)) {
    if (!state.setup || state.setup.epoch !== sending.epoch + 1) {
      const pair = ctx.suite.kem.keygen();
      state.setup = create(EpochSetupStateSchema, { epoch: sending.epoch + 1, ownPublicKey: pair.publicKey, ownSecretKey: pair.secretKey });
    }
    payload = state.setup.ownPublicKey;
    layout = layouts.publicKey;
  } else if (state.rootEpoch === sending.epoch + 1 && state.setup && state.setup.ciphertext.length !== 0) {
    payload = state.setup.ciphertext;
    layout = layouts.ciphertext;
  } else {
    return EMPTY;
  }
  // A peer that does not answer gets each chunk about twice, then nothing until it writes again:
  // a one-way burst does not pay for chunks that cannot be used yet.
  if (state.chunksSincePeerMessage >= 2 * layout.dataChunks) return EMPTY;
  const setup = state.setup as EpochSetupState;
  const index = setup.nextChunkIndex % MAX_CHUNKS;
  setup.nextChunkIndex = nextChunkIndex(index);
  state.chunksSincePeerMessage += 1;
  return chunkField(payload, layout, index);
}

/** Advances the sending side by one message. */
export function nextSendStep(ctx: RatchetContext, state: SparseRatchetState): SendStep {
  const sending = state.sendingChain;
  if (!sending) throw new SessionStateError('session has no sending chain');
  if (sending.nextIndex >= MAX_INDEX) throw new SessionStateError('sending chain exhausted');
  const epochChunk = nextChunk(ctx, state);
  // May move to a one-way step's chain: read the sending chain only after it.
  const oneWayChunk = oneWaySend(ctx, state, epochChunk.length > 0);
  const chain = state.sendingChain as RatchetChainState;
  const { messageKey, nextChainKey } = chainStep(ctx.suite, chain.chainKey);
  const previousChainLength = chain.nextIndex < PREVIOUS_LENGTH_MESSAGES ? chain.previousLength : 0;
  const header: SparseHeader = { epoch: chain.epoch, messageIndex: chain.nextIndex, epochChunk, previousChainLength, oneWayStep: chain.step, oneWayChunk };
  wipe(chain.chainKey);
  chain.chainKey = nextChainKey;
  chain.nextIndex += 1;
  state.messagesSincePeerMessage += 1;
  return { header, messageKey };
}

/** What decrypting one message needs committed once the AEAD has accepted it. */
export interface ReceiveStep {
  messageKey: Uint8Array;
  /** Applies the message to the state; throws (changing nothing) if its chunk cannot be used. */
  commit(): void;
  discard(): void;
}

function walkWithinLimit(ctx: RatchetContext, chainKey: Uint8Array, fromIndex: number, toIndex: number): ChainWalk {
  if (toIndex - fromIndex > ctx.limits.maxSkip) {
    throw new TooManySkippedMessagesError(`message index ${toIndex} would skip ${toIndex - fromIndex} keys (limit ${ctx.limits.maxSkip})`);
  }
  return walkChain(ctx.suite, chainKey, fromIndex, toIndex);
}

/** The state changes a chunk causes, computed without touching the state. */
interface ChunkEffect {
  rootEpoch: number;
  rootKey: Uint8Array;
  receivingChain: RatchetChainState;
  /** Opening side: its new sending chain, used at once. */
  sendingChain?: RatchetChainState;
  /** The setup that replaces the current one (undefined: cleared). */
  setup: EpochSetupState | undefined;
  /** The epoch key to keep for the peer's one-way steps (own secret) or for this side's (peer public key). */
  ownKey?: EpochKeyState;
  peerKey?: EpochKeyState;
}

/**
 * Adds an authenticated chunk of epoch `epoch` (the message's sending epoch plus one). Returns
 * the new setup to store when the chunk only joined the others, the whole effect when it completed
 * the epoch, or undefined when it is of no use (an epoch this side already has, or a repeat).
 */
function chunkEffect(ctx: RatchetContext, state: SparseRatchetState, epoch: number, chunk: HeaderChunk): ChunkEffect | EpochSetupState | undefined {
  if (epoch !== state.rootEpoch + 1) return undefined;
  const layouts = epochLayouts(ctx.suite);
  const setup = state.setup?.epoch === epoch ? state.setup : undefined;
  const { suite } = ctx;
  if (opensEpoch(ctx.initiator, epoch)) {
    // A ciphertext chunk for the key this side sent.
    if (!setup || setup.ownSecretKey.length === 0) return undefined;
    const { decoder, added } = decoderWith(layouts.ciphertext, setup.received, chunk);
    if (!added) return undefined;
    if (!decoder.complete) return create(EpochSetupStateSchema, { ...setup, received: withChunk(setup.received, chunk) });
    const ciphertext = decoder.decode();
    let sharedSecret: Uint8Array;
    try {
      sharedSecret = suite.kem.decaps(setup.ownSecretKey, ciphertext);
    } catch {
      // A ciphertext the KEM refuses (an X25519 low-order point) can only come from the peer.
      return undefined;
    }
    try {
      const chains = openChains(suite, epoch, epochRoot(ctx, epoch, state.rootKey, sharedSecret, setup.ownPublicKey, ciphertext), ctx.initiator);
      return {
        rootEpoch: epoch,
        rootKey: chains.nextSalt,
        receivingChain: chains.receiving,
        sendingChain: chains.sending,
        setup: undefined,
        ownKey: epochKey(epoch, setup.ownPublicKey, setup.ownSecretKey),
      };
    } finally {
      wipe(sharedSecret);
    }
  }
  // A public-key chunk of the peer's epoch.
  const held = setup?.received ?? [];
  const { decoder, added } = decoderWith(layouts.publicKey, held, chunk);
  if (!added) return undefined;
  if (!decoder.complete) return create(EpochSetupStateSchema, { ...(setup ?? { epoch }), received: withChunk(held, chunk) });
  const publicKey = decoder.decode();
  let encapsulated: { ciphertext: Uint8Array; sharedSecret: Uint8Array };
  try {
    encapsulated = suite.kem.encaps(publicKey);
  } catch {
    // A key the KEM refuses (ML-KEM's modulus check) can only come from the peer itself: its
    // message still counts, the epoch just never opens (the chunk is not kept).
    return undefined;
  }
  const { ciphertext, sharedSecret } = encapsulated;
  try {
    const chains = openChains(suite, epoch, epochRoot(ctx, epoch, state.rootKey, sharedSecret, publicKey, ciphertext), ctx.initiator);
    return {
      rootEpoch: epoch,
      rootKey: chains.nextSalt,
      receivingChain: chains.receiving,
      setup: create(EpochSetupStateSchema, { epoch, ciphertext, nextSendingChain: chains.sending }),
      peerKey: epochKey(epoch, publicKey),
    };
  } finally {
    wipe(sharedSecret);
  }
}

function wipeSetup(setup: EpochSetupState | undefined): void {
  if (!setup) return;
  wipe(setup.ownSecretKey);
  if (setup.nextSendingChain) wipe(setup.nextSendingChain.chainKey);
}

/** Orders chains by (epoch, step): the order they were made in on the sending side. */
const chainOrder = (x: { epoch: number; step: number }, y: { epoch: number; step: number }): number => x.epoch - y.epoch || x.step - y.step;

function addReceivingChain(ctx: RatchetContext, state: SparseRatchetState, chain: RatchetChainState): void {
  state.receivingChains.push(chain);
  state.receivingChains.sort(chainOrder);
  while (state.receivingChains.length > ctx.limits.maxReceivingChains) retireChain(ctx, state, state.receivingChains.shift() as RatchetChainState);
}

function applyEffect(ctx: RatchetContext, state: SparseRatchetState, effect: ChunkEffect | EpochSetupState | undefined): void {
  if (!effect) return;
  if (!('rootKey' in effect)) {
    state.setup = effect;
    return;
  }
  wipe(state.rootKey);
  state.rootEpoch = effect.rootEpoch;
  state.rootKey = effect.rootKey;
  addReceivingChain(ctx, state, effect.receivingChain);
  if (effect.sendingChain) switchSending(state, effect.sendingChain);
  if (state.setup !== effect.setup) wipeSetup(state.setup);
  state.setup = effect.setup;
  if (effect.ownKey) state.ownEpochKeys = keepEpochKey(state.ownEpochKeys, effect.ownKey);
  if (effect.peerKey) state.peerEpochKeys = keepEpochKey(state.peerEpochKeys, effect.peerKey);
  state.chunksSincePeerMessage = 0;
}

function applyOneWayEffect(ctx: RatchetContext, state: SparseRatchetState, effect: OneWayEffect | undefined): void {
  if (!effect) return;
  state.oneWayReceive = effect.receive;
  const chain = effect.chain;
  if (!chain) return;
  // The step before has served its salt: erased, a thief of this state cannot rebuild this chain
  // from the ciphertext chunks it saw on the wire.
  const base = state.receivingChains.find((c) => c.epoch === chain.epoch && c.step === chain.step - 1);
  if (base) base.oneWaySalt.fill(0);
  addReceivingChain(ctx, state, chain);
}

/** The answering side's switch: the peer sends in the epoch whose root this side made. */
function maybeSwitch(state: SparseRatchetState, messageEpoch: number): void {
  const next = state.setup?.nextSendingChain;
  if (!next || messageEpoch !== state.rootEpoch || next.epoch !== messageEpoch) return;
  switchSending(state, next);
  (state.setup as EpochSetupState).nextSendingChain = undefined;
  wipeSetup(state.setup);
  state.setup = undefined;
  state.chunksSincePeerMessage = 0;
}

/** Moves sending to `next`, which tells the peer how long the chain it replaces got. */
function switchSending(state: SparseRatchetState, next: RatchetChainState): void {
  const previous = state.sendingChain as RatchetChainState;
  next.previousLength = previous.nextIndex;
  wipe(previous.chainKey);
  wipe(previous.oneWaySalt);
  state.sendingChain = next;
}

/**
 * Deletes a receiving chain (evicted by newer ones), first keeping the keys of its messages still
 * in flight when the sender has said how long it got (bounded like any skip).
 */
function retireChain(ctx: RatchetContext, state: SparseRatchetState, retired: RatchetChainState): void {
  const length = retired.lengthPlusOne - 1;
  if (length > retired.nextIndex) {
    const end = Math.min(length, retired.nextIndex + ctx.limits.maxSkip);
    const tail = walkChain(ctx.suite, retired.chainKey, retired.nextIndex, end - 1);
    storeSkipped(ctx, state, retired, [...tail.skipped, { index: end - 1, messageKey: tail.messageKey }]);
    wipe(tail.nextChainKey);
  }
  wipe(retired.chainKey);
  wipe(retired.oneWaySalt);
}

/** Records, from an authenticated header, how long the sender's previous chain got. */
function notePreviousLength(state: SparseRatchetState, header: SparseHeader): void {
  if (header.previousChainLength === 0) return;
  const own = { epoch: header.epoch, step: header.oneWayStep };
  const previous = state.receivingChains.filter((c) => chainOrder(c, own) < 0).at(-1);
  if (previous && previous.lengthPlusOne === 0) previous.lengthPlusOne = header.previousChainLength + 1;
}

function storeSkipped(ctx: RatchetContext, state: SparseRatchetState, chain: { epoch: number; step: number }, keys: ChainWalk['skipped']): void {
  for (const { index, messageKey } of keys) {
    state.skippedKeys.push(create(SkippedMessageKeyStateSchema, { epoch: chain.epoch, step: chain.step, messageIndex: index, messageKey }));
  }
  while (state.skippedKeys.length > ctx.limits.maxSkippedKeys) wipe((state.skippedKeys.shift() as { messageKey: Uint8Array }).messageKey);
}

/** Finds or derives the key for a received header, without changing `state` until commit(). */
export function receiveStep(ctx: RatchetContext, state: SparseRatchetState, header: SparseHeader): ReceiveStep {
  const { epoch, messageIndex: index, oneWayStep: step } = header;
  // Lengths are stored plus one: a peer naming the last uint32 would make the state unstorable.
  if (index >= MAX_INDEX || header.previousChainLength >= MAX_INDEX) throw new MalformedMessageError('message index out of range');
  const chunkBytes = epochLayouts(ctx.suite).publicKey.chunkBytes;
  const chunk = parseChunkField(header.epochChunk, chunkBytes);
  const oneWayChunk = parseChunkField(header.oneWayChunk, chunkBytes);
  const oneWayStepOfChunk = carriesOwnStep(ctx.suite, step, index) ? step : step + 1;
  // Everything the message causes, computed first (it may throw), then applied.
  // Everything the message's chunks cause, computed (it may throw) before anything is applied.
  const effects = () => ({
    epoch: chunk ? chunkEffect(ctx, state, epoch + 1, chunk) : undefined,
    oneWay: oneWayChunk ? oneWayReceiveEffect(ctx, state, epoch, oneWayStepOfChunk, oneWayChunk) : undefined,
  });
  const apply = (computed: ReturnType<typeof effects>) => {
    notePreviousLength(state, header);
    applyEffect(ctx, state, computed.epoch);
    applyOneWayEffect(ctx, state, computed.oneWay);
    maybeSwitch(state, epoch);
    state.chunksSincePeerMessage = 0;
    state.messagesSincePeerMessage = 0;
  };
  const finish = () => apply(effects());
  const isThis = (key: { epoch: number; step: number; messageIndex: number }) => key.epoch === epoch && key.step === step && key.messageIndex === index;

  const skippedAt = state.skippedKeys.findIndex(isThis);
  if (skippedAt >= 0) {
    const messageKey = (state.skippedKeys[skippedAt] as { messageKey: Uint8Array }).messageKey.slice();
    return {
      messageKey,
      commit() {
        finish();
        const at = state.skippedKeys.findIndex(isThis);
        if (at >= 0) wipe((state.skippedKeys.splice(at, 1)[0] as { messageKey: Uint8Array }).messageKey);
        wipe(messageKey);
      },
      discard: () => wipe(messageKey),
    };
  }

  const receiving = state.receivingChains.find((c) => c.epoch === epoch && c.step === step);
  const completing = !receiving && oneWayChunk && oneWayStepOfChunk === step ? oneWayReceiveEffect(ctx, state, epoch, step, oneWayChunk) : undefined;
  if (completing?.chain) {
    // The first message of a one-way step whose ciphertext this chunk completes: derive the chain
    // tentatively; it is added only if this message authenticates under it.
    const derived = walkWithinLimit(ctx, completing.chain.chainKey, 0, index);
    const chain = completing.chain;
    return {
      messageKey: derived.messageKey,
      commit() {
        const computed = effects();
        applyOneWayEffect(ctx, state, completing);
        apply(computed);
        wipe(chain.chainKey);
        chain.chainKey = derived.nextChainKey;
        chain.nextIndex = index + 1;
        storeSkipped(ctx, state, chain, derived.skipped);
        wipe(derived.messageKey);
      },
      discard() {
        wipeWalk(derived);
        wipe(chain.chainKey);
        wipe(chain.oneWaySalt);
      },
    };
  }
  if (!receiving) {
    if (epoch > state.rootEpoch) throw new UnknownRatchetKeyError(`no chain for ratchet epoch ${epoch} (this side is at ${state.rootEpoch})`);
    const newer = state.receivingChains.some((c) => chainOrder(c, { epoch, step }) > 0 && c.epoch === epoch);
    const oldest = state.receivingChains[0];
    if (!newer && step > 0 && oldest && chainOrder(oldest, { epoch, step }) < 0) {
      throw new UnknownRatchetKeyError(`one-way step ${step} of ratchet epoch ${epoch} has not come in yet`);
    }
    throw new ReplayError('message of a chain whose keys were deleted');
  }
  if (index < receiving.nextIndex) throw new ReplayError();
  // A chain the sender has left ended where it said: a thief holding its key cannot extend it.
  if (receiving.lengthPlusOne !== 0 && index >= receiving.lengthPlusOne - 1) throw new ReplayError('message beyond the end of a finished chain');
  const derived = walkWithinLimit(ctx, receiving.chainKey, receiving.nextIndex, index);
  return {
    messageKey: derived.messageKey,
    commit() {
      finish();
      wipe(receiving.chainKey);
      receiving.chainKey = derived.nextChainKey;
      receiving.nextIndex = index + 1;
      storeSkipped(ctx, state, receiving, derived.skipped);
      wipe(derived.messageKey);
    },
    discard: () => wipeWalk(derived),
  };
}

/** The newest epoch whose root this side holds (for tests, benches and diagnostics). */
export function ratchetEpoch(state: SparseRatchetState): number {
  return state.rootEpoch;
}
