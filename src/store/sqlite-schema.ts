/** The SQLite file format of the Node store: ordered migrations keyed by PRAGMA user_version. */

/** PRAGMA application_id of pqe2ee store files ("PQES"); a file with another non-zero id is refused. */
export const SQLITE_APPLICATION_ID = 0x50514553;

/**
 * Migration i (0-based) takes the schema from user_version i to i + 1. Append only: never edit or
 * reorder a released migration.
 */
export const SQLITE_MIGRATIONS: readonly string[] = [
  `CREATE TABLE records (
     namespace TEXT NOT NULL,
     key TEXT NOT NULL,
     value BLOB NOT NULL,
     PRIMARY KEY (namespace, key)
   ) WITHOUT ROWID`,
];

/** The schema version this code writes and reads. */
export const SQLITE_SCHEMA_VERSION = SQLITE_MIGRATIONS.length;
