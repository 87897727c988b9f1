/** The Node.js storage entry: everything of ./index.ts plus the SQLite handler (needs better-sqlite3). */
export * from './index.js';
export { openSqliteDatabase } from './sqlite.js';
export { SQLITE_SCHEMA_VERSION, SQLITE_APPLICATION_ID } from './sqlite-schema.js';
