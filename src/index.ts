/**
 * pqe2ee: post-quantum end-to-end encryption for messaging apps.
 *
 * The root entry is what an app needs: the client runtime, the database handlers, the typed errors
 * and `ready()`. Lower layers have their own entries: `pqe2ee/crypto` (primitives and cipher
 * suites), `pqe2ee/protocol` (accounts, sessions, groups without a runtime), `pqe2ee/node`
 * (SQLite and the reference server).
 */
export { ready, type ReadyOptions } from '../bindings/loader.js';
export * from './errors.js';
export * from './client/index.js';
export * from './store/index.js';
