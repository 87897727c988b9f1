/**
 * Proving that one tree head extends another, with a consistency proof from the server checked
 * here: the verifier's side of "the TLM never signs two inconsistent checkpoints".
 */
import { hashesEqual, verifyConsistency } from '../../audit/merkle.js';
import { InconsistentCheckpointError, MerkleProofError } from '../../errors.js';
import { type AuditServiceClient, callAudit, requireProofShape } from './audit-client.js';

/** A tree head: a size and the root at that size. */
export interface TreeHead {
  readonly size: number;
  readonly rootHash: Uint8Array;
}

/**
 * Checks that `newer` extends `older`: never smaller; the same root at the same size; a larger
 * size needs a consistency proof (fetched from the server, verified here). `olderName` names
 * `older` in the error. Throws InconsistentCheckpointError.
 */
export async function requireExtends(client: AuditServiceClient, older: TreeHead, newer: TreeHead, olderName: string): Promise<void> {
  if (newer.size < older.size) {
    throw new InconsistentCheckpointError(`the log shows ${newer.size} entries, fewer than the ${older.size} of ${olderName}: it was truncated or rolled back`);
  }
  if (newer.size === older.size) {
    if (!hashesEqual(newer.rootHash, older.rootHash)) throw new InconsistentCheckpointError(`another root than ${olderName} for the same size ${newer.size}: a fork`);
    return;
  }
  // Every tree extends the empty one.
  if (older.size === 0) return;
  const response = await callAudit('GetConsistencyProof', () => client.getConsistencyProof({ fromSize: BigInt(older.size), toSize: BigInt(newer.size) }));
  try {
    verifyConsistency(older.size, newer.size, requireProofShape('GetConsistencyProof', response.proof), older.rootHash, newer.rootHash);
  } catch (error) {
    if (error instanceof MerkleProofError) throw new InconsistentCheckpointError(`size ${newer.size} does not extend ${olderName} (size ${older.size}): ${error.message}`);
    throw error;
  }
}
