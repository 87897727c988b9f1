/**
 * Typed errors of the audit log (src/audit/). Each extends Pqe2eeError with a stable `code`, so the
 * server, the TLM and the verifier CLI can map them to response codes and exit statuses without
 * matching on messages. Messages name what is wrong (a size, an index, a line), never a key.
 */
import { Pqe2eeError } from '../../bindings/errors.js';

/** A Merkle inclusion or consistency proof does not verify, or its sizes/hashes are malformed. */
export class MerkleProofError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_AUDIT_MERKLE_PROOF', message);
  }
}

/**
 * The node store behind a Merkle tree cannot answer: a leaf it should hold is missing or is not a
 * 32-byte hash, or a size/index beyond the tree was asked for.
 */
export class MerkleStoreError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_AUDIT_MERKLE_STORE', message);
  }
}

/** Checkpoint or signed-note text that does not parse under the strict C2SP rules, or is too large. */
export class CheckpointFormatError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_AUDIT_CHECKPOINT_FORMAT', message);
  }
}

/** A signed note carries no valid signature from a known key, or a known key's signature fails. */
export class NoteSignatureError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_AUDIT_NOTE_SIGNATURE', message);
  }
}

/**
 * A checkpoint is inconsistent with one signed before: a smaller size, a different root at the
 * same size, or a consistency proof that does not verify. The TLM must never sign such a pair.
 */
export class InconsistentCheckpointError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_AUDIT_CHECKPOINT_INCONSISTENT', message);
  }
}

/** Audit entry or writer-state bytes that do not decode, or values outside their bounds. */
export class AuditFormatError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_AUDIT_FORMAT', message);
  }
}

/** A log writer used out of order: appending past the limit, committing with nothing pending, after dispose. */
export class AuditStateError extends Pqe2eeError {
  constructor(message: string) {
    super('ERR_AUDIT_STATE', message);
  }
}
