/**
 * One-way steps of the sparse ratchet (docs/protocol.md "One-way traffic"). An epoch needs both
 * sides to write; a side that keeps writing to a silent peer heals a compromise of its own state
 * another way: it encapsulates to the peer's last epoch public key (whose secret the peer keeps,
 * and a thief of the sender's state does not have), sends the ciphertext in chunks on its current
 * chain, and after sending each chunk about twice moves its sending chain to the step's chain
 *
 *   CK ‖ X' = HKDF(ss, salt = X, "pqe2ee/v2/one-way" ‖ epoch ‖ step ‖ transcript ‖ H(ct)).
 *
 * The receiver decapsulates once any k chunks are in and derives the same chain. The first
 * k messages of the new chain ({@link oneWayCarryMessages}) carry chunks of the same ciphertext, so
 * a receiver short of a chunk (lost, or overtaken by the new chain's first message) completes it
 * from the message itself, which its own AEAD then authenticates. A step protects
 * only against a compromise of the sender: a thief of the receiver's state holds the kept secret.
 * The step's chain never feeds an epoch root; the next epoch heals both sides as usual.
 */
import { create } from '@bufbuild/protobuf';
import { wipe } from '../../crypto/bytes.js';
import type { CipherSuite } from '../../crypto/index.js';
import {
  EpochKeyStateSchema,
  OneWayReceiveStateSchema,
  OneWayStepStateSchema,
  RatchetChainStateSchema,
  type EpochKeyState,
  type OneWayReceiveState,
  type OneWayStepState,
  type RatchetChainState,
  type SparseRatchetState,
} from '../../proto/gen/state_pb.js';
import { chunkField, decoderWith, nextChunkIndex, withChunk, type HeaderChunk } from './epoch-chunks.js';
import { epochLayouts, oneWayKeys, opensEpoch, type EpochBinding } from './kem-epoch.js';

const EMPTY = new Uint8Array(0);
/**
 * Messages at the start of a step's chain that carry chunks of its ciphertext: k (at least 8), so
 * a receiver that missed chunks before the switch gets k more chances.
 */
export function oneWayCarryMessages(suite: CipherSuite): number {
  return Math.max(8, epochLayouts(suite).ciphertext.dataChunks);
}
/** Chunks a step sends before the switch (and the silence and chain length that start a step): 2k, at least this. */
const MIN_ONE_WAY_BUDGET = 16;

/** Chunks sent before a step's switch; also how long the peer must be silent, and the chain long, before a step. */
export function oneWayBudget(suite: CipherSuite): number {
  return Math.max(MIN_ONE_WAY_BUDGET, 2 * epochLayouts(suite).ciphertext.dataChunks);
}

/** Whether a header's one-way chunk belongs to its own chain's step (else to the next step, which starts only at index >= the budget). */
export function carriesOwnStep(suite: CipherSuite, step: number, messageIndex: number): boolean {
  return step > 0 && messageIndex < oneWayCarryMessages(suite);
}

/** Own epoch secrets and peer epoch public keys kept (enough for any step the peer can take, see {@link oneWayTarget}). */
export const KEPT_EPOCH_KEYS = 2;

/** What one-way steps need from the ratchet's context. */
export interface OneWayContext extends EpochBinding {
  readonly initiator: boolean;
}

/**
 * The epoch whose key a step taken in `epoch` encapsulates to: the newest one at or below `epoch`
 * that the receiver opened. The sender sends in `epoch`, so it holds that epoch's root, and it
 * answered the receiver's newest epoch at or below it; the receiver opened and completed it, and
 * keeps its secret until two newer ones of its own completed — by then the sender has moved on.
 * Epoch 0's keys are the ones the invite (initiator) and the accept (responder) carried.
 */
export function oneWayTarget(receiverIsInitiator: boolean, epoch: number): number {
  for (let target = epoch; target >= Math.max(1, epoch - 1); target--) if (opensEpoch(receiverIsInitiator, target)) return target;
  // Before the receiver opened any epoch: its epoch-0 key from the invite or accept.
  return 0;
}

/** `list` plus `entry`, the oldest beyond {@link KEPT_EPOCH_KEYS} erased and dropped. */
export function keepEpochKey(list: readonly EpochKeyState[], entry: EpochKeyState): EpochKeyState[] {
  const kept = [...list.filter((k) => k.epoch !== entry.epoch), entry].sort((a, b) => a.epoch - b.epoch);
  while (kept.length > KEPT_EPOCH_KEYS) wipe((kept.shift() as EpochKeyState).secretKey);
  return kept;
}

/** An epoch key entry (copies). */
export function epochKey(epoch: number, publicKey: Uint8Array, secretKey?: Uint8Array): EpochKeyState {
  return create(EpochKeyStateSchema, { epoch, publicKey: publicKey.slice(), secretKey: secretKey?.slice() ?? EMPTY });
}

