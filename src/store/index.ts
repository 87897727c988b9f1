/**
 * The browser-safe storage layer: the DatabaseHandler interface, the in-memory handler, encryption
 * at rest and the typed errors. The SQLite handler (Node only) is exported from ./node.ts.
 */
export type { DatabaseHandler, KeyValueTransaction } from './database.js';
export { MAX_NAME_BYTES, RESERVED_NAMESPACE_PREFIX } from './database.js';
export { createMemoryDatabase } from './memory.js';
export { openIndexedDbDatabase } from './indexeddb.js';
export { encryptDatabase, type EncryptDatabaseOptions } from './encrypted.js';
export {
  DEFAULT_PBKDF2_ITERATIONS,
  MIN_PBKDF2_ITERATIONS,
  MAX_PBKDF2_ITERATIONS,
  STORAGE_KEY_BYTES,
  STORAGE_SALT_BYTES,
  derivePassphraseKey,
} from './kdf.js';
export {
  StorageError,
  WrongStorageKeyError,
  StorageCorruptedError,
  StorageClosedError,
  TransactionFinishedError,
  InvalidStorageInputError,
  ReservedNamespaceError,
  StorageUnavailableError,
  UnsupportedStorageVersionError,
  StorageLockedError,
  StorageIoError,
} from '../errors.js';
