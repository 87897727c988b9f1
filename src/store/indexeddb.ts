/**
 * A DatabaseHandler over IndexedDB (browsers): one IndexedDB database per device name, one object
 * store of records keyed by [namespace, key].
 *
 * IndexedDB transactions commit on their own as soon as the event loop has no request pending for
 * them, so one cannot stay open across the caller's async fn. The handler is therefore a
 * buffered.ts handler with an asynchronous backend: a transaction's writes are buffered in an overlay
 * its own reads consult first; other reads go to a short read-only IndexedDB transaction; when fn
 * resolves, every write is applied in one readwrite IndexedDB transaction (durability 'strict') and
 * the handler waits for its `complete` event. A per-handler serial queue runs transactions one at a
 * time, and a Web Lock (where the browser has `navigator.locks`) keeps other handlers, in this tab or
 * another, off the same database while this one is open. See docs/store.md.
 */
import { createBufferedHandler, type BufferedBackend } from './buffered.js';
import type { DatabaseHandler } from './database.js';
import {
  InvalidStorageInputError,
  StorageClosedError,
  StorageCorruptedError,
  StorageIoError,
  StorageLockedError,
  StorageUnavailableError,
  UnsupportedStorageVersionError,
} from '../errors.js';

/** IndexedDB version of the schema this code writes: 1 = one object store `records`, keys [namespace, key]. */
export const INDEXEDDB_SCHEMA_VERSION = 1;

/** Prefix of the IndexedDB database (and Web Lock) name: a device named `alice` is stored in `pqe2ee/alice`. */
export const INDEXEDDB_NAME_PREFIX = 'pqe2ee/';

const RECORDS_STORE = 'records';

/**
 * Schema migrations, in order: entry i upgrades a database of version i to version i + 1. Append
 * only; never edit an entry that has shipped.
 */
const MIGRATIONS: ReadonlyArray<(db: IDBDatabase) => void> = [
  (db) => {
    db.createObjectStore(RECORDS_STORE);
  },
];

type RecordKey = [namespace: string, key: string];

/** Every key [namespace, key] with a string key: arrays sort after strings in IndexedDB's key order. */
function namespaceRange(namespace: string): IDBKeyRange {
  return IDBKeyRange.bound([namespace], [namespace, []]);
}

function describeError(error: unknown): string {
  if (error && typeof error === 'object' && 'name' in error) {
    const { name, message } = error as { name: unknown; message?: unknown };
    return message ? `${String(name)}: ${String(message)}` : String(name);
  }
  return String(error);
}

/** A stored value as a fresh, plain Uint8Array the caller owns. */
function storedValue(value: unknown, namespace: string, key: string): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new StorageCorruptedError(`the record ${JSON.stringify(namespace)}/${JSON.stringify(key)} is not a byte array`);
  }
  // Structured clone gives an owned buffer already; copy only if it is a view into a larger one.
  return value.byteOffset === 0 && value.buffer.byteLength === value.byteLength ? value : value.slice();
}

/**
 * Resolves on `complete`; rejects with StorageIoError on `abort` (a failed request aborts its
 * transaction: its `error` event is deliberately not prevented, so a failed put never half-commits).
 */
function transactionDone(transaction: IDBTransaction, what: string): Promise<void> {
  const done = new Promise<void>((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onabort = () => reject(new StorageIoError(`IndexedDB ${what} failed: ${describeError(transaction.error ?? 'aborted')}`, { cause: transaction.error }));
  });
  done.catch(() => undefined); // awaited by the caller; this only keeps an early throw from leaving it unhandled
  return done;
}

function startTransaction(db: IDBDatabase, mode: IDBTransactionMode): IDBTransaction {
  try {
    return mode === 'readwrite' ? db.transaction(RECORDS_STORE, mode, { durability: 'strict' }) : db.transaction(RECORDS_STORE, mode);
  } catch (error) {
    throw new StorageIoError(`IndexedDB could not start a transaction: ${describeError(error)}`, { cause: error });
  }
}

/**
 * The database's IndexedDB operations, each in its own IndexedDB transaction; failures become
 * StorageIoError. Closing closes the database and releases the Web Lock.
 */
