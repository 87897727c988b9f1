/**
 * An append-only RFC 6962 Merkle tree over a node store: tree heads at any past size, inclusion
 * proofs and consistency proofs (RFC 9162 §2.1.3.1 / §2.1.4.1). Verifying them is merkle.ts.
 *
 * Storage model. Node (level L, index i) is the hash of the perfect subtree over leaves
 * [i·2^L, (i+1)·2^L); level 0 holds the leaf hashes. Perfect subtrees never change once complete,
 * so the store is append-only too: `append` returns the nodes a new leaf completes (one leaf hash
 * plus, amortised, one interior node) and the caller writes them in the same transaction as the
 * entry. Any RFC 6962 subtree — also of a past tree size — decomposes into O(log n) perfect
 * subtrees, so roots and proofs cost O(log n) reads and hashes, never a rehash of the tree.
 *
 * The store may keep only some levels (even only leaves): a missing interior node is recomputed
 * from its children, trading reads for space. Reads are synchronous so the tree stays pure; the
 * server backs them with a synchronous SQLite statement or an in-memory cache.
 */
import { MerkleProofError, MerkleStoreError } from '../errors.js';
import { emptyRoot, isTreeSize, MERKLE_HASH_BYTES, nodeHash, splitPoint } from './merkle.js';

/** Reads stored node hashes; returns undefined for a node the store does not keep. */
export interface MerkleNodeReader {
  readNode(level: number, index: number): Uint8Array | undefined;
}

/** One perfect-subtree hash: what the store persists. */
export interface MerkleNode {
  readonly level: number;
  readonly index: number;
  readonly hash: Uint8Array;
}

/** Largest tree this code accepts: sizes and indexes stay exact JS integers. */
export const MAX_TREE_SIZE = Number.MAX_SAFE_INTEGER;

/**
 * The tree. Its frontier — the perfect subtrees covering [0, size), at most one per level — is
 * kept in memory, so appends are O(log n) (amortised O(1)) and the current root needs no reads.
 */
export class MerkleTree {
  private readonly reader: MerkleNodeReader;
  private treeSize: number;
  /** Perfect subtrees covering the leaves, largest (leftmost) first. */
  private readonly frontier: MerkleNode[];
  private cachedRoot: Uint8Array | undefined;

  private constructor(reader: MerkleNodeReader, size: number, frontier: MerkleNode[]) {
    this.reader = reader;
    this.treeSize = size;
    this.frontier = frontier;
  }

  /**
   * Opens the tree of `size` leaves held by `reader`, rebuilding the frontier with O(log n) reads
   * (one per set bit of `size`). Also how to recover after a failed transaction: reopen at the
   * size that was committed.
   */
  static open(reader: MerkleNodeReader, size = 0): MerkleTree {
    if (!isTreeSize(size)) throw new MerkleStoreError('tree size must be an integer in [0, 2^53)');
    const tree = new MerkleTree(reader, size, []);
    let start = 0;
    for (let width = highestPowerOfTwoAtMost(size); width >= 1; width /= 2) {
      if (size - start >= width) {
        const level = Math.log2(width);
        tree.frontier.push({ level, index: start / width, hash: tree.perfectHash(level, start / width) });
        start += width;
      }
    }
    return tree;
  }

  /** Number of leaves appended so far (committed or not: the caller decides what it persisted). */
  get size(): number {
    return this.treeSize;
  }

  /**
   * Appends one leaf hash (see leafHash() in merkle.ts) and returns every node it completes,
   * level 0 first. Persist all of them together with the entry before serving proofs that cover it.
   */
  append(leaf: Uint8Array): MerkleNode[] {
    if (!(leaf instanceof Uint8Array) || leaf.length !== MERKLE_HASH_BYTES) throw new MerkleStoreError(`leaf hash must be ${MERKLE_HASH_BYTES} bytes`);
    if (this.treeSize >= MAX_TREE_SIZE) throw new MerkleStoreError('the tree is full');
    const newSize = this.treeSize + 1;
    let node: MerkleNode = { level: 0, index: this.treeSize, hash: leaf.slice() };
    const completed: MerkleNode[] = [node];
    // Like a binary counter's carry: each trailing 1-bit of the old size merges two equal subtrees.
    for (let last = this.frontier.at(-1); last !== undefined && last.level === node.level; last = this.frontier.at(-1)) {
      this.frontier.pop();
      const level = node.level + 1;
      node = { level, index: newSize / 2 ** level - 1, hash: nodeHash(last.hash, node.hash) };
      completed.push(node);
    }
    this.frontier.push(node);
    this.treeSize = newSize;
    this.cachedRoot = undefined;
    return completed;
  }

  /** Root of the whole tree, from the frontier alone (no store reads). */
  root(): Uint8Array {
    if (this.cachedRoot) return this.cachedRoot.slice();
    let root: Uint8Array | undefined;
    for (let i = this.frontier.length - 1; i >= 0; i--) {
      const subtree = (this.frontier[i] as MerkleNode).hash;
      root = root === undefined ? subtree : nodeHash(subtree, root);
    }
    this.cachedRoot = root ?? emptyRoot();
    return this.cachedRoot.slice();
  }

