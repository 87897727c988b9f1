// MerkleTree against a naive recursive RFC 6962 implementation written here (node:crypto SHA-256,
// straight from the RFC's recursive definitions of MTH, PATH and SUBPROOF): random tree sizes,
// random leaves, every proof compared byte for byte, verified, and rejected once tampered.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MerkleProofError, MerkleStoreError } from '../../src/errors.js';
import { MemoryMerkleStore, type MerkleNodeReader, MerkleTree } from '../../src/audit/merkle-tree.js';
import { leafHash, rootFromInclusionProof, verifyConsistency, verifyInclusion } from '../../src/audit/merkle.js';

const sha = (...parts: Uint8Array[]): Uint8Array => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
};
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** mulberry32: a seeded generator, so a failure can be replayed. */
function prng(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

// --- The naive reference: RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1 taken literally. -------------------
function k(n: number): number {
  let p = 1;
  while (p * 2 < n) p *= 2;
  return p;
}
function mth(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha();
  if (leaves.length === 1) return sha(new Uint8Array([0]), leaves[0] as Uint8Array);
  const split = k(leaves.length);
  return sha(new Uint8Array([1]), mth(leaves.slice(0, split)), mth(leaves.slice(split)));
}
function naivePath(m: number, leaves: Uint8Array[]): Uint8Array[] {
  if (leaves.length <= 1) return [];
  const split = k(leaves.length);
  return m < split ? [...naivePath(m, leaves.slice(0, split)), mth(leaves.slice(split))] : [...naivePath(m - split, leaves.slice(split)), mth(leaves.slice(0, split))];
}
function naiveSubproof(m: number, leaves: Uint8Array[], b: boolean): Uint8Array[] {
  const n = leaves.length;
  if (m === n) return b ? [] : [mth(leaves)];
  const split = k(n);
  return m <= split
    ? [...naiveSubproof(m, leaves.slice(0, split), b), mth(leaves.slice(split))]
    : [...naiveSubproof(m - split, leaves.slice(split), false), mth(leaves.slice(0, split))];
}

function randomLeaves(next: (n: number) => number, count: number): Uint8Array[] {
  return Array.from({ length: count }, () => Uint8Array.from({ length: next(40) }, () => next(256)));
}

function buildTree(data: Uint8Array[], store = new MemoryMerkleStore()): { tree: MerkleTree; store: MemoryMerkleStore } {
  const tree = MerkleTree.open(store, 0);
  for (const leaf of data) store.put(tree.append(leafHash(leaf)));
  return { tree, store };
}

function flipOneBit(proof: Uint8Array[], next: (n: number) => number): Uint8Array[] {
  const copy = proof.map((p) => p.slice());
  const target = copy[next(copy.length)] as Uint8Array;
  const at = next(32);
  target[at] = (target[at] as number) ^ (1 << next(8));
  return copy;
}

describe('MerkleTree against a naive RFC 6962 implementation', () => {
  it('hashes leaves and nodes as RFC 6962 says', () => {
    const data = new Uint8Array([1, 2, 3]);
    expect(hex(leafHash(data))).toBe(hex(sha(new Uint8Array([0]), data)));
  });

  it('gives the same roots, inclusion proofs and consistency proofs for random trees', () => {
    const next = prng(0x6962);
    for (let round = 0; round < 40; round++) {
      const size = 1 + next(round < 20 ? 40 : 300);
      const data = randomLeaves(next, size);
      const { tree } = buildTree(data);
      expect(hex(tree.root())).toBe(hex(mth(data)));
      for (let check = 0; check < 12; check++) {
        const size2 = 1 + next(size);
        const index = next(size2);
        const root2 = mth(data.slice(0, size2));
        expect(hex(tree.rootAt(size2))).toBe(hex(root2));
        const path = tree.inclusionProof(index, size2);
        expect(path.map(hex)).toEqual(naivePath(index, data.slice(0, size2)).map(hex));
        verifyInclusion(index, size2, leafHash(data[index] as Uint8Array), path, root2);
        if (path.length > 0) {
          expect(() => verifyInclusion(index, size2, leafHash(data[index] as Uint8Array), flipOneBit(path, next), root2)).toThrow(MerkleProofError);
        }
        if (size2 > 1) expect(() => verifyInclusion((index + 1) % size2, size2, leafHash(data[index] as Uint8Array), path, root2)).toThrow(MerkleProofError);

        const size1 = 1 + next(size2);
        const root1 = mth(data.slice(0, size1));
        const proof = tree.consistencyProof(size1, size2);
        expect(proof.map(hex)).toEqual(naiveSubproof(size1, data.slice(0, size2), true).map(hex));
        verifyConsistency(size1, size2, proof, root1, root2);
        if (proof.length > 0) {
          expect(() => verifyConsistency(size1, size2, flipOneBit(proof, next), root1, root2)).toThrow(MerkleProofError);
          expect(() => verifyConsistency(size1, size2, proof.slice(1), root1, root2)).toThrow(MerkleProofError);
        }
        if (size1 < size2) {
          // A fork: the same old tree, but a different leaf appended after it.
          const forked = [...data.slice(0, size2 - 1), new Uint8Array([0xff, ...(data[size2 - 1] as Uint8Array)])];
          expect(() => verifyConsistency(size1, size2, proof, root1, mth(forked))).toThrow(MerkleProofError);
        }
      }
    }
  });

  it('works over a store that keeps only leaves, or only some levels', () => {
    const next = prng(7);
    const data = randomLeaves(next, 77);
    const { store } = buildTree(data);
    const leavesOnly: MerkleNodeReader = { readNode: (level, index) => (level === 0 ? store.readNode(0, index) : undefined) };
    const evenLevels: MerkleNodeReader = { readNode: (level, index) => (level % 2 === 0 ? store.readNode(level, index) : undefined) };
    for (const reader of [leavesOnly, evenLevels]) {
      const tree = MerkleTree.open(reader, 77);
      expect(hex(tree.root())).toBe(hex(mth(data)));
      expect(tree.inclusionProof(40, 70).map(hex)).toEqual(naivePath(40, data.slice(0, 70)).map(hex));
      expect(tree.consistencyProof(13, 77).map(hex)).toEqual(naiveSubproof(13, data, true).map(hex));
    }
  });

  it('reopens at any committed size and continues appending to the same tree', () => {
    const next = prng(11);
    const data = randomLeaves(next, 50);
    const { store } = buildTree(data.slice(0, 29));
    const reopened = MerkleTree.open(store, 29);
    for (const leaf of data.slice(29)) store.put(reopened.append(leafHash(leaf)));
    expect(hex(reopened.root())).toBe(hex(mth(data)));
    expect(hex(MerkleTree.open(store, 50).root())).toBe(hex(mth(data)));
  });

  it('returns the completed nodes of each append (one leaf, plus a carry per trailing one-bit)', () => {
    const store = new MemoryMerkleStore();
    const tree = MerkleTree.open(store, 0);
    const counts: number[] = [];
    for (let i = 0; i < 8; i++) {
      const nodes = tree.append(leafHash(new Uint8Array([i])));
      store.put(nodes);
      counts.push(nodes.length);
      expect(nodes[0]).toMatchObject({ level: 0, index: i });
    }
    expect(counts).toEqual([1, 2, 1, 3, 1, 2, 1, 4]);
    expect(store.readNode(3, 0)).toEqual(tree.root());
  });

  it('refuses bad requests and a corrupt store with typed errors', () => {
    const { tree, store } = buildTree(randomLeaves(prng(3), 10));
    expect(() => tree.inclusionProof(10, 10)).toThrow(MerkleProofError);
    expect(() => tree.inclusionProof(0, 11)).toThrow(MerkleProofError);
    expect(() => tree.consistencyProof(0, 10)).toThrow(MerkleProofError);
    expect(() => tree.consistencyProof(5, 4)).toThrow(MerkleProofError);
    expect(tree.consistencyProof(10, 10)).toEqual([]);
    expect(() => tree.append(new Uint8Array(31))).toThrow(MerkleStoreError);
    const missing: MerkleNodeReader = { readNode: (level, index) => (level === 0 && index === 3 ? undefined : level === 0 ? store.readNode(0, index) : undefined) };
    expect(() => MerkleTree.open(missing, 10)).toThrow(MerkleStoreError);
    const corrupt: MerkleNodeReader = { readNode: (level, index) => (level === 2 && index === 0 ? new Uint8Array(5) : store.readNode(level, index)) };
    expect(() => MerkleTree.open(corrupt, 10).inclusionProof(5, 10)).toThrow(MerkleStoreError);
    expect(() =>
      rootFromInclusionProof(
        0,
        1,
        new Uint8Array(32),
        Array.from({ length: 65 }, () => new Uint8Array(32)),
      ),
    ).toThrow(MerkleProofError);
    expect(() => verifyInclusion(2 ** 53, 2 ** 53 + 1, new Uint8Array(32), [], new Uint8Array(32))).toThrow(MerkleProofError);
  });

  it('handles tree sizes above 2^32 (no 32-bit bit-operator truncation)', () => {
    // A perfect left subtree of 2^32 leaves is represented by one stored node; nothing else is read.
    const big = 2 ** 32;
    const left = sha(new Uint8Array([9]));
    const leaf = leafHash(new Uint8Array([1]));
    const reader: MerkleNodeReader = {
      readNode: (level, index) => (level === 32 && index === 0 ? left : level === 0 && index === big ? leaf : undefined),
    };
    const tree = MerkleTree.open(reader, big + 1);
    const expectedRoot = sha(new Uint8Array([1]), left, leaf);
    expect(hex(tree.root())).toBe(hex(expectedRoot));
    const path = tree.inclusionProof(big, big + 1);
    expect(path.map(hex)).toEqual([hex(left)]);
    verifyInclusion(big, big + 1, leaf, path, expectedRoot);
    verifyConsistency(big, big + 1, tree.consistencyProof(big, big + 1), left, expectedRoot);
  });
});
