/**
 * The database handler plugin of the client runtime (white paper; DESIGN.md §5): asynchronous,
 * transactional, key-value records grouped by namespace. See docs/store.md.
 */

/** One transaction's view: reads see this transaction's own writes. */
export interface KeyValueTransaction {
  /** The record's value (a fresh copy the caller may zero), or undefined when there is none. */
  get(namespace: string, key: string): Promise<Uint8Array | undefined>;
  /** Writes (or overwrites) a record. The value is copied: the caller may zero its buffer afterwards. */
  put(namespace: string, key: string, value: Uint8Array): Promise<void>;
  /** Deletes a record; deleting a missing record is not an error. */
  delete(namespace: string, key: string): Promise<void>;
  /** Every record of the namespace, sorted by key (byte order of the UTF-8 key). */
  list(namespace: string): Promise<Array<{ key: string; value: Uint8Array }>>;
}

/** The database handler plugin (white paper): async, transactional, key-value by namespace. */
export interface DatabaseHandler {
  /**
   * Runs fn as one transaction: its writes commit together when fn resolves, and none of them if fn
   * throws (the error is rethrown). Transactions are serialised (one at a time per handler).
   * Do not start a transaction of the same handler inside fn: it would wait for fn forever.
   */
  transaction<T>(fn: (tx: KeyValueTransaction) => Promise<T>): Promise<T>;
  /** Waits for the transactions already started, then releases the handler; later calls throw StorageClosedError. Idempotent. */
  close(): Promise<void>;
}

/** Largest namespace or key, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 1024;

/** Namespaces starting with this prefix belong to the storage layer (encryption metadata) and are refused by `encryptDatabase` handlers. */
export const RESERVED_NAMESPACE_PREFIX = '__pqe2ee';
