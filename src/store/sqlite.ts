/**
 * The Node.js DatabaseHandler: one SQLite file per device, via the optional dependency better-sqlite3
 * (loaded lazily, so importing this module never fails). WAL journal with synchronous=FULL: once
 * transaction() resolves, its writes survive a crash or SIGKILL of the process (and, as far as the OS
 * and disk honour fsync, a power loss). The file is opened with an exclusive lock, so a second handler
 * (in this process or another) on the same file is refused with StorageLockedError.
 */
import { chmodSync, closeSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { createBufferedHandler, type BufferedWrite, type SyncBackend } from './buffered.js';
import type { DatabaseHandler } from './database.js';
import { InvalidStorageInputError, StorageError, StorageIoError, StorageLockedError, StorageUnavailableError, UnsupportedStorageVersionError } from '../errors.js';
import { SQLITE_APPLICATION_ID, SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION } from './sqlite-schema.js';

type DatabaseConstructor = typeof BetterSqlite3;
type Database = BetterSqlite3.Database;

function loadBetterSqlite3(): DatabaseConstructor {
  try {
    return createRequire(import.meta.url)('better-sqlite3') as DatabaseConstructor;
  } catch (cause) {
    throw new StorageUnavailableError('openSqliteDatabase needs the optional dependency better-sqlite3: install it with `npm install better-sqlite3`', { cause });
  }
}

/** Copies a Buffer returned by better-sqlite3 into a plain Uint8Array the caller owns, and zeroes the Buffer. */
function ownedBytes(buffer: Uint8Array): Uint8Array {
  const copy = new Uint8Array(buffer);
  buffer.fill(0);
  return copy;
}

function hasCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

/** Runs a database call; engine failures become StorageIoError (typed errors pass through). */
function guarded<T>(what: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof StorageError) throw error;
    if (hasCode(error, 'SQLITE_BUSY') || hasCode(error, 'SQLITE_LOCKED')) {
      throw new StorageLockedError(`${what}: the database file is in use by another handler`, { cause: error });
    }
    const detail = error instanceof Error ? error.message : String(error);
    throw new StorageIoError(`${what} failed: ${detail}`, { cause: error });
  }
}

/** Creates the file with mode 0600 if it does not exist yet (SQLite gives its WAL file the same mode). */
function createPrivateFile(path: string): void {
  let descriptor: number;
  try {
    descriptor = openSync(path, 'wx', 0o600);
  } catch (error) {
    if (hasCode(error, 'EEXIST')) return;
    throw new StorageIoError(`cannot create the database file: ${(error as Error).message}`, { cause: error });
  }
  closeSync(descriptor);
  chmodSync(path, 0o600); // exact mode whatever the umask
}

function migrate(db: Database): void {
  const applicationId = db.pragma('application_id', { simple: true }) as number;
  const version = db.pragma('user_version', { simple: true }) as number;
  if (applicationId !== 0 && applicationId !== SQLITE_APPLICATION_ID) {
    throw new UnsupportedStorageVersionError('this SQLite file is not a pqe2ee store (foreign application_id)');
  }
  if (version > SQLITE_SCHEMA_VERSION) {
    throw new UnsupportedStorageVersionError(`the store has schema version ${version}; this version of pqe2ee reads up to ${SQLITE_SCHEMA_VERSION}`);
  }
  if (applicationId === 0 && version === 0) {
    const tables = db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as { n: number };
    if (tables.n > 0) throw new UnsupportedStorageVersionError('this SQLite file is not a pqe2ee store (it has foreign tables)');
  }
  for (let next = version; next < SQLITE_SCHEMA_VERSION; next++) {
    db.transaction(() => {
      db.exec(SQLITE_MIGRATIONS[next]!);
      db.pragma(`application_id = ${SQLITE_APPLICATION_ID}`);
      db.pragma(`user_version = ${next + 1}`);
    }).immediate();
  }
}

function createSqliteBackend(db: Database): SyncBackend {
  const select = db.prepare<[string, string], { value: Buffer }>('SELECT value FROM records WHERE namespace = ? AND key = ?');
  const selectAll = db.prepare<[string], { key: string; value: Buffer }>('SELECT key, value FROM records WHERE namespace = ? ORDER BY key');
  const upsert = db.prepare<[string, string, Uint8Array]>(
    'INSERT INTO records (namespace, key, value) VALUES (?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value',
  );
  const remove = db.prepare<[string, string]>('DELETE FROM records WHERE namespace = ? AND key = ?');
  const commitAll = db.transaction((writes: readonly BufferedWrite[]) => {
    for (const { namespace, key, value } of writes) {
      if (value === undefined) remove.run(namespace, key);
      else upsert.run(namespace, key, value);
    }
  });
  return {
    read(namespace, key) {
      const row = guarded('read', () => select.get(namespace, key));
      return row ? ownedBytes(row.value) : undefined;
    },
    readAll(namespace) {
      return guarded('list', () => selectAll.all(namespace)).map((row) => ({ key: row.key, value: ownedBytes(row.value) }));
    },
    commit(writes) {
      guarded('commit', () => commitAll.immediate(writes));
    },
    close() {
      guarded('close', () => db.close());
    },
  };
}

/**
 * Opens (creating if needed, with mode 0600) the SQLite store at `path` and migrates its schema.
 * Throws StorageUnavailableError without better-sqlite3, StorageLockedError when another handler has
 * the file open, UnsupportedStorageVersionError for a newer or foreign file.
 */
export async function openSqliteDatabase(path: string): Promise<DatabaseHandler> {
  if (typeof path !== 'string' || path.length === 0 || path === ':memory:' || path.includes('\0')) {
    throw new InvalidStorageInputError('path must be the path of a database file (use createMemoryDatabase for memory)');
  }
  const Database = loadBetterSqlite3();
  createPrivateFile(path);
  const db = guarded('open', () => new Database(path, { timeout: 0 }));
  try {
    guarded('open', () => {
      // EXCLUSIVE before the first WAL access: the lock is held until close and no -shm file is used.
      db.pragma('locking_mode = EXCLUSIVE');
      const journal = db.pragma('journal_mode = WAL', { simple: true });
      if (journal !== 'wal') throw new StorageIoError(`cannot switch the database to WAL (journal_mode is ${String(journal)})`);
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      migrate(db);
    });
    return createBufferedHandler(createSqliteBackend(db));
  } catch (error) {
    db.close();
    throw error;
  }
}
