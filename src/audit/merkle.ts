/**
 * RFC 6962 / RFC 9162 §2.1 Merkle tree hashing and proof verification: the half of the Merkle
 * code a verifier (a client checking a bundle, the audit CLI) needs. Building trees and proofs
 * over a store is in merkle-tree.ts.
 *
 *   leaf hash  = SHA-256(0x00 ‖ leaf data)
 *   node hash  = SHA-256(0x01 ‖ left ‖ right)
 *   empty root = SHA-256("")
 *
 * Tree sizes and indexes are JS numbers, exact up to 2^53 − 1; the arithmetic below uses division
 * and remainder rather than bit operators because those truncate to 32 bits.
 */
import { sha256 } from '../../bindings/hash.js';
import { MerkleProofError } from '../errors.js';

/** Bytes of every hash in the tree. */
export const MERKLE_HASH_BYTES = 32;
/** Longest proof for a tree of at most 2^53 − 1 leaves; longer input is rejected before hashing. */
export const MAX_PROOF_HASHES = 64;

const LEAF_PREFIX = 0x00;
const NODE_PREFIX = 0x01;

// One scratch buffer for node hashing: a proof verification hashes ~log2(n) nodes, and building a
// fresh 65-byte array for each doubled the cost of verifying. sha256() copies its input into wasm
// memory before returning, so reusing the buffer across calls is safe (single-threaded JS).
const nodeInput = new Uint8Array(1 + 2 * MERKLE_HASH_BYTES);
nodeInput[0] = NODE_PREFIX;

/** SHA-256(0x00 ‖ data): the hash of one leaf (one encoded audit entry). */
export function leafHash(data: Uint8Array): Uint8Array {
  const input = new Uint8Array(1 + data.length);
  input[0] = LEAF_PREFIX;
  input.set(data, 1);
  return sha256(input);
}

/** SHA-256(0x01 ‖ left ‖ right): the hash of an interior node. Both children must be 32 bytes. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + MERKLE_HASH_BYTES);
  return sha256(nodeInput);
}

/** Root of the empty tree, SHA-256 of no bytes. */
export function emptyRoot(): Uint8Array {
  return sha256(new Uint8Array(0));
}

