/** The SQLite backend of the server store: opening a database file (schema.ts, statements.ts, store.ts). */
import type BetterSqlite3 from 'better-sqlite3';
import { migrate } from './schema.js';
import { DEFAULT_GROUP_EPOCH_HISTORY, SqliteStore } from './store.js';

export { MIGRATIONS } from './schema.js';
export { DEFAULT_GROUP_EPOCH_HISTORY, SqliteStore } from './store.js';

/** Options of {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  /** Newest epochs kept per group in the epoch history (default {@link DEFAULT_GROUP_EPOCH_HISTORY}). */
  groupEpochHistory?: number;
}

/** Raised when better-sqlite3 (an optional dependency) is not installed. */
export class SqliteUnavailableError extends Error {
  readonly code = 'SQLITE_UNAVAILABLE';
}

/** Opens (creating and migrating if needed) a SQLite store at `path` (or ':memory:'). */
export async function openSqliteStore(path: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
  const groupEpochHistory = options.groupEpochHistory ?? DEFAULT_GROUP_EPOCH_HISTORY;
  if (!Number.isSafeInteger(groupEpochHistory) || groupEpochHistory < 1) throw new RangeError('groupEpochHistory must be a positive integer');
  let DatabaseCtor: typeof BetterSqlite3;
  try {
    DatabaseCtor = ((await import('better-sqlite3')) as { default: typeof BetterSqlite3 }).default;
  } catch (error) {
    throw new SqliteUnavailableError(
      `the SQLite store needs the optional dependency better-sqlite3, which could not be loaded (${error instanceof Error ? error.message : String(error)}); install it with: npm install better-sqlite3`,
    );
  }
  const db = new DatabaseCtor(path);
  try {
    if (path !== ':memory:') db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db);
  } catch (error) {
    db.close();
    throw error;
  }
  return new SqliteStore(db, groupEpochHistory);
}
