/**
 * The pure core of the security audit log (DESIGN.md §6, issue 13): forward-secure entries,
 * the RFC 6962 Merkle tree over them, and C2SP checkpoints. No network, no disk, no clocks —
 * the SAM, the TLM and the server wire these to storage and RPCs. See docs/audit.md.
 */
export * from '../errors.js';
export { AuditCategory, type AuditCategoryName, KNOWN_CATEGORIES, categoryNames, entitlementCovers, isCategoryMask, requireEntryMask } from './categories.js';
export {
  type AuditEntry,
  decodeEntry,
  type EntryVisibility,
  isPublicEntry,
  encodeEntry,
  entryAssociatedData,
  genesisChainHash,
  nextChainHash,
  MAX_ENTRY_PLAINTEXT_BYTES,
  MAX_LOG_ID_BYTES,
} from './entry-format.js';
export { AUDIT_KEY_BYTES, EntryKeyDeriver, type EntryKeyDeriverOptions, type EntryKeys } from './key-schedule.js';
export { type AppendResult, LogWriter, type LogWriterOptions } from './entries.js';
export {
  type DecryptedEntry,
  type EntryFailure,
  type EntryFailureReason,
  verifyEntries,
  type VerifyEntriesOptions,
  type VerifyEntriesReport,
} from './entry-verifier.js';
export {
  emptyRoot,
  leafHash,
  MERKLE_HASH_BYTES,
  nodeHash,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
} from './merkle.js';
export { MAX_TREE_SIZE, MemoryMerkleStore, type MerkleNode, type MerkleNodeReader, MerkleTree } from './merkle-tree.js';
export {
  decodeNoteBytes,
  formatVerifierKey,
  MAX_NOTE_BYTES,
  MAX_NOTE_SIGNATURES,
  NOTE_SIGNATURE_TYPES,
  noteKeyId,
  noteSigner,
  noteVerifier,
  type NoteSignature,
  type NoteSigner,
  type NoteVerifier,
  openNote,
  parseNote,
  parseVerifierKey,
  signNote,
} from './signed-note.js';
export {
  type Checkpoint,
  CheckpointSigner,
  type CheckpointSignerOptions,
  type ConsistencyEvidence,
  type ConsistencyProver,
  formatCheckpoint,
  openCheckpoint,
  parseCheckpoint,
  requireConsistent,
} from './checkpoint.js';
export {
  ATTESTATION_HEADER,
  type AttestationStatement,
  MAX_NONCE_BYTES,
  MIN_NONCE_BYTES,
  signAttestation,
  verifyAttestation,
  type VerifyAttestationOptions,
} from './attestation.js';
export { unwrapEntryKey, type WrappedEntryKey, wrapEntryKey } from './key-release.js';
export { MAC_STATEMENT_HEADER, TrustedLogModule, type TrustedLogModuleOptions, type VerifierRegistration } from './tlm.js';
export {
  CheckpointTracker,
  type ConsistencyProofSource,
  entryPublishes,
  type KeyInclusionEvidence,
  type KeyPublicationEvent,
  keyPublicationEvent,
  openLogCheckpoint,
  type PublishedDevice,
  verifyKeyInclusion,
} from './key-transparency.js';