function createBackend(db: IDBDatabase, lock: HeldLock): BufferedBackend {
  let closedReason: string | undefined;
  // Another connection wants to upgrade or delete the database: let it, and refuse further work.
  db.onversionchange = () => {
    closedReason = 'the IndexedDB database was upgraded or deleted by another connection; this handler is closed';
    db.close();
  };
  db.onclose = () => {
    closedReason ??= 'the browser closed the IndexedDB database (storage cleared or failed); this handler is closed';
  };
  return {
    async read(namespace, key) {
      const transaction = startTransaction(db, 'readonly');
      const done = transactionDone(transaction, 'read');
      const request = transaction.objectStore(RECORDS_STORE).get([namespace, key] satisfies RecordKey);
      await done;
      return request.result === undefined ? undefined : storedValue(request.result, namespace, key);
    },
    async readAll(namespace) {
      const transaction = startTransaction(db, 'readonly');
      const done = transactionDone(transaction, 'read');
      const store = transaction.objectStore(RECORDS_STORE);
      // Both requests run in the same transaction, so keys and values come in the same order.
      const keys = store.getAllKeys(namespaceRange(namespace));
      const values = store.getAll(namespaceRange(namespace));
      await done;
      if (keys.result.length !== values.result.length) throw new StorageCorruptedError('IndexedDB returned keys and values that do not match');
      return keys.result.map((recordKey, i) => {
        const key = Array.isArray(recordKey) ? recordKey[1] : undefined;
        if (typeof key !== 'string') throw new StorageCorruptedError(`a record of namespace ${JSON.stringify(namespace)} has a malformed key`);
        return { key, value: storedValue(values.result[i], namespace, key) };
      });
    },
    async commit(writes) {
      const transaction = startTransaction(db, 'readwrite');
      const done = transactionDone(transaction, 'commit');
      try {
        const store = transaction.objectStore(RECORDS_STORE);
        for (const { namespace, key, value } of writes) {
          const recordKey: RecordKey = [namespace, key];
          // The overlay holds owned, exact-size copies: structured clone copies only these bytes.
          if (value === undefined) store.delete(recordKey);
          else store.put(value, recordKey);
        }
        transaction.commit?.(); // older browsers commit when the requests are done
      } catch (error) {
        try {
          transaction.abort();
        } catch {
          // already finished
        }
        await done.catch(() => undefined);
        throw new StorageIoError(`IndexedDB commit failed: ${describeError(error)}`, { cause: error });
      }
      await done;
    },
    assertOpen() {
      if (closedReason !== undefined) throw new StorageClosedError(closedReason);
    },
    close() {
      db.close();
      lock.release();
    },
  };
}

/** Opens (creating or upgrading) the IndexedDB database. */
function openDatabase(factory: IDBFactory, databaseName: string): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    let request: IDBOpenDBRequest;
    try {
      request = factory.open(databaseName, INDEXEDDB_SCHEMA_VERSION);
    } catch (error) {
      reject(new StorageUnavailableError(`IndexedDB refused to open ${JSON.stringify(databaseName)}: ${describeError(error)}`, { cause: error }));
      return;
    }
    request.onupgradeneeded = (event) => {
      const db = request.result;
      const from = event.oldVersion;
      if (from > MIGRATIONS.length) return; // cannot happen: open() fails with VersionError instead
      for (let version = from; version < INDEXEDDB_SCHEMA_VERSION; version++) MIGRATIONS[version]!(db);
    };
    request.onblocked = () => {
      // An older connection (another tab) has not closed yet; the upgrade waits for it.
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = (event) => {
      event.preventDefault();
      const error = request.error;
      if (error?.name === 'VersionError') {
        reject(
          new UnsupportedStorageVersionError(`IndexedDB database ${JSON.stringify(databaseName)} was written by a newer version of pqe2ee (schema > ${INDEXEDDB_SCHEMA_VERSION})`),
        );
      } else {
        reject(new StorageUnavailableError(`IndexedDB could not open ${JSON.stringify(databaseName)}: ${describeError(error)}`, { cause: error }));
      }
    };
  });
}

/** A held Web Lock: release() lets it go. */
interface HeldLock {
  release(): void;
}

/**
 * Takes the exclusive Web Lock of the database name, or throws StorageLockedError when another
 * handler (in this or another tab or worker of the origin) holds it. Where the browser has no Web
 * Locks API (e.g. not a secure context), no lock is taken.
 */
async function acquireLock(lockName: string): Promise<HeldLock> {
  const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
  if (!locks) return { release: () => undefined };
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const granted = await new Promise<boolean>((resolve, reject) => {
    locks
      .request(lockName, { mode: 'exclusive', ifAvailable: true }, (lock) => {
        resolve(lock !== null);
        return lock === null ? undefined : held;
      })
      .catch(reject);
  });
  if (!granted) {
    throw new StorageLockedError(`the IndexedDB database ${JSON.stringify(lockName)} is open in another handler (this tab or another)`);
  }
  return { release };
}

/**
 * Opens (creating if needed) the IndexedDB database of the device `name` (stored as `pqe2ee/<name>`).
 * Browsers (and workers) only: rejects with StorageUnavailableError where there is no `indexedDB`.
 * While the handler is open, another handler on the same name — in this tab or another — is refused
 * with StorageLockedError (Web Locks; not enforced where the browser lacks `navigator.locks`).
 */
export async function openIndexedDbDatabase(name: string): Promise<DatabaseHandler> {
  if (typeof name !== 'string' || name.length === 0) throw new InvalidStorageInputError('name must be a non-empty string');
  const factory = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!factory) throw new StorageUnavailableError('IndexedDB is not available here (openIndexedDbDatabase needs a browser or a worker)');
  const databaseName = INDEXEDDB_NAME_PREFIX + name;

  const lock = await acquireLock(databaseName);
  let db: IDBDatabase;
  try {
    db = await openDatabase(factory, databaseName);
    if (!db.objectStoreNames.contains(RECORDS_STORE)) {
      db.close();
      throw new UnsupportedStorageVersionError(`IndexedDB database ${JSON.stringify(databaseName)} is not a pqe2ee store`);
    }
  } catch (error) {
    lock.release();
    throw error;
  }

  return createBufferedHandler(createBackend(db, lock));
}
