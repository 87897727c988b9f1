/** Typed errors of the storage layer; all extend {@link StorageError} (itself a Pqe2eeError) with a stable `code`. */
import { Pqe2eeError } from '../../bindings/errors.js';

/** Base class of every error thrown by a database handler of this package. */
export class StorageError extends Pqe2eeError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message);
    if (options && 'cause' in options) (this as { cause?: unknown }).cause = options.cause;
  }
}

/** The key or passphrase given to `encryptDatabase` does not open this database (checked at open). */
export class WrongStorageKeyError extends StorageError {
  constructor(message = 'the storage key or passphrase does not open this database') {
    super('ERR_WRONG_STORAGE_KEY', message);
  }
}

/** A stored record or the database's metadata fails authentication, is malformed, or has an unknown format. */
export class StorageCorruptedError extends StorageError {
  constructor(message: string) {
    super('ERR_STORAGE_CORRUPTED', message);
  }
}

/** The handler was closed (or is closing) before this operation. */
export class StorageClosedError extends StorageError {
  constructor(message = 'the database handler is closed') {
    super('ERR_STORAGE_CLOSED', message);
  }
}

/** A transaction object was used after its transaction finished (committed or rolled back). */
export class TransactionFinishedError extends StorageError {
  constructor(message = 'this transaction has already finished: use the handler to start a new one') {
    super('ERR_TRANSACTION_FINISHED', message);
  }
}

/** A namespace or key is not a non-empty, well-formed string within the size limit, or a value is not a Uint8Array. */
export class InvalidStorageInputError extends StorageError {
  constructor(message: string) {
    super('ERR_INVALID_STORAGE_INPUT', message);
  }
}

/** The namespace is reserved for the storage layer's own metadata (see RESERVED_NAMESPACE_PREFIX). */
export class ReservedNamespaceError extends StorageError {
  constructor(namespace: string) {
    super('ERR_RESERVED_NAMESPACE', `namespace ${JSON.stringify(namespace)} is reserved for the storage layer`);
  }
}

/** A storage backend is not available here (e.g. the optional dependency better-sqlite3 is not installed). */
export class StorageUnavailableError extends StorageError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_STORAGE_UNAVAILABLE', message, options);
  }
}

/** The database file was written by a newer version of this package, or is not a pqe2ee store at all. */
export class UnsupportedStorageVersionError extends StorageError {
  constructor(message: string) {
    super('ERR_UNSUPPORTED_STORAGE_VERSION', message);
  }
}

/** The database file is held by another open handler (another process, or another handler in this one). */
export class StorageLockedError extends StorageError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_STORAGE_LOCKED', message, options);
  }
}

/** The underlying database engine failed (I/O error, disk full, ...); the transaction was not committed. */
export class StorageIoError extends StorageError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_STORAGE_IO', message, options);
  }
}