/** True when `value` is an integer in [0, 2^53 − 1]. */
export function isTreeSize(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** The largest power of two strictly less than `n` (n ≥ 2): the RFC 6962 split point k. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Constant-time-ish equality of two byte strings (hashes are public, but there is no cost to it). */
export function hashesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

function isOdd(value: number): boolean {
  return value % 2 === 1;
}

function half(value: number): number {
  return Math.floor(value / 2);
}

function requireProof(proof: readonly Uint8Array[]): void {
  if (!Array.isArray(proof)) throw new MerkleProofError('proof must be an array of 32-byte hashes');
  if (proof.length > MAX_PROOF_HASHES) throw new MerkleProofError(`proof has ${proof.length} hashes, more than any tree needs`);
  for (let i = 0; i < proof.length; i++) {
    const element = proof[i];
    if (!(element instanceof Uint8Array) || element.length !== MERKLE_HASH_BYTES) {
      throw new MerkleProofError(`proof hash ${i} must be ${MERKLE_HASH_BYTES} bytes`);
    }
  }
}

/**
 * The root that an inclusion proof implies for `leaf` at `index` in a tree of `size` leaves
 * (RFC 9162 §2.1.3.2). Throws MerkleProofError when the proof has the wrong shape for that
 * position; the caller compares the result with a trusted root ({@link verifyInclusion} does).
 */
export function rootFromInclusionProof(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[]): Uint8Array {
  if (!isTreeSize(index) || !isTreeSize(size)) throw new MerkleProofError('leaf index and tree size must be integers in [0, 2^53)');
  if (index >= size) throw new MerkleProofError(`leaf index ${index} is not below tree size ${size}`);
  if (!(leaf instanceof Uint8Array) || leaf.length !== MERKLE_HASH_BYTES) throw new MerkleProofError(`leaf hash must be ${MERKLE_HASH_BYTES} bytes`);
  requireProof(proof);
  // fn walks the leaf's position up the tree, sn the last leaf's; where they meet, the path turns
  // into the tree's right edge, whose lone nodes are promoted without a sibling.
  let fn = index;
  let sn = size - 1;
  let root = leaf;
  for (const sibling of proof) {
    if (sn === 0) throw new MerkleProofError('inclusion proof is longer than the path to the root');
    if (isOdd(fn) || fn === sn) {
      root = nodeHash(sibling, root);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      root = nodeHash(root, sibling);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new MerkleProofError('inclusion proof is shorter than the path to the root');
  return root;
}

/**
 * Checks that `leaf` (a 32-byte leaf hash) is at `index` in the tree of `size` leaves whose root is
 * `root`. Throws MerkleProofError otherwise.
 */
export function verifyInclusion(index: number, size: number, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): void {
  const computed = rootFromInclusionProof(index, size, leaf, proof);
  if (!hashesEqual(computed, root)) throw new MerkleProofError(`inclusion proof of leaf ${index} does not lead to the tree-${size} root`);
}

/**
 * Checks that the tree of `size2` leaves with root `root2` extends the tree of `size1` leaves with
 * root `root1` (RFC 9162 §2.1.4.2). Throws MerkleProofError otherwise.
 *
 * Deliberate rules (shared with the test vectors): a proof from size 0 is an error, even 0 → 0 —
 * every tree extends the empty one, so such a "proof" proves nothing and a caller relying on it is
 * confused; callers that start from nothing (a client's first checkpoint) skip the check instead.
 * Equal sizes need an empty proof and byte-equal roots.
 */
export function verifyConsistency(size1: number, size2: number, proof: readonly Uint8Array[], root1: Uint8Array, root2: Uint8Array): void {
  if (!isTreeSize(size1) || !isTreeSize(size2)) throw new MerkleProofError('tree sizes must be integers in [0, 2^53)');
  if (!(root1 instanceof Uint8Array) || !(root2 instanceof Uint8Array)) throw new MerkleProofError('roots must be Uint8Arrays');
  requireProof(proof);
  if (size1 === 0) throw new MerkleProofError('a consistency proof from the empty tree proves nothing');
  if (size2 < size1) throw new MerkleProofError(`tree size ${size2} is smaller than ${size1}: logs only grow`);
  if (size1 === size2) {
    if (proof.length !== 0) throw new MerkleProofError('trees of equal size need an empty consistency proof');
    if (!hashesEqual(root1, root2)) throw new MerkleProofError(`two different roots for tree size ${size1}`);
    return;
  }
  if (proof.length === 0) throw new MerkleProofError('empty consistency proof for different tree sizes');
  // When size1 is a power of two its root is a node of the new tree and the proof omits it.
  const path = splitPoint(size1 + 1) === size1 ? [root1, ...proof] : proof;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let oldRoot = path[0] as Uint8Array;
  let newRoot = oldRoot;
  for (let i = 1; i < path.length; i++) {
    const sibling = path[i] as Uint8Array;
    if (sn === 0) throw new MerkleProofError('consistency proof is longer than needed');
    if (isOdd(fn) || fn === sn) {
      oldRoot = nodeHash(sibling, oldRoot);
      newRoot = nodeHash(sibling, newRoot);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      newRoot = nodeHash(newRoot, sibling);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new MerkleProofError('consistency proof is shorter than needed');
  if (!hashesEqual(oldRoot, root1)) throw new MerkleProofError(`consistency proof does not reproduce the tree-${size1} root`);
  if (!hashesEqual(newRoot, root2)) throw new MerkleProofError(`consistency proof does not reproduce the tree-${size2} root`);
}
