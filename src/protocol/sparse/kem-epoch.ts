/**
 * The arithmetic of one KEM epoch of the sparse ratchet (docs/protocol.md "Sparse KEM ratchet"):
 * the epoch's root, the chain keys it gives each direction, who opens it, and how its public key
 * and ciphertext are cut into chunks. Pure functions; the state machine is sparse-ratchet.ts.
 *
 *   RK_e = HKDF(ss_e, salt = S_{e−1}, info = "pqe2ee/v2/epoch" ‖ e ‖ transcript ‖ H(pk_e) ‖ H(ct_e))
 *   CK_{e,0} ‖ CK_{e,1} ‖ S_e ‖ X_{e,0} ‖ X_{e,1} = HKDF(RK_e, info = "pqe2ee/v2/epoch-keys" ‖ e, 160 bytes)
 *
 * X_{e,d} is the salt of direction d's first one-way step in the epoch (one-way-step.ts).
 *
 * CK_{e,0} is the chain from the initiator to the responder, CK_{e,1} the one back; RK_0 is the
 * key agreement's root key. A side keeps S_e (the next epoch's salt), never RK_e: a state stolen
 * later cannot re-derive an epoch's chains from their start and read messages already read.
 */
import type { CipherSuite } from '../../crypto/index.js';
import { label, lengthPrefixed, u32 } from '../encoding.js';
import { chunkLayout, type ChunkLayout } from './erasure-code.js';

const EPOCH_INFO = label('pqe2ee/v2/epoch');
const EPOCH_KEYS_INFO = label('pqe2ee/v2/epoch-keys');
const ONE_WAY_INFO = label('pqe2ee/v2/one-way');
const NO_SALT = new Uint8Array(0);
/** Roots are 32 bytes, like the key agreement's root key they continue. */
export const EPOCH_ROOT_BYTES = 32;
/**
 * Chunk payload bytes at most. 64 B keeps a chunk-carrying suite-1 message near 200 B and an
 * ML-KEM-1024 key at 25 chunks; a KEM whose key is smaller (X25519: 32 B) sends it whole.
 */
export const MAX_CHUNK_BYTES = 64;

/** What both sides bind every epoch to. */
export interface EpochBinding {
  readonly suite: CipherSuite;
  /** Names the session and both identities (session.ts builds it). */
  readonly transcript: Uint8Array;
}

/** RK_e from the epoch's KEM secret, bound to the previous epoch's salt, the epoch, the transcript and both public values. */
export function epochRoot(binding: EpochBinding, epoch: number, previousSalt: Uint8Array, sharedSecret: Uint8Array, publicKey: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const { suite } = binding;
  const info = lengthPrefixed(EPOCH_INFO, u32(epoch), binding.transcript, suite.hash(publicKey), suite.hash(ciphertext));
  return suite.hkdf(sharedSecret, previousSalt, info, EPOCH_ROOT_BYTES);
}

/** Which way a chain goes: 0 from the initiator to the responder, 1 back. */
export type ChainDirection = 0 | 1;

/** An epoch's two chain keys, the salt of the next epoch's root and the one-way salts (fresh arrays). */
export interface EpochKeys {
  readonly chainKeys: readonly [Uint8Array, Uint8Array];
  readonly nextSalt: Uint8Array;
  readonly oneWaySalts: readonly [Uint8Array, Uint8Array];
}

/** The keys of the epoch whose root is `root`; the caller erases `root` afterwards. */
export function epochKeys(suite: CipherSuite, epoch: number, root: Uint8Array): EpochKeys {
  const out = suite.hkdf(root, NO_SALT, lengthPrefixed(EPOCH_KEYS_INFO, u32(epoch)), 160);
  const keys: EpochKeys = { chainKeys: [out.slice(0, 32), out.slice(32, 64)], nextSalt: out.slice(64, 96), oneWaySalts: [out.slice(96, 128), out.slice(128, 160)] };
  out.fill(0);
  return keys;
}

/**
 * The chain of one-way step `step` of a direction in `epoch`, and the salt of its next step:
 *   CK ‖ X' = HKDF(ss, salt = X, info = "pqe2ee/v2/one-way" ‖ epoch ‖ step ‖ transcript ‖ H(ct), 64 bytes)
 */
export function oneWayKeys(
  binding: EpochBinding,
  epoch: number,
  step: number,
  salt: Uint8Array,
  sharedSecret: Uint8Array,
  ciphertext: Uint8Array,
): { chainKey: Uint8Array; nextSalt: Uint8Array } {
  const { suite } = binding;
  const out = suite.hkdf(sharedSecret, salt, lengthPrefixed(ONE_WAY_INFO, u32(epoch), u32(step), binding.transcript, suite.hash(ciphertext)), 64);
  const keys = { chainKey: out.slice(0, 32), nextSalt: out.slice(32, 64) };
  out.fill(0);
  return keys;
}

/** Odd epochs are opened by the initiator, even ones by the responder: roles alternate. */
export function opensEpoch(initiator: boolean, epoch: number): boolean {
  return (epoch % 2 === 1) === initiator;
}

/** Chunk size of a suite: its KEM's larger public value, capped at {@link MAX_CHUNK_BYTES}. */
export function epochChunkBytes(suite: CipherSuite): number {
  return Math.min(MAX_CHUNK_BYTES, Math.max(suite.params.kemPublicKeyBytes, suite.params.kemCiphertextBytes));
}

/** Chunk layouts of a suite's KEM public key and ciphertext. */
export function epochLayouts(suite: CipherSuite): { publicKey: ChunkLayout; ciphertext: ChunkLayout } {
  const chunkBytes = epochChunkBytes(suite);
  return { publicKey: chunkLayout(suite.params.kemPublicKeyBytes, chunkBytes), ciphertext: chunkLayout(suite.params.kemCiphertextBytes, chunkBytes) };
}
