/**
 * Where the entries the server served stop matching the tree the TLM signed. When the rebuilt root
 * differs from the checkpoint's, the hash chain names most changes at their index, but not all: a
 * changed MAC Z_j is outside the chain, and a tail rewritten with a recomputed chain passes it.
 *
 * "Our first m leaves are the signed tree's first m leaves" is monotonic in m (a matching prefix
 * has matching prefixes), and the server can prove it for any m with a consistency proof from
 * size m to the checkpoint — which we verify against OUR root at m, so the server cannot make a
 * wrong prefix look right. Binary search over m finds the first differing leaf with O(log n)
 * proofs. A server that refuses or garbles a proof can only make the reported index earlier;
 * the root mismatch itself is already established. A proof that fails because `signal` aborted
 * (the verifier's deadline) says nothing about the server, so the search throws instead.
 */
import { hashesEqual, verifyConsistency } from '../../audit/merkle.js';
import type { MerkleTree } from '../../audit/merkle-tree.js';
import { type AuditServiceClient, callAudit, requireProofShape } from './audit-client.js';
import type { TreeHead } from './consistency.js';

/** Most proofs asked for: log2(2^53) steps, plus one. */
const MAX_PROBES = 54;

/**
 * The index of the first leaf of `ours` (a tree over the entries served) that is not the leaf at
 * that index of the signed tree `signed`, or `ours.size` when every leaf we hold matches (then
 * only the tail is missing). Expects the whole of `ours` not to match `signed`. Throws only when
 * `signal` aborts.
 */
export async function firstDivergentLeaf(client: AuditServiceClient, ours: MerkleTree, signed: TreeHead, signal?: AbortSignal): Promise<number> {
  const matches = async (size: number): Promise<boolean> => {
    if (size === 0) return true;
    if (size === signed.size) return hashesEqual(ours.rootAt(size), signed.rootHash);
    try {
      signal?.throwIfAborted();
      const response = await callAudit('GetConsistencyProof', () =>
        client.getConsistencyProof({ fromSize: BigInt(size), toSize: BigInt(signed.size) }, signal ? { signal } : undefined),
      );
      verifyConsistency(size, signed.size, requireProofShape('GetConsistencyProof', response.proof), ours.rootAt(size), signed.rootHash);
      return true;
    } catch (error) {
      if (signal?.aborted) throw error;
      return false;
    }
  };
  const held = Math.min(ours.size, signed.size);
  if (await matches(held)) return held;
  // Invariant: prefix `good` matches, prefix `bad` does not.
  let good = 0;
  let bad = held;
  for (let probes = 0; bad - good > 1 && probes < MAX_PROBES; probes++) {
    const middle = good + Math.floor((bad - good) / 2);
    if (await matches(middle)) good = middle;
    else bad = middle;
  }
  return good;
}