  /** Root of the tree as it was at `size` leaves (size ≤ this.size), from the store. */
  rootAt(size: number): Uint8Array {
    this.requireSize(size, 'tree size');
    if (size === this.treeSize) return this.root();
    return size === 0 ? emptyRoot() : this.rangeHash(0, size);
  }

  /** Audit path of leaf `index` in the tree of `size` leaves (RFC 9162 PATH), leaf level first. */
  inclusionProof(index: number, size: number = this.treeSize): Uint8Array[] {
    this.requireSize(size, 'tree size');
    if (!isTreeSize(index) || index >= size) throw new MerkleProofError(`leaf index ${index} is not below tree size ${size}`);
    const path: Uint8Array[] = [];
    // Walk down from the root; each step records the sibling subtree, so the path comes out root
    // first and is reversed at the end. At most one sibling is not a perfect subtree (the first
    // left turn off the right edge), so this is O(log n) reads and hashes.
    let lo = 0;
    let hi = size;
    while (hi - lo > 1) {
      const k = splitPoint(hi - lo);
      if (index < lo + k) {
        path.push(this.rangeHash(lo + k, hi));
        hi = lo + k;
      } else {
        path.push(this.rangeHash(lo, lo + k));
        lo += k;
      }
    }
    return path.reverse();
  }

  /** Consistency proof from the tree of `size1` leaves to that of `size2` (RFC 9162 PROOF). */
  consistencyProof(size1: number, size2: number = this.treeSize): Uint8Array[] {
    this.requireSize(size2, 'tree size');
    if (!isTreeSize(size1) || size1 > size2) throw new MerkleProofError(`tree size ${size1} is not at most ${size2}`);
    if (size1 === 0) throw new MerkleProofError('there is no consistency proof from the empty tree');
    const proof: Uint8Array[] = [];
    // SUBPROOF(m, D[lo:hi], b) unrolled: descend until the old tree is exactly a subtree.
    let m = size1;
    let lo = 0;
    let hi = size2;
    let oldRootIsKnown = true;
    while (m !== hi - lo) {
      const k = splitPoint(hi - lo);
      if (m <= k) {
        proof.push(this.rangeHash(lo + k, hi));
        hi = lo + k;
      } else {
        proof.push(this.rangeHash(lo, lo + k));
        m -= k;
        lo += k;
        oldRootIsKnown = false;
      }
    }
    if (!oldRootIsKnown) proof.push(this.rangeHash(lo, hi));
    return proof.reverse();
  }

  /** MTH(D[lo:hi]) for a subtree of the RFC 6962 decomposition (lo is a multiple of the split). */
  private rangeHash(lo: number, hi: number): Uint8Array {
    const width = hi - lo;
    if (highestPowerOfTwoAtMost(width) === width && lo % width === 0) return this.perfectHash(Math.log2(width), lo / width);
    const k = splitPoint(width);
    return nodeHash(this.rangeHash(lo, lo + k), this.rangeHash(lo + k, hi));
  }

  /** Node (level, index) from the store, or recomputed from its children if the store skips it. */
  private perfectHash(level: number, index: number): Uint8Array {
    const stored = this.reader.readNode(level, index);
    if (stored !== undefined) {
      if (!(stored instanceof Uint8Array) || stored.length !== MERKLE_HASH_BYTES) {
        throw new MerkleStoreError(`stored node (${level}, ${index}) is not a ${MERKLE_HASH_BYTES}-byte hash`);
      }
      return stored;
    }
    if (level === 0) throw new MerkleStoreError(`leaf ${index} is missing from the store`);
    return nodeHash(this.perfectHash(level - 1, 2 * index), this.perfectHash(level - 1, 2 * index + 1));
  }

  private requireSize(size: number, what: string): void {
    if (!isTreeSize(size) || size > this.treeSize) throw new MerkleProofError(`${what} ${size} is beyond the tree's ${this.treeSize} leaves`);
  }
}

function highestPowerOfTwoAtMost(n: number): number {
  if (n < 1) return 0;
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

/**
 * A node store in memory: for tests, for the in-memory server, and as a read cache in front of a
 * database. `put` takes what MerkleTree.append returned.
 */
export class MemoryMerkleStore implements MerkleNodeReader {
  private readonly levels: Uint8Array[][] = [];

  put(nodes: readonly MerkleNode[]): void {
    for (const node of nodes) {
      let level = this.levels[node.level];
      if (!level) {
        level = [];
        this.levels[node.level] = level;
      }
      level[node.index] = node.hash;
    }
  }

  readNode(level: number, index: number): Uint8Array | undefined {
    return this.levels[level]?.[index];
  }

  /** Number of leaf hashes held. */
  get leafCount(): number {
    return this.levels[0]?.length ?? 0;
  }
}