function wipeStep(step: OneWayStepState | undefined): void {
  if (step?.nextChain) wipe(step.nextChain.chainKey);
  if (step?.nextChain) wipe(step.nextChain.oneWaySalt);
}

/**
 * Sending side, before each message: moves to the step's chain once its chunks are out, starts a
 * step when the peer has been silent for a budget of messages and the chain is as long, and
 * returns the one-way chunk to attach (empty when none, or when `slotTaken` by an epoch chunk).
 */
export function oneWaySend(ctx: OneWayContext, state: SparseRatchetState, slotTaken: boolean): Uint8Array {
  const layout = epochLayouts(ctx.suite).ciphertext;
  const budget = oneWayBudget(ctx.suite);
  let sending = state.sendingChain as RatchetChainState;
  let step = state.oneWayStep;
  const current = step?.switched
    ? step.epoch === sending.epoch && step.step === sending.step && sending.nextIndex < oneWayCarryMessages(ctx.suite)
    : step?.epoch === sending.epoch && step?.step === sending.step + 1;
  if (step && !current) {
    // Carried long enough, or the epoch moved on under the step.
    wipeStep(step);
    state.oneWayStep = step = undefined;
  }
  if (step && !step.switched && step.chunksSent >= budget) {
    const next = step.nextChain as RatchetChainState;
    next.previousLength = sending.nextIndex;
    wipe(sending.chainKey);
    wipe(sending.oneWaySalt);
    state.sendingChain = sending = next;
    step.nextChain = undefined;
    step.switched = true;
  }
  if (!step) {
    if (state.messagesSincePeerMessage < budget || sending.nextIndex < budget) return EMPTY;
    const target = oneWayTarget(!ctx.initiator, sending.epoch);
    const key = state.peerEpochKeys.find((k) => k.epoch === target);
    if (!key) return EMPTY;
    const { ciphertext, sharedSecret } = ctx.suite.kem.encaps(key.publicKey);
    const keys = oneWayKeys(ctx, sending.epoch, sending.step + 1, sending.oneWaySalt, sharedSecret, ciphertext);
    wipe(sharedSecret);
    const nextChain = create(RatchetChainStateSchema, { epoch: sending.epoch, step: sending.step + 1, chainKey: keys.chainKey, oneWaySalt: keys.nextSalt });
    state.oneWayStep = step = create(OneWayStepStateSchema, { epoch: sending.epoch, step: sending.step + 1, ciphertext, nextChain });
  }
  if (slotTaken) return EMPTY;
  const index = step.nextChunkIndex;
  step.nextChunkIndex = nextChunkIndex(index);
  step.chunksSent += 1;
  return chunkField(step.ciphertext, layout, index);
}

/** What an authenticated one-way chunk changes: the collection, and the new receiving chain once complete. */
export interface OneWayEffect {
  receive: OneWayReceiveState | undefined;
  chain?: RatchetChainState;
}

/**
 * Receiving side: the effect of a chunk of step `step`'s ciphertext in epoch `epoch`, computed
 * without changing the state; undefined when it is of no use. Callers hand it only chunks of
 * authenticated messages, or (the carry window) the chunk of the very message whose chain the
 * effect would make, which that message's AEAD then checks.
 */
export function oneWayReceiveEffect(ctx: OneWayContext, state: SparseRatchetState, epoch: number, step: number, chunk: HeaderChunk): OneWayEffect | undefined {
  const fromStep = step - 1;
  if (state.receivingChains.some((c) => c.epoch === epoch && c.step >= step)) return undefined;
  const base = state.receivingChains.find((c) => c.epoch === epoch && c.step === fromStep);
  const target = oneWayTarget(ctx.initiator, epoch);
  const key = state.ownEpochKeys.find((k) => k.epoch === target);
  if (!base || !key) return undefined;
  const collecting = state.oneWayReceive;
  const held = collecting?.epoch === epoch && collecting.step === step ? collecting.received : [];
  const layout = epochLayouts(ctx.suite).ciphertext;
  const { decoder, added } = decoderWith(layout, held, chunk);
  if (!added) return undefined;
  if (!decoder.complete) return { receive: create(OneWayReceiveStateSchema, { epoch, step, received: withChunk(held, chunk) }) };
  const ciphertext = decoder.decode();
  let sharedSecret: Uint8Array;
  try {
    sharedSecret = ctx.suite.kem.decaps(key.secretKey, ciphertext);
  } catch {
    return undefined;
  }
  const keys = oneWayKeys(ctx, epoch, step, base.oneWaySalt, sharedSecret, ciphertext);
  wipe(sharedSecret);
  return { receive: undefined, chain: create(RatchetChainStateSchema, { epoch, step, chainKey: keys.chainKey, oneWaySalt: keys.nextSalt }) };
}
