/**
 * `pqe2ee/node`: the Node-only parts — the SQLite database handler (one file per device) and the
 * reference server. Everything else is in `pqe2ee`.
 */
export { openSqliteDatabase, SQLITE_SCHEMA_VERSION, SQLITE_APPLICATION_ID } from './store/node.js';
export { startServer, type ServerOptions, type RunningServer, type ServerAuditOptions, type AuditLogIdentity } from './server/index.js';
