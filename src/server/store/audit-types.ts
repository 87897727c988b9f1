/**
 * Storage of the security audit log (docs/audit.md): the SAM's entries, the Merkle tree's nodes,
 * the log writer's state and the index from a device to the public entry that published its keys.
 * Part of the server's store (`ServerStore.audit`) so a backend keeps the log in the same database
 * as the data it describes; each method is one transaction.
 */

/** One Merkle node (level, index) → hash, as MerkleTree.append returns them. */
export interface StoredMerkleNode {
  level: number;
  index: number;
  hash: Uint8Array;
}

/** A device's key publication: where in the log its identity keys were written. */
export interface KeyEntryRef {
  userId: string;
  deviceId: string;
  index: number;
}

/** Everything one SAM batch writes, all or nothing. */
export interface AuditBatch {
  /** Encoded entries with their indexes, consecutive, continuing the stored log. */
  entries: { index: number; bytes: Uint8Array }[];
  nodes: StoredMerkleNode[];
  /** The writer state after the last entry (replaces the stored one). */
  writerState: Uint8Array;
  keyEntries: KeyEntryRef[];
}

/** What the SAM loads when the server starts. */
export interface AuditSnapshot {
  /** undefined: no log yet. */
  writerState: Uint8Array | undefined;
  /** Number of entries stored. */
  size: number;
  nodes: StoredMerkleNode[];
}

export interface AuditStore {
  load(): Promise<AuditSnapshot>;
  /** Creates the log: stores the writer state of an empty log; false if a log exists. */
  create(writerState: Uint8Array): Promise<boolean>;
  /** Appends a batch; throws (and stores nothing) if its first index is not the stored size. */
  append(batch: AuditBatch): Promise<void>;
  /** Encoded entries [start, start + count) that exist. */
  readEntries(start: number, count: number): Promise<Uint8Array[]>;
  /** The newest public entry that published this device's identity keys. */
  findKeyEntry(userId: string, deviceId: string): Promise<number | undefined>;
}
